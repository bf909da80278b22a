"""Recipes are data files, and every CLI default is its options dataclass's (no TensorFlow)."""

from __future__ import annotations

import pytest

from train.config import (
    RECIPE_FIELDS,
    ConfigError,
    TrainConfig,
    config_from_recipe,
    load_recipe,
    parse_augment,
    parse_trainable_layers,
)


def test_report_recipe_file_is_the_dataclass_default():
    # The report's recipe = what `python -m train fit` ran with no flags before recipes existed.
    assert config_from_recipe("report") == TrainConfig()
    assert set(load_recipe("report")) == set(RECIPE_FIELDS)  # every recipe value written out


def test_default_recipe_is_the_shipped_models_flags():
    # The flags scripts/reproduce_default_model.sh passed before the recipe became a file.
    old_flags = TrainConfig(
        seed=42, trainable_layers=parse_trainable_layers("all"), learning_rate=1e-4, epochs=15,
        batch_size=32, crop="center", crop_fraction=0.875, augment=parse_augment("crop,flip"),
        dropout=0.3, weight_decay=1e-4, label_smoothing=0.1, threshold_from_valid=True,
    )  # fmt: skip
    assert config_from_recipe() == old_flags
    assert set(load_recipe("default")) == set(RECIPE_FIELDS)


def test_flags_override_the_recipe_and_bad_recipes_are_one_line(tmp_path):
    assert config_from_recipe("report", epochs=1).epochs == 1
    with pytest.raises(ConfigError, match="no such recipe"):
        load_recipe("nonesuch")
    bad = tmp_path / "r.json"
    bad.write_text('{"epoch": 3}')
    with pytest.raises(ConfigError, match="unknown recipe key"):
        load_recipe(str(bad))


def test_train_fit_cli_defaults_are_the_dataclass_defaults():
    from train.cli import build_parser, fit_config

    args = build_parser().parse_args(["fit"])
    base = TrainConfig()
    for name, value in vars(args).items():
        if name in ("command", "verbose"):
            continue
        if name == "recipe":
            assert value == "default"
        elif name in RECIPE_FIELDS:
            assert value is None, name  # None = the recipe's value
        else:
            assert value == getattr(base, name), name
    assert fit_config(args) == config_from_recipe()  # no flags: the default recipe
    report = build_parser().parse_args(["fit", "--recipe", "report"])
    assert fit_config(report) == TrainConfig()


def test_convert_cli_defaults_are_the_options_defaults():
    from convert.__main__ import build_parser, options_from
    from convert.options import ConvertOptions

    args = build_parser().parse_args(["run", "--out", "o"])
    assert options_from(args) == ConvertOptions(source="run", out=args.out)
