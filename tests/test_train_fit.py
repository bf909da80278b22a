"""Real (small) training runs on ../shared/data: run folder, cache, strategy, evaluate, Grad-CAM."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import FACES, SHARED_DATA, requires_shared_data, requires_tensorflow
from tests.train_support import add_bad_files, link_tree
from train.config import TrainConfig

pytestmark = [requires_tensorflow, requires_shared_data]

RUN_FILES = (
    "model.keras",
    "config.json",
    "data_summary.json",
    "history.json",
    "curves.png",
    "test_metrics.json",
    "confusion_matrix.png",
    "predictions.csv",
    "threshold.json",
)


def _cfg(out: Path, **kw) -> TrainConfig:
    """A tiny MobileNet (alpha 0.25) from random weights on a few real images."""
    base = {
        "data": str(FACES),
        "out": str(out),
        "weights": "none",
        "alpha": 0.25,
        "image_size": 32,
        "limit_per_class": 8,
        "epochs": 1,
        "batch_size": 8,
        "learning_rate": 1e-3,
    }
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Every base layer trainable (no cache: the image pipeline), 3 epochs, 12 images/class."""
    from train.fit import run_fit

    out = tmp_path_factory.mktemp("train") / "tiny"
    cfg = _cfg(
        out,
        image_size=64,
        trainable_layers=-1,
        limit_per_class=12,
        epochs=3,
        threshold_from_valid=True,
    )
    return run_fit(cfg)


def test_loss_falls_and_every_run_file_is_written(tiny_run):
    run = tiny_run.run_dir
    for name in RUN_FILES:
        assert (run / name).is_file() and (run / name).stat().st_size > 0, name
    assert not list(run.glob(".*tmp*")), "temporary files left behind"
    assert not tiny_run.used_cache
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == 3 and history["loss"][-1] < history["loss"][0]
    assert 1 <= history["best_epoch"] <= 3
    assert history["best_val_loss"] == pytest.approx(min(history["val_loss"]))
    assert len(history["epoch_seconds"]) == 3
    for png in ("curves.png", "confusion_matrix.png"):
        with Image.open(run / png) as im:
            assert im.format == "PNG" and im.size[0] > 200
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert metrics["positive_class"] == "real"
    test = metrics["test"]
    assert (test["n_real"], test["n_fake"]) == (12, 12)
    assert sum(map(sum, test["confusion_matrix"])) == 24
    assert 0.0 <= test["roc_auc"] <= 1.0
    assert metrics["threshold"] == json.loads((run / "threshold.json").read_text())["threshold"]
    summary = json.loads((run / "data_summary.json").read_text())
    assert summary["splits"]["train"]["counts"] == {"fake": 12, "real": 12}
    assert summary["n_skipped"] == 0
    config = json.loads((run / "config.json").read_text())
    assert config["resolved"]["status"] == "done"
    assert config["preprocess"]["height"] == 64 and config["trainable_layers"] == -1
    with open(run / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["split"] for r in rows} == {"valid", "test"} and len(rows) == 48


def test_saved_model_has_the_runtime_interface(tiny_run):
    from train.model import load_model

    m = load_model(tiny_run.run_dir / "model.keras")
    assert m.input.name == "image" and m.layers[-1].name == "probabilities"
    assert m.output.shape[-1] == 2
    assert getattr(m, "optimizer", None) is None  # inference model, no optimizer state


def test_refuses_to_overwrite_a_run(tiny_run):
    from train.errors import ConfigError
    from train.fit import run_fit

    with pytest.raises(ConfigError, match="not empty"):
        run_fit(_cfg(tiny_run.run_dir))


def test_evaluate_table(tiny_run, tmp_path, capsys):
    """One row per set, single-class sets included; Markdown on stdout, JSON on request."""
    from train.cli import main
    from train.evaluate import evaluate_sets

    model_path = tiny_run.run_dir / "model.keras"
    sets = [str(FACES / "test"), str(SHARED_DATA / "sd21_faces")]
    rows, t = evaluate_sets(str(model_path), sets, limit=4)
    assert t == tiny_run.threshold  # the run's threshold.json
    faces, sd21 = rows
    assert (faces.metrics.n_real, faces.metrics.n_fake) == (4, 4)
    assert (sd21.metrics.n_real, sd21.metrics.n_fake) == (0, 4)
    assert sd21.metrics.roc_auc is None and sd21.metrics.accuracy == sd21.metrics.specificity

    out_json = tmp_path / "eval.json"
    code = main(["evaluate", str(model_path), *sets, "--limit-per-class", "4", "--json",
                 str(out_json)])  # fmt: skip
    res = capsys.readouterr()
    assert code == 0, res.err
    assert "| set | n_real | n_fake | accuracy | precision | recall | f1 | roc_auc |" in res.out
    assert "| sd21_faces | 0 | 4 |" in res.out and "n/a" in res.out
    data = json.loads(out_json.read_text())
    assert [s["set"] for s in data["sets"]] == ["test", "sd21_faces"]
    with pytest.raises(SystemExit) as bad:
        main(["evaluate", str(model_path), str(tmp_path / "nowhere")])
    assert bad.value.code == 2 and "no such folder" in capsys.readouterr().err


def test_gradcam_writes_overlays_and_grids(tiny_run, tmp_path):
    from train.gradcam import run_gradcam

    single = min((FACES / "test" / "real").glob("*.jpg"))
    written = run_gradcam(
        str(tiny_run.run_dir / "model.keras"),
        [str(FACES / "test"), str(single)],
        str(tmp_path / "cam"),
        per_class=2,
    )
    assert len(written["overlays"]) == 5 and len(written["grids"]) == 2
    assert {p.name for p in written["grids"]} == {"grid_fake.png", "grid_real.png"}
    for p in written["overlays"] + written["grids"]:
        with Image.open(p) as im:
            assert im.format == "PNG"
    with Image.open(written["overlays"][0]) as im:
        assert im.size == (128, 64 + 18)  # input | overlay, caption strip


def test_gradcam_heatmap_follows_the_evidence():
    """Evidence for 'real' only in a bright patch: the heatmap for real sits on that patch,
    the heatmap for fake (evidence against it) is empty."""
    import keras

    from train.gradcam import GradCam

    inp = keras.Input((16, 16, 3), name="image")
    conv = keras.layers.Conv2D(1, 1, use_bias=False, activation="relu", name="conv")
    pooled = keras.layers.GlobalAveragePooling2D()(conv(inp))
    head = keras.layers.Dense(2, activation="softmax", name="probabilities")
    model = keras.Model(inp, head(pooled))
    conv.set_weights([np.ones((1, 1, 3, 1), np.float32)])
    head.set_weights(
        [np.array([[-1.0, 1.0]], np.float32), np.zeros(2, np.float32)]
    )  # real <- activation
    x = np.zeros((1, 16, 16, 3), np.float32)
    x[0, 2:6, 9:13] = 1.0
    heat, probs, t = GradCam(model, "conv")(x, "real")
    assert t == 1 and probs[1] > 0.5
    assert heat[2:6, 9:13].min() == pytest.approx(1.0)
    heat[2:6, 9:13] = 0
    assert heat.max() == 0.0
    heat, _, _ = GradCam(model)(x, "fake")
    assert heat.max() == 0.0


def _have_imagenet_weights() -> bool:
    from train.weights import ensure_imagenet_weights

    return ensure_imagenet_weights("mobilenet", 1.0, 224) is not None


@pytest.fixture(scope="module")
def imagenet_pair(tmp_path_factory):
    """The same tiny recipe from ImageNet weights, trained from cached features and from images.

    (A randomly initialised MobileNet's signal dies out in inference mode, so its outputs are
    constant; pretrained weights give outputs worth comparing.)
    """
    from train.fit import run_fit

    if not _have_imagenet_weights():
        pytest.skip("needs the MobileNet ImageNet weights (../shared/weights or the Keras cache)")
    tmp = tmp_path_factory.mktemp("imagenet")
    runs = {}
    for mode in ("on", "off"):
        r = run_fit(
            _cfg(
                tmp / mode,
                weights="imagenet",
                alpha=1.0,
                cache_features=mode,
                trainable_layers=10,
                epochs=2,
                in_memory="on",
                learning_rate=1e-3,
            )
        )
        with open(r.run_dir / "predictions.csv") as f:
            runs[mode] = (r, np.array([float(row["p_fake"]) for row in csv.DictReader(f)]))
    return runs


def test_feature_cache_trains_like_the_image_path(imagenet_pair):
    """Same seed, same batches: cached features and full images give the same trained model."""
    (on, p_on), (off, p_off) = imagenet_pair["on"], imagenet_pair["off"]
    assert on.used_cache and not off.used_cache
    assert np.ptp(p_on) > 0.01  # the comparison is not between constant outputs
    np.testing.assert_allclose(on.history["loss"], off.history["loss"], rtol=1e-4)
    # Validation sums more float32 terms in another order on each path: measured 3.4e-4 apart
    # on this machine (a wrong cache would be off by far more than 1e-3).
    np.testing.assert_allclose(on.history["val_loss"], off.history["val_loss"], rtol=1e-3)
    # P(fake) after the same steps: 1.8e-4 apart at most here (float32 sums in another order);
    # a wrong cache (other inputs or weights) moves them by far more.
    np.testing.assert_allclose(p_on, p_off, atol=5e-4)


def test_keras_and_tflite_rows_agree(imagenet_pair, tmp_path):
    """evaluate puts a runtime bundle beside its Keras model, figure for figure."""
    from convert.tflite_export import keras_to_tflite
    from edge_runtime.bundle import save_bundle
    from edge_runtime.types import BundleInfo, PreprocessSpec
    from train.evaluate import evaluate_sets
    from train.model import load_model

    model_path = imagenet_pair["on"][0].run_dir / "model.keras"
    sets = [str(FACES / "test"), str(SHARED_DATA / "sd21_faces")]
    rows, t = evaluate_sets(str(model_path), sets, limit=6)
    tflite = keras_to_tflite(load_model(model_path), "fp32")
    bundle = save_bundle(
        tflite,
        BundleInfo(preprocess=PreprocessSpec(height=32, width=32), threshold=t),
        tmp_path / "tiny_fp32.tflite",
    )
    rt_rows, _ = evaluate_sets(str(bundle.path), sets, limit=6)
    assert rows[0].metrics.roc_auc not in (None, 0.5)
    for k, r in zip(rows, rt_rows):
        assert (k.metrics.n_real, k.metrics.n_fake) == (r.metrics.n_real, r.metrics.n_fake)
        assert k.metrics.confusion_matrix == r.metrics.confusion_matrix
        # the per-image P(fake) of the JSON report: the same file gets the same score
        assert k.p_fake.keys() == r.p_fake.keys() and len(k.p_fake) == k.metrics.n
        assert [r.p_fake[f] for f in k.p_fake] == pytest.approx(list(k.p_fake.values()), abs=1e-4)
        if k.metrics.roc_auc is not None:
            assert k.metrics.roc_auc == pytest.approx(r.metrics.roc_auc, abs=1e-6)


def test_bad_files_skipped_and_listed_cached_and_mirrored(tmp_path):
    """Corrupt and non-image files are skipped and listed; the mirrored strategy on one CPU."""
    from train.fit import run_fit

    root = link_tree(tmp_path / "data", 3)
    expected = add_bad_files(root / "train" / "real")
    add_bad_files(root / "test" / "fake")
    r = run_fit(_cfg(tmp_path / "run", data=str(root), strategy="mirrored"))
    assert r.used_cache
    config = json.loads((r.run_dir / "config.json").read_text())
    assert config["resolved"]["strategy"] == {"name": "mirrored", "replicas": 1}
    summary = json.loads((r.run_dir / "data_summary.json").read_text())
    assert summary["n_skipped"] == 8
    by_name = {(s["split"], Path(s["path"]).name): s["reason"] for s in summary["skipped"]}
    for name, words in expected.items():
        assert words in by_name[("train", name)]
        assert words in by_name[("test", name)]
    assert summary["splits"]["train"]["counts"] == {"fake": 3, "real": 3}
    assert summary["listed"]["train"] == {"fake": 3, "real": 6}


def test_streamed_augmented_run_skips_bad_files(tmp_path):
    """Augmentation streams the files each epoch; a file failing there is listed too."""
    from train.fit import run_fit

    root = link_tree(tmp_path / "data", 3)
    add_bad_files(root / "train" / "fake")
    r = run_fit(_cfg(tmp_path / "run", data=str(root), augment=("flip", "jpeg", "crop"), epochs=2))
    assert not r.used_cache
    summary = json.loads((r.run_dir / "data_summary.json").read_text())
    names = {Path(s["path"]).name for s in summary["skipped"] if s["split"] == "train"}
    assert names == {"truncated.jpg", "not_an_image.jpg", "empty.jpg", "notes.txt"}
    assert summary["splits"]["train"]["counts"] == {"fake": 3, "real": 3}
    assert json.loads((r.run_dir / "config.json").read_text())["augment"] == [
        "flip",
        "jpeg",
        "crop",
    ]


def test_ctrl_c_leaves_no_half_written_model(tmp_path, monkeypatch):
    import keras

    from train.fit import Interrupted, run_fit

    def interrupted_fit(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "fit", interrupted_fit)
    with pytest.raises(Interrupted, match="no model was saved"):
        run_fit(_cfg(tmp_path / "run"))
    left = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert "model.keras" not in left and not [n for n in left if "tmp" in n]
    assert (
        json.loads((tmp_path / "run" / "config.json").read_text())["resolved"]["status"]
        == "interrupted"
    )


def test_cli_fit_errors_are_one_line(tmp_path, capsys):
    from train.cli import main

    root = link_tree(tmp_path / "d", 1, splits=("train", "valid"))
    with pytest.raises(SystemExit) as res:
        main(["fit", "--data", str(root), "--out", str(tmp_path / "r")])
    assert res.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == f"python -m train fit: error: {root}: missing split folder(s) test/"
    with pytest.raises(SystemExit) as res:
        main(["fit", "--augment", "sharpen"])
    assert res.value.code == 2 and "unknown sharpen" in capsys.readouterr().err


def test_multiworker_strategy_with_two_local_workers(tmp_path):
    """Two processes on localhost (TF_CONFIG), the launch train/README.md documents."""
    import os
    import socket
    import subprocess
    import sys

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("localhost", 0))
            ports.append(s.getsockname()[1])
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    out = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "train",
        "fit",
        "--recipe",
        "report",
        "--data",
        str(FACES),
        "--out",
        str(out),
        "--weights",
        "none",
        "--alpha",
        "0.25",
        "--image-size",
        "32",
        "--limit-per-class",
        "4",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--strategy",
        "multiworker",
    ]
    repo = Path(__file__).resolve().parent.parent
    procs = []
    for index in (1, 0):
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "TF_CONFIG": json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            ),
        }
        procs.append(
            subprocess.Popen(
                args, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[1][-2000:] + outputs[0][-2000:]
    assert "non-chief worker" in outputs[0]
    config = json.loads((out / "config.json").read_text())
    assert config["resolved"]["strategy"]["name"] == "multiworker"
    assert (out / "model.keras").is_file() and (out / "test_metrics.json").is_file()
