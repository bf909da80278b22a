"""The training recipe: every value a flag; recipes are data files in train/recipes/.

TrainConfig's field defaults are the report's recipe (train/recipes/report.json holds the same
values, a test keeps them equal); `python -m train fit` starts from --recipe (default: the
shipped model's, train/recipes/default.json) and flags override single values.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from edge_runtime.types import PreprocessSpec
from workbench.evaluation import default_sample_dir

from .errors import ConfigError

_SPEC = PreprocessSpec()  # preprocessing defaults come from the runtime's one definition

ARCHS = ("mobilenet", "densenet121")
WEIGHTS = ("imagenet", "none")
STRATEGIES = ("default", "mirrored", "multiworker")
AUTO_ON_OFF = ("auto", "on", "off")
AUGMENTATIONS = ("flip", "crop", "jpeg", "blur", "color", "degrade")
MOBILENET_ALPHAS = (0.25, 0.5, 0.75, 1.0)
RESIZE_METHODS = ("nearest", "bilinear", "bicubic", "lanczos", "area")
CROPS = ("none", "center")
BALANCES = ("none", "class", "source")
ALL_LAYERS = -1


def parse_trainable_layers(text: str | int) -> int:
    """'10' -> 10, '0' -> head only, '-1' or 'all' -> every base layer."""
    if isinstance(text, int):
        value = text
    elif str(text).strip().lower() == "all":
        return ALL_LAYERS
    else:
        try:
            value = int(str(text).strip())
        except ValueError:
            raise ConfigError(
                f"--trainable-layers: expected a number or 'all', got {text!r}"
            ) from None
    if value < ALL_LAYERS:
        raise ConfigError(f"--trainable-layers: expected >= 0 or -1 (all), got {value}")
    return value


def parse_augment(text: str | None) -> tuple[str, ...]:
    """'flip,jpeg' -> ('flip', 'jpeg'); '' or 'none' -> ()."""
    if text is None:
        return ()
    names = [t.strip().lower() for t in str(text).split(",") if t.strip()]
    if names in ([], ["none"]):
        return ()
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ConfigError(
            f"--augment: unknown {', '.join(unknown)}; choose from {', '.join(AUGMENTATIONS)}"
        )
    return tuple(dict.fromkeys(names))  # de-duplicated, order kept


# Flag text -> value (argparse types: their errors are argparse's one-line usage errors).


def _range(text: str, kind):
    parts = text.replace(",", "-").split("-")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected LO-HI, got {text!r}")
    try:
        return (kind(parts[0]), kind(parts[1]))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO-HI numbers, got {text!r}") from None


def source_weight(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=WEIGHT") from None


def comma_list(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def int_range(text: str):
    return _range(text, int)


def float_range(text: str):
    return _range(text, float)


@dataclass
class TrainConfig:
    """One training run. `resolved()` adds what was derived at run time."""

    data: str = str(default_sample_dir())
    out: str = ""
    # Model
    arch: str = "mobilenet"
    alpha: float = 1.0  # MobileNet width multiplier
    weights: str = "imagenet"
    image_size: int = _SPEC.height
    trainable_layers: int = 10  # last N base layers trainable; 0 = head only; -1 = all
    dense_units: int = 1024
    dropout: float = 0.0  # before the final Dense; 0 = no Dropout layer (the report's model)
    freeze_batchnorm: bool = False  # True: every BatchNorm in inference mode, not trained
    # Preprocessing (edge_runtime.types.PreprocessSpec)
    resize: str = _SPEC.resize
    crop: str = _SPEC.crop
    crop_fraction: float = _SPEC.crop_fraction
    mean: float = _SPEC.mean
    std: float = _SPEC.std
    # Optimisation
    learning_rate: float = 1e-5
    base_learning_rate_multiplier: float | None = None  # LR of trainable base layers = lr * this
    weight_decay: float = 0.0  # > 0: AdamW
    label_smoothing: float = 0.0
    batch_size: int = 64
    epochs: int = 5
    seed: int = 42
    deterministic: bool = False
    # Data
    augment: tuple[str, ...] = ()
    random_crop_fraction: float | None = None  # 'crop' augmentation; None: see augment.py
    limit_per_class: int | None = None
    use_csv: str = "auto"
    # Sources as data (train/sources.json) instead of one --data layout; see train/sources.py
    sources: str = ""  # "" = --data; else a sources .json file
    hold_out: tuple[str, ...] = ()  # source names or generator families kept out of training
    # "class": sample weights n / (2 n_class), both classes half the loss; "source": also every
    # source the same share of its class
    balance: str = "none"
    # Per-source loss multipliers (--sources), applied before the class balance, e.g.
    # {"faces140k_real": 2}: that source counts twice within its class
    source_weights: dict[str, float] = field(default_factory=dict)
    # A .keras model whose weights start every layer of the same name and shape (a warm start,
    # e.g. from an earlier run); "" = ImageNet/random as `weights` says
    init_from: str = ""
    # One resolution + randomised JPEG re-encoding for training images of both classes
    # (train/harmonize.py); 0 = off
    harmonize_size: int = 0  # -1: each image's own (square) size; see train/harmonize.py
    harmonize_quality: tuple[int, int] = (60, 95)
    harmonize_scale: tuple[float, float] = (0.75, 1.5)
    harmonize_per_epoch: bool = False  # False: one draw per file, so features stay cacheable
    resume: str = ""  # a run folder to continue from its last epoch checkpoint
    # Engine
    strategy: str = "default"
    cache_features: str = "auto"
    in_memory: str = "auto"
    memory_gb: float = 4.0  # budget for decoded images / cached features held in RAM
    threshold_from_valid: bool = False
    checkpoint: bool = True  # save the best model so far at each val-loss improvement
    overwrite: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def spec(self) -> PreprocessSpec:
        return PreprocessSpec(
            height=self.image_size,
            width=self.image_size,
            resize=self.resize,
            crop=self.crop,
            crop_fraction=self.crop_fraction,
            mean=self.mean,
            std=self.std,
        )

    def harmonize(self):
        from .harmonize import Harmonize

        return Harmonize(
            self.harmonize_size,
            tuple(self.harmonize_quality),
            tuple(self.harmonize_scale),
            self.harmonize_per_epoch,
        )

    def random_each_epoch(self) -> bool:
        """Training pixels change every epoch: no feature cache, streamed from the files."""
        return bool(self.augment) or (self.harmonize_size != 0 and self.harmonize_per_epoch)

    def validate(self) -> TrainConfig:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ConfigError(msg)

        need(self.arch in ARCHS, f"--arch: {self.arch!r} not one of {', '.join(ARCHS)}")
        need(
            self.weights in WEIGHTS, f"--weights: {self.weights!r} not one of {', '.join(WEIGHTS)}"
        )
        need(
            self.strategy in STRATEGIES,
            f"--strategy: {self.strategy!r} not one of {', '.join(STRATEGIES)}",
        )
        for name in ("cache_features", "in_memory", "use_csv"):
            value = getattr(self, name)
            flag = "--" + name.replace("_", "-")
            need(value in AUTO_ON_OFF, f"{flag}: {value!r} not one of {', '.join(AUTO_ON_OFF)}")
        if self.arch == "mobilenet":
            need(
                self.alpha in MOBILENET_ALPHAS,
                f"--alpha: {self.alpha} not one of {', '.join(map(str, MOBILENET_ALPHAS))}",
            )
        need(
            self.image_size >= 32,
            f"--image-size: {self.image_size} is below 32 (MobileNet's minimum)",
        )
        need(
            self.resize in RESIZE_METHODS,
            f"--resize: {self.resize!r} not one of {', '.join(RESIZE_METHODS)}",
        )
        need(self.crop in CROPS, f"--crop: {self.crop!r} not one of {', '.join(CROPS)}")
        need(0 < self.crop_fraction <= 1, f"--crop-fraction: {self.crop_fraction} not in (0, 1]")
        need(self.std > 0, f"--std: must be > 0, got {self.std}")
        need(
            self.trainable_layers >= ALL_LAYERS, f"--trainable-layers: {self.trainable_layers} < -1"
        )
        need(self.dense_units >= 1, f"--dense-units: {self.dense_units} < 1")
        need(0 <= self.dropout < 1, f"--dropout: {self.dropout} not in [0, 1)")
        need(self.learning_rate > 0, f"--learning-rate: {self.learning_rate} must be > 0")
        if self.base_learning_rate_multiplier is not None:
            need(
                self.base_learning_rate_multiplier >= 0,
                "--base-learning-rate-multiplier: "
                f"{self.base_learning_rate_multiplier} must be >= 0",
            )
        need(self.weight_decay >= 0, f"--weight-decay: {self.weight_decay} must be >= 0")
        need(
            0 <= self.label_smoothing < 1,
            f"--label-smoothing: {self.label_smoothing} not in [0, 1)",
        )
        need(self.batch_size >= 1, f"--batch-size: {self.batch_size} < 1")
        need(self.epochs >= 1, f"--epochs: {self.epochs} < 1")
        if self.limit_per_class is not None:
            need(self.limit_per_class >= 1, f"--limit-per-class: {self.limit_per_class} < 1")
        if self.random_crop_fraction is not None:
            need(
                0 < self.random_crop_fraction <= 1,
                f"--random-crop-fraction: {self.random_crop_fraction} not in (0, 1]",
            )
        need(self.memory_gb > 0, f"--memory-gb: {self.memory_gb} must be > 0")
        need(
            self.balance in BALANCES,
            f"--balance: {self.balance!r} not one of {', '.join(BALANCES)}",
        )
        need(
            self.harmonize_size >= -1,
            f"--harmonize-size: {self.harmonize_size} < -1 (-1 = each image's own size)",
        )
        self.harmonize_quality = tuple(int(q) for q in self.harmonize_quality)
        self.harmonize_scale = tuple(float(f) for f in self.harmonize_scale)
        q_lo, q_hi = self.harmonize_quality
        need(
            1 <= q_lo <= q_hi <= 100,
            f"--harmonize-quality: {q_lo}-{q_hi} not a range within 1-100",
        )
        s_lo, s_hi = self.harmonize_scale
        need(0 < s_lo <= s_hi <= 4, f"--harmonize-scale: {s_lo}-{s_hi} not a range in (0, 4]")
        need(not self.hold_out or bool(self.sources), "--hold-out needs --sources")
        need(not self.source_weights or bool(self.sources), "--source-weight needs --sources")
        need(self.balance != "source" or bool(self.sources), "--balance source needs --sources")
        self.source_weights = {str(k): float(v) for k, v in self.source_weights.items()}
        bad = [f"{k}={v}" for k, v in self.source_weights.items() if not v > 0]
        need(not bad, f"--source-weight: {', '.join(bad)}: weights must be > 0")
        need(
            not self.init_from or Path(self.init_from).is_file(),
            f"--init-from: {self.init_from}: no such model file",
        )
        self.hold_out = tuple(self.hold_out)
        self.augment = parse_augment(",".join(self.augment))
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["augment"] = list(self.augment)
        for name in ("hold_out", "harmonize_quality", "harmonize_scale"):
            d[name] = list(d[name])
        d["preprocess"] = self.spec().to_dict()
        return d


RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
DEFAULT_RECIPE = "default"  # the shipped model's recipe
# The values a recipe file may set: the model, preprocessing and optimisation, not the paths
# or the engine (those are about where and how a recipe runs, not what it is).
RECIPE_FIELDS = (
    "arch", "alpha", "weights", "image_size", "trainable_layers", "dense_units", "dropout",
    "freeze_batchnorm", "resize", "crop", "crop_fraction", "mean", "std", "learning_rate",
    "base_learning_rate_multiplier", "weight_decay", "label_smoothing", "batch_size", "epochs",
    "seed", "augment", "random_crop_fraction", "threshold_from_valid", "balance",
    "harmonize_size", "harmonize_quality", "harmonize_scale", "harmonize_per_epoch",
    "source_weights",
)  # fmt: skip


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.json"))


def load_recipe(name_or_path: str) -> dict[str, Any]:
    """A recipe's values: train/recipes/NAME.json, or a JSON file path."""
    p = Path(name_or_path)
    if p.suffix != ".json":
        p = RECIPES_DIR / f"{name_or_path}.json"
    if not p.is_file():
        raise ConfigError(
            f"--recipe {name_or_path}: no such recipe (named: {', '.join(recipe_names())}; "
            "or a .json file)"
        )
    try:
        data = json.loads(p.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{p}: unreadable recipe ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a recipe is a JSON object")
    data.pop("about", None)
    unknown = sorted(set(data) - set(RECIPE_FIELDS))
    if unknown:
        raise ConfigError(f"{p}: unknown recipe key(s) {', '.join(unknown)}")
    if "augment" in data:
        data["augment"] = parse_augment(",".join(data["augment"]))
    if "trainable_layers" in data:
        data["trainable_layers"] = parse_trainable_layers(data["trainable_layers"])
    for name in ("harmonize_quality", "harmonize_scale"):
        if name in data:
            data[name] = tuple(data[name])
    return data


def config_from_recipe(recipe: str = DEFAULT_RECIPE, **overrides: Any) -> TrainConfig:
    """TrainConfig = field defaults <- the recipe file <- explicit overrides (flags)."""
    known = {f.name for f in fields(TrainConfig)}
    bad = sorted(set(overrides) - known)
    if bad:
        raise ConfigError(f"unknown setting(s) {', '.join(bad)}")
    return TrainConfig(**{**load_recipe(recipe), **overrides})


def config_of_run(run_config: dict[str, Any]) -> TrainConfig:
    """The TrainConfig a run folder's config.json recorded (for --resume)."""
    known = {f.name for f in fields(TrainConfig)}
    values = {k: v for k, v in run_config.items() if k in known}
    for name in ("augment", "hold_out", "harmonize_quality", "harmonize_scale"):
        if name in values:
            values[name] = tuple(values[name])
    return TrainConfig(**values)


def default_run_name() -> str:
    return time.strftime("fit-%Y%m%d-%H%M%S")
