"""Detector: a model bundle + an interpreter + the shared preprocessing."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import replace

import numpy as np

from .bundle import ModelBundle, load_bundle
from .interpreter import Backend, load_backend, make_interpreter
from .preprocess import ImageSource, describe, load_resized, normalize
from .types import (
    Detection,
    DetectionError,
    DetectorOptions,
    EdgeDetectError,
    ImageError,
    ModelError,
)


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """float -> the tensor's integer type, from its scale and zero point."""
    dtype = detail["dtype"]
    if not np.issubdtype(dtype, np.integer):
        return x.astype(dtype)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    q = np.round(x / scale + zero)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, detail: dict) -> np.ndarray:
    if not np.issubdtype(detail["dtype"], np.integer):
        return q.astype(np.float32)
    scale, zero = detail["quantization"]
    return (q.astype(np.float32) - zero) * np.float32(scale)


class Detector:
    """Classifies face images as fake or real.

    >>> det = Detector(DetectorOptions(model="int8", num_threads=4))
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
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(
                f"{name}: expected one input and one output tensor, got {len(inputs)} and {len(outputs)}"
            )
        self._in, self._out = inputs[0], outputs[0]
        shape = tuple(int(s) for s in self._in["shape"])
        if len(shape) != 4 or shape[0] != 1 or shape[3] != 3:
            raise ModelError(f"{name}: model input shape {list(shape)} does not fit; expected [1, H, W, 3]")
        spec = self.bundle.info.preprocess
        if (spec.height, spec.width) != shape[1:3]:
            if self.bundle.info.description.startswith("plain .tflite"):
                # No sidecar: take the input size from the model itself.
                spec = replace(spec, height=shape[1], width=shape[2])
            else:
                raise ModelError(
                    f"{name}: model input {shape[1]}x{shape[2]} does not match its bundle "
                    f"metadata ({spec.height}x{spec.width})"
                )
        self.spec = spec
        n_out = int(np.prod(self._out["shape"]))
        labels = self.bundle.info.labels
        if n_out != len(labels) and n_out != 1:
            raise ModelError(
                f"{name}: model output has {n_out} values; expected {len(labels)} class "
                f"probabilities ({', '.join(labels)})"
            )
        self.labels = labels
        self.fake_index = labels.index("fake")
        self.threshold = (
            self.options.threshold if self.options.threshold is not None else self.bundle.info.threshold
        )
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be within [0, 1], got {self.threshold}")

    @property
    def model_name(self) -> str:
        return self.bundle.path.name

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self._in["dtype"])

    def invoke(self, x: np.ndarray) -> np.ndarray:
        """One normalised float32 HxWx3 (or 1xHxWx3) input -> class probabilities (labels order)."""
        x = x.reshape(self._in["shape"])
        self.interpreter.set_tensor(self._in["index"], quantize(x, self._in))
        self.interpreter.invoke()
        y = dequantize(self.interpreter.get_tensor(self._out["index"]), self._out).reshape(-1)
        if y.size == 1:  # a single sigmoid output is P(labels[1])
            y = np.array([1.0 - y[0], y[0]], dtype=np.float32)
        return y

    def fake_probability(self, x: np.ndarray) -> float:
        return float(self.invoke(x)[self.fake_index])

    def detect(self, source: ImageSource) -> Detection:
        """Classify one image (path, PIL image or uint8 array). Raises ImageError on bad input."""
        start = time.perf_counter()
        pixels = load_resized(source, self.spec)
        p_fake = self.fake_probability(normalize(pixels, self.spec))
        latency_ms = (time.perf_counter() - start) * 1000.0
        return Detection(
            path=describe(source),
            label="fake" if p_fake >= self.threshold else "real",
            fake_probability=round(p_fake, 6),
            model=self.model_name,
            latency_ms=round(latency_ms, 3),
        )

    def detect_many(self, sources: Iterable[ImageSource]) -> Iterator[Detection | DetectionError]:
        """Classify each input in turn; a bad one yields a DetectionError and the rest go on."""
        for source in sources:
            try:
                yield self.detect(source)
            except EdgeDetectError as e:
                yield DetectionError(path=describe(source), error=str(e))


__all__ = ["Detector", "ImageError", "dequantize", "quantize"]
