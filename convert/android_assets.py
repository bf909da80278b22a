"""python -m convert.android_assets --int8 BUNDLE --float BUNDLE --out android_demo_assets/

Copies two verified model bundles into Android assets carrying TFLite Support metadata (name,
version, description, author, licence, RGB input with its normalisation, output with labels.txt
packed in), writes labels.txt and a readable dump of each model's metadata. Everything is read
back after writing; a model that does not read back, or that edge_runtime cannot load, fails.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from edge_runtime.bundle import ModelBundle, load_bundle
from edge_runtime.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text
from edge_runtime.types import EdgeDetectError, ModelError

from .tflite_metadata import (
    ClassifierMetadata,
    build_metadata,
    labels_text,
    populate,
    read_associated_files,
    read_metadata,
)

ASSET_NAMES = {"int8": "edge_detect_int8.tflite", "float": "edge_detect_fp32.tflite"}
DEFAULT_AUTHOR = "edge-detect project"
DEFAULT_LICENSE = (
    "Code: Apache-2.0. Weights: trained on research-only face datasets (FFHQ / StyleGAN "
    "'140k Real and Fake Faces'); research and demonstration use only."
)


@dataclass(frozen=True)
class AssetOptions:
    version: str = "1.0.0"
    author: str = DEFAULT_AUTHOR
    license: str = DEFAULT_LICENSE


def describe_model(bundle: ModelBundle, kind: str) -> ClassifierMetadata:
    info = bundle.info
    spec = info.preprocess
    quant = (
        "full-integer int8: int8 input and output; quantize the normalised input with the input "
        "tensor's scale and zero point, dequantize the output"
        if kind == "int8"
        else "float32 input and output"
    )
    return ClassifierMetadata(
        name=f"edge-detect deepfake face classifier ({info.variant})",
        description=(
            "Classifies a face image as StyleGAN-generated (fake) or a real photograph. "
            f"MobileNet v1 fine-tuned on FFHQ-real vs StyleGAN-fake faces; training run "
            f"'{info.training_run}'. Output: class probabilities in labels.txt order "
            f"({', '.join(info.labels)}); the image is fake when P(fake) >= {info.threshold}. "
            f"Model {quant}. Not a general deepfake detector: other generators and face swaps "
            "are out of its training distribution."
        ),
        version="",  # set by the caller
        author="",
        license="",
        spec=spec,
        labels=tuple(info.labels),
        input_description=(
            f"RGB face image resized ({spec.resize}, crop {spec.crop}) to {spec.width}x{spec.height}, "
            f"normalised as (pixel - {spec.mean}) / {spec.std}"
        ),
        output_description=f"Probabilities of {', '.join(info.labels)} (softmax)",
    )


def write_asset(bundle: ModelBundle, kind: str, out: Path, opts: AssetOptions) -> Path:
    from dataclasses import replace

    md = replace(
        describe_model(bundle, kind), version=opts.version, author=opts.author, license=opts.license
    )
    labels = labels_text(md.labels).encode("utf-8")
    content = populate(bundle.content, build_metadata(md), {md.labels_file: labels})
    # Prove it before writing: the metadata and labels read back, and the runtime still loads it.
    back = read_metadata(content)
    if back["name"] != md.name or read_associated_files(content).get(md.labels_file) != labels:
        raise ModelError(f"{bundle.path}: metadata did not read back after populating")
    _check_loads(content, bundle)
    path = atomic_write_bytes(out / ASSET_NAMES[kind], content)
    atomic_write_json(out / (Path(ASSET_NAMES[kind]).stem + ".metadata.json"), back)
    return path


def _check_loads(content: bytes, bundle: ModelBundle) -> None:
    from edge_runtime.interpreter import load_backend, make_interpreter

    make_interpreter(content, 1, load_backend(None), f"{bundle.path} (with metadata)")


def build_assets(int8: str, float_model: str, out: Path, opts: AssetOptions) -> list[Path]:
    bundles = {"int8": load_bundle(int8), "float": load_bundle(float_model)}
    if bundles["int8"].info.variant != "int8":
        raise ModelError(
            f"{int8}: --int8 expects an int8 bundle, got variant {bundles['int8'].info.variant!r}"
        )
    if bundles["float"].info.variant not in ("fp32", "fp16"):
        raise ModelError(
            f"{float_model}: --float expects an fp32 (or fp16) bundle, got {bundles['float'].info.variant!r}"
        )
    labels = {tuple(b.info.labels) for b in bundles.values()}
    if len(labels) != 1:
        raise ModelError("the two bundles disagree on their labels")
    out.mkdir(parents=True, exist_ok=True)
    written = [write_asset(bundles[k], k, out, opts) for k in ("int8", "float")]
    written.append(atomic_write_text(out / "labels.txt", labels_text(next(iter(labels)))))
    provenance = {
        k: {
            "asset": ASSET_NAMES[k],
            "source_bundle": str(b.path),
            "source_sha256": b.info.sha256,
            "variant": b.info.variant,
            "training_run": b.info.training_run,
            "threshold": b.info.threshold,
            "preprocess": b.info.preprocess.to_dict(),
        }
        for k, b in bundles.items()
    }
    written.append(atomic_write_json(out / "assets.json", provenance))
    return written


app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def main(
    int8: Annotated[
        str, typer.Option("--int8", help="int8 model bundle (.tflite with its .bundle.json)")
    ],
    float_model: Annotated[str, typer.Option("--float", help="fp32 model bundle")],
    out: Annotated[Path, typer.Option("--out", help="asset folder (android_demo_assets/)")] = Path(
        "android_demo_assets"
    ),
    version: Annotated[str, typer.Option(help="model version written into the metadata")] = "1.0.0",
    author: Annotated[str, typer.Option(help="author written into the metadata")] = DEFAULT_AUTHOR,
    license: Annotated[
        str, typer.Option(help="licence text written into the metadata")
    ] = DEFAULT_LICENSE,
) -> None:
    """Write the int8 and float .tflite with TFLite Support metadata, labels.txt and dumps."""
    try:
        written = build_assets(int8, float_model, out, AssetOptions(version, author, license))
    except EdgeDetectError as e:
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(2) from None
    for p in written:
        print(f"wrote {p}", file=sys.stderr)
    print(json.dumps([str(p) for p in written]))


if __name__ == "__main__":
    app()
