"""Recipes are data files, and every CLI default is its options dataclass's (no TensorFlow)."""

from __future__ import annotations

import pytest

from train.config import ConfigError, TrainConfig, parse_augment, parse_trainable_layers
from train.recipe_files import RECIPE_FIELDS, config_from_recipe, load_recipe


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


# Every `python -m train fit` flag before the flags were built from the settings schema.
FIT_FLAGS_BEFORE_THE_SCHEMA = """
--alpha --arch --augment --balance --base-learning-rate-multiplier --batch-size --cache-features
--checkpoint --crop --crop-fraction --data --dense-units --deterministic --dropout --epochs
--freeze-batchnorm --harmonize-per-epoch --harmonize-quality --harmonize-scale --harmonize-size
--hold-out --image-size --in-memory --init-from --label-smoothing --learning-rate
--limit-per-class --mean --memory-gb --no-checkpoint --no-freeze-batchnorm
--no-harmonize-per-epoch --no-threshold-from-valid --out --overwrite --random-crop-fraction
--recipe --resize --resume --seed --source-weight --sources --std --strategy
--threshold-from-valid --trainable-layers --use-csv --weight-decay --weights
""".split()


def _fit_parser():
    from train.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices["fit"]


def test_every_setting_is_one_flag_with_help_and_every_flag_is_kept():
    from train.settings import settings

    fit = _fit_parser()
    flags = {o for a in fit._actions for o in a.option_strings} - {"-h", "--help"}
    assert flags == set(FIT_FLAGS_BEFORE_THE_SCHEMA)
    by_dest = {a.dest: a for a in fit._actions}
    for f in settings(TrainConfig):
        action = by_dest[f.name]  # one flag per setting
        assert f.metadata["help"] and f.metadata["help"] in action.help, f.name
        if f.metadata["choices"]:
            assert tuple(action.choices) == f.metadata["choices"], f.name
    assert {f.name for f in settings(TrainConfig)} == set(by_dest) - {"help", "recipe"}


def test_every_recipe_file_fits_the_schema_and_validates(tmp_path):
    from train.recipe_files import recipe_names

    assert {"default", "report", "v3"} <= set(recipe_names())
    for name in recipe_names():
        cfg = config_from_recipe(name, sources="train/sources.json")  # source weights need it
        assert cfg.validate() == cfg, name
    assert config_from_recipe("v3").augment == ("crop", "flip", "degrade")
    assert config_from_recipe("v3").balance == "source"
    for text, match in (
        ('{"epochs": "five"}', "epochs: 'five' is not int"),
        ('{"alpha": true}', "alpha: True is not float"),
        ('{"harmonize_quality": [60]}', "harmonize_quality"),
        ('{"augment": ["flip", "warp"]}', "unknown warp"),
        ('{"trainable_layers": "some"}', "expected a number or 'all'"),
    ):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(ConfigError, match=match):
            load_recipe(str(bad))


def test_flags_are_parsed_and_checked_by_the_schema():
    from train.cli import build_parser, fit_config

    args = build_parser().parse_args(
        "fit --recipe report --augment flip,jpeg --trainable-layers all --sources "
        "--source-weight lfw_real=2 --harmonize-quality 50-90 --hold-out a,b --no-checkpoint "
        "--balance source".split()
    )
    cfg = fit_config(args).validate()
    assert cfg.augment == ("flip", "jpeg") and cfg.trainable_layers == -1
    assert cfg.source_weights == {"lfw_real": 2.0} and cfg.harmonize_quality == (50, 90)
    assert cfg.hold_out == ("a", "b") and cfg.checkpoint is False and cfg.balance == "source"
    for flags, match in (
        ("--epochs 0", "--epochs: 0 < 1"),
        ("--dropout 1", r"--dropout: 1.0 not in \[0, 1\)"),
        ("--harmonize-quality 90-50", "--harmonize-quality: 90-50 not a range"),
        ("--hold-out x", "--hold-out needs --sources"),
        ("--arch mobilenet --alpha 0.3", "--alpha: 0.3 not one of"),
        ("--cache-features on --augment flip", "--cache-features on: augmentation"),
    ):
        cfg = fit_config(build_parser().parse_args(["fit", *flags.split()]))
        with pytest.raises(ConfigError, match=match):
            cfg.validate()


def test_convert_cli_defaults_are_the_options_defaults():
    from convert.__main__ import build_parser, options_from
    from convert.options import ConvertOptions

    args = build_parser().parse_args(["run", "--out", "o"])
    assert options_from(args) == ConvertOptions(source="run", out=args.out)
