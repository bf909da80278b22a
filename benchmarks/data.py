"""The labelled folder a benchmark scores models on: real/ and fake/ subfolders of images."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from edge_runtime.types import LABELS
from workbench.evaluation import DataError, class_dirs, default_sample_dir, list_class_folder

__all__ = ["DataError", "default_data_dir", "labelled_images", "synthetic_jpeg"]


def default_data_dir() -> Path | None:
    """The shared sample's test split (../shared/data/faces140k_sample/test), when present."""
    candidate = default_sample_dir() / "test"
    return candidate if all((candidate / label).is_dir() for label in LABELS) else None


def labelled_images(folder: str | os.PathLike, limit: int | None = None) -> list[tuple[str, str]]:
    """(path, label) pairs from folder/fake and folder/real, sorted; limit = at most that many in
    total, split evenly between the two classes so accuracy is not one class's."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{folder}: no such folder")
    dirs = class_dirs(root)  # workbench.evaluation's reader
    missing = [label for i, label in enumerate(LABELS) if i not in dirs]
    if missing:
        raise DataError(
            f"{folder}: expected subfolders {' and '.join(f'{x}/' for x in LABELS)} "
            f"(missing {', '.join(missing)})"
        )
    per_class = None if limit is None else max(1, (limit + len(LABELS) - 1) // len(LABELS))
    pairs: list[tuple[str, str]] = []
    for i, label in enumerate(LABELS):
        files = [s.path for s in list_class_folder(dirs[i], i, "")[0]]
        pairs += [(path, label) for path in files[:per_class]]
    if not pairs:
        raise DataError(f"{folder}: no images in {'/ or '.join(LABELS)}/")
    return pairs[:limit] if limit is not None else pairs


def synthetic_jpeg(path: str | os.PathLike, size: int = 256, seed: int = 0) -> Path:
    """A face-photo-sized JPEG (smooth gradients + mild noise) for latency when no data is given:
    end-to-end latency must include a real decode."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.stack([200 * x + 30, 150 * y + 50, 120 * (1 - x) * y + 60], axis=-1)
    pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="JPEG", quality=90)
    path = Path(path)
    path.write_bytes(buf.getvalue())
    return path
