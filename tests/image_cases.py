"""Generated image files for the runtime and CLI tests: unusual-but-valid ones and bad ones.

Every writer takes a folder and returns the path it wrote; nothing here touches ../shared/data.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import have_shared_data, sample_images


def asymmetric_rgb(width: int = 96, height: int = 64, seed: int = 0) -> Image.Image:
    """A smooth gradient with a red block in the top-left corner: any rotation or mirror shows."""
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(seed)
    pixels = np.stack(
        [x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), np.full_like(x, 96)], axis=-1
    ).astype(np.int16)
    pixels += rng.integers(-4, 5, pixels.shape, dtype=np.int16)
    pixels[: height // 3, : width // 3] = (230, 20, 20)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def real_jpeg_bytes() -> bytes:
    """A real face from ../shared/data when present, else a generated 256x256 JPEG."""
    if have_shared_data():
        faces = sample_images("test", "real", 1)
        if faces:
            return faces[0].read_bytes()
    buf = io.BytesIO()
    asymmetric_rgb(256, 256).save(buf, "JPEG", quality=90)
    return buf.getvalue()


# ---- unusual but valid -------------------------------------------------------------------------


def _png_rgba(d: Path) -> Path:
    img = asymmetric_rgb().convert("RGBA")
    alpha = np.full((img.height, img.width), 255, np.uint8)
    alpha[:, img.width // 2 :] = 0  # right half fully transparent
    img.putalpha(Image.fromarray(alpha, "L"))
    p = d / "alpha.png"
    img.save(p)
    return p


def _png_palette(d: Path) -> Path:
    img = asymmetric_rgb().convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    img.info["transparency"] = 0
    p = d / "palette.png"
    img.save(p, transparency=0)
    return p


def _jpeg_grayscale(d: Path) -> Path:
    p = d / "gray.jpg"
    asymmetric_rgb().convert("L").save(p, quality=90)
    return p


def _jpeg_cmyk(d: Path) -> Path:
    p = d / "cmyk.jpg"
    asymmetric_rgb().convert("CMYK").save(p, quality=90)
    return p


def _png_16bit(d: Path) -> Path:
    ramp = np.tile(np.linspace(0, 65535, 96).astype(np.uint16), (64, 1))
    p = d / "gray16.png"
    Image.fromarray(ramp).save(p)  # mode I;16
    return p


def _gif_animated(d: Path) -> Path:
    frames = [Image.new("RGB", (64, 64), c) for c in ((220, 0, 0), (0, 0, 220), (0, 220, 0))]
    p = d / "animated.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return p


def _webp(d: Path) -> Path:
    p = d / "face.webp"
    asymmetric_rgb().save(p, quality=90)
    return p


def _bmp(d: Path) -> Path:
    p = d / "face.bmp"
    asymmetric_rgb().save(p)
    return p


def _tiff(d: Path) -> Path:
    p = d / "face.tiff"
    asymmetric_rgb().save(p)
    return p


def _jpeg_exif_rotated(d: Path) -> Path:
    """Stored turned 90 degrees anticlockwise, with EXIF orientation 6 ("rotate 90 CW to view")."""
    stored = asymmetric_rgb().transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    p = d / "rotated.jpg"
    stored.save(p, quality=95, exif=exif)
    return p


def _upper_case_ext(d: Path) -> Path:
    p = d / "FACE.JPG"
    asymmetric_rgb().save(p, "JPEG", quality=90)
    return p


def _non_ascii_name(d: Path) -> Path:
    p = d / "visage été 顔 (1).jpeg"
    asymmetric_rgb().save(p, "JPEG", quality=90)
    return p


VALID_CASES: dict[str, Callable[[Path], Path]] = {
    "png_alpha": _png_rgba,
    "png_palette": _png_palette,
    "jpeg_grayscale": _jpeg_grayscale,
    "jpeg_cmyk": _jpeg_cmyk,
    "png_16bit": _png_16bit,
    "gif_animated": _gif_animated,
    "webp": _webp,
    "bmp": _bmp,
    "tiff": _tiff,
    "jpeg_exif_rotated": _jpeg_exif_rotated,
    "upper_case_extension": _upper_case_ext,
    "non_ascii_name_with_spaces": _non_ascii_name,
}


def write_large_jpeg(d: Path, width: int = 6000, height: int = 4000) -> Path:
    img = asymmetric_rgb(width // 10, height // 10).resize(
        (width, height), Image.Resampling.NEAREST
    )
    p = d / "large.jpg"
    img.save(p, quality=80)
    return p


# ---- bad input: (writer, words the one-line error must contain) ---------------------------------


def _zero_byte(d: Path) -> Path:
    p = d / "empty.jpg"
    p.write_bytes(b"")
    return p


def _truncated_jpeg(d: Path) -> Path:
    data = real_jpeg_bytes()
    p = d / "truncated.jpg"
    p.write_bytes(data[: len(data) // 2])
    return p


def _text_as_jpeg(d: Path) -> Path:
    p = d / "notes.jpg"
    p.write_text("these are my holiday notes, not a photo\n" * 20)
    return p


def _html_as_png(d: Path) -> Path:
    p = d / "page.png"
    p.write_text("<!doctype html><html><body><img src='face.png'></body></html>\n")
    return p


def _random_bytes(d: Path) -> Path:
    p = d / "noise.jpg"
    p.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return p


def png_declaring(width: int, height: int, with_pixels: bool = False) -> bytes:
    """A valid PNG of width x height black RGB pixels, or (default) its header and 1 KB of data.

    with_pixels: the whole zlib stream is there (about 1 MB for 80 MP), so a loader without a
    size limit really decodes 3 bytes per pixel, and its memory shows it.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    if with_pixels:
        packer = zlib.compressobj(1)
        rows = (b"\x00" * (width * 3 + 1)) * 500  # filter byte + black pixels, 500 rows at a time
        parts = [packer.compress(rows) for _ in range(height // 500)]
        parts.append(packer.compress((b"\x00" * (width * 3 + 1)) * (height % 500)))
        idat = b"".join(parts) + packer.flush()
    else:
        idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _bomb(d: Path) -> Path:
    p = d / "bomb.png"
    p.write_bytes(png_declaring(30000, 30000))  # Pillow's own limit refuses this at open
    return p


def _bomb_below_pillow_limit(d: Path) -> Path:
    # 80 MP (305 MB decoded) in a 1 MB file: over edge_runtime's 256 MB limit, under Pillow's
    # own 179 MP error threshold, so only edge_runtime's check stands in the way.
    p = d / "bomb80mp.png"
    p.write_bytes(png_declaring(10000, 8000, with_pixels=True))
    return p


def _dangling_symlink(d: Path) -> Path:
    p = d / "gone.jpg"
    os.symlink(d / "does-not-exist.jpg", p)
    return p


def _symlink_loop(d: Path) -> Path:
    a, b = d / "loop_a.jpg", d / "loop_b.jpg"
    os.symlink(b, a)
    os.symlink(a, b)
    return a


def _fifo(d: Path) -> Path:
    p = d / "pipe.jpg"
    os.mkfifo(p)  # opening it would block until a writer came: must be refused from stat
    return p


def _device(d: Path) -> Path:
    return Path("/dev/zero")  # endless zeros: must be refused from stat, never read


def _too_small(d: Path) -> Path:
    p = d / "tiny.png"
    asymmetric_rgb(20, 20).save(p)
    return p


def _missing(d: Path) -> Path:
    return d / "no-such-photo.jpg"


BAD_CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing_path": (_missing, "no such file"),
    "zero_byte": (_zero_byte, "empty file"),
    "truncated_jpeg": (_truncated_jpeg, "cannot decode"),
    "text_renamed_jpg": (_text_as_jpeg, "not an image"),
    "html_renamed_png": (_html_as_png, "not an image"),
    "random_bytes": (_random_bytes, "not an image"),
    "decompression_bomb": (_bomb, "bomb"),
    "bomb_80mp": (_bomb_below_pillow_limit, "bomb"),
    "dangling_symlink": (_dangling_symlink, "dangling"),
    "symlink_loop": (_symlink_loop, "symbolic link loop"),
    "fifo": (_fifo, "not a regular file (a fifo)"),
    "device": (_device, "not a regular file (a character device)"),
    "too_small": (_too_small, "too small"),
}
