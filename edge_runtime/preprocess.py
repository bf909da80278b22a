"""The one preprocessing definition: decode -> upright -> RGB -> (crop) -> resize -> normalise.

Training (train/) calls `load_resized` and `normalize` from here, so the tensors a model is
trained on and the tensors it sees on a device come from the same code.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .types import ImageError, PreprocessSpec


@dataclass(frozen=True)
class EncodedImage:
    """An encoded image file's bytes that are not on disk (`edge-detect -` reads standard input).

    Decoded with the same checks as a file (draft mode, pixel limit); `name` is what results
    and errors call it.
    """

    data: bytes
    name: str = "-"


ImageSource = str | os.PathLike | Image.Image | np.ndarray | EncodedImage

# Refuse images above this many pixels before decoding them (a decompression bomb is a tiny
# file that declares a huge canvas). 64 MP covers any phone photo.
MAX_PIXELS = 64_000_000
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


def describe(source: ImageSource) -> str:
    """A short name for an input, used in error messages and results."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, Image.Image):
        return getattr(source, "filename", "") or "<PIL image>"
    if isinstance(source, EncodedImage):
        return source.name
    return "<array>"


def _open_file(path: str, min_draft: tuple[int, int] | None) -> Image.Image:
    p = Path(path)
    if p.is_symlink() and not p.exists():
        raise ImageError(f"{path}: dangling symbolic link")
    if not p.exists():
        raise ImageError(f"{path}: no such file")
    if p.is_dir():
        raise ImageError(f"{path}: is a directory")
    if not os.access(p, os.R_OK):
        raise ImageError(f"{path}: permission denied")
    try:
        size = p.stat().st_size
    except OSError as e:
        raise ImageError(f"{path}: cannot stat ({e.strerror or e})") from None
    if size == 0:
        raise ImageError(f"{path}: empty file (0 bytes)")
    return _decode(p, path, min_draft)


def _decode(fp: Path | io.BytesIO, path: str, min_draft: tuple[int, int] | None) -> Image.Image:
    """Open and decode a file or an in-memory encoded image; `path` names it in errors."""
    try:
        with warnings.catch_warnings():
            # Our own MAX_PIXELS check below replaces PIL's bomb warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(fp)
            w, h = img.size
            if w * h > MAX_PIXELS:
                img.close()
                raise ImageError(
                    f"{path}: image of {w}x{h} pixels exceeds the {MAX_PIXELS:,}-pixel limit "
                    "(possible decompression bomb)"
                )
            if min_draft is not None and img.format == "JPEG":
                # JPEG draft mode: let libjpeg decode at 1/2, 1/4 or 1/8 scale when the photo is
                # far bigger than the network input; cheap in time and memory.
                img.draft("RGB", min_draft)
                # How much smaller than the file it was decoded (kept through transpose and
                # convert, which copy info): the face stage reports boxes in full-size pixels.
                img.info[DECODED_FROM_KEY] = (w, h)
            img.load()
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(f"{path}: refused as a decompression bomb ({e})") from None
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
    name = describe(source)
    if isinstance(source, (str, os.PathLike)):
        img = _open_file(os.fspath(source), min_size)
    elif isinstance(source, EncodedImage):
        if not source.data:
            raise ImageError(f"{name}: empty input (0 bytes)")
        img = _decode(io.BytesIO(source.data), name, min_size)
    elif isinstance(source, Image.Image):
        img = source
    elif isinstance(source, np.ndarray):
        img = _array_to_image(source)
    else:
        raise ImageError(f"{name}: unsupported input type {type(source).__name__}")
    try:
        img = ImageOps.exif_transpose(img)  # photos taken sideways are turned upright first
    except Exception:  # noqa: BLE001, S110 - a broken EXIF block only loses the rotation
        pass
    img = _to_rgb(img, name)
    w, h = img.size
    if min(w, h) < MIN_SIDE:
        raise ImageError(
            f"{name}: image is {w}x{h} pixels, too small to hold a face (min {MIN_SIDE})"
        )
    return img


def load_image_scaled(source: ImageSource, short_side: int) -> tuple[Image.Image, float]:
    """Decode with the shorter side at least `short_side` pixels where the format allows it
    (JPEG draft mode: libjpeg decodes at 1/2, 1/4 or 1/8 scale, far faster than in full), else
    in full. Returns the upright RGB image and full size / decoded size (1.0 when not reduced).

    The face stage's decode-size rule (edge_runtime.faces.prepare_faces) calls this twice at
    most: once small enough to find faces cheaply, and again larger only when a found face
    needs more pixels for its crop.
    """
    img = load_image(source, min_size=(short_side, short_side))
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
    elif spec.crop != "none":
        raise ValueError(f"unknown crop {spec.crop!r} (expected 'none' or 'center')")
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
