"""MesoNet, the published peer (train/mesonet.py, models/peers/): the authors' weights in our
Keras 3 build reproduce their README's outputs, and the committed bundles do through the runtime.

Reads ../shared/weights/mesonet (weights + the authors' four test images); skips without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FACES, requires_shared_data, requires_tensorflow
from workbench.paths import PEER_MODELS, SHARED_WEIGHTS

MESONET = SHARED_WEIGHTS / "mesonet"
requires_mesonet = pytest.mark.skipif(
    not (MESONET / "Meso4_DF.h5").is_file(),
    reason=f"needs MesoNet's weights and test images at {MESONET} (../shared/weights/mesonet)",
)
# ../shared/weights/README.md: Meso4_DF's P(fake) on the authors' test images (3 decimals).
README_MESO4_DF = {"df00204": 0.959, "df01254": 0.951, "real00240": 0.010, "real00772": 0.002}


def authors_images() -> list[Path]:
    return sorted((MESONET / "test_images").glob("*/*.jpg"))


def truth(path: Path) -> str:
    return "fake" if path.parent.name == "df" else "real"


@pytest.fixture(scope="module")
def pixels():
    from edge_runtime.preprocess import preprocess
    from train.mesonet import PREPROCESS

    return np.stack([preprocess(f, PREPROCESS) for f in authors_images()])


@requires_mesonet
@requires_tensorflow
@pytest.mark.slow
def test_meso4_df_reproduces_the_readme(pixels):
    from train.mesonet import TRAINABLE_PARAMS, pretrained, trainable_params

    model = pretrained("meso4", "DF")
    assert trainable_params(model) == TRAINABLE_PARAMS["meso4"] == 27_977
    p_fake = 1.0 - model.predict(pixels, verbose=0)[:, 0]  # the sigmoid is P(real)
    got = {f.stem: float(p) for f, p in zip(authors_images(), p_fake)}
    assert got == pytest.approx(README_MESO4_DF, abs=6e-4)


@requires_mesonet
@requires_tensorflow
@pytest.mark.slow
def test_mesoinception4_df_labels_the_test_images(pixels):
    from train.mesonet import TRAINABLE_PARAMS, pretrained, trainable_params

    model = pretrained("mesoinception4", "DF")
    assert trainable_params(model) == TRAINABLE_PARAMS["mesoinception4"] == 28_615
    p_fake = 1.0 - model.predict(pixels, verbose=0)[:, 0]
    labels = ["fake" if p >= 0.5 else "real" for p in p_fake]
    assert labels == [truth(f) for f in authors_images()]


@requires_mesonet
@requires_tensorflow
@pytest.mark.slow
def test_weights_of_the_other_network_are_refused():
    from edge_runtime.types import ModelError
    from train.mesonet import build, load_weights, weight_file

    with pytest.raises(ModelError, match="do not fit|does not fit"):
        load_weights(build("mesoinception4"), weight_file("meso4", "DF"))


def peer_bundles() -> list[Path]:
    return sorted(PEER_MODELS.glob("*/*.tflite"))


def test_peer_bundles_are_committed_and_declare_their_output():
    from edge_runtime.bundle import OUTPUT_SIGMOID, load_bundle
    from train.mesonet import PREPROCESS

    names = {p.name for p in peer_bundles()}
    assert names == {
        f"mesonet_{arch}_df_{v}.tflite"
        for arch in ("meso4", "mesoinception4")
        for v in ("fp32", "int8")
    }
    for path in peer_bundles():
        info = load_bundle(path).info
        assert info.output == OUTPUT_SIGMOID and info.labels == ("fake", "real")
        assert info.preprocess == PREPROCESS
        assert path.stat().st_size < 200_000  # tiny: the peer must not bloat the checkout


@requires_mesonet
def test_peer_fp32_bundle_through_the_runtime_matches_the_readme():
    """The runtime's own preprocessing (the bundle's spec: nearest 256, /255) and the declared
    sigmoid give the authors' figures: P(fake), not P(real), is what the Detector reports."""
    from edge_runtime.detector import Detector
    from edge_runtime.types import DetectorOptions, FaceOptions

    model = PEER_MODELS / "mesonet_meso4_df" / "mesonet_meso4_df_fp32.tflite"
    det = Detector(DetectorOptions(model=str(model), faces=FaceOptions(mode="none")))
    files = authors_images()
    got = {f.stem: r.fake_probability for f, r in zip(files, det.detect_many(files))}
    assert got == pytest.approx(README_MESO4_DF, abs=6e-4)


@requires_mesonet
@requires_shared_data
@requires_tensorflow
@pytest.mark.slow
def test_convert_writes_a_sigmoid_bundle(tmp_path):
    """python -m train.mesonet, then python -m convert: the run's preprocessing and the one
    sigmoid output reach the bundle, and its fp32 agrees with Keras."""
    from convert.__main__ import main as convert_main
    from edge_runtime.bundle import load_bundle
    from train.mesonet import PREPROCESS
    from train.mesonet import main as mesonet_main

    run = tmp_path / "run"
    assert mesonet_main(["--arch", "meso4", "--out", str(run)]) == 0
    out = tmp_path / "out"
    argv = [str(run), "--out", str(out), "--variants", "fp32,int8", "--stem", "meso4"]
    argv += ["--calibration-dir", str(FACES), "--valid-limit", "20", "--calibration-images", "20"]
    argv += ["--qat", "on"]  # on: still never retrains a sigmoid model (the peer's weights)
    # 1: int8 may fail verification on 20 faces (Meso4's PTQ int8 is poor, MODEL_CARD.md).
    assert convert_main(argv) in (0, 1)
    report = json.loads((out / "conversion_report.json").read_text())
    assert not report["qat"]["ran"] and "sigmoid" in report["qat"]["reason"]
    assert [v["variant"] for v in report["variants"]] == ["fp32", "int8"]  # no QAT int8 row
    info = load_bundle(out / "meso4_fp32.tflite").info
    assert (info.output, info.preprocess, info.training_run) == (
        "sigmoid",
        PREPROCESS,
        "mesonet_meso4_df",
    )
    assert "MesoNet" in info.description


def test_benchmarks_take_a_peer_by_name():
    from benchmarks.sources import peer_models, resolve_peer

    peers = peer_models()
    assert set(peers) == {p.stem for p in peer_bundles()}
    for stem, path in peers.items():
        assert resolve_peer(stem) == resolve_peer(stem.replace("_", "-")) == str(path)
    assert resolve_peer("int8") == "int8"  # the runtime's own names pass through
    assert resolve_peer("no_such_peer") == "no_such_peer"  # and fail there, in one line


@requires_mesonet
def test_benchmarks_sources_scores_a_peer_column(tmp_path):
    from tests.test_benchmarks import run_cli
    from tests.test_benchmarks_sources import MISSING

    if MISSING:
        pytest.skip(f"needs the source folders of train/sources.json; missing: {MISSING}")
    out = tmp_path / "peers.json"
    args = ["v1-int8", "mesonet-meso4-df-int8", "--limit-per-class", "1", "--threads", "1"]
    result = run_cli("sources", *args, "--json", out, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "| mesonet-meso4-df-int8 acc % | mesonet-meso4-df-int8 Δ pp |" in result.stdout
    column = json.loads(out.read_text())["models"][1]
    assert column["error"] is None
    assert column["path"].endswith("models/peers/mesonet_meso4_df/mesonet_meso4_df_int8.tflite")
