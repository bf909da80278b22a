"""`python -m benchmarks sources`: per-source accuracy of each model, equal to train evaluate's."""

from __future__ import annotations

import json

import pytest

from benchmarks.sources import ModelColumn, render, score_model, table_rows
from tests.conftest import SHARED_DATA
from tests.test_benchmarks import run_cli
from workbench.sources import check_sources_present, load_sources, source_test_lists

LIMIT = 3  # test images per source: 13 sources, 39 images per model
SOURCES = load_sources()
MISSING = check_sources_present(SOURCES, SHARED_DATA)
requires_sources = pytest.mark.skipif(
    bool(MISSING),
    reason=f"needs the source folders of train/sources.json under {SHARED_DATA} "
    f"(../shared/data beside the checkout); missing: {', '.join(MISSING)}",
)


@requires_sources
def test_per_source_accuracy_equals_train_evaluate(tiny_bundles):
    from train.evaluate import evaluate_sources

    tests = source_test_lists(SOURCES, SHARED_DATA, LIMIT, seed=0)
    models = [str(tiny_bundles["fp32"]), str(tiny_bundles["int8"])]
    columns = [score_model(m, SOURCES, tests, threads=1) for m in models]
    assert all(c.ok for c in columns), [c.error for c in columns]
    rows = {r["name"]: r for r in table_rows(SOURCES, columns)}
    for model, column in zip(models, columns):
        # train evaluate's own path: its mix, its scorer, evaluation.binary_metrics per source.
        evaluated, threshold = evaluate_sources(
            model, None, str(SHARED_DATA), limit=LIMIT, seed=0, num_threads=1
        )
        assert threshold == column.threshold
        assert len(evaluated) == len(SOURCES.sources)
        for src, er in zip(SOURCES.sources, evaluated):
            ours = rows[src.name]["models"][column.label]
            assert ours["n"] == er.metrics.n == LIMIT
            assert ours["accuracy"] == pytest.approx(er.metrics.accuracy, abs=1e-12), src.name
    accuracies = [r["models"][columns[0].label]["accuracy"] for r in rows.values()]
    assert (
        len(set(accuracies)) > 1
    )  # the tiny model is not constant: the comparison means something
    for row in rows.values():
        fp32, int8 = (row["models"][c.label] for c in columns)
        assert "delta_pp" not in fp32
        assert int8["delta_pp"] == pytest.approx((int8["accuracy"] - fp32["accuracy"]) * 100)
    folders = [r for r in rows.values() if r["kind"] == "folder"]
    labels_of = {
        s.folder: {t.label for t in SOURCES.sources if t.folder == s.folder}
        for s in SOURCES.sources
    }
    assert {r["name"] for r in folders} == {
        f for f, labels in labels_of.items() if len(labels) == 2
    }
    for r in folders:
        assert r["n"] == 2 * LIMIT and r["models"][columns[0].label]["roc_auc"] is not None


@requires_sources
def test_cli_broken_model_fails_its_own_column(tiny_bundles, tmp_path):
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a flatbuffer")
    out = tmp_path / "sources.json"
    args = [tiny_bundles["fp32"], broken, "--limit-per-class", "1", "--threads", "1"]
    result = run_cli("sources", *args, "--json", out, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "broken acc %" in result.stdout and "| failed |" in result.stdout
    assert "- broken: failed: " in result.stdout and "not a TFLite model" in result.stdout
    failed = [ln for ln in result.stderr.splitlines() if ln.startswith("broken: failed:")]
    assert len(failed) == 1 and str(broken) in failed[0]
    doc = json.loads(out.read_text())
    assert [m["error"] is None for m in doc["models"]] == [True, False]
    assert len([r for r in doc["rows"] if r["kind"] == "source"]) == len(SOURCES.sources)


def test_no_drop_column_without_the_reference():
    row = {"source": "lfw_real", "class": "real", "family": "real", "n": 4, "accuracy": 0.75}
    figures = {"sources": [row], "folders": []}
    ref = ModelColumn("fp32", "fp32", error="fp32: bundled variant not found")
    other = ModelColumn("int8", "int8", path="int8.tflite", threshold=0.6, figures=figures)
    rows = table_rows(SOURCES, [ref, other])
    assert rows[0]["n"] == 4 and rows[0]["models"] == {
        "int8": {"n": 4, "accuracy": 0.75, "roc_auc": None}
    }
    text = render([ref, other], rows)
    assert "| lfw_real | real | real | 4 | failed | failed | 75.00 | n/a | — |" in text
    assert "- fp32: failed: fp32: bundled variant not found" in text
    assert "no Δ column: the reference model (fp32) failed" in text
