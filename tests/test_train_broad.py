"""Broad training runs (issue 10): sources, hold-out, class balance, harmonisation, --resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import requires_shared_data, requires_tensorflow
from train.config import TrainConfig

pytestmark = [requires_tensorflow, requires_shared_data]


def _cfg(out: Path, **kw) -> TrainConfig:
    """A tiny MobileNet (alpha 0.25, random weights, 32 px) on 3 images per source and split."""
    base = {
        "sources": "train/sources.json",
        "out": str(out),
        "weights": "none",
        "alpha": 0.25,
        "image_size": 32,
        "trainable_layers": -1,
        "dropout": 0.3,
        "limit_per_class": 3,
        "epochs": 3,
        "batch_size": 8,
        "learning_rate": 1e-3,
        "balance": "class",
        "harmonize_size": 48,
        "hold_out": ("sd21",),
    }
    return TrainConfig(**{**base, **kw})


def _weights(run: Path) -> list[np.ndarray]:
    from train.model import load_model

    return [np.asarray(w) for w in load_model(run / "model.keras").get_weights()]


def test_interrupted_then_resumed_run_equals_an_uninterrupted_one(tmp_path, monkeypatch):
    import train.fit as fit

    whole = fit.run_fit(_cfg(tmp_path / "whole"))

    def stop_after_two(epoch: int) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(fit, "_after_epoch", stop_after_two)
    with pytest.raises(fit.Interrupted):
        fit.run_fit(_cfg(tmp_path / "parts"))
    assert (tmp_path / "parts" / "checkpoint.npz").is_file()
    monkeypatch.setattr(fit, "_after_epoch", None)
    resumed = fit.run_fit(TrainConfig(resume=str(tmp_path / "parts")))

    assert resumed.history["epoch"] == [1, 2, 3]
    for key in ("loss", "val_loss", "accuracy"):
        np.testing.assert_allclose(resumed.history[key], whole.history[key], rtol=1e-5)
    for a, b in zip(_weights(tmp_path / "whole"), _weights(tmp_path / "parts")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert resumed.test["test"]["confusion_matrix"] == whole.test["test"]["confusion_matrix"]
    assert not (tmp_path / "parts" / "checkpoint.npz").exists()  # done: nothing to resume
    log = (tmp_path / "parts" / "train.log").read_text()
    assert "resuming" in log and "ETA" in log


def test_resume_refuses_a_changed_recipe(tmp_path, monkeypatch):
    import train.fit as fit
    from train.errors import ConfigError

    monkeypatch.setattr(fit, "_after_epoch", lambda e: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(fit.Interrupted):
        fit.run_fit(_cfg(tmp_path / "run", epochs=2))
    config = tmp_path / "run" / "config.json"
    data = json.loads(config.read_text())
    data["learning_rate"] = 0.5
    config.write_text(json.dumps(data))
    monkeypatch.setattr(fit, "_after_epoch", None)
    with pytest.raises(ConfigError, match="differ from the interrupted run"):
        fit.run_fit(TrainConfig(resume=str(tmp_path / "run")))
    with pytest.raises(ConfigError, match="not a run folder"):
        fit.run_fit(TrainConfig(resume=str(tmp_path)))


def test_held_out_family_has_rows_in_the_per_source_table(tmp_path):
    from train.fit import run_fit

    result = run_fit(_cfg(tmp_path / "run", epochs=1, hold_out=("stylegan2",)))
    table = json.loads((result.run_dir / "per_source.json").read_text())
    rows = {r["source"]: r for r in table["sources"]}
    assert table["held_out"] == ["tpdne128_fake", "tpdne256_fake", "tpdne300_fake"]
    assert rows["tpdne256_fake"]["role"] == "held out" and rows["tpdne256_fake"]["n"] == 3
    assert rows["ciplab_fake"]["role"] == "evaluation only" and rows["ciplab_fake"]["n"] == 3
    assert rows["sd21_fake"]["role"] == "trained"
    summary = json.loads((result.run_dir / "data_summary.json").read_text())
    used = {r["name"]: r["used"] for r in summary["per_source"]}
    assert used["tpdne256_fake"]["train"] == 0 and used["lfw_faceswap_fake"]["train"] == 0
    assert used["lfw_real"]["train"] == 3  # LFW reals train by hash split since issue 18
    assert used["faces140k_real"]["train"] == 3
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["resolved"]["class_weights"]["fake"] > 1.0  # fewer fakes without stylegan2
    assert (result.run_dir / "per_source.md").read_text().count("held out") == 3


def test_class_weights_reach_the_batches_and_order_is_per_epoch():
    from train.pipeline import array_dataset, epoch_order, one_hot

    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
    w = np.where(labels == 0, 10 / 6, 10 / 14).astype(np.float32)
    ds = array_dataset(x, one_hot(labels), 4, True, seed=3, epoch=2, weights=w)
    seen = [(xb.numpy().ravel(), wb.numpy()) for xb, _, wb in ds]
    order = np.concatenate([s[0] for s in seen]).astype(int)
    np.testing.assert_array_equal(order, epoch_order(10, 3, 2))  # a function of (seed, epoch)
    np.testing.assert_allclose(np.concatenate([s[1] for s in seen]), w[order])
    assert not np.array_equal(epoch_order(10, 3, 2), epoch_order(10, 3, 3))


def test_init_from_copies_matching_layers_and_keeps_a_new_head(tmp_path):
    # A warm start: every base layer (same name and shape) starts from the earlier model; a
    # head of another size keeps its fresh initialisation; a model sharing nothing is refused.
    from train.errors import ConfigError
    from train.model import build_model, init_from_model, save_model_atomic

    tiny = {"weights": "none", "alpha": 0.25, "image_size": 32}
    earlier = build_model(TrainConfig(**tiny, dense_units=16)).model
    save_model_atomic(earlier, tmp_path / "earlier.keras")
    fresh = build_model(TrainConfig(**tiny, dense_units=8, seed=7)).model
    copied = init_from_model(fresh, tmp_path / "earlier.keras")
    assert copied == len([x for x in fresh.layers if x.weights]) - 2  # all but the head
    for layer in fresh.layers:
        if layer.weights and layer.name not in ("dense_hidden", "probabilities"):
            for a, b in zip(layer.get_weights(), earlier.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(a, b)
    other = build_model(TrainConfig(**tiny, arch="densenet121", dense_units=8)).model
    save_model_atomic(other, tmp_path / "other.keras")
    with pytest.raises(ConfigError, match="no layer matches"):
        init_from_model(
            build_model(TrainConfig(**tiny, dense_units=16)).model, tmp_path / "other.keras"
        )
