"""The labelled data: find the layout, list the files, decode them with edge_runtime's code.

Layout: `{train,valid,test}/{real,fake}/*` (the Kaggle "140k Real and Fake Faces" folders), found
also from the download's top folder (`real_vs_fake/real-vs-fake/`), with the Kaggle
train.csv / valid.csv / test.csv used as the file lists when present. Labels: fake = 0, real = 1.
An evaluation set is any folder with `real/` and/or `fake/` (workbench.evaluation's reader).

No TensorFlow here: decoding is `edge_runtime.preprocess.load_resized`, the runtime's own code.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.inputs import is_image_name
from edge_runtime.preprocess import load_resized
from edge_runtime.types import (
    FAKE_INDEX,
    LABELS,
    REAL_INDEX,
    EdgeDetectError,
    PreprocessSpec,
    usable_cores,
)
from workbench.evaluation import (
    DataError,
    Sample,
    Skipped,
    SplitFiles,
    class_dirs,
    read_labelled_folder,
)

log = logging.getLogger(__name__).info  # progress lines on stderr (console.setup_logging)


SPLITS = ("train", "valid", "test")
SPLIT_ALIASES = {
    "train": ("train", "training"),
    "valid": ("valid", "val", "validation"),
    "test": ("test", "testing"),
}
# Where the Kaggle download keeps its image folders, relative to the folder a user points at.
KAGGLE_SUBDIRS = ("real-vs-fake", "real_vs_fake/real-vs-fake", "real_vs_fake")


@dataclass
class Layout:
    root: Path  # the folder holding train/ valid/ test/
    split_dirs: dict[str, Path]
    csv_files: dict[str, Path]


def _split_dir(root: Path, split: str) -> Path | None:
    for alias in SPLIT_ALIASES[split]:
        for candidate in (root / alias, root / alias.capitalize()):
            if candidate.is_dir():
                return candidate
    return None


def _find_root(top: Path) -> Path:
    """The folder holding train/: `top` itself or one of the Kaggle download's subfolders."""
    if not top.exists():
        raise DataError(f"{top}: no such data folder")
    if not top.is_dir():
        raise DataError(f"{top}: not a folder (expected {{train,valid,test}}/{{real,fake}}/)")
    for candidate in [top] + [top / sub for sub in KAGGLE_SUBDIRS]:
        if _split_dir(candidate, "train") is not None:
            return candidate
    raise DataError(
        f"{top}: no train/ split folder found; expected {{train,valid,test}}/{{real,fake}}/ "
        "or the Kaggle download's real_vs_fake/real-vs-fake/ folder"
    )


def _csv_lists(root: Path, top: Path, use_csv: str, splits: Sequence[str]) -> dict[str, Path]:
    """The Kaggle train.csv etc. (kept at the download's top, two levels above the images)."""
    if use_csv == "off":
        return {}
    csv_files: dict[str, Path] = {}
    for split in splits:
        found = [d / f"{split}.csv" for d in (root, root.parent, root.parent.parent, top)]
        found = [f for f in found if f.is_file()]
        if found:
            csv_files[split] = found[0]
    absent = [s for s in splits if s not in csv_files]
    if use_csv == "on" and absent:
        raise DataError(
            f"{root}: --use-csv on but no {', '.join(a + '.csv' for a in absent)} found"
        )
    return csv_files


def find_layout(
    path: str | os.PathLike, use_csv: str = "auto", splits: Sequence[str] = SPLITS
) -> Layout:
    """The split folders under `path` (or under the Kaggle download's subfolders)."""
    top = Path(path)
    root = _find_root(top)
    split_dirs = {split: _split_dir(root, split) for split in splits}
    missing = [split for split, d in split_dirs.items() if d is None]
    if missing:
        raise DataError(f"{root}: missing split folder(s) {', '.join(m + '/' for m in missing)}")
    return Layout(
        root=root, split_dirs=split_dirs, csv_files=_csv_lists(root, top, use_csv, splits)
    )


def list_folder_set(folder: Path, name: str, require_both: bool) -> SplitFiles:
    """A split folder or evaluation set holding real/ and/or fake/ (the shared reader)."""
    return read_labelled_folder(folder, name, require_both)


def _csv_label(row: dict[str, str], path_text: str) -> int | None:
    parts = [p.lower() for p in Path(path_text).parts]
    if parts and len(parts) >= 2 and parts[-2] in LABELS:
        return LABELS.index(parts[-2])  # the class folder is the strongest evidence
    text = (row.get("label_str") or "").strip().lower()
    if text in LABELS:
        return LABELS.index(text)
    num = (row.get("label") or "").strip()
    if num in ("0", "1"):
        return int(num)  # the Kaggle CSVs: 1 = real, 0 = fake, as LABELS
    return None


def list_csv_split(csv_file: Path, layout: Layout, split: str) -> SplitFiles:
    """Files listed in a Kaggle-style CSV (`path` column; label from folder, label_str, label)."""
    try:
        with open(csv_file, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{csv_file}: cannot read CSV ({e})") from None
    if not rows:
        raise DataError(f"{csv_file}: CSV has no rows")
    if "path" not in rows[0]:
        raise DataError(f"{csv_file}: CSV has no 'path' column (columns: {', '.join(rows[0])})")
    bases = [layout.root, csv_file.parent] + [csv_file.parent / sub for sub in KAGGLE_SUBDIRS]
    base = next((b for b in bases if (b / rows[0]["path"]).is_file()), None)
    if base is None:
        raise DataError(
            f"{csv_file}: its paths (e.g. {rows[0]['path']!r}) resolve under none of "
            f"{', '.join(str(b) for b in bases)}"
        )
    samples, skipped = [], []
    for row in rows:
        rel = (row.get("path") or "").strip()
        p = base / rel
        label = _csv_label(row, rel)
        if label is None:
            skipped.append(Skipped(str(p), f"no usable label in {csv_file.name}", split))
        elif not p.is_file():
            skipped.append(Skipped(str(p), f"listed in {csv_file.name} but missing", split))
        elif not is_image_name(p.name):
            skipped.append(
                Skipped(str(p), f"not an image file (suffix {p.suffix or 'none'!r})", split)
            )
        else:
            samples.append(Sample(str(p), label))
    return SplitFiles(name=split, samples=samples, skipped=skipped, source=str(csv_file))


def limit_per_class(files: SplitFiles, limit: int | None, seed: int) -> SplitFiles:
    """A seeded random subset of at most `limit` files per class (file order kept)."""
    if limit is None:
        return files
    rng = np.random.default_rng(seed)
    keep: list[Sample] = []
    for label in (FAKE_INDEX, REAL_INDEX):
        members = [s for s in files.samples if s.label == label]
        if len(members) > limit:
            chosen = np.sort(rng.choice(len(members), size=limit, replace=False))
            members = [members[i] for i in chosen]
        keep += members
    return SplitFiles(files.name, keep, files.skipped, files.source)


def list_split(layout: Layout, split: str, limit: int | None = None, seed: int = 0) -> SplitFiles:
    if split in layout.csv_files:
        files = list_csv_split(layout.csv_files[split], layout, split)
    else:
        files = list_folder_set(layout.split_dirs[split], split, require_both=True)
    return limit_per_class(files, limit, seed)


def require_both_classes(files: SplitFiles, where: str) -> None:
    counts = files.counts()
    empty = [f"{files.name}/{name}/" for name, n in counts.items() if n == 0]
    if empty:
        raise DataError(f"{where}: no usable images in {', '.join(empty)} (empty class)")


@dataclass
class DecodedSet:
    """uint8 network-size images of the files that decoded; `index` points into the file list."""

    images: np.ndarray  # N x H x W x 3 uint8
    labels: np.ndarray  # N int64
    index: np.ndarray  # N int64, positions in the SplitFiles.samples
    skipped: list[Skipped]


def decode_files(
    files: SplitFiles,
    spec: PreprocessSpec,
    workers: int | None = None,
    loader: Callable[[str], np.ndarray] | None = None,
) -> DecodedSet:
    """Decode every file with edge_runtime's load_resized; bad files are skipped and listed."""
    load = loader or (lambda p: load_resized(p, spec))
    n = len(files.samples)
    images = np.empty((n, spec.height, spec.width, 3), dtype=np.uint8)
    ok = np.zeros(n, dtype=bool)
    skipped: list[Skipped] = []

    def one(i: int) -> str | None:
        try:
            images[i] = load(files.samples[i].path)
        except EdgeDetectError as e:
            return str(e)
        ok[i] = True
        return None

    # PIL releases the GIL while decoding and resizing, so threads use every core.
    with ThreadPoolExecutor(max_workers=workers or usable_cores()) as pool:
        for i, err in enumerate(pool.map(one, range(n))):
            if err is not None:
                skipped.append(
                    Skipped(files.samples[i].path, _reason(err, files.samples[i].path), files.name)
                )
            if n >= 2000 and (i + 1) % 5000 == 0:
                log(f"{files.name}: decoded {i + 1}/{n}")
    index = np.flatnonzero(ok)
    labels = np.array([files.samples[i].label for i in index], dtype=np.int64)
    if index.size != n:
        images = images[index]
    return DecodedSet(images=images, labels=labels, index=index, skipped=skipped)


def _reason(message: str, path: str) -> str:
    """ImageError messages start with the path; the summary keeps path and reason apart."""
    prefix = f"{path}: "
    return message.removeprefix(prefix)


def eval_set(path: str | os.PathLike) -> SplitFiles:
    """An evaluation set: a folder with real/ and/or fake/, or a layout (its test split)."""
    p = Path(path)
    if not p.is_dir():
        raise DataError(f"{p}: no such folder")
    if class_dirs(p):
        return list_folder_set(p, p.name, require_both=False)
    for root in [p] + [p / sub for sub in KAGGLE_SUBDIRS]:
        test = _split_dir(root, "test")
        if test is not None:
            return list_folder_set(test, f"{p.name}/test", require_both=False)
    raise DataError(f"{p}: no real/ or fake/ folder, and no test/ split holding them")


def summary(
    layout: Layout, splits: dict[str, SplitFiles], skipped: list[Skipped], extra: dict[str, Any]
) -> dict[str, Any]:
    """The run's data_summary.json."""
    return {
        "root": str(layout.root),
        "labels": {name: i for i, name in enumerate(LABELS)},
        "splits": {
            name: {"source": f.source, "counts": f.counts(), "total": len(f.samples)}
            for name, f in splits.items()
        },
        "n_skipped": len(skipped),
        "skipped": [s.to_dict() for s in skipped],
        **extra,
    }
