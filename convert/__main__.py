"""python -m convert RUN_DIR_OR_MODEL.keras --out DIR [options]: see convert/README.md."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ chatter off stderr

from edge_runtime.console import EXIT_FAILED, ArgumentParser, at_least, setup_logging, usage_error
from edge_runtime.types import EdgeDetectError
from workbench.evaluation import default_sample_dir

from .options import QAT_MODES, ConvertOptions, QatOptions
from .pipeline import parse_variants, run_conversion

PROG = "python -m convert"
# Every flag's default is ConvertOptions' / QatOptions' (tests/test_recipes_and_defaults.py).
_D = ConvertOptions(source="", out=Path())
_Q = QatOptions()
log = logging.getLogger(__name__)


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog=PROG,
        description="Write fp32/fp16/dynamic/int8 bundles, each verified through edge_runtime "
        "against Keras. Exit status: 0 all variants passed; 1 a variant failed verification "
        "(report still written, no bundle for it); 2 bad input (nothing written).",
    )
    p.add_argument("source", help="train run folder (model.keras + config.json) or a .keras file")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output folder for the bundles and conversion_report.{json,md}",
    )
    p.add_argument(
        "--variants", default=",".join(_D.variants), help="comma-separated (default: %(default)s)"
    )
    p.add_argument(
        "--stem",
        default=_D.stem,
        help="file names STEM_<variant>.tflite (default: %(default)s)",
    )
    p.add_argument(
        "--calibration-images",
        type=at_least(1),
        default=_D.calibration_images,
        help="int8 representative images, stratified, seeded (default: %(default)s)",
    )
    p.add_argument(
        "--calibration-dir",
        type=Path,
        default=_D.calibration_dir,
        help="training images: a 140k-style root (its train/ split) or a real/+fake/ "
        f"folder; default: the run's data dir, else {default_sample_dir()}",
    )
    p.add_argument(
        "--valid-dir",
        type=Path,
        default=_D.valid_dir,
        help="validation images (real/ + fake/); default: CALIBRATION_DIR/valid",
    )
    p.add_argument(
        "--valid-limit",
        type=at_least(10),
        default=_D.valid_limit,
        help="verify on at most this many validation images (stratified)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=_D.seed,
        help="seed for the calibration / validation samples and QAT",
    )
    p.add_argument(
        "--legacy-fully-connected",
        action="store_true",
        default=_D.legacy_fully_connected,
        help="keep FULLY_CONNECTED at a version tflite-runtime 2.14 loads (<= 9)",
    )
    p.add_argument(
        "--min-agreement",
        type=float,
        default=_D.min_agreement,
        help="fail a variant whose label agreement with Keras is below this",
    )
    p.add_argument(
        "--threads",
        type=at_least(1),
        default=_D.threads,
        help="CPU threads for TensorFlow and the interpreter (default: %(default)s)",
    )
    q = p.add_argument_group("quantization-aware training (int8)")
    q.add_argument(
        "--qat",
        choices=QAT_MODES,
        default=_Q.mode,
        help="auto: when PTQ int8 loses more than --qat-threshold-pp (default)",
    )
    q.add_argument(
        "--qat-threshold-pp",
        type=float,
        default=_Q.threshold_pp,
        help="accuracy loss (percentage points) that triggers QAT in auto mode",
    )
    q.add_argument("--qat-epochs", type=at_least(1), default=_Q.epochs, help="fine-tuning epochs")
    q.add_argument(
        "--qat-learning-rate", type=float, default=_Q.learning_rate, help="QAT learning rate (Adam)"
    )
    q.add_argument("--qat-batch-size", type=at_least(1), default=_Q.batch_size)
    q.add_argument(
        "--qat-train-limit",
        type=at_least(0),
        default=_Q.train_limit,
        help="QAT on at most this many training images (0: all)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug messages on stderr")
    return p


def options_from(args: argparse.Namespace) -> ConvertOptions:
    qat = QatOptions(
        mode=args.qat,
        threshold_pp=args.qat_threshold_pp,
        epochs=args.qat_epochs,
        learning_rate=args.qat_learning_rate,
        batch_size=args.qat_batch_size,
        train_limit=args.qat_train_limit,
    )
    return ConvertOptions(
        source=args.source,
        out=args.out,
        variants=parse_variants(args.variants),
        stem=args.stem,
        calibration_images=args.calibration_images,
        calibration_dir=args.calibration_dir,
        valid_dir=args.valid_dir,
        valid_limit=args.valid_limit,
        seed=args.seed,
        legacy_fully_connected=args.legacy_fully_connected,
        qat=qat,
        min_agreement=args.min_agreement,
        threads=args.threads,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        result = run_conversion(options_from(args))
    except EdgeDetectError as e:
        usage_error(PROG, str(e))
    log.info(f"report: {result.report_json} and {result.report_md}")
    if not result.passed:
        log.error(f"{PROG}: error: conversion FAILED verification:")
        for f in result.report.failures:
            log.error(f"  - {f}")
        return EXIT_FAILED
    kept = result.report.kept_files
    log.info(f"ok: {len(kept)} bundles in {args.out}: {', '.join(kept)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
