"""Command line: `python -m train fit|evaluate|gradcam` (run from the repository root)."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer

from edge_runtime.types import EdgeDetectError

from .config import TrainConfig, parse_augment, parse_trainable_layers

_DEFAULTS = TrainConfig()  # the flags' defaults are the recipe's: one definition

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


@app.command()
def fit(
    data: str = typer.Option(_DEFAULTS.data, help="Folder with {train,valid,test}/{real,fake}/, or the Kaggle download's top folder.", rich_help_panel=_DATA),
    out: str = typer.Option(_DEFAULTS.out, help="Run folder (default runs/fit-<date>-<time>).", rich_help_panel=_DATA),
    limit_per_class: int | None = typer.Option(None, help="At most N images per class and split (seeded sample), for quick runs.", rich_help_panel=_DATA),
    use_csv: str = typer.Option(_DEFAULTS.use_csv, help="Use the Kaggle train/valid/test.csv file lists: auto|on|off.", rich_help_panel=_DATA),
    augment: str = typer.Option("", help="Comma list of flip,crop,jpeg,blur,color (default none: the report's recipe).", rich_help_panel=_DATA),
    random_crop_fraction: float | None = typer.Option(None, help="Side of the random 'crop' square / shorter image side (default: --crop-fraction with --crop center, else 0.9).", rich_help_panel=_DATA),
    arch: str = typer.Option(_DEFAULTS.arch, help="mobilenet | densenet121.", rich_help_panel=_RECIPE),
    alpha: float = typer.Option(_DEFAULTS.alpha, help="MobileNet width multiplier (0.25, 0.5, 0.75, 1.0).", rich_help_panel=_RECIPE),
    weights: str = typer.Option(_DEFAULTS.weights, help="imagenet | none (random initialisation).", rich_help_panel=_RECIPE),
    trainable_layers: str = typer.Option("10", help="Last N base layers trainable; 0 = head only; -1 or 'all' = every layer.", rich_help_panel=_RECIPE),
    dense_units: int = typer.Option(_DEFAULTS.dense_units, help="Units of the hidden Dense(relu) layer of the head.", rich_help_panel=_RECIPE),
    dropout: float = typer.Option(_DEFAULTS.dropout, help="Dropout rate before the final Dense (0 = no Dropout layer).", rich_help_panel=_RECIPE),
    freeze_batchnorm: bool = typer.Option(_DEFAULTS.freeze_batchnorm, "--freeze-batchnorm/--no-freeze-batchnorm", help="Keep every BatchNorm layer in inference mode and untrained.", rich_help_panel=_RECIPE),
    learning_rate: float = typer.Option(_DEFAULTS.learning_rate, help="Adam(W) learning rate.", rich_help_panel=_RECIPE),
    base_learning_rate_multiplier: float | None = typer.Option(None, help="Learning rate of the trainable base layers = learning rate x this (head keeps the full rate).", rich_help_panel=_RECIPE),
    weight_decay: float = typer.Option(_DEFAULTS.weight_decay, help="Decoupled weight decay; > 0 switches Adam to AdamW.", rich_help_panel=_RECIPE),
    label_smoothing: float = typer.Option(_DEFAULTS.label_smoothing, help="Label smoothing of the cross-entropy.", rich_help_panel=_RECIPE),
    batch_size: int = typer.Option(_DEFAULTS.batch_size, help="Global batch size (split over replicas).", rich_help_panel=_RECIPE),
    epochs: int = typer.Option(_DEFAULTS.epochs, help="Epochs; the weights of the lowest validation loss are kept.", rich_help_panel=_RECIPE),
    seed: int = typer.Option(_DEFAULTS.seed, help="Seed of weights initialisation, shuffling, sampling, augmentation.", rich_help_panel=_RECIPE),
    threshold_from_valid: bool = typer.Option(_DEFAULTS.threshold_from_valid, "--threshold-from-valid/--no-threshold-from-valid", help="Pick the P(fake) threshold maximising validation accuracy (written to threshold.json).", rich_help_panel=_RECIPE),
    image_size: int = typer.Option(_DEFAULTS.image_size, help="Network input height = width.", rich_help_panel=_PRE),
    resize: str = typer.Option(_DEFAULTS.resize, help="nearest|bilinear|bicubic|lanczos|area.", rich_help_panel=_PRE),
    crop: str = typer.Option(_DEFAULTS.crop, help="none (squash the whole image) | center (centred square first).", rich_help_panel=_PRE),
    crop_fraction: float = typer.Option(_DEFAULTS.crop_fraction, help="With --crop center: side of the square / shorter side.", rich_help_panel=_PRE),
    mean: float = typer.Option(_DEFAULTS.mean, help="x = (pixel - mean) / std.", rich_help_panel=_PRE),
    std: float = typer.Option(_DEFAULTS.std, help="x = (pixel - mean) / std.", rich_help_panel=_PRE),
    strategy: str = typer.Option(_DEFAULTS.strategy, help="default | mirrored (all local GPUs, or the CPU) | multiworker (TF_CONFIG).", rich_help_panel=_ENGINE),
    cache_features: str = typer.Option(_DEFAULTS.cache_features, help="Train from cached outputs of the frozen layers: auto (when no augmentation) | on | off.", rich_help_panel=_ENGINE),
    in_memory: str = typer.Option(_DEFAULTS.in_memory, help="Decode all images into RAM once (auto: when they fit --memory-gb) | on | off (stream from files).", rich_help_panel=_ENGINE),
    memory_gb: float = typer.Option(_DEFAULTS.memory_gb, help="RAM budget for decoded images / cached features (beyond it: stream, or cache on disk).", rich_help_panel=_ENGINE),
    checkpoint: bool = typer.Option(_DEFAULTS.checkpoint, "--checkpoint/--no-checkpoint", help="Save model.keras at each validation-loss improvement (safe against crashes).", rich_help_panel=_ENGINE),
    deterministic: bool = typer.Option(_DEFAULTS.deterministic, "--deterministic", help="tf.config.experimental.enable_op_determinism() (slower).", rich_help_panel=_ENGINE),
    overwrite: bool = typer.Option(_DEFAULTS.overwrite, "--overwrite", help="Reuse a non-empty --out folder.", rich_help_panel=_ENGINE),
) -> None:
    """Train the report's recipe (the defaults) or a variant of it; writes a run folder."""
    try:
        cfg = TrainConfig(
            data=data, out=out, arch=arch, alpha=alpha, weights=weights, image_size=image_size,
            trainable_layers=parse_trainable_layers(trainable_layers), dense_units=dense_units,
            dropout=dropout, freeze_batchnorm=freeze_batchnorm, resize=resize, crop=crop,
            crop_fraction=crop_fraction, mean=mean, std=std, learning_rate=learning_rate,
            base_learning_rate_multiplier=base_learning_rate_multiplier, weight_decay=weight_decay,
            label_smoothing=label_smoothing, batch_size=batch_size, epochs=epochs, seed=seed,
            deterministic=deterministic, augment=parse_augment(augment),
            random_crop_fraction=random_crop_fraction, limit_per_class=limit_per_class,
            use_csv=use_csv, strategy=strategy, cache_features=cache_features, in_memory=in_memory,
            memory_gb=memory_gb, threshold_from_valid=threshold_from_valid, checkpoint=checkpoint,
            overwrite=overwrite,
        ).validate()
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
    model: Annotated[str, typer.Argument(help="model.keras of a run, or a .tflite / bundle / variant name (fp32, fp16, dynamic, int8).")],
    sets: Annotated[list[str], typer.Argument(help="Labelled folders (real/ and/or fake/), or a layout (its test/ split).")],
    json_out: str | None = typer.Option(None, "--json", help="Also write the full results as JSON to this file ('-' = stdout instead of the table)."),
    threshold: float | None = typer.Option(None, help="P(fake) threshold (default: the run's threshold.json or the bundle's, else 0.5)."),
    limit_per_class: int | None = typer.Option(None, help="At most N images per class per set (seeded sample)."),
    batch_size: int = typer.Option(64, help="Batch size for the Keras model."),
    num_threads: int | None = typer.Option(None, help="Interpreter threads for .tflite models (default: all cores)."),
    seed: int = typer.Option(0, help="Seed of --limit-per-class sampling."),
) -> None:
    """One table, one row per set: accuracy, precision, recall, F1, ROC AUC (positive = real)."""
    from edge_runtime.fileio import atomic_write_json

    from .evaluate import evaluate_sets, report, table

    try:
        rows, t = evaluate_sets(model, sets, threshold, batch_size, num_threads, limit_per_class, seed)
    except EdgeDetectError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    result = report(model, rows, t)
    if json_out == "-":
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(f"model {model}, threshold {t:.4f} (fake when P(fake) >= threshold; positive class = real)\n")
    typer.echo(table(rows))
    if json_out:
        atomic_write_json(json_out, result)


@app.command()
def gradcam(
    model: Annotated[str, typer.Argument(help="model.keras of a run.")],
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders of images, or labelled folders (real/, fake/).")],
    out: str = typer.Option("gradcam", help="Output folder (overlays/*.png, grid_<class>.png)."),
    layer: str | None = typer.Option(None, help="Target layer (default: the last convolutional one, conv_pw_13_relu for MobileNet)."),
    per_class: int = typer.Option(8, help="Images per class taken from labelled folders (seeded sample)."),
    target: str = typer.Option("predicted", help="Explain the predicted class, or always 'fake' or 'real'."),
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
