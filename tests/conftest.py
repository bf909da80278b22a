"""Shared fixtures: the ../shared data location and tiny real models built by our own code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("EDGE_DETECT_SHARED_DATA", REPO.parent / "shared" / "data"))
FACES = SHARED_DATA / "faces140k_sample"


def have_shared_data() -> bool:
    return FACES.is_dir()


requires_shared_data = pytest.mark.skipif(
    not have_shared_data(),
    reason=f"needs the labelled face images at {SHARED_DATA} (../shared/data beside the checkout)",
)


def have_tensorflow() -> bool:
    # find_spec, not import: importing TensorFlow costs seconds in every test session.
    import importlib.util

    return importlib.util.find_spec("tensorflow") is not None


requires_tensorflow = pytest.mark.skipif(
    not have_tensorflow(), reason="needs TensorFlow (pip install '.[train]')"
)


def sample_images(split: str = "test", label: str = "real", n: int = 4) -> list[Path]:
    return sorted((FACES / split / label).glob("*.jpg"))[:n]


@pytest.fixture(scope="session")
def tiny_bundles(tmp_path_factory) -> dict[str, Path]:
    """The four variants of a tiny real Keras classifier, as bundles edge_runtime loads."""
    if not have_tensorflow():
        pytest.skip("needs TensorFlow to build the tiny test models (pip install '.[train]')")
    from convert.tflite_export import keras_to_tflite
    from edge_runtime.bundle import save_bundle
    from edge_runtime.types import VARIANTS, BundleInfo, PreprocessSpec
    from tests.tiny_models import build_tiny_classifier, random_representative

    out = tmp_path_factory.mktemp("tiny_bundles")
    model = build_tiny_classifier(size=32)
    paths = {}
    for variant in VARIANTS:
        content = keras_to_tflite(model, variant, random_representative(32))
        info = BundleInfo(
            variant=variant,
            preprocess=PreprocessSpec(height=32, width=32),
            training_run="tests/tiny_models.py",
        )
        paths[variant] = save_bundle(content, info, out / f"tiny_{variant}.tflite").path
    return paths
