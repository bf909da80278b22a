"""The one decision rule and threshold default, the spec-size rule, and the run folder's rules."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_runtime.types import (
    DEFAULT_THRESHOLD,
    ModelError,
    PreprocessSpec,
    check_threshold,
    is_fake,
    label_for,
    threshold_or_default,
)
from workbench.evaluation import predict_labels
from workbench.run_folder import THRESHOLD_FILE, RunFolder


def test_fake_when_p_reaches_the_threshold():
    assert label_for(0.5, 0.5) == "fake" and label_for(0.4999, 0.5) == "real"
    assert is_fake(np.array([0.2, 0.7]), 0.7).tolist() == [False, True]
    assert predict_labels([0.5, 0.49999, 0.8]).tolist() == [0, 1, 0]  # DEFAULT_THRESHOLD


def test_one_threshold_range_check(tiny_bundles):
    # The Detector, the bundle schema, train evaluate and the run folder all call this one.
    from edge_runtime import Detector, DetectorOptions

    assert check_threshold(0) == 0.0 and check_threshold(1) == 1.0
    for bad in (-0.01, 1.5, float("nan")):
        with pytest.raises(ValueError, match="threshold must be in \\[0, 1\\]"):
            check_threshold(bad)
    with pytest.raises(ModelError, match="^here: threshold must be in"):
        check_threshold(2, "here: threshold", ModelError)
    options = DetectorOptions(model=str(tiny_bundles["fp32"]), num_threads=1, threshold=1.5)
    with pytest.raises(ValueError, match="threshold must be in .*, got 1.5"):
        Detector(options)


def test_an_explicit_zero_threshold_stays_zero():
    # `threshold or 0.5` would turn this into 0.5; every image is fake at threshold 0.
    assert threshold_or_default(0.0) == 0.0 and threshold_or_default(None) == DEFAULT_THRESHOLD
    from benchmarks.harness import Row, compare_to_reference, score_rows

    images = [("a.jpg", "fake"), ("b.jpg", "real")]
    rows = [
        Row(model="fp32", variant="fp32", p_fake=[0.9, 0.1], extra={"threshold": 0.0}),
        Row(model="int8", variant="int8", p_fake=[0.9, 0.1], extra={"threshold": None}),
    ]
    score_rows(rows, images)
    compare_to_reference(rows)
    assert rows[0].accuracy == 0.5  # both called fake at 0.0
    assert rows[1].accuracy == 1.0  # the default 0.5 separates them
    assert rows[1].agreement_pct == 50.0


def test_spec_fits_the_model_input_by_one_rule():
    spec = PreprocessSpec()
    assert spec.fit_input(224, 224, recorded=True, name="m", where="x") is spec
    assumed = spec.fit_input(96, 96, recorded=False, name="m", where="x")
    assert (assumed.height, assumed.width, assumed.resize) == (96, 96, spec.resize)
    with pytest.raises(ModelError, match="m: model input 96x96 does not match its x"):
        spec.fit_input(96, 96, recorded=True, name="m", where="x")


def test_run_folder_threshold_lives_in_threshold_json(tmp_path):
    run = RunFolder(tmp_path)
    assert run.threshold() == (DEFAULT_THRESHOLD, "default")
    # Keys train never writes are not read: config.json's "threshold" is not the run's threshold.
    run.write_json("config.json", {"threshold": 0.9, "preprocess": {"height": 64, "width": 64}})
    assert run.threshold()[0] == DEFAULT_THRESHOLD
    run.write_threshold(0.0, "test", None)
    assert run.threshold() == (0.0, str(tmp_path / THRESHOLD_FILE))
    assert run.preprocess() == PreprocessSpec(height=64, width=64)
    (tmp_path / THRESHOLD_FILE).write_text(json.dumps({"threshold": 3}))
    with pytest.raises(ModelError, match="threshold must be in \\[0, 1\\]"):
        run.threshold()
    (tmp_path / THRESHOLD_FILE).write_text("{broken")
    with pytest.raises(ModelError, match="unreadable JSON"):
        run.threshold()


def test_run_folder_of_a_model_and_its_data(tmp_path):
    (tmp_path / "data").mkdir()
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    assert RunFolder.of_model(run.model_path) is None  # no config.json: not a run folder
    run.write_json("config.json", {"data": str(tmp_path / "data"), "run_name": "r1"})
    assert RunFolder.of_model(run.model_path) == run
    assert run.data_dir() == tmp_path / "data" and run.training_run() == "r1"
    run.clear_results()  # nothing to clear is fine
    run.write_text("model.keras", "x")
    run.clear_results()
    assert not run.model_path.exists()
