"""Command line: `python -m train fit|evaluate|gradcam` (run from the repository root)."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer

from edge_runtime.types import EdgeDetectError

from .config import (
    DEFAULT_RECIPE,
    TrainConfig,
    config_from_recipe,
    load_recipe,
    parse_augment,
    parse_trainable_layers,
    recipe_names,
)

# Flag defaults come from TrainConfig (paths, engine) and the recipe files (the recipe values):
# one definition each. Recipe flags default to None = "the recipe's value".
_DEFAULTS = TrainConfig()
_DEFAULT_RECIPE = load_recipe(DEFAULT_RECIPE)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Train, evaluate and explain the edge-detect Keras model (needs the train extra).",
)

_RECIPE = "Recipe"
_PRE = "Preprocessing (edge_runtime PreprocessSpec)"
_DATA = "Data"
_ENGINE = "Engine"


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _d(name: str) -> str:
    """The default recipe's value of a flag, for its help text."""
    value = _DEFAULT_RECIPE.get(name, getattr(_DEFAULTS, name))
    if isinstance(value, (list, tuple)):
        value = ",".join(value) or "none"
    return f" (recipe {DEFAULT_RECIPE!r}: {value})"


@app.command()
def fit(
    recipe: str = typer.Option(
        DEFAULT_RECIPE,
        help=f"Recipe to start from: {', '.join(recipe_names())} "
        "(train/recipes/NAME.json), or a .json file; "
        "flags override its values. 'report' is the "
        "report's recipe, 'default' the shipped model's.",
        rich_help_panel=_RECIPE,
    ),
    data: str = typer.Option(
        _DEFAULTS.data,
        help="Folder with {train,valid,test}/{real,fake}/, or the Kaggle download's top folder.",
        rich_help_panel=_DATA,
    ),
    out: str = typer.Option(
        _DEFAULTS.out, help="Run folder (default runs/fit-<date>-<time>).", rich_help_panel=_DATA
    ),
    limit_per_class: int | None = typer.Option(
        _DEFAULTS.limit_per_class,
        help="At most N images per class and split (seeded sample), for quick runs.",
        rich_help_panel=_DATA,
    ),
    use_csv: str = typer.Option(
        _DEFAULTS.use_csv,
        help="Use the Kaggle train/valid/test.csv file lists: auto|on|off.",
        rich_help_panel=_DATA,
    ),
    augment: str | None = typer.Option(
        None,
        help="Comma list of flip,crop,jpeg,blur,color, or none." + _d("augment"),
        rich_help_panel=_DATA,
    ),
    random_crop_fraction: float | None = typer.Option(
        None,
        help="Side of the random 'crop' square / shorter image side "
        "(unset: --crop-fraction with --crop center, else 0.9).",
        rich_help_panel=_DATA,
    ),
    arch: str | None = typer.Option(
        None, help="mobilenet | densenet121." + _d("arch"), rich_help_panel=_RECIPE
    ),
    alpha: float | None = typer.Option(
        None,
        help="MobileNet width multiplier (0.25, 0.5, 0.75, 1.0)." + _d("alpha"),
        rich_help_panel=_RECIPE,
    ),
    weights: str | None = typer.Option(
        None,
        help="imagenet | none (random initialisation)." + _d("weights"),
        rich_help_panel=_RECIPE,
    ),
    trainable_layers: str | None = typer.Option(
        None,
        help="Last N base layers trainable; 0 = head only; -1 or 'all' = every layer."
        + _d("trainable_layers"),
        rich_help_panel=_RECIPE,
    ),
    dense_units: int | None = typer.Option(
        None,
        help="Units of the hidden Dense(relu) layer of the head." + _d("dense_units"),
        rich_help_panel=_RECIPE,
    ),
    dropout: float | None = typer.Option(
        None,
        help="Dropout rate before the final Dense (0 = no Dropout layer)." + _d("dropout"),
        rich_help_panel=_RECIPE,
    ),
    freeze_batchnorm: bool | None = typer.Option(
        None,
        "--freeze-batchnorm/--no-freeze-batchnorm",
        help="Keep every BatchNorm layer in inference mode and untrained." + _d("freeze_batchnorm"),
        rich_help_panel=_RECIPE,
    ),
    learning_rate: float | None = typer.Option(
        None, help="Adam(W) learning rate." + _d("learning_rate"), rich_help_panel=_RECIPE
    ),
    base_learning_rate_multiplier: float | None = typer.Option(
        None,
        help="Learning rate of the trainable base layers = "
        "learning rate x this (head keeps the full rate).",
        rich_help_panel=_RECIPE,
    ),
    weight_decay: float | None = typer.Option(
        None,
        help="Decoupled weight decay; > 0 switches Adam to AdamW." + _d("weight_decay"),
        rich_help_panel=_RECIPE,
    ),
    label_smoothing: float | None = typer.Option(
        None,
        help="Label smoothing of the cross-entropy." + _d("label_smoothing"),
        rich_help_panel=_RECIPE,
    ),
    batch_size: int | None = typer.Option(
        None,
        help="Global batch size (split over replicas)." + _d("batch_size"),
        rich_help_panel=_RECIPE,
    ),
    epochs: int | None = typer.Option(
        None,
        help="Epochs; the weights of the lowest validation loss are kept." + _d("epochs"),
        rich_help_panel=_RECIPE,
    ),
    seed: int | None = typer.Option(
        None,
        help="Seed of weights initialisation, shuffling, sampling, augmentation." + _d("seed"),
        rich_help_panel=_RECIPE,
    ),
    threshold_from_valid: bool | None = typer.Option(
        None,
        "--threshold-from-valid/--no-threshold-from-valid",
        help="Pick the P(fake) threshold maximising validation "
        "accuracy (written to threshold.json)." + _d("threshold_from_valid"),
        rich_help_panel=_RECIPE,
    ),
    image_size: int | None = typer.Option(
        None, help="Network input height = width." + _d("image_size"), rich_help_panel=_PRE
    ),
    resize: str | None = typer.Option(
        None, help="nearest|bilinear|bicubic|lanczos|area." + _d("resize"), rich_help_panel=_PRE
    ),
    crop: str | None = typer.Option(
        None,
        help="none (squash the whole image) | center (centred square first)." + _d("crop"),
        rich_help_panel=_PRE,
    ),
    crop_fraction: float | None = typer.Option(
        None,
        help="With --crop center: side of the square / shorter side." + _d("crop_fraction"),
        rich_help_panel=_PRE,
    ),
    mean: float | None = typer.Option(
        None, help="x = (pixel - mean) / std." + _d("mean"), rich_help_panel=_PRE
    ),
    std: float | None = typer.Option(
        None, help="x = (pixel - mean) / std." + _d("std"), rich_help_panel=_PRE
    ),
    strategy: str = typer.Option(
        _DEFAULTS.strategy,
        help="default | mirrored (all local GPUs, or the CPU) | multiworker (TF_CONFIG).",
        rich_help_panel=_ENGINE,
    ),
    cache_features: str = typer.Option(
        _DEFAULTS.cache_features,
        help="Train from cached outputs of the frozen "
        "layers: auto (when no augmentation) | on | off.",
        rich_help_panel=_ENGINE,
    ),
    in_memory: str = typer.Option(
        _DEFAULTS.in_memory,
        help="Decode all images into RAM once (auto: when they "
        "fit --memory-gb) | on | off (stream from files).",
        rich_help_panel=_ENGINE,
    ),
    memory_gb: float = typer.Option(
        _DEFAULTS.memory_gb,
        help="RAM budget for decoded images / cached features "
        "(beyond it: stream, or cache on disk).",
        rich_help_panel=_ENGINE,
    ),
    checkpoint: bool = typer.Option(
        _DEFAULTS.checkpoint,
        "--checkpoint/--no-checkpoint",
        help="Save model.keras at each validation-loss improvement (safe against crashes).",
        rich_help_panel=_ENGINE,
    ),
    deterministic: bool = typer.Option(
        _DEFAULTS.deterministic,
        "--deterministic",
        help="tf.config.experimental.enable_op_determinism() (slower).",
        rich_help_panel=_ENGINE,
    ),
    overwrite: bool = typer.Option(
        _DEFAULTS.overwrite,
        "--overwrite",
        help="Reuse a non-empty --out folder.",
        rich_help_panel=_ENGINE,
    ),
) -> None:
    """Train a recipe (default: the shipped model's; --recipe report: the report's)."""
    given = {k: v for k, v in locals().items() if k != "recipe" and v is not None}
    try:
        if "augment" in given:
            given["augment"] = parse_augment(given["augment"])
        if "trainable_layers" in given:
            given["trainable_layers"] = parse_trainable_layers(given["trainable_layers"])
        cfg = config_from_recipe(recipe, **given).validate()
        from .fit import Interrupted, run_fit

        try:
            result = run_fit(cfg)
        except Interrupted as e:
            _fail(str(e), 130)
    except EdgeDetectError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    typer.echo(str(result.run_dir))


@app.command()
def evaluate(
    model: Annotated[
        str,
        typer.Argument(
            help="model.keras of a run, or a .tflite / bundle "
            "/ variant name (fp32, fp16, dynamic, int8)."
        ),
    ],
    sets: Annotated[
        list[str],
        typer.Argument(
            help="Labelled folders (real/ and/or fake/), or a layout (its test/ split)."
        ),
    ],
    json_out: str | None = typer.Option(
        None,
        "--json",
        help="Also write the full results as JSON to this "
        "file ('-' = stdout instead of the table).",
    ),
    threshold: float | None = typer.Option(
        None,
        help="P(fake) threshold (default: the run's threshold.json or the bundle's, else 0.5).",
    ),
    limit_per_class: int | None = typer.Option(
        None, help="At most N images per class per set (seeded sample)."
    ),
    batch_size: int = typer.Option(64, help="Batch size for the Keras model."),
    num_threads: int | None = typer.Option(
        None, help="Interpreter threads for .tflite models (default: all cores)."
    ),
    seed: int = typer.Option(0, help="Seed of --limit-per-class sampling."),
) -> None:
    """One table, one row per set: accuracy, precision, recall, F1, ROC AUC (positive = real)."""
    from edge_runtime.fileio import atomic_write_json

    from .evaluate import evaluate_sets, report, table

    try:
        rows, t = evaluate_sets(
            model, sets, threshold, batch_size, num_threads, limit_per_class, seed
        )
    except EdgeDetectError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    result = report(model, rows, t)
    if json_out == "-":
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(
        f"model {model}, threshold {t:.4f} (fake when "
        "P(fake) >= threshold; positive class = real)\n"
    )
    typer.echo(table(rows))
    if json_out:
        atomic_write_json(json_out, result)


@app.command()
def gradcam(
    model: Annotated[str, typer.Argument(help="model.keras of a run.")],
    inputs: Annotated[
        list[str],
        typer.Argument(help="Image files, folders of images, or labelled folders (real/, fake/)."),
    ],
    out: str = typer.Option("gradcam", help="Output folder (overlays/*.png, grid_<class>.png)."),
    layer: str | None = typer.Option(
        None,
        help="Target layer (default: the last convolutional one, conv_pw_13_relu for MobileNet).",
    ),
    per_class: int = typer.Option(
        8, help="Images per class taken from labelled folders (seeded sample)."
    ),
    target: str = typer.Option(
        "predicted", help="Explain the predicted class, or always 'fake' or 'real'."
    ),
    alpha: float = typer.Option(0.45, help="Heatmap opacity in the overlays."),
    seed: int = typer.Option(0, help="Seed of the per-class sample."),
) -> None:
    """Grad-CAM heatmaps: one overlay per image and a grid per class."""
    from .gradcam import run_gradcam

    try:
        run_gradcam(model, inputs, out, layer, per_class, target, alpha, seed)
    except EdgeDetectError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        _fail("interrupted", 130)


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    sys.exit(app())


__all__ = ["app", "main"]
