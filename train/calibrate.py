"""`python -m train calibrate`: a threshold for few false accusations, and calibrated P(fake).

Scores the valid split of every trainable source through edge_runtime's Detector (faces mode
"none": the data is the crop tree `train prepare-crops` writes, or any tree of the sources'
layout), the same scorer `train evaluate` uses; fits a temperature on it (all sources pooled,
each class half the weight and each source an equal share of its class); picks the lowest
threshold on the calibrated P(fake) whose false-positive rate on the pooled valid reals (each
real source weighted equally) is within the target; then scores every source's test split and
reports, per source, the false-positive rate (reals) or recall (fakes) at that threshold, ECE
before and after calibration, and ROC AUC per two-class folder (workbench.sources'
per-source figures). The maths is workbench/calibration.py. No TensorFlow.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.types import FAKE_INDEX, REAL_INDEX
from workbench.calibration import (
    apply_temperature,
    balanced_source_weights,
    expected_calibration_error,
    fit_temperature,
    nll,
    reliability_bins,
    share_called_fake,
    threshold_for_fpr,
    uncalibrated_threshold,
)
from workbench.evaluation import Sample, SplitFiles
from workbench.sources import (
    SourceList,
    check_sources_present,
    limited_source_files,
    per_source_figures,
    source_test_lists,
)

from .errors import ConfigError
from .evaluate import RuntimeScorer, make_scorer

log = logging.getLogger(__name__)

DEFAULT_TARGET_FPR = 0.03  # issue 18: few false accusations on real photos
DEFAULT_BINS = 10
REPORT_JSON, REPORT_MD, RELIABILITY_PNG = "calibration.json", "calibration.md", "reliability.png"
OUTPUT_FILES = (REPORT_JSON, REPORT_MD, RELIABILITY_PNG)


class Scored:
    """P(fake) of scored files with their label and source; unreadable files listed apart."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.p: list[float] = []
        self.labels: list[int] = []
        self.sources: list[str] = []
        self.skipped: list[dict[str, str]] = []

    def add(self, scorer: RuntimeScorer, name: str, samples: list[Sample]) -> None:
        p, labels, skipped = scorer.score(SplitFiles(name, samples))
        for s in skipped:
            log.warning("%s: skipped (%s)", s.path, s.reason)
            self.skipped.append(s.to_dict())
        bad = {s.path for s in skipped}
        self.paths += [s.path for s in samples if s.path not in bad]
        self.p += p.tolist()
        self.labels += labels.tolist()
        self.sources += [name.split("/")[0]] * len(p)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array(self.p, dtype=np.float64), np.array(self.labels, dtype=np.int64)


def runtime_scorer(model: str, num_threads: int | None) -> RuntimeScorer:
    """train evaluate's scorer, for runtime models only: calibration is of what edge-detect
    reports, and --write-bundle needs a .tflite."""
    if Path(model).suffix == ".keras":
        raise ConfigError(
            f"{model}: calibrate takes a .tflite / bundle / variant name (what the runtime "
            "runs); convert the run first (python -m convert)"
        )
    return make_scorer(model, num_threads=num_threads)


def score_valid(scorer, sources: SourceList, root: Path, limit, seed: int) -> Scored:
    valid = Scored()
    for src in sources.sources:
        if src.evaluation_only:
            continue
        samples = limited_source_files(src, root, sources, limit, seed)["valid"]
        log.info("valid %s: %d images", src.name, len(samples))
        valid.add(scorer, f"{src.name}/valid", samples)
    _, labels = valid.arrays()
    for label, name in ((REAL_INDEX, "real"), (FAKE_INDEX, "fake")):
        if not (labels == label).any():
            raise ConfigError(f"{sources.path}: no {name} valid image could be scored under {root}")
    return valid


def fit_operating_point(valid: Scored, target_fpr: float, bins: int) -> dict[str, Any]:
    """Temperature on the balanced pooled valid split, then the threshold on its reals."""
    p, labels = valid.arrays()
    weights = balanced_source_weights(valid.sources, labels)
    temperature = fit_temperature(p, labels, weights)
    calibrated = apply_temperature(p, temperature)
    real = labels == REAL_INDEX
    real_weights = balanced_source_weights(np.array(valid.sources)[real], labels[real])
    threshold = threshold_for_fpr(calibrated[real], target_fpr, real_weights)
    fake = ~real
    fake_weights = balanced_source_weights(np.array(valid.sources)[fake], labels[fake])
    return {
        "temperature": temperature,
        "threshold": threshold,
        "threshold_uncalibrated": uncalibrated_threshold(threshold, temperature),
        "valid": {
            "n": int(len(p)),
            "n_real": int(real.sum()),
            "n_fake": int(fake.sum()),
            "false_positive_rate": share_called_fake(calibrated[real], threshold, real_weights),
            "recall_fake": share_called_fake(calibrated[fake], threshold, fake_weights),
            "nll_uncalibrated": nll(p, labels, weights),
            "nll": nll(calibrated, labels, weights),
            "ece_uncalibrated": expected_calibration_error(p, labels, bins, weights),
            "ece": expected_calibration_error(calibrated, labels, bins, weights),
            "n_skipped": len(valid.skipped),
        },
    }


def per_source_test_figures(
    sources: SourceList,
    tests: dict[str, SplitFiles],
    test: Scored,
    point: dict[str, Any],
    old_threshold: float,
    bins: int,
) -> dict[str, Any]:
    """Per-source figures at the new operating point, beside the bundle's old threshold."""
    p, labels = test.arrays()
    calibrated = apply_temperature(p, point["temperature"])
    after = per_source_figures(
        sources, tests, dict(zip(test.paths, calibrated)), point["threshold"]
    )
    before = per_source_figures(sources, tests, dict(zip(test.paths, p)), old_threshold)
    names = np.array(test.sources)
    for row, old in zip(after["sources"], before["sources"]):
        m = names == row["source"]
        row["ece"] = expected_calibration_error(calibrated[m], labels[m], bins) if m.any() else None
        row["ece_uncalibrated"] = (
            expected_calibration_error(p[m], labels[m], bins) if m.any() else None
        )
        key = "recall_fake" if "recall_fake" in row else "false_positive_rate"
        row[f"{key}_old_threshold"] = old[key]
    folder_of = {src.name: src.folder for src in sources.sources}
    folders = np.array([folder_of[n] for n in test.sources])
    for row in after["folders"]:  # both classes: ECE says something about calibration here
        m = folders == row["folder"]
        w = balanced_source_weights(names[m], labels[m])
        row["ece"] = expected_calibration_error(calibrated[m], labels[m], bins, w)
        row["ece_uncalibrated"] = expected_calibration_error(p[m], labels[m], bins, w)
    weights = balanced_source_weights(test.sources, labels)
    pooled = {
        "n": int(len(p)),
        "ece": expected_calibration_error(calibrated, labels, bins, weights),
        "ece_uncalibrated": expected_calibration_error(p, labels, bins, weights),
        "weighting": "each class half, each source an equal share of its class",
    }
    return {
        "sources": after["sources"],
        "folders": after["folders"],
        "pooled": pooled,
        "n_skipped": len(test.skipped),
    }


def reliability_curves(valid: Scored, test: Scored, temperature: float, bins: int):
    """Balanced reliability bins: valid as the model reports, valid and test calibrated."""
    curves = {}
    for name, scored, t in (
        ("valid, as reported", valid, 1.0),
        (f"valid, T={temperature:.3f}", valid, temperature),
        (f"test, T={temperature:.3f}", test, temperature),
    ):
        p, labels = scored.arrays()
        if len(p) == 0:
            continue
        q = p if t == 1.0 else apply_temperature(p, t)
        w = balanced_source_weights(scored.sources, labels)
        curves[name] = reliability_bins(q, labels, bins, w)
    return curves


def calibrate(
    model: str,
    sources: SourceList,
    root: str | os.PathLike,
    target_fpr: float = DEFAULT_TARGET_FPR,
    bins: int = DEFAULT_BINS,
    limit: int | None = None,
    seed: int = 0,
    num_threads: int | None = None,
) -> tuple[dict[str, Any], dict[str, list]]:
    """The report (JSON-ready) and the reliability curves (for plot_reliability)."""
    if not 0.0 <= target_fpr <= 1.0:
        raise ConfigError(f"--target-fpr: {target_fpr} not in [0, 1]")
    root = Path(root)
    missing = check_sources_present(sources, root)
    if missing:
        raise ConfigError(f"{root}: missing source folder(s) {', '.join(missing)}")
    tests = source_test_lists(sources, root, limit, seed)  # every folder listed before scoring
    scorer = runtime_scorer(model, num_threads)
    valid = score_valid(scorer, sources, root, limit, seed)
    point = fit_operating_point(valid, target_fpr, bins)
    log.info("temperature %.4f, threshold %.4f", point["temperature"], point["threshold"])
    test = Scored()
    for src in sources.sources:
        log.info("test %s: %d images", src.name, len(tests[src.name].samples))
        test.add(scorer, f"{src.name}/test", tests[src.name].samples)
    report = {
        "model": model,
        "model_path": str(scorer.detector.bundle.path),
        "sources_file": sources.path,
        "data": str(root),
        "limit_per_class": limit,
        "seed": seed,
        "target_fpr": target_fpr,
        "bins": bins,
        "old_threshold": scorer.threshold,
        **point,
        "test": per_source_test_figures(sources, tests, test, point, scorer.threshold, bins),
        "skipped": valid.skipped + test.skipped,
    }
    return report, reliability_curves(valid, test, point["temperature"], bins)


def _f(v: Any, digits: int = 4) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def markdown(report: dict[str, Any]) -> str:
    v, t = report["valid"], report["test"]
    lines = [
        f"model {report['model']}: temperature {report['temperature']:.4f}, threshold "
        f"{report['threshold']:.4f} on calibrated P(fake) (= {report['threshold_uncalibrated']:.4f}"
        f" on the model's own; bundle had {report['old_threshold']:.4f}), target false-positive "
        f"rate {report['target_fpr']:.3f}",
        f"valid (balanced): false-positive rate {_f(v['false_positive_rate'])}, fakes caught "
        f"{_f(v['recall_fake'])}, NLL {_f(v['nll_uncalibrated'])} -> {_f(v['nll'])}, ECE "
        f"{_f(v['ece_uncalibrated'])} -> {_f(v['ece'])}",
        f"test pooled (balanced): ECE {_f(t['pooled']['ece_uncalibrated'])} -> "
        f"{_f(t['pooled']['ece'])}; {t['n_skipped']} unreadable test image(s) not counted",
        "",
        "| source | class | family | n | reals called fake | fakes caught | at old threshold |"
        " ECE | ECE as reported | mean P(fake) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in t["sources"]:
        old = r.get("recall_fake_old_threshold", r.get("false_positive_rate_old_threshold"))
        lines.append(
            f"| {r['source']} | {r['class']} | {r['family']} | {r['n']} | "
            f"{_f(r.get('false_positive_rate'))} | {_f(r.get('recall_fake'))} | {_f(old)} | "
            f"{_f(r['ece'])} | {_f(r['ece_uncalibrated'])} | {_f(r['mean_p_fake'])} |"
        )
    lines += [
        "",
        "| folder (both classes) | n | ROC AUC | ECE | ECE as reported |",
        "|---|---|---|---|---|",
    ]
    for r in t["folders"]:
        lines.append(
            f"| {r['folder']} | {r['n']} | {_f(r['roc_auc'])} | {_f(r['ece'])} | "
            f"{_f(r['ece_uncalibrated'])} |"
        )
    return "\n".join(lines) + "\n"


def write_calibrated_bundle(
    model: str, out: str | os.PathLike, threshold: float, temperature: float
) -> Path:
    """A copy of the model whose sidecar carries the new threshold and the temperature."""
    from edge_runtime.bundle import load_bundle, save_bundle

    bundle = load_bundle(model)
    info = replace(bundle.info, threshold=threshold, temperature=temperature)
    return save_bundle(bundle.content, info, out).path


__all__ = [
    "DEFAULT_BINS",
    "DEFAULT_TARGET_FPR",
    "OUTPUT_FILES",
    "calibrate",
    "markdown",
    "write_calibrated_bundle",
]
