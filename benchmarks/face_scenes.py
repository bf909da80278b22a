"""Synthetic scenes with faces at known boxes, and the face stage's recall and box IoU on them.

A scene is a mosaic of face-free real photo texture (the corners of LFW news photos, outside
the centred face) with real aligned face crops (faces140k_sample test, real and fake) pasted at
known places and sizes. The face's box inside an aligned crop is FACE_BOX_IN_CROP, the mean
detector box over aligned train crops (`--fit` re-measures it), so the ground truth of a pasted
face is that box scaled and shifted with the paste.

    python -m benchmarks.face_scenes                 # 40 scenes of 1600x900, recall + mean IoU
    python -m benchmarks.face_scenes --fit           # re-measure FACE_BOX_IN_CROP on train crops
    python -m benchmarks.face_scenes --full-range face_detection_full_range.tflite
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from edge_runtime.faces import ALIGNED_FACE_BOX
from workbench.evaluation import shared_data_dir

DATA = shared_data_dir()

# Mean short-range box of a face in an FFHQ-aligned crop, as fractions of the crop side
# (x0, y0, x1, y1); measured by `--fit` on 300 faces140k_sample/train crops (std 0.03-0.06).
FACE_BOX_IN_CROP = ALIGNED_FACE_BOX
# Face box widths (pixels) of the pasted faces; >= 64 is the recall target's range.
FACE_WIDTHS = (40, 48, 64, 80, 96, 128, 160, 224, 320)
MATCH_IOU = 0.5


def face_files(split: str = "test") -> list[Path]:
    root = DATA / "faces140k_sample" / split
    return sorted(root.glob("real/*.jpg")) + sorted(root.glob("fake/*.jpg"))


def background(rng: np.random.Generator, size: tuple[int, int], patch: int = 150) -> Image.Image:
    """Face-free real texture: 60x60 corners of LFW photos (the face sits in the centre),
    enlarged to `patch` pixels and tiled."""
    files = sorted((DATA / "lfw_faceswap" / "real").glob("*.jpg"))
    w, h = size
    canvas = Image.new("RGB", size)
    for y in range(0, h, patch):
        for x in range(0, w, patch):
            with Image.open(files[rng.integers(len(files))]) as src:
                src = src.convert("RGB")
                cx = 0 if rng.random() < 0.5 else src.width - 60
                cy = 0 if rng.random() < 0.5 else src.height - 60
                piece = src.crop((cx, cy, cx + 60, cy + 60)).resize((patch, patch), Image.BILINEAR)
            canvas.paste(piece, (x, y))
    return canvas


def paste_faces(
    canvas: Image.Image,
    crops: list[Image.Image],
    widths: list[int],
    rng: np.random.Generator,
    angles: list[float] | None = None,
) -> list[tuple[float, float, float, float]]:
    """Paste aligned crops so their faces get the given box widths at free places; the
    ground-truth face boxes, in canvas pixels. With angles, each crop is turned in-plane
    (degrees, counter-clockwise) about its face centre first."""
    fx0, fy0, fx1, fy1 = FACE_BOX_IN_CROP
    taken: list[tuple[float, float, float, float]] = []
    boxes = []
    for i, (crop, fw) in enumerate(zip(crops, widths, strict=True)):
        side = round(fw / (fx1 - fx0))
        face = crop.resize((side, side), Image.BILINEAR)
        if angles is not None and angles[i]:
            centre = ((fx0 + fx1) / 2 * side, (fy0 + fy1) / 2 * side)
            face = face.rotate(angles[i], Image.BILINEAR, center=centre)
        for _ in range(200):
            x = int(rng.integers(0, canvas.width - side + 1))
            y = int(rng.integers(0, canvas.height - side + 1))
            rect = (x, y, x + side, y + side)
            if all(
                rect[2] <= t[0] or rect[0] >= t[2] or rect[3] <= t[1] or rect[1] >= t[3]
                for t in taken
            ):
                break
        else:
            continue  # no room left for this one
        canvas.paste(face, (x, y))
        taken.append(rect)
        boxes.append((x + fx0 * side, y + fy0 * side, x + fx1 * side, y + fy1 * side))
    return boxes


# Share of a face box's width (or height) outside the frame, for the edge scenes.
EDGE_OUTSIDE = (0.0, 0.1, 0.25, 0.4, 0.5)
EDGE_SIDES = ("left", "top", "right", "bottom")


def paste_at_edge(
    canvas: Image.Image, crop: Image.Image, width: int, side: str, outside: float, along: float
) -> tuple[float, float, float, float]:
    """Paste an aligned crop so that `outside` of its face box lies beyond one side of the
    frame (`along`: where along that side, 0-1); the face box clipped to the frame."""
    fx0, fy0, fx1, fy1 = FACE_BOX_IN_CROP
    crop_side = round(width / (fx1 - fx0))
    face = crop.resize((crop_side, crop_side), Image.BILINEAR)
    w, h = canvas.size
    inside = width * (1 - outside)  # the face's visible extent across the side
    if side in ("left", "right"):
        y = round(along * (h - crop_side))
        fx = -width * outside if side == "left" else w - inside
        x = round(fx - fx0 * crop_side)
    else:
        x = round(along * (w - crop_side))
        fy = -width * outside if side == "top" else h - inside
        y = round(fy - fy0 * crop_side)
    canvas.paste(face, (x, y))
    box = (x + fx0 * crop_side, y + fy0 * crop_side, x + fx1 * crop_side, y + fy1 * crop_side)
    return (max(box[0], 0.0), max(box[1], 0.0), min(box[2], w), min(box[3], h))


def run_edges(n_scenes: int, threads: int, seed: int, verify: bool, edges: bool = True) -> int:
    """Recall of faces cut by the frame, per share outside: one face per side of each scene."""
    from edge_runtime.faces import VERIFY_MIN_SCORE, FaceFinder
    from edge_runtime.interpreter import load_backend
    from edge_runtime.types import FaceOptions

    finder = FaceFinder(
        load_backend(),
        threads,
        min_score=FaceOptions().min_score,
        verify_min_score=VERIFY_MIN_SCORE if verify else None,
        edges=edges,
    )
    files = face_files("test")
    rng = np.random.default_rng(seed)
    hits: dict[float, list[bool]] = {f: [] for f in EDGE_OUTSIDE}
    for i in range(n_scenes):
        outside = EDGE_OUTSIDE[i % len(EDGE_OUTSIDE)]
        canvas = background(rng, (1200, 800))
        truth = []
        for k, side in enumerate(EDGE_SIDES):
            crop = Image.open(files[rng.integers(len(files))]).convert("RGB")
            width = int(rng.integers(100, 260))
            along = (k % 2 + rng.uniform(0.1, 0.6)) / 2.2  # apart from the other sides' faces
            truth.append(paste_at_edge(canvas, crop, width, side, outside, along))
        found = [f.box for f in finder.find(canvas)]
        hits[outside] += [s >= MATCH_IOU for s in best_ious(truth, found)]
    print(
        f"{n_scenes} scenes of 1200x800, one face per side (100-260 px), seed {seed}, "
        f"second look {'on' if verify else 'off'}, edge search {'on' if edges else 'off'}; "
        f"found = IoU >= {MATCH_IOU} with the face box "
        "clipped to the frame"
    )
    print("| share of the face outside the frame | faces | recall |")
    print("|---|---|---|")
    for outside, h in hits.items():
        print(f"| {outside:.2f} | {len(h)} | {np.mean(h):.3f} |")
    return 0


def iou(a, b) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def best_ious(truth, found) -> list[float]:
    """For each true box, the best IoU of any found box."""
    return [max((iou(t, f) for f in found), default=0.0) for t in truth]


def run(
    n_scenes: int,
    size: tuple[int, int],
    threads: int,
    seed: int,
    min_score: float | None = None,
    full_range: str | None = None,
    verify: bool = True,
) -> int:
    from edge_runtime.faces import VERIFY_MIN_SCORE, FaceFinder
    from edge_runtime.interpreter import load_backend
    from edge_runtime.types import FaceOptions

    if not full_range:
        min_score = FaceOptions().min_score if min_score is None else min_score
    if full_range:
        # Full range, once on the whole scene (not shipped; see faces.FULL_RANGE).
        from edge_runtime.faces import FULL_RANGE

        min_score = FULL_RANGE.min_score if min_score is None else min_score
        finder = FaceFinder(
            load_backend(), threads, FULL_RANGE, min_score, model_path=full_range, tiles=False
        )
    else:
        verify_min = VERIFY_MIN_SCORE if verify else None
        finder = FaceFinder(
            load_backend(), threads, min_score=min_score, verify_min_score=verify_min
        )
    files = face_files("test")
    rng = np.random.default_rng(seed)
    per_width: dict[int, list[float]] = {w: [] for w in FACE_WIDTHS}
    extra = 0
    times = []
    for i in range(n_scenes):
        canvas = background(rng, size)
        widths = [int(w) for w in rng.permutation(FACE_WIDTHS)]
        crops = [Image.open(files[rng.integers(len(files))]).convert("RGB") for _ in widths]
        truth = paste_faces(canvas, crops, widths, rng)
        start = time.perf_counter()
        found = [f.box for f in finder.find(canvas)]
        times.append(time.perf_counter() - start)
        scores = best_ious(truth, found)
        for t, s in zip(truth, scores, strict=True):
            per_width[min(FACE_WIDTHS, key=lambda w: abs(w - (t[2] - t[0])))].append(s)
        extra += sum(1 for f in found if max((iou(f, t) for t in truth), default=0) < MATCH_IOU)
        print(f"\rscene {i + 1}/{n_scenes}", end="", file=sys.stderr)
    print(file=sys.stderr)
    print(
        f"{n_scenes} scenes of {size[0]}x{size[1]}, seed {seed}, {threads} threads, "
        f"min score {min_score}, second look {'on' if verify and not full_range else 'off'}; "
        f"match = IoU >= {MATCH_IOU}"
    )
    print("| face width (px) | faces | recall | mean IoU (matched) |")
    print("|---|---|---|---|")
    big = []
    for w, s in per_width.items():
        s = np.asarray(s)
        if w >= 64:
            big.extend(s)
        hit = s >= MATCH_IOU
        mean_iou = s[hit].mean() if hit.any() else float("nan")
        print(f"| {w} | {len(s)} | {hit.mean():.3f} | {mean_iou:.3f} |")
    big = np.asarray(big)
    print(
        f"| **>= 64** | {len(big)} | **{(big >= MATCH_IOU).mean():.3f}** | "
        f"**{big[big >= MATCH_IOU].mean():.3f}** |"
    )
    print(
        f"unmatched detections (false or background faces): {extra} in {n_scenes} scenes; "
        f"finder time per scene: median {np.median(times) * 1000:.1f} ms"
    )
    return 0


def fit(threads: int) -> int:
    from edge_runtime.faces import FaceFinder
    from edge_runtime.interpreter import load_backend

    finder = FaceFinder(load_backend(), threads)
    rel = []
    for f in face_files("train")[::4]:
        img = Image.open(f).convert("RGB")
        found = finder.find(img)
        if found:
            biggest = max(found, key=lambda x: x.width)
            rel.append(np.asarray(biggest.box) / np.asarray([img.width, img.height] * 2))
    rel = np.asarray(rel)
    mean, std = rel.mean(0).round(3).tolist(), rel.std(0).round(3).tolist()
    print(f"{len(rel)} crops: mean {mean}, std {std}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.face_scenes", description=__doc__.split("\n")[0]
    )
    p.add_argument("--scenes", type=int, default=40)
    p.add_argument("--size", default="1600x900", help="scene WIDTHxHEIGHT (default 1600x900)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--full-range",
        metavar="FILE",
        default=None,
        help="measure BlazeFace full range (not shipped) from this .tflite instead, whole image",
    )
    p.add_argument(
        "--min-score",
        type=float,
        default=None,
        help="detector score threshold [default: FaceOptions']",
    )
    p.add_argument(
        "--no-verify", action="store_true", help="without the second look (faces.VERIFY_MIN_SCORE)"
    )
    p.add_argument(
        "--no-edges", action="store_true", help="without the search for faces cut by the frame"
    )
    p.add_argument(
        "--edges", action="store_true", help="faces cut by the frame: recall per share outside"
    )
    p.add_argument("--fit", action="store_true", help="re-measure FACE_BOX_IN_CROP on train crops")
    a = p.parse_args(argv)
    if not (DATA / "faces140k_sample").is_dir():
        print(
            f"error: {DATA} is missing (needs faces140k_sample and lfw_faceswap)", file=sys.stderr
        )
        return 2
    if a.fit:
        return fit(a.threads)
    if a.edges:
        return run_edges(a.scenes, a.threads, a.seed, not a.no_verify, not a.no_edges)
    w, h = (int(v) for v in a.size.lower().split("x"))
    return run(a.scenes, (w, h), a.threads, a.seed, a.min_score, a.full_range, not a.no_verify)


if __name__ == "__main__":
    sys.exit(main())
