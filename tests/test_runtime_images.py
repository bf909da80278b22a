"""Unusual but valid images are classified; bad ones give one line naming the file and why."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from edge_runtime import Detector, DetectorOptions, ImageError, load_image, load_resized
from edge_runtime.preprocess import MAX_PIXELS
from edge_runtime.types import Detection, DetectionError, PreprocessSpec
from tests.conftest import REPO, requires_shared_data, sample_images
from tests.image_cases import (
    BAD_CASES,
    VALID_CASES,
    asymmetric_rgb,
    write_large_jpeg,
)

SPEC32 = PreprocessSpec(height=32, width=32)

_PEAK_RSS_SCRIPT = """
import resource, sys
from edge_runtime import ImageError, load_resized
from edge_runtime.types import PreprocessSpec
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
before = peak()
try:
    load_resized(sys.argv[1], PreprocessSpec(height=32, width=32))
    message = "decoded"
except ImageError as e:
    message = str(e)
print(f"{before}|{peak()}|{message}")
"""


@pytest.fixture(scope="module")
def detector(tiny_bundles):
    return Detector(DetectorOptions(model=str(tiny_bundles["fp32"]), num_threads=1))


@pytest.mark.parametrize("case", sorted(VALID_CASES))
def test_unusual_valid_image_loads_as_rgb(case, tmp_path):
    path = VALID_CASES[case](tmp_path)
    img = load_image(path)
    assert img.mode == "RGB"
    pixels = load_resized(path, SPEC32)
    assert pixels.shape == (32, 32, 3) and pixels.dtype == np.uint8
    assert pixels.std() > 0 or case == "gif_animated"  # a real picture, not a blank canvas


@pytest.mark.parametrize("case", sorted(VALID_CASES))
def test_unusual_valid_image_is_classified(case, tmp_path, detector):
    path = VALID_CASES[case](tmp_path)
    result = detector.detect(path)
    assert isinstance(result, Detection)
    assert result.path == str(path)
    assert result.label in ("fake", "real")
    assert 0.0 <= result.fake_probability <= 1.0


def test_exif_rotated_photo_is_turned_upright(tmp_path):
    upright = np.asarray(asymmetric_rgb(), dtype=np.int16)
    loaded = np.asarray(load_image(VALID_CASES["jpeg_exif_rotated"](tmp_path)), dtype=np.int16)
    assert loaded.shape == upright.shape  # 96 wide, 64 high again
    assert np.abs(loaded - upright).mean() < 6  # JPEG noise only
    # The test can tell the wrong way round from the right one.
    upside_down = upright[::-1, ::-1]
    assert np.abs(loaded - upside_down).mean() > 40


def test_alpha_becomes_white_and_16bit_is_scaled_not_clipped(tmp_path):
    rgba = np.asarray(load_image(VALID_CASES["png_alpha"](tmp_path)))
    assert (rgba[:, -10:] == 255).all()  # the transparent half reads as white
    gray16 = np.asarray(load_image(VALID_CASES["png_16bit"](tmp_path)))[..., 0]
    assert gray16[0, 0] == 0 and gray16[0, -1] == 255
    assert 100 < gray16[0, 48] < 155  # mid-ramp stays mid-grey (clipping would give 255)


def test_animated_gif_uses_its_first_frame(tmp_path):
    pixels = load_resized(VALID_CASES["gif_animated"](tmp_path), SPEC32)
    red, green, blue = pixels.reshape(-1, 3).mean(axis=0)
    assert red > 150 and green < 60 and blue < 60


def test_large_jpeg_is_decoded_in_draft_mode(tmp_path):
    path = write_large_jpeg(tmp_path)  # 6000 x 4000
    img = load_image(path, min_size=(32, 32))
    assert img.size == (750, 500)  # libjpeg decoded at 1/8 scale: 1/64 of the pixels
    decoded_mb = img.width * img.height * 3 / 1e6
    assert decoded_mb < 2  # full decode would be 72 MB
    # A 224 network input still gets at least 224 pixels a side.
    big = load_image(path, min_size=(224, 224))
    assert min(big.size) >= 224 and big.width <= 1500
    assert load_resized(path, SPEC32).shape == (32, 32, 3)


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_is_one_line_naming_file_and_reason(case, tmp_path):
    write, reason = BAD_CASES[case]
    path = write(tmp_path)
    with pytest.raises(ImageError) as err:
        load_resized(path, SPEC32)
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message
    assert reason in message.lower()


@pytest.mark.parametrize("case", ["decompression_bomb", "bomb_80mp"])
def test_decompression_bomb_is_refused_before_decoding(case, tmp_path):
    path = BAD_CASES[case][0](tmp_path)
    assert path.stat().st_size < 2_000_000  # a small file declaring a huge canvas
    width, height = struct.unpack(">II", path.read_bytes()[16:24])  # from the PNG's IHDR
    assert width * height > MAX_PIXELS
    with pytest.raises(ImageError, match="bomb"):
        load_resized(path, SPEC32)
    # Peak memory, measured in a fresh process so earlier tests' peaks cannot hide it.
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS_SCRIPT, str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    before_mb, after_mb, message = proc.stdout.strip().split("|", 2)
    assert "bomb" in message
    # Decoding would have needed 240 MB (80 MP) to 2.7 GB (900 MP) more.
    assert float(after_mb) - float(before_mb) < 30


def test_folder_given_to_loader_is_an_error(tmp_path):
    with pytest.raises(ImageError, match="is a directory"):
        load_resized(tmp_path, SPEC32)


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root reads files whatever their permissions (CI runs as root)"
)
def test_unreadable_file_is_an_error(tmp_path):
    path = tmp_path / "secret.jpg"
    asymmetric_rgb().save(path)
    path.chmod(0)
    try:
        with pytest.raises(ImageError, match="permission denied"):
            load_resized(path, SPEC32)
    finally:
        path.chmod(0o644)


def test_detect_many_goes_on_after_bad_inputs(tmp_path, detector):
    good = [VALID_CASES["bmp"](tmp_path), VALID_CASES["webp"](tmp_path)]
    bad = [BAD_CASES["zero_byte"][0](tmp_path), BAD_CASES["random_bytes"][0](tmp_path)]
    results = list(detector.detect_many([good[0], bad[0], good[1], bad[1]]))
    assert [type(r) for r in results] == [Detection, DetectionError, Detection, DetectionError]
    assert [r.path for r in results] == [str(p) for p in (good[0], bad[0], good[1], bad[1])]


def test_sources_agree_path_pil_array(tmp_path, detector):
    path = VALID_CASES["bmp"](tmp_path)
    by_path = detector.detect(path).fake_probability
    with Image.open(path) as img:
        by_pil = detector.detect(img).fake_probability
        by_array = detector.detect(np.asarray(img.convert("RGB"))).fake_probability
    assert by_path == by_pil == by_array


@requires_shared_data
def test_real_faces_classified_by_every_variant(tiny_bundles):
    faces = sample_images("test", "real", 2) + sample_images("test", "fake", 2)
    for variant, model in tiny_bundles.items():
        det = Detector(DetectorOptions(model=str(model), num_threads=2))
        probs = [det.detect(f).fake_probability for f in faces]
        assert all(0.0 <= p <= 1.0 for p in probs), variant
