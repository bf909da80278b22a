"""Shared fixtures: the ../shared data location and tiny real models built by our own code."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.evaluation import default_sample_dir, shared_data_dir

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = shared_data_dir()  # ../shared/data, or $EDGE_DETECT_SHARED_DATA
FACES = default_sample_dir()  # the one definition of the faces140k_sample default


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


def _copy_fixtures(names, out_dir: Path) -> dict[str, Path]:
    """Committed tiny fixtures (tests/fixtures/tiny) copied with their sidecars, so no test can
    change the committed files."""
    import shutil

    from edge_runtime.bundle import sidecar_path
    from tests.tiny_models import fixture_paths

    paths = {}
    for name in names:
        src = fixture_paths()[name]
        paths[name] = Path(shutil.copy(src, out_dir / src.name))
        shutil.copy(sidecar_path(src), sidecar_path(paths[name]))
    return paths


@pytest.fixture(scope="session")
def tiny_bundles(tmp_path_factory) -> dict[str, Path]:
    """The four variants of a tiny real Keras classifier, as bundles edge_runtime loads.

    Committed in tests/fixtures/tiny (made by tests/tiny_models.py; a test checks they are
    current), so runtime-only installs run every test that uses them, no TensorFlow needed.
    """
    from edge_runtime.types import VARIANTS

    return _copy_fixtures(VARIANTS, tmp_path_factory.mktemp("tiny_bundles"))


@pytest.fixture(scope="session")
def tiny_output_models(tmp_path_factory) -> dict[str, Path]:
    """The tiny classifier with other output kinds, each declared in its sidecar: "logits" (two
    raw scores, no softmax) and "sigmoid" (one value, P(real))."""
    return _copy_fixtures(("logits", "sigmoid"), tmp_path_factory.mktemp("tiny_output_models"))
