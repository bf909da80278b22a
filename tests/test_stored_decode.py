"""The face stage's JPEG path (simplejpeg, orientation applied per crop) gives exactly the pixels
of the plain path (Pillow decode, ImageOps.exif_transpose, crop), at every draft scale and
for all eight EXIF orientations."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from edge_runtime import preprocess
from edge_runtime.preprocess import EncodedImage, StoredImage, load_image, load_image_scaled

simplejpeg = pytest.importorskip("simplejpeg", reason="needs simplejpeg (a runtime dependency)")


def _photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth colour fields with sharp edges: every IDCT and upsampling detail shows."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
    a = np.asarray(img).copy()
    a[::37] = 255 - a[::37]  # hard lines
    return Image.fromarray(a)


def _jpeg(img: Image.Image, orientation: int = 1, **kw) -> bytes:
    buf = io.BytesIO()
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    img.save(buf, "JPEG", quality=90, exif=exif, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("short_side", [900, 450, 200, 100])  # scales 1, 1/2, 1/4, 1/8
def test_same_pixels_as_pillow_at_every_draft_scale(tmp_path, short_side):
    path = tmp_path / "p.jpg"
    path.write_bytes(_jpeg(_photo(1216, 912)))
    fast, scale = load_image_scaled(path, short_side, upright=False)
    assert isinstance(fast, StoredImage)
    plain = load_image(path, min_size=(short_side, short_side))
    assert fast.size == plain.size and scale == pytest.approx(1216 / plain.size[0], rel=0.01)
    np.testing.assert_array_equal(np.asarray(fast.upright()), np.asarray(plain))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_crops_of_a_turned_photo_match_the_turned_photo(orientation):
    data = _jpeg(_photo(320, 208, seed=orientation), orientation)
    plain = load_image(EncodedImage(data))
    fast, _ = load_image_scaled(EncodedImage(data), 1000, upright=False)
    assert isinstance(fast, StoredImage) and fast.size == plain.size
    w, h = plain.size
    for box in [(0, 0, w, h), (5, 7, 61, 90), (w - 40, h - 33, w, h), (17, 0, 18, h)]:
        np.testing.assert_array_equal(np.asarray(fast.crop(box)), np.asarray(plain.crop(box)))


@pytest.mark.parametrize(
    "kind", ["grey", "cmyk", "progressive_444", "truncated", "png"], ids=lambda k: k
)
def test_other_files_take_the_plain_path_with_the_same_result(tmp_path, kind):
    img = _photo(256, 192, seed=3)
    path = tmp_path / ("p.png" if kind == "png" else "p.jpg")
    if kind == "grey":
        path.write_bytes(_jpeg(img.convert("L")))
    elif kind == "cmyk":
        img.convert("CMYK").save(path, "JPEG")
    elif kind == "progressive_444":
        path.write_bytes(_jpeg(img, progressive=True, subsampling=0))
    elif kind == "truncated":
        path.write_bytes(_jpeg(img)[:-400])
    else:
        img.save(path)
    try:
        plain = load_image(path, min_size=(100, 100))
    except preprocess.ImageError as e:
        with pytest.raises(preprocess.ImageError) as fast_error:
            load_image_scaled(path, 100, upright=False)
        assert str(fast_error.value) == str(e)  # Pillow's own words for a broken file
        return
    fast, _ = load_image_scaled(path, 100, upright=False)
    got = fast.upright() if isinstance(fast, StoredImage) else fast
    np.testing.assert_array_equal(np.asarray(got), np.asarray(plain))
