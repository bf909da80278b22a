"""The bundle schema (edge_runtime/bundle_schema.py): a sidecar or packed bundle.json is checked
whole at load; a bad value is one line naming the file and the key (exit 2), a missing key is an
error or a named default; and the optional calibration temperature (types.calibrated).

Built from the shipped int8 model (linked into a temporary folder beside an edited sidecar).
"""

from __future__ import annotations

import io
import json
import math
import zipfile

import numpy as np
import pytest

from edge_runtime import Detector, DetectorOptions, ModelError
from edge_runtime.bundle import load_bundle, sidecar_path
from edge_runtime.registry import DEFAULT_MODEL, PACKAGE_MODELS, filename
from edge_runtime.types import DEFAULT_TEMPERATURE, calibrated, label_for
from tests.test_cli import run_cli

SHIPPED = PACKAGE_MODELS / filename(DEFAULT_MODEL)
SAMPLE = PACKAGE_MODELS.parent / "samples" / "astronaut_face.jpg"
SHIPPED_META = json.loads(sidecar_path(SHIPPED).read_text())


def _model(tmp_path, meta) -> str:
    """The shipped int8 model beside a sidecar holding `meta` (any JSON value)."""
    model = tmp_path / "m.tflite"
    model.symlink_to(SHIPPED)
    sidecar_path(model).write_text(json.dumps(meta))
    return str(model)


def _without(key: str) -> dict:
    meta = json.loads(json.dumps(SHIPPED_META))
    if "." in key:
        outer, inner = key.split(".")
        del meta[outer][inner]
    else:
        del meta[key]
    return meta


def _with(key: str, value) -> dict:
    meta = json.loads(json.dumps(SHIPPED_META))
    if "." in key:
        outer, inner = key.split(".")
        meta[outer][inner] = value
    else:
        meta[key] = value
    return meta


REFUSED = [
    (_without("threshold"), "bundle key 'threshold' is missing"),
    (_without("labels"), "bundle key 'labels' is missing"),
    (_without("variant"), "bundle key 'variant' is missing"),
    (_without("preprocess"), "bundle key 'preprocess' is missing"),
    (_with("preprocess", []), "bundle key 'preprocess' must be an object"),
    (_without("preprocess.mean"), "bundle key 'preprocess.mean' is missing"),
    (_with("preprocess.std", 0), "bundle key 'preprocess.std' must be > 0, got 0"),
    (_with("preprocess.crop_fraction", 0), "'preprocess.crop_fraction' must be in (0, 1]"),
    (_with("preprocess.crop_fraction", 1.5), "'preprocess.crop_fraction' must be in (0, 1]"),
    (_with("preprocess.resize", "foo"), "'preprocess.resize' must be one of nearest, bilinear"),
    (_with("preprocess.crop", "left"), "'preprocess.crop' must be one of none, center"),
    (_with("preprocess.height", 0), "'preprocess.height' must be an integer in [1, 4096]"),
    (_with("preprocess.width", "224"), "'preprocess.width' must be an integer"),
    (_with("labels", ["real", "synthetic"]), "'labels' must hold 'fake' and 'real' once each"),
    (_with("labels", ["fake", "fake"]), "'labels' must hold 'fake' and 'real' once each"),
    (_with("labels", "fake,real"), "'labels' must be a list of strings"),
    (_with("threshold", 2.0), "'threshold' must be in [0, 1]"),
    (_with("threshold", "0.5"), "'threshold' must be a finite number"),
    (_with("threshold", True), "'threshold' must be a finite number"),
    (_with("output", "probits"), "'output' must be one of softmax, sigmoid, logits"),
    (_with("sha256", "abc"), "'sha256' must be 64 lower-case hex digits"),
    (_with("calibration", {"temperature": 0}), "'calibration.temperature' must be > 0"),
    (_with("calibration", {"temperature": -1.0}), "'calibration.temperature' must be > 0"),
    (_with("calibration", 2.0), "'calibration' must be {\"temperature\": T}"),
    (_with("calibration", {"temp": 2.0}), "'calibration' must be {\"temperature\": T}"),
    (_with("extra", []), "'extra' must be an object"),
    ([SHIPPED_META], "bundle metadata must be a JSON object, got list"),
    ("int8", "bundle metadata must be a JSON object, got str"),
]


@pytest.mark.parametrize("meta, needle", REFUSED, ids=[n for _, n in REFUSED])
def test_bad_sidecar_is_one_line_naming_file_and_key_exit_2(tmp_path, meta, needle):
    model = _model(tmp_path, meta)
    with pytest.raises(ModelError) as err:
        load_bundle(model)
    assert needle in str(err.value) and str(sidecar_path(model)) in str(err.value)
    result = run_cli(SAMPLE, "-m", model, "-t", "1")
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge-detect: error: ") and needle in lines[0]


@pytest.mark.parametrize(
    "meta, needle",
    [
        (_without("sha256"), "bundle key 'sha256' missing; the model file is not checked"),
        (_without("output"), "bundle key 'output' missing; assumed 'softmax'"),
        (_with("treshold", 0.3), "unknown bundle key 'treshold' ignored"),
        (_with("preprocess.gamma", 2.2), "unknown bundle key 'preprocess.gamma' ignored"),
    ],
)
def test_defaulted_or_unknown_keys_are_named_in_a_warning(tmp_path, meta, needle):
    model = _model(tmp_path, meta)
    assert any(needle in w for w in load_bundle(model).warnings)
    result = run_cli(SAMPLE, "-m", model, "-t", "1", "--json")
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and needle in warnings[0] and str(sidecar_path(model)) in warnings[0]
    # the defaults are the shipped values here: the answer is the shipped model's
    shipped = json.loads(run_cli(SAMPLE, "-t", "1", "--json").stdout)
    assert json.loads(result.stdout)["fake_probability"] == shipped["fake_probability"]


def test_shipped_bundles_load_without_warnings():
    from edge_runtime.registry import available_models

    for name, path in available_models().items():
        assert load_bundle(path).warnings == (), name


def test_packed_bundle_is_checked_by_the_same_schema(tmp_path):
    """A .tflite without a sidecar that carries bundle.json among its metadata files (as the
    Android assets do): the same key rules, naming the model and the packed file."""

    def packed(meta) -> str:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("bundle.json", json.dumps(meta))
        path = tmp_path / f"packed_{len(list(tmp_path.iterdir()))}.tflite"
        path.write_bytes(SHIPPED.read_bytes() + buf.getvalue())
        return str(path)

    good = load_bundle(packed(_without("sha256")))  # a packed copy cannot hash its own file
    assert good.has_metadata and good.warnings == ()
    assert good.info.threshold == SHIPPED_META["threshold"]
    bad = packed(_with("preprocess.std", 0))
    with pytest.raises(ModelError, match=r"packed bundle.json\): bundle key 'preprocess.std'"):
        load_bundle(bad)
    assert run_cli(SAMPLE, "-m", bad).exit_code == 2


def test_plain_tflite_keeps_its_one_assumed_defaults_warning(tmp_path):
    model = tmp_path / "plain.tflite"
    model.symlink_to(SHIPPED)
    result = run_cli(SAMPLE, "-m", model, "-t", "1")
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "has no plain.bundle.json; assumed" in warnings[0]


def test_calibrated_is_temperature_scaling_and_exact_at_one():
    ps = np.array([0.0, 1e-9, 0.1, 0.3, 0.5, 0.8, 1.0])
    assert calibrated(ps, DEFAULT_TEMPERATURE) is ps  # untouched, bit for bit
    assert calibrated(0.25, 1.0) == 0.25
    out = calibrated(ps, 2.0)
    assert np.all(np.isfinite(out)) and np.all((out > 0) & (out < 1))
    assert np.all(np.diff(out) >= 0)  # order kept
    assert calibrated(0.5, 3.0) == pytest.approx(0.5)
    p = 0.8  # logit / T by hand
    assert calibrated(p, 2.0) == pytest.approx(1 / (1 + math.exp(-math.log(p / (1 - p)) / 2)))
    assert calibrated(p, 0.5) > p > calibrated(p, 2.0)  # T < 1 sharpens, T > 1 softens
    assert isinstance(calibrated(p, 2.0), float)


def test_detector_applies_the_bundle_temperature_and_thresholds_the_result(tmp_path):
    plain = Detector(DetectorOptions(model=str(SHIPPED), num_threads=1)).detect(SAMPLE)
    temperature = 0.25  # sharpens 0.246 towards 0
    model = _model(tmp_path, _with("calibration", {"temperature": temperature}))
    det = Detector(DetectorOptions(model=model, num_threads=1))
    assert det.temperature == temperature and load_bundle(model).warnings == ()
    result = det.detect(SAMPLE)
    expected = calibrated(plain.fake_probability, temperature)
    assert result.fake_probability == pytest.approx(expected, abs=1e-5)
    assert result.fake_probability < plain.fake_probability
    assert result.label == label_for(result.fake_probability, det.threshold)
    # written back by to_dict only when calibrated
    assert load_bundle(model).info.to_dict()["calibration"] == {"temperature": temperature}
    assert "calibration" not in load_bundle(SHIPPED).info.to_dict()
