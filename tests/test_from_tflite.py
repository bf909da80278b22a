"""train/from_tflite.py: a converted fp32 .tflite read back into Keras gives the same outputs."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import requires_tensorflow
from tests.tiny_models import build_tiny_classifier, probe_inputs

pytestmark = [requires_tensorflow, pytest.mark.slow]


def _fp32_tflite(model, path):
    from convert.tflite_export import keras_to_tflite

    path.write_bytes(keras_to_tflite(model, "fp32"))
    return path


def _tflite_outputs(path, x: np.ndarray) -> np.ndarray:
    from edge_runtime.interpreter import load_backend, make_interpreter

    interp = make_interpreter(path.read_bytes(), 1, load_backend(None), path.name)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    rows = []
    for one in x:
        interp.set_tensor(inp["index"], one[None].astype(np.float32))
        interp.invoke()
        rows.append(interp.get_tensor(out["index"])[0])
    return np.array(rows)


def test_tiny_chain_round_trip(tmp_path):
    """Convs with their own bias and Dense layers: a differently seeded twin takes the weights."""
    from train.from_tflite import load_tflite_weights

    original = build_tiny_classifier(seed=0)
    path = _fp32_tflite(original, tmp_path / "tiny.tflite")
    twin = build_tiny_classifier(seed=1)
    x = probe_inputs(n=4)[:, 0]  # n x H x W x 3
    assert np.abs(twin.predict(x, verbose=0) - original.predict(x, verbose=0)).max() > 1e-3
    assert load_tflite_weights(twin, path) == 4
    want = original.predict(x, verbose=0)
    np.testing.assert_allclose(twin.predict(x, verbose=0), want, atol=1e-5)


def test_mobilenet_round_trip(tmp_path):
    """train/model.py's MobileNet (alpha 0.25, 64 px, BatchNorm with non-trivial statistics):
    BatchNorm folded by the converter comes back as identity + bias, stride-2 padding lines up."""
    import keras

    from train.config import TrainConfig
    from train.from_tflite import keras_from_tflite
    from train.model import build_model

    keras.utils.set_random_seed(0)
    cfg = TrainConfig(weights="none", alpha=0.25, image_size=64, dense_units=24, dropout=0.0)
    original = build_model(cfg).model
    rng = np.random.default_rng(0)
    for layer in original.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype(np.float32))
            layer.beta.assign(rng.normal(0, 0.2, n).astype(np.float32))
            layer.moving_mean.assign(rng.normal(0, 0.2, n).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype(np.float32))
    path = _fp32_tflite(original, tmp_path / "mobilenet.tflite")
    rebuilt = keras_from_tflite(path)
    assert rebuilt.get_layer("dense_hidden").kernel.shape == (256, 24)
    x = probe_inputs(size=64, n=4)[:, 0]
    want = original.predict(x, verbose=0)
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), want, atol=1e-5)
    np.testing.assert_allclose(_tflite_outputs(path, x), want, atol=1e-5)


def test_not_a_tflite_is_one_line(tmp_path):
    from train.errors import ConfigError
    from train.from_tflite import keras_from_tflite

    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="bad.tflite: cannot read"):
        keras_from_tflite(bad)
