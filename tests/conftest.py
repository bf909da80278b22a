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
    from tests.tiny_models import write_tiny_bundles

    return write_tiny_bundles(tmp_path_factory.mktemp("tiny_bundles"))
