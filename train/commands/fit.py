"""`python -m train fit`: its flags, and the TrainConfig they describe.

Flag defaults come from TrainConfig (paths, engine) and the recipe files (recipe values): one
definition each; a recipe flag left out keeps the recipe's value.
"""

from __future__ import annotations

import argparse

from ..config import (
    AUGMENTATIONS,
    AUTO_ON_OFF,
    BALANCES,
    DEFAULT_RECIPE,
    STRATEGIES,
    TrainConfig,
    comma_list,
    config_from_recipe,
    float_range,
    int_range,
    load_recipe,
    parse_augment,
    parse_trainable_layers,
    recipe_names,
    source_weight,
)
from ..sources import SOURCES_FILE

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


def add_fit(sub) -> None:
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
        type=comma_list,
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
        type=source_weight,
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
        type=int_range,
        default=None,
        help="JPEG quality range LO-HI of the re-encoding" + _d("harmonize_quality"),
    )
    g.add_argument(
        "--harmonize-scale",
        type=float_range,
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


def run_fit_command(args: argparse.Namespace) -> int:
    cfg = fit_config(args)
    from ..fit import run_fit

    print(run_fit(cfg).run_dir)
    return 0
