"""The settings schema of training: what a setting is, its value types and text parsers.

A setting is a TrainConfig field (train/config.py) declared with `setting()`: its default, its
flag's help, --help group, argparse type and choices, and the rule its value must follow. From
that one declaration `python -m train fit` builds its flags (train/commands/fit.py), recipe
files are checked (train/recipe_files.py) and a run's config is validated (TrainConfig.validate).
"""

from __future__ import annotations

import argparse
from dataclasses import field, fields
from typing import Any

from .errors import ConfigError

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


def parse_augment(text: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """'flip,jpeg' (a flag) or ['flip', 'jpeg'] (a recipe) -> ('flip', 'jpeg'); '' or 'none'
    -> ()."""
    if text is None:
        return ()
    if isinstance(text, (list, tuple)):
        text = ",".join(text)
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


# The settings schema: each TrainConfig field carries its flag's help, group, type and rules in
# its metadata; `python -m train fit` builds its flags from them (train/commands/fit.py), recipe
# files are checked against them (train/recipe_files.py) and validate() applies their rules.
GROUPS = ("recipe", "preprocessing", "data", "sources", "engine")  # --help sections, in order


def setting(
    default: Any = None,
    help: str = "",
    *,
    group: str,
    recipe: bool = False,
    choices: tuple = (),
    check: tuple[Any, str] | None = None,
    kind: Any = None,
    parse: Any = None,
    factory: Any = None,
    **flag: Any,
) -> Any:
    """One TrainConfig field: its default and its flag.

    recipe: a recipe file may set it (its flag defaults to None = the recipe's value);
    choices: the allowed values; check: (predicate, what a failing value is), e.g.
    (lambda v: v >= 1, "< 1"); kind: the flag's argparse type (default: the default's type);
    parse: recipe or flag value -> field value (e.g. 'all' -> -1); flag: more add_argument
    keywords (flag name, metavar, action, nargs, const).
    """
    meta = {"help": help, "group": group, "recipe": recipe, "choices": choices, "check": check}
    meta.update(kind=kind, parse=parse, flag=flag)
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def settings(cls) -> list:
    """The fields of a dataclass that are settings (a flag each), in declaration order."""
    return [f for f in fields(cls) if "group" in f.metadata]


def check_settings(obj) -> None:
    """Every setting's choices and check; the first that fails is one ConfigError line."""
    for f in settings(obj):
        value, meta = getattr(obj, f.name), f.metadata
        if meta["choices"] and value not in meta["choices"]:
            choices = ", ".join(map(str, meta["choices"]))
            raise ConfigError(f"{flag_name(f)}: {value!r} not one of {choices}")
        if meta["check"] and value is not None and not meta["check"][0](value):
            shown = "-".join(map(str, value)) if isinstance(value, tuple) else value
            raise ConfigError(f"{flag_name(f)}: {shown} {meta['check'][1]}")


def flag_name(f) -> str:
    return f.metadata["flag"].get("flag") or "--" + f.name.replace("_", "-")


def is_positive(v) -> bool:
    return v > 0


def is_fraction(v) -> bool:
    return 0 < v <= 1


def is_unit_interval(v) -> bool:
    return 0 <= v < 1


_SCALAR_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}


def value_fits(type_text: str, value: Any) -> bool:
    """Does a JSON value fit a field's annotation ('int', 'float | None', 'tuple[int, int]',
    'tuple[str, ...]', 'dict[str, float]')? bool is not a number here."""
    base = type_text.removesuffix(" | None")
    if value is None:
        return base != type_text
    if base in _SCALAR_TYPES:
        is_bool = isinstance(value, bool)
        return isinstance(value, _SCALAR_TYPES[base]) and (base == "bool" or not is_bool)
    if base.startswith("tuple[") and isinstance(value, (list, tuple)):
        items = [t.strip() for t in base[len("tuple[") : -1].split(",")]
        if items[-1] == "...":
            return all(value_fits(items[0], v) for v in value)
        return len(value) == len(items) and all(map(value_fits, items, value))
    if base.startswith("dict[") and isinstance(value, dict):
        value_type = base[len("dict[") : -1].split(",", 1)[1].strip()
        return all(isinstance(k, str) and value_fits(value_type, v) for k, v in value.items())
    return not base.startswith(("tuple[", "dict["))
