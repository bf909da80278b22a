"""convert/: Keras -> four verified TFLite bundles, collapse detection, bad input, legacy FC, QAT.

Real tiny models (tests/tiny_models.py, trained here for a few seconds) on generated images, so
nothing here needs ../shared/data. Tolerances against Keras, max |P(fake) difference| on the
validation images: fp32 1e-5, fp16 2e-3, dynamic 5e-2, int8 1e-1; label agreement >= 95% for all.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, requires_tensorflow

pytestmark = [requires_tensorflow, pytest.mark.slow]

TOLERANCE = {"fp32": 1e-5, "fp16": 2e-3, "dynamic": 5e-2, "int8": 1e-1}
SIZE = 32


def make_dataset(root: Path, per_class: int = 20, side: int = 40, seed: int = 0) -> Path:
    """A 140k-style tree of generated PNGs: 'fake' = noisy texture, 'real' = smooth gradient."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    _yy, xx = np.mgrid[0:side, 0:side]
    for split in ("train", "valid"):
        for label in ("fake", "real"):
            d = root / split / label
            d.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                base = rng.uniform(60, 200, 3)
                img = base + 25 * np.sin(xx / side * np.pi * rng.uniform(0.5, 2.0))[..., None]
                img = img + rng.normal(0, 60 if label == "fake" else 2, (side, side, 3))
                Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(d / f"{i:03d}.png")
    return root


def train_tiny(data: Path, out_dir: Path, epochs: int = 25):
    """A run folder (model.keras + config.json) holding a tiny classifier trained on `data`."""
    import keras

    from convert.data import list_labelled, load_image_set
    from edge_runtime.types import PreprocessSpec
    from tests.tiny_models import build_tiny_classifier

    spec = PreprocessSpec(height=SIZE, width=SIZE)
    train = load_image_set(list_labelled(data / "train", "t"), spec, None, 0, "t", progress=False)
    model = build_tiny_classifier(SIZE)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(train.x, train.y, epochs=epochs, batch_size=8, verbose=0)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(out_dir / "model.keras")
    config = {"run_name": "tiny-test-run", "preprocess": spec.to_dict(), "threshold": 0.5}
    (out_dir / "config.json").write_text(json.dumps(config))
    return model


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("faces"))


@pytest.fixture(scope="module")
def run_dir(data, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("run")
    train_tiny(data, d)
    return d


@pytest.fixture(scope="module")
def converted(run_dir, data, tmp_path_factory):
    from convert.pipeline import ConvertOptions, QatOptions, run_conversion

    out = tmp_path_factory.mktemp("converted")
    opts = ConvertOptions(
        source=str(run_dir),
        out=out,
        calibration_dir=data,
        calibration_images=30,
        qat=QatOptions(mode="off"),
    )
    return run_conversion(opts), out


def _valid_inputs(data: Path):
    from convert.data import list_labelled, load_image_set
    from edge_runtime.types import PreprocessSpec

    return load_image_set(
        list_labelled(data / "valid", "v"),
        PreprocessSpec(height=SIZE, width=SIZE),
        None,
        0,
        "v",
        progress=False,
    )


def test_four_variants_load_in_edge_runtime_and_agree_with_keras(converted, run_dir, data):
    import keras

    from edge_runtime import Detector, DetectorOptions, load_bundle
    from edge_runtime.inspect_model import read_model_facts
    from edge_runtime.registry import filename

    result, out = converted
    assert result.passed, result.report.failures
    model = keras.saving.load_model(run_dir / "model.keras")
    valid = _valid_inputs(data)
    keras_fake = model.predict(valid.x, verbose=0)[:, 0]
    keras_labels = keras_fake < 0.5
    for variant, tol in TOLERANCE.items():
        path = out / filename(variant)  # convert writes the names the registry finds
        bundle = load_bundle(path)
        det = Detector(DetectorOptions(model=str(path), num_threads=1), bundle=bundle)
        fake = np.array([det.fake_probability(x) for x in valid.x])
        assert np.abs(fake - keras_fake).max() <= tol, variant
        assert ((fake < 0.5) == keras_labels).mean() >= 0.95, variant
        info = bundle.info
        facts = read_model_facts(bundle.content)
        assert info.variant == variant and info.training_run == "tiny-test-run"
        assert (info.preprocess.height, info.preprocess.width) == (SIZE, SIZE)
        assert info.extra["min_runtime_version"] == facts["min_runtime_version"] is not None
        assert info.extra["legacy_fully_connected"] is False
        assert info.extra["converter"].startswith("tensorflow ")
        if variant == "int8":
            assert facts["inputs"][0]["dtype"] == facts["outputs"][0]["dtype"] == "int8"
            cal = info.extra["calibration"]
            assert cal["size"] == 30 and cal["per_class"] == {"fake": 15, "real": 15}
            assert cal["source"] == str(data / "train")
            assert info.extra["op_set"] == "TFLITE_BUILTINS_INT8"
        else:
            assert facts["inputs"][0]["dtype"] == "float32"
            assert info.extra["calibration"] is None


def test_report_matches_the_bundles(converted):
    _result, out = converted
    report = json.loads((out / "conversion_report.json").read_text())
    md = (out / "conversion_report.md").read_text()
    assert report["passed"] and "PASSED" in md
    assert report["validation"]["images"] == 40 and report["calibration"]["size"] == 30
    for v in report["variants"]:
        assert v["kept"] and v["check"]["agreement"] >= 0.95
        assert v["check"]["size_bytes"] == (out / v["file"]).stat().st_size
        assert f"| {v['variant']} |" in md
    assert report["qat"]["mode"] == "off" and not report["qat"]["ran"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "staging left behind"


def test_cli_exit_zero_and_help(run_dir, data, tmp_path, capsys):
    from convert.__main__ import build_parser, main

    out = tmp_path / "out"
    code = main(
        [str(run_dir / "model.keras"), "--out", str(out), "--variants", "fp32",
         "--calibration-dir", str(data), "--qat", "off"],
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert (out / "edge_detect_mobilenet_fp32.tflite").is_file()
    assert "--legacy-fully-connected" in build_parser().format_help()


def _constant_model():
    """A classifier whose output ignores its input: P = softmax([0.3, -0.3]) for every image."""
    from tests.tiny_models import build_tiny_classifier

    model = build_tiny_classifier(SIZE)
    last = model.get_layer("probabilities")
    kernel, _ = last.get_weights()
    last.set_weights([np.zeros_like(kernel), np.array([0.3, -0.3], dtype=np.float32)])
    return model


def _flat_model(run_dir: Path):
    """The trained tiny model with its output logits squeezed 1000x: Keras still separates the
    classes (P(fake) = 0.5 +- ~1e-3) but int8's output step (1/256) maps them all to one value."""
    import keras

    model = keras.saving.load_model(run_dir / "model.keras")
    last = model.get_layer("probabilities")
    kernel, bias = last.get_weights()
    last.set_weights([kernel * 1e-3, bias * 1e-3])
    return model


@pytest.mark.parametrize("case", ["constant", "int8_collapse"])
def test_collapse_fails_loudly_and_leaves_no_bundle(case, run_dir, data, tmp_path):
    from convert.pipeline import ConvertOptions, QatOptions, run_conversion

    model = _constant_model() if case == "constant" else _flat_model(run_dir)
    model_path = tmp_path / "model.keras"
    model.save(model_path)
    out = tmp_path / "out"
    variants = ("fp32",) if case == "constant" else ("fp32", "int8")
    opts = ConvertOptions(
        source=str(model_path), out=out, variants=variants, calibration_dir=data,
        calibration_images=30, qat=QatOptions(mode="off"),
    )  # fmt: skip
    result = run_conversion(opts)
    assert not result.passed
    report = json.loads(result.report_json.read_text())
    failed = {v["variant"] for v in report["variants"] if not v["passed"]}
    if case == "constant":
        assert failed == {"fp32"}
        assert any("same for every validation image" in f for f in report["failures"])
        assert not (out / "edge_detect_mobilenet_fp32.tflite").exists()
    else:
        assert failed == {"int8"}, report["failures"]
        assert any("collapsed" in f for f in report["failures"])
        assert (out / "edge_detect_mobilenet_fp32.tflite").is_file()
        assert not (out / "edge_detect_mobilenet_int8.tflite").exists()
        assert not (out / "edge_detect_mobilenet_int8.bundle.json").exists()
    assert "FAILED" in result.report_md.read_text()
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "staging left behind"


def test_collapse_exit_status_from_cli(tmp_path, data):
    model_path = tmp_path / "constant.keras"
    _constant_model().save(model_path)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "convert", str(model_path), "--out", str(out), "--variants", "fp32",
         "--calibration-dir", str(data), "--qat", "off"],
        check=False, capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "conversion FAILED verification" in proc.stderr and "Traceback" not in proc.stderr
    assert (out / "conversion_report.json").is_file()


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _three_class_model():
    import keras

    inp = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.GlobalAveragePooling2D()(inp)
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))


def _grey_input_model():
    import keras

    inp = keras.Input((SIZE, SIZE, 1), name="image")
    x = keras.layers.GlobalAveragePooling2D()(inp)
    return keras.Model(inp, keras.layers.Dense(2, activation="softmax")(x))


def test_bad_inputs_are_one_line_errors_before_any_output(run_dir, data, tmp_path):
    from convert.pipeline import ConvertOptions, QatOptions, run_conversion
    from edge_runtime.types import EdgeDetectError

    one_class = tmp_path / "one_class"
    for i in range(12):
        _write(
            one_class / "train" / "real" / f"{i}.png",
            (data / "train" / "real" / "000.png").read_bytes(),
        )
    few = tmp_path / "few"
    for label in ("fake", "real"):
        for i in range(3):
            _write(
                few / "train" / label / f"{i}.png",
                (data / "train" / label / "000.png").read_bytes(),
            )
    (few / "valid").symlink_to(data / "valid")
    wrong = tmp_path / "three.keras"
    _three_class_model().save(wrong)
    grey = tmp_path / "grey.keras"
    _grey_input_model().save(grey)
    a_file = _write(tmp_path / "a_file", b"x")
    good = str(run_dir)
    cases = [
        ({"source": str(_write(tmp_path / "text.keras", b"not a model"))}, "not a Keras model"),
        ({"source": str(_write(tmp_path / "model.txt", b"hello"))}, "not a Keras model file"),
        ({"source": str(tmp_path / "missing.keras")}, "no such run folder or model file"),
        ({"source": str(tmp_path)}, "run folder without model.keras"),
        # calibration_dir given so the model check is reached without ../shared/data
        (
            {"source": str(wrong), "calibration_dir": data},
            "output shape [None, 3] is not [batch, 2]",
        ),
        ({"source": str(grey), "calibration_dir": data}, "is not [batch, H, W, 3]"),
        ({"source": good, "calibration_dir": one_class}, "one class only"),
        ({"source": good, "calibration_dir": few}, "only 6 calibration images"),
        ({"source": good, "calibration_dir": tmp_path / "nowhere"}, "does not exist"),
        ({"source": good, "calibration_dir": data, "out": a_file / "sub"}, "not writable"),
        ({"source": good, "calibration_dir": data, "out": a_file}, "not a directory"),
        (
            {"source": good, "calibration_dir": data, "variants": ("fp32", "int4")},
            "unknown variant",
        ),
    ]
    for i, (kwargs, message) in enumerate(cases):
        out = kwargs.pop("out", tmp_path / f"out{i}")
        opts = ConvertOptions(out=out, calibration_images=30, qat=QatOptions(mode="off"), **kwargs)
        with pytest.raises(EdgeDetectError) as err:
            run_conversion(opts)
        text = str(err.value)
        assert message in text, (kwargs, text)
        assert "\n" not in text
        if out != a_file:
            assert not out.exists(), f"{out} created for a bad input ({text})"


def test_bad_model_cli_is_one_line_no_traceback(tmp_path):
    bad = _write(tmp_path / "bad.keras", b"\x00" * 100)
    proc = subprocess.run(
        [sys.executable, "-m", "convert", str(bad), "--out", str(tmp_path / "out")],
        check=False, capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"python -m convert: error: {bad}: not a Keras model (a .keras file is a zip archive)"
    )
    assert not (tmp_path / "out").exists()


def test_legacy_fully_connected_keeps_fc_at_version_9_or_lower():
    import keras

    from convert.tflite_export import keras_to_tflite
    from edge_runtime.inspect_model import read_model_facts
    from tests.tiny_models import random_representative

    keras.utils.set_random_seed(0)
    inp = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.Conv2D(8, 3, strides=4, activation="relu")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(128, activation="relu")(x)  # 8x128 weights: quantized by dynamic range
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax", name="probabilities")(x))
    default = read_model_facts(keras_to_tflite(model, "dynamic"))["ops"]["FULLY_CONNECTED"]
    legacy = read_model_facts(keras_to_tflite(model, "dynamic", legacy_fully_connected=True))["ops"]
    assert default > 9  # TF 2.21's per-channel dense quantization (tflite-runtime 2.14 rejects it)
    assert legacy["FULLY_CONNECTED"] <= 9
    int8 = keras_to_tflite(model, "int8", random_representative(SIZE), legacy_fully_connected=True)
    assert read_model_facts(int8)["ops"]["FULLY_CONNECTED"] <= 9


def test_stratified_sample_is_seeded_and_proportional(tmp_path):
    from convert.data import list_labelled, stratified_sample

    for label, n in (("fake", 30), ("real", 10)):
        for i in range(n):
            _write(tmp_path / label / f"{i}.jpg", b"x")
    files = list_labelled(tmp_path, "calibration")
    a = stratified_sample(files, 20, seed=1)[:20]
    assert a == stratified_sample(files, 20, seed=1)[:20]
    assert a != stratified_sample(files, 20, seed=2)[:20]
    assert sum(k == 0 for _, k in a) == 15 and sum(k == 1 for _, k in a) == 5
    assert len({p for p, _ in stratified_sample(files, 100, seed=0)}) == 40


def test_flat_graph_inlines_nested_models():
    import keras

    from convert.qat_graph import export_graph

    sub_in = keras.Input((SIZE, SIZE, 3))
    sub = keras.Model(
        sub_in, keras.layers.ReLU(6.0, name="relu6")(keras.layers.Conv2D(4, 3, name="c")(sub_in))
    )
    inp = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(sub(inp))
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax", name="probabilities")(x))
    graph, weights = export_graph(model)
    assert [(e["name"], e["inbound"]) for e in graph["layers"]] == [
        ("c", ["image"]), ("relu6", ["c"]), ("gap", ["relu6"]), ("probabilities", ["gap"]),
    ]  # fmt: skip
    assert graph["input"] == {"name": "image", "shape": [SIZE, SIZE, 3]}
    assert [w.shape for w in weights["c"]] == [(3, 3, 3, 4), (4,)]


def test_qat_runs_tfmot_in_a_subprocess_and_is_verified(run_dir, data, tmp_path):
    """--qat on: the tiny model is rebuilt in tf_keras, QAT-fine-tuned by tfmot for one epoch,
    converted to int8 and verified like any variant; the better int8 is kept."""
    from convert.pipeline import ConvertOptions, QatOptions, run_conversion

    out = tmp_path / "out"
    opts = ConvertOptions(
        source=str(run_dir), out=out, variants=("int8",), calibration_dir=data,
        calibration_images=30,
        qat=QatOptions(mode="on", epochs=1, batch_size=8), min_agreement=0.9,
    )  # fmt: skip
    result = run_conversion(opts)
    qat = result.report.to_dict()["qat"]
    assert qat["ran"] and qat["training"]["ok"], qat
    assert qat["training"]["tfmot_version"] and qat["training"]["train_images"] == 40
    assert qat["training"]["rebuild_max_abs_diff"] < 1e-4  # tf_keras rebuild == Keras 3 model
    tries = [v for v in result.report.to_dict()["variants"] if v["variant"] == "int8"]
    assert [v["origin"] for v in tries] == ["ptq", "qat"]
    qat_try = tries[1]
    assert qat_try["facts"]["input"]["dtype"] == "int8" and qat_try["check"]["n_images"] == 40
    assert sum(v["kept"] for v in tries) == 1
    kept = next(v for v in tries if v["kept"])
    assert qat["kept"] == kept["origin"]
    from edge_runtime import load_bundle

    assert (
        load_bundle(out / "edge_detect_mobilenet_int8.tflite").info.extra["quantization"]
        == kept["origin"]
    )


def test_qat_auto_decision_recorded(run_dir, data, tmp_path):
    from convert.pipeline import ConvertOptions, QatOptions, run_conversion

    opts = ConvertOptions(
        source=str(run_dir), out=tmp_path / "out", variants=("fp32", "int8"), calibration_dir=data,
        calibration_images=30, qat=QatOptions(mode="auto", threshold_pp=100.0),
    )  # fmt: skip
    qat = run_conversion(opts).report.to_dict()["qat"]
    assert not qat["ran"] and qat["kept"] == "ptq"
    assert "QAT not needed" in qat["reason"] and qat["float_reference"] == "fp32 .tflite"
