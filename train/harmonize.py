"""One resolution and one randomised re-encoding for every training image, whatever its class.

The broad sources differ in resolution, crop and compression, some between their own classes
(shared data README); a network learns those cues instead of real vs fake unless every image
reaches it through the same path. `harmonize` is that path, applied to training images of both
classes alike (the draw depends on the file name and the seed, never on the label):

1. a centred square of the shorter side, resized to `size` x `size` (Lanczos): one common
   resolution, whatever the source's native size (NATIVE_SIZE: the square keeps its own size,
   so each image later meets the same resize to the network input it meets at inference);
2. a random resize by a factor in `scale` (the same for both sides) and JPEG re-encoding at a
   random quality in `quality`;
3. decode, and the runtime's own resize (edge_runtime.preprocess.resize with the run's spec)
   to the network input, as every image is at inference.

No TensorFlow here.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from edge_runtime.preprocess import load_image, resize
from edge_runtime.types import PreprocessSpec

NATIVE_SIZE = -1  # harmonize_size value: keep each image's own (square) size


@dataclass(frozen=True)
class Harmonize:
    size: int  # the common square resolution; 0 = off; NATIVE_SIZE = each image's own
    quality: tuple[int, int] = (60, 95)  # JPEG quality range, both ends included
    scale: tuple[float, float] = (0.75, 1.5)  # resize factor range before the re-encoding
    per_epoch: bool = False  # False: one draw per file (cacheable); True: a new draw each epoch

    @property
    def on(self) -> bool:
        return self.size != 0


def file_rng(path: str, seed: int, epoch: int = 0) -> np.random.Generator:
    """The random stream of one file: its name, the run's seed and the epoch (never the label)."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    key = int(hashlib.sha256(name.encode()).hexdigest()[:12], 16)
    return np.random.default_rng([seed, epoch, key])


def encode_jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def harmonized_bytes(img: Image.Image, h: Harmonize, rng: np.random.Generator) -> bytes:
    """Steps 1-2: common square resolution, random resize, random-quality JPEG bytes."""
    w, hgt = img.size
    side = min(w, hgt)
    left, top = (w - side) // 2, (hgt - side) // 2
    img = img.convert("RGB").crop((left, top, left + side, top + side))
    size = side if h.size == NATIVE_SIZE else h.size
    if size != side:
        img = img.resize((size, size), Image.Resampling.LANCZOS)
    scale = float(rng.uniform(h.scale[0], h.scale[1]))
    quality = int(rng.integers(h.quality[0], h.quality[1] + 1))
    side = max(8, round(size * scale))
    if side != size:
        img = img.resize((side, side), Image.Resampling.LANCZOS)
    return encode_jpeg(img, quality)


def harmonize_image(img: Image.Image, h: Harmonize, rng: np.random.Generator) -> Image.Image:
    """An RGB image -> the re-encoded image (decoded), ready for the runtime's resize."""
    out = Image.open(io.BytesIO(harmonized_bytes(img, h, rng)))
    out.load()
    return out.convert("RGB")


def harmonized_loader(
    h: Harmonize, spec: PreprocessSpec, seed: int
) -> Callable[[str, int], np.ndarray]:
    """(path, epoch) -> uint8 network input through `harmonize`; one loader for both classes."""

    def load(path: str, epoch: int = 0) -> np.ndarray:
        rng = file_rng(path, seed, epoch if h.per_epoch else 0)
        return resize(harmonize_image(load_image(path), h, rng), spec)

    return load


def training_loader(
    h: Harmonize,
    spec: PreprocessSpec,
    seed: int,
    epoch: int,
    augment: tuple[str, ...] = (),
    random_crop_fraction: float | None = None,
) -> Callable[[str, np.random.Generator], np.ndarray] | None:
    """(path, rng) -> uint8 network input of a training image in this epoch: harmonisation
    (its own per-file stream), then augmentation (rng) or the runtime's resize. None: neither
    is on (the runtime's load_resized). The same function for every file of either class."""
    if not h.on and not augment:
        return None
    if not h.on:
        from .augment import augmented_loader

        return augmented_loader(spec, augment, random_crop_fraction)

    from .augment import augment_image

    def load(path: str, rng: np.random.Generator) -> np.ndarray:
        img = harmonize_image(
            load_image(path), h, file_rng(path, seed, epoch if h.per_epoch else 0)
        )
        if augment:
            return augment_image(img, spec, augment, rng, random_crop_fraction)
        return resize(img, spec)

    return load


__all__ = [
    "NATIVE_SIZE",
    "training_loader",
    "Harmonize",
    "encode_jpeg",
    "file_rng",
    "harmonize_image",
    "harmonized_bytes",
    "harmonized_loader",
]
