"""A face-free image set, reachable without the internet: where every face found is a phantom.

Three kinds, each image named by what it is:

- `gen/...`: generated here from a seed: flat canvases, gradients, noise at several grain sizes
  (foliage, gravel), star fields (galaxies), woven stripes (fabric), rings (wheels), blobs.
- `photo/...`: the face-free sample photos scikit-image ships in its wheel (CC0 / public domain:
  Hubble deep field, motorcycles, coffee, rocket, bricks, grass, gravel, coins, a cat, ...),
  read in place from `--photos DIR` or from an installed `skimage` (`skimage/data`); the two
  with people (astronaut, camera) are left out. Without either, this part is empty and the
  report says so. No image is copied into the repository:
  `pip download --no-deps scikit-image==0.26.0 -d /tmp/sk && unzip -o /tmp/sk/*.whl
  'skimage/data/*' -d /tmp/sk` gives `/tmp/sk/skimage/data`.
- `mosaic/...`: 2x2 mosaics of those photos, and each photo under 800 px enlarged 2x, so their
  textures also meet the detector at the scales of the finer tiles.

Not included: the LFW-corner texture of `face_scenes.background`, which holds pieces of real
people (bystanders, hands, half faces) that the detector rightly finds.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# scikit-image sample photos with people in them (not face-free), and data that is not a photo.
SKIMAGE_WITH_FACES = ("astronaut", "camera", "lfw_subset")
PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg")


def _noise(rng: np.random.Generator, size: tuple[int, int], grain: float) -> Image.Image:
    """Colour noise smoothed to a grain of about `grain` pixels (foliage, gravel, sand)."""
    w, h = size
    small = (max(2, round(w / grain)), max(2, round(h / grain)))
    a = rng.integers(0, 256, (small[1], small[0], 3), dtype=np.uint8)
    return Image.fromarray(a).resize(size, Image.Resampling.BICUBIC)


def _stars(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """Black sky with soft round and elliptic blobs of many sizes (a deep-field-like image)."""
    img = Image.new("RGB", size, (4, 4, 10))
    d = ImageDraw.Draw(img)
    w, h = size
    for _ in range(400):
        r = float(rng.choice([1, 2, 3, 5, 9, 16, 30], p=[0.4, 0.2, 0.15, 0.1, 0.08, 0.05, 0.02]))
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        e = rng.uniform(0.4, 1.0)
        c = tuple(int(v) for v in rng.integers(90, 256, 3))
        d.ellipse((x - r, y - r * e, x + r, y + r * e), fill=c)
    return img.filter(ImageFilter.GaussianBlur(2))


def _fabric(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """Two crossing sinusoid weaves in two colours."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(6, 30)
    t = np.sin(xx * 2 * np.pi / period) * np.sin(yy * 2 * np.pi / (period * rng.uniform(0.7, 1.4)))
    a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    mix = (t[..., None] + 1) / 2
    return Image.fromarray((a * mix + b * (1 - mix)).astype(np.uint8))


def _rings(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """Wheels and headlights: dark rings with bright hubs on a textured ground."""
    img = _noise(rng, size, 40)
    d = ImageDraw.Draw(img)
    w, h = size
    for _ in range(6):
        r = rng.uniform(30, min(size) / 4)
        x, y = rng.uniform(r, w - r), rng.uniform(r, h - r)
        d.ellipse((x - r, y - r, x + r, y + r), outline=(20, 20, 20), width=max(2, int(r / 4)))
        hub = r / 4
        d.ellipse((x - hub, y - hub, x + hub, y + hub), fill=(220, 220, 210))
    return img


def _blobs(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """Skin-coloured blobs with dark spots on a flat background (face-like statistics only)."""
    img = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 256, 3)))
    d = ImageDraw.Draw(img)
    w, h = size
    for _ in range(8):
        r = rng.uniform(20, min(size) / 5)
        x, y = rng.uniform(r, w - r), rng.uniform(r, h - r)
        d.ellipse((x - r, y - r * 1.3, x + r, y + r * 1.3), fill=(224, 172, 140))
        for _ in range(3):
            s = r / 6
            px, py = x + rng.uniform(-r / 2, r / 2), y + rng.uniform(-r / 2, r / 2)
            d.ellipse((px - s, py - s, px + s, py + s), fill=(40, 30, 30))
    return img.filter(ImageFilter.GaussianBlur(1))


def generated(seed: int = 0) -> Iterator[tuple[str, Image.Image]]:
    """The generated part: 24 images from one seed."""
    rng = np.random.default_rng(seed)
    sizes = [(640, 480), (1200, 800), (1600, 1200), (800, 800)]
    for colour in [(128, 128, 128), (40, 120, 40), (250, 250, 250), (10, 10, 10)]:
        yield f"gen/flat_{colour[0]}_{colour[1]}_{colour[2]}", Image.new("RGB", (1024, 768), colour)
    ramp = np.linspace(0, 255, 1024, dtype=np.float32)
    yield "gen/gradient_h", Image.fromarray(np.tile(ramp, (768, 1)).astype(np.uint8)).convert("RGB")
    radial = np.hypot(*np.mgrid[-384:384, -512:512]) / 640 * 255
    yield (
        "gen/gradient_radial",
        Image.fromarray(np.clip(radial, 0, 255).astype(np.uint8)).convert("RGB"),
    )
    for i, grain in enumerate([1, 4, 12, 40]):
        yield f"gen/noise_{grain}px", _noise(rng, sizes[i % len(sizes)], grain)
    for i in range(4):
        yield f"gen/stars_{i}", _stars(rng, sizes[i % len(sizes)])
    for i in range(4):
        yield f"gen/fabric_{i}", _fabric(rng, sizes[i % len(sizes)])
    for i in range(3):
        yield f"gen/rings_{i}", _rings(rng, sizes[i % len(sizes)])
    for i in range(3):
        yield f"gen/blobs_{i}", _blobs(rng, sizes[i % len(sizes)])


def skimage_data_dir() -> Path | None:
    """scikit-image's shipped sample folder when the package is installed, else None."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return folder if folder.is_dir() else None


def photos(folder: Path | None) -> Iterator[tuple[str, Image.Image]]:
    """The face-free sample photos of a scikit-image data folder (people left out)."""
    if folder is None:
        return
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in PHOTO_SUFFIXES or path.stem in SKIMAGE_WITH_FACES:
            continue
        with Image.open(path) as img:
            rgb = img.convert("RGB")
        if min(rgb.size) >= 64:
            yield f"photo/{path.stem}", rgb


def mosaics(
    pictures: list[tuple[str, Image.Image]], n: int = 12, seed: int = 0
) -> Iterator[tuple[str, Image.Image]]:
    """2x2 mosaics of random photos (512-px cells), and every photo under 800 px enlarged 2x."""
    if not pictures:
        return
    rng = np.random.default_rng(seed)
    for i in range(n):
        canvas = Image.new("RGB", (1024, 1024), (128, 128, 128))
        for cell in range(4):
            _, pic = pictures[int(rng.integers(len(pictures)))]
            scale = 512 / max(pic.size)
            small = pic.resize((round(pic.width * scale), round(pic.height * scale)))
            canvas.paste(small, ((cell % 2) * 512, (cell // 2) * 512))
        yield f"mosaic/grid_{i}", canvas
    for name, pic in pictures:
        if max(pic.size) < 800:
            yield f"mosaic/{name.split('/')[-1]}_x2", pic.resize((pic.width * 2, pic.height * 2))


def face_free_set(photo_dir: Path | None, seed: int = 0) -> list[tuple[str, Image.Image]]:
    """Every face-free image: generated, sample photos (when found), their mosaics."""
    pictures = list(photos(photo_dir))
    return [*generated(seed), *pictures, *mosaics(pictures, seed=seed)]


__all__ = ["face_free_set", "generated", "mosaics", "photos", "skimage_data_dir"]
