"""Recipe files (train/recipes/NAME.json): listed, read, checked against the settings schema.

A recipe's keys are TrainConfig's `recipe=True` settings (train/config.py); each value is
parsed and type-checked as its setting declares, so a bad recipe is one line naming the file.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from .config import TrainConfig
from .errors import ConfigError
from .settings import settings, value_fits

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
DEFAULT_RECIPE = "default"  # the shipped model's recipe
# The values a recipe file may set (`recipe=True` settings): the model, preprocessing and
# optimisation, not the paths or the engine (where and how a recipe runs, not what it is).
RECIPE_FIELDS = tuple(f.name for f in settings(TrainConfig) if f.metadata["recipe"])


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
    by_name = {f.name: f for f in settings(TrainConfig)}
    for name, value in data.items():
        f = by_name[name]
        parse = f.metadata["parse"]
        if parse is not None and value is not None:
            try:
                value = data[name] = parse(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{p}: {name}: {value!r} is not {f.type}") from None
        if not value_fits(f.type, value):
            raise ConfigError(f"{p}: {name}: {value!r} is not {f.type}")
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
