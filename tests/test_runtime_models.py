"""Bad models give one ModelError line; the model report reads the flatbuffer without TensorFlow."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest

from edge_runtime import Detector, DetectorOptions, ModelError
from edge_runtime.bundle import sidecar_path
from edge_runtime.model_report import format_report, model_report
from edge_runtime.types import VARIANTS


def _detector(model) -> Detector:
    return Detector(DetectorOptions(model=str(model), num_threads=1))


def _assert_one_line(err, *needles: str) -> None:
    message = str(err.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty model file"),
        (os.urandom(4096), "not a TFLite model"),
        (b"<html><body>404 not found</body></html>", "not a TFLite model"),
    ],
    ids=["zero_bytes", "random_bytes", "html"],
)
def test_non_tflite_model_file(tmp_path, content, reason):
    model = tmp_path / "model.tflite"
    model.write_bytes(content)
    with pytest.raises(ModelError) as err:
        _detector(model)
    _assert_one_line(err, str(model), reason)


@pytest.mark.parametrize("fraction", [0.3, 0.9])
def test_truncated_tflite(tiny_bundles, tmp_path, fraction):
    data = tiny_bundles["fp32"].read_bytes()
    model = tmp_path / "cut.tflite"  # no sidecar: a plain .tflite that lost its tail
    model.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ModelError) as err:
        _detector(model)
    _assert_one_line(err, str(model), "cannot load")
    with pytest.raises(ModelError) as err:
        model_report(model)
    _assert_one_line(err, str(model))


def test_replaced_tflite_is_caught_by_sha256(tiny_bundles, tmp_path):
    model = tmp_path / "swapped.tflite"
    shutil.copy(tiny_bundles["int8"], model)
    shutil.copy(sidecar_path(tiny_bundles["fp32"]), sidecar_path(model))  # another model's sidecar
    with pytest.raises(ModelError) as err:
        _detector(model)
    _assert_one_line(err, "sha256", "does not match")


def test_sidecar_claiming_another_input_size(tiny_bundles, tmp_path):
    model = tmp_path / "liar.tflite"
    shutil.copy(tiny_bundles["fp32"], model)
    meta = json.loads(sidecar_path(tiny_bundles["fp32"]).read_text())
    meta["preprocess"].update(height=224, width=224)
    sidecar_path(model).write_text(json.dumps(meta))
    with pytest.raises(ModelError) as err:
        _detector(model)
    _assert_one_line(err, "32x32", "224x224")


def test_unreadable_sidecar(tiny_bundles, tmp_path):
    model = tmp_path / "m.tflite"
    shutil.copy(tiny_bundles["fp32"], model)
    sidecar_path(model).write_text("{not json")
    with pytest.raises(ModelError) as err:
        _detector(model)
    _assert_one_line(err, "unreadable bundle metadata")


def test_model_with_one_channel_input_does_not_fit():
    from tests.tiny_models import fixture_paths

    model = fixture_paths()["gray"]  # committed: a tiny classifier with a 32x32x1 input
    with pytest.raises(ModelError) as err:
        _detector(model)
    _assert_one_line(err, str(model), "[1, 32, 32, 1]", "does not fit")


@pytest.mark.parametrize("variant", VARIANTS)
def test_model_report_of_each_variant(tiny_bundles, variant):
    path = tiny_bundles[variant]
    report = model_report(path)
    assert report.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert report.loads and report.has_bundle_metadata
    assert report.bundle["variant"] == variant
    (inp,) = report.facts["inputs"]
    (out,) = report.facts["outputs"]
    assert inp["shape"] == [1, 32, 32, 3] and out["shape"] == [1, 2]
    quantized_io = variant == "int8"
    assert inp["dtype"] == ("int8" if quantized_io else "float32")
    assert bool(inp["quantization"]["scale"]) == quantized_io
    assert "CONV_2D" in report.facts["ops"]
    if variant == "fp16":
        assert "DEQUANTIZE" in report.facts["ops"]  # fp16 weights are widened at load
    assert report.facts["min_runtime_version"]
    text = "\n".join(format_report(report))
    assert report.sha256 in text and "loads:               yes" in text


def test_model_report_of_plain_tflite(tiny_bundles, tmp_path):
    model = tmp_path / "plain.tflite"
    shutil.copy(tiny_bundles["dynamic"], model)
    report = model_report(model)
    assert not report.has_bundle_metadata
    assert "none (plain .tflite" in "\n".join(format_report(report))
