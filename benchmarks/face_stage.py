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

`latency`: 12 MP JPEGs (4032x3024) of real photo texture with one real face crop pasted at
900 px and at 200 px, a 2444x1718 studio portrait (700-px face) and a 256x256 faces140k crop;
side by side, interleaved run by run: one full Pillow and one full simplejpeg decode of the
file, end-to-end Detector.detect as before issue 21 (Pillow decode and upright copy, no second
look, no edge search), as now, and with --faces none. Also the detector alone per invoke.

`phantoms`, `crops`: benchmarks/face_checks.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.face_checks import _machine, crops, phantoms
from benchmarks.face_scenes import DATA, background, face_files, paste_faces
from edge_runtime import faces as faces_module
from edge_runtime import preprocess
from edge_runtime.detector import Detector
from edge_runtime.registry import DEFAULT_MODEL
from edge_runtime.types import DetectorOptions, FaceOptions

DEFAULT_SETS = ("faces140k_sample/test", "ciplab_real_and_fake", "lfw_faceswap/real")


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


def _time(fn, runs: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000.0)
    return out


def _inputs(tmp: Path) -> list[tuple[str, Path]]:
    """The timed photos: 12 MP JPEGs with one face of 900 and of 200 px, a 2444x1718 studio
    portrait (face 700 px), all made of real LFW texture with one real 140k face pasted, and a
    256x256 faces140k crop."""
    rng = np.random.default_rng(0)
    files = face_files("test")
    out = []
    for size, width, name in [
        ((4032, 3024), 900, "12 MP JPEG (4032x3024), one 900-px face"),
        ((4032, 3024), 200, "12 MP JPEG (4032x3024), one 200-px face"),
        ((2444, 1718), 700, "studio portrait JPEG (2444x1718), one 700-px face"),
    ]:
        photo = tmp / f"photo_{size[0]}_{width}.jpg"
        canvas = background(rng, size, patch=max(size) // 8)
        paste_faces(canvas, [Image.open(files[0]).convert("RGB")], [width], rng)
        canvas.save(photo, quality=90)
        out.append((name, photo))
    out.append(("256x256 crop (faces140k)", files[1]))
    return out


def _pillow_decode(path: Path) -> None:
    with Image.open(path) as img:
        img.load()


def _simplejpeg_decode(path: Path) -> None:
    if preprocess.simplejpeg is not None and path.suffix == ".jpg":
        preprocess.simplejpeg.decode_jpeg(path.read_bytes(), "RGB")


def latency(threads: int, runs: int, full_range: str | None = None) -> int:
    """Side by side, interleaved run by run: one full Pillow and simplejpeg decode of the file;
    Detector.detect as before issue 21 (Pillow decode with the upright copy, no second look, no
    edge search); as now; and with --faces none."""
    now = Detector(DetectorOptions(num_threads=threads, faces=FaceOptions()))
    before = Detector(DetectorOptions(num_threads=threads, faces=FaceOptions()))
    before.face_finder.verify_min_score = None
    before.face_finder.edges = False
    none = Detector(DetectorOptions(num_threads=threads, faces=FaceOptions(mode="none")))
    fast_decoder = preprocess.simplejpeg

    def as_before(path):
        preprocess.simplejpeg = None  # Pillow decodes, and turns the whole photo upright
        try:
            before.detect(path)
        finally:
            preprocess.simplejpeg = fast_decoder

    columns = {
        "Pillow full decode": _pillow_decode,
        "simplejpeg full decode": _simplejpeg_decode,
        "before": as_before,
        "now": now.detect,
        "--faces none": none.detect,
    }
    with tempfile.TemporaryDirectory() as tmp:
        inputs = _inputs(Path(tmp))
        times = {(name, col): [] for name, _ in inputs for col in columns}
        for _, path in inputs:  # warm-up
            for fn in columns.values():
                fn(path)
        for _ in range(runs):
            for name, path in inputs:
                for col, fn in columns.items():
                    t = time.perf_counter()
                    fn(path)
                    times[name, col].append((time.perf_counter() - t) * 1000.0)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(
            f"{_machine()}; {threads} interpreter threads; median (min) of {runs} interleaved "
            f"runs, ms; load average after: {load:.2f}; simplejpeg "
            f"{'installed' if fast_decoder else 'NOT installed (now = Pillow)'}"
        )
        print("| input | faces | " + " | ".join(columns) + " | now / before |")
        print("|---|---|" + "---|" * (len(columns) + 1))
        for name, path in inputs:
            cells = []
            for col in columns:
                t = times[name, col]
                cells.append(f"{statistics.median(t):.1f} ({min(t):.1f})")
            ratio = statistics.median(times[name, "now"]) / statistics.median(times[name, "before"])
            print(f"| {name} | {len(now.detect(path).faces)} | {' | '.join(cells)} | {ratio:.2f} |")
        finder = now.face_finder
        x = np.zeros((128, 128, 3), np.uint8)
        one = _time(lambda: finder._run(x), runs * 10)
        print(
            f"\nface detector alone (BlazeFace short range, 128x128, "
            f"{finder._num_threads} interpreter thread(s)): "
            f"median {statistics.median(one):.2f} ms per invoke"
        )
        if full_range:
            full = faces_module.FaceFinder(
                now.backend, spec=faces_module.FULL_RANGE, model_path=full_range, tiles=False
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
    c.add_argument(
        "--trial-skip-tiles",
        action="store_true",
        help="crops of a search that skips the tiles when the whole look finds a face",
    )
    args = p.parse_args(argv)
    if not DATA.is_dir():
        print(f"error: {DATA} is missing", file=sys.stderr)
        return 2
    if args.cmd == "phantoms":
        return phantoms(args.photos, args.per_source, args.threads)
    if args.cmd == "crops":
        if bool(args.save) == bool(args.compare):
            p.error("crops needs exactly one of --save FILE and --compare FILE")
        return crops(args.save, args.compare, args.images, args.trial_skip_tiles)
    if args.cmd == "accuracy":
        return accuracy(args.sets, args.model, args.threads, args.limit)
    return latency(args.threads, args.runs, args.full_range)


if __name__ == "__main__":
    sys.exit(main())
