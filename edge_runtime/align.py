"""The one face-alignment definition: FFHQ's crop geometry, from two eyes and the mouth.

The classifier was trained on FFHQ-aligned crops (the 140k images: eyes level, fixed
eye-to-mouth geometry, fixed margin, 256x256). `ffhq_quad` rebuilds FFHQ's crop square
(NVlabs/ffhq-dataset, `recreate_aligned_images`) from three points, and `aligned_crop` cuts it
from the decoded image at whatever resolution that image has. The runtime (edge_runtime.faces),
training/evaluation (train/ may import this module) and the Android sample's documentation all
use this definition, so a model can be trained on aligned crops of un-aligned photos.

Points are (x, y) in image pixels. "Right eye" is the subject's right eye (on the left of an
un-mirrored photo), as in FFHQ's `eye_left` = mean of dlib points 36-41.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Side of an aligned crop, in pixels: the 140k images' size (FFHQ 1024 downscaled to 256).
# The classifier's own preprocessing then brings it to the network input (224).
ALIGNED_SIZE = 256
# FFHQ's square: half its side is the larger of EYE_SPAN_SCALE x the eye-to-eye distance and
# MOUTH_SPAN_SCALE x the eye-to-mouth distance; its centre lies CENTRE_SHIFT of the way from the
# eyes' midpoint to the mouth. (Named so the web page reads them, web_demo/manifest.json.)
EYE_SPAN_SCALE = 2.0
MOUTH_SPAN_SCALE = 1.8
CENTRE_SHIFT = 0.1


def ffhq_quad(right_eye, left_eye, mouth) -> np.ndarray:
    """FFHQ's crop square as 4 corners (top-left, bottom-left, bottom-right, top-right), 4x2.

    FFHQ takes the mouth as the mean of the two mouth corners; a detector's mouth centre is the
    same point to within a few pixels.
    """
    eye_r = np.asarray(right_eye, dtype=np.float64)
    eye_l = np.asarray(left_eye, dtype=np.float64)
    mouth_avg = np.asarray(mouth, dtype=np.float64)
    eye_avg = (eye_r + eye_l) * 0.5
    eye_to_eye = eye_l - eye_r
    eye_to_mouth = mouth_avg - eye_avg
    # Horizontal axis: between the eye line and the perpendicular of the eye-to-mouth line.
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1.0, 1.0]
    norm = np.hypot(*x)
    if norm == 0.0:
        raise ValueError("degenerate face points (eyes and mouth coincide)")
    x /= norm
    x *= max(np.hypot(*eye_to_eye) * EYE_SPAN_SCALE, np.hypot(*eye_to_mouth) * MOUTH_SPAN_SCALE)
    y = np.flipud(x) * [-1.0, 1.0]
    c = eye_avg + eye_to_mouth * CENTRE_SHIFT
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


# A photo whose face's square matches the whole frame this well (IoU of the square's bounding box
# with the frame) and this level already is that face's aligned crop, to within the detector's
# keypoint noise (on the 140k test crops: median IoU 0.90, 95 % of tilts under 6 degrees). It is
# used as it is: warping it again would only add interpolation blur and jitter.
ALREADY_ALIGNED_IOU = 0.75
ALREADY_ALIGNED_DEGREES = 8.0


def is_already_aligned(quad: np.ndarray, width: int, height: int) -> bool:
    """True when an image of width x height already is the aligned crop `quad` describes."""
    quad = np.asarray(quad, dtype=np.float64)
    x0, y0 = quad.min(axis=0)
    x1, y1 = quad.max(axis=0)
    iw = min(x1, width) - max(x0, 0.0)
    ih = min(y1, height) - max(y0, 0.0)
    if iw <= 0 or ih <= 0:
        return False
    inter = iw * ih
    iou = inter / ((x1 - x0) * (y1 - y0) + width * height - inter)
    return iou >= ALREADY_ALIGNED_IOU and abs(quad_angle_degrees(quad)) <= ALREADY_ALIGNED_DEGREES


def quad_side(quad: np.ndarray) -> float:
    """Side of the crop square in source pixels (FFHQ's qsize)."""
    return float(np.hypot(*(quad[3] - quad[0])))


def quad_angle_degrees(quad: np.ndarray) -> float:
    """Roll of the crop square: the angle of its top edge against the image's x axis."""
    dx, dy = quad[3] - quad[0]
    return float(np.degrees(np.arctan2(dy, dx)))


def aligned_crop(
    img: Image.Image, quad: np.ndarray, size: int = ALIGNED_SIZE, mirror: bool = True
) -> Image.Image:
    """Cut the square `quad` out of `img` and map it to size x size, eyes level.

    Only the quad's bounding box is touched (a 12 MP photo is never copied whole). Parts of the
    square outside the photo are filled by mirroring the photo's edge, as FFHQ pads (black with
    mirror=False: the face finder's second look, which must not see a mirrored half-face). A
    square much larger than `size` is first shrunk by an integer box filter (as FFHQ does), so
    the final bilinear warp never aliases.
    """
    quad = np.asarray(quad, dtype=np.float64)
    side = quad_side(quad)
    w, h = img.size
    x0, y0 = np.floor(quad.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 1
    rx0, ry0 = max(int(x0), 0), max(int(y0), 0)
    rx1, ry1 = min(int(x1), w), min(int(y1), h)
    if rx1 <= rx0 or ry1 <= ry0:
        raise ValueError("face square lies outside the image")
    region = img.crop((rx0, ry0, rx1, ry1))
    local = quad - [rx0, ry0]
    pad = (rx0 - x0, ry0 - y0, x1 - rx1, y1 - ry1)  # left, top, right, bottom; >= 0
    shrink = int(np.floor(side / size * 0.5))
    if shrink > 1:
        region = region.reduce(shrink)
        local = local / shrink
        pad = tuple(int(np.ceil(p / shrink)) for p in pad)
    if any(pad) and mirror:
        local = local + [pad[0], pad[1]]
        region = Image.fromarray(_mirror_pad(np.asarray(region), pad))
    data = (local + 0.5).flatten().tolist()
    return region.transform((size, size), Image.Transform.QUAD, data, Image.Resampling.BILINEAR)


def _mirror_pad(a: np.ndarray, pad: tuple[int, int, int, int]) -> np.ndarray:
    """Pad HxWx3 by (left, top, right, bottom) mirroring the edge (repeated when it is wider
    than the picture itself; a 1-pixel picture is extended)."""
    left, top, right, bottom = (int(p) for p in pad)
    while left or top or right or bottom:
        h, w = a.shape[:2]
        sl, sr = min(left, w - 1), min(right, w - 1)
        st, sb = min(top, h - 1), min(bottom, h - 1)
        if not (sl or sr or st or sb):
            return np.pad(a, ((top, bottom), (left, right), (0, 0)), mode="edge")
        a = np.pad(a, ((st, sb), (sl, sr), (0, 0)), mode="reflect")
        left, top, right, bottom = left - sl, top - st, right - sr, bottom - sb
    return a


def points_in_square(quad: np.ndarray, points) -> np.ndarray:
    """Image points -> their places in the aligned square, as fractions of its side (N, 2)."""
    quad = np.asarray(quad, dtype=np.float64)
    basis = np.stack([quad[3] - quad[0], quad[1] - quad[0]], axis=1)
    return (np.asarray(points, dtype=np.float64) - quad[0]) @ np.linalg.inv(basis).T


def eye_positions_in_crop(quad: np.ndarray, right_eye, left_eye, size: int = ALIGNED_SIZE):
    """Where the two eyes land in the aligned crop (for checks: they should be level)."""
    return points_in_square(quad, [right_eye, left_eye]) * size


__all__ = [
    "ALIGNED_SIZE",
    "ALREADY_ALIGNED_DEGREES",
    "ALREADY_ALIGNED_IOU",
    "CENTRE_SHIFT",
    "EYE_SPAN_SCALE",
    "MOUTH_SPAN_SCALE",
    "aligned_crop",
    "eye_positions_in_crop",
    "ffhq_quad",
    "is_already_aligned",
    "points_in_square",
    "quad_angle_degrees",
    "quad_side",
]
