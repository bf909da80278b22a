"""manifest.json: what the page loads and every number it uses, from the Python definitions.

The classifier is the client-input asset (android_demo_assets/) built from the model the
registry resolves for `edge-detect -m int8` (matched by the sha256 its assets.json records), so
a new shipped model is followed without a copied file name; a stale asset is an error. The
face-stage and alignment constants are read from edge_runtime.faces, edge_runtime.face_windows
and edge_runtime.align.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from edge_runtime import align, face_windows, faces
from edge_runtime.bundle import load_bundle
from edge_runtime.preprocess import MIN_SIDE
from edge_runtime.registry import DEFAULT_MODEL
from edge_runtime.types import FaceOptions, ModelError, PreprocessSpec

REPO = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO / "android_demo_assets"
ASSETS_INDEX = ASSETS_DIR / "assets.json"
MODEL = DEFAULT_MODEL  # the shipped detector (edge-detect's default -m)
MODELS_URL = "models/"  # where the server maps the model files (web_demo/server.py)


def classifier_asset(model: str = MODEL) -> tuple[Path, dict]:
    """The client-input asset built from the model `model` names, and its assets.json entry."""
    bundle = load_bundle(model)
    entries = json.loads(ASSETS_INDEX.read_text("utf-8"))
    for entry in entries.values():
        if entry.get("source_sha256") == bundle.info.sha256:
            return ASSETS_DIR / entry["asset"], entry
    raise ModelError(
        f"{ASSETS_INDEX}: no client-input asset was built from {bundle.path} "
        f"(sha256 {bundle.info.sha256[:12]}...); regenerate with python -m convert.android_assets"
    )


def build(model: str = MODEL) -> tuple[dict, dict[str, Path]]:
    """(manifest, {file name in MODELS_URL: path on disk})."""
    asset, entry = classifier_asset(model)
    source = PreprocessSpec(**entry["source_preprocess"])
    side = entry["preprocess"]["height"]
    crop = source.height  # the asset's in-graph slice: the centre `crop` of `side` pixels
    spec = faces.SHORT_RANGE
    options = FaceOptions()
    manifest = {
        "generated_by": "python -m web_demo (web_demo/manifest.py)",
        "model": model,
        "classifier": {
            "url": MODELS_URL + asset.name,
            "sha256": entry["sha256"],
            "variant": entry["variant"],
            "threshold": entry["threshold"],
            "labels": json.loads((asset.with_suffix(".bundle.json")).read_text("utf-8"))["labels"],
            "input_size": side,
            "client_crop": {"offset": (side - crop) // 2, "size": crop},
            "source_preprocess": asdict(source),
            "source_bundle": entry["source_bundle"],
        },
        "face_detector": {
            "url": MODELS_URL + spec.filename,
            "sha256": spec.sha256,
            "input_size": spec.input_size,
            "strides": list(spec.strides),
            "interpolated_scale_aspect_ratio": spec.interpolated_scale_aspect_ratio,
            "num_keypoints": spec.num_keypoints,
            "nms_iou": spec.nms_iou,
            "min_score": spec.min_score,  # the second look decodes at MediaPipe's own floor
            "keypoints": {
                "right_eye": faces.RIGHT_EYE,
                "left_eye": faces.LEFT_EYE,
                "mouth": faces.MOUTH,
            },
        },
        "face_stage": {
            "min_score": options.min_score,
            "min_crop_px": options.min_crop_px,
            "whole_image_border": faces.WHOLE_IMAGE_BORDER,
            "find_min_tile_fraction": faces.FIND_MIN_TILE_FRACTION,
            "find_min_tile_px": faces.FIND_MIN_TILE_PX,
            "tile_step": faces.TILE_STEP,
            "tile_reducing_gap": faces.TILE_REDUCING_GAP,
            "tile_edge_margin": faces.TILE_EDGE_MARGIN,
            "contained_fraction": faces.CONTAINED_FRACTION,
            "find_decode_short_side": faces.FIND_DECODE_SHORT_SIDE,
            "verify_min_score": faces.VERIFY_MIN_SCORE,
            "verify_early_accept": faces.VERIFY_EARLY_ACCEPT,
            "aligned_face_box": list(faces.ALIGNED_FACE_BOX),
            "verify_box_iou": faces.VERIFY_BOX_IOU,
            "verify_mouth_error": faces.VERIFY_MOUTH_ERROR,
            "edge_pad": face_windows.EDGE_PAD,
            "edge_min_window": face_windows.EDGE_MIN_WINDOW,
            "edge_min_outside": face_windows.EDGE_MIN_OUTSIDE,
            "edge_centre_slack": face_windows.EDGE_CENTRE_SLACK,
            "edge_min_photo_side": face_windows.EDGE_MIN_PHOTO_SIDE,
        },
        "alignment": {
            "aligned_size": align.ALIGNED_SIZE,
            "eye_span_scale": align.EYE_SPAN_SCALE,
            "mouth_span_scale": align.MOUTH_SPAN_SCALE,
            "centre_shift": align.CENTRE_SHIFT,
            "already_aligned_iou": align.ALREADY_ALIGNED_IOU,
            "already_aligned_degrees": align.ALREADY_ALIGNED_DEGREES,
        },
        "decode": {"min_side": MIN_SIDE},
    }
    return manifest, {asset.name: asset, spec.filename: spec.path}
