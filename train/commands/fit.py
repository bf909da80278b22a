"""`python -m train fit`: its flags, built from the settings schema, and the TrainConfig they
describe.

Every flag is a TrainConfig setting (train/config.py): its help, type, choices and default come
from the field. A recipe setting's flag defaults to None = the recipe's value (shown in its
help); the others default to the field's default.
"""

from __future__ import annotations

import argparse

from ..config import TrainConfig
from ..recipe_files import DEFAULT_RECIPE, config_from_recipe, load_recipe, recipe_names
from ..settings import GROUPS, flag_name, settings

# --help sections of the setting groups (train/settings.py GROUPS)
GROUP_TITLES = {
    "recipe": "recipe",
    "preprocessing": "preprocessing (edge_runtime PreprocessSpec)",
    "data": "data",
    "sources": "sources (train/sources.json, train/README.md 'Broad training')",
    "engine": "engine",
}


def _recipe_value(name: str, recipe: dict, defaults: TrainConfig) -> str:
    """The default recipe's value of a setting, for its help text."""
    value = recipe.get(name, getattr(defaults, name))
    if isinstance(value, dict):
        value = ",".join(f"{k}={v:g}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        value = ",".join(map(str, value)) or "none"
    return f" (recipe {DEFAULT_RECIPE!r}: {value})"


def _flag_arguments(f, recipe: dict, defaults: TrainConfig) -> dict:
    """add_argument keywords of one setting."""
    meta = f.metadata
    extra = {k: v for k, v in meta["flag"].items() if k != "flag"}
    kwargs = {"dest": f.name, "help": meta["help"], **extra}
    if meta["recipe"]:
        kwargs["default"] = None  # None = the recipe's value
        kwargs["help"] += _recipe_value(f.name, recipe, defaults)
    else:
        kwargs["default"] = getattr(defaults, f.name)
    if meta["choices"]:
        kwargs["choices"] = meta["choices"]
    if f.type == "bool":
        kwargs.setdefault("action", argparse.BooleanOptionalAction)
    elif "action" not in extra or extra["action"] == "append":
        kind = meta["kind"] or type(getattr(defaults, f.name))
        kwargs["type"] = kind
    return kwargs


def add_fit(sub) -> None:
    p = sub.add_parser(
        "fit",
        help="train a recipe into a run folder",
        description="Train a recipe (default: the shipped model's; --recipe report: the "
        "report's) and write its run folder (train/README.md).",
    )
    groups = {name: p.add_argument_group(GROUP_TITLES[name]) for name in GROUPS}
    groups["recipe"].add_argument(
        "--recipe",
        default=DEFAULT_RECIPE,
        help=f"recipe to start from: {', '.join(recipe_names())} (train/recipes/NAME.json) or a "
        ".json file; flags override its values (default: %(default)s, the shipped model's)",
    )
    recipe, defaults = load_recipe(DEFAULT_RECIPE), TrainConfig()
    for f in settings(TrainConfig):
        kwargs = _flag_arguments(f, recipe, defaults)
        groups[f.metadata["group"]].add_argument(flag_name(f), **kwargs)


def fit_config(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig the fit flags describe: the recipe, then every flag that was given
    (run_fit validates it)."""
    given = {}
    for f in settings(TrainConfig):
        value = getattr(args, f.name)
        if f.metadata["recipe"] and value is None:
            continue  # the recipe's value
        parse = f.metadata["parse"]
        given[f.name] = parse(value) if parse is not None and value is not None else value
    return config_from_recipe(args.recipe, **given)


def run_fit_command(args: argparse.Namespace) -> int:
    cfg = fit_config(args)
    from ..fit import run_fit

    print(run_fit(cfg).run_dir)
    return 0
