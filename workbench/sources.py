"""Sources as data: the one list of labelled image sources, their fixed splits, per-source figures.

The list is train/sources.json (SOURCES_FILE): one entry per folder and class with its label,
generator family, photo source, native size and compression. Splits never move: a set with its
own train/valid/test folders keeps them; the others go to train/valid/test by a salted SHA-256
of the file name alone (not the path, not the folder's contents), so adding or removing files
never moves another file. Sets marked `evaluation_only` are whole test sets.

Train (fit, evaluate) and the benchmarks both read the list through this module, so the list,
the hash split, the seeded per-source sample and the per-source figures have one definition.
numpy only (the benchmarks import it on a Pi with only the runtime installed).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.inputs import is_image_name
from edge_runtime.types import FAKE_INDEX, LABELS

from .evaluation import DataError, Sample, SplitFiles, binary_metrics, predict_labels
from .paths import SOURCES_FILE, shared_data_dir

SPLITS = ("train", "valid", "test")
SPLIT_MODES = ("folders", "hash", "all")  # own split folders; hash of the name; all = test
# A face-stage crop of `x.jpg` is `x.jpg.crop.png` (workbench.crops): it keeps x.jpg's split.
CROP_SUFFIX = ".crop.png"


@dataclass(frozen=True)
class Source:
    name: str
    folder: str  # relative to the data root
    label: int  # FAKE_INDEX or REAL_INDEX
    splits: str  # one of SPLIT_MODES
    family: str  # generator family; "real" for photographs
    photo_source: str
    native_size: int
    compression: str
    evaluation_only: bool = False
    # A regular expression whose first group is the file's split key (e.g. the person or the
    # video), so that frames of one person or video never straddle train and test; "" = the
    # whole file name.
    split_group: str = ""

    @property
    def class_name(self) -> str:
        return LABELS[self.label]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "folder": self.folder,
            "class": self.class_name,
            "family": self.family,
            "photo_source": self.photo_source,
            "native_size": self.native_size,
            "compression": self.compression,
            "evaluation_only": self.evaluation_only,
        }


@dataclass
class SourceList:
    sources: list[Source]
    split_salt: str
    fractions: dict[str, float]
    path: str

    def by_name(self) -> dict[str, Source]:
        return {s.name: s for s in self.sources}

    def families(self) -> list[str]:
        return sorted({s.family for s in self.sources})


def load_sources(path: str | os.PathLike | None = None) -> SourceList:
    """train/sources.json (or another file of the same form), checked; DataError, one line."""
    p = Path(path) if path else SOURCES_FILE
    try:
        data = json.loads(p.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"{p}: unreadable sources file ({e})") from None
    try:
        fractions = {k: float(data["split_fractions"][k]) for k in SPLITS}
        salt = str(data["split_salt"])
        entries = data["sources"]
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{p}: needs split_salt, split_fractions and sources ({e})") from None
    if abs(sum(fractions.values()) - 1.0) > 1e-9 or min(fractions.values()) < 0:
        raise DataError(f"{p}: split_fractions must be >= 0 and sum to 1, got {fractions}")
    sources: list[Source] = []
    for i, e in enumerate(entries):
        where = f"{p}: source {i} ({e.get('name', '?') if isinstance(e, dict) else e!r})"
        try:
            cls = str(e["class"]).lower()
            src = Source(
                name=str(e["name"]),
                folder=str(e["folder"]),
                label=LABELS.index(cls) if cls in LABELS else -1,
                splits=str(e["splits"]),
                family=str(e["family"]),
                photo_source=str(e.get("photo_source", "")),
                native_size=int(e.get("native_size", 0)),
                compression=str(e.get("compression", "")),
                evaluation_only=bool(e.get("evaluation_only", False)),
                split_group=str(e.get("split_group", "")),
            )
            if src.split_group:
                re.compile(src.split_group)
        except (KeyError, TypeError, ValueError, re.error) as err:
            raise DataError(f"{where}: missing or bad field {err}") from None
        if src.label < 0:
            raise DataError(f"{where}: class must be real or fake")
        if src.splits not in SPLIT_MODES:
            raise DataError(f"{where}: splits must be one of {', '.join(SPLIT_MODES)}")
        if src.splits == "all" and not src.evaluation_only:
            raise DataError(f"{where}: splits 'all' (everything is test) is evaluation only")
        sources.append(src)
    names = [s.name for s in sources]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"{p}: duplicate source name(s) {', '.join(dupes)}")
    return SourceList(sources, salt, fractions, str(p))


def hash_split(file_name: str, salt: str, fractions: dict[str, float]) -> str:
    """train/valid/test of one file, from a salted SHA-256 of its name (never its path)."""
    digest = hashlib.sha256(f"{salt}:{file_name}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64  # uniform in [0, 1)
    edge = 0.0
    for split in SPLITS:
        edge += fractions[split]
        if u < edge:
            return split
    return SPLITS[-1]


def split_key(source: Source, file_name: str) -> str:
    """What a file's hash split is computed from: its original name (a crop's too), or the
    group the source's split_group finds in it (the whole name when it finds none)."""
    name = file_name.removesuffix(CROP_SUFFIX)
    if source.split_group:
        match = re.match(source.split_group, name)
        if match:
            return match.group(1)
    return name


def image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"{folder}: no such source folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_name(p.name))


def source_folders(source: Source, root: Path) -> list[tuple[str | None, Path]]:
    """Where a source's images are: (split, folder) for a set with its own split folders,
    else one (None, folder) whose files are split by source_files' rule."""
    cls = source.class_name
    if source.splits == "folders":
        return [(split, root / source.folder / split / cls) for split in SPLITS]
    return [(None, root / source.folder / cls)]


def source_files(source: Source, root: Path, sources: SourceList) -> dict[str, list[Sample]]:
    """The files of one source by split (every split present, possibly empty)."""
    out: dict[str, list[Sample]] = {s: [] for s in SPLITS}
    cls = source.class_name
    for folder_split, folder in source_folders(source, root):
        for p in image_files(folder):
            if folder_split is not None:
                split = folder_split
            elif source.splits == "all":
                split = "test"
            else:
                split = hash_split(split_key(source, p.name), sources.split_salt, sources.fractions)
            out[split].append(Sample(str(p), source.label))
    if not any(out.values()):
        raise DataError(f"{root / source.folder}/{cls}: source {source.name} has no images")
    return out


def limit_samples(samples: list[Sample], limit: int | None, seed: int, key: str) -> list[Sample]:
    """At most `limit` of the samples: a seeded draw per key (source/split), in listing order."""
    if limit is None or len(samples) <= limit:
        return samples
    rng = np.random.default_rng([seed, int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)])
    chosen = np.sort(rng.choice(len(samples), size=limit, replace=False))
    return [samples[i] for i in chosen]


def limited_source_files(
    source: Source, root: Path, sources: SourceList, limit: int | None, seed: int
) -> dict[str, list[Sample]]:
    """source_files, each split cut to at most `limit` files (one source is one class, so this
    is --limit-per-class)."""
    return {
        split: limit_samples(samples, limit, seed, f"{source.name}/{split}")
        for split, samples in source_files(source, root, sources).items()
    }


def source_test_lists(
    sources: SourceList,
    root: str | os.PathLike | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> dict[str, SplitFiles]:
    """Every source's test list by source name (evaluation-only sets whole), as train's mix
    makes them; root: the folder holding the source folders (default ../shared/data)."""
    data_root = Path(root) if root else shared_data_dir()
    return {
        src.name: SplitFiles(
            f"{src.name}/test",
            limited_source_files(src, data_root, sources, limit, seed)["test"],
            source=src.folder,
        )
        for src in sources.sources
    }


def per_source_figures(
    sources: SourceList,
    tests: dict[str, SplitFiles],
    p_fake: dict[str, float],
    threshold: float,
) -> dict[str, Any]:
    """Test figures per source (fakes caught, or reals called fake; accuracy = the share
    labelled right) and per two-class folder (every figure of evaluation.binary_metrics).

    tests: source_test_lists' lists; p_fake: P(fake) by path for the files that were scored
    (unreadable ones are absent and not counted).
    """
    rows = []
    by_folder: dict[str, list[tuple[int, float]]] = {}
    for src in sources.sources:
        scored = [p_fake[s.path] for s in tests[src.name].samples if s.path in p_fake]
        p = np.array(scored, dtype=np.float64)
        called_fake = float((predict_labels(p, threshold) == FAKE_INDEX).mean()) if len(p) else None
        row: dict[str, Any] = {
            "source": src.name,
            "family": src.family,
            "class": src.class_name,
            "folder": src.folder,
            "n": len(p),
            "mean_p_fake": float(p.mean()) if len(p) else None,
        }
        if src.label == FAKE_INDEX:
            row["recall_fake"] = called_fake
        else:
            row["false_positive_rate"] = called_fake
        row["accuracy"] = (
            None
            if called_fake is None
            else (called_fake if src.label == FAKE_INDEX else 1.0 - called_fake)
        )
        rows.append(row)
        by_folder.setdefault(src.folder, []).extend((src.label, v) for v in scored)
    folders = []
    for folder, pairs in by_folder.items():
        labels = np.array([a for a, _ in pairs], dtype=np.int64)
        if len(set(labels.tolist())) < 2:
            continue
        m = binary_metrics(labels, np.array([b for _, b in pairs]), threshold)
        folders.append({"folder": folder, "n": len(labels), **m.to_dict()})
    return {"threshold": threshold, "sources": rows, "folders": folders}


def check_sources_present(sources: SourceList, root: str | os.PathLike) -> list[str]:
    """The source folders missing under root (empty when every one is there)."""
    folders = dict.fromkeys(s.folder for s in sources.sources)
    return [f for f in folders if not (Path(root) / f).is_dir()]


__all__ = [
    "CROP_SUFFIX",
    "SOURCES_FILE",
    "SPLITS",
    "SPLIT_MODES",
    "Source",
    "SourceList",
    "check_sources_present",
    "hash_split",
    "limit_samples",
    "limited_source_files",
    "load_sources",
    "per_source_figures",
    "image_files",
    "source_files",
    "source_folders",
    "source_test_lists",
    "split_key",
]
