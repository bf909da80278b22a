"""Training-time augmentation aimed at generalisation; off by default (the report used none).

Each augmentation changes the decoded image before or after edge_runtime's own resize, so the
tensor that reaches the network still comes from the runtime's preprocessing definition:

- jpeg:  re-compress at a random quality (30..95), p = 0.5, at the file's own resolution
- blur:  Gaussian blur, radius 0.2..1.5 px, p = 0.3
- color: brightness, contrast and saturation each x 0.8..1.2, p = 0.8
- crop:  a square at a random position, of the same size the spec would take (the spec's
         crop_fraction with crop="center"; 0.9 of the shorter side with crop="none", or
         --random-crop-fraction), then the spec's resize
- flip:  horizontal, p = 0.5
- degrade: what cameras, apps and re-uploads do to a photo, each step on its own draw (DEGRADE):
         downscale to 0.25..1x and back up (p = 0.3), Gaussian blur sigma 0..3 px (p = 0.3),
         sensor noise sigma 0..8 grey levels (p = 0.2), colour jitter (p = 0.5), JPEG q30..95
         (p = 0.5), in that order; Wang et al. 2020 (blur + JPEG at p = 0.5 made one
         generator's detector carry to others). The loader never sees the label, so real and
         fake images are degraded alike.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from edge_runtime.preprocess import load_image, resize
from edge_runtime.types import PreprocessSpec

DEFAULT_RANDOM_CROP_FRACTION = 0.9

Loader = Callable[[str, np.random.Generator], np.ndarray]


def random_crop_side_fraction(spec: PreprocessSpec, random_crop_fraction: float | None) -> float:
    if random_crop_fraction is not None:
        return random_crop_fraction
    return spec.crop_fraction if spec.crop == "center" else DEFAULT_RANDOM_CROP_FRACTION


def _jpeg(
    img: Image.Image, rng: np.random.Generator, quality: tuple[int, int] = (30, 95)
) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(rng.integers(quality[0], quality[1] + 1)))
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return out.convert("RGB")


def _color(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        img = enhancer(img).enhance(float(rng.uniform(0.8, 1.2)))
    return img


# Probability of each degradation step ('degrade'); the order of the keys is the order applied.
DEGRADE = {"rescale": 0.3, "blur": 0.3, "noise": 0.2, "color": 0.5, "jpeg": 0.5}
DEGRADE_SCALE = (0.25, 1.0)
DEGRADE_BLUR_SIGMA = (0.0, 3.0)
DEGRADE_NOISE_SIGMA = (0.0, 8.0)
DEGRADE_JPEG_QUALITY = (30, 95)


def _rescale(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    factor = float(rng.uniform(*DEGRADE_SCALE))
    w, h = img.size
    small = img.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.BILINEAR)
    return small.resize((w, h), Image.BILINEAR)


def _noise(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    sigma = float(rng.uniform(*DEGRADE_NOISE_SIGMA))
    a = np.asarray(img, dtype=np.float32)
    a = a + rng.normal(0.0, sigma, size=a.shape).astype(np.float32)
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))


def degrade(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """One random camera/app/re-upload history for an RGB image (DEGRADE)."""
    steps = {
        "rescale": _rescale,
        "blur": lambda im, r: im.filter(
            ImageFilter.GaussianBlur(radius=float(r.uniform(*DEGRADE_BLUR_SIGMA)))
        ),
        "noise": _noise,
        "color": _color,
        "jpeg": lambda im, r: _jpeg(im, r, DEGRADE_JPEG_QUALITY),
    }
    for name, p in DEGRADE.items():
        if rng.random() < p:
            img = steps[name](img, rng)
    return img


def _random_crop(img: Image.Image, fraction: float, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    side = max(1, round(min(w, h) * fraction))
    left = int(rng.integers(0, w - side + 1))
    top = int(rng.integers(0, h - side + 1))
    return img.crop((left, top, left + side, top + side))


def augment_image(
    img: Image.Image,
    spec: PreprocessSpec,
    names: Sequence[str],
    rng: np.random.Generator,
    random_crop_fraction: float | None = None,
) -> np.ndarray:
    """An upright RGB image -> augmented uint8 network input (H x W x 3)."""
    if "degrade" in names:
        img = degrade(img, rng)
    if "jpeg" in names and rng.random() < 0.5:
        img = _jpeg(img, rng)
    if "blur" in names and rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.2, 1.5))))
    if "color" in names and rng.random() < 0.8:
        img = _color(img, rng)
    if "crop" in names:
        fraction = random_crop_side_fraction(spec, random_crop_fraction)
        img = _random_crop(img, fraction, rng)
        pixels = resize(img, replace(spec, crop="none"))
    else:
        pixels = resize(img, spec)
    if "flip" in names and rng.random() < 0.5:
        pixels = np.ascontiguousarray(pixels[:, ::-1])
    return pixels


def augmented_loader(
    spec: PreprocessSpec, names: Sequence[str], random_crop_fraction: float | None = None
) -> Loader:
    """path, rng -> augmented uint8 network input; decoding is edge_runtime's load_image."""
    frac = (
        random_crop_side_fraction(spec, random_crop_fraction)
        if "crop" in names
        else (spec.crop_fraction if spec.crop == "center" else 1.0)
    )
    # JPEG draft decoding must still leave the cropped region at least network-sized.
    min_size = (math.ceil(spec.width / frac), math.ceil(spec.height / frac))

    def load(path: str, rng: np.random.Generator) -> np.ndarray:
        return augment_image(
            load_image(path, min_size=min_size), spec, names, rng, random_crop_fraction
        )

    return load
