"""Tiny real Keras models built by the project's own code, for fast tests (needs TensorFlow)."""

from __future__ import annotations

import numpy as np


def build_tiny_classifier(size: int = 32, seed: int = 0):
    """A small conv net with the detector's interface: named image input, 2-way softmax."""
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3), name="image")
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inp)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    out = keras.layers.Dense(2, activation="softmax", name="probabilities")(x)
    return keras.Model(inp, out, name="tiny_classifier")


def random_representative(size: int, n: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)

    def gen():
        for _ in range(n):
            yield [rng.uniform(-1, 1, (1, size, size, 3)).astype(np.float32)]

    return gen


def write_tiny_bundles(out_dir, size: int = 32) -> dict:
    """The four variants of a tiny classifier as edge_runtime bundles in out_dir."""
    from pathlib import Path

    from convert.tflite_export import keras_to_tflite
    from edge_runtime.bundle import save_bundle
    from edge_runtime.types import VARIANTS, BundleInfo, PreprocessSpec

    out_dir = Path(out_dir)
    model = build_tiny_classifier(size=size)
    paths = {}
    for variant in VARIANTS:
        content = keras_to_tflite(model, variant, random_representative(size))
        info = BundleInfo(
            variant=variant,
            preprocess=PreprocessSpec(height=size, width=size),
            training_run="tests/tiny_models.py",
        )
        paths[variant] = save_bundle(content, info, out_dir / f"tiny_{variant}.tflite").path
    return paths
