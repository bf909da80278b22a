"""`python -m train evaluate MODEL SET...`: one table, one row per labelled folder.

MODEL is a Keras run's model.keras (preprocessing and threshold from its run folder, by
workbench.run_folder's rules) or a
.tflite / bundle / bundled variant name, evaluated through edge_runtime's Detector, so the same
table compares the Keras model with its runtime variants. The JSON report keeps each scored
image's P(fake) per set (`p_fake`, by path) for per-image comparisons (train/ship.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.registry import entry, model_names
from edge_runtime.types import PreprocessSpec, check_threshold, usable_cores
from workbench.evaluation import CONVENTION, BinaryMetrics, binary_metrics, markdown_table
from workbench.run_folder import RunFolder

from .data import Skipped, SplitFiles, eval_set, limit_per_class
from .errors import ConfigError

THRESHOLD_ARG = ("--threshold", ConfigError)  # where a bad threshold is reported, and how

log = logging.getLogger(__name__).info  # progress lines on stderr (console.setup_logging)


@dataclass
class EvalRow:
    name: str
    path: str
    metrics: BinaryMetrics
    skipped: list[Skipped] = field(default_factory=list)
    p_fake: dict[str, float] = field(default_factory=dict)  # by file path: per-image verdicts

    def to_dict(self) -> dict[str, Any]:
        return {
            "set": self.name,
            "path": self.path,
            "n_skipped": len(self.skipped),
            "skipped": [s.to_dict() for s in self.skipped],
            **self.metrics.to_dict(),
            "p_fake": self.p_fake,
        }


def p_fake_by_path(
    files: SplitFiles, p_fake: np.ndarray, skipped: list[Skipped]
) -> dict[str, float]:
    """A scorer's P(fake) by file path: both scorers keep the listing order and leave out only
    the files they report as skipped."""
    gone = {s.path for s in skipped}
    paths = [s.path for s in files.samples if s.path not in gone]
    if len(paths) != len(p_fake):  # a scorer broke that contract: fail loudly, never misalign
        raise RuntimeError(f"{files.name}: {len(p_fake)} scores for {len(paths)} files")
    return {path: float(p) for path, p in zip(paths, p_fake)}


class KerasScorer:
    """P(fake) of a .keras model over files, with edge_runtime's preprocessing."""

    def __init__(self, path: Path, batch_size: int = 64, spec: PreprocessSpec | None = None):
        from .model import load_model
        from .pipeline import make_forward

        try:
            self.model = load_model(path)
        except Exception as e:  # noqa: BLE001 - corrupt or foreign file: one line, no traceback
            raise ConfigError(
                f"{path}: cannot load Keras model ({type(e).__name__}: {e})"
            ) from None
        h, w = (int(d) for d in self.model.input_shape[1:3])
        run = RunFolder(path.parent)
        recorded = spec or run.preprocess()
        self.spec = (recorded or PreprocessSpec()).fit_input(
            h, w, recorded=recorded is not None, name=str(path), where="run's preprocessing"
        )
        self.threshold, _ = run.threshold()  # threshold.json, else DEFAULT_THRESHOLD
        self.batch_size = batch_size
        self.forward = make_forward(self.model)

    def score(self, files: SplitFiles) -> tuple[np.ndarray, np.ndarray, list[Skipped]]:
        from .pipeline import forward_files

        probs, labels, _, skipped = forward_files(self.forward, files, self.spec, self.batch_size)
        return probs[:, 0], labels, skipped


class RuntimeScorer:
    """P(fake) through edge_runtime's Detector (.tflite, bundle or bundled variant)."""

    def __init__(self, model: str, num_threads: int | None = None):
        from edge_runtime.detector import Detector
        from edge_runtime.types import DetectorOptions

        opts = DetectorOptions(model=model, num_threads=num_threads or usable_cores())
        self.detector = Detector(opts)
        self.spec = self.detector.spec
        self.threshold = self.detector.threshold

    def score(self, files: SplitFiles) -> tuple[np.ndarray, np.ndarray, list[Skipped]]:
        from edge_runtime.types import DetectionError

        p, labels, skipped = [], [], []
        for sample, result in zip(
            files.samples, self.detector.detect_many(s.path for s in files.samples)
        ):
            if isinstance(result, DetectionError):
                reason = result.error
                if reason.startswith(sample.path + ": "):
                    reason = reason[len(sample.path) + 2 :]
                skipped.append(Skipped(sample.path, reason, files.name))
            else:
                p.append(result.fake_probability)
                labels.append(sample.label)
        return np.array(p, dtype=np.float64), np.array(labels, dtype=np.int64), skipped


def make_scorer(model: str, batch_size: int = 64, num_threads: int | None = None):
    p = Path(model)
    if p.suffix == ".keras":
        if not p.is_file():
            raise ConfigError(f"{model}: no such Keras model file")
        return KerasScorer(p, batch_size)
    if p.suffix == ".tflite" or entry(model) or p.name.endswith(".bundle.json"):
        if p.name.endswith(".bundle.json"):
            model = str(p.with_name(p.name[: -len(".bundle.json")] + ".tflite"))
        return RuntimeScorer(model, num_threads)
    raise ConfigError(
        f"{model}: expected a .keras model, a .tflite "
        f"(bundle) or a bundled model name ({', '.join(model_names())})"
    )


def evaluate_sets(
    model: str,
    sets: Sequence[str],
    threshold: float | None = None,
    batch_size: int = 64,
    num_threads: int | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> tuple[list[EvalRow], float]:
    if not sets:
        raise ConfigError("no evaluation set given")
    listed = [eval_set(s) for s in sets]  # every folder checked before the model loads
    scorer = make_scorer(model, batch_size, num_threads)
    t = check_threshold(threshold if threshold is not None else scorer.threshold, *THRESHOLD_ARG)
    rows = []
    names = _unique_names(sets, [f.name for f in listed])
    for name, path, files in zip(names, sets, listed):
        files = limit_per_class(files, limit, seed)
        log(f"evaluating {name}: {len(files.samples)} images")
        p_fake, labels, skipped = scorer.score(files)
        metrics = binary_metrics(labels, p_fake, t)
        by_path = p_fake_by_path(files, p_fake, skipped)
        rows.append(EvalRow(name, str(path), metrics, files.skipped + skipped, by_path))
    return rows, t


def evaluate_sources(
    model: str,
    sources_file: str | None,
    root: str | None = None,
    threshold: float | None = None,
    batch_size: int = 64,
    num_threads: int | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> tuple[list[EvalRow], float]:
    """One row per source of train/sources.json: its test split (evaluation-only sets whole)."""
    from .sources import build_mix, load_sources

    sources = load_sources(sources_file)
    mix = build_mix(sources, root, (), limit, seed)
    scorer = make_scorer(model, batch_size, num_threads)
    t = check_threshold(threshold if threshold is not None else scorer.threshold, *THRESHOLD_ARG)
    rows = []
    for src in sources.sources:
        files = mix.per_source_test[src.name]
        log(f"evaluating {src.name}: {len(files.samples)} images")
        p_fake, labels, skipped = scorer.score(files)
        name = f"{src.name} ({src.family})"
        metrics = binary_metrics(labels, p_fake, t)
        by_path = p_fake_by_path(files, p_fake, skipped)
        rows.append(EvalRow(name, src.folder, metrics, skipped, by_path))
    return rows, t


def _unique_names(sets: Sequence[str], names: Sequence[str]) -> list[str]:
    """Set names (folder, or layout/test), made longer where two sets would share one."""
    out = list(names)
    for i, s in enumerate(sets):
        if out.count(names[i]) > 1:
            out[i] = "/".join(Path(s).resolve().parts[-2:]) + names[i][len(Path(s).name) :]
    return out


def report(model: str, rows: list[EvalRow], threshold: float) -> dict[str, Any]:
    return {
        "model": model,
        "threshold": threshold,
        "positive_class": "real",
        "convention": CONVENTION,
        "sets": [r.to_dict() for r in rows],
    }


def table(rows: list[EvalRow]) -> str:
    for r in rows:
        r.metrics.extra["n_skipped"] = len(r.skipped)
    return markdown_table([(r.name, r.metrics) for r in rows], extra_columns=("n_skipped",))
