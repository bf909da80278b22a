"""edge_runtime: TensorFlow-free deepfake-face detection on TFLite interpreters."""

from .bundle import ModelBundle, load_bundle, save_bundle
from .detector import Detector
from .preprocess import load_image, load_resized, normalize
from .registry import DEFAULT_MODEL, available_models, available_variants, list_models, resolve
from .types import (
    LABELS,
    VARIANTS,
    BundleInfo,
    Detection,
    DetectionError,
    DetectorOptions,
    EdgeDetectError,
    Face,
    FaceOptions,
    ImageError,
    ModelError,
    PreprocessSpec,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL",
    "LABELS",
    "VARIANTS",
    "BundleInfo",
    "Detection",
    "DetectionError",
    "Detector",
    "DetectorOptions",
    "EdgeDetectError",
    "Face",
    "FaceOptions",
    "ImageError",
    "ModelBundle",
    "ModelError",
    "PreprocessSpec",
    "available_models",
    "available_variants",
    "list_models",
    "load_bundle",
    "load_image",
    "load_resized",
    "normalize",
    "resolve",
    "save_bundle",
]
