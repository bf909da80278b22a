"""The training settings: TrainConfig, the one schema; recipes are data files in train/recipes/.

Each TrainConfig field is declared with train/settings.py's `setting()`: default, flag help,
type, choices and rule in one place. `python -m train fit` builds its flags from them
(train/commands/fit.py), train/recipe_files.py checks a recipe file's keys and value types
against them, and validate() (once per run, in run_fit) applies their rules. The field
defaults are the report's recipe (train/recipes/report.json holds the same values, a test
keeps them equal); `python -m train fit` starts from --recipe (default: the shipped model's,
train/recipes/default.json) and flags override single values.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge_runtime.types import PreprocessSpec
from workbench.evaluation import default_sample_dir
from workbench.paths import SOURCES_FILE

from .errors import ConfigError
from .settings import (
    ALL_LAYERS,
    ARCHS,
    AUGMENTATIONS,
    AUTO_ON_OFF,
    BALANCES,
    CROPS,
    MOBILENET_ALPHAS,
    RESIZE_METHODS,
    STRATEGIES,
    WEIGHTS,
    check_settings,
    comma_list,
    float_range,
    int_range,
    is_fraction,
    is_positive,
    is_unit_interval,
    parse_augment,
    parse_trainable_layers,
    setting,
    source_weight,
)

_SPEC = PreprocessSpec()  # preprocessing defaults come from the runtime's one definition


@dataclass
class TrainConfig:
    """One training run's settings (the run folder's config.json adds what was resolved)."""

    data: str = setting(
        str(default_sample_dir()),
        "{train,valid,test}/{real,fake}/ or the Kaggle download's top folder "
        "(default: %(default)s)",
        group="data",
    )
    out: str = setting("", "run folder (default runs/fit-<date>)", group="data")
    # Model
    arch: str = setting(
        "mobilenet", "Network architecture.", group="recipe", recipe=True, choices=ARCHS
    )
    alpha: float = setting(  # MobileNet width multiplier; MOBILENET_ALPHAS, see validate()
        1.0, "MobileNet width multiplier (0.25, 0.5, 0.75, 1.0).", group="recipe", recipe=True
    )
    weights: str = setting(
        "imagenet",
        "Base weights: imagenet, or none (random initialisation).",
        group="recipe",
        recipe=True,
        choices=WEIGHTS,
    )
    image_size: int = setting(
        _SPEC.height,
        "Network input height = width.",
        group="preprocessing",
        recipe=True,
        check=(lambda v: v >= 32, "is below 32 (MobileNet's minimum)"),
    )
    trainable_layers: int = setting(
        10,
        "Last N base layers trainable; 0 = head only; -1 or 'all' = every.",
        group="recipe",
        recipe=True,
        check=(lambda v: v >= ALL_LAYERS, "< -1"),
        kind=str,
        parse=parse_trainable_layers,
    )
    dense_units: int = setting(
        1024,
        "Units of the hidden Dense(relu) layer of the head.",
        group="recipe",
        recipe=True,
        check=(lambda v: v >= 1, "< 1"),
    )
    dropout: float = setting(  # 0 = no Dropout layer (the report's model)
        0.0,
        "Dropout rate before the final Dense (0 = no Dropout layer).",
        group="recipe",
        recipe=True,
        check=(is_unit_interval, "not in [0, 1)"),
    )
    freeze_batchnorm: bool = setting(
        False, "BatchNorm layers in inference mode and untrained.", group="recipe", recipe=True
    )
    # Preprocessing (edge_runtime.types.PreprocessSpec)
    resize: str = setting(
        _SPEC.resize,
        "Resize filter.",
        group="preprocessing",
        recipe=True,
        choices=RESIZE_METHODS,
    )
    crop: str = setting(
        _SPEC.crop,
        "none: squash the whole image; center: centred square first.",
        group="preprocessing",
        recipe=True,
        choices=CROPS,
    )
    crop_fraction: float = setting(
        _SPEC.crop_fraction,
        "With --crop center: side of the square / shorter side.",
        group="preprocessing",
        recipe=True,
        check=(is_fraction, "not in (0, 1]"),
    )
    mean: float = setting(
        _SPEC.mean, "x = (pixel - mean) / std.", group="preprocessing", recipe=True
    )
    std: float = setting(
        _SPEC.std,
        "x = (pixel - mean) / std.",
        group="preprocessing",
        recipe=True,
        check=(is_positive, "must be > 0"),
    )
    # Optimisation
    learning_rate: float = setting(
        1e-5,
        "Adam(W) learning rate.",
        group="recipe",
        recipe=True,
        check=(is_positive, "must be > 0"),
    )
    base_learning_rate_multiplier: float | None = setting(
        None,
        "Trainable base layers learn at lr x this.",
        group="recipe",
        recipe=True,
        check=(lambda v: v >= 0, "must be >= 0"),
        kind=float,
    )
    weight_decay: float = setting(
        0.0,
        "Decoupled weight decay; > 0 switches Adam to AdamW.",
        group="recipe",
        recipe=True,
        check=(lambda v: v >= 0, "must be >= 0"),
    )
    label_smoothing: float = setting(
        0.0,
        "Label smoothing of the cross-entropy.",
        group="recipe",
        recipe=True,
        check=(is_unit_interval, "not in [0, 1)"),
    )
    batch_size: int = setting(
        64,
        "Global batch size (split over replicas).",
        group="recipe",
        recipe=True,
        check=(lambda v: v >= 1, "< 1"),
    )
    epochs: int = setting(
        5,
        "Epochs; the weights of the lowest validation loss are kept.",
        group="recipe",
        recipe=True,
        check=(lambda v: v >= 1, "< 1"),
    )
    seed: int = setting(
        42,
        "Seed of initialisation, shuffling, sampling, augmentation.",
        group="recipe",
        recipe=True,
    )
    deterministic: bool = setting(
        False,
        "tf.config.experimental.enable_op_determinism() (slower)",
        group="engine",
        action="store_true",
    )
    # Data
    augment: tuple[str, ...] = setting(
        help=f"comma list of {','.join(AUGMENTATIONS)}, or none",
        group="data",
        recipe=True,
        factory=tuple,
        kind=str,
        parse=parse_augment,
    )
    random_crop_fraction: float | None = setting(  # the 'crop' augmentation; see augment.py
        None,
        "side of the random 'crop' square / shorter side (unset: --crop-fraction with --crop "
        "center, else 0.9)",
        group="data",
        recipe=True,
        check=(is_fraction, "not in (0, 1]"),
        kind=float,
    )
    limit_per_class: int | None = setting(
        None,
        "at most N images per class and split (seeded sample)",
        group="data",
        check=(lambda v: v >= 1, "< 1"),
        kind=int,
    )
    use_csv: str = setting(
        "auto",
        "use the Kaggle train/valid/test.csv lists (default: %(default)s)",
        group="data",
        choices=AUTO_ON_OFF,
    )
    # Sources as data (train/sources.json) instead of one --data layout; see train/sources.py
    sources: str = setting(  # "" = --data; else a sources .json file
        "",
        "train on the declared sources instead of one --data layout (--data is then the folder "
        "holding them, default ../shared/data); optional FILE (default train/sources.json)",
        group="sources",
        nargs="?",
        const=str(SOURCES_FILE),
    )
    hold_out: tuple[str, ...] = setting(
        help="comma list of source names or generator families kept out of train and valid "
        "(their test rows stay in the per-source table), e.g. stylegan2 or sd21",
        group="sources",
        factory=tuple,
        kind=comma_list,
    )
    balance: str = setting(
        "none",
        "class: sample weights n/(2 n_class), both classes carry half the loss; source: also "
        "every source the same share of its class, whatever its size",
        group="sources",
        recipe=True,
        choices=BALANCES,
    )
    # Per-source loss multipliers (--sources), applied before the class balance, e.g.
    # {"faces140k_real": 2}: that source counts twice within its class
    source_weights: dict[str, float] = setting(
        help="multiply a source's loss weight within its class (repeatable; before --balance), "
        "e.g. faces140k_fake=2",
        group="sources",
        recipe=True,
        factory=dict,
        kind=source_weight,
        parse=dict,
        flag="--source-weight",
        action="append",
        metavar="NAME=W",
    )
    # A .keras model whose weights start every layer of the same name and shape (a warm start,
    # e.g. from an earlier run); "" = ImageNet/random as `weights` says
    init_from: str = setting(
        "",
        "start every layer of the same name and shape from this .keras model (a warm start, "
        "e.g. an earlier run's model.keras); other layers as --weights says",
        group="sources",
        metavar="MODEL",
    )
    # One resolution + randomised JPEG re-encoding for training images of both classes
    # (train/harmonize.py); 0 = off
    harmonize_size: int = setting(
        0,
        "common square resolution every training image is brought to before re-encoding; "
        "-1 = each image's own (its centred square), 0 = off",
        group="sources",
        recipe=True,
        check=(lambda v: v >= -1, "< -1 (-1 = each image's own size)"),
    )
    harmonize_quality: tuple[int, int] = setting(
        (60, 95),
        "JPEG quality range LO-HI of the re-encoding",
        group="sources",
        recipe=True,
        check=(lambda r: 1 <= r[0] <= r[1] <= 100, "not a range within 1-100"),
        kind=int_range,
        parse=tuple,
    )
    harmonize_scale: tuple[float, float] = setting(
        (0.75, 1.5),
        "resize factor range LO-HI before the re-encoding",
        group="sources",
        recipe=True,
        check=(lambda r: 0 < r[0] <= r[1] <= 4, "not a range in (0, 4]"),
        kind=float_range,
        parse=tuple,
    )
    harmonize_per_epoch: bool = setting(  # False: one draw per file, features stay cacheable
        False,
        "a new draw every epoch (streams, no feature cache); else one per file",
        group="sources",
        recipe=True,
    )
    resume: str = setting(
        "",
        "continue the run folder RUN from its last finished epoch (its own recipe and data; "
        "engine flags from this command)",
        group="engine",
        metavar="RUN",
    )
    # Engine
    strategy: str = setting(
        "default",
        "mirrored: all local GPUs or the CPU; multiworker: TF_CONFIG",
        group="engine",
        choices=STRATEGIES,
    )
    cache_features: str = setting(
        "auto",
        "train from cached outputs of the frozen layers (default: %(default)s)",
        group="engine",
        choices=AUTO_ON_OFF,
    )
    in_memory: str = setting(
        "auto",
        "decode all images into RAM once (auto: when they fit --memory-gb)",
        group="engine",
        choices=AUTO_ON_OFF,
    )
    memory_gb: float = setting(  # budget for decoded images / cached features held in RAM
        4.0,
        "RAM budget for decoded images / cached features (default: %(default)s)",
        group="engine",
        check=(is_positive, "must be > 0"),
    )
    threshold_from_valid: bool = setting(
        False,
        "Threshold maximising validation accuracy (threshold.json).",
        group="recipe",
        recipe=True,
    )
    checkpoint: bool = setting(  # the best model so far, saved at each val-loss improvement
        True, "save model.keras at each val-loss improvement", group="engine"
    )
    overwrite: bool = setting(
        False, "reuse a non-empty --out folder", group="engine", action="store_true"
    )
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
        """Every setting's choices and check (the schema), then the rules between settings.
        Called once per run (train/fit.py run_fit); normalises tuples and numbers."""
        self._normalise()
        check_settings(self)
        for ok, msg in self._rules():
            if not ok:
                raise ConfigError(msg)
        return self

    def _normalise(self) -> None:
        self.harmonize_quality = tuple(int(q) for q in self.harmonize_quality)
        self.harmonize_scale = tuple(float(f) for f in self.harmonize_scale)
        self.source_weights = {str(k): float(v) for k, v in self.source_weights.items()}
        self.hold_out = tuple(self.hold_out)
        self.augment = parse_augment(self.augment)

    def _rules(self) -> list[tuple[bool, str]]:
        """(holds, message) of each rule that involves more than one setting."""
        bad_weights = [f"{k}={v}" for k, v in self.source_weights.items() if not v > 0]
        alphas = ", ".join(map(str, MOBILENET_ALPHAS))
        return [
            (
                self.arch != "mobilenet" or self.alpha in MOBILENET_ALPHAS,
                f"--alpha: {self.alpha} not one of {alphas}",
            ),
            (not self.hold_out or bool(self.sources), "--hold-out needs --sources"),
            (not self.source_weights or bool(self.sources), "--source-weight needs --sources"),
            (self.balance != "source" or bool(self.sources), "--balance source needs --sources"),
            (not bad_weights, f"--source-weight: {', '.join(bad_weights)}: weights must be > 0"),
            (
                not self.init_from or Path(self.init_from).is_file(),
                f"--init-from: {self.init_from}: no such model file",
            ),
            (
                not (self.cache_features == "on" and self.augment),
                "--cache-features on: augmentation changes what enters the frozen layers; "
                "use --cache-features auto or off with --augment",
            ),
        ]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["augment"] = list(self.augment)
        for name in ("hold_out", "harmonize_quality", "harmonize_scale"):
            d[name] = list(d[name])
        d["preprocess"] = self.spec().to_dict()
        return d


def default_run_name() -> str:
    return time.strftime("fit-%Y%m%d-%H%M%S")
