"""Check a converted variant against the Keras model on the same preprocessed tensors.

The variant runs through edge_runtime's Detector (the code a device runs), not through
TensorFlow's interpreter, so what is verified is what ships.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.bundle import load_bundle
from edge_runtime.detector import Detector
from edge_runtime.types import LABELS, DetectorOptions
from workbench.evaluation import predict_labels

from .options import MIN_AGREEMENT
from .source import fake_probabilities

# A fake probability whose spread over the whole validation set is below this is "constant".
COLLAPSE_STD = 1e-4


@dataclass(frozen=True)
class VerifyLimits:
    min_agreement: float = MIN_AGREEMENT  # fraction of validation images with the Keras label
    collapse_std: float = COLLAPSE_STD


@dataclass
class Reference:
    """The Keras model's own answers on the validation tensors."""

    fake_probability: np.ndarray
    labels: np.ndarray  # predicted label index per image
    truth: np.ndarray
    threshold: float

    @property
    def accuracy(self) -> float:
        return float((self.labels == self.truth).mean())

    @property
    def std(self) -> float:
        return float(self.fake_probability.std())


@dataclass
class VariantCheck:
    variant: str
    size_bytes: int
    n_images: int
    agreement: float  # fraction of images where the variant's label equals Keras's
    max_abs_diff: float  # largest |P(fake) variant - P(fake) keras|
    mean_abs_diff: float
    accuracy: float
    keras_accuracy: float
    fake_probability_std: float
    predicted_counts: dict[str, int]
    invoke_ms_mean: float
    passed: bool = True
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def keras_reference(
    model, x: np.ndarray, truth: np.ndarray, threshold: float, batch: int = 32
) -> Reference:
    p_fake = fake_probabilities(model.predict(x, batch_size=batch, verbose=0))
    return Reference(p_fake, predict_labels(p_fake, threshold), truth, threshold)


def predict_fake(tflite_path: Path, x: np.ndarray, num_threads: int = 1) -> np.ndarray:
    """P(fake) for every input, through edge_runtime's Detector."""
    bundle = load_bundle(tflite_path)
    det = Detector(DetectorOptions(model=str(tflite_path), num_threads=num_threads), bundle=bundle)
    return np.array([det.fake_probability(xi) for xi in x], dtype=np.float64)


def check_variant(
    tflite_path: Path,
    variant: str,
    x: np.ndarray,
    ref: Reference,
    limits: VerifyLimits,
    num_threads: int = 1,
) -> VariantCheck:
    """Run every validation tensor through the Detector and compare with Keras."""
    bundle = load_bundle(tflite_path)
    start = time.perf_counter()
    p = predict_fake(tflite_path, x, num_threads)
    invoke_ms = (time.perf_counter() - start) * 1000.0 / max(1, len(x))
    labels = predict_labels(p, ref.threshold)
    diff = np.abs(p - ref.fake_probability)
    check = VariantCheck(
        variant=variant,
        size_bytes=bundle.size_bytes,
        n_images=len(x),
        agreement=float((labels == ref.labels).mean()),
        max_abs_diff=float(diff.max()),
        mean_abs_diff=float(diff.mean()),
        accuracy=float((labels == ref.truth).mean()),
        keras_accuracy=ref.accuracy,
        fake_probability_std=float(p.std()),
        predicted_counts={name: int((labels == i).sum()) for i, name in enumerate(LABELS)},
        invoke_ms_mean=round(invoke_ms, 3),
    )
    check.problems = collapse_problems(check, ref, labels, limits)
    check.passed = not check.problems
    return check


def collapse_problems(
    check: VariantCheck, ref: Reference, labels: np.ndarray, limits: VerifyLimits
) -> list[str]:
    """Why a variant must not ship: constant output, one label only, or too little agreement."""
    problems = []
    if check.fake_probability_std < limits.collapse_std:
        also = (
            f" (the Keras model itself is constant too: std {ref.std:.2e})"
            if ref.std < limits.collapse_std
            else f" (Keras std {ref.std:.2e})"
        )
        problems.append(
            "collapsed: P(fake) is the same for every validation "
            f"image (std {check.fake_probability_std:.2e}){also}"
        )
    n_variant_labels = len(np.unique(labels))
    n_keras_labels = len(np.unique(ref.labels))
    if n_variant_labels == 1 and n_keras_labels > 1:
        only = LABELS[int(labels[0])]
        problems.append(
            f"collapsed: predicts '{only}' for every validation image while Keras predicts both"
        )
    if check.agreement < limits.min_agreement:
        problems.append(
            f"agreement with Keras {check.agreement:.1%} is "
            f"under the {limits.min_agreement:.1%} minimum"
        )
    return problems
