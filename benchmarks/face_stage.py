"""The face stage's cost and its effect on verdicts.

    python -m benchmarks.face_stage accuracy [SET ...]   int8 with --faces auto vs none
    python -m benchmarks.face_stage latency              whole photo (12 MP JPEG) and 256 crop
    python -m benchmarks.face_stage phantoms [--photos DIR]  false faces vs faces kept
    python -m benchmarks.face_stage crops --save F.npz   aligned crops of 200 shared images
    python -m benchmarks.face_stage crops --compare F.npz   ... against an earlier --save

`accuracy`: each SET is a folder under ../shared/data with real/ and/or fake/ subfolders
(default: faces140k_sample/test, ciplab_real_and_fake, lfw_faceswap/real). Both runs use the
same Detector settings except FaceOptions.mode; an image with no judged face counts as wrong in
the "auto" accuracy and as a disagreement.

`latency`: a 4032x3024 (12 MP) JPEG made of real photo texture with one real face crop pasted
at about 900 px (a portrait at arm's length), and a 256x256 faces140k crop; end-to-end
Detector.detect (decode + find + align + classify) with the face stage, median of --runs, and the
share spent decoding (load_image_scaled, timed inside the same calls). Also the face detector
alone per 128x128 invoke.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.face_scenes import DATA, background, face_files, paste_faces
from edge_runtime import faces as faces_module
from edge_runtime.detector import Detector
from edge_runtime.registry import DEFAULT_MODEL
from edge_runtime.types import DetectorOptions, FaceOptions

DEFAULT_SETS = ("faces140k_sample/test", "ciplab_real_and_fake", "lfw_faceswap/real")


def _machine() -> str:
    import platform

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from edge_runtime.types import usable_cores

    return f"{usable_cores()}-core {platform.machine()} {model}".strip()


def accuracy(sets: list[str], model: str, threads: int, limit: int | None) -> int:
    base = DetectorOptions(model=model, num_threads=threads, workers=1)
    off = Detector(DetectorOptions(**{**base.__dict__, "faces": FaceOptions(mode="none")}))
    on = Detector(DetectorOptions(**{**base.__dict__, "faces": FaceOptions(mode="auto")}))
    print(f"model {off.model_name}, {threads} threads, {_machine()}")
    print(
        "| set | images | accuracy none | accuracy auto | label agreement | no face judged "
        "| >1 face |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in sets:
        root = DATA / name
        items = []
        for label in ("real", "fake"):
            folder = root / label if (root / label).is_dir() else None
            if folder is None and root.name == label:
                folder = root
            if folder is not None:
                items += [(p, label) for p in sorted(folder.glob("*.jpg"))[:limit]]
        if not items:
            print(f"| {name} | missing | | | | | |")
            continue
        paths = [p for p, _ in items]
        r_off = list(off.detect_many(paths))
        r_on = list(on.detect_many(paths))
        truth = [lab for _, lab in items]
        acc_off = np.mean([r.label == t for r, t in zip(r_off, truth, strict=True)])
        acc_on = np.mean([r.label == t for r, t in zip(r_on, truth, strict=True)])
        agree = np.mean([a.label == b.label for a, b in zip(r_off, r_on, strict=True)])
        none = np.mean([b.label is None for b in r_on])
        many = np.mean([len(b.faces or ()) > 1 for b in r_on])
        print(
            f"| {name} | {len(items)} | {acc_off:.4f} | {acc_on:.4f} | {agree:.4f} | "
            f"{none:.4f} | {many:.4f} |"
        )
    return 0


# Sources of `crops`: one stride-sampled share of each folder under ../shared/data.
CROP_SOURCES = (
    "faces140k_sample/test/real",
    "faces140k_sample/test/fake",
    "ciplab_real_and_fake/real",
    "ciplab_real_and_fake/fake",
    "lfw_faceswap/real",
    "lfw_faceswap/fake",
    "sd21_faces/fake",
    "ytf_frames/real",
    "rmfd_nomask/real",
    "maskdet_web_nomask/real",
    "webcam_liveness/real",
    "imfdb_movie/real",
    "utkface_200/real",
    "ecuador_flux/real",
    "ecuador_flux/fake",
    "ffpp_c23/fake",
    "unsplash_tpdne_300/real",
    "tpdne_256/fake",
    "ffhq_tpdne_128/real",
    "ffhq_tpdne_128/fake",
)


def crop_sample(n: int) -> list[Path]:
    """n images spread evenly over CROP_SOURCES (every k-th file of each folder)."""
    per = math.ceil(n / len(CROP_SOURCES))
    out = []
    for sub in CROP_SOURCES:
        files = sorted((DATA / sub).glob("*.jpg"))
        out += files[:: max(1, len(files) // per)][:per]
    return out[:n]


def _aligned(det: Detector, paths: list[Path]) -> dict[str, tuple[list[int], np.ndarray]]:
    """Every judged face's aligned image (what training caches), keyed 'file#i'."""
    out = {}
    for path in paths:
        faces = faces_module.align_faces(path, det.face_finder, det.spec, det.face_options)
        for i, f in enumerate(x for x in faces if x.image is not None):
            out[f"{path.relative_to(DATA)}#{i}"] = (list(f.box), np.asarray(f.image))
    return out


def crops(save: str | None, compare: str | None, n: int) -> int:
    """Save the aligned crops of n shared images, or compare them with an earlier save: faces
    matched by box (IoU >= 0.5), max / mean absolute pixel difference of the matched crops."""
    from benchmarks.face_scenes import iou

    det = Detector(DetectorOptions(num_threads=1, faces=FaceOptions()))
    paths = crop_sample(n)
    now = _aligned(det, paths)
    if save:
        arrays = {f"img:{k}": v[1] for k, v in now.items()}
        arrays |= {f"box:{k}": np.asarray(v[0]) for k, v in now.items()}
        np.savez_compressed(save, **arrays)
        print(f"{len(paths)} images, {len(now)} judged faces -> {save}")
        return 0
    old_npz = np.load(compare)
    old = {k[4:]: (old_npz[f"box:{k[4:]}"], old_npz[k]) for k in old_npz.files if k[:4] == "img:"}
    by_file: dict[str, list] = {}
    for k, v in now.items():
        by_file.setdefault(k.split("#")[0], []).append(v)
    diffs, lost, shape = [], [], 0
    for k, (box, img) in old.items():
        match = [v for v in by_file.get(k.split("#")[0], []) if iou(v[0], box) >= 0.5]
        if not match:
            lost.append(k)
            continue
        new = max(match, key=lambda v: iou(v[0], box))[1]
        if new.shape != img.shape:
            shape += 1
            continue
        diffs.append(np.abs(new.astype(np.int16) - img.astype(np.int16)))
    gained = len(now) - (len(old) - len(lost))
    worst = max((int(d.max()) for d in diffs), default=0)
    mean = float(np.mean([d.mean() for d in diffs])) if diffs else 0.0
    over = sum(int(d.max()) > 1 for d in diffs)
    print(
        f"{len(paths)} images: {len(old)} faces before, {len(now)} now; {len(diffs)} matched "
        f"crops: max abs difference {worst}, mean {mean:.4f} grey levels, {over} crops over 1; "
        f"{shape} of another size; lost {len(lost)}, gained {max(gained, 0)}"
    )
    for k in lost:
        print(f"  lost: {k}")
    return 0


VERIFY_SWEEP = (None, 0.6, 0.64, 0.66, 0.68, 0.7, 0.72, 0.75)


def _verified(finder, img) -> list[tuple[float, float]]:
    """(first score, verified score) of every detection the first look keeps."""
    found = finder.find(img)
    return [(f.score, finder.second_look(img, f)) for f in found]


def phantoms(photo_dir: Path | None, per_source: int, threads: int) -> int:
    """False faces per face-free image and faces kept on the face sets, for the second look
    off (None) and at several VERIFY_MIN_SCORE values, from one pass over the images."""
    from benchmarks.face_free import face_free_set, skimage_data_dir
    from edge_runtime.interpreter import load_backend
    from edge_runtime.preprocess import load_image_scaled

    finder = faces_module.FaceFinder(
        load_backend(), threads, min_score=FaceOptions().min_score, verify_min_score=None
    )
    photo_dir = photo_dir or skimage_data_dir()
    free = face_free_set(photo_dir)
    free_scores = [(name, _verified(finder, img)) for name, img in free]
    paths = crop_sample(per_source * len(CROP_SOURCES))
    face_scores = []
    for path in paths:
        img, _ = load_image_scaled(path, faces_module.FIND_DECODE_SHORT_SIDE)
        face_scores.append((str(path.relative_to(DATA)), _verified(finder, img)))
    kinds = sorted({name.split("/")[0] for name, _ in free})
    counts = ", ".join(f"{sum(n.startswith(k + '/') for n, _ in free)} {k}" for k in kinds)
    print(
        f"{_machine()}; face-free set: {len(free)} images ({counts}; photos from "
        f"{photo_dir or 'nowhere: no --photos DIR and no skimage'}); face sets: "
        f"{len(paths)} images, {per_source} per folder of {len(CROP_SOURCES)}"
    )
    print(
        "| second look | false faces / image | face-free images with a face | face images "
        "with no face |"
    )
    print("|---|---|---|---|")
    for t in VERIFY_SWEEP:

        def kept(dets, t=t):
            return [d for d in dets if t is None or d[1] >= t]

        false = [len(kept(d)) for _, d in free_scores]
        missed = [not kept(d) for _, d in face_scores]
        label = "off" if t is None else f">= {t}"
        if t == faces_module.VERIFY_MIN_SCORE:
            label += " (default)"
        print(
            f"| {label} | {np.mean(false):.3f} ({sum(false)}) | "
            f"{sum(f > 0 for f in false)} of {len(false)} | {sum(missed)} of {len(missed)} |"
        )
    t = faces_module.VERIFY_MIN_SCORE
    print("\nface-free detections (first score, verified score):")
    for name, dets in free_scores:
        if dets:
            marks = ", ".join(f"{a:.3f}/{b:.3f}{'' if b < t else ' KEPT'}" for a, b in dets)
            print(f"  {name}: {marks}")
    print("face images with no face at the default:")
    for name, dets in face_scores:
        if not [d for d in dets if d[1] >= t]:
            print(f"  {name}: {', '.join(f'{a:.3f}/{b:.3f}' for a, b in dets) or 'none found'}")
    return 0


def _time(fn, runs: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000.0)
    return out


def _time_decodes(det: Detector, path: Path, runs: int) -> list[float]:
    """Milliseconds per detect() spent in load_image_scaled, measured by wrapping it."""
    spent = [0.0]
    original = faces_module.load_image_scaled

    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            spent[0] += (time.perf_counter() - t) * 1000.0

    faces_module.load_image_scaled = timed
    try:
        out = []
        for _ in range(runs):
            spent[0] = 0.0
            det.detect(path)
            out.append(spent[0])
        return out
    finally:
        faces_module.load_image_scaled = original


def latency(threads: int, runs: int, full_range: str | None = None) -> int:
    det = Detector(DetectorOptions(num_threads=threads, faces=FaceOptions()))
    rng = np.random.default_rng(0)
    files = face_files("test")
    with tempfile.TemporaryDirectory() as tmp:
        inputs = []
        for width in (900, 200):
            photo = Path(tmp) / f"photo_12mp_{width}.jpg"
            canvas = background(rng, (4032, 3024), patch=504)
            paste_faces(canvas, [Image.open(files[0]).convert("RGB")], [width], rng)
            canvas.save(photo, quality=90)
            inputs.append((f"12 MP JPEG (4032x3024), one {width}-px face", photo))
        inputs.append(("256x256 crop", files[1]))
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(
            f"{_machine()}; {threads} interpreter threads; median of {runs} runs; "
            f"load average before: {load:.2f}"
        )
        print(
            "| input | faces | end-to-end ms (median) | end-to-end ms (min) | decode ms (median) "
            "| decode share |"
        )
        print("|---|---|---|---|---|---|")
        for name, path in inputs:
            d = det.detect(path)
            total = _time(lambda p=path: det.detect(p), runs)

            # The decodes prepare_faces makes (the draft to find faces, and the larger one when
            # a face needs more pixels for its crop), timed inside the same detect() calls.
            dec = _time_decodes(det, path, runs)
            share = statistics.median(dec) / statistics.median(total)
            print(
                f"| {name} | {len(d.faces)} | {statistics.median(total):.1f} | {min(total):.1f} | "
                f"{statistics.median(dec):.1f} | {share:.0%} |"
            )
        finder = det.face_finder
        x = np.zeros((128, 128, 3), np.uint8)
        one = _time(lambda: finder._run(x), runs * 10)
        print(
            f"\nface detector alone (BlazeFace short range, 128x128, "
            f"{finder._num_threads} interpreter thread(s)): "
            f"median {statistics.median(one):.2f} ms per invoke"
        )
        if full_range:
            full = faces_module.FaceFinder(
                det.backend, spec=faces_module.FULL_RANGE, model_path=full_range, tiles=False
            )
            x = np.zeros((192, 192, 3), np.uint8)
            t = _time(lambda: full._run(x), runs * 10)
            print(
                f"full range (not shipped), 192x192, {full._num_threads} interpreter thread(s): "
                f"median {statistics.median(t):.2f} ms per invoke"
            )
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.face_stage", description=__doc__.split("\n")[0]
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("accuracy", help="int8 accuracy and agreement, --faces auto vs none")
    a.add_argument("sets", nargs="*", default=list(DEFAULT_SETS))
    a.add_argument("--model", default=DEFAULT_MODEL, help="model name or .tflite path")
    a.add_argument("--threads", type=int, default=2)
    a.add_argument("--limit", type=int, default=None, help="at most N images per class folder")
    lat = sub.add_parser("latency", help="end-to-end per whole photo and per crop")
    lat.add_argument("--threads", type=int, default=2)
    lat.add_argument("--runs", type=int, default=15)
    lat.add_argument(
        "--full-range",
        metavar="FILE",
        default=None,
        help="also time BlazeFace full range (.tflite)",
    )
    ph = sub.add_parser("phantoms", help="false faces on a face-free set vs faces kept")
    ph.add_argument(
        "--photos",
        type=Path,
        default=None,
        help="scikit-image's data folder (default: the installed skimage's, if any)",
    )
    ph.add_argument("--per-source", type=int, default=20, help="face images per folder")
    ph.add_argument("--threads", type=int, default=1)
    c = sub.add_parser("crops", help="aligned crops now vs an earlier --save")
    c.add_argument("--save", metavar="FILE", help="write the crops to FILE (.npz)")
    c.add_argument("--compare", metavar="FILE", help="compare with a FILE written by --save")
    c.add_argument("--images", type=int, default=200)
    args = p.parse_args(argv)
    if not DATA.is_dir():
        print(f"error: {DATA} is missing", file=sys.stderr)
        return 2
    if args.cmd == "phantoms":
        return phantoms(args.photos, args.per_source, args.threads)
    if args.cmd == "crops":
        if bool(args.save) == bool(args.compare):
            p.error("crops needs exactly one of --save FILE and --compare FILE")
        return crops(args.save, args.compare, args.images)
    if args.cmd == "accuracy":
        return accuracy(args.sets, args.model, args.threads, args.limit)
    return latency(args.threads, args.runs, args.full_range)


if __name__ == "__main__":
    sys.exit(main())
