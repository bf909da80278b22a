"""The one schema of a model bundle (`<stem>.bundle.json` sidecar, or `bundle.json` packed in a
.tflite): which keys it holds, their types, ranges and documented defaults.

Checked whole when a bundle loads (`parse_bundle`): a value that cannot be right is a
ModelError naming the file and the key (the CLI exits 2); a missing key is either an error
(it decides an answer) or takes the default listed here, and then a warning names the key.

| key | required | default when missing |
|---|---|---|
| `variant` | yes | |
| `labels` | yes: unique strings holding "fake" and "real" | |
| `preprocess.height`, `.width` | yes: integers 1..4096 | |
| `preprocess.resize` | yes: one of RESIZE_METHODS | |
| `preprocess.crop` | yes: "none" or "center" | |
| `preprocess.crop_fraction` | yes: in (0, 1] | |
| `preprocess.mean` | yes: a finite number | |
| `preprocess.std` | yes: > 0 | |
| `threshold` | yes: in [0, 1], on the calibrated P(fake) | |
| `output` | no | "softmax" (warned; check_output verifies it against the graph) |
| `sha256` | no (a packed copy cannot hash its own file) | none: not checked (warned in a sidecar) |
| `calibration.temperature` | no: > 0 | 1.0, uncalibrated (not warned: the shipped bundles) |
| `training_run`, `description` | no: strings | "" (descriptive only) |
| `extra` | no: an object | {} (descriptive only: conversion choices, metrics) |

Unknown keys are ignored with a warning (a misspelt key would otherwise vanish silently).
"""

from __future__ import annotations

import math
from typing import Any

from .preprocess import CROP_MODES, RESIZE_METHODS
from .types import (
    DEFAULT_TEMPERATURE,
    LABELS,
    BundleInfo,
    ModelError,
    PreprocessSpec,
    check_threshold,
)

# What a model's output values are, as its bundle declares (BundleInfo.output); check_output
# in bundle.py verifies the declaration against the graph's last op.
OUTPUT_SOFTMAX = "softmax"  # one probability per label, labels order (the default)
OUTPUT_SIGMOID = "sigmoid"  # one value: P(labels[1]) (Keras' binary convention: P(real))
OUTPUT_LOGITS = "logits"  # raw scores: the runtime applies softmax (sigmoid for one value)
OUTPUT_KINDS = (OUTPUT_SOFTMAX, OUTPUT_SIGMOID, OUTPUT_LOGITS)
DEFAULT_OUTPUT = OUTPUT_SOFTMAX
MAX_INPUT_SIDE = 4096
PREPROCESS_KEYS = ("height", "width", "resize", "crop", "crop_fraction", "mean", "std")
TOP_KEYS = (
    "variant",
    "labels",
    "preprocess",
    "threshold",
    "output",
    "sha256",
    "calibration",
    "training_run",
    "description",
    "extra",
)


def _fail(where: str, key: str, reason: str):
    raise ModelError(f"{where}: bundle key {key!r} {reason}")


def _number(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(where, key, f"must be a finite number, got {value!r}")
    return float(value)


def _integer(where: str, key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        _fail(where, key, f"must be an integer in [{low}, {high}], got {value!r}")
    return value


def _string(where: str, key: str, value: Any, choices: tuple[str, ...] = ()) -> str:
    if not isinstance(value, str):
        _fail(where, key, f"must be a string, got {value!r}")
    if choices and value not in choices:
        _fail(where, key, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _required(d: dict, where: str, key: str, prefix: str = "") -> Any:
    if key not in d:
        _fail(where, prefix + key, "is missing (required)")
    return d[key]


def _unknown(d: dict, known: tuple[str, ...], where: str, prefix: str, warnings: list) -> None:
    for key in d:
        if key not in known:
            warnings.append(f"{where}: unknown bundle key {prefix + str(key)!r} ignored")


def _labels(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        _fail(where, "labels", f"must be a list of strings, got {value!r}")
    if len(set(value)) != len(value) or not set(LABELS) <= set(value):
        _fail(where, "labels", f"must hold 'fake' and 'real' once each, got {value!r}")
    return tuple(value)


def _preprocess(where: str, value: Any, warnings: list) -> PreprocessSpec:
    if not isinstance(value, dict):
        _fail(where, "preprocess", f"must be an object, got {value!r}")
    p = {k: _required(value, where, k, "preprocess.") for k in PREPROCESS_KEYS}
    _unknown(value, PREPROCESS_KEYS, where, "preprocess.", warnings)
    crop_fraction = _number(where, "preprocess.crop_fraction", p["crop_fraction"])
    if not 0.0 < crop_fraction <= 1.0:
        _fail(where, "preprocess.crop_fraction", f"must be in (0, 1], got {crop_fraction:g}")
    std = _number(where, "preprocess.std", p["std"])
    if not std > 0:
        _fail(where, "preprocess.std", f"must be > 0, got {std:g}")
    return PreprocessSpec(
        height=_integer(where, "preprocess.height", p["height"], 1, MAX_INPUT_SIDE),
        width=_integer(where, "preprocess.width", p["width"], 1, MAX_INPUT_SIDE),
        resize=_string(where, "preprocess.resize", p["resize"], RESIZE_METHODS),
        crop=_string(where, "preprocess.crop", p["crop"], CROP_MODES),
        crop_fraction=crop_fraction,
        mean=_number(where, "preprocess.mean", p["mean"]),
        std=std,
    )


def _temperature(where: str, value: Any) -> float:
    if not isinstance(value, dict) or set(value) != {"temperature"}:
        _fail(where, "calibration", f'must be {{"temperature": T}}, got {value!r}')
    t = _number(where, "calibration.temperature", value["temperature"])
    if not t > 0:
        _fail(where, "calibration.temperature", f"must be > 0, got {t:g}")
    return t


def _sha256(where: str, value: Any) -> str:
    text = _string(where, "sha256", value)
    if text and (len(text) != 64 or any(c not in "0123456789abcdef" for c in text)):
        _fail(where, "sha256", f"must be 64 lower-case hex digits, got {text!r}")
    return text


def parse_bundle(d: Any, where: str, *, packed: bool = False) -> tuple[BundleInfo, list[str]]:
    """A bundle's JSON value -> (BundleInfo, warnings), or ModelError naming `where` and the
    key. `packed`: the copy inside a .tflite, which cannot record its own file's sha256."""
    if not isinstance(d, dict):
        raise ModelError(f"{where}: bundle metadata must be a JSON object, got {type(d).__name__}")
    warnings: list[str] = []
    _unknown(d, TOP_KEYS, where, "", warnings)
    threshold = check_threshold(
        _number(where, "threshold", _required(d, where, "threshold")),
        f"{where}: bundle key 'threshold'",
        ModelError,
    )
    if "output" not in d:
        warnings.append(f"{where}: bundle key 'output' missing; assumed {DEFAULT_OUTPUT!r}")
    if "sha256" not in d and not packed:
        warnings.append(f"{where}: bundle key 'sha256' missing; the model file is not checked")
    extra = d.get("extra", {})
    if not isinstance(extra, dict):
        _fail(where, "extra", f"must be an object, got {extra!r}")
    info = BundleInfo(
        variant=_string(where, "variant", _required(d, where, "variant")),
        labels=_labels(where, _required(d, where, "labels")),
        preprocess=_preprocess(where, _required(d, where, "preprocess"), warnings),
        threshold=threshold,
        output=_string(where, "output", d.get("output", DEFAULT_OUTPUT), OUTPUT_KINDS),
        sha256=_sha256(where, d.get("sha256", "")),
        temperature=(
            _temperature(where, d["calibration"]) if "calibration" in d else DEFAULT_TEMPERATURE
        ),
        training_run=_string(where, "training_run", d.get("training_run", "")),
        description=_string(where, "description", d.get("description", "")),
        extra=dict(extra),
    )
    return info, warnings


__all__ = ["OUTPUT_KINDS", "RESIZE_METHODS", "parse_bundle"]
