"""python -m convert.mediapipe_check [--assets android_demo_assets] [--images DIR] [--limit N]

Runs MediaPipe Tasks' ImageClassifier (the C++ core of MediaPipe on Android) on each Android
asset, with nothing but the asset (its metadata and packed labels) and the image file, and
compares its P(fake) with edge_runtime's for the asset's source bundle on the same files: label
agreement at the bundle's threshold, max and mean |dP|. Exit 1 when agreement is under
--min-agreement.

mediapipe pins its own numpy/protobuf, so it runs in its own Python (found in this order):
--mediapipe-python, $EDGE_DETECT_MEDIAPIPE_PYTHON, .venv-mediapipe/bin/python, this Python.
Set it up with: python3 -m venv .venv-mediapipe && .venv-mediapipe/bin/pip install mediapipe
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from edge_runtime.types import FAKE_INDEX, LABELS, EdgeDetectError, is_fake

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
MEDIAPIPE_PYTHON_ENV = "EDGE_DETECT_MEDIAPIPE_PYTHON"
# Label flips between two int8 paths that round differently are int8 noise; the conversion
# report's PTQ int8 agrees with Keras on 96% of validation images. The assets do better.
MIN_AGREEMENT = 0.95

# Runs inside the MediaPipe Python: model path in argv, image paths as JSON on stdin, JSON of
# P(LABEL) per image out. Only the asset itself tells MediaPipe how to preprocess.
WORKER = """
import json, sys
import mediapipe as mp
from mediapipe.tasks.python import BaseOptions, vision
label = sys.argv[2]
opts = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=sys.argv[1]),
                                     max_results=-1)
out = {}
with vision.ImageClassifier.create_from_options(opts) as classifier:
    for path in json.load(sys.stdin):
        result = classifier.classify(mp.Image.create_from_file(path))
        scores = {c.category_name: c.score for c in result.classifications[0].categories}
        out[path] = scores[label]
print(json.dumps(out))
"""


def find_mediapipe_python(explicit: str | None = None) -> str | None:
    """A Python that can import mediapipe, or None."""
    candidates = [explicit, os.environ.get(MEDIAPIPE_PYTHON_ENV)]
    local = REPO / ".venv-mediapipe" / "bin" / "python"
    candidates.append(str(local) if local.is_file() else None)
    for c in candidates:
        if c:
            return c
    import importlib.util

    return sys.executable if importlib.util.find_spec("mediapipe") else None


def mediapipe_fake_probabilities(
    python: str, model: Path, images: list[str], timeout: float = 600
) -> list[float]:
    proc = subprocess.run(
        [python, "-c", WORKER, str(model), LABELS[FAKE_INDEX]],
        input=json.dumps(images),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise EdgeDetectError(f"{model}: MediaPipe ImageClassifier failed ({last})")
    scores = json.loads(proc.stdout.strip().splitlines()[-1])
    return [float(scores[p]) for p in images]


def runtime_fake_probabilities(model: Path | str, images: list[str], threads: int) -> list[float]:
    from edge_runtime import Detector, DetectorOptions

    det = Detector(DetectorOptions(model=str(model), num_threads=threads))
    return [det.detect(p).fake_probability for p in images]


def compare_asset(
    asset: Path, source_bundle: Path, images: list[str], python: str, threads: int = 1
) -> dict:
    """MediaPipe on the asset vs edge_runtime on its source bundle, image by image."""
    from edge_runtime.bundle import load_bundle

    threshold = load_bundle(source_bundle).info.threshold
    mp = np.array(mediapipe_fake_probabilities(python, asset, images))
    rt = np.array(runtime_fake_probabilities(source_bundle, images, threads))
    dp = np.abs(mp - rt)
    return {
        "asset": asset.name,
        "compared_with": os.path.relpath(source_bundle, REPO),
        "images": len(images),
        "label_agreement": float(np.mean(is_fake(mp, threshold) == is_fake(rt, threshold))),
        "max_abs_dp": float(dp.max()),
        "mean_abs_dp": float(dp.mean()),
    }


def check_images(folder: str | Path, limit: int) -> list[str]:
    from convert.android_assets import verification_images

    return [p for p, _ in verification_images(folder, limit)]


def lossless_copies(images: list[str], out_dir: Path) -> list[str]:
    """PNG copies of the images as Pillow decodes them (upright RGB): the same pixels reach
    MediaPipe and the runtime, which leaves the JPEG decoders out of the comparison."""
    from edge_runtime.preprocess import load_image

    out = []
    for i, path in enumerate(images):
        png = out_dir / f"{i:05d}_{Path(path).stem}.png"
        load_image(path).save(png)
        out.append(str(png))
    return out


def main(argv: list[str] | None = None) -> int:
    from edge_runtime.console import (
        EXIT_FAILED,
        EXIT_OK,
        ArgumentParser,
        setup_logging,
        usage_error,
    )
    from workbench.evaluation import default_sample_dir

    parser = ArgumentParser(prog="python -m convert.mediapipe_check", description=__doc__)
    parser.add_argument("--assets", type=Path, default=REPO / "android_demo_assets")
    parser.add_argument(
        "--images",
        default=str(default_sample_dir() / "test"),
        help="labelled folder (real/, fake/) of images (default: the sample's test split)",
    )
    parser.add_argument("--limit", type=int, default=0, help="at most N images (0: all)")
    parser.add_argument("--mediapipe-python", default=None, help="a Python with mediapipe")
    parser.add_argument(
        "--min-agreement", type=float, default=MIN_AGREEMENT, help="least label agreement"
    )
    parser.add_argument(
        "--png",
        action="store_true",
        help="compare on lossless PNG copies of the images (the same decoded pixels in both)",
    )
    parser.add_argument("--threads", type=int, default=1, help="edge_runtime threads")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug messages on stderr")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    python = find_mediapipe_python(args.mediapipe_python)
    if python is None:
        usage_error(
            parser.prog,
            "no Python with mediapipe (python3 -m venv .venv-mediapipe && "
            ".venv-mediapipe/bin/pip install mediapipe, or --mediapipe-python)",
        )
    try:
        provenance = json.loads((args.assets / "assets.json").read_text())
        images = check_images(args.images, args.limit)
        if args.png:
            tmp = tempfile.TemporaryDirectory(prefix="mediapipe_check_")
            images = lossless_copies(images, Path(tmp.name))
        rows = []
        for entry in provenance.values():
            log.info("%s: MediaPipe and edge_runtime on %d images", entry["asset"], len(images))
            rows.append(
                compare_asset(
                    args.assets / entry["asset"],
                    REPO / entry["source_bundle"],
                    images,
                    python,
                    args.threads,
                )
            )
    except (OSError, ValueError, KeyError, EdgeDetectError) as e:
        usage_error(parser.prog, str(e))
    print("| asset | edge_runtime bundle | images | label agreement | max abs dP | mean abs dP |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['asset']} | {r['compared_with']} | {r['images']} | "
            f"{100 * r['label_agreement']:.1f}% | {r['max_abs_dp']:.3g} | {r['mean_abs_dp']:.3g} |"
        )
    bad = [r["asset"] for r in rows if r["label_agreement"] < args.min_agreement]
    if bad:
        print(
            f"{parser.prog}: agreement under {args.min_agreement}: {', '.join(bad)}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
