"""A model's output is read as probabilities only when it is (or its bundle declares otherwise)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edge_runtime import Detector, DetectorOptions, ModelError
from edge_runtime.bundle import sidecar_path, to_probabilities
from edge_runtime.detector import quantize
from edge_runtime.interpreter import load_backend, make_interpreter
from tests.image_cases import VALID_CASES
from tests.test_cli import run_cli


def _raw_output(model, x: np.ndarray) -> np.ndarray:
    interp = make_interpreter(model.read_bytes(), 1, load_backend(), str(model))
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.set_tensor(inp["index"], quantize(x.reshape(inp["shape"]), inp))
    interp.invoke()
    return interp.get_tensor(out["index"]).reshape(-1)


def _with_sidecar(src, tmp_path, **changes):
    """A copy of src whose sidecar has `changes` (None: no sidecar at all)."""
    model = tmp_path / src.name
    shutil.copy(src, model)
    if changes.get("output", "") is not None:
        meta = json.loads(sidecar_path(src).read_text())
        meta.update(changes)
        sidecar_path(model).write_text(json.dumps(meta))
    return model


def test_declared_logits_get_softmax(tiny_output_models):
    model = tiny_output_models["logits"]
    det = Detector(DetectorOptions(model=str(model), num_threads=1))
    x = np.random.default_rng(0).uniform(-1, 1, (32, 32, 3)).astype(np.float32)
    raw = _raw_output(model, x)
    assert raw.shape == (2,) and not np.isclose(raw.sum(), 1.0)  # really logits
    expected = np.exp(raw - raw.max()) / np.exp(raw - raw.max()).sum()
    np.testing.assert_allclose(det.invoke(x), expected, rtol=1e-5)


def test_declared_sigmoid_is_p_real(tiny_output_models):
    model = tiny_output_models["sigmoid"]
    det = Detector(DetectorOptions(model=str(model), num_threads=1))
    x = np.random.default_rng(1).uniform(-1, 1, (32, 32, 3)).astype(np.float32)
    (p_real,) = _raw_output(model, x)
    np.testing.assert_allclose(det.invoke(x), [1.0 - p_real, p_real], rtol=1e-6)
    assert det.fake_probability(x) == pytest.approx(1.0 - p_real)


@pytest.mark.parametrize(
    "name, changes, needle",
    [
        (
            "logits",
            {"output": None},
            "not probabilities (it does not end in SOFTMAX); if it gives logits, declare "
            '"output": "logits"',
        ),
        ("logits", {"output": "softmax"}, "not probabilities"),
        ("sigmoid", {"output": None}, 'declare "output": "sigmoid"'),
        ("sigmoid", {"output": "softmax"}, "has 1 values; expected 2"),
        ("fp32", {"output": "logits"}, "already ends in SOFTMAX"),
        ("fp32", {"output": "sigmoid"}, "has 2 values; expected 1"),
        ("fp32", {"output": "probits"}, "key 'output' must be one of softmax, sigmoid, logits"),
    ],
)
def test_undeclared_or_wrong_output_is_refused(
    tiny_bundles, tiny_output_models, tmp_path, name, changes, needle
):
    src = {**tiny_bundles, **tiny_output_models}[name]
    model = _with_sidecar(src, tmp_path, **changes)
    with pytest.raises(ModelError) as err:
        Detector(DetectorOptions(model=str(model), num_threads=1))
    # the model or its sidecar (a value the bundle schema refuses) is named
    assert needle in str(err.value) and str(model.with_suffix("")) in str(err.value)
    result = run_cli(VALID_CASES["bmp"](tmp_path), "-m", model)
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and needle in result.stderr


def test_out_of_range_output_is_never_a_probability():
    with pytest.raises(ModelError, match="is not probabilities"):
        to_probabilities(np.array([-0.178, 1.178]), "softmax", "m.tflite")
    np.testing.assert_allclose(to_probabilities(np.array([0.25]), "sigmoid", "m"), [0.75, 0.25])


def test_op_codes_match_the_schema():
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated")
    from edge_runtime import inspect_model

    ops = schema.BuiltinOperator
    assert (inspect_model.OP_SOFTMAX, inspect_model.OP_LOGISTIC) == (ops.SOFTMAX, ops.LOGISTIC)
    for code, name in inspect_model._PASS_THROUGH_OPS.items():
        assert getattr(ops, name) == code


def test_output_op_of_shipped_and_tiny_models(tiny_bundles, tiny_output_models):
    from edge_runtime.inspect_model import OP_LOGISTIC, OP_SOFTMAX, output_op
    from edge_runtime.registry import available_models

    for path in [*tiny_bundles.values(), *available_models().values()]:
        assert output_op(path.read_bytes()) == OP_SOFTMAX, path
    assert output_op(tiny_output_models["sigmoid"].read_bytes()) == OP_LOGISTIC
    assert output_op(tiny_output_models["logits"].read_bytes()) not in (OP_SOFTMAX, OP_LOGISTIC)
