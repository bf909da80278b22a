"""The one preprocessing definition: decode -> upright -> RGB -> (crop) -> resize -> normalise.

Training (train/) calls `load_resized` and `normalize` from here, so the tensors a model is
trained on and the tensors it sees on a device come from the same code.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .types import ImageError, PreprocessSpec

try:  # libjpeg-turbo without Pillow's per-row copies: the same pixels, about 2x faster
    import simplejpeg
except ImportError:  # optional: Pillow decodes everything without it
    simplejpeg = None


@dataclass(frozen=True)
class EncodedImage:
    """An encoded image file's bytes that are not on disk (`edge-detect -` reads standard input).

    Decoded with the same checks as a file (draft mode, pixel limit); `name` is what results
    and errors call it.
    """

    data: bytes
    name: str = "-"


ImageSource = str | os.PathLike | Image.Image | np.ndarray | EncodedImage

# The decompression-bomb rule (check_decode_size): refuse an image whose decode would take more
# than this much memory, judged from its header at the size it will really be decoded at: a JPEG
# after draft scaling (a 108 MP phone photo decodes at 1/8 scale), anything else at full size.
# A bomb is a tiny file that declares a huge canvas; this bound keeps a Pi with 1-2 GB safe.
MAX_DECODE_BYTES = 256 * 2**20
DECODED_BYTES_PER_PIXEL = 4  # Pillow holds an RGB, RGBA or CMYK pixel in 32 bits
MAX_PIXELS = MAX_DECODE_BYTES // DECODED_BYTES_PER_PIXEL  # the same bound in pixels (67.1 MP)
# And whatever the decode size, no header may declare more than this: past any camera (phones
# reach 200 MP, multi-shot backs 400 MP), so only a forged header (65000x65000) claims more.
MAX_DECLARED_PIXELS = 1_000_000_000
JPEG_MAGIC = b"\xff\xd8\xff"
# Smaller than this on either side cannot hold a face the model could judge.
MIN_SIDE = 32
# img.info key holding the (width, height) a draft-decoded JPEG has in the file.
DECODED_FROM_KEY = "edge_detect_full_size"

_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "area": Image.Resampling.BOX,
}
RESIZE_METHODS = tuple(_FILTERS)  # what a bundle's preprocess.resize may name
CROP_MODES = ("none", "center")  # "none": squash the whole image; "center": centred square


def describe(source: ImageSource) -> str:
    """A short name for an input, used in error messages and results."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, Image.Image):
        return getattr(source, "filename", "") or "<PIL image>"
    if isinstance(source, EncodedImage):
        return source.name
    return "<array>"


def _open_file(
    path: str, min_draft: tuple[int, int] | None, stored: bool = False
) -> Image.Image | StoredImage:
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ImageError(f"{path}: symbolic link loop") from None
        if isinstance(e, (FileNotFoundError, NotADirectoryError)):
            reason = "dangling symbolic link" if os.path.islink(path) else "no such file"
            raise ImageError(f"{path}: {reason}") from None
        if isinstance(e, PermissionError):
            raise ImageError(f"{path}: permission denied") from None
        raise ImageError(f"{path}: cannot stat ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{path}: is a directory")
    if not stat.S_ISREG(st.st_mode):
        # A FIFO or a device (/dev/zero) would block or never end; `-` is how to pipe an image.
        raise ImageError(f"{path}: not a regular file ({_file_kind(st.st_mode)})")
    if not os.access(path, os.R_OK):
        raise ImageError(f"{path}: permission denied")
    if st.st_size == 0:
        raise ImageError(f"{path}: empty file (0 bytes)")
    return _decode(Path(path), path, min_draft, stored)


def _file_kind(mode: int) -> str:
    kinds = {
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((kind for test, kind in kinds.items() if test(mode)), "not a file")


def check_decode_size(
    size: tuple[int, int], path: str, full_size: tuple[int, int] | None = None
) -> None:
    """The decompression-bomb rule: refuse (ImageError) an image whose decode at `size` pixels
    would take more than MAX_DECODE_BYTES, or whose header declares more than
    MAX_DECLARED_PIXELS. `size` is what will really be decoded (a JPEG's draft size);
    `full_size`, when different, is the size its header declares."""
    w, h = size
    full_w, full_h = full_size or size
    bomb = "(refused as a possible decompression bomb)"
    if full_w * full_h > MAX_DECLARED_PIXELS:
        raise ImageError(
            f"{path}: image of {full_w}x{full_h} pixels declares more than the "
            f"{MAX_DECLARED_PIXELS:,}-pixel limit {bomb}"
        )
    needed = w * h * DECODED_BYTES_PER_PIXEL
    if needed > MAX_DECODE_BYTES:
        at = f" at {w}x{h}" if (full_w, full_h) != (w, h) else ""
        raise ImageError(
            f"{path}: image of {full_w}x{full_h} pixels would take {needed / 2**20:,.0f} MB "
            f"to decode{at}, over the {MAX_DECODE_BYTES // 2**20} MB limit {bomb}"
        )


def _open_image(fp: Path | io.BytesIO) -> Image.Image:
    """Image.open, except that a JPEG skips Pillow's own pixel-count check (which refuses above
    179 MP whatever the scale it would be decoded at): check_decode_size judges it after draft."""
    if isinstance(fp, io.BytesIO):
        head = fp.getvalue()[:3]
    else:
        with open(fp, "rb") as f:
            head = f.read(3)
    if head == JPEG_MAGIC:
        from PIL import JpegImagePlugin

        return JpegImagePlugin.jpeg_factory(fp if isinstance(fp, io.BytesIO) else str(fp))
    return Image.open(fp)


# EXIF orientation -> the turn that makes the stored picture upright (as ImageOps.exif_transpose).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES = (Image.Transpose.TRANSPOSE, Image.Transpose.ROTATE_270)
_SWAPS_AXES += (Image.Transpose.TRANSVERSE, Image.Transpose.ROTATE_90)


@dataclass
class StoredImage:
    """A decoded RGB photo as the file stores it, and the EXIF turn that makes it upright.

    Answers what the face stage asks of the upright image (`size`, `crop`) without turning the
    whole photo: `exif_transpose` copies all of it (about 35 ms for 12 MP). A transpose only
    moves pixels, so a crop of the turned region is exactly the region of the turned photo.
    """

    pixels: np.ndarray  # H x W x 3 uint8, rows as stored
    turn: Image.Transpose | None
    info: dict

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.pixels.shape[:2]
        return (h, w) if self.turn in _SWAPS_AXES else (w, h)

    def _stored_box(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """An upright box (left, top, right, bottom) -> the stored box holding its pixels."""
        x0, y0, x1, y1 = box
        h, w = self.pixels.shape[:2]
        t = Image.Transpose
        return {
            None: (x0, y0, x1, y1),
            t.FLIP_LEFT_RIGHT: (w - x1, y0, w - x0, y1),
            t.ROTATE_180: (w - x1, h - y1, w - x0, h - y0),
            t.FLIP_TOP_BOTTOM: (x0, h - y1, x1, h - y0),
            t.TRANSPOSE: (y0, x0, y1, x1),
            t.ROTATE_270: (y0, h - x1, y1, h - x0),
            t.TRANSVERSE: (w - y1, h - x1, w - y0, h - x0),
            t.ROTATE_90: (w - y1, x0, w - y0, x1),
        }[self.turn]

    def crop(self, box: tuple[int, int, int, int]) -> Image.Image:
        """The upright image's pixels in `box` (inside the image), as an RGB PIL image."""
        sx0, sy0, sx1, sy1 = self._stored_box(tuple(int(v) for v in box))
        region = Image.fromarray(np.ascontiguousarray(self.pixels[sy0:sy1, sx0:sx1]))
        return region if self.turn is None else region.transpose(self.turn)

    def upright(self) -> Image.Image:
        img = Image.fromarray(self.pixels)
        img = img if self.turn is None else img.transpose(self.turn)
        img.info.update(self.info)
        return img


def _orientation(img: Image.Image) -> Image.Transpose | None:
    try:
        return _ORIENTATION.get(img.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block only loses the rotation
        return None


def _decode_stored(fp: Path | io.BytesIO, img: Image.Image) -> StoredImage | None:
    """A YCbCr JPEG decoded by simplejpeg at the size Pillow's draft chose (libjpeg-turbo with
    the same IDCT and upsampling: the same pixels, tests/test_faces.py checks it), or None to
    let Pillow decode it (no simplejpeg, another colour space, or any trouble: Pillow then says
    what is wrong with the file in its own words)."""
    if simplejpeg is None or img.mode != "RGB":
        return None
    try:
        data = fp.getvalue() if isinstance(fp, io.BytesIO) else fp.read_bytes()
        if simplejpeg.decode_jpeg_header(data)[2] != "YCbCr":
            return None
        w, h = img.size
        pixels = simplejpeg.decode_jpeg(data, "RGB", min_width=w, min_height=h)
    except Exception:  # noqa: BLE001 - any doubt: Pillow decodes it (and names the fault)
        return None
    if pixels.shape != (h, w, 3):
        return None
    return StoredImage(pixels, _orientation(img), dict(img.info))


def _decode(
    fp: Path | io.BytesIO,
    path: str,
    min_draft: tuple[int, int] | None,
    stored: bool = False,
) -> Image.Image | StoredImage:
    """Open and decode a file or an in-memory encoded image; `path` names it in errors.
    stored=True: a YCbCr JPEG may come back as a StoredImage (not turned upright yet)."""
    try:
        with warnings.catch_warnings():
            # check_decode_size replaces PIL's bomb warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = _open_image(fp)
            w, h = img.size
            if min_draft is not None and img.format == "JPEG":
                # JPEG draft mode: let libjpeg decode at 1/2, 1/4 or 1/8 scale when the photo is
                # far bigger than the network input; cheap in time and memory.
                img.draft("RGB", min_draft)
                # How much smaller than the file it was decoded (kept through transpose and
                # convert, which copy info): the face stage reports boxes in full-size pixels.
                img.info[DECODED_FROM_KEY] = (w, h)
            try:
                check_decode_size(img.size, path, full_size=(w, h))
            except ImageError:
                img.close()
                raise
            fast = _decode_stored(fp, img) if stored and img.format == "JPEG" else None
            if fast is not None:
                img.close()
                return fast
            img.load()
    except ImageError:
        raise
    except Image.DecompressionBombError as e:  # a non-JPEG over Pillow's own 179 MP limit
        pixels = re.search(r"\((\d+) pixels\)", str(e))
        n = int(pixels.group(1)) if pixels else MAX_PIXELS + 1
        raise ImageError(
            f"{path}: image of {n:,} pixels would take {n * DECODED_BYTES_PER_PIXEL / 2**20:,.0f} "
            f"MB to decode, over the {MAX_DECODE_BYTES // 2**20} MB limit "
            "(refused as a possible decompression bomb)"
        ) from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file (format not recognised)") from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as e:
        reason = str(e) or type(e).__name__
        raise ImageError(f"{path}: cannot decode image ({reason})") from None
    except Exception as e:  # noqa: BLE001 - a malformed file must never become a traceback
        raise ImageError(f"{path}: cannot decode image ({type(e).__name__}: {e})") from None
    return img


def _array_to_image(arr: np.ndarray) -> Image.Image:
    if arr.dtype != np.uint8:
        raise ImageError(f"<array>: expected uint8 pixels, got {arr.dtype}")
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4)):
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        return Image.fromarray(np.ascontiguousarray(arr))
    raise ImageError(f"<array>: expected HxW, HxWx3 or HxWx4 pixels, got shape {arr.shape}")


def _to_rgb(img: Image.Image, name: str) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit or float greyscale: scale to 8 bits rather than clip (PIL's convert clips).
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        a = np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L").convert("RGB")
    if mode == "P":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent pixels become white, as an image viewer shows them.
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    try:
        return img.convert("RGB")
    except (OSError, ValueError) as e:
        raise ImageError(f"{name}: cannot convert {mode} image to RGB ({e})") from None


def load_image(source: ImageSource, min_size: tuple[int, int] | None = None) -> Image.Image:
    """Decode any supported source into an upright RGB PIL image.

    min_size (width, height): when given, large JPEGs are decoded in draft mode at the smallest
    DCT scale that still covers it.
    """
    img = _load(source, min_size, stored=False)
    assert isinstance(img, Image.Image)
    return img


def _load(
    source: ImageSource, min_size: tuple[int, int] | None, stored: bool
) -> Image.Image | StoredImage:
    """load_image; with stored=True a YCbCr JPEG file comes back as a StoredImage."""
    name = describe(source)
    if isinstance(source, (str, os.PathLike)):
        img = _open_file(os.fspath(source), min_size, stored)
    elif isinstance(source, EncodedImage):
        if not source.data:
            raise ImageError(f"{name}: empty input (0 bytes)")
        img = _decode(io.BytesIO(source.data), name, min_size, stored)
    elif isinstance(source, Image.Image):
        img = source
    elif isinstance(source, np.ndarray):
        img = _array_to_image(source)
    else:
        raise ImageError(f"{name}: unsupported input type {type(source).__name__}")
    if isinstance(img, Image.Image):
        try:
            img = ImageOps.exif_transpose(img)  # photos taken sideways are turned upright first
        except Exception:  # noqa: BLE001 - a broken EXIF block only loses the rotation
            pass
        img = _to_rgb(img, name)
    w, h = img.size
    if min(w, h) < MIN_SIDE:
        raise ImageError(
            f"{name}: image is {w}x{h} pixels, too small to hold a face (min {MIN_SIDE})"
        )
    return img


def load_image_scaled(
    source: ImageSource, short_side: int, upright: bool = True
) -> tuple[Image.Image | StoredImage, float]:
    """Decode with the shorter side at least `short_side` pixels where the format allows it
    (JPEG draft mode: libjpeg decodes at 1/2, 1/4 or 1/8 scale, far faster than in full), else
    in full. Returns the upright RGB image and full size / decoded size (1.0 when not reduced).

    upright=False: a YCbCr JPEG may come back as a StoredImage, whose `size` and `crop` are
    those of the upright image, without the copy that turning the whole photo makes.

    The face stage's decode-size rule (edge_runtime.faces.prepare_faces) calls this twice at
    most: once small enough to find faces cheaply, and again larger only when a found face
    needs more pixels for its crop.
    """
    img = _load(source, (short_side, short_side), stored=True)
    if upright and isinstance(img, StoredImage):
        img = img.upright()
    full = img.info.get(DECODED_FROM_KEY)
    if not full:
        return img, 1.0
    # Area ratio: independent of whether EXIF turned the picture by 90 degrees.
    return img, float(np.sqrt(full[0] * full[1] / (img.size[0] * img.size[1])))


def resize(img: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    """Crop (if asked) and resize an RGB image to the network input; uint8 HxWx3."""
    if spec.crop == "center":
        w, h = img.size
        side = max(1, round(min(w, h) * spec.crop_fraction))
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
    elif spec.crop not in CROP_MODES:
        raise ValueError(f"unknown crop {spec.crop!r}; one of {', '.join(CROP_MODES)}")
    try:
        resample = _FILTERS[spec.resize]
    except KeyError:
        raise ValueError(
            f"unknown resize method {spec.resize!r}; one of {sorted(_FILTERS)}"
        ) from None
    if img.size != (spec.width, spec.height):
        img = img.resize((spec.width, spec.height), resample=resample)
    return np.asarray(img, dtype=np.uint8)


def load_resized(source: ImageSource, spec: PreprocessSpec) -> np.ndarray:
    """Decode + upright + RGB + resize: the uint8 tensor before normalisation (cacheable)."""
    # Draft decoding must still leave the (cropped) region at least as large as the input.
    frac = spec.crop_fraction if spec.crop == "center" else 1.0
    min_size = (int(np.ceil(spec.width / frac)), int(np.ceil(spec.height / frac)))
    return resize(load_image(source, min_size=min_size), spec)


def normalize(pixels: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """uint8 pixels -> float32 network input: (x - mean) / std."""
    return (pixels.astype(np.float32) - np.float32(spec.mean)) / np.float32(spec.std)


def preprocess(source: ImageSource, spec: PreprocessSpec) -> np.ndarray:
    """The full definition: any source -> float32 HxWx3 network input."""
    return normalize(load_resized(source, spec), spec)
