"""Types shared by the runtime, the CLI and the workstation stages (one definition each)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

# The model names, their files and the default model are the registry's (edge_runtime/registry.py).
from .registry import DEFAULT_MODEL
from .registry import VARIANTS as VARIANTS  # the kinds convert makes, importable here as before

# The report's label order: index 0 = fake, index 1 = real (Keras flow_from_directory order).
LABELS: tuple[str, ...] = ("fake", "real")
FAKE_INDEX = 0
REAL_INDEX = 1

# The decision rule, used by the Detector, convert's verification, train's metrics and the
# benchmarks: an image is fake when P(fake) >= threshold (a tie is fake). 0.5 = argmax of the
# two probabilities; a bundle or a training run may carry its own threshold.
DEFAULT_THRESHOLD = 0.5


def is_fake(p_fake, threshold: float = DEFAULT_THRESHOLD):
    """The rule, for one probability (-> bool) or a numpy array of them (-> bool array)."""
    return p_fake >= threshold


def check_threshold(threshold: float, where: str = "threshold", error=ValueError) -> float:
    """A threshold as a float when it is a probability (in [0, 1], ends included), else
    `error` (ValueError, ModelError, ...) naming `where`: the one range check of the rule."""
    value = float(threshold)
    if not 0.0 <= value <= 1.0:
        raise error(f"{where} must be in [0, 1] (a P(fake)), got {value:g}")
    return value


def label_for(p_fake: float, threshold: float = DEFAULT_THRESHOLD) -> str:
    """The label, "fake" or "real", of one P(fake)."""
    return LABELS[FAKE_INDEX] if is_fake(p_fake, threshold) else LABELS[REAL_INDEX]


# Temperature scaling of P(fake) (a bundle's optional "calibration": {"temperature": T}):
# p' = sigmoid(logit(p) / T). T = 1 is uncalibrated (the shipped bundles, which carry no field);
# the bundle's threshold is on the calibrated P(fake). Training fits T and imports `calibrated`.
DEFAULT_TEMPERATURE = 1.0
CALIBRATION_CLIP = 1e-7  # logit(p) is computed on p clipped to [1e-7, 1 - 1e-7]: finite


def calibrated(p_fake, temperature: float = DEFAULT_TEMPERATURE):
    """P(fake) (a float or a numpy array) after temperature scaling; unchanged, bit for bit,
    at T = 1."""
    if temperature == DEFAULT_TEMPERATURE:
        return p_fake
    import numpy as np

    p = np.clip(np.asarray(p_fake, dtype=np.float64), CALIBRATION_CLIP, 1.0 - CALIBRATION_CLIP)
    scaled = 1.0 / (1.0 + np.exp(-np.log(p / (1.0 - p)) / temperature))
    return float(scaled) if np.ndim(scaled) == 0 else scaled


def threshold_or_default(threshold: float | None) -> float:
    """An explicit threshold (0.0 included) as given; None (not known) -> DEFAULT_THRESHOLD."""
    return DEFAULT_THRESHOLD if threshold is None else float(threshold)


def usable_cores() -> int:
    """The cores this process may run on (taskset, cgroups), the default thread count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS has no sched_getaffinity
        return os.cpu_count() or 1


class EdgeDetectError(Exception):
    """Base class for errors the CLI reports as one line, never a traceback."""


class ImageError(EdgeDetectError):
    """An input image could not be read or is unusable; the message names the file and reason."""


class ModelError(EdgeDetectError):
    """A model file or bundle is missing, corrupt, or does not fit the runtime."""


class BackendError(EdgeDetectError):
    """No TFLite interpreter backend could be imported."""


@dataclass(frozen=True)
class PreprocessSpec:
    """What reaches the network: how a decoded RGB image becomes the input tensor.

    x = (pixel - mean) / std, per channel, after resizing to (height, width).
    mean = std = 127.5 is MobileNet's own [-1, 1] scaling (keras mobilenet.preprocess_input).
    """

    height: int = 224
    width: int = 224
    resize: str = "bilinear"  # PIL filter name: nearest, bilinear, bicubic, lanczos, area (box)
    crop: str = "none"  # "none": squash the whole image; "center": centred square first
    crop_fraction: float = 1.0  # with crop="center": side of the square / shorter image side
    mean: float = 127.5
    std: float = 127.5

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreprocessSpec:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)

    def fit_input(
        self, height: int, width: int, *, recorded: bool, name: str, where: str
    ) -> PreprocessSpec:
        """This spec for a model whose input is height x width: the one reconciliation rule.

        A spec that was recorded with the model (bundle sidecar, run config) and disagrees with
        the model's input is an error; an assumed (default) spec takes the model's size.
        """
        if (self.height, self.width) == (height, width):
            return self
        if recorded:
            raise ModelError(
                f"{name}: model input {height}x{width} does not match its "
                f"{where} ({self.height}x{self.width})"
            )
        return PreprocessSpec.from_dict({**self.to_dict(), "height": height, "width": width})


@dataclass(frozen=True)
class BundleInfo:
    """Everything the runtime needs beside the .tflite bytes to use a model right."""

    variant: str = "fp32"
    labels: tuple[str, ...] = LABELS
    preprocess: PreprocessSpec = field(default_factory=PreprocessSpec)
    threshold: float = DEFAULT_THRESHOLD  # fake when fake_probability >= threshold
    # What the output values are: "softmax" (one probability per label), "sigmoid" (one value,
    # P(labels[1])) or "logits" (the runtime applies softmax); bundle.check_output checks it.
    output: str = "softmax"
    sha256: str = ""
    # "calibration": {"temperature": T} in the JSON; 1.0 = uncalibrated (types.calibrated).
    temperature: float = DEFAULT_TEMPERATURE
    training_run: str = ""  # which training run (config hash / folder name) produced it
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # conversion choices, metrics, ...

    def to_dict(self) -> dict[str, Any]:
        """The bundle JSON (edge_runtime/bundle_schema.py); "calibration" only when calibrated,
        so an uncalibrated bundle reads as it did before the field existed."""
        d = asdict(self)
        d["labels"] = list(self.labels)
        temperature = d.pop("temperature")
        if temperature != DEFAULT_TEMPERATURE:
            d["calibration"] = {"temperature": temperature}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "bundle") -> BundleInfo:
        """Checked against the one schema (bundle_schema.parse_bundle; ModelError naming the
        key); its warnings are dropped here: load_bundle reports them."""
        from .bundle_schema import parse_bundle

        return parse_bundle(d, where)[0]


@dataclass
class DetectorOptions:
    """How to run a detector (style of tensorflow/examples' ImageClassifierOptions)."""

    model: str = DEFAULT_MODEL  # a registered model name (registry.py) or a .tflite path
    num_threads: int = field(default_factory=usable_cores)
    threshold: float | None = None  # None: the bundle's own threshold
    backend: str | None = None  # None: best available (ai_edge_litert, tflite_runtime, tensorflow)
    # Decode threads of detect_many (prepare ahead while the interpreter runs); None: a default
    # from the usable cores (detector.decode_workers); 0: sequential loop.
    workers: int | None = None
    # Interpreters that may run at once when several threads share this Detector (each with
    # num_threads threads, made on demand); 1: one interpreter, callers take turns (a lock).
    interpreters: int = 1
    # The face stage (find, align and classify every face): pass FaceOptions() to turn it on.
    # The API's default stays mode "none" (the whole input is one face crop) so existing callers
    # that feed crops (evaluation, conversion checks) are unchanged; the CLI's default is
    # FaceOptions' own (DEFAULT_FACE_MODE).
    faces: FaceOptions = field(default_factory=lambda: FaceOptions(mode=FACES_OFF))


# What the face stage does with an image: "auto" (the default; today the same as "all"), "all"
# faces, only the "largest" one, or "none": no face stage, the whole image is one face crop.
FACE_MODES: tuple[str, ...] = ("auto", "all", "largest", "none")
DEFAULT_FACE_MODE = "auto"  # FaceOptions() and the CLI's --faces
FACES_OFF = "none"
# A face whose aligned crop spans fewer source pixels than this is reported as too small and not
# classified: below it the 224-pixel network input would be more than 2x upsampled mush.
MIN_FACE_CROP_PX = 112


@dataclass(frozen=True)
class FaceOptions:
    """How the face stage runs (edge_runtime.faces)."""

    mode: str = DEFAULT_FACE_MODE  # one of FACE_MODES
    # Detector score threshold. MediaPipe's own is 0.5; at 0.65 synthetic scenes keep the same
    # recall for faces >= 64 px with a third of the false detections (benchmarks.face_scenes).
    min_score: float = 0.65
    min_crop_px: int = MIN_FACE_CROP_PX  # smaller aligned crops: reported as too small

    def __post_init__(self):
        if self.mode not in FACE_MODES:
            raise ValueError(f"unknown faces mode {self.mode!r}; one of {', '.join(FACE_MODES)}")
        if not 0.0 < self.min_score < 1.0:
            raise ValueError(f"face min_score must be within (0, 1), got {self.min_score}")

    @property
    def enabled(self) -> bool:
        return self.mode != FACES_OFF


@dataclass(frozen=True)
class Face:
    """One face found in an image."""

    box: tuple[int, int, int, int]  # left, top, right, bottom in the upright image's pixels
    score: float  # face detector score
    label: str | None  # "fake" or "real"; None when too small to judge
    fake_probability: float | None
    too_small: bool = False  # aligned crop under FaceOptions.min_crop_px: not classified


@dataclass(frozen=True)
class Detection:
    """One classified image.

    With the face stage, label and fake_probability are those of the most-likely-fake face
    (None when no face could be judged: no face, or all too small), and `faces` lists every
    face found. Without it (mode "none") `faces` is None and the whole image was classified.
    """

    path: str
    label: str | None  # "fake", "real", or None (no face to judge)
    fake_probability: float | None
    model: str
    latency_ms: float  # decode + find faces + align + preprocess + invoke for this image
    faces: tuple[Face, ...] | None = None
    # Damage the decoder repaired (edge_runtime/damage.py): the verdict is on a damaged image.
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON line; "warnings" only when there are some (a damaged input)."""
        d = asdict(self)
        if d["faces"] is not None:
            d["faces"] = [dict(f, box=list(f["box"])) for f in d["faces"]]
        d["warnings"] = list(self.warnings)
        if not d["warnings"]:
            del d["warnings"]
        return d


@dataclass(frozen=True)
class DetectionError:
    """One input that could not be classified."""

    path: str
    error: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
