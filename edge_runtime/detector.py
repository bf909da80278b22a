"""Detector: a model bundle + an interpreter + the shared preprocessing.

Per image the work is two steps:

- `Detector.prepare(source) -> PreparedImage`: read, decode, turn upright, crop and resize to
  the network input as uint8 pixels. No interpreter; safe to run on any number of threads.
- `Detector.classify(prepared) -> [P(fake), ...]`: uint8 pixels -> the input tensor (one table
  lookup for integer inputs) -> invoke -> probabilities. The interpreter is used under a lock,
  so one Detector may be shared by threads (a web handler, a worker pool).

`detect()` runs both in turn; `detect_many()` runs `prepare` for the next images on a small
pool of decode threads while the interpreter classifies the current one.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .bundle import ModelBundle, check_output, load_bundle, to_probabilities
from .damage import file_damage
from .faces import FaceCrop, FaceFinder, prepare_faces
from .interpreter import Backend, load_backend, make_interpreter
from .preprocess import ImageSource, describe, load_resized, normalize
from .types import (
    Detection,
    DetectionError,
    DetectorOptions,
    EdgeDetectError,
    Face,
    ImageError,
    ModelError,
    PreprocessSpec,
    calibrated,
    check_threshold,
    label_for,
    usable_cores,
)

# How many images detect_many keeps decoded ahead of the interpreter, per decode worker: enough
# to hide a slow file, small enough that memory does not grow with the folder.
PREFETCH_PER_WORKER = 2


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """float -> the tensor's integer type, rounded as TFLite's own QUANTIZE op rounds.

    TFLite's optimized QUANTIZE kernel and XNNPACK's float -> int8/uint8 conversion (what a
    model with a float input runs as its first op) compute round-half-to-even of
    x * float32(1 / scale), then add the zero point and saturate; tests/test_input_quantization.py
    checks this against the interpreter on every uint8 level. (TFLite's reference kernel
    rounds x / scale half away from zero instead, which differs on exact ties.)
    A tensor without quantization parameters (scale 0) takes the values as they are.
    """
    dtype = np.dtype(detail["dtype"])
    if not np.issubdtype(dtype, np.integer):
        return x.astype(dtype)
    scale, zero = detail["quantization"]
    x = np.asarray(x, dtype=np.float32)
    if scale:
        q = np.rint(x * (np.float32(1.0) / np.float32(scale))) + np.float32(zero)
    else:
        q = np.rint(x)
    info = np.iinfo(dtype)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, detail: dict) -> np.ndarray:
    if not np.issubdtype(detail["dtype"], np.integer):
        return q.astype(np.float32)
    scale, zero = detail["quantization"]
    if not scale:
        return q.astype(np.float32)
    return (q.astype(np.float32) - zero) * np.float32(scale)


def input_table(spec: PreprocessSpec, detail: dict) -> np.ndarray | None:
    """The 256-entry table uint8 pixel -> input tensor code, for integer (int8/uint8) inputs.

    Built once from the bundle's normalisation and the input tensor's scale / zero point:
    entry p is quantize(normalize(p)), the code TFLite's QUANTIZE op gives the normalised pixel.
    A whole image then costs one table lookup instead of float arithmetic. None for float
    inputs (they take normalize() directly).
    """
    if not np.issubdtype(np.dtype(detail["dtype"]), np.integer):
        return None
    levels = normalize(np.arange(256, dtype=np.uint8), spec)
    return quantize(levels, detail)


@dataclass
class PreparedImage:
    """What `Detector.prepare` hands to `Detector.classify`: one decoded input, no interpreter.

    Contract (the face stage plugs in here):
    - `crops` holds uint8 HxWx3 arrays already at the network's input size (spec height x
      width), one per region to classify. Without a face stage it is exactly one crop: the
      bundle's centre crop (or squash) of the whole image. A face stage puts one crop per face
      found (possibly none) and the matching box per crop in `boxes`.
    - `boxes[i]` is crop i's (left, top, right, bottom) in the decoded, upright image's pixels,
      or None when the crop is the whole-image preprocessing.
    - Everything here is plain data (numpy arrays, tuples): building it touches no interpreter
      and no shared state, so any thread may call prepare() at once; the uint8 -> input-tensor
      conversion and invoke happen in classify().
    """

    path: str
    crops: list[np.ndarray]
    boxes: list[tuple[int, int, int, int] | None] = field(default_factory=list)
    prepare_ms: float = 0.0
    # With the face stage: every face found, in order; those with pixels are `crops`, in order
    # (too-small faces have none). None without the face stage.
    faces: list[FaceCrop] | None = None
    # What the decoder repaired without a word (damage.file_damage): reported with the verdict.
    warnings: tuple[str, ...] = ()


class Detector:
    """Classifies face images as fake or real. One Detector may be shared between threads.

    >>> det = Detector(DetectorOptions(num_threads=4))  # the default model (registry.py)
    >>> det.detect("face.jpg").label
    """

    def __init__(self, options: DetectorOptions | None = None, bundle: ModelBundle | None = None):
        self.options = options or DetectorOptions()
        self.bundle = bundle or load_bundle(self.options.model)
        self.backend: Backend = load_backend(self.options.backend)
        name = str(self.bundle.path)
        self.interpreter = make_interpreter(
            self.bundle.content, self.options.num_threads, self.backend, name
        )
        # LiteRT's interpreter is not thread-safe: two threads in set_tensor/invoke/get_tensor
        # at once raise "There is at least 1 reference to internal data" or return another
        # image's output. Every use of an interpreter goes through its own lock; callers on
        # several threads share a pool of up to `options.interpreters` of them (made on demand).
        self._lock = threading.Lock()
        if self.options.interpreters < 1:
            raise ValueError(f"interpreters must be >= 1, got {self.options.interpreters}")
        self._idle: queue.LifoQueue = queue.LifoQueue()  # LIFO: the warmest interpreter first
        self._idle.put((self.interpreter, self._lock))
        self._made = 1
        self._pool_lock = threading.Lock()
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(
                f"{name}: expected one input and one output tensor, "
                f"got {len(inputs)} and {len(outputs)}"
            )
        self._in, self._out = inputs[0], outputs[0]
        shape = tuple(int(s) for s in self._in["shape"])
        if len(shape) != 4 or shape[0] != 1 or shape[3] != 3:
            raise ModelError(
                f"{name}: model input shape {list(shape)} does not fit; expected [1, H, W, 3]"
            )
        self.spec = self.bundle.info.preprocess.fit_input(
            shape[1],
            shape[2],
            recorded=self.bundle.has_metadata,
            name=name,
            where="bundle metadata",
        )
        labels = self.bundle.info.labels
        # Logits or one sigmoid value are refused unless the bundle declares them.
        self.output_kind = check_output(self.bundle, int(np.prod(self._out["shape"])))
        self.labels = labels
        self.fake_index = labels.index("fake")
        self.temperature = self.bundle.info.temperature
        self.threshold = check_threshold(
            self.options.threshold
            if self.options.threshold is not None
            else self.bundle.info.threshold
        )
        self._table = input_table(self.spec, self._in)
        self.face_options = self.options.faces
        self.workers = decode_workers(
            self.options.workers, self.options.num_threads, faces=self.face_options.enabled
        )
        self.face_finder = (
            FaceFinder(self.backend, min_score=self.face_options.min_score)  # 1 thread: see faces
            if self.face_options.enabled
            else None
        )

    @property
    def model_name(self) -> str:
        return self.bundle.path.name

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self._in["dtype"])

    # --- the interpreter step -------------------------------------------------------------

    def input_tensor(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 HxWx3 pixels at the input size -> the input tensor (1xHxWx3, model dtype)."""
        if self._table is not None:
            x = np.take(self._table, pixels)  # integer input: one lookup per pixel
        else:
            x = quantize(normalize(pixels, self.spec), self._in)
        return x.reshape(self._in["shape"])

    def _take_interpreter(self):
        """An idle (interpreter, lock) pair; a new one while fewer than `interpreters` exist,
        else wait for one to come back."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._pool_lock:
            if self._made < self.options.interpreters:
                self._made += 1
                interp = make_interpreter(
                    self.bundle.content, self.options.num_threads, self.backend, self.model_name
                )
                return interp, threading.Lock()
        return self._idle.get()

    @property
    def interpreters_made(self) -> int:
        return self._made

    def _run(self, x: np.ndarray) -> np.ndarray:
        """Input tensor -> class probabilities (labels order); the only user of the interpreters."""
        interp, lock = self._take_interpreter()
        try:
            with lock:
                interp.set_tensor(self._in["index"], x)
                interp.invoke()
                raw = interp.get_tensor(self._out["index"])  # a copy, not a view
        finally:
            self._idle.put((interp, lock))
        y = dequantize(raw, self._out).reshape(-1)
        y = to_probabilities(y, self.output_kind, self.model_name)
        return y

    def invoke(self, x: np.ndarray) -> np.ndarray:
        """One normalised float32 HxWx3 (or 1xHxWx3) input -> class probabilities (labels order)."""
        return self._run(quantize(x.reshape(self._in["shape"]), self._in))

    def set_input(self, x: np.ndarray) -> None:
        """Model-only timing, step 1: set one normalised float32 HxWx3 input."""
        with self._lock:
            self.interpreter.set_tensor(
                self._in["index"], quantize(x.reshape(self._in["shape"]), self._in)
            )

    def invoke_only(self) -> None:
        """Model-only timing, step 2: run the interpreter on the input already set."""
        with self._lock:
            self.interpreter.invoke()

    def _p_fake(self, probabilities: np.ndarray) -> float:
        """The model's class probabilities -> P(fake), calibrated as the bundle says
        (types.calibrated; unchanged for an uncalibrated bundle). The threshold is on this."""
        return float(calibrated(float(probabilities[self.fake_index]), self.temperature))

    def fake_probability(self, x: np.ndarray) -> float:
        return self._p_fake(self.invoke(x))

    def classify(self, prepared: PreparedImage) -> list[float]:
        """P(fake) of each crop of a prepared image (the interpreter step; thread-safe)."""
        return [self._p_fake(self._run(self.input_tensor(crop))) for crop in prepared.crops]

    # --- the decode step ------------------------------------------------------------------

    def prepare(self, source: ImageSource) -> PreparedImage:
        """Decode + preprocess one input to uint8 crops (no interpreter; any thread may call
        it at once). Raises ImageError on bad input."""
        start = time.perf_counter()
        if self.face_finder is not None:
            faces = prepare_faces(source, self.face_finder, self.spec, self.face_options)
            judged = [f for f in faces if f.pixels is not None]
            prepared = PreparedImage(
                path=describe(source),
                crops=[f.pixels for f in judged],
                boxes=[f.box for f in judged],
                faces=faces,
            )
        else:
            prepared = PreparedImage(
                path=describe(source), crops=[load_resized(source, self.spec)], boxes=[None]
            )
        damage = file_damage(source)  # after the decode: a file it refused is an error anyway
        prepared.warnings = (damage,) if damage else ()
        prepared.prepare_ms = (time.perf_counter() - start) * 1000.0
        return prepared

    def _detection(self, prepared: PreparedImage, p_fakes: list[float], classify_ms: float):
        if prepared.faces is not None:
            return self._face_detection(prepared, p_fakes, classify_ms)
        if len(p_fakes) != 1:
            raise ImageError(f"{prepared.path}: expected one crop, got {len(p_fakes)}")
        p_fake = p_fakes[0]
        return Detection(
            path=prepared.path,
            label=label_for(p_fake, self.threshold),
            fake_probability=round(p_fake, 6),
            model=self.model_name,
            latency_ms=round(prepared.prepare_ms + classify_ms, 3),
            warnings=prepared.warnings,
        )

    def _face_detection(self, prepared: PreparedImage, p_fakes: list[float], classify_ms: float):
        """Per face: box, score, verdict; per image: the most-likely-fake face's verdict (None
        when no face could be judged)."""
        probabilities = iter(p_fakes)
        faces = []
        for f in prepared.faces:
            if f.pixels is None:
                faces.append(Face(f.box, f.score, None, None, too_small=True))
            else:
                p = next(probabilities)
                faces.append(Face(f.box, f.score, label_for(p, self.threshold), round(p, 6)))
        judged = [f for f in faces if f.fake_probability is not None]
        top = max(judged, key=lambda f: f.fake_probability) if judged else None
        return Detection(
            path=prepared.path,
            label=top.label if top else None,
            fake_probability=top.fake_probability if top else None,
            model=self.model_name,
            latency_ms=round(prepared.prepare_ms + classify_ms, 3),
            faces=tuple(faces),
            warnings=prepared.warnings,
        )

    def _finish(self, prepared: PreparedImage) -> Detection:
        start = time.perf_counter()
        p_fakes = self.classify(prepared)
        return self._detection(prepared, p_fakes, (time.perf_counter() - start) * 1000.0)

    # --- whole images ---------------------------------------------------------------------

    def detect(self, source: ImageSource) -> Detection:
        """Classify one image (path, PIL image or uint8 array). Raises ImageError on bad input."""
        return self._finish(self.prepare(source))

    def detect_many(
        self, sources: Iterable[ImageSource | DetectionError], workers: int | None = None
    ) -> Iterator[Detection | DetectionError]:
        """Classify each input, in input order; a bad one yields a DetectionError and the rest
        go on. A DetectionError among the sources (an input that already failed, e.g. a glob
        with no match) is passed through in its place.

        workers: decode threads running prepare() ahead of the interpreter (default: this
        Detector's `workers`, see decode_workers()); 0 = the plain sequential loop. At most
        PREFETCH_PER_WORKER x workers images are decoded ahead, however many inputs there are
        (sources is read lazily).
        """
        n = self.workers if workers is None else workers
        if n < 0:
            raise ValueError(f"workers must be >= 0, got {n}")
        if n == 0:
            for source in sources:
                yield source if isinstance(source, DetectionError) else self._one(source)
            return
        window: deque[tuple[ImageSource | DetectionError, Future | None]] = deque()
        # With a pool of interpreters the workers classify too (several invokes at once);
        # with one, they only prepare and this thread runs the interpreter.
        step = self.detect if self.options.interpreters > 1 else self.prepare
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="edge-detect-decode") as pool:
            it = iter(sources)
            try:
                for source in it:
                    if isinstance(source, DetectionError):
                        window.append((source, None))
                    else:
                        window.append((source, pool.submit(step, source)))
                    if len(window) >= n * PREFETCH_PER_WORKER:
                        yield self._collect(*window.popleft())
                while window:
                    yield self._collect(*window.popleft())
            finally:
                for _, fut in window:  # the caller stopped early: drop what was not started
                    if fut is not None:
                        fut.cancel()

    def _one(self, source: ImageSource) -> Detection | DetectionError:
        try:
            return self.detect(source)
        except EdgeDetectError as e:
            return DetectionError(path=describe(source), error=str(e))
        except Exception as e:  # noqa: BLE001 - one odd input must not end the batch
            name = describe(source)
            return DetectionError(path=name, error=f"{name}: unexpected {type(e).__name__}: {e}")

    def _collect(self, source, fut: Future | None) -> Detection | DetectionError:
        if fut is None:
            return source  # a DetectionError passed through
        try:
            done = fut.result()
            return done if isinstance(done, Detection) else self._finish(done)
        except EdgeDetectError as e:
            return DetectionError(path=describe(source), error=str(e))
        except Exception as e:  # noqa: BLE001 - one odd input must not end the batch
            name = describe(source)
            return DetectionError(path=name, error=f"{name}: unexpected {type(e).__name__}: {e}")


def decode_workers(
    workers: int | None, num_threads: int, cores: int | None = None, faces: bool = False
) -> int:
    """Decode threads for detect_many: the given number, or a default from the usable cores.

    Without the face stage prepare() is cheap (decode + resize, about a tenth of an int8
    invoke): the cores the interpreter's threads leave free, at least one, so interpreter
    threads + decode workers <= usable cores except on a machine whose cores all run the
    interpreter, which still gets one decode thread to overlap file reading and decoding.
    With the face stage prepare() runs the face detector (several 1-thread invokes per image)
    and costs more than the classification: one decode thread per usable core.
    """
    if workers is not None:
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        return workers
    cores = cores or usable_cores()
    if faces:
        return cores
    return max(1, cores - num_threads)


__all__ = [
    "Detector",
    "ImageError",
    "PreparedImage",
    "decode_workers",
    "dequantize",
    "input_table",
    "quantize",
]
