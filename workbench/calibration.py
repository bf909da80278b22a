"""An operating point for few false accusations, and a P(fake) that means what it says.

- `threshold_for_fpr`: the lowest threshold on P(fake) whose false-positive rate on reals is
  within a target, by the runtime's one rule (edge_runtime.types.is_fake: P(fake) >= t).
- Temperature scaling (Guo et al. 2017, "On calibration of modern neural networks"):
  P'(fake) = sigmoid(logit(P(fake)) / T), one T > 0 fitted by minimising the (weighted) NLL
  on validation data. T > 1 softens an over-confident model; the ranking (ROC AUC) and so the
  set of reachable operating points do not change.
- Expected calibration error and the reliability diagram on P(fake): equal-width bins; in each,
  the mean P(fake) ("confidence") against the share of images that are fake ("accuracy").

Labels are edge_runtime's: fake = FAKE_INDEX (0), real = REAL_INDEX (1); every score here is
P(fake), what the runtime reports. numpy only (matplotlib imported by the plot alone).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edge_runtime.fileio import atomic_write_bytes
from edge_runtime.types import (
    CALIBRATION_CLIP,
    DEFAULT_TEMPERATURE,
    FAKE_INDEX,
    calibrated,
    is_fake,
)

P_CLIP = CALIBRATION_CLIP  # the runtime's clip before a logit (0 and 1 stay finite)
# The search range of fit_temperature: far beyond any temperature a trained net needs.
T_MIN, T_MAX = 1e-3, 1e3


def _weights(n: int, weights: Sequence[float] | np.ndarray | None) -> np.ndarray:
    if weights is None:
        return np.ones(n, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(w) != n or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError(f"weights: need {n} finite values >= 0")
    return w


def threshold_for_fpr(
    p_fake_reals: Sequence[float] | np.ndarray,
    target_fpr: float,
    weights: Sequence[float] | np.ndarray | None = None,
) -> float:
    """The lowest threshold t such that the (weighted) share of reals with P(fake) >= t is at
    most target_fpr.

    The false-positive rate only changes at the scores themselves, and a real scoring exactly
    t is called fake (the runtime's rule), so the candidates are the observed scores: the
    answer is the smallest score u whose reals at or above it (ties at u included) weigh at
    most target_fpr. Every t in (previous score, u] gives the same rate; u is returned. When
    no score qualifies (target 0, or ties at the top weigh more than the target), the answer is
    the next float above the highest score: no real is called fake. That exceeds 1.0 only if a
    real scored exactly 1.0. Scores and threshold compare as float64, as the Detector's
    Python floats do (numpy 2 would compare a float32 array in float32).
    """
    p = np.asarray(p_fake_reals, dtype=np.float64).reshape(-1)
    if len(p) == 0:
        raise ValueError("threshold_for_fpr: no real scores")
    if not 0.0 <= target_fpr <= 1.0:
        raise ValueError(f"target false-positive rate {target_fpr} not in [0, 1]")
    w = _weights(len(p), weights)
    total = w.sum()
    if total <= 0:
        raise ValueError("threshold_for_fpr: the weights sum to 0")
    values, inverse = np.unique(p, return_inverse=True)  # ascending
    mass = np.bincount(inverse, weights=w, minlength=len(values))
    at_or_above = np.cumsum(mass[::-1])[::-1] / total  # share with P(fake) >= values[k]
    # A tiny tolerance so that e.g. 3 of 100 meets a 0.03 target despite float rounding.
    ok = np.nonzero(at_or_above <= target_fpr + 1e-12)[0]
    if len(ok) == 0:
        return float(np.nextafter(values[-1], np.inf))
    return float(values[ok[0]])


def share_called_fake(
    p_fake: Sequence[float] | np.ndarray,
    threshold: float,
    weights: Sequence[float] | np.ndarray | None = None,
) -> float:
    """The (weighted) share called fake at threshold (the runtime's rule): the false-positive
    rate of reals, the recall of fakes."""
    p = np.asarray(p_fake, dtype=np.float64).reshape(-1)
    w = _weights(len(p), weights)
    return float(w[is_fake(p, threshold)].sum() / w.sum())


def logit(p: Sequence[float] | np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), P_CLIP, 1.0 - P_CLIP)
    return np.log(q / (1.0 - q))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow warning for large |z|


def apply_temperature(p_fake: Sequence[float] | np.ndarray | float, temperature: float):
    """Calibrated P(fake) = sigmoid(logit(P(fake)) / T): the runtime's one definition
    (edge_runtime.types.calibrated, what a bundle's temperature does on a device)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if float(temperature) == DEFAULT_TEMPERATURE:
        out = np.asarray(p_fake, dtype=np.float64)
        return float(out) if np.ndim(out) == 0 else out
    return calibrated(p_fake, float(temperature))


def uncalibrated_threshold(threshold: float, temperature: float) -> float:
    """The threshold on the model's own P(fake) that makes the same decisions as `threshold`
    on the calibrated one (the map is monotone): sigmoid(T * logit(threshold))."""
    if threshold > 1.0 - P_CLIP or threshold < P_CLIP:
        return threshold  # beyond the clipped range: nothing (or everything) is called fake
    return float(_sigmoid(temperature * logit(threshold)))


def nll(p_fake, labels, weights=None) -> float:
    """Mean (weighted) negative log-likelihood of the labels under P(fake)."""
    q = np.clip(np.asarray(p_fake, dtype=np.float64), P_CLIP, 1.0 - P_CLIP)
    y = np.asarray(labels) == FAKE_INDEX
    w = _weights(len(q), weights)
    return float(-(w * np.where(y, np.log(q), np.log1p(-q))).sum() / w.sum())


def fit_temperature(
    p_fake: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    weights: Sequence[float] | np.ndarray | None = None,
    tol: float = 1e-6,
) -> float:
    """The T in [T_MIN, T_MAX] minimising the weighted NLL of sigmoid(logit(p) / T).

    Golden-section search on log T: the NLL is convex in 1 / T (a one-weight logistic
    regression on the logit), hence unimodal in log T. A model whose scores run against the
    labels ends at T_MAX (P(fake) pushed towards 0.5).
    """
    z = logit(p_fake)
    y = np.asarray(labels).reshape(-1)
    if len(y) != len(z) or len(z) == 0:
        raise ValueError("fit_temperature: need as many labels as scores, at least one")
    w = _weights(len(z), weights)

    def loss(log_t: float) -> float:
        return nll(_sigmoid(z / math.exp(log_t)), y, w)

    lo, hi = math.log(T_MIN), math.log(T_MAX)
    g = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = loss(a), loss(b)
    while hi - lo > tol:
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = loss(b)
    return float(math.exp((lo + hi) / 2.0))


def balanced_source_weights(sources: Sequence[str], labels: Sequence[int]) -> np.ndarray:
    """One weight per image: each class carries half the total and, within its class, each
    source an equal share (so no one source or class dominates a pooled figure). Weights
    average 1 over the images of a two-class pool."""
    names = np.asarray(list(sources), dtype=str)
    y = np.asarray(labels).reshape(-1)
    if len(names) != len(y):
        raise ValueError("balanced_source_weights: need one source name per label")
    classes = np.unique(y)
    out = np.zeros(len(y), dtype=np.float64)
    for label in classes:
        in_class = np.unique(names[y == label])
        for name in in_class:
            m = (names == name) & (y == label)
            out[m] = len(y) / (len(classes) * len(in_class) * m.sum())
    return out


@dataclass(frozen=True)
class ReliabilityBin:
    lower: float
    upper: float
    count: int  # images in the bin
    weight: float  # their total weight (= count when unweighted)
    confidence: float | None  # mean P(fake) in the bin (None: empty bin)
    accuracy: float | None  # share of the bin's images that are fake

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reliability_bins(p_fake, labels, bins: int = 10, weights=None) -> list[ReliabilityBin]:
    """Equal-width bins on P(fake) over [0, 1] (the last one closed): per bin the count, the
    (weighted) mean P(fake) and the (weighted) share that is fake."""
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    p = np.asarray(p_fake, dtype=np.float64).reshape(-1)
    fake = (np.asarray(labels).reshape(-1) == FAKE_INDEX).astype(np.float64)
    w = _weights(len(p), weights)
    index = np.clip(np.floor(p * bins).astype(np.int64), 0, bins - 1)
    out = []
    for k in range(bins):
        m = index == k
        wk = float(w[m].sum())
        conf = float((w[m] * p[m]).sum() / wk) if wk > 0 else None
        acc = float((w[m] * fake[m]).sum() / wk) if wk > 0 else None
        out.append(ReliabilityBin(k / bins, (k + 1) / bins, int(m.sum()), wk, conf, acc))
    return out


def expected_calibration_error(p_fake, labels, bins: int = 10, weights=None) -> float | None:
    """ECE = sum over bins of (bin weight / total) * |share fake - mean P(fake)|; None: no data."""
    rows = reliability_bins(p_fake, labels, bins, weights)
    total = sum(r.weight for r in rows)
    if total <= 0:
        return None
    return float(
        sum(r.weight / total * abs(r.accuracy - r.confidence) for r in rows if r.weight > 0)
    )


def plot_reliability(
    curves: dict[str, list[ReliabilityBin]], path: str | os.PathLike, title: str = ""
) -> None:
    """A reliability diagram (PNG): one line per named curve, the diagonal = calibrated, and
    below it the share of images per bin."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    fig, (ax, hist) = plt.subplots(
        2, 1, figsize=(5.5, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="calibrated")
    for i, (name, rows) in enumerate(curves.items()):
        used = [r for r in rows if r.weight > 0]
        ax.plot([r.confidence for r in used], [r.accuracy for r in used], "o-", label=name)
        total = sum(r.weight for r in rows) or 1.0
        width = (rows[0].upper - rows[0].lower) / (len(curves) + 1)
        hist.bar(
            [r.lower + (i + 0.5) * width for r in rows],
            [r.weight / total for r in rows],
            width=width,
            label=name,
        )
    ax.set_ylabel("share that is fake")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title or "reliability of P(fake)")
    hist.set_xlabel("P(fake) (bin)")
    hist.set_ylabel("share of images")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


__all__ = [
    "P_CLIP",
    "T_MAX",
    "T_MIN",
    "ReliabilityBin",
    "apply_temperature",
    "balanced_source_weights",
    "expected_calibration_error",
    "fit_temperature",
    "logit",
    "nll",
    "plot_reliability",
    "reliability_bins",
    "share_called_fake",
    "threshold_for_fpr",
    "uncalibrated_threshold",
]
