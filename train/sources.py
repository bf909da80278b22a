"""The training sources as data (train/sources.json): the training side (mix, hold out, weigh).

The list itself, its fixed splits and the per-source figures are workbench/sources.py, the
one definition train and the benchmarks share (re-exported here). Splits never move: a set with
its own train/valid/test folders keeps them; the others go by a salted SHA-256 of the file
name. Sets marked
`evaluation_only` (CIPLAB composites, LFW face swaps) are never part of a training run: the mix
refuses them and `check_trainable` guards every training list.

No TensorFlow here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.types import FAKE_INDEX, LABELS, REAL_INDEX
from workbench.evaluation import DataError, Sample, SplitFiles, shared_data_dir
from workbench.sources import (
    SOURCES_FILE,
    SPLIT_MODES,
    SPLITS,
    Source,
    SourceList,
    hash_split,
    limited_source_files,
    per_source_figures,
    source_files,
)
from workbench.sources import load_sources as _load_sources

from .errors import ConfigError


def load_sources(path: str | os.PathLike | None = None) -> SourceList:
    """train/sources.json (or another file of the same form), checked (workbench.sources:
    the one reader, shared with the benchmarks); a bad file is a ConfigError here."""
    try:
        return _load_sources(path)
    except DataError as e:
        raise ConfigError(str(e)) from None


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
        files = limited_source_files(src, data_root, sources, limit, seed)
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
    """Refuse any training or validation file inside an evaluation-only source's folder (its
    class folder: a set may hold a trainable class beside an evaluation-only one)."""
    banned = [
        (root / s.folder / ("" if s.splits == "folders" else s.class_name)).resolve()
        for s in sources.sources
        if s.evaluation_only
    ]
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
    not named); 'source' divides it by its source's file count, so every source carries the
    same share of its class whatever its size; 'class' and 'source' then scale each class so
    that both carry half the loss (with no multipliers: class_weights); 'none' keeps the
    multipliers (None: every file 1)."""
    mult = np.ones(len(samples), dtype=np.float64)
    of = source_of or {}
    if source_weights:
        mult = np.array([source_weights.get(of.get(s.path, ""), 1.0) for s in samples])
    if balance == "source":
        names = [of.get(s.path, "") for s in samples]
        counts = {n: names.count(n) for n in set(names)}
        mult = mult / np.array([counts[n] for n in names], dtype=np.float64)
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
    """Test figures per source (fakes caught, or reals called fake) and per two-class folder,
    with each source's role in this run (workbench.sources.per_source_figures).

    p_fake: P(fake) by path, for the test files that were scored (unreadable ones are absent).
    """
    figures = per_source_figures(sources, mix.per_source_test, p_fake, threshold)
    roles = {r["name"]: r["role"] for r in mix.rows}
    rows = [
        {
            "source": r["source"],
            "family": r["family"],
            "class": r["class"],
            "role": roles[r["source"]],
            **{k: v for k, v in r.items() if k != "folder"},
        }
        for r in figures["sources"]
    ]
    return {
        "threshold": threshold,
        "held_out": sorted(mix.held_out),
        "sources": rows,
        "folders": figures["folders"],
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
    "SPLITS",
    "SPLIT_MODES",
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
