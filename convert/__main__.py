"""python -m convert RUN_DIR_OR_MODEL.keras --out DIR [options]: see convert/README.md."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ chatter off stderr

import typer

from edge_runtime.evaluation import default_sample_dir
from edge_runtime.types import EdgeDetectError

from .options import ConvertOptions, QatOptions
from .pipeline import parse_variants, run_conversion

# Every flag's default is ConvertOptions' / QatOptions' (tests/test_recipes_and_defaults.py checks).
_D = ConvertOptions(source="", out=Path())
_Q = QatOptions()

app = typer.Typer(
    add_completion=False, help="Convert a trained Keras model to verified TFLite model bundles."
)


@app.command()
def main(
    source: Annotated[
        str, typer.Argument(help="train run folder (model.keras + config.json) or a .keras file")
    ],
    out: Annotated[
        Path,
        typer.Option("--out", help="output folder for the bundles and conversion_report.{json,md}"),
    ],
    variants: Annotated[
        str, typer.Option(help="comma-separated: fp32,fp16,dynamic,int8")
    ] = ",".join(_D.variants),
    calibration_images: Annotated[
        int, typer.Option(help="int8 representative images (stratified by class, seeded)")
    ] = _D.calibration_images,
    calibration_dir: Annotated[
        Path | None,
        typer.Option(
            help="training images: a 140k-style root (its train/ "
            "split is used) or a real/+fake/ folder; "
            f"default: the run's data dir, else {default_sample_dir()}"
        ),
    ] = _D.calibration_dir,
    valid_dir: Annotated[
        Path | None,
        typer.Option(help="validation images (real/ + fake/); default: CALIBRATION_DIR/valid"),
    ] = _D.valid_dir,
    valid_limit: Annotated[
        int | None,
        typer.Option(min=10, help="verify on at most this many validation images (stratified)"),
    ] = _D.valid_limit,
    seed: Annotated[
        int, typer.Option(help="seed for the calibration / validation samples and QAT")
    ] = _D.seed,
    legacy_fully_connected: Annotated[
        bool,
        typer.Option(
            "--legacy-fully-connected",
            help="keep FULLY_CONNECTED at a version tflite-runtime 2.14 loads (<= 9)",
        ),
    ] = _D.legacy_fully_connected,
    qat: Annotated[
        str,
        typer.Option(
            help="quantization-aware training: auto (when PTQ int8 loses more than "
            "--qat-threshold-pp against float), on, off"
        ),
    ] = _Q.mode,
    qat_threshold_pp: Annotated[
        float, typer.Option(help="accuracy loss (percentage points) that triggers QAT in auto mode")
    ] = _Q.threshold_pp,
    qat_epochs: Annotated[int, typer.Option(min=1, help="QAT fine-tuning epochs")] = _Q.epochs,
    qat_learning_rate: Annotated[
        float, typer.Option(help="QAT learning rate (Adam)")
    ] = _Q.learning_rate,
    qat_batch_size: Annotated[int, typer.Option(min=1)] = _Q.batch_size,
    qat_train_limit: Annotated[
        int, typer.Option(min=0, help="QAT on at most this many training images (0: all)")
    ] = _Q.train_limit,
    min_agreement: Annotated[
        float, typer.Option(help="fail a variant whose label agreement with Keras is below this")
    ] = _D.min_agreement,
    threads: Annotated[
        int, typer.Option(min=1, help="CPU threads for TensorFlow and the interpreter")
    ] = _D.threads,
) -> None:
    """Write fp32/fp16/dynamic/int8 bundles, each verified through edge_runtime against Keras.

    Exit status: 0 all variants passed; 1 a variant failed verification (report still written,
    no bundle for it); 2 bad input (nothing written).
    """
    try:
        opts = ConvertOptions(
            source=source,
            out=out,
            variants=parse_variants(variants),
            calibration_images=calibration_images,
            calibration_dir=calibration_dir,
            valid_dir=valid_dir,
            valid_limit=valid_limit,
            seed=seed,
            legacy_fully_connected=legacy_fully_connected,
            qat=QatOptions(
                mode=qat,
                threshold_pp=qat_threshold_pp,
                epochs=qat_epochs,
                learning_rate=qat_learning_rate,
                batch_size=qat_batch_size,
                train_limit=qat_train_limit,
            ),
            min_agreement=min_agreement,
            threads=threads,
        )
        result = run_conversion(opts)
    except EdgeDetectError as e:
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(2) from None
    print(f"report: {result.report_json} and {result.report_md}", file=sys.stderr)
    if not result.passed:
        print("error: conversion FAILED verification:", file=sys.stderr)
        for f in result.report.failures:
            print(f"  - {f}", file=sys.stderr)
        raise typer.Exit(1)
    kept = result.report.kept_files
    print(f"ok: {len(kept)} bundles in {out}: {', '.join(kept)}", file=sys.stderr)


if __name__ == "__main__":
    app()
