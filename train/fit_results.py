"""The end of a training run: scores, threshold and metrics, then the run folder's results.

Validation scores (for the threshold) come through the path that validated during training,
test scores through the saved model; every result file is written by workbench.run_folder.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge_runtime.types import DEFAULT_THRESHOLD, FAKE_INDEX, LABELS
from workbench.evaluation import CONVENTION, BinaryMetrics, best_threshold, binary_metrics
from workbench.run_folder import (
    CONFUSION_FILE,
    CURVES_FILE,
    DATA_SUMMARY_FILE,
    HISTORY_FILE,
    PER_SOURCE_FILE,
    PER_SOURCE_TABLE,
    PREDICTIONS_FILE,
    TEST_METRICS_FILE,
)

from .data import Skipped, SplitFiles, require_both_classes, summary

if TYPE_CHECKING:
    from .fit import RunState

log = logging.getLogger(__name__).info  # progress lines on stderr (console.setup_logging)


def predictions_csv(rows: list[tuple[str, str, int, float]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["split", "path", "label", "p_fake"])
    for split, path, label, p in rows:
        w.writerow([split, path, LABELS[label], f"{p:.6f}"])
    return buf.getvalue()


@dataclass
class Evaluation:
    valid: Any  # splits.Scores
    test: Any
    valid_paths: list[str]
    threshold: float
    threshold_source: str
    metrics: dict[str, Any]
    test_m: BinaryMetrics
    per_source: dict[str, Any] | None = None


def evaluate_run(state: "RunState", splits, failed, forward_model) -> Evaluation:
    """Validation scores (for the threshold) through the path that validated during training,
    then the test split through the saved model; metrics at the chosen threshold."""
    from .pipeline import forward_files
    from .splits import Scores

    cfg, spec = state.cfg, state.cfg.spec()
    t0 = time.perf_counter()
    valid = splits["valid"].score(cfg, spec, forward_model)
    probs, labels, idx, bad = forward_files(
        forward_model, state.files["test"], spec, cfg.batch_size
    )
    test = Scores(probs[:, FAKE_INDEX], labels, idx)
    test_files = SplitFiles("test", [state.files["test"].samples[i] for i in idx])
    test_files.source = state.files["test"].source
    require_both_classes(test_files, state.where)
    # Skipped files in the order they were met: listing, train, valid, test, failed streaming.
    state.skipped += splits["train"].skipped + splits["valid"].skipped + bad
    for path, reason in failed.reasons.items():
        in_train = any(s.path == path for s in state.files["train"].samples)
        state.skipped.append(Skipped(path, reason, "train" if in_train else "valid"))
    usable = {name: splits[name].usable(failed) for name in ("train", "valid")}
    state.usable = {**usable, "test": test_files}
    state.timing["evaluate_seconds"] = round(time.perf_counter() - t0, 3)
    if cfg.threshold_from_valid:
        threshold, valid_acc = best_threshold(valid.labels, valid.p_fake)
        source = f"maximises validation accuracy ({valid_acc:.4f})"
    else:
        threshold, source = DEFAULT_THRESHOLD, "default (argmax of the two probabilities)"
    test_m = binary_metrics(test.labels, test.p_fake, threshold)
    metrics: dict[str, Any] = {
        "positive_class": "real",
        "convention": CONVENTION,
        "threshold": threshold,
        "threshold_source": source,
        "test": test_m.to_dict(),
        "valid": binary_metrics(valid.labels, valid.p_fake, threshold).to_dict(),
    }
    if threshold != DEFAULT_THRESHOLD:
        at_default = binary_metrics(test.labels, test.p_fake, DEFAULT_THRESHOLD)
        metrics[f"test_at_{DEFAULT_THRESHOLD}"] = at_default.to_dict()
    valid_paths = splits["valid"].paths(valid.index)
    return Evaluation(valid, test, valid_paths, threshold, source, metrics, test_m)


def write_results(state: "RunState", history: dict, ev: Evaluation) -> None:
    from .plots import plot_confusion, plot_curves

    cfg, run = state.cfg, state.run
    run.write_json(HISTORY_FILE, history)
    plot_curves(history, run.file(CURVES_FILE), title=f"{run.name}: {cfg.arch}")
    run.write_json(TEST_METRICS_FILE, ev.metrics)
    plot_confusion(
        ev.test_m.confusion_matrix,
        run.file(CONFUSION_FILE),
        title=f"test, threshold {ev.threshold:.3f} (positive = real)",
    )
    rows = [
        ("valid", p, int(y), float(v))
        for p, y, v in zip(ev.valid_paths, ev.valid.labels, ev.valid.p_fake)
    ]
    test_samples = state.files["test"].samples
    rows += [
        ("test", test_samples[i].path, int(y), float(v))
        for i, y, v in zip(ev.test.index, ev.test.labels, ev.test.p_fake)
    ]
    run.write_text(PREDICTIONS_FILE, predictions_csv(rows))
    if cfg.threshold_from_valid:
        valid_acc = ev.metrics["valid"]["accuracy"]
        run.write_threshold(ev.threshold, ev.threshold_source, valid_acc)
    listed = {s: f.counts() for s, f in state.files.items()}
    extra = {"limit_per_class": cfg.limit_per_class, "listed": listed}
    if state.mix is not None:
        from .sources import per_source_markdown

        extra["sources_file"] = state.sources.path
        extra["held_out"] = sorted(state.mix.held_out)
        extra["per_source"] = state.mix.rows
        run.write_json(PER_SOURCE_FILE, ev.per_source)
        run.write_text(PER_SOURCE_TABLE, per_source_markdown(ev.per_source))
    run.write_json(DATA_SUMMARY_FILE, summary(state.layout, state.usable, state.skipped, extra))
    state.write_config()


def per_source_results(state: "RunState", ev: Evaluation, forward) -> dict[str, Any]:
    """Every source's test split (held-out and evaluation-only ones too) at the run's threshold."""
    from .pipeline import forward_files
    from .sources import per_source_markdown, per_source_table

    cfg, mix = state.cfg, state.mix
    samples = state.files["test"].samples
    p_fake = {samples[i].path: float(p) for i, p in zip(ev.test.index, ev.test.p_fake)}
    rest = [s for f in mix.per_source_test.values() for s in f.samples if s.path not in p_fake]
    if rest:
        probs, _, idx, bad = forward_files(
            forward, SplitFiles("evaluation-only", rest), cfg.spec(), cfg.batch_size
        )
        p_fake.update({rest[i].path: float(p) for i, p in zip(idx, probs[:, FAKE_INDEX])})
        state.skipped += bad
    table = per_source_table(mix, state.sources, p_fake, ev.threshold)
    log("per source (test splits):\n" + per_source_markdown(table))
    return table
