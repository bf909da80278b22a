"""Training input pipeline = edge_runtime's preprocessing; model building; optimizer; weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_runtime.preprocess import load_image, preprocess, resize
from edge_runtime.types import PreprocessSpec
from tests.conftest import SHARED_DATA, requires_shared_data, requires_tensorflow
from train.config import TrainConfig
from train.data import Sample, SplitFiles, decode_files

pytestmark = [requires_tensorflow, requires_shared_data]

SPECS = [
    PreprocessSpec(height=64, width=64),  # the report's squash-resize, small
    PreprocessSpec(height=48, width=48, resize="bicubic", crop="center", crop_fraction=0.8),
    PreprocessSpec(height=40, width=40, resize="area", mean=100.0, std=50.0),
]


def _files() -> SplitFiles:
    """Real images of every shared set: 256x256 faces, 250x250 LFW, Photoshop composites."""
    picks = []
    for folder, label in (
        ("faces140k_sample/test/real", 1),
        ("faces140k_sample/test/fake", 0),
        ("ciplab_real_and_fake/fake", 0),
        ("lfw_faceswap/real", 1),
        ("sd21_faces/fake", 0),
    ):
        picks += [Sample(str(p), label) for p in sorted((SHARED_DATA / folder).glob("*.jpg"))[:2]]
    return SplitFiles("mixed", picks)


def _batches(ds) -> np.ndarray:
    return np.concatenate([x.numpy() for x, *_ in ds])


@pytest.mark.parametrize("spec", SPECS, ids=["squash64", "centercrop48", "area40-meanstd"])
def test_training_pipeline_equals_runtime_preprocessing(spec):
    """Both tf.data paths (decoded in RAM, streamed from files) give edge_runtime's tensor."""
    from train.pipeline import FailedFiles, array_dataset, file_dataset, one_hot

    files = _files()
    expected = np.stack([preprocess(s.path, spec) for s in files.samples])
    dec = decode_files(files, spec)
    in_memory = _batches(array_dataset(dec.images, one_hot(dec.labels), 4, False, 0, spec=spec))
    streamed = _batches(file_dataset(files, spec, 4, False, 0, FailedFiles()))
    for got in (in_memory, streamed):
        assert got.shape == expected.shape and got.dtype == np.float32
        assert np.abs(got - expected).max() <= 1 / 255


def test_shuffled_batches_keep_labels_with_images():
    from train.pipeline import array_dataset, one_hot

    spec = SPECS[0]
    dec = decode_files(_files(), spec)
    ds = array_dataset(dec.images, one_hot(dec.labels), 3, True, 7, spec=spec)
    seen = {}
    for x, y in ds:
        for xi, yi in zip(x.numpy(), y.numpy()):
            seen[round(float(xi.sum()), 2)] = int(yi.argmax())
    truth = {
        round(float(((img.astype(np.float32) - 127.5) / 127.5).sum()), 2): int(lab)
        for img, lab in zip(dec.images, dec.labels)
    }
    assert seen == truth


def test_augmentation_stays_on_runtime_definition():
    from train.augment import augment_image, augmented_loader

    spec = PreprocessSpec(height=64, width=64)
    path = str(min((SHARED_DATA / "faces140k_sample/test/real").glob("*.jpg")))
    plain = resize(load_image(path), spec)
    # crop with fraction 1.0 on a square image is the whole image; flip mirrors it or not.
    rng = np.random.default_rng(0)
    flips = [augment_image(load_image(path), spec, ("flip", "crop"), rng, 1.0) for _ in range(8)]
    for f in flips:
        assert np.array_equal(f, plain) or np.array_equal(f, plain[:, ::-1])
    assert any(np.array_equal(f, plain[:, ::-1]) for f in flips)
    load = augmented_loader(spec, ("flip", "crop", "jpeg", "blur", "color"))
    outs = [load(path, np.random.default_rng(s)) for s in range(4)]
    assert all(o.shape == (64, 64, 3) and o.dtype == np.uint8 for o in outs)
    assert np.array_equal(load(path, np.random.default_rng(3)), outs[3])  # seeded
    assert not all(np.array_equal(outs[0], o) for o in outs[1:])


def _tiny_cfg(**kw) -> TrainConfig:
    base = {"weights": "none", "alpha": 0.25, "image_size": 32, "learning_rate": 1e-2}
    return TrainConfig(**{**base, **kw}).validate()


def test_model_interface_and_trainable_layers():
    import keras

    from train.model import build_model, cache_split

    built = build_model(_tiny_cfg())
    m = built.model
    assert m.input.name == "image" and m.layers[-1].name == "probabilities"
    assert [layer.name for layer in built.trainable_base_layers][-1] == "conv_pw_13_relu"
    assert len(built.trainable_base_layers) == 10
    assert all(not layer.trainable for layer in built.base_layers[:-10])
    split = cache_split(m)
    assert split.cut_layer == "conv_dw_12_relu"  # the first layer with weights to train follows it
    x = np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(split.tail(split.prefix(x)), m(x), atol=1e-6)
    head_only = build_model(_tiny_cfg(trainable_layers=0, dropout=0.3))
    assert not any(layer.trainable_weights for layer in head_only.base_layers)
    assert cache_split(head_only.model) is not None
    assert isinstance(head_only.model.get_layer("dropout"), keras.layers.Dropout)
    # Dropout is random, so the cache stops before it.
    assert cache_split(head_only.model).cut_layer == "global_average_pooling"
    assert cache_split(build_model(_tiny_cfg(trainable_layers=-1)).model) is None


def test_base_learning_rate_multiplier_zero_freezes_base():
    from train.model import build_model, compile_model

    cfg = _tiny_cfg(base_learning_rate_multiplier=0.0)
    built = build_model(cfg)
    compile_model(built.model, cfg, built)
    base_before = [
        w.numpy().copy() for layer in built.trainable_base_layers for w in layer.trainable_weights
    ]
    head = built.model.get_layer("probabilities")
    head_before = head.kernel.numpy().copy()
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 8)]
    built.model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    base_after = [
        w.numpy() for layer in built.trainable_base_layers for w in layer.trainable_weights
    ]
    assert all(np.array_equal(a, b) for a, b in zip(base_before, base_after))
    assert not np.array_equal(head_before, head.kernel.numpy())


def test_densenet_builds_and_caches_at_a_block_boundary():
    from train.model import build_model, cache_split, last_conv_layer

    built = build_model(_tiny_cfg(arch="densenet121", trainable_layers=20))
    split = cache_split(built.model)
    # Inside a dense block concatenations cross any cut; the cache moves to a single tensor.
    assert split is not None and split.cut_layer.endswith("concat")
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(split.tail(split.prefix(x)), built.model(x), atol=1e-5)
    assert last_conv_layer(built.model) == "relu"


@pytest.mark.parametrize("arch,alpha", [("densenet121", 1.0), ("mobilenet", 0.25)])
def test_imagenet_weights_offline_is_one_clear_line(arch, alpha, monkeypatch, tmp_path):
    """No cached file and no shared copy: one line pointing at the weights README."""
    from keras.src.utils import file_utils

    from train.errors import WeightsError
    from train.model import build_model

    class FetchError(Exception):  # keras.utils.get_file raises a plain Exception subclass
        pass

    def offline(*args, **kwargs):
        raise FetchError(
            "URL fetch failure on https://example/x.h5: "
            "None -- [Errno -2] Name or service not known"
        )

    monkeypatch.setattr(file_utils, "get_file", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("EDGE_DETECT_SHARED_WEIGHTS", str(tmp_path / "no_shared"))
    with pytest.raises(WeightsError) as e:
        build_model(_tiny_cfg(arch=arch, alpha=alpha, weights="imagenet"))
    msg = str(e.value)
    assert "\n" not in msg and "README.md" in msg and "--weights none" in msg
    assert "Name or service not known" in msg


def test_imagenet_weights_copied_from_shared(monkeypatch, tmp_path):
    from train.weights import ensure_imagenet_weights, shared_weights_dir

    if not (shared_weights_dir() / "mobilenet_1_0_224_tf_no_top.h5").is_file():
        pytest.skip(f"no MobileNet weights in {shared_weights_dir()}")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    got = ensure_imagenet_weights("mobilenet", 1.0, 224)
    assert got == Path(tmp_path / "keras" / "models" / "mobilenet_1_0_224_tf_no_top.h5")
    assert got.stat().st_size == (shared_weights_dir() / got.name).stat().st_size
