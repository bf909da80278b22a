"""The training sources as data (train/sources.json): list, split, hold out and weigh them.

One entry per folder and class: its label, generator family, photo source, native size and
compression. Splits never move: a set with its own train/valid/test folders keeps them; the
others go to train/valid/test by a salted SHA-256 of the file name alone (not the path, not
the folder's contents), so adding or removing files never moves another file. Sets marked
`evaluation_only` (CIPLAB composites, LFW face swaps) are never part of a training run: the mix
refuses them and `check_trainable` guards every training list.

No TensorFlow here.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.evaluation import DataError, Sample, SplitFiles, shared_data_dir
from edge_runtime.inputs import is_image_name
from edge_runtime.types import FAKE_INDEX, LABELS, REAL_INDEX

from .errors import ConfigError

SOURCES_FILE = Path(__file__).resolve().parent / "sources.json"
SPLITS = ("train", "valid", "test")
SPLIT_MODES = ("folders", "hash", "all")  # own split folders; hash of the name; all = test


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
    """train/sources.json (or another file of the same form), checked."""
    p = Path(path) if path else SOURCES_FILE
    try:
        data = json.loads(p.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{p}: unreadable sources file ({e})") from None
    try:
        fractions = {k: float(data["split_fractions"][k]) for k in SPLITS}
        salt = str(data["split_salt"])
        entries = data["sources"]
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{p}: needs split_salt, split_fractions and sources ({e})") from None
    if abs(sum(fractions.values()) - 1.0) > 1e-9 or min(fractions.values()) < 0:
        raise ConfigError(f"{p}: split_fractions must be >= 0 and sum to 1, got {fractions}")
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
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"{where}: missing or bad field {err}") from None
        if src.label < 0:
            raise ConfigError(f"{where}: class must be real or fake")
        if src.splits not in SPLIT_MODES:
            raise ConfigError(f"{where}: splits must be one of {', '.join(SPLIT_MODES)}")
        if src.splits == "all" and not src.evaluation_only:
            raise ConfigError(f"{where}: splits 'all' (everything is test) is evaluation only")
        sources.append(src)
    names = [s.name for s in sources]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{p}: duplicate source name(s) {', '.join(dupes)}")
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


def resolve_hold_out(sources: SourceList, names: Iterable[str]) -> set[str]:
    """Source names held out of training: each NAME is a source name or a generator family."""
    held: set[str] = set()
    by_name = sources.by_name()
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name in by_name:
            held.add(name)
            continue
        family = {s.name for s in sources.sources if s.family == name}
        if not family:
            raise ConfigError(
                f"--hold-out {name}: neither a source ({', '.join(by_name)}) nor a family "
                f"({', '.join(sources.families())}) of {sources.path}"
            )
        if name == "real":
            raise ConfigError("--hold-out real: would leave no real photographs to train on")
        held |= family
    return held


def _image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"{folder}: no such source folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_name(p.name))


def source_files(source: Source, root: Path, sources: SourceList) -> dict[str, list[Sample]]:
    """The files of one source by split (every split present, possibly empty)."""
    out: dict[str, list[Sample]] = {s: [] for s in SPLITS}
    cls = source.class_name
    if source.splits == "folders":
        for split in SPLITS:
            folder = root / source.folder / split / cls
            out[split] = [Sample(str(p), source.label) for p in _image_files(folder)]
    else:
        for p in _image_files(root / source.folder / cls):
            split = (
                "test"
                if source.splits == "all"
                else hash_split(p.name, sources.split_salt, sources.fractions)
            )
            out[split].append(Sample(str(p), source.label))
    if not any(out.values()):
        raise DataError(f"{root / source.folder}/{cls}: source {source.name} has no images")
    return out


def _limit(samples: list[Sample], limit: int | None, seed: int, key: str) -> list[Sample]:
    if limit is None or len(samples) <= limit:
        return samples
    rng = np.random.default_rng([seed, int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)])
    chosen = np.sort(rng.choice(len(samples), size=limit, replace=False))
    return [samples[i] for i in chosen]


@dataclass
class Mix:
    """The pooled train/valid/test lists of a run and the per-source test lists."""

    splits: dict[str, SplitFiles]  # train, valid, test (test: the trainable sources' test)
    per_source_test: dict[str, SplitFiles]  # every source's test list (held out ones too)
    source_of: dict[str, str]  # path -> source name
    held_out: set[str]
    rows: list[dict[str, Any]] = field(default_factory=list)  # the per-source data summary


def build_mix(
    sources: SourceList,
    root: str | os.PathLike | None = None,
    hold_out: Sequence[str] = (),
    limit: int | None = None,
    seed: int = 42,
) -> Mix:
    """Train and valid from every trainable source not held out; test from all trainable ones."""
    data_root = Path(root) if root else shared_data_dir()
    held = resolve_hold_out(sources, hold_out)
    pooled: dict[str, list[Sample]] = {s: [] for s in SPLITS}
    per_source: dict[str, SplitFiles] = {}
    source_of: dict[str, str] = {}
    rows = []
    for src in sources.sources:
        files = {
            split: _limit(samples, limit, seed, f"{src.name}/{split}")
            for split, samples in source_files(src, data_root, sources).items()
        }
        for samples in files.values():
            for s in samples:
                source_of[s.path] = src.name
        role = (
            "evaluation only"
            if src.evaluation_only
            else ("held out" if src.name in held else "trained")
        )
        if role == "trained":
            pooled["train"] += files["train"]
            pooled["valid"] += files["valid"]
        if not src.evaluation_only:
            pooled["test"] += files["test"]
        per_source[src.name] = SplitFiles(f"{src.name}/test", files["test"], source=src.folder)
        used = {
            "train": len(files["train"]) if role == "trained" else 0,
            "valid": len(files["valid"]) if role == "trained" else 0,
            "test": len(files["test"]),
        }
        listed = {k: len(v) for k, v in files.items()}
        rows.append({**src.describe(), "role": role, "listed": listed, "used": used})
    splits = {s: SplitFiles(s, pooled[s], source=sources.path) for s in SPLITS}
    mix = Mix(splits, per_source, source_of, held, rows)
    check_trainable(mix.splits["train"].samples + mix.splits["valid"].samples, sources, data_root)
    return mix


def check_trainable(samples: Sequence[Sample], sources: SourceList, root: Path) -> None:
    """Refuse any training or validation file inside an evaluation-only source's folder."""
    banned = [(root / s.folder).resolve() for s in sources.sources if s.evaluation_only]
    for sample in samples:
        p = Path(sample.path).resolve()
        for folder in banned:
            if p.is_relative_to(folder):
                raise DataError(
                    f"{sample.path}: inside {folder}, an evaluation-only set; it may not be "
                    "used for training or validation"
                )


def class_weights(samples: Sequence[Sample]) -> dict[int, float]:
    """Per-class sample weight n / (2 n_class): both classes carry half the loss."""
    labels = np.array([s.label for s in samples], dtype=np.int64)
    n = len(labels)
    out = {}
    for label in (FAKE_INDEX, REAL_INDEX):
        k = int((labels == label).sum())
        if k == 0:
            raise DataError(f"no {LABELS[label]} training images: cannot balance the classes")
        out[label] = n / (2.0 * k)
    return out


def sample_weights(
    samples: Sequence[Sample],
    balance: str,
    source_of: dict[str, str] | None = None,
    source_weights: dict[str, float] | None = None,
) -> np.ndarray | None:
    """One weight per file. Each file starts at its source's multiplier (source_weights, 1 when
    not named); 'class' then scales each class so that both carry half the loss (with no
    multipliers: class_weights); 'none' keeps the multipliers (None: every file 1)."""
    mult = np.ones(len(samples), dtype=np.float64)
    if source_weights:
        of = source_of or {}
        mult = np.array([source_weights.get(of.get(s.path, ""), 1.0) for s in samples])
    if balance == "none":
        return mult.astype(np.float32) if source_weights else None
    class_weights(samples)  # the error for a missing class
    labels = np.array([s.label for s in samples], dtype=np.int64)
    out = np.empty(len(samples), dtype=np.float64)
    for label in (FAKE_INDEX, REAL_INDEX):
        mask = labels == label
        out[mask] = mult[mask] * len(samples) / (2.0 * mult[mask].sum())
    return out.astype(np.float32)


def check_source_weights(sources: SourceList, source_weights: dict[str, float]) -> None:
    """Every weighted name is a trainable source of the list."""
    names = {s.name for s in sources.sources if not s.evaluation_only}
    unknown = sorted(set(source_weights) - names)
    if unknown:
        raise ConfigError(
            f"--source-weight: unknown or evaluation-only source(s) {', '.join(unknown)} "
            f"(trainable: {', '.join(sorted(names))})"
        )


def per_source_table(
    mix: Mix, sources: SourceList, p_fake: dict[str, float], threshold: float
) -> dict[str, Any]:
    """Test figures per source (fakes caught, or reals called fake) and per two-class folder.

    p_fake: P(fake) by path, for the test files that were scored (unreadable ones are absent).
    """
    from edge_runtime.evaluation import binary_metrics

    rows = []
    by_folder: dict[str, list[tuple[int, float]]] = {}
    for src in sources.sources:
        role = next(r["role"] for r in mix.rows if r["name"] == src.name)
        scored = [p_fake[s.path] for s in mix.per_source_test[src.name].samples if s.path in p_fake]
        p = np.array(scored, dtype=np.float64)
        called_fake = float((p >= threshold).mean()) if len(p) else None
        row: dict[str, Any] = {
            "source": src.name,
            "family": src.family,
            "class": src.class_name,
            "role": role,
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
    return {
        "threshold": threshold,
        "held_out": sorted(mix.held_out),
        "sources": rows,
        "folders": folders,
    }


def per_source_markdown(table: dict[str, Any]) -> str:
    def f(v: Any) -> str:
        return "n/a" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)

    lines = [
        "| source | family | class | role | n | accuracy | fakes caught | reals called fake |"
        " mean P(fake) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table["sources"]:
        lines.append(
            f"| {r['source']} | {r['family']} | {r['class']} | {r['role']} | {r['n']} | "
            f"{f(r['accuracy'])} | {f(r.get('recall_fake'))} | "
            f"{f(r.get('false_positive_rate'))} | {f(r['mean_p_fake'])} |"
        )
    lines += ["", "| folder (both classes) | n | accuracy | ROC AUC |", "|---|---|---|---|"]
    for r in table["folders"]:
        lines.append(f"| {r['folder']} | {r['n']} | {f(r['accuracy'])} | {f(r['roc_auc'])} |")
    return "\n".join(lines) + "\n"


__all__ = [
    "SOURCES_FILE",
    "per_source_markdown",
    "per_source_table",
    "Mix",
    "Source",
    "SourceList",
    "build_mix",
    "check_trainable",
    "class_weights",
    "hash_split",
    "load_sources",
    "resolve_hold_out",
    "sample_weights",
    "check_source_weights",
    "source_files",
]
