"""Where the face finder looks: the whole-photo look and the tiles of the ordinary search, the
edge search's windows over the photo mirrored outward, and what counts as cut by the frame.

Each window is a 128x128 detector input and the place of its pixels in the photo (`Window`);
edge_runtime.faces runs the detector on them and merges what it finds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

# Whole-photo look: the photo sits in a square canvas with this border on every side (fraction
# of its longer side), so a face that fills the whole frame is still seen as a face.
WHOLE_IMAGE_BORDER = 0.25
# Tiles go down to this fraction of the photo's longer side (and never below FIND_MIN_TILE_PX):
# the detector finds faces of about 1/6 of a tile, so 1/4 finds faces of about 1/25 of the side.
FIND_MIN_TILE_FRACTION = 0.25
FIND_MIN_TILE_PX = 200
# Tile step, as a fraction of the tile: the overlap (1 - step) must exceed the largest face a
# tile level is there for (about 1/3 of the tile; larger ones are found one level up).
TILE_STEP = 0.6
# Each finer tile level is first box-reduced (Pillow's reducing_gap) while it is shrunk this much.
TILE_REDUCING_GAP = 3.0
# A box closer than this (fraction of the tile) to an inner tile edge is taken as cut off.
TILE_EDGE_MARGIN = 0.02

# Faces cut by the frame (issue 21 point 2), up to about half outside: the whole look and the
# tile levels of at least EDGE_MIN_WINDOW of the longer side are looked at again with their
# images (the ordinary search's own, no new resize) mirrored outward by EDGE_PAD of the photo's
# longer side (mirrored, not black: the detector then sees a whole head), in the windows that
# reach into that border: 11 for a 4:3 photo (all levels would add no recall on the benchmark).
# A detection there counts when at least EDGE_MIN_OUTSIDE of its box is outside the photo and
# its centre less than EDGE_CENTRE_SLACK of its size beyond the edge (a face cut in half looks
# like a head centred on the edge; the mirror image of a face inside is centred half its size
# or more beyond). Only photos of EDGE_MIN_PHOTO_SIDE or more: a smaller image is a face crop,
# which the ordinary search finds and whose crop must not change.
EDGE_PAD = 0.1
EDGE_MIN_WINDOW = 0.3
EDGE_MIN_OUTSIDE = 0.1
EDGE_CENTRE_SLACK = 0.25
EDGE_MIN_PHOTO_SIDE = 640


def cut_by_frame(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """Which (N, 4) boxes have at least EDGE_MIN_OUTSIDE of their area outside the frame."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    iw = (np.minimum(boxes[:, 2], width) - np.maximum(boxes[:, 0], 0)).clip(0)
    ih = (np.minimum(boxes[:, 3], height) - np.maximum(boxes[:, 1], 0)).clip(0)
    return iw * ih < (1 - EDGE_MIN_OUTSIDE) * area


@dataclass(frozen=True)
class Window:
    """One detector input: where its 128x128 pixels come from in the image."""

    x0: float  # image position of the input's top-left corner
    y0: float
    scale: float  # input pixels per image pixel
    inner: tuple[bool, bool, bool, bool]  # left, top, right, bottom edge lies inside the image


def tile_sizes(width: int, height: int) -> list[float]:
    """Tile sides (image pixels) of the finer search levels, coarsest first; may be empty."""
    long_side = max(width, height)
    finest = max(long_side * FIND_MIN_TILE_FRACTION, FIND_MIN_TILE_PX)
    sizes: list[float] = []
    t = float(long_side)
    while True:
        nxt = max(t / 2, finest)
        if nxt >= t * 0.83:  # not worth a level of its own
            break
        sizes.append(nxt)
        t = nxt
    return sizes


def _starts(length: int, tile: float) -> list[float]:
    if length <= tile:
        return [0.0]
    n = math.ceil((length - tile) / (tile * TILE_STEP)) + 1
    return [float(v) for v in np.linspace(0.0, length - tile, n)]


def search_windows(img: Image.Image, n: int, tiles: bool = True, keep: dict | None = None):
    """(window, 128x128 uint8 input) for the whole-image look and every tile. keep: filled
    with each level's resized image (None: the whole look's; else the tile side's)."""
    w, h = img.size
    long_side = max(w, h)
    # Whole image, centred in a square canvas with a border.
    canvas = long_side * (1 + 2 * WHOLE_IMAGE_BORDER)
    s = n / canvas
    small = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BILINEAR)
    ox, oy = (n - small.size[0]) // 2, (n - small.size[1]) // 2
    inp = np.zeros((n, n, 3), np.uint8)
    inp[oy : oy + small.size[1], ox : ox + small.size[0]] = np.asarray(small)
    sx, sy = small.size[0] / w, small.size[1] / h
    if keep is not None:
        keep[None] = np.asarray(small)
    yield Window(-ox / sx, -oy / sy, sx, (False,) * 4), inp
    for tile in tile_sizes(w, h) if tiles else ():
        s = n / tile
        lw, lh = max(1, round(w * s)), max(1, round(h * s))
        level = np.asarray(
            img.resize((lw, lh), Image.Resampling.BILINEAR, reducing_gap=TILE_REDUCING_GAP)
        )
        if keep is not None:
            keep[tile] = level
        for ty in _starts(lh, n):
            for tx in _starts(lw, n):
                x0, y0 = round(tx), round(ty)
                part = level[y0 : y0 + n, x0 : x0 + n]
                inp = np.zeros((n, n, 3), np.uint8)
                inp[: part.shape[0], : part.shape[1]] = part
                inner = (x0 > 0, y0 > 0, x0 + n < lw, y0 + n < lh)
                yield Window(x0 / (lw / w), y0 / (lh / h), lw / w, inner), inp


def edge_windows(size: tuple[int, int], levels: dict, n: int):
    """The edge search's (window, input): the whole look and the tile levels of at least
    EDGE_MIN_WINDOW of the longer side, their images (made by search_windows, in `levels`)
    mirrored outward by EDGE_PAD of the photo's longer side; the tiles reaching into it."""
    w, h = size
    pad = EDGE_PAD * max(w, h)
    small = levels[None]
    sx = small.shape[1] / w
    q = max(1, round(pad * sx))
    ext = np.pad(small, ((q, q), (q, q), (0, 0)), mode="symmetric")[:n, :n]
    ox, oy = (n - ext.shape[1]) // 2, (n - ext.shape[0]) // 2
    inp = np.zeros((n, n, 3), np.uint8)
    inp[oy : oy + ext.shape[0], ox : ox + ext.shape[1]] = ext
    yield Window(-(ox + q) / sx, -(oy + q) / sx, sx, (False,) * 4), inp
    for tile, level in levels.items():
        if tile is None or tile < EDGE_MIN_WINDOW * max(w, h):
            continue
        lh, lw = level.shape[:2]
        q = max(1, round(pad * lw / w))
        ext = np.pad(level, ((q, q), (q, q), (0, 0)), mode="symmetric")
        eh, ew = ext.shape[:2]
        for ty in _starts(eh, n):
            for tx in _starts(ew, n):
                x0, y0 = round(tx), round(ty)
                if q <= x0 and x0 + n <= lw + q and q <= y0 and y0 + n <= lh + q:
                    continue  # inside the photo: the ordinary search saw it
                part = ext[y0 : y0 + n, x0 : x0 + n]
                inp = np.zeros((n, n, 3), np.uint8)
                inp[: part.shape[0], : part.shape[1]] = part
                inner = (x0 > 0, y0 > 0, x0 + n < ew, y0 + n < eh)
                yield Window((x0 - q) / (lw / w), (y0 - q) / (lh / h), lw / w, inner), inp
