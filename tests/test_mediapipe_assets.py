"""Opt-in: MediaPipe Tasks' ImageClassifier on the committed Android assets vs edge_runtime.

MediaPipe is given only the asset and the image file. Skips unless a Python with mediapipe is
found (convert/mediapipe_check.py: $EDGE_DETECT_MEDIAPIPE_PYTHON or .venv-mediapipe) and the
shared test faces are present. The full comparison is `python -m convert.mediapipe_check`.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO, requires_shared_data, sample_images

ASSETS = REPO / "android_demo_assets"


def _python():
    from convert.mediapipe_check import find_mediapipe_python

    return find_mediapipe_python()


pytestmark = [
    requires_shared_data,
    pytest.mark.skipif(
        _python() is None,
        reason="needs a Python with mediapipe: python3 -m venv .venv-mediapipe && "
        ".venv-mediapipe/bin/pip install mediapipe (or EDGE_DETECT_MEDIAPIPE_PYTHON)",
    ),
]


def _assets():
    provenance = json.loads((ASSETS / "assets.json").read_text())
    return [(ASSETS / e["asset"], REPO / e["source_bundle"]) for e in provenance.values()]


def test_mediapipe_gives_the_runtime_answers_on_the_same_pixels(tmp_path):
    """Lossless copies of test faces: same pixels in both, so the answers must match."""
    from convert.mediapipe_check import compare_asset, lossless_copies

    faces = sample_images("test", "real", 3) + sample_images("test", "fake", 3)
    pngs = lossless_copies([str(f) for f in faces], tmp_path)
    for asset, bundle in _assets():
        row = compare_asset(asset, bundle, pngs, _python())
        assert row["label_agreement"] == 1.0, row
        assert row["max_abs_dp"] < 1e-5, row


def test_mediapipe_on_jpeg_faces_within_int8_noise():
    """JPEGs: MediaPipe decodes them with its own decoder, not Pillow's; what is left is the
    decoder's pixel noise, under the PTQ int8's own deviation from Keras (max |dP| 0.26)."""
    from convert.mediapipe_check import compare_asset

    faces = [str(p) for p in sample_images("test", "real", 8) + sample_images("test", "fake", 8)]
    for asset, bundle in _assets():
        row = compare_asset(asset, bundle, faces, _python())
        assert row["max_abs_dp"] < 0.2, row
        assert row["label_agreement"] >= 14 / 16, row
