"""The face stage's cost and its effect on verdicts.

    python -m benchmarks.face_stage accuracy [SET ...]   int8 with --faces auto vs none
    python -m benchmarks.face_stage latency              whole photo (12 MP JPEG) and 256 crop

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
    args = p.parse_args(argv)
    if not DATA.is_dir():
        print(f"error: {DATA} is missing", file=sys.stderr)
        return 2
    if args.cmd == "accuracy":
        return accuracy(args.sets, args.model, args.threads, args.limit)
    return latency(args.threads, args.runs, args.full_range)


if __name__ == "__main__":
    sys.exit(main())
