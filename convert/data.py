"""Labelled image folders for conversion: the int8 calibration set and the verification set.

A folder is either a 140k-style root (`train/`, `valid/`, `test/`, each with `real/` and `fake/`)
or a plain labelled folder (`real/` and `fake/` directly inside). Images pass through
edge_runtime's own preprocessing, so calibration sees exactly what a device feeds the model.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_runtime.preprocess import load_resized, normalize
from edge_runtime.types import LABELS, ImageError, PreprocessSpec
from workbench.evaluation import DataError, class_dirs, list_class_folder

log = logging.getLogger(__name__)
# Fewer than this cannot estimate activation ranges (calibration) or agreement (verification).
MIN_IMAGES = 10


@dataclass(frozen=True)
class LabelledFiles:
    """Image paths per label index (fake = 0, real = 1) from one labelled folder."""

    root: Path
    files: dict[int, list[Path]]

    @property
    def counts(self) -> dict[str, int]:
        return {LABELS[k]: len(v) for k, v in sorted(self.files.items())}

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.files.values())


@dataclass
class ImageSet:
    """Preprocessed network inputs (float32 N x H x W x 3) with their labels and paths."""

    x: np.ndarray
    y: np.ndarray  # label index per image
    paths: list[str]
    source: str
    skipped: list[str] = field(default_factory=list)  # "path: reason" for unreadable images

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def counts(self) -> dict[str, int]:
        return {name: int((self.y == i).sum()) for i, name in enumerate(LABELS)}


def split_dir(root: str | Path, split: str) -> Path:
    """The folder holding real/ and fake/: ROOT/split for a 140k-style root, else ROOT itself."""
    root = Path(root)
    if (root / split).is_dir():
        return root / split
    return root


def list_labelled(folder: str | Path, purpose: str, min_images: int = MIN_IMAGES) -> LabelledFiles:
    """Check a labelled folder before any work starts: both classes present, enough images."""
    folder = Path(folder)
    if not folder.exists():
        raise DataError(f"{folder}: {purpose} folder does not exist")
    if not folder.is_dir():
        raise DataError(f"{folder}: {purpose} folder is not a directory")
    # workbench.evaluation's reader: class folders real/ and fake/, image files by extension.
    files: dict[int, list[Path]] = {index: [] for index in range(len(LABELS))}
    for index, sub in class_dirs(folder).items():
        try:
            files[index] = [Path(s.path) for s in list_class_folder(sub, index, purpose)[0]]
        except OSError as e:
            raise DataError(f"{sub}: cannot list {purpose} images ({e.strerror or e})") from None
    missing = [LABELS[k] for k, v in files.items() if not v]
    if len(missing) == len(LABELS):
        raise DataError(
            f"{folder}: no {purpose} images; expected {'/ and '.join(LABELS)}/ subfolders "
            "with images (or a 140k-style root with train/ and valid/)"
        )
    if missing:
        raise DataError(
            f"{folder}: {purpose} images of one class only (no images in {', '.join(missing)}/); "
            "both fake/ and real/ are needed"
        )
    total = sum(len(v) for v in files.values())
    if total < min_images:
        raise DataError(
            f"{folder}: only {total} {purpose} images; at least {min_images} are needed"
        )
    return LabelledFiles(root=folder, files=files)


def stratified_sample(labelled: LabelledFiles, n: int, seed: int) -> list[tuple[Path, int]]:
    """n files (or all, if fewer), each class in proportion to its share, seeded; shuffled order.

    Returns every file of each class in a seeded order: the first `quota` are the sample, the
    rest are spares that replace unreadable images.
    """
    rng = random.Random(seed)
    total = labelled.total
    n = min(n, total)
    # Largest-remainder quotas, at least one image per class.
    shares = {k: n * len(v) / total for k, v in labelled.files.items()}
    quota = {k: max(1, int(s)) for k, s in shares.items()}
    for k in sorted(shares, key=lambda k: shares[k] - int(shares[k]), reverse=True):
        if sum(quota.values()) >= n:
            break
        quota[k] += 1
    order: list[tuple[Path, int]] = []
    spares: list[tuple[Path, int]] = []
    for k in sorted(labelled.files):
        files = list(labelled.files[k])
        rng.shuffle(files)
        order += [(p, k) for p in files[: quota[k]]]
        spares += [(p, k) for p in files[quota[k] :]]
    rng.shuffle(order)
    return order + spares


def load_image_set(
    labelled: LabelledFiles,
    spec: PreprocessSpec,
    n: int | None,
    seed: int,
    purpose: str,
    progress: bool = True,
) -> ImageSet:
    """Preprocess a stratified sample of n images (all when n is None).

    An unreadable image is skipped (and named in `skipped`) and replaced by a spare of the same
    class when there is one.
    """
    want = labelled.total if n is None else min(n, labelled.total)
    candidates = stratified_sample(labelled, want, seed)
    quota: dict[int, int] = {}
    for _, k in candidates[:want]:
        quota[k] = quota.get(k, 0) + 1
    xs: list[np.ndarray] = []
    ys: list[int] = []
    paths: list[str] = []
    skipped: list[str] = []
    taken: dict[int, int] = {k: 0 for k in quota}
    for path, k in candidates:
        if all(taken[c] >= quota[c] for c in quota):
            break
        if taken.get(k, 0) >= quota.get(k, 0):
            continue
        try:
            pixels = load_resized(path, spec)
        except ImageError as e:
            skipped.append(str(e))
            log.warning(f"  skipped {e}")
            continue
        xs.append(normalize(pixels, spec))
        ys.append(k)
        paths.append(str(path))
        taken[k] += 1
        if progress and len(xs) % 100 == 0:
            log.info(f"  {purpose}: {len(xs)}/{want} images")
    if len(xs) < min(MIN_IMAGES, want) or len(set(ys)) < len(LABELS):
        raise DataError(
            f"{labelled.root}: only {len(xs)} readable {purpose} images "
            f"({len(skipped)} unreadable); both classes and at least {MIN_IMAGES} are needed"
        )
    x = np.stack(xs).astype(np.float32)
    return ImageSet(
        x=x,
        y=np.asarray(ys, dtype=np.int64),
        paths=paths,
        source=str(labelled.root),
        skipped=skipped,
    )
