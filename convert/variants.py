"""One variant of a conversion: converted, its bundle staged and verified through edge_runtime.

A converter failure fails that variant only; nothing here moves a bundle into place
(convert/pipeline.py commits the kept ones).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_runtime.bundle import save_bundle
from edge_runtime.inspect_model import read_model_facts
from edge_runtime.types import LABELS, BundleInfo, PreprocessSpec

from .data import ImageSet
from .options import ConvertOptions
from .report import VariantOutcome
from .source import ModelSource, output_kind
from .tflite_export import VARIANT_TABLE, keras_to_tflite
from .verify import Reference, VariantCheck, VerifyLimits, check_variant

if TYPE_CHECKING:
    from .pipeline import Plan

log = logging.getLogger(__name__).info  # progress lines on stderr (console.setup_logging)


def _bundle_info(
    variant: str,
    spec: PreprocessSpec,
    source: ModelSource,
    opts: ConvertOptions,
    calibration: dict[str, Any] | None,
    facts: dict[str, Any],
    versions: dict[str, str],
    origin: str,
    output: str,
) -> BundleInfo:
    extra: dict[str, Any] = {
        "calibration": calibration,
        "op_set": VARIANT_TABLE[variant].op_set,
        "min_runtime_version": facts.get("min_runtime_version"),
        "ops": facts.get("ops", {}),
        "legacy_fully_connected": bool(opts.legacy_fully_connected),
        "converter": f"tensorflow {versions.get('tensorflow')}",
        "keras": versions.get("keras"),
        "quantization": origin,  # ptq: post-training; qat: quantization-aware training
        "source_model": str(source.model_path),
    }
    what = source.description or "edge-detect MobileNet deepfake-face classifier"
    return BundleInfo(
        variant=variant,
        labels=LABELS,
        preprocess=spec,
        threshold=source.threshold,
        output=output,
        training_run=source.training_run,
        description=f"{what}, {variant} ({origin})",
        extra=extra,
    )


@dataclass
class Conversion:
    """One conversion run's shared state: the model, its spec, the verification data."""

    opts: ConvertOptions
    plan: Plan
    model: Any  # the Keras model
    spec: PreprocessSpec
    valid: ImageSet
    ref: Reference  # the Keras model's answers on `valid`
    limits: VerifyLimits
    versions: dict[str, str]
    staging: Path
    calib: ImageSet | None = None
    calibration_meta: dict[str, Any] | None = None

    def file_name(self, variant: str) -> str:
        return f"{self.opts.stem}_{variant}.tflite"

    def representative(self):
        for i in range(len(self.calib.x)):
            yield [self.calib.x[i : i + 1]]


def stage_and_verify(
    conv: Conversion,
    variant: str,
    content: bytes,
    origin: str,
    ref: Reference,
    calibration: dict[str, Any] | None,
    conversion_s: float,
) -> VariantOutcome:
    """Read the model's facts, write its bundle to staging, verify it through edge_runtime."""
    name = conv.file_name(variant)
    facts = read_model_facts(content, name)
    info = _bundle_info(
        variant, conv.spec, conv.plan.source, conv.opts, calibration, facts, conv.versions, origin,
        output_kind(conv.model),
    )  # fmt: skip
    staged = save_bundle(content, info, conv.staging / origin / name).path
    check = check_variant(
        staged, variant, conv.valid.x, ref, conv.limits, num_threads=conv.opts.threads
    )
    _log_check(check)
    return VariantOutcome(
        variant,
        name,
        check.passed,
        check,
        conversion_s,
        _facts_summary(facts),
        list(check.problems),
        origin=origin,
        staged=staged,
    )


def convert_and_verify(conv: Conversion, variant: str) -> VariantOutcome:
    """Post-training conversion of one variant, staged and verified; a converter failure fails
    this variant only."""
    log(f"convert: {variant} ...")
    t0 = time.perf_counter()
    try:
        content = keras_to_tflite(
            conv.model,
            variant,
            conv.representative if VARIANT_TABLE[variant].calibrated else None,
            legacy_fully_connected=conv.opts.legacy_fully_connected,
        )
    except Exception as e:  # noqa: BLE001 - a converter failure fails this variant only
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        log(f"convert: {variant} FAILED: conversion failed: {first}")
        problem = f"conversion failed: {first}"
        elapsed = time.perf_counter() - t0
        return VariantOutcome(
            variant, conv.file_name(variant), False, None, elapsed, problems=[problem]
        )
    conversion_s = round(time.perf_counter() - t0, 2)
    calibration = conv.calibration_meta if VARIANT_TABLE[variant].calibrated else None
    return stage_and_verify(conv, variant, content, "ptq", conv.ref, calibration, conversion_s)


def _facts_summary(facts: dict[str, Any]) -> dict[str, Any]:
    return {
        "min_runtime_version": facts.get("min_runtime_version"),
        "ops": facts.get("ops", {}),
        "input": facts["inputs"][0] if facts.get("inputs") else None,
        "output": facts["outputs"][0] if facts.get("outputs") else None,
    }


def _log_check(check: VariantCheck) -> None:
    status = "ok" if check.passed else "FAILED"
    log(
        f"convert: {check.variant} {status}: {check.size_bytes / 1e6:.2f} MB, "
        f"agreement {check.agreement:.1%}, max |dP| {check.max_abs_diff:.2e}, "
        f"accuracy {check.accuracy:.4f} (Keras {check.keras_accuracy:.4f})"
        + ("".join(f"\n  - {p}" for p in check.problems))
    )
