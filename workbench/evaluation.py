"""The evaluation layer every stage shares (numpy only, no TensorFlow).

- Labelled folders: `real/` and/or `fake/` class folders of images (one reader for train,
  convert, benchmarks), and where the shared data sample lives by default.
- Binary-classification metrics in the report's convention: positive class = real = 1
  (REAL_INDEX); the score for ROC AUC is P(real); a prediction is "fake" by the runtime's one
  rule (types.is_fake: P(fake) >= threshold).

The benchmarks import this on a Raspberry Pi that has only the runtime installed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.inputs import is_image_name
from edge_runtime.types import (
    DEFAULT_THRESHOLD,
    FAKE_INDEX,
    LABELS,
    REAL_INDEX,
    EdgeDetectError,
    is_fake,
)

from .paths import shared_data_dir

# The labelled sample every stage defaults to: {train,valid,test}/{real,fake}/ under
# ../shared/data (workbench.paths).
SAMPLE_SET = "faces140k_sample"


def default_sample_dir() -> Path:
    """../shared/data/faces140k_sample: the default data of train, convert and benchmarks."""
    return shared_data_dir() / SAMPLE_SET


class DataError(EdgeDetectError):
    """Labelled data cannot be used: missing folder or split, empty class, unreadable list.

    One class for every stage (train, convert, benchmarks); the message is one line.
    """


@dataclass(frozen=True)
class Sample:
    path: str
    label: int  # FAKE_INDEX or REAL_INDEX


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str
    split: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class SplitFiles:
    """The files of one split (or labelled set) and what was left out while listing them."""

    name: str
    samples: list[Sample]
    skipped: list[Skipped] = field(default_factory=list)
    source: str = "folders"  # or the CSV file that listed them

    def counts(self) -> dict[str, int]:
        labels = np.array([s.label for s in self.samples], dtype=np.int64)
        return {LABELS[i]: int((labels == i).sum()) for i in (FAKE_INDEX, REAL_INDEX)}


def class_dirs(folder: Path) -> dict[int, Path]:
    """{0: fake dir, 1: real dir} of the class folders present (names case-insensitive)."""
    found: dict[int, Path] = {}
    if not folder.is_dir():
        return found
    for child in sorted(folder.iterdir()):
        if child.is_dir() and child.name.lower() in LABELS:
            found.setdefault(LABELS.index(child.name.lower()), child)
    return found


def _hidden(path: Path, base: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(base).parts)


def list_class_folder(folder: Path, label: int, split: str) -> tuple[list[Sample], list[Skipped]]:
    """Every image under one class folder (subfolders too, sorted); hidden and non-image files
    are skipped with their reason. Image = inputs.IMAGE_EXTENSIONS, the CLI's own set."""
    samples, skipped = [], []
    for p in sorted(folder.rglob("*")):
        if p.is_dir():
            continue
        if _hidden(p, folder):
            skipped.append(Skipped(str(p), "hidden file", split))
        elif not is_image_name(p.name):
            skipped.append(
                Skipped(str(p), f"not an image file (suffix {p.suffix or 'none'!r})", split)
            )
        else:
            samples.append(Sample(str(p), label))
    return samples, skipped


def read_labelled_folder(
    folder: str | os.PathLike, name: str = "", require_both: bool = False
) -> SplitFiles:
    """The one labelled-folder reader: a folder holding real/ and/or fake/ (both if asked)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    dirs = class_dirs(folder)
    if require_both:
        absent = [LABELS[i] + "/" for i in (FAKE_INDEX, REAL_INDEX) if i not in dirs]
        if absent:
            raise DataError(f"{folder}: missing class folder(s) {', '.join(absent)}")
    elif not dirs:
        raise DataError(
            f"{folder}: no real/ or fake/ folder (an evaluation set needs at least one)"
        )
    samples, skipped = [], []
    for label, d in sorted(dirs.items()):
        s, k = list_class_folder(d, label, name or folder.name)
        samples += s
        skipped += k
    return SplitFiles(name=name or folder.name, samples=samples, skipped=skipped)


CONVENTION = (
    "positive class = real (label 1), negative = fake (label 0); score for ROC AUC = P(real); "
    "predicted fake when P(fake) >= threshold; confusion_matrix rows = true [fake, real], "
    "columns = predicted [fake, real]"
)


@dataclass
class BinaryMetrics:
    """One evaluated set. None = not computable on this set (e.g. AUC with one class only)."""

    n: int
    n_real: int
    n_fake: int
    accuracy: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    roc_auc: float | None
    specificity: float | None  # recall of the fake class
    threshold: float
    confusion_matrix: list[list[int]]  # [[TN, FP], [FN, TP]] with real as positive
    convention: str = CONVENTION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den > 0 else None


def _check(y_true: Sequence[int] | np.ndarray, p_fake: Sequence[float] | np.ndarray):
    y = np.asarray(y_true, dtype=np.int64).reshape(-1)
    p = np.asarray(p_fake, dtype=np.float64).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"{y.size} labels but {p.size} scores")
    if y.size and not np.isin(y, (FAKE_INDEX, REAL_INDEX)).all():
        raise ValueError(f"labels must be {FAKE_INDEX} (fake) or {REAL_INDEX} (real)")
    if np.isnan(p).any():
        raise ValueError("scores contain NaN")
    return y, p


def predict_labels(p_fake, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Label index per score: 0 (fake) where the rule says fake (types.is_fake), else 1 (real)."""
    return np.where(is_fake(np.asarray(p_fake), threshold), FAKE_INDEX, REAL_INDEX).astype(np.int64)


def confusion_matrix(y_true, y_pred) -> list[list[int]]:
    """Rows = true [fake, real], columns = predicted [fake, real] (sklearn order, labels 0, 1)."""
    y = np.asarray(y_true, dtype=np.int64).reshape(-1)
    q = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    cm = np.zeros((2, 2), dtype=np.int64)
    np.add.at(cm, (y, q), 1)
    return cm.tolist()


def roc_auc(y_true, score_positive) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); None if one class."""
    y = np.asarray(y_true, dtype=np.int64).reshape(-1)
    s = np.asarray(score_positive, dtype=np.float64).reshape(-1)
    n_pos = int((y == 1).sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size, dtype=np.float64)
    sorted_s = s[order]
    # Average rank over each run of tied scores.
    boundaries = np.flatnonzero(np.diff(sorted_s)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [s.size]))
    for a, b in zip(starts, ends):
        ranks[order[a:b]] = (a + b + 1) / 2.0  # ranks a+1 .. b, averaged
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def binary_metrics(y_true, p_fake, threshold: float = DEFAULT_THRESHOLD) -> BinaryMetrics:
    """All figures of the report's tables for labels y_true (0 fake, 1 real) and scores P(fake)."""
    y, p = _check(y_true, p_fake)
    pred = predict_labels(p, threshold)
    cm = confusion_matrix(y, pred)
    (tn, fp), (fn, tp) = cm
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    if precision is None or recall is None:
        f1 = None
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return BinaryMetrics(
        n=int(y.size),
        n_real=int((y == REAL_INDEX).sum()),
        n_fake=int((y == FAKE_INDEX).sum()),
        accuracy=_ratio(tp + tn, y.size),
        precision=precision,
        recall=recall,
        f1=f1,
        roc_auc=roc_auc(y, 1.0 - p),
        specificity=_ratio(tn, tn + fp),
        threshold=float(threshold),
        confusion_matrix=cm,
    )


def best_threshold(y_true, p_fake) -> tuple[float, float]:
    """The threshold on P(fake) that maximises accuracy, and that accuracy.

    Candidates are the midpoints between consecutive distinct scores (plus 0,
    DEFAULT_THRESHOLD and 1), so the chosen value does not sit on an example; ties go to the
    candidate nearest DEFAULT_THRESHOLD.
    """
    y, p = _check(y_true, p_fake)
    if y.size == 0:
        raise ValueError("no examples to choose a threshold from")
    u = np.unique(p)
    candidates = np.concatenate(([0.0, DEFAULT_THRESHOLD], (u[:-1] + u[1:]) / 2.0, [1.0]))
    candidates = np.unique(np.clip(candidates, 0.0, 1.0))
    # accuracy(t) = (#fake with p >= t + #real with p < t) / n, for all t at once.
    fake_sorted = np.sort(p[y == FAKE_INDEX])
    real_sorted = np.sort(p[y == REAL_INDEX])
    fake_hits = fake_sorted.size - np.searchsorted(fake_sorted, candidates, side="left")
    real_hits = np.searchsorted(real_sorted, candidates, side="left")
    acc = (fake_hits + real_hits) / y.size
    best = np.flatnonzero(acc == acc.max())
    pick = best[np.argmin(np.abs(candidates[best] - DEFAULT_THRESHOLD))]
    return float(candidates[pick]), float(acc[pick])


def _fmt(v: float | None, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.{digits}f}"


TABLE_COLUMNS = ("set", "n_real", "n_fake", "accuracy", "precision", "recall", "f1", "roc_auc")


def markdown_table(
    rows: Sequence[tuple[str, BinaryMetrics]], extra_columns: Sequence[str] = ()
) -> str:
    """One row per evaluated set, like the report's generalisation table."""
    head = list(TABLE_COLUMNS) + list(extra_columns)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for name, m in rows:
        cells = [
            name,
            str(m.n_real),
            str(m.n_fake),
            _fmt(m.accuracy),
            _fmt(m.precision),
            _fmt(m.recall),
            _fmt(m.f1),
            _fmt(m.roc_auc),
        ]
        cells += [str(m.extra.get(c, "")) for c in extra_columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


__all__ = [
    "CONVENTION",
    "DEFAULT_THRESHOLD",
    "SAMPLE_SET",
    "BinaryMetrics",
    "DataError",
    "Sample",
    "Skipped",
    "SplitFiles",
    "best_threshold",
    "binary_metrics",
    "class_dirs",
    "confusion_matrix",
    "default_sample_dir",
    "list_class_folder",
    "markdown_table",
    "predict_labels",
    "read_labelled_folder",
    "roc_auc",
    "shared_data_dir",
]
