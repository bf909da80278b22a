"""Sources as data (train/sources.py) and the shortcut control (train/harmonize.py); no TF."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_runtime.types import FAKE_INDEX, REAL_INDEX, PreprocessSpec
from tests.conftest import SHARED_DATA, requires_shared_data
from train.errors import ConfigError, DataError
from train.harmonize import Harmonize, file_rng, harmonized_loader, training_loader
from train.sources import (
    build_mix,
    check_source_weights,
    check_trainable,
    class_weights,
    hash_split,
    load_sources,
    resolve_hold_out,
    sample_weights,
)
from workbench.evaluation import Sample

FRACTIONS = {"train": 0.8, "valid": 0.1, "test": 0.1}


def test_hash_split_never_moves():
    # Fixed by the file name and the salt alone: these values are what the shipped list made.
    names = [f"img_{i}.jpg" for i in range(2000)]
    first = [hash_split(n, "salt", FRACTIONS) for n in names]
    assert first == [hash_split(n, "salt", FRACTIONS) for n in reversed(names)][::-1]
    # Another file list (files added and removed) moves none of the others.
    subset = names[::3] + ["new_file.jpg"]
    again = dict(zip(subset, (hash_split(n, "salt", FRACTIONS) for n in subset)))
    assert all(again[n] == s for n, s in zip(names, first) if n in again)
    shares = {s: first.count(s) / len(first) for s in FRACTIONS}
    assert abs(shares["train"] - 0.8) < 0.04 and abs(shares["test"] - 0.1) < 0.03


def test_hash_split_golden():
    # Recorded values: a change of the hash rule would silently move every split.
    got = [hash_split(f"face_{i}.jpg", "edge-detect-sources-v1", FRACTIONS) for i in range(8)]
    assert got == GOLDEN


GOLDEN = [
    "test",
    "train",
    "train",
    "train",
    "valid",
    "train",
    "train",
    "train",
]  # recorded 2026-11-29


def test_shipped_sources_file_marks_the_evaluation_sets():
    sources = load_sources()
    evaluation = {s.folder for s in sources.sources if s.evaluation_only}
    assert evaluation == {"ciplab_real_and_fake", "lfw_faceswap"}
    assert {"stylegan1", "stylegan2", "sd21", "real"} <= set(sources.families())


def test_bad_sources_file_is_one_line(tmp_path):
    bad = tmp_path / "s.json"
    bad.write_text(
        json.dumps(
            {
                "split_salt": "x",
                "split_fractions": FRACTIONS,
                "sources": [
                    {
                        "name": "a",
                        "folder": "f",
                        "class": "maybe",
                        "splits": "hash",
                        "family": "real",
                    }
                ],
            }
        )
    )
    with pytest.raises(ConfigError, match="class must be real or fake"):
        load_sources(bad)
    bad.write_text(
        json.dumps(
            {
                "split_salt": "x",
                "split_fractions": FRACTIONS,
                "sources": [
                    {"name": "a", "folder": "f", "class": "fake", "splits": "all", "family": "x"}
                ],
            }
        )
    )
    with pytest.raises(ConfigError, match="evaluation only"):
        load_sources(bad)


def test_hold_out_by_name_or_family():
    sources = load_sources()
    assert resolve_hold_out(sources, ["stylegan2"]) == {
        "tpdne128_fake",
        "tpdne300_fake",
        "tpdne256_fake",
    }
    assert resolve_hold_out(sources, ["sd21_fake"]) == {"sd21_fake"}
    with pytest.raises(ConfigError, match="neither a source"):
        resolve_hold_out(sources, ["stylegan9"])
    with pytest.raises(ConfigError, match="no real photographs"):
        resolve_hold_out(sources, ["real"])


@requires_shared_data
def test_mix_keeps_evaluation_sets_and_hold_outs_out_of_training():
    sources = load_sources()
    mix = build_mix(sources, SHARED_DATA, hold_out=["stylegan2"], limit=20, seed=1)
    trained = {mix.source_of[s.path] for n in ("train", "valid") for s in mix.splits[n].samples}
    assert not trained & {"ciplab_real", "ciplab_fake", "lfw_faceswap_fake"}
    assert "lfw_real" in trained  # by hash split since issue 18; its fakes stay evaluation-only
    assert not trained & {"tpdne128_fake", "tpdne300_fake", "tpdne256_fake"}
    rows = {r["name"]: r for r in mix.rows}
    assert rows["tpdne256_fake"]["role"] == "held out"
    assert rows["tpdne256_fake"]["used"]["train"] == 0 and rows["tpdne256_fake"]["used"]["test"]
    assert rows["ciplab_fake"]["role"] == "evaluation only"
    # the held-out family is still in the pooled test split and in its own test list
    assert {"tpdne256_fake", "ciplab_fake"} <= set(mix.per_source_test)
    tested = {mix.source_of[s.path] for s in mix.splits["test"].samples}
    assert "tpdne256_fake" in tested and "ciplab_fake" not in tested


@requires_shared_data
def test_evaluation_only_files_cannot_train():
    sources = load_sources()
    ciplab = sorted((SHARED_DATA / "ciplab_real_and_fake" / "fake").glob("*.jpg"))[0]
    with pytest.raises(DataError, match="evaluation-only"):
        check_trainable([Sample(str(ciplab), FAKE_INDEX)], sources, SHARED_DATA)
    # a sources file that forgets the mark on a training entry cannot smuggle it in either:
    # the shipped marks are checked against every training list of `train fit`.
    fine = sorted((SHARED_DATA / "sd21_faces" / "fake").glob("*.jpg"))[0]
    check_trainable([Sample(str(fine), FAKE_INDEX)], sources, SHARED_DATA)


@requires_shared_data
def test_split_of_a_real_source_is_stable_and_disjoint():
    sources = load_sources()
    a = build_mix(sources, SHARED_DATA)
    b = build_mix(sources, SHARED_DATA, hold_out=["sd21"])
    for split in ("test",):
        assert [s.path for s in a.splits[split].samples] == [
            s.path for s in b.splits[split].samples
        ]
    paths = {n: {s.path for s in a.splits[n].samples} for n in ("train", "valid", "test")}
    assert not paths["train"] & paths["valid"] and not paths["train"] & paths["test"]


def test_class_weights_balance_the_loss():
    samples = [Sample(f"r{i}", REAL_INDEX) for i in range(30)] + [
        Sample(f"f{i}", FAKE_INDEX) for i in range(10)
    ]
    w = class_weights(samples)
    assert w[FAKE_INDEX] == pytest.approx(2.0) and w[REAL_INDEX] == pytest.approx(40 / 60)
    per_file = sample_weights(samples, "class")
    labels = np.array([s.label for s in samples])
    # each class carries exactly half of the total weight
    assert per_file[labels == FAKE_INDEX].sum() == pytest.approx(per_file.sum() / 2)
    assert sample_weights(samples, "none") is None
    with pytest.raises(DataError, match="no fake training images"):
        class_weights(samples[:30])


def test_source_weights_scale_a_source_within_its_class():
    samples = [Sample(f"a{i}", REAL_INDEX) for i in range(10)]
    samples += [Sample(f"b{i}", REAL_INDEX) for i in range(10)]
    samples += [Sample(f"c{i}", FAKE_INDEX) for i in range(5)]
    source_of = {s.path: s.path[0] for s in samples}
    w = sample_weights(samples, "class", source_of, {"a": 3.0})
    labels = np.array([s.label for s in samples])
    # the classes still carry half the loss each; inside "real", a weighs 3x b
    assert w[labels == REAL_INDEX].sum() == pytest.approx(w.sum() / 2)
    assert w[0] == pytest.approx(3 * w[10])
    # without balance the multipliers alone; a source not named keeps 1
    raw = sample_weights(samples, "none", source_of, {"a": 3.0})
    assert raw[0] == 3.0 and raw[10] == 1.0 and raw[20] == 1.0
    assert np.allclose(
        sample_weights(samples, "class", source_of, {}), sample_weights(samples, "class")
    )


def test_source_weights_name_trainable_sources_only():
    sources = load_sources()
    check_source_weights(sources, {"faces140k_real": 2.0})
    with pytest.raises(ConfigError, match="ciplab_real"):
        check_source_weights(sources, {"ciplab_real": 2.0})


def _jpeg_file(path: Path, size: int, quality: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=quality)
    return path


def test_both_classes_go_through_the_identical_reencoding(tmp_path, monkeypatch):
    """The property the shortcut check relies on: one loader, draws independent of the label."""
    import train.harmonize as hz

    calls: list[tuple[str, int, int]] = []
    real_encode = hz.encode_jpeg

    def spy(img, quality):
        calls.append((img.size[0], quality))
        return real_encode(img, quality)

    monkeypatch.setattr(hz, "encode_jpeg", spy)
    h = Harmonize(size=64, quality=(60, 95), scale=(0.75, 1.5))
    spec = PreprocessSpec(height=32, width=32)
    (tmp_path / "real").mkdir()
    (tmp_path / "fake").mkdir()
    # real: big PNG-like q100 files; fake: small q50 files (a format cue by class)
    reals = [_jpeg_file(tmp_path / "real" / f"{i}.jpg", 128, 100, i) for i in range(20)]
    fakes = [_jpeg_file(tmp_path / "fake" / f"{i + 20}.jpg", 48, 50, i) for i in range(20)]
    load = training_loader(h, spec, seed=3, epoch=0)
    out = {p: load(str(p), np.random.default_rng(0)) for p in reals + fakes}
    assert len(calls) == 40  # every file of both classes re-encoded exactly once
    assert {c[0] for c in calls} <= set(range(48, 97))  # from the common size x scale
    q_real = [q for (_, q), p in zip(calls, reals + fakes) if p in reals]
    q_fake = [q for (_, q), p in zip(calls, reals + fakes) if p in fakes]
    assert min(q_real + q_fake) >= 60 and max(q_real + q_fake) <= 95
    assert all(v.shape == (32, 32, 3) for v in out.values())
    # The draw depends on the file name and seed only: the same file under the other class
    # folder gets the same re-encoding, bit for bit.
    moved = tmp_path / "real" / fakes[0].name
    moved.write_bytes(fakes[0].read_bytes())
    assert np.array_equal(load(str(moved), np.random.default_rng(0)), out[fakes[0]])
    # the fixed (cacheable) loader of decoded/cached training is the same path
    fixed = harmonized_loader(h, spec, seed=3)
    assert np.array_equal(fixed(str(fakes[0])), out[fakes[0]])


def test_harmonize_removes_the_resolution_cue(tmp_path):
    from train.harmonize import harmonized_bytes

    h = Harmonize(size=64, quality=(70, 70), scale=(1.0, 1.0))
    for size in (128, 300):
        img = Image.open(_jpeg_file(tmp_path / f"{size}.jpg", size, 95, 0))
        out = Image.open(io.BytesIO(harmonized_bytes(img, h, file_rng("a.jpg", 0))))
        assert out.size == (64, 64)


def test_jpeg_quality_estimate(tmp_path):
    from train.shortcuts import jpeg_quality

    for q in (60, 75, 90, 95):
        img = Image.open(_jpeg_file(tmp_path / f"{q}.jpg", 64, q, 0))
        assert jpeg_quality(img) == q
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    assert jpeg_quality(Image.open(tmp_path / "a.png")) == 101  # not a JPEG


def test_shortcut_check_sees_a_format_cue_and_the_pipeline_removes_it(tmp_path):
    """Generated sources whose classes differ only in format (size, quality): the format-only
    classifier reads the label before the pipeline and cannot after it."""
    from train.shortcuts import shortcut_check

    for cls, size, quality in (("real", 120, 95), ("fake", 64, 50)):
        d = tmp_path / "set" / cls
        d.mkdir(parents=True)
        for i in range(60):
            _jpeg_file(d / f"{cls}_{i}.jpg", size, quality, i)  # same content distribution
    spec = {
        "split_salt": "t",
        "split_fractions": {"train": 0.6, "valid": 0.1, "test": 0.3},
        "sources": [
            {"name": f"s_{c}", "folder": "set", "class": c, "splits": "hash", "family": f}
            for c, f in (("real", "real"), ("fake", "gan"))
        ],
    }
    (tmp_path / "sources.json").write_text(json.dumps(spec))
    h = Harmonize(size=64, quality=(60, 95), scale=(0.75, 1.5))
    result = shortcut_check(str(tmp_path / "sources.json"), str(tmp_path), h, None, 0)
    assert result["before"]["accuracy"] > 0.95
    assert result["after"]["size_and_quality"] < 0.75


@requires_shared_data
def test_stability_rows_on_a_tiny_bundle(tiny_bundles, tmp_path):
    """Eight transforms, each with n, mean |dP| in [0, 1] and a flipped share; an identical
    re-encoding would give 0 (here q95 changes the pixels a little, q70 more)."""
    from train.shortcuts import STABILITY_TRANSFORMS, stability

    result = stability(str(tiny_bundles["fp32"]), [str(SHARED_DATA / "faces140k_sample")], limit=3)
    assert [r["transform"] for r in result["rows"]] == [t[0] for t in STABILITY_TRANSFORMS]
    for r in result["rows"]:
        assert r["n"] == 6
        assert 0.0 <= r["mean_abs_dp"] <= r["max_abs_dp"] <= 1.0
        assert 0.0 <= r["flipped_share"] <= 1.0
    assert result["rows"][0]["max_abs_dp"] > 0  # the transforms really change the input


def test_native_size_keeps_each_images_own_square(tmp_path):
    # harmonize_size -1: the centred square keeps its own side; only the random rescale and the
    # re-encoding change it, identically for either class.
    from train.harmonize import NATIVE_SIZE, harmonized_bytes

    img = Image.open(_jpeg_file(tmp_path / "a.jpg", 120, 90, seed=1)).crop((0, 0, 120, 90))
    fixed = Harmonize(NATIVE_SIZE, quality=(90, 90), scale=(1.0, 1.0))
    out = Image.open(io.BytesIO(harmonized_bytes(img, fixed, file_rng("a.jpg", 0))))
    assert out.size == (90, 90)
    half = Harmonize(NATIVE_SIZE, quality=(90, 90), scale=(0.5, 0.5))
    out = Image.open(io.BytesIO(harmonized_bytes(img, half, file_rng("a.jpg", 0))))
    assert out.size == (45, 45)
    assert Harmonize(NATIVE_SIZE).on and not Harmonize(0).on
