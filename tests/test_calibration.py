"""Operating point and calibration (workbench/calibration.py, `python -m train calibrate`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_runtime.types import FAKE_INDEX, REAL_INDEX, is_fake
from workbench.calibration import (
    T_MAX,
    T_MIN,
    apply_temperature,
    balanced_source_weights,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
    share_called_fake,
    threshold_for_fpr,
    uncalibrated_threshold,
)


def _draw(n: int, t_true: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores sigmoid(z) whose labels are fake with probability sigmoid(z / t_true)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 3.0, n)
    fake = rng.random(n) < 1.0 / (1.0 + np.exp(-z / t_true))
    return 1.0 / (1.0 + np.exp(-z)), np.where(fake, FAKE_INDEX, REAL_INDEX)


# --- threshold_for_fpr ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "target, expected",
    [(1.0, 0.1), (0.75, 0.2), (0.74, 0.9), (0.5, 0.9), (0.25, 0.9)],
)
def test_threshold_for_fpr_hand_made_with_ties(target, expected):
    reals = [0.2, 0.1, 0.9, 0.2]  # two reals tie at 0.2: both are called fake at t = 0.2
    t = threshold_for_fpr(reals, target)
    assert t == expected
    assert share_called_fake(reals, t) <= target


def test_threshold_for_fpr_target_zero_calls_no_real_fake():
    reals = np.array([0.1, 0.2, 0.9, 0.9])
    t = threshold_for_fpr(reals, 0.0)
    assert 0.9 < t < 0.9 + 1e-12
    assert not is_fake(reals, t).any()
    # float32 model outputs: the Detector compares them as Python floats (float64)
    reals32 = reals.astype(np.float32)
    t32 = threshold_for_fpr(reals32, 0.0)
    assert not any(is_fake(float(v), t32) for v in reals32)
    assert json.loads(json.dumps(t32)) == t32  # survives the bundle's JSON exactly


def test_threshold_for_fpr_tied_top_heavier_than_target():
    assert threshold_for_fpr([0.5, 0.5, 0.5, 0.5], 0.3) == np.nextafter(0.5, 1.0)
    assert threshold_for_fpr([0.3, 0.5, 0.5, 0.5], 0.3) == np.nextafter(0.5, 1.0)
    assert threshold_for_fpr([0.3, 0.5, 0.5, 0.5], 0.75) == 0.5


def test_threshold_for_fpr_exact_share_despite_rounding():
    reals = np.linspace(0.0, 0.99, 100)  # 3 of 100 at or above 0.97
    assert threshold_for_fpr(reals, 0.03) == reals[97]


def test_threshold_for_fpr_weights():
    assert threshold_for_fpr([0.1, 0.9], 0.25, weights=[3, 1]) == 0.9
    assert threshold_for_fpr([0.1, 0.9], 0.25, weights=[1, 3]) == np.nextafter(0.9, 1.0)


def test_threshold_for_fpr_is_the_lowest():
    rng = np.random.default_rng(3)
    for _ in range(50):
        reals = np.round(rng.random(40), 1)  # many ties
        w = rng.random(40)
        target = float(rng.choice([0.0, 0.03, 0.1, 0.5]))
        t = threshold_for_fpr(reals, target, w)
        assert share_called_fake(reals, t, w) <= target + 1e-12
        lower = reals[reals < t]
        if len(lower):  # the next candidate below breaks the target
            assert share_called_fake(reals, lower.max(), w) > target


def test_threshold_for_fpr_bad_input():
    with pytest.raises(ValueError, match="no real scores"):
        threshold_for_fpr([], 0.03)
    with pytest.raises(ValueError, match="not in"):
        threshold_for_fpr([0.5], 1.5)


# --- temperature ---------------------------------------------------------------------------


@pytest.mark.parametrize("t_true", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_known_temperature(t_true):
    p, labels = _draw(20000, t_true, seed=1)
    t = fit_temperature(p, labels)
    assert t == pytest.approx(t_true, rel=0.06)


def test_fit_temperature_weights_count_as_repeats():
    p, labels = _draw(3000, 2.0, seed=2)
    repeated = fit_temperature(
        np.concatenate([p, p[:1000]]), np.concatenate([labels, labels[:1000]])
    )
    w = np.ones(len(p))
    w[:1000] = 2.0
    assert fit_temperature(p, labels, w) == pytest.approx(repeated, rel=1e-4)


def test_apply_temperature():
    p = np.array([0.0, 0.01, 0.3, 0.5, 0.8, 1.0])
    assert np.array_equal(apply_temperature(p, 1.0), p)  # T = 1: the runtime's own P(fake)
    soft = apply_temperature(p, 2.0)
    assert np.all(np.diff(soft) > 0) and soft[3] == pytest.approx(0.5)
    assert np.all(np.abs(soft - 0.5) <= np.abs(p - 0.5))  # T > 1 moves towards 0.5
    assert apply_temperature(0.8, 2.0) == pytest.approx(1 / (1 + np.sqrt(0.25)))  # odds^(1/T)
    with pytest.raises(ValueError):
        apply_temperature(p, 0.0)


def test_uncalibrated_threshold_makes_the_same_decisions():
    p, _ = _draw(5000, 1.0, seed=4)
    for temperature in (0.5, 2.0):
        t = 0.7
        raw_t = uncalibrated_threshold(t, temperature)
        agree = is_fake(apply_temperature(p, temperature), t) == is_fake(p, raw_t)
        assert agree.mean() > 0.999  # only float rounding at the boundary may differ


# --- ECE and reliability -------------------------------------------------------------------


def test_ece_of_calibrated_scores_is_near_zero_and_of_miscalibrated_is_not():
    rng = np.random.default_rng(5)
    p = rng.random(200000)
    labels = np.where(rng.random(len(p)) < p, FAKE_INDEX, REAL_INDEX)
    assert expected_calibration_error(p, labels) < 0.005
    over = apply_temperature(p, 0.3)  # the same ranking, over-confident
    assert expected_calibration_error(over, labels) > 0.1


def test_reliability_bins():
    p = [0.0, 0.05, 0.15, 0.95, 1.0]
    labels = [REAL_INDEX, FAKE_INDEX, REAL_INDEX, FAKE_INDEX, FAKE_INDEX]
    rows = reliability_bins(p, labels, bins=10)
    assert [r.count for r in rows] == [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]  # 1.0 in the last bin
    assert rows[0].confidence == pytest.approx(0.025) and rows[0].accuracy == 0.5
    assert rows[2].confidence is None and rows[9].accuracy == 1.0
    # ECE = 2/5 |0.5 - 0.025| + 1/5 |0 - 0.15| + 2/5 |1 - 0.975|
    assert expected_calibration_error(p, labels) == pytest.approx(0.19 + 0.03 + 0.01)
    assert expected_calibration_error([], []) is None


def test_balanced_source_weights():
    names = ["a", "a", "a", "b", "c", "c"]
    labels = [REAL_INDEX, REAL_INDEX, REAL_INDEX, REAL_INDEX, FAKE_INDEX, FAKE_INDEX]
    w = balanced_source_weights(names, labels)
    assert w[:3].sum() == pytest.approx(w[3])  # each real source the same share
    assert w[:4].sum() == pytest.approx(w[4:].sum())  # each class half
    assert w.mean() == pytest.approx(1.0)


# --- python -m train calibrate, end to end on the tiny bundles -----------------------------

SPLIT_SIZES = {"train": 1, "valid": 10, "test": 6}


def _images(folder, n: int, colour: tuple[int, int, int], seed: int) -> None:
    """n generated crops named as prepare-crops names them (x.jpg.crop.png): noise blended
    with a colour (the tiny classifier's P(fake) is higher on red than on green)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        mix = rng.uniform(0.0, 0.15)
        a = mix * np.array(colour) + (1 - mix) * rng.integers(0, 256, (40, 40, 3))
        Image.fromarray(a.astype(np.uint8)).save(folder / f"{i:03d}.jpg.crop.png")


def _tiny_sources(tmp_path):
    """Two real sources (one beside a fake source in one folder), an evaluation-only fake."""
    root = tmp_path / "crops"
    entries = [
        ("mix_real", "mix", "real", "folders", (0, 255, 0), False),
        ("mix_fake", "mix", "fake", "folders", (255, 0, 0), False),
        ("other_real", "other", "real", "folders", (0, 200, 60), False),
        ("eval_fake", "evalset", "fake", "all", (255, 60, 0), True),
    ]
    sources = []
    for k, (name, folder, cls, splits, colour, evaluation_only) in enumerate(entries):
        if splits == "folders":
            for split, n in SPLIT_SIZES.items():
                _images(root / folder / split / cls, n, colour, seed=10 * k + len(split))
        else:
            _images(root / folder / cls, 5, colour, seed=10 * k)
        sources.append(
            {"name": name, "folder": folder, "class": cls, "splits": splits,
             "family": "real" if cls == "real" else "gen", "evaluation_only": evaluation_only}
        )  # fmt: skip
    sources_file = tmp_path / "sources.json"
    sources_file.write_text(
        json.dumps(
            {
                "split_salt": "t",
                "split_fractions": {"train": 0.8, "valid": 0.1, "test": 0.1},
                "sources": sources,
            }
        )  # fmt: skip
    )
    return root, sources_file


def _runtime_p_fake(model, files) -> np.ndarray:
    """P(fake) straight from the Detector (not through the command's scorer)."""
    from edge_runtime.detector import Detector
    from edge_runtime.types import DetectorOptions

    detector = Detector(DetectorOptions(model=str(model), num_threads=1))
    return np.array([detector.detect(str(f)).fake_probability for f in files])


def test_calibrate_command_end_to_end(tiny_bundles, tmp_path, capsys):
    from edge_runtime.bundle import load_bundle, sidecar_path
    from train.cli import main

    root, sources_file = _tiny_sources(tmp_path)
    out, bundle = tmp_path / "report", tmp_path / "report" / "tiny_cal.tflite"
    args = ["calibrate", str(tiny_bundles["fp32"]), "--sources", str(sources_file)]
    args += ["--data", str(root), "--out", str(out), "--target-fpr", "0.1", "--num-threads", "1"]
    assert main([*args, "--write-bundle", str(bundle)]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    report = json.loads((out / "calibration.json").read_text())
    assert (out / "calibration.md").read_text() in printed
    assert (out / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The operating point, recomputed from the Detector's own scores of the valid crops.
    valid = {
        name: sorted((root / "mix" / "valid" / cls).iterdir())
        for name, cls in (("mix_real", "real"), ("mix_fake", "fake"))
    }
    valid["other_real"] = sorted((root / "other" / "valid" / "real").iterdir())
    names = [n for n, files in valid.items() for _ in files]
    p = np.concatenate([_runtime_p_fake(tiny_bundles["fp32"], f) for f in valid.values()])
    labels = np.array([FAKE_INDEX if n == "mix_fake" else REAL_INDEX for n in names])
    temperature = fit_temperature(p, labels, balanced_source_weights(names, labels))
    assert report["temperature"] == pytest.approx(temperature, rel=1e-9)
    assert T_MIN * 1.01 < temperature < T_MAX / 1.01  # a fitted value, not a search bound
    assert report["valid"]["nll"] < report["valid"]["nll_uncalibrated"]
    real = labels == REAL_INDEX
    calibrated = apply_temperature(p[real], temperature)
    w = balanced_source_weights(np.array(names)[real], labels[real])
    assert report["threshold"] == threshold_for_fpr(calibrated, 0.1, w)
    assert report["valid"]["false_positive_rate"] <= 0.1
    assert report["valid"]["n"] == 30 and report["target_fpr"] == 0.1

    # Test rows: every source (the evaluation-only one too) at the new threshold.
    rows = {r["source"]: r for r in report["test"]["sources"]}
    assert set(rows) == {"mix_real", "mix_fake", "other_real", "eval_fake"}
    assert rows["eval_fake"]["n"] == 5 and rows["mix_real"]["n"] == SPLIT_SIZES["test"]
    test_reals = sorted((root / "other" / "test" / "real").iterdir())
    cal = apply_temperature(_runtime_p_fake(tiny_bundles["fp32"], test_reals), temperature)
    assert rows["other_real"]["false_positive_rate"] == share_called_fake(cal, report["threshold"])
    assert "recall_fake" in rows["eval_fake"] and rows["eval_fake"]["ece"] is not None
    (folder,) = report["test"]["folders"]  # only `mix` holds both classes
    assert folder["folder"] == "mix" and folder["roc_auc"] is not None
    assert 0.0 <= report["test"]["pooled"]["ece"] <= 1.0

    # The bundle: the same model, the new threshold, the temperature in its sidecar.
    written = load_bundle(bundle)
    assert written.content == load_bundle(tiny_bundles["fp32"]).content
    assert written.info.threshold == report["threshold"]
    sidecar = json.loads(sidecar_path(bundle).read_text())
    assert sidecar["calibration"] == {"temperature": report["temperature"]}

    # Nothing is overwritten unless asked; a .keras model is refused in one line.
    before = (out / "calibration.json").read_bytes()
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 2 and "--overwrite" in capsys.readouterr().err
    assert (out / "calibration.json").read_bytes() == before
    with pytest.raises(SystemExit):
        main(["calibrate", str(tmp_path / "m.keras"), *args[2:6], "--out", str(tmp_path / "k")])
    assert "convert the run first" in capsys.readouterr().err
