"""`python -m train calibrate`: parser and handler (the work is train/calibrate.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_runtime.console import usage_error

from .calibrate import DEFAULT_BINS, DEFAULT_TARGET_FPR, OUTPUT_FILES

COMMAND = "python -m train calibrate"


def add_calibrate(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="threshold for a target false-positive rate on reals, and calibrated P(fake)",
        description="Score every trainable source's valid split through edge_runtime's "
        "Detector (faces mode none: give the crop tree of `prepare-crops` as --data), fit a "
        "temperature so that P(fake) = 0.9 means about nine in ten (sources pooled, each class "
        "half, each source an equal share of its class), pick the lowest threshold on the "
        "calibrated P(fake) whose false-positive rate on the valid reals (each real source "
        "weighted equally) is within --target-fpr, then report every source's test split at "
        "that threshold. Writes OUT/calibration.json, OUT/calibration.md (also printed) and "
        "OUT/reliability.png; with --write-bundle, a copy of the model carrying both.",
    )
    p.add_argument("model", help="a .tflite / bundle / bundled variant name (as train evaluate)")
    p.add_argument("--out", required=True, help="folder for the report (created)")
    p.add_argument("--sources", default=None, help="sources file (default train/sources.json)")
    p.add_argument(
        "--data",
        default=None,
        help="folder holding the sources, e.g. a prepare-crops tree (default ../shared/data)",
    )
    p.add_argument(
        "--target-fpr",
        type=float,
        default=DEFAULT_TARGET_FPR,
        help="largest share of valid reals called fake (default: %(default)s)",
    )
    p.add_argument(
        "--bins", type=int, default=DEFAULT_BINS, help="reliability bins (default: %(default)s)"
    )
    p.add_argument(
        "--write-bundle",
        default=None,
        metavar="OUT.tflite",
        help="also write a copy of the model whose bundle sidecar carries the new threshold "
        "and the temperature",
    )
    p.add_argument(
        "--limit-per-class",
        type=int,
        default=None,
        help="at most N images per source and split (seeded sample; default: all)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of --limit-per-class sampling")
    p.add_argument("--num-threads", type=int, default=None, help="interpreter threads")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier report / bundle")


def _check_outputs(args: argparse.Namespace) -> None:
    """Every output checked before minutes of scoring: nothing overwritten unless asked."""
    from edge_runtime.bundle import sidecar_path
    from edge_runtime.registry import resolve_path

    taken = [Path(args.out) / name for name in OUTPUT_FILES]
    if args.write_bundle:
        target = Path(args.write_bundle)
        if target.suffix != ".tflite":
            usage_error(COMMAND, f"--write-bundle {target}: must end in .tflite")
        try:
            same = target.resolve() == resolve_path(args.model).resolve()
        except Exception:  # noqa: BLE001 - an unresolvable model fails later with its own line
            same = False
        if same:
            usage_error(COMMAND, f"--write-bundle {target}: is the model itself")
        taken += [target, sidecar_path(target)]
    existing = [str(p) for p in taken if p.exists()]
    if existing and not args.overwrite:
        usage_error(COMMAND, f"{', '.join(existing)} exist(s); pass --overwrite to replace")
    if args.bins < 1:
        usage_error(COMMAND, f"--bins {args.bins}: must be >= 1")


def run_calibrate(args: argparse.Namespace) -> int:
    from edge_runtime.fileio import atomic_write_json, atomic_write_text
    from workbench.calibration import plot_reliability
    from workbench.paths import shared_data_dir

    from .calibrate import (
        calibrate,
        markdown,
        write_calibrated_bundle,
    )
    from .sources import load_sources

    _check_outputs(args)
    sources = load_sources(args.sources)
    report, curves = calibrate(
        args.model,
        sources,
        args.data or shared_data_dir(),
        args.target_fpr,
        args.bins,
        args.limit_per_class,
        args.seed,
        args.num_threads,
    )
    out = Path(args.out)
    if args.write_bundle:
        path = write_calibrated_bundle(
            args.model, args.write_bundle, report["threshold"], report["temperature"]
        )
        report["bundle"] = str(path)
    text = markdown(report)
    atomic_write_json(out / OUTPUT_FILES[0], report)
    atomic_write_text(out / OUTPUT_FILES[1], text)
    title = f"{Path(report['model_path']).name}: P(fake) reliability (balanced)"
    plot_reliability(curves, out / OUTPUT_FILES[2], title)
    print(text, end="")
    if args.write_bundle:
        print(f"\nbundle: {report['bundle']} (threshold and calibration in its sidecar)")
    return 0


__all__ = ["add_calibrate", "run_calibrate"]
