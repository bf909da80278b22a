"""`python -m train evaluate | gradcam | shortcut-check | stability`: how a model does."""

from __future__ import annotations

import argparse
import json

from edge_runtime.console import usage_error

from ..recipe_files import config_from_recipe
from ..sources import SOURCES_FILE
from . import PROG


def add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="one table, one row per labelled set",
        description="One table, one row per set: accuracy, precision, recall, F1, ROC AUC "
        "(positive = real).",
    )
    p.add_argument("model", help="model.keras of a run, or a .tflite / bundle / variant name")
    p.add_argument(
        "sets",
        nargs="*",
        help="labelled folders (real/ and/or fake/), or a layout; none with --sources",
    )
    p.add_argument(
        "--sources",
        nargs="?",
        const=str(SOURCES_FILE),
        default=None,
        help="one row per source of train/sources.json (or FILE): its test split by the fixed "
        "hash split, evaluation-only sets whole",
    )
    p.add_argument(
        "--data", default=None, help="with --sources: the folder holding them (../shared/data)"
    )
    p.add_argument(
        "--json",
        dest="json_out",
        default=None,
        help="also write the results as JSON to this file ('-' = stdout instead)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="P(fake) threshold (default: the run's threshold.json or the bundle's)",
    )
    p.add_argument(
        "--limit-per-class",
        type=int,
        default=None,
        help="at most N images per class per set (seeded sample)",
    )
    p.add_argument("--batch-size", type=int, default=64, help="batch size for a Keras model")
    p.add_argument(
        "--num-threads",
        type=int,
        default=None,
        help="interpreter threads for .tflite models (default: all cores)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of --limit-per-class sampling")


def add_gradcam(sub) -> None:
    p = sub.add_parser(
        "gradcam",
        help="Grad-CAM heatmaps",
        description="Grad-CAM heatmaps: one overlay per image and a grid per class.",
    )
    p.add_argument("model", help="model.keras of a run")
    p.add_argument("inputs", nargs="+", help="image files, folders, or labelled folders")
    p.add_argument("--out", default="gradcam", help="output folder (default: %(default)s)")
    p.add_argument("--layer", default=None, help="target layer (default: the last conv layer)")
    p.add_argument("--per-class", type=int, default=8, help="images per class (seeded sample)")
    p.add_argument("--target", default="predicted", help="predicted | fake | real")
    p.add_argument("--alpha", type=float, default=0.45, help="heatmap opacity in the overlays")
    p.add_argument("--seed", type=int, default=0, help="seed of the per-class sample")


def add_checks(sub) -> None:
    p = sub.add_parser(
        "shortcut-check",
        help="format-only classifier before/after the training pipeline",
        description="A k-NN classifier on format features only (bytes per pixel, width, height, "
        "JPEG quality) learns real vs fake on the sources' train+valid files, scored on their "
        "test files: as stored (before) and as the training pipeline re-encodes them (after).",
    )
    p.add_argument("--sources", default=None, help="sources file (default train/sources.json)")
    p.add_argument("--data", default=None, help="folder holding the sources (../shared/data)")
    p.add_argument(
        "--recipe",
        default="broad",
        help="recipe whose harmonize_* values are used (default: %(default)s)",
    )
    p.add_argument(
        "--limit", type=int, default=300, help="files per source and split (default: %(default)s)"
    )
    p.add_argument("--seed", type=int, default=42, help="seed (default: %(default)s)")
    p.add_argument("--json", dest="json_out", default=None, help="also write JSON here")
    p = sub.add_parser(
        "stability",
        help="P(fake) under JPEG re-encoding and resize round trips",
        description="P(fake) of MODEL on each image and on its JPEG q70-95 re-encodings and "
        "0.5x-2x resize round trips: mean |dP| and the share of flipped decisions.",
    )
    p.add_argument("model", help="model.keras of a run, or a .tflite / bundle / variant name")
    p.add_argument("sets", nargs="*", help="labelled folders (real/ and/or fake/), or a layout")
    p.add_argument(
        "--sources",
        nargs="?",
        const=str(SOURCES_FILE),
        default=None,
        help="also every training source's fixed test split (at most --limit-per-class each)",
    )
    p.add_argument(
        "--limit-per-class",
        type=int,
        default=100,
        help="images per class per set (seeded sample; default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--num-threads", type=int, default=None, help="interpreter threads")
    p.add_argument("--json", dest="json_out", default=None, help="also write JSON here")


def run_evaluate(args: argparse.Namespace) -> int:
    from edge_runtime.fileio import atomic_write_json

    from ..evaluate import evaluate_sets, evaluate_sources, report, table

    if args.sources and args.sets:
        usage_error(f"{PROG} evaluate", "give either SET folders or --sources, not both")
    common = (args.threshold, args.batch_size, args.num_threads, args.limit_per_class, args.seed)
    if args.sources:
        rows, t = evaluate_sources(args.model, args.sources, args.data, *common)
    else:
        rows, t = evaluate_sets(args.model, args.sets, *common)
    result = report(args.model, rows, t)
    if args.json_out == "-":
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"model {args.model}, threshold {t:.4f} "
        "(fake when P(fake) >= threshold; positive class = real)\n"
    )
    print(table(rows))
    if args.json_out:
        atomic_write_json(args.json_out, result)
    return 0


def run_gradcam(args: argparse.Namespace) -> int:
    from ..gradcam import run_gradcam as gradcam

    gradcam(
        args.model,
        args.inputs,
        args.out,
        args.layer,
        args.per_class,
        args.target,
        args.alpha,
        args.seed,
    )
    return 0


def run_shortcut_check(args: argparse.Namespace) -> int:
    from edge_runtime.fileio import atomic_write_json

    from ..shortcuts import shortcut_check, shortcut_markdown

    # only the harmonize_* values matter; --sources so that a recipe's source weights validate
    h = config_from_recipe(args.recipe, sources=str(SOURCES_FILE)).validate().harmonize()
    if not h.on:
        usage_error(f"{PROG} shortcut-check", f"recipe {args.recipe}: harmonize_size is 0 (off)")
    result = shortcut_check(args.sources, args.data, h, args.limit, args.seed)
    print(shortcut_markdown(result))
    if args.json_out:
        atomic_write_json(args.json_out, result)
    return 0


def run_stability(args: argparse.Namespace) -> int:
    from edge_runtime.fileio import atomic_write_json

    from ..shortcuts import stability, stability_markdown

    if not args.sets and not args.sources:
        usage_error(f"{PROG} stability", "give SET folders and/or --sources")
    result = stability(
        args.model, args.sets, args.limit_per_class, args.seed, args.num_threads, args.sources
    )
    print(f"model {args.model}, threshold {result['threshold']:.4f}\n")
    print(stability_markdown(result))
    if args.json_out:
        atomic_write_json(args.json_out, result)
    return 0
