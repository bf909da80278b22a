"""The face stage: find every face in a photo (MediaPipe BlazeFace short range, numpy in
edge_runtime.blazeface), verify it, and cut each one out FFHQ-aligned for the classifier.

How a photo is searched: the detector sees a 128x128 input and finds faces that fill roughly 1/6
of it or more. One look at the whole photo (with a 25 % border, so a face that fills the frame,
like the 140k crops, is still found) catches large faces; overlapping square tiles at two finer
scales catch small ones, down to FIND_MIN_TILE_FRACTION of the longer side (1/25 of it: 64 px in
a 1600-px photo). A face cut by a tile's inner edge is ignored there: the tiles overlap by more
than the largest face they are meant for, so it is whole in another. Photos of EDGE_MIN_PHOTO_SIDE
or more are also searched mirrored outward, for faces cut by the frame; and every detection gets
a second look at its aligned square (VERIFY_MIN_SCORE), which textures seldom pass.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from .align import aligned_crop, ffhq_quad, is_already_aligned, points_in_square, quad_side
from .blazeface import (
    FULL_RANGE,
    LEFT_EYE,
    MOUTH,
    RIGHT_EYE,
    SHORT_RANGE,
    FaceModelSpec,
    box_iou,
    decode,
    drop_contained,
    ssd_anchor_centres,
    weighted_nms,
)
from .face_windows import (  # the search geometry's constants are read here too (web_demo)
    EDGE_CENTRE_SLACK,
    EDGE_MIN_PHOTO_SIDE,
    FIND_MIN_TILE_FRACTION,
    FIND_MIN_TILE_PX,
    TILE_EDGE_MARGIN,
    TILE_REDUCING_GAP,
    TILE_STEP,
    WHOLE_IMAGE_BORDER,
    cut_by_frame,
    edge_windows,
    search_windows,
    tile_sizes,
)
from .fileio import sha256_bytes
from .interpreter import Backend, make_interpreter
from .preprocess import ImageSource, StoredImage, load_image_scaled, resize
from .types import FaceOptions, ImageError, ModelError, PreprocessSpec

# After NMS, a box lying mostly inside a higher-scoring one is a part of the same face.
CONTAINED_FRACTION = 0.6

# The second look (issue 21: galaxies, wheels and headlights scored 0.67-0.84 as faces). Each
# detection is cut out again as its FFHQ-aligned square (black outside the photo) at the
# detector's input size; the detector looks at it and at its mirror image (decoded from
# MediaPipe's floor, 0.5). A look counts the best detection whose box overlaps ALIGNED_FACE_BOX
# by VERIFY_BOX_IOU and whose mouth is within VERIFY_MOUTH_ERROR of the side from where alignment
# put it (a headlight's "mouth" wanders), else 0. A detection is kept when the mean of its score
# and the looks reaches VERIFY_MIN_SCORE: chosen on data (`python -m benchmarks.face_stage
# phantoms`): false faces on 82 face-free images 25 -> 3, 2 more of 1,200 face images (weak
# faces near the 0.65 threshold) without a face, scene recall unchanged.
VERIFY_MIN_SCORE = 0.68
# Score and first look averaging this much: a face without the mirror look (it could then only
# fail on a mirror finding nothing: no face of 1,456 did), one invoke spared for 95 % of faces.
VERIFY_EARLY_ACCEPT = 0.85
# The face box of an aligned crop, as fractions of it: the mean short-range box over 300 aligned
# faces140k train crops (`benchmarks.face_scenes --fit`).
ALIGNED_FACE_BOX = (0.197, 0.315, 0.797, 0.915)
VERIFY_BOX_IOU = 0.4
VERIFY_MOUTH_ERROR = 0.15

# Interpreter threads of the face detector. Its 128x128 invoke takes about 0.7 ms with 1 thread
# or 2 alike on the 2-core dev machine, and with other work on the cores 2 threads were 1.5x
# slower (thread hand-off); batches run several images' face stages on the decode threads anyway.
FACE_FINDER_THREADS = 1


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

    def _windows(self, img: Image.Image, keep: dict | None = None):
        """(window, 128x128 uint8 input) for the whole-image look and every tile. keep: filled
        with each level's resized image (None: the whole look's; else the tile side's)."""
        return search_windows(img, self.spec.input_size, self.tiles, keep)

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
        levels: dict = {}
        boxes, kps, scores = self._merge(*self._detect(self._windows(img, levels)))
        found_here = len(scores)
        if self.edges and max(img.size) >= EDGE_MIN_PHOTO_SIDE:
            boxes, kps, scores = self._edge_faces(img, levels, boxes, kps, scores)
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

    def _edge_search(self, img: Image.Image, levels: dict):
        """Detections in the photo mirrored outward (_edge_windows), merged, in the photo's
        pixels; only those centred about inside it."""
        w, h = img.size
        eb, ek, es = self._merge(
            *self._detect(edge_windows(img.size, levels, self.spec.input_size))
        )
        cx, cy = (eb[:, 0] + eb[:, 2]) / 2, (eb[:, 1] + eb[:, 3]) / 2
        sx, sy = (
            (eb[:, 2] - eb[:, 0]) * EDGE_CENTRE_SLACK,
            (eb[:, 3] - eb[:, 1]) * EDGE_CENTRE_SLACK,
        )
        central = (cx >= -sx) & (cx <= w + sx) & (cy >= -sy) & (cy <= h + sy)
        return eb[central], ek[central], es[central]

    def _edge_faces(self, img: Image.Image, levels: dict, boxes, kps, scores):
        """The faces found, then the edge search's faces cut by the frame that overlap none."""
        eb, ek, es = self._edge_search(img, levels)
        new = cut_by_frame(eb, *img.size)
        for b in boxes:
            new &= box_iou(b, eb) <= 0.0
        return (
            np.concatenate([boxes, eb[new]]),
            np.concatenate([kps, ek[new]]),
            np.concatenate([scores, es[new]]),
        )


# Shorter side a photo is decoded at to find faces (JPEG draft): the finest tiles, 1/4 of the
# longer side at 128 px, never use more than 512 px of it.
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
    "CONTAINED_FRACTION",
    "FIND_DECODE_SHORT_SIDE",
    "FIND_MIN_TILE_FRACTION",
    "FIND_MIN_TILE_PX",
    "LEFT_EYE",
    "MOUTH",
    "RIGHT_EYE",
    "TILE_EDGE_MARGIN",
    "TILE_REDUCING_GAP",
    "TILE_STEP",
    "WHOLE_IMAGE_BORDER",
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
