"""Issue 18 point 3: degrade both classes alike; point 2: no one source dominates its class."""

from __future__ import annotations

import numpy as np
from PIL import Image

from edge_runtime.types import FAKE_INDEX, REAL_INDEX, PreprocessSpec
from train.augment import DEGRADE, augment_image, degrade
from train.sources import sample_weights
from workbench.evaluation import Sample


def _photo() -> Image.Image:
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8))


def test_degrade_is_seeded_and_keeps_size_and_mode():
    img = _photo()
    a = degrade(img, np.random.default_rng(7))
    b = degrade(img, np.random.default_rng(7))
    assert a.size == img.size and a.mode == "RGB"
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_degrade_applies_each_step_at_its_rate():
    img = _photo()
    rng = np.random.default_rng(0)
    changed = np.mean(
        [not np.array_equal(np.asarray(degrade(img, rng)), np.asarray(img)) for _ in range(300)]
    )
    untouched = np.prod([1 - p for p in DEGRADE.values()])
    assert abs(changed - (1 - untouched)) < 0.08


def test_degrade_reaches_the_network_input():
    spec = PreprocessSpec(height=32, width=32)
    out = augment_image(_photo(), spec, ["degrade"], np.random.default_rng(3))
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8


def test_balance_source_gives_every_source_the_same_share_of_its_class():
    samples = [Sample(f"a{i}", REAL_INDEX) for i in range(30)]
    samples += [Sample(f"b{i}", REAL_INDEX) for i in range(10)]
    samples += [Sample(f"f{i}", FAKE_INDEX) for i in range(20)]
    source_of = {s.path: s.path[0] for s in samples}
    w = sample_weights(samples, "source", source_of)
    labels = np.array([s.label for s in samples])
    a = w[:30].sum()
    b = w[30:40].sum()
    assert np.isclose(a, b)
    assert np.isclose(w[labels == REAL_INDEX].sum(), w[labels == FAKE_INDEX].sum())
    assert np.isclose(w.sum(), len(samples))
