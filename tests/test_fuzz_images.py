"""Mutated image bytes give a clean ImageError or a result, never another exception."""

from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_runtime import Detector, DetectorOptions, ImageError, load_resized
from edge_runtime.types import Detection, PreprocessSpec
from tests.image_cases import asymmetric_rgb, real_jpeg_bytes

SPEC = PreprocessSpec(height=32, width=32)


def _encoded(fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    asymmetric_rgb(64, 48).save(buf, fmt, **kw)
    return buf.getvalue()


SEEDS = {
    "jpeg": real_jpeg_bytes(),  # a real face when ../shared/data is there
    "png": _encoded("PNG"),
    "gif": _encoded("GIF"),
    "webp": _encoded("WEBP", quality=80),
    "bmp": _encoded("BMP"),
}


@st.composite
def mutated_images(draw):
    fmt = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[fmt])
    # Headers matter most: bias half the edits into the first 512 bytes.
    n_edits = draw(st.integers(0, 8))
    for _ in range(n_edits):
        limit = len(data) - 1 if draw(st.booleans()) else min(511, len(data) - 1)
        pos = draw(st.integers(0, max(limit, 0)))
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete"]))
        value = draw(st.integers(0, 255))
        if kind == "flip" and data:
            data[pos] ^= 1 << (value % 8)
        elif kind == "set" and data:
            data[pos] = value
        elif kind == "insert":
            data[pos:pos] = bytes([value]) * draw(st.integers(1, 16))
        elif kind == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 16))]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return fmt, bytes(data)


def _write(folder: str, fmt: str, data: bytes) -> Path:
    path = Path(folder) / f"fuzz.{fmt}"
    path.write_bytes(data)
    return path


FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,  # the same cases on every run, so CI failures reproduce
)


@FUZZ
@given(mutated_images())
def test_loader_never_raises_anything_but_image_error(case):
    fmt, data = case
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = _write(folder, fmt, data)
        try:
            pixels = load_resized(path, SPEC)
        except ImageError as e:
            message = str(e)
            assert str(path) in message and "\n" not in message
        else:
            assert pixels.shape == (32, 32, 3) and pixels.dtype == np.uint8


@pytest.fixture(scope="module")
def detector(tiny_bundles):
    return Detector(DetectorOptions(model=str(tiny_bundles["int8"]), num_threads=1))


@settings(FUZZ, max_examples=40)
@given(case=mutated_images())
def test_detector_gives_result_or_image_error(detector, case):
    fmt, data = case
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = _write(folder, fmt, data)
        try:
            result = detector.detect(path)
        except ImageError:
            return
        assert isinstance(result, Detection) and 0.0 <= result.fake_probability <= 1.0
