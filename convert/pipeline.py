"""Keras run -> verified TFLite model bundles + conversion report.

Order: every input is checked first (output folder, variants, model file, data folders, model
interface); only then are images preprocessed and variants converted. Each variant is written to
a staging folder inside the output folder, verified there through edge_runtime, and moved into
place only when it passes, so a failed variant never leaves a bundle behind.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_runtime.bundle import OUTPUT_SOFTMAX, save_bundle, sidecar_path
from edge_runtime.fileio import sha256_bytes
from edge_runtime.inspect_model import read_model_facts
from edge_runtime.types import (
    LABELS,
    VARIANTS,
    BundleInfo,
    EdgeDetectError,
    PreprocessSpec,
)
from workbench.evaluation import default_sample_dir, predict_labels

from .data import ImageSet, LabelledFiles, list_labelled, load_image_set, split_dir
from .options import QAT_MODES, ConvertOptions, QatOptions
from .report import ConversionReport, QatDecision, VariantOutcome, write_report
from .source import (
    ModelSource,
    fake_probabilities,
    fit_spec,
    load_keras_model,
    output_kind,
    resolve_source,
)
from .tflite_export import VARIANT_TABLE, keras_to_tflite
from .verify import (
    Reference,
    VariantCheck,
    VerifyLimits,
    check_variant,
    keras_reference,
    predict_fake,
)


class ConvertError(EdgeDetectError):
    """Bad options or an unusable output folder (reported as one line before work starts)."""


@dataclass
class ConversionResult:
    report: ConversionReport
    report_json: Path
    report_md: Path

    @property
    def passed(self) -> bool:
        return self.report.passed


log = logging.getLogger(__name__).info  # progress lines on stderr (console.setup_logging)


def parse_variants(text: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in names if v not in VARIANTS]
    if not names or unknown:
        raise ConvertError(
            f"--variants {text!r}: unknown {', '.join(unknown) or '(empty)'}; "
            f"choose from {','.join(VARIANTS)}"
        )
    return tuple(dict.fromkeys(names))


def check_out_dir(out: Path) -> None:
    """Without creating anything: the output folder exists and is writable, or can be created."""
    if out.exists() and not out.is_dir():
        raise ConvertError(f"{out}: output path exists and is not a directory")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConvertError(f"{out}: output folder is not writable ({probe} is not a directory)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConvertError(f"{out}: output folder is not writable (permission denied on {probe})")


def prepare_out_dir(out: Path) -> None:
    """Create the output folder and prove it is writable, before any work."""
    if out.exists() and not out.is_dir():
        raise ConvertError(f"{out}: output path exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConvertError(f"{out}: output folder is not writable ({e.strerror or e})") from None


def _default_data_root(source: ModelSource) -> Path | None:
    """The run's own data folder, else the shared sample beside the checkout."""
    if source.data_dir is not None:
        return source.data_dir
    sample = default_sample_dir()
    return sample if sample.is_dir() else None


@dataclass
class Plan:
    """Everything checked up front."""

    source: ModelSource
    variants: tuple[str, ...]
    calibration: LabelledFiles | None
    validation: LabelledFiles


def check_inputs(opts: ConvertOptions) -> Plan:
    if opts.qat.mode not in QAT_MODES:
        raise ConvertError(f"--qat {opts.qat.mode!r}: choose from {', '.join(QAT_MODES)}")
    if opts.calibration_images < 1:
        raise ConvertError("--calibration-images must be at least 1")
    if not 0.0 <= opts.min_agreement <= 1.0:
        raise ConvertError("--min-agreement must be within [0, 1]")
    variants = tuple(opts.variants)
    for v in variants:
        if v not in VARIANTS:
            raise ConvertError(f"unknown variant {v!r}; choose from {','.join(VARIANTS)}")
    source = resolve_source(opts.source)
    data_root = opts.calibration_dir or _default_data_root(source)
    needs_train = "int8" in variants
    calibration = None
    if needs_train:
        if data_root is None:
            raise ConvertError(
                "int8 needs training images for calibration: pass --calibration-dir DATA"
            )
        calibration = list_labelled(split_dir(data_root, "train"), "calibration")
    valid_root = opts.valid_dir
    if valid_root is None:
        if data_root is None or not (Path(data_root) / "valid").is_dir():
            raise ConvertError(
                "verification needs validation images: pass --valid-dir DATA/valid "
                "(or a --calibration-dir root that has a valid/ split)"
            )
        valid_root = Path(data_root) / "valid"
    validation = list_labelled(valid_root, "validation")
    check_out_dir(opts.out)
    return Plan(source, variants, calibration, validation)


def _converter_versions() -> dict[str, str]:
    versions = {}
    for mod in ("tensorflow", "keras", "ai_edge_litert", "tensorflow_model_optimization"):
        try:
            m = sys.modules.get(mod) or __import__(mod)
            versions[mod] = str(getattr(m, "__version__", "unknown"))
        except ImportError:
            versions[mod] = "not installed"
    return versions


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


def _commit(staged: Path, final: Path) -> None:
    """Move a verified bundle (the .tflite, then its sidecar) into place."""
    os.replace(staged, final)
    os.replace(sidecar_path(staged), sidecar_path(final))


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


def _prepare(opts: ConvertOptions, plan: Plan) -> Conversion:
    """Load the model, fit the spec, check the output folder, preprocess the image sets."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(opts.threads)
        tf.config.threading.set_inter_op_parallelism_threads(opts.threads)
    except RuntimeError:  # TensorFlow already initialised in this process (tests, notebooks)
        pass
    model = load_keras_model(plan.source)
    height, width = int(model.inputs[0].shape[1]), int(model.inputs[0].shape[2])
    spec = fit_spec(plan.source, height, width)
    # Last check: a bad model or data folder leaves no output folder behind.
    prepare_out_dir(opts.out)
    log(f"convert: preprocessing validation images from {plan.validation.root}")
    valid = load_image_set(plan.validation, spec, opts.valid_limit, opts.seed, "validation")
    ref = keras_reference(model, valid.x, valid.y, plan.source.threshold)
    log(f"convert: Keras accuracy {ref.accuracy:.4f} on {len(valid)} validation images")
    conv = Conversion(
        opts, plan, model, spec, valid, ref, VerifyLimits(min_agreement=opts.min_agreement),
        _converter_versions(), staging=opts.out,
    )  # fmt: skip
    if plan.calibration is not None:
        n = opts.calibration_images
        log(f"convert: preprocessing {n} calibration images from {plan.calibration.root}")
        calib = load_image_set(plan.calibration, spec, n, opts.seed, "calibration")
        conv.calib = calib
        conv.calibration_meta = {
            "size": len(calib),
            "requested": n,
            "source": calib.source,
            "per_class": calib.counts,
            "seed": opts.seed,
            "stratified": True,
            "preprocessing": "edge_runtime.preprocess (same spec as inference)",
            "skipped_unreadable": len(calib.skipped),
        }
    return conv


def _convert_all(conv: Conversion) -> tuple[list[VariantOutcome], QatDecision]:
    """Every variant (PTQ, then QAT when it applies); the kept ones are moved into place."""
    opts, plan = conv.opts, conv.plan
    outcomes: list[VariantOutcome] = []
    keep: dict[str, VariantOutcome] = {}
    qat = QatDecision(mode=opts.qat.mode, threshold_pp=opts.qat.threshold_pp)
    for variant in plan.variants:
        outcome = convert_and_verify(conv, variant)
        outcomes.append(outcome)
        if outcome.passed:
            keep[variant] = outcome
    if "int8" in plan.variants and opts.qat.mode != "off":
        qat, qat_outcome = _maybe_qat(conv, outcomes)
        if qat_outcome is not None:
            outcomes.append(qat_outcome)
            if qat.kept == "qat":
                keep["int8"] = qat_outcome
    for outcome in keep.values():
        _commit(outcome.staged, opts.out / outcome.file)
        outcome.kept = True
    return outcomes, qat


def run_conversion(opts: ConvertOptions) -> ConversionResult:
    started = time.perf_counter()
    plan = check_inputs(opts)
    log(f"convert: {plan.source.model_path} -> {opts.out} ({','.join(plan.variants)})")
    conv = _prepare(opts, plan)
    conv.staging = Path(tempfile.mkdtemp(prefix=".convert-staging-", dir=opts.out))
    try:
        outcomes, qat = _convert_all(conv)
    finally:
        shutil.rmtree(conv.staging, ignore_errors=True)
    report = _report(conv, outcomes, qat, round(time.perf_counter() - started, 1))
    json_path, md_path = write_report(report, opts.out)
    return ConversionResult(report, json_path, md_path)


def _report(
    conv: Conversion, outcomes: list[VariantOutcome], qat: QatDecision, wall_s: float
) -> ConversionReport:
    opts, plan, valid = conv.opts, conv.plan, conv.valid
    failures = []
    for v in plan.variants:
        tries = [o for o in outcomes if o.variant == v]
        if not any(o.kept for o in tries):
            failures += [f"{v} ({o.origin}): {p}" for o in tries for p in o.problems]
    source = plan.source
    return ConversionReport(
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        machine=f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPU cores",
        source={
            "model": str(source.model_path),
            "run_dir": str(source.run_dir) if source.run_dir else None,
            "training_run": source.training_run,
            "preprocess_source": source.preprocess_source,
            "threshold_source": source.threshold_source,
            "model_sha256": sha256_bytes(source.model_path.read_bytes()),
        },
        preprocess=conv.spec.to_dict(),
        threshold=source.threshold,
        versions=conv.versions,
        options={
            "variants": list(plan.variants),
            "legacy_fully_connected": opts.legacy_fully_connected,
            "min_agreement": opts.min_agreement,
            "collapse_std": conv.limits.collapse_std,
            "seed": opts.seed,
            "threads": opts.threads,
        },
        calibration=conv.calibration_meta,
        validation={
            "source": valid.source,
            "images": len(valid),
            "per_class": valid.counts,
            "skipped_unreadable": len(valid.skipped),
        },
        keras={"accuracy": conv.ref.accuracy, "fake_probability_std": conv.ref.std},
        variants=outcomes,
        qat=qat,
        failures=failures,
        wall_s=wall_s,
    )


def _agreement_with(tflite_path: Path, valid: ImageSet, ref: Reference) -> float:
    p = predict_fake(tflite_path, valid.x)
    return float((predict_labels(p, ref.threshold) == ref.labels).mean())


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


def _qat_decision(conv: Conversion, outcomes: list[VariantOutcome]) -> QatDecision:
    """PTQ int8 against float: the figures QAT's auto mode decides on."""
    ptq = next(o for o in outcomes if o.variant == "int8")
    float_outcome = next((o for o in outcomes if o.variant == "fp32" and o.check), None)
    float_acc = float_outcome.check.accuracy if float_outcome else conv.ref.accuracy
    ptq_acc = ptq.check.accuracy if ptq.check else None
    return QatDecision(
        mode=conv.opts.qat.mode,
        threshold_pp=conv.opts.qat.threshold_pp,
        float_accuracy=float_acc,
        float_reference="fp32 .tflite" if float_outcome else "Keras",
        ptq_accuracy=ptq_acc,
        ptq_drop_pp=None if ptq_acc is None else round((float_acc - ptq_acc) * 100.0, 3),
        ptq_passed=ptq.passed,
        kept="ptq",
    )


def _maybe_qat(
    conv: Conversion, outcomes: list[VariantOutcome]
) -> tuple[QatDecision, VariantOutcome | None]:
    """Run QAT when asked (or when PTQ int8 loses too much); say which int8 to keep."""
    from .qat_launch import run_qat

    rep = _qat_decision(conv, outcomes)
    if output_kind(conv.model) != OUTPUT_SOFTMAX:
        # QAT fine-tunes a two-class softmax (convert/qat.py); a one-sigmoid model is a
        # published peer's (MesoNet), whose weights stay as published.
        rep.reason = "QAT not run: it trains two-class softmax models; this one is a sigmoid"
        log(f"convert: {rep.reason}")
        return rep, None
    drop, limit = rep.ptq_drop_pp, rep.threshold_pp
    if rep.mode == "auto" and rep.ptq_passed and drop is not None and drop <= limit:
        rep.reason = f"PTQ int8 loses {drop:.2f} pp <= {limit} pp: QAT not needed"
        log(f"convert: qat skipped ({rep.reason})")
        return rep, None
    if rep.mode == "on":
        rep.trigger = "--qat on"
    elif not rep.ptq_passed:
        rep.trigger = "PTQ int8 failed verification"
    else:
        rep.trigger = f"PTQ int8 loses {drop:.2f} pp > {limit} pp"
    log(f"convert: running QAT ({rep.trigger})")
    rep.ran = True
    train_dir = conv.plan.calibration.root
    t0 = time.perf_counter()
    result = run_qat(conv.model, train_dir, conv.spec, conv.opts, conv.valid.x[:8], conv.valid.x)
    rep.training = result.summary
    if not result.ok:
        rep.reason = f"QAT failed ({result.error}); keeping PTQ int8"
        log(f"convert: {rep.reason}")
        return rep, None
    images = result.summary.get("train_images")
    cal = {
        "size": 0,
        "source": f"none: quantization-aware training on {images} images of {train_dir}",
        "qat": {
            k: result.summary.get(k)
            for k in ("epochs", "learning_rate", "batch_size", "train_images")
        },
    }
    # QAT fine-tunes the weights, so its int8 is verified against the fine-tuned Keras model
    # (conversion fidelity); agreement with the original model is reported beside it.
    ref = conv.ref
    qat_probs = fake_probabilities(result.predictions)
    qat_labels = predict_labels(qat_probs, ref.threshold)
    qat_ref = Reference(qat_probs, qat_labels, ref.truth, ref.threshold)
    elapsed = round(time.perf_counter() - t0, 2)
    outcome = stage_and_verify(conv, "int8", result.content, "qat", qat_ref, cal, elapsed)
    rep.qat_keras_accuracy = qat_ref.accuracy
    rep.qat_int8_agreement_with_original_keras = _agreement_with(outcome.staged, conv.valid, ref)
    rep.qat_accuracy, rep.qat_passed = outcome.check.accuracy, outcome.passed
    _choose_int8(rep, next(o for o in outcomes if o.variant == "int8"), outcome)
    return rep, outcome


def _choose_int8(rep: QatDecision, ptq: VariantOutcome, qat: VariantOutcome) -> None:
    """QAT int8 is kept when it passed and PTQ did not, or when it is more accurate."""
    check = qat.check
    ptq_text = "conversion failed" if rep.ptq_accuracy is None else f"{rep.ptq_accuracy:.4f}"
    if check.passed and (not ptq.passed or check.accuracy > ptq.check.accuracy):
        rep.kept = "qat"
        why = f"did not ({ptq_text})" if not ptq.passed else f"is less accurate ({ptq_text})"
        rep.reason = (
            f"QAT int8 kept: it passed verification (accuracy {check.accuracy:.4f}) "
            f"and PTQ int8 {why}"
        )
    else:
        failed = "" if check.passed else " (failed verification)"
        rep.reason = (
            f"PTQ int8 kept: QAT int8 accuracy {check.accuracy:.4f}{failed} is not better "
            f"than PTQ int8 ({ptq_text})"
        )
    log(f"convert: {rep.reason}")


__all__ = [
    "ConversionResult",
    "ConvertError",
    "ConvertOptions",
    "QatOptions",
    "VariantOutcome",
    "parse_variants",
    "run_conversion",
]
