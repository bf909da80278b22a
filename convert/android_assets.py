"""python -m convert.android_assets --int8 BUNDLE --float BUNDLE [--out android_demo_assets/]

Android (and MediaPipe, Task Library) assets from two verified model bundles:

1. `convert/client_input.py` moves the centre crop and the normalisation into each model: the
   asset takes uint8 RGB pixels at 256x256 (the network's 224x224 at the 0.875 crop) and gives
   float32 probabilities, so a client that only resizes a square face image to the input size
   gets edge_runtime's answers.
2. TFLite Support metadata (name, version, description, author, licence, RGB uint8 input with
   identity normalisation, probabilities with labels.txt) and two packed files: labels.txt and
   bundle.json (the preprocessing, labels and decision threshold, as edge_runtime's sidecar says
   them) - what the Kotlin sample reads.
3. A sidecar (`<asset>.bundle.json`) beside each .tflite, so `edge-detect -m` runs the assets.
4. Verification through edge_runtime, asset against its source bundle: on generated images of the
   client input size (must be identical) and on `--verify-dir` (default: the labelled test split
   of ../shared/data/faces140k_sample when present): label agreement, max and mean |dP|,
   accuracy of both. Recorded in assets.json; an asset that disagrees is not written.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edge_runtime.bundle import PACKED_BUNDLE_NAME, ModelBundle, load_bundle, save_bundle
from edge_runtime.fileio import atomic_write_json, atomic_write_text
from edge_runtime.types import (
    FAKE_INDEX,
    BundleInfo,
    EdgeDetectError,
    ModelError,
    PreprocessSpec,
    is_fake,
    usable_cores,
)

from .client_input import client_spec, crop_plan
from .tflite_metadata import (
    AssociatedFile,
    ClassifierMetadata,
    build_metadata,
    labels_text,
    populate,
    read_associated_files,
    read_metadata,
)

log = logging.getLogger(__name__)

ASSET_NAMES = {"int8": "edge_detect_int8.tflite", "float": "edge_detect_fp32.tflite"}
# Packed into each model beside labels.txt: the asset's BundleInfo (preprocessing, labels,
# threshold) as JSON, the same fields as its edge_runtime sidecar minus the file's own sha256.
BUNDLE_FILE = PACKED_BUNDLE_NAME  # the runtime reads it when an asset has no sidecar
DEFAULT_AUTHOR = "edge-detect project"
DEFAULT_LICENSE = (
    "Code: Apache-2.0. Weights: trained on research-only face datasets (FFHQ / StyleGAN "
    "'140k Real and Fake Faces'); research and demonstration use only."
)
# An asset must give its source's label on at least this share of the verification images.
# The in-graph crop and table are exact on images of the client input size; other sizes only
# differ by resize-then-crop versus crop-then-resize.
MIN_AGREEMENT = 0.99
SYNTHETIC_IMAGES = 4


@dataclass(frozen=True)
class AssetOptions:
    version: str = "1.0.0"
    author: str = DEFAULT_AUTHOR
    license: str = DEFAULT_LICENSE


def asset_info(source: ModelBundle) -> BundleInfo:
    """The asset's BundleInfo: the source's, with the client input's preprocessing."""
    spec = source.info.preprocess
    plan = crop_plan(spec)
    return replace(
        source.info,
        preprocess=client_spec(spec),
        sha256="",
        description=f"{source.info.description}; client input: uint8 pixels, crop and "
        "normalisation in the model (convert/client_input.py)",
        extra={
            "source_bundle": str(source.path),
            "source_sha256": source.info.sha256,
            "source_preprocess": spec.to_dict(),
            "client_input": {
                "input": f"uint8 RGB pixels [1, {plan.client_size}, {plan.client_size}, 3]",
                "crop": {"offset": plan.offset, "size": plan.size},
                "normalization": "in-graph table from edge_runtime.detector.input_table",
                "output": "float32 probabilities",
            },
        },
    )


def packed_bundle_json(info: BundleInfo) -> bytes:
    d = info.to_dict()
    d.pop("sha256")  # a file cannot hold its own hash; the sidecar has it
    return (json.dumps(d, indent=2) + "\n").encode("utf-8")


def describe_model(info: BundleInfo, kind: str) -> ClassifierMetadata:
    spec = info.preprocess
    source = PreprocessSpec.from_dict(info.extra["source_preprocess"])
    network = "full-integer int8" if kind == "int8" else "float32"
    return ClassifierMetadata(
        name=f"edge-detect deepfake face classifier ({info.variant})",
        description=(
            "Classifies a face image as StyleGAN-generated (fake) or a real photograph. "
            f"MobileNet v1 fine-tuned on FFHQ-real vs StyleGAN-fake faces; training run "
            f"'{info.training_run}'. Output: class probabilities in labels.txt order "
            f"({', '.join(info.labels)}); the image is fake when P(fake) >= {info.threshold}. "
            f"Model: {network} network; uint8 RGB input, float32 output; the centre crop and "
            f"the normalisation are inside the model. {BUNDLE_FILE} (packed) holds the "
            "preprocessing and the threshold. Not a general deepfake detector: other generators "
            "and face swaps are out of its training distribution."
        ),
        version="",  # set by the caller
        author="",
        license="",
        spec=spec,
        labels=tuple(info.labels),
        input_description=(
            f"RGB face image as uint8 pixels 0-255: the square centre of the image resized "
            f"({spec.resize}) to {spec.width}x{spec.height}, nothing else. The model crops its "
            f"centre {source.width}x{source.height} ({source.crop_fraction} of the side, as "
            f"trained) and normalises it as (pixel - {source.mean}) / {source.std} itself."
        ),
        output_description=f"Probabilities of {', '.join(info.labels)} (softmax)",
        extra_files=(
            AssociatedFile(
                BUNDLE_FILE,
                "edge-detect bundle (JSON): the preprocessing this model expects, its labels "
                "and the decision threshold",
                0,  # AssociatedFileType UNKNOWN: not a label or vocabulary file
            ),
        ),
    )


def asset_content(source: ModelBundle, kind: str, opts: AssetOptions) -> tuple[bytes, BundleInfo]:
    """The asset's bytes (client input, metadata, packed files), read back before returning."""
    from .client_input import add_client_input

    info = asset_info(source)
    md = replace(
        describe_model(info, kind), version=opts.version, author=opts.author, license=opts.license
    )
    files = {
        md.labels_file: labels_text(md.labels).encode("utf-8"),
        BUNDLE_FILE: packed_bundle_json(info),
    }
    content = populate(
        add_client_input(source.content, source.info.preprocess), build_metadata(md), files
    )
    back = read_metadata(content)
    if back["name"] != md.name or read_associated_files(content) != files:
        raise ModelError(f"{source.path}: metadata did not read back after populating")
    return content, info


def _synthetic_images(size: int, n: int = SYNTHETIC_IMAGES) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]


def compare(source: ModelBundle, asset: ModelBundle, images: list, threads: int) -> dict:
    """P(fake) of the asset against its source, both through edge_runtime, on the same images.

    images: paths or uint8 arrays; (path, label index) pairs also give each model's accuracy.
    """
    from edge_runtime import Detector, DetectorOptions

    opts = DetectorOptions(num_threads=threads)
    src, dst = Detector(opts, bundle=source), Detector(opts, bundle=asset)
    p_src, p_dst, labels, skipped = [], [], [], 0
    for item in images:
        image, label = item if isinstance(item, tuple) else (item, None)
        try:
            a, b = src.detect(image).fake_probability, dst.detect(image).fake_probability
        except EdgeDetectError as e:
            log.warning("skipped %s", e)
            skipped += 1
            continue
        p_src.append(a)
        p_dst.append(b)
        labels.append(label)
    if not p_src:
        raise ModelError(f"{asset.path}: no image could be compared with {source.path}")
    a, b = np.array(p_src), np.array(p_dst)
    t = source.info.threshold
    dp = np.abs(a - b)
    out = {
        "images": len(a),
        "skipped": skipped,
        "label_agreement": float(np.mean(is_fake(a, t) == is_fake(b, t))),
        "max_abs_dp": float(dp.max()),
        "mean_abs_dp": float(dp.mean()),
    }
    if all(label is not None for label in labels):
        truth = np.array(labels) == FAKE_INDEX
        out["accuracy_source"] = float(np.mean(is_fake(a, t) == truth))
        out["accuracy_asset"] = float(np.mean(is_fake(b, t) == truth))
    return out


def verification_images(folder: str | Path, limit: int = 0) -> list[tuple[str, int]]:
    """(path, label) of a labelled folder's images; every k-th one when limit is set."""
    from workbench.evaluation import read_labelled_folder

    samples = read_labelled_folder(folder).samples
    if limit and len(samples) > limit:
        step = len(samples) / limit
        samples = [samples[int(i * step)] for i in range(limit)]
    return [(s.path, s.label) for s in samples]


class AssetMismatch(ModelError):
    """An asset does not give its source bundle's answers; nothing is written."""


def stage_asset(
    source: ModelBundle,
    kind: str,
    out: Path,
    opts: AssetOptions,
    verify: list[tuple[str, int]] | None = None,
    threads: int = 1,
    min_agreement: float = MIN_AGREEMENT,
) -> tuple[ModelBundle, dict]:
    """Build one asset in memory and verify it against its source; nothing written yet."""
    content, info = asset_content(source, kind, opts)
    staged = ModelBundle(path=out / ASSET_NAMES[kind], content=content, info=info)
    size = info.preprocess.height
    exact = compare(source, staged, _synthetic_images(size), threads)
    checks = {f"generated_{size}x{size}": exact}
    if exact["max_abs_dp"] > 1e-6:
        raise AssetMismatch(
            f"{source.path}: the client-input model differs from its source on {size}x{size} "
            f"images (max |dP| {exact['max_abs_dp']:.3g}); it must be exact"
        )
    if verify:
        checks["images"] = compare(source, staged, verify, threads)
        agreement = checks["images"]["label_agreement"]
        if agreement < min_agreement:
            raise AssetMismatch(
                f"{source.path}: the asset agrees with its source on {agreement:.1%} of "
                f"{checks['images']['images']} images (--min-agreement {min_agreement})"
            )
    return staged, checks


def build_assets(
    int8: str,
    float_model: str,
    out: Path,
    opts: AssetOptions,
    verify_dir: str | Path | None = None,
    verify_limit: int = 0,
    threads: int | None = None,
    min_agreement: float = MIN_AGREEMENT,
) -> list[Path]:
    bundles = {"int8": load_bundle(int8), "float": load_bundle(float_model)}
    if bundles["int8"].info.variant != "int8":
        raise ModelError(
            f"{int8}: --int8 expects an int8 bundle, got variant {bundles['int8'].info.variant!r}"
        )
    if bundles["float"].info.variant not in ("fp32", "fp16"):
        raise ModelError(
            f"{float_model}: --float expects an fp32 (or fp16) bundle, "
            f"got {bundles['float'].info.variant!r}"
        )
    labels = {tuple(b.info.labels) for b in bundles.values()}
    if len(labels) != 1:
        raise ModelError("the two bundles disagree on their labels")
    verify = verification_images(verify_dir, verify_limit) if verify_dir else None
    threads = threads or usable_cores()
    staged = {}
    for kind in ("int8", "float"):
        log.info("%s: building %s from %s", kind, ASSET_NAMES[kind], bundles[kind].path)
        staged[kind] = stage_asset(bundles[kind], kind, out, opts, verify, threads, min_agreement)
    # Both verified: only now is anything written.
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    provenance = {}
    for kind, (asset, checks) in staged.items():
        source = bundles[kind]
        asset = save_bundle(asset.content, asset.info, asset.path)
        atomic_write_json(
            asset.path.with_name(asset.path.stem + ".metadata.json"), read_metadata(asset.content)
        )
        for name, c in checks.items():
            log.info(
                "%s: %s: %d images, label agreement %.2f%%, max |dP| %.3g",
                kind, name, c["images"], 100 * c["label_agreement"], c["max_abs_dp"],
            )  # fmt: skip
        written.append(asset.path)
        provenance[kind] = {
            "asset": ASSET_NAMES[kind],
            "sha256": asset.info.sha256,
            "variant": source.info.variant,
            "training_run": source.info.training_run,
            "threshold": source.info.threshold,
            "preprocess": asset.info.preprocess.to_dict(),
            "source_bundle": str(source.path),
            "source_sha256": source.info.sha256,
            "source_preprocess": source.info.preprocess.to_dict(),
            "verification": {
                **({"images_dir": os.path.relpath(verify_dir)} if verify else {}),
                **checks,
            },
        }
    written.append(atomic_write_text(out / "labels.txt", labels_text(next(iter(labels)))))
    written.append(atomic_write_json(out / "assets.json", provenance))
    return written


def main(argv: list[str] | None = None) -> int:
    from edge_runtime.console import (
        EXIT_FAILED,
        EXIT_OK,
        ArgumentParser,
        setup_logging,
        usage_error,
    )
    from workbench.evaluation import default_sample_dir

    parser = ArgumentParser(
        prog="python -m convert.android_assets",
        description="Write the int8 and float Android assets (client input, TFLite Support "
        "metadata, packed labels.txt and bundle.json, sidecars), verified against their bundles.",
    )
    parser.add_argument(
        "--int8", required=True, help="int8 model bundle (.tflite with its .bundle.json)"
    )
    parser.add_argument(
        "--float", dest="float_model", required=True, help="fp32 (or fp16) model bundle"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("android_demo_assets"), help="asset folder"
    )
    default_verify = default_sample_dir() / "test"
    parser.add_argument(
        "--verify-dir",
        default=str(default_verify) if default_verify.is_dir() else None,
        help="labelled folder (real/, fake/) to compare each asset with its bundle on "
        f"(default: {default_verify} when present; 'none' skips)",
    )
    parser.add_argument("--verify-limit", type=int, default=0, help="at most N images (0: all)")
    parser.add_argument(
        "--min-agreement",
        type=float,
        default=MIN_AGREEMENT,
        help=f"least label agreement with the bundle on --verify-dir (default {MIN_AGREEMENT})",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="interpreter threads (default: all cores)"
    )
    parser.add_argument(
        "--version", default="1.0.0", help="model version written into the metadata"
    )
    parser.add_argument("--author", default=DEFAULT_AUTHOR, help="author written into the metadata")
    parser.add_argument(
        "--license", default=DEFAULT_LICENSE, help="licence written into the metadata"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug messages on stderr")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    verify_dir = None if args.verify_dir in (None, "none") else args.verify_dir
    try:
        written = build_assets(
            args.int8,
            args.float_model,
            args.out,
            AssetOptions(args.version, args.author, args.license),
            verify_dir=verify_dir,
            verify_limit=args.verify_limit,
            threads=args.threads,
            min_agreement=args.min_agreement,
        )
    except AssetMismatch as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except EdgeDetectError as e:
        usage_error(parser.prog, str(e))
    for p in written:
        log.info("wrote %s", p)
    print(json.dumps([str(p) for p in written]))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
