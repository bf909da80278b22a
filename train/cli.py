"""Command line: `python -m train fit|evaluate|gradcam` (run from the repository root).

argparse with edge_runtime.console's usage errors and logging, like every CLI of the repository.
Flag defaults come from TrainConfig (paths, engine) and the recipe files (recipe values): one
definition each; a recipe flag left out keeps the recipe's value.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from edge_runtime.console import (
    EXIT_USAGE,
    ArgumentParser,
    setup_logging,
    usage_error,
)
from edge_runtime.types import EdgeDetectError
from workbench.crops import CropSettings
from workbench.paths import shared_data_dir

from .calibrate_cli import add_calibrate, run_calibrate
from .config import (
    AUGMENTATIONS,
    AUTO_ON_OFF,
    BALANCES,
    DEFAULT_RECIPE,
    STRATEGIES,
    TrainConfig,
    config_from_recipe,
    load_recipe,
    parse_augment,
    parse_trainable_layers,
    recipe_names,
)
from .ship import DEFAULT_CURRENT, rule_summary
from .sources import SOURCES_FILE

PROG = "python -m train"
EXIT_INTERRUPTED = 130
_DEFAULTS = TrainConfig()
_DEFAULT_RECIPE = load_recipe(DEFAULT_RECIPE)


def _d(name: str) -> str:
    """The default recipe's value of a flag, for its help text."""
    value = _DEFAULT_RECIPE.get(name, getattr(_DEFAULTS, name))
    if isinstance(value, dict):
        value = ",".join(f"{k}={v:g}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        value = ",".join(map(str, value)) or "none"
    return f" (recipe {DEFAULT_RECIPE!r}: {value})"


# Recipe flags: (name, type, help). Each defaults to None = the recipe's value.
_RECIPE_FLAGS = (
    ("arch", str, "mobilenet | densenet121."),
    ("alpha", float, "MobileNet width multiplier (0.25, 0.5, 0.75, 1.0)."),
    ("weights", str, "imagenet | none (random initialisation)."),
    ("trainable_layers", str, "Last N base layers trainable; 0 = head only; -1 or 'all' = every."),
    ("dense_units", int, "Units of the hidden Dense(relu) layer of the head."),
    ("dropout", float, "Dropout rate before the final Dense (0 = no Dropout layer)."),
    ("learning_rate", float, "Adam(W) learning rate."),
    ("base_learning_rate_multiplier", float, "Trainable base layers learn at lr x this."),
    ("weight_decay", float, "Decoupled weight decay; > 0 switches Adam to AdamW."),
    ("label_smoothing", float, "Label smoothing of the cross-entropy."),
    ("batch_size", int, "Global batch size (split over replicas)."),
    ("epochs", int, "Epochs; the weights of the lowest validation loss are kept."),
    ("seed", int, "Seed of initialisation, shuffling, sampling, augmentation."),
)
_PREPROCESS_FLAGS = (
    ("image_size", int, "Network input height = width."),
    ("resize", str, "nearest|bilinear|bicubic|lanczos|area."),
    ("crop", str, "none (squash the whole image) | center (centred square first)."),
    ("crop_fraction", float, "With --crop center: side of the square / shorter side."),
    ("mean", float, "x = (pixel - mean) / std."),
    ("std", float, "x = (pixel - mean) / std."),
)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_fit(sub) -> None:
    p = sub.add_parser(
        "fit",
        help="train a recipe into a run folder",
        description="Train a recipe (default: the shipped model's; --recipe report: the "
        "report's) and write its run folder (train/README.md).",
    )
    g = p.add_argument_group("recipe")
    g.add_argument(
        "--recipe",
        default=DEFAULT_RECIPE,
        help=f"recipe to start from: {', '.join(recipe_names())} (train/recipes/NAME.json) or a "
        ".json file; flags override its values (default: %(default)s, the shipped model's)",
    )
    for name, kind, text in _RECIPE_FLAGS:
        g.add_argument(_flag(name), type=kind, default=None, help=text + _d(name))
    for name, text in (
        ("freeze_batchnorm", "BatchNorm layers in inference mode and untrained."),
        ("threshold_from_valid", "Threshold maximising validation accuracy (threshold.json)."),
    ):
        g.add_argument(
            _flag(name), action=argparse.BooleanOptionalAction, default=None, help=text + _d(name)
        )
    g = p.add_argument_group("preprocessing (edge_runtime PreprocessSpec)")
    for name, kind, text in _PREPROCESS_FLAGS:
        g.add_argument(_flag(name), type=kind, default=None, help=text + _d(name))
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        default=_DEFAULTS.data,
        help="{train,valid,test}/{real,fake}/ or "
        "the Kaggle download's top folder (default: %(default)s)",
    )
    g.add_argument("--out", default=_DEFAULTS.out, help="run folder (default runs/fit-<date>)")
    g.add_argument(
        "--limit-per-class",
        type=int,
        default=_DEFAULTS.limit_per_class,
        help="at most N images per class and split (seeded sample)",
    )
    g.add_argument(
        "--use-csv",
        choices=AUTO_ON_OFF,
        default=_DEFAULTS.use_csv,
        help="use the Kaggle train/valid/test.csv lists (default: %(default)s)",
    )
    g.add_argument(
        "--augment",
        default=None,
        help=f"comma list of {','.join(AUGMENTATIONS)}, or none" + _d("augment"),
    )
    g.add_argument(
        "--random-crop-fraction",
        type=float,
        default=None,
        help="side of the random "
        "'crop' square / shorter side (unset: --crop-fraction with --crop center, else 0.9)",
    )
    g = p.add_argument_group("sources (train/sources.json, train/README.md 'Broad training')")
    g.add_argument(
        "--sources",
        nargs="?",
        const=str(SOURCES_FILE),
        default=_DEFAULTS.sources,
        help="train on the declared sources instead of one --data layout (--data is then the "
        "folder holding them, default ../shared/data); optional FILE (default train/sources.json)",
    )
    g.add_argument(
        "--hold-out",
        type=_comma_list,
        default=_DEFAULTS.hold_out,
        help="comma list of source names or generator families kept out of train and valid "
        "(their test rows stay in the per-source table), e.g. stylegan2 or sd21",
    )
    g.add_argument(
        "--balance",
        choices=BALANCES,
        default=None,
        help="class: sample weights "
        "n/(2 n_class), both classes carry half the loss; source: also every source the same "
        "share of its class, whatever its size" + _d("balance"),
    )
    g.add_argument(
        "--source-weight",
        dest="source_weights",
        type=_source_weight,
        action="append",
        default=None,
        metavar="NAME=W",
        help="multiply a source's loss weight within its class (repeatable; before --balance), "
        "e.g. faces140k_fake=2" + _d("source_weights"),
    )
    g.add_argument(
        "--init-from",
        default=_DEFAULTS.init_from,
        metavar="MODEL",
        help="start every layer of the same name and shape from this .keras model (a warm "
        "start, e.g. an earlier run's model.keras); other layers as --weights says",
    )
    g.add_argument(
        "--harmonize-size",
        type=int,
        default=None,
        help="common square resolution "
        "every training image is brought to before re-encoding; -1 = each image's own (its centred "
        "square), 0 = off" + _d("harmonize_size"),
    )
    g.add_argument(
        "--harmonize-quality",
        type=_int_range,
        default=None,
        help="JPEG quality range LO-HI of the re-encoding" + _d("harmonize_quality"),
    )
    g.add_argument(
        "--harmonize-scale",
        type=_float_range,
        default=None,
        help="resize factor range LO-HI before the re-encoding" + _d("harmonize_scale"),
    )
    g.add_argument(
        "--harmonize-per-epoch",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a new draw every epoch (streams, no feature cache); else one per file"
        + _d("harmonize_per_epoch"),
    )
    _add_engine(p)


def _range(text: str, kind):
    parts = text.replace(",", "-").split("-")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected LO-HI, got {text!r}")
    try:
        return (kind(parts[0]), kind(parts[1]))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO-HI numbers, got {text!r}") from None


def _source_weight(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=WEIGHT") from None


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _int_range(text: str):
    return _range(text, int)


def _float_range(text: str):
    return _range(text, float)


def _add_engine(p) -> None:
    g = p.add_argument_group("engine")
    g.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=_DEFAULTS.strategy,
        help="mirrored: all local GPUs or the CPU; multiworker: TF_CONFIG",
    )
    g.add_argument(
        "--cache-features",
        choices=AUTO_ON_OFF,
        default=_DEFAULTS.cache_features,
        help="train from cached outputs of the frozen layers (default: %(default)s)",
    )
    g.add_argument(
        "--in-memory",
        choices=AUTO_ON_OFF,
        default=_DEFAULTS.in_memory,
        help="decode all images into RAM once (auto: when they fit --memory-gb)",
    )
    g.add_argument(
        "--memory-gb",
        type=float,
        default=_DEFAULTS.memory_gb,
        help="RAM budget for decoded images / cached features (default: %(default)s)",
    )
    g.add_argument(
        "--checkpoint",
        action=argparse.BooleanOptionalAction,
        default=_DEFAULTS.checkpoint,
        help="save model.keras at each val-loss improvement",
    )
    g.add_argument(
        "--deterministic",
        action="store_true",
        default=_DEFAULTS.deterministic,
        help="tf.config.experimental.enable_op_determinism() (slower)",
    )
    g.add_argument(
        "--overwrite",
        action="store_true",
        default=_DEFAULTS.overwrite,
        help="reuse a non-empty --out folder",
    )
    g.add_argument(
        "--resume",
        default=_DEFAULTS.resume,
        metavar="RUN",
        help="continue the run folder RUN from its last finished epoch (its own recipe and data; "
        "engine flags from this command)",
    )


def _add_evaluate(sub) -> None:
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


def _add_gradcam(sub) -> None:
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


def _add_ship_check(sub) -> None:
    p = sub.add_parser(
        "ship-check",
        help="does a candidate become the default model (issue 18's rule)",
        description="Issue 18's ship rule (train/ship.py) on the fixed per-source test splits "
        f"(the candidate's int8 at its bundle threshold): {rule_summary()}. Each MODEL is a "
        ".tflite / bundled name / model.keras (evaluated here on --data) or a saved "
        "`evaluate --sources --json` report.",
        epilog="Exit status 0: ship the candidate; 1: keep the current model; 2: bad input.",
    )
    p.add_argument("candidate_int8", metavar="CANDIDATE_INT8", help="the candidate's int8 .tflite")
    p.add_argument("candidate_float", metavar="CANDIDATE_FLOAT", help="its float model or report")
    p.add_argument(
        "--current",
        default=DEFAULT_CURRENT,
        help="the model the 140k check compares with, or its report (default: %(default)s)",
    )
    p.add_argument("--sources", default=None, help="sources file (default train/sources.json)")
    p.add_argument(
        "--data",
        default=None,
        help="the folder holding the sources for the models evaluated here: the crop tree of "
        "`prepare-crops` (default ../shared/data)",
    )
    p.add_argument("--num-threads", type=int, default=None, help="interpreter threads")
    p.add_argument("--json", dest="json_out", default=None, help="also write every figure here")


def _add_mix_layout(sub) -> None:
    p = sub.add_parser(
        "mix-layout",
        help="the --sources mix as a train/valid/test folder layout of symbolic links",
        description="Write OUT/{train,valid,test}/{real,fake}/ with one symbolic link per file "
        "of the mix's splits (what `fit --sources` trains and validates on), named "
        "<source>__<file>: for tools that read a layout, e.g. `python -m convert RUN "
        "--calibration-dir OUT` calibrates int8 on the mix. No image is copied.",
    )
    p.add_argument("out", help="a new or empty folder")
    p.add_argument("--sources", default=None, help="sources file (default train/sources.json)")
    p.add_argument("--data", default=None, help="folder holding the sources (../shared/data)")
    p.add_argument("--hold-out", type=_comma_list, default=(), help="as fit --hold-out")


def _add_prepare_crops(sub) -> None:
    p = sub.add_parser(
        "prepare-crops",
        help="every source image through edge-detect's face stage; the crops it would judge",
        description="Send every image of every source (whole photos and ready-made crops "
        "alike) through edge_runtime's face stage and alignment exactly as edge-detect does, "
        "and write the crop it would classify (the largest judged face) as a PNG in OUT, a "
        "tree that mirrors the data folder (x.jpg -> x.jpg.crop.png, same split). Each "
        "source's index.json lists box, detector score, face size, whether it was upsampled "
        "and why an image has no crop (no face, too small, unreadable). Give OUT as --data to "
        "fit / evaluate --sources / benchmarks sources. A stopped run resumes: finished "
        "sources are kept when their settings match.",
    )
    p.add_argument("out", help="the crop tree (created; finished sources are reused)")
    p.add_argument("--sources", default=None, help="sources file (default train/sources.json)")
    p.add_argument("--data", default=None, help="folder holding the sources (../shared/data)")
    p.add_argument("--only", type=_comma_list, default=(), help="comma list of source names")
    p.add_argument(
        "--model",
        default=CropSettings.model,
        help="whose input size sets the decode rule (default: %(default)s)",
    )
    p.add_argument(
        "--workers", type=int, default=2, help="decode/crop threads (default: %(default)s)"
    )
    p.add_argument("--json", dest="json_out", default=None, help="also write the summary here")


def _prepare_crops(args: argparse.Namespace) -> int:
    from edge_runtime.fileio import atomic_write_json
    from workbench.crops import format_summary, prepare_crops
    from workbench.sources import load_sources

    sources = load_sources(args.sources)
    unknown = sorted(set(args.only) - {s.name for s in sources.sources})
    if unknown:
        usage_error(f"{PROG} prepare-crops", f"unknown source(s): {', '.join(unknown)}")
    report = prepare_crops(
        sources,
        args.data or shared_data_dir(),
        args.out,
        CropSettings(model=args.model),
        workers=args.workers,
        only=list(args.only),
    )
    print(format_summary(report))
    if args.json_out:
        atomic_write_json(args.json_out, report)
    return 0


def _add_from_tflite(sub) -> None:
    p = sub.add_parser(
        "from-tflite",
        help="a Keras model rebuilt from a MobileNet classifier .tflite (to warm-start fit)",
        description="Rebuild train/model.py's MobileNet classifier (alpha, input size, Dense "
        "units read from the .tflite) with the .tflite's weights (int8 / fp16 dequantized), for "
        "`fit --init-from OUT --freeze-batchnorm`: BatchNorm is folded into the convs, so the "
        "model matches the .tflite only with BatchNorm in inference mode (train/README.md).",
    )
    p.add_argument("model", help="a MobileNet classifier .tflite (fp32, fp16, dynamic or int8)")
    p.add_argument("out", help="the .keras file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    p.add_argument(
        "--check",
        metavar="DIR",
        default=None,
        help="also compare P(fake) of OUT and the .tflite on images of DIR (recursive)",
    )
    p.add_argument(
        "--check-limit", type=int, default=50, help="images for --check (default: %(default)s)"
    )


def _from_tflite(args: argparse.Namespace) -> int:
    from .from_tflite import compare_with_tflite, keras_from_tflite
    from .model import save_model_atomic

    if os.path.exists(args.out) and not args.overwrite:
        usage_error(f"{PROG} from-tflite", f"{args.out} exists (--overwrite replaces it)")
    model = keras_from_tflite(args.model)
    if args.check:
        print(json.dumps(compare_with_tflite(model, args.model, args.check, args.check_limit)))
    print(save_model_atomic(model, args.out))
    return 0


def _add_checks(sub) -> None:
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


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="Train, evaluate and explain the edge-detect Keras model "
        "(needs the train extra).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug messages on stderr")
    sub = parser.add_subparsers(
        dest="command",
        required=True,
    )
    _add_fit(sub)
    _add_evaluate(sub)
    _add_gradcam(sub)
    _add_checks(sub)
    _add_ship_check(sub)
    _add_mix_layout(sub)
    _add_prepare_crops(sub)
    _add_from_tflite(sub)
    add_calibrate(sub)
    return parser


def fit_config(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig the fit flags describe: recipe, then every flag that was given."""
    names = [n for n, _, _ in _RECIPE_FLAGS + _PREPROCESS_FLAGS]
    names += ["freeze_batchnorm", "threshold_from_valid", "augment", "random_crop_fraction"]
    names += ["balance", "harmonize_size", "harmonize_quality", "harmonize_scale"]
    names += ["harmonize_per_epoch"]
    given = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    if "augment" in given:
        given["augment"] = parse_augment(given["augment"])
    if "trainable_layers" in given:
        given["trainable_layers"] = parse_trainable_layers(given["trainable_layers"])
    for name in (
        "data",
        "out",
        "limit_per_class",
        "use_csv",
        "strategy",
        "cache_features",
        "in_memory",
        "memory_gb",
        "checkpoint",
        "deterministic",
        "overwrite",
        "sources",
        "resume",
    ):
        given[name] = getattr(args, name)
    given["hold_out"] = args.hold_out
    if args.source_weights is not None:
        given["source_weights"] = dict(args.source_weights)
    given["init_from"] = args.init_from
    return config_from_recipe(args.recipe, **given).validate()


def _fit(args: argparse.Namespace) -> int:
    cfg = fit_config(args)
    from .fit import run_fit

    print(run_fit(cfg).run_dir)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from edge_runtime.fileio import atomic_write_json

    from .evaluate import evaluate_sets, evaluate_sources, report, table

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


def _gradcam(args: argparse.Namespace) -> int:
    from .gradcam import run_gradcam

    run_gradcam(
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


def _shortcut_check(args: argparse.Namespace) -> int:
    from edge_runtime.fileio import atomic_write_json

    from .shortcuts import shortcut_check, shortcut_markdown

    # only the harmonize_* values matter; --sources so that a recipe's source weights validate
    h = config_from_recipe(args.recipe, sources=str(SOURCES_FILE)).validate().harmonize()
    if not h.on:
        usage_error(f"{PROG} shortcut-check", f"recipe {args.recipe}: harmonize_size is 0 (off)")
    result = shortcut_check(args.sources, args.data, h, args.limit, args.seed)
    print(shortcut_markdown(result))
    if args.json_out:
        atomic_write_json(args.json_out, result)
    return 0


def _ship_check(args: argparse.Namespace) -> int:
    from edge_runtime.fileio import atomic_write_json

    from .ship import render, ship_check

    models = (args.candidate_int8, args.candidate_float, args.current)
    checks, doc = ship_check(*models, args.sources, args.data, args.num_threads)
    print(render(checks))
    if args.json_out:
        atomic_write_json(args.json_out, doc)
    return 0 if doc["ship"] else 1


def _mix_layout(args: argparse.Namespace) -> int:
    from .mix_layout import write_mix_layout

    counts = write_mix_layout(args.out, args.sources, args.data, args.hold_out)
    for split, by_class in counts.items():
        print(f"{split}: {by_class['real']} real, {by_class['fake']} fake -> {args.out}/{split}")
    return 0


def _stability(args: argparse.Namespace) -> int:
    from edge_runtime.fileio import atomic_write_json

    from .shortcuts import stability, stability_markdown

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


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done; 2 bad input (one line `python -m train CMD: error: ...`); 130 Ctrl-C."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    prog = f"{PROG} {args.command}"
    run = {
        "fit": _fit,
        "evaluate": _evaluate,
        "gradcam": _gradcam,
        "shortcut-check": _shortcut_check,
        "stability": _stability,
        "ship-check": _ship_check,
        "mix-layout": _mix_layout,
        "prepare-crops": _prepare_crops,
        "from-tflite": _from_tflite,
        "calibrate": run_calibrate,
    }[args.command]
    from .fit import Interrupted

    try:
        return run(args)
    except Interrupted as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print(f"{prog}: error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except EdgeDetectError as e:
        usage_error(prog, str(e))
    return EXIT_USAGE


__all__ = ["build_parser", "fit_config", "main"]
