"""Keras run -> verified TFLite model bundles + conversion report.

Order: every input is checked first (output folder, variants, model file, data folders, model
interface); only then are images preprocessed and variants converted. Each variant is written to
a staging folder inside the output folder, verified there through edge_runtime, and moved into
place only when it passes, so a failed variant never leaves a bundle behind.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.bundle import save_bundle, sidecar_path
from edge_runtime.evaluation import default_sample_dir, predict_labels
from edge_runtime.fileio import sha256_bytes
from edge_runtime.inspect_model import read_model_facts
from edge_runtime.types import (
    FAKE_INDEX,
    LABELS,
    VARIANTS,
    BundleInfo,
    EdgeDetectError,
    PreprocessSpec,
)

from .data import ImageSet, LabelledFiles, list_labelled, load_image_set, split_dir
from .options import QAT_MODES, ConvertOptions, QatOptions
from .report import write_report
from .source import ModelSource, fit_spec, load_keras_model, resolve_source
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
class VariantOutcome:
    variant: str
    file: str
    passed: bool
    check: VariantCheck | None
    conversion_s: float
    facts: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    origin: str = "ptq"  # "ptq" or "qat"
    kept: bool = False  # moved into the output folder

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["check"] = self.check.to_dict() if self.check else None
        return d


@dataclass
class ConversionResult:
    report: dict[str, Any]
    report_json: Path
    report_md: Path

    @property
    def passed(self) -> bool:
        return bool(self.report["passed"])


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


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
) -> BundleInfo:
    extra: dict[str, Any] = {
        "calibration": calibration,
        "op_set": "TFLITE_BUILTINS_INT8" if variant == "int8" else "TFLITE_BUILTINS",
        "min_runtime_version": facts.get("min_runtime_version"),
        "ops": facts.get("ops", {}),
        "legacy_fully_connected": bool(opts.legacy_fully_connected),
        "converter": f"tensorflow {versions.get('tensorflow')}",
        "keras": versions.get("keras"),
        "quantization": origin,  # ptq: post-training; qat: quantization-aware training
        "source_model": str(source.model_path),
    }
    return BundleInfo(
        variant=variant,
        labels=LABELS,
        preprocess=spec,
        threshold=source.threshold,
        training_run=source.training_run,
        description=f"edge-detect MobileNet deepfake-face classifier, {variant} ({origin})",
        extra=extra,
    )


def _stage_and_verify(
    content: bytes,
    info: BundleInfo,
    staging: Path,
    name: str,
    variant: str,
    valid: ImageSet,
    ref: Reference,
    limits: VerifyLimits,
    threads: int,
) -> tuple[Path, VariantCheck]:
    staged = save_bundle(content, info, staging / name).path
    check = check_variant(staged, variant, valid.x, ref, limits, num_threads=threads)
    return staged, check


def _commit(staged: Path, final: Path) -> None:
    """Move a verified bundle (the .tflite, then its sidecar) into place."""
    os.replace(staged, final)
    os.replace(sidecar_path(staged), sidecar_path(final))


def run_conversion(opts: ConvertOptions) -> ConversionResult:
    started = time.perf_counter()
    plan = check_inputs(opts)
    log(f"convert: {plan.source.model_path} -> {opts.out} ({','.join(plan.variants)})")

    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(opts.threads)
        tf.config.threading.set_inter_op_parallelism_threads(opts.threads)
    except RuntimeError:  # TensorFlow already initialised in this process (tests, notebooks)
        pass
    from .tflite_export import keras_to_tflite

    model = load_keras_model(plan.source)
    height, width = int(model.inputs[0].shape[1]), int(model.inputs[0].shape[2])
    spec = fit_spec(plan.source, height, width)
    # Last check: a bad model or data folder leaves no output folder behind.
    prepare_out_dir(opts.out)
    versions = _converter_versions()
    limits = VerifyLimits(min_agreement=opts.min_agreement)

    log(f"convert: preprocessing validation images from {plan.validation.root}")
    valid = load_image_set(plan.validation, spec, opts.valid_limit, opts.seed, "validation")
    ref = keras_reference(model, valid.x, valid.y, plan.source.threshold)
    log(f"convert: Keras accuracy {ref.accuracy:.4f} on {len(valid)} validation images")

    calibration_meta = None
    calib: ImageSet | None = None
    if plan.calibration is not None:
        log(
            f"convert: preprocessing {opts.calibration_images} "
            f"calibration images from {plan.calibration.root}"
        )
        calib = load_image_set(
            plan.calibration, spec, opts.calibration_images, opts.seed, "calibration"
        )
        calibration_meta = {
            "size": len(calib),
            "requested": opts.calibration_images,
            "source": calib.source,
            "per_class": calib.counts,
            "seed": opts.seed,
            "stratified": True,
            "preprocessing": "edge_runtime.preprocess (same spec as inference)",
            "skipped_unreadable": len(calib.skipped),
        }

    def representative():
        for i in range(len(calib.x)):
            yield [calib.x[i : i + 1]]

    outcomes: list[VariantOutcome] = []
    staging = Path(tempfile.mkdtemp(prefix=".convert-staging-", dir=opts.out))
    staged_ok: dict[str, tuple[Path, VariantOutcome]] = {}
    qat_report: dict[str, Any] = {
        "mode": opts.qat.mode,
        "threshold_pp": opts.qat.threshold_pp,
        "ran": False,
    }
    try:
        for variant in plan.variants:
            name = f"{opts.stem}_{variant}.tflite"
            log(f"convert: {variant} ...")
            t0 = time.perf_counter()
            try:
                content = keras_to_tflite(
                    model,
                    variant,
                    representative if variant == "int8" else None,
                    legacy_fully_connected=opts.legacy_fully_connected,
                )
            except Exception as e:  # noqa: BLE001 - a converter failure fails this variant only
                first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
                outcomes.append(
                    VariantOutcome(
                        variant,
                        name,
                        False,
                        None,
                        time.perf_counter() - t0,
                        problems=[f"conversion failed: {first}"],
                    )
                )
                log(f"convert: {variant} FAILED: conversion failed: {first}")
                continue
            conversion_s = time.perf_counter() - t0
            facts = read_model_facts(content, name)
            cal = calibration_meta if variant == "int8" else None
            info = _bundle_info(variant, spec, plan.source, opts, cal, facts, versions, "ptq")
            staged, check = _stage_and_verify(
                content, info, staging / "ptq", name, variant, valid, ref, limits, opts.threads
            )
            outcome = VariantOutcome(
                variant,
                name,
                check.passed,
                check,
                round(conversion_s, 2),
                _facts_summary(facts),
                list(check.problems),
            )
            outcomes.append(outcome)
            _log_check(check)
            if check.passed:
                staged_ok[variant] = (staged, outcome)

        if "int8" in plan.variants and opts.qat.mode != "off":
            qat_report = _maybe_qat(
                opts, plan, model, spec, valid, ref, limits, outcomes, staging, versions, staged_ok
            )

        for staged, outcome in staged_ok.values():
            _commit(staged, opts.out / staged.name)
            outcome.kept = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    failures = []
    for v in plan.variants:
        tries = [o for o in outcomes if o.variant == v]
        if not any(o.kept for o in tries):
            failures += [f"{v} ({o.origin}): {p}" for o in tries for p in o.problems]
    report = {
        "tool": "python -m convert",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPU cores",
        "source": {
            "model": str(plan.source.model_path),
            "run_dir": str(plan.source.run_dir) if plan.source.run_dir else None,
            "training_run": plan.source.training_run,
            "preprocess_source": plan.source.preprocess_source,
            "threshold_source": plan.source.threshold_source,
            "model_sha256": sha256_bytes(plan.source.model_path.read_bytes()),
        },
        "preprocess": spec.to_dict(),
        "threshold": plan.source.threshold,
        "versions": versions,
        "options": {
            "variants": list(plan.variants),
            "legacy_fully_connected": opts.legacy_fully_connected,
            "min_agreement": opts.min_agreement,
            "collapse_std": limits.collapse_std,
            "seed": opts.seed,
            "threads": opts.threads,
        },
        "calibration": calibration_meta,
        "validation": {
            "source": valid.source,
            "images": len(valid),
            "per_class": valid.counts,
            "skipped_unreadable": len(valid.skipped),
        },
        "keras": {"accuracy": ref.accuracy, "fake_probability_std": ref.std},
        "variants": [o.to_dict() for o in outcomes],
        "qat": qat_report,
        "passed": not failures,
        "failures": failures,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    json_path, md_path = write_report(report, opts.out)
    return ConversionResult(report, json_path, md_path)


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
        f"convert: {check.variant} {status}: {check.size_bytes / 1e6:.2f} "
        f"MB, agreement {check.agreement:.1%}, "
        f"max |dP| {check.max_abs_diff:.2e}, accuracy "
        f"{check.accuracy:.4f} (Keras {check.keras_accuracy:.4f})"
        + ("".join(f"\n  - {p}" for p in check.problems))
    )


def _maybe_qat(
    opts, plan, model, spec, valid, ref, limits, outcomes, staging, versions, staged_ok
) -> dict[str, Any]:
    """Run QAT when asked (or when PTQ int8 loses too much) and keep the better int8."""
    from .qat_launch import run_qat

    ptq = next(o for o in outcomes if o.variant == "int8")
    float_outcome = next((o for o in outcomes if o.variant == "fp32" and o.check), None)
    float_acc = float_outcome.check.accuracy if float_outcome else ref.accuracy
    ptq_acc = ptq.check.accuracy if ptq.check else None
    drop_pp = None if ptq_acc is None else round((float_acc - ptq_acc) * 100.0, 3)
    rep: dict[str, Any] = {
        "mode": opts.qat.mode,
        "threshold_pp": opts.qat.threshold_pp,
        "float_accuracy": float_acc,
        "float_reference": "fp32 .tflite" if float_outcome else "Keras",
        "ptq_accuracy": ptq_acc,
        "ptq_drop_pp": drop_pp,
        "ptq_passed": ptq.passed,
        "ran": False,
        "kept": "ptq",
    }
    if (
        opts.qat.mode == "auto"
        and ptq.passed
        and drop_pp is not None
        and drop_pp <= opts.qat.threshold_pp
    ):
        rep["reason"] = (
            f"PTQ int8 loses {drop_pp:.2f} pp <= {opts.qat.threshold_pp} pp: QAT not needed"
        )
        log(f"convert: qat skipped ({rep['reason']})")
        return rep
    why = (
        "--qat on"
        if opts.qat.mode == "on"
        else (
            "PTQ int8 failed verification"
            if not ptq.passed
            else f"PTQ int8 loses {drop_pp:.2f} pp > {opts.qat.threshold_pp} pp"
        )
    )
    log(f"convert: running QAT ({why})")
    rep["ran"] = True
    rep["trigger"] = why
    train_dir = plan.calibration.root
    t0 = time.perf_counter()
    result = run_qat(model, train_dir, spec, opts, valid.x[:8], valid.x)
    rep["training"] = result.summary
    if not result.ok:
        rep["reason"] = f"QAT failed ({result.error}); keeping PTQ int8"
        log(f"convert: {rep['reason']}")
        return rep
    name = ptq.file
    facts = read_model_facts(result.content, name)
    cal = {
        "size": 0,
        "source": "none: quantization-aware training on "
        f"{result.summary.get('train_images')} images of {train_dir}",
        "qat": {
            k: result.summary.get(k)
            for k in ("epochs", "learning_rate", "batch_size", "train_images")
        },
    }
    info = _bundle_info("int8", spec, plan.source, opts, cal, facts, versions, "qat")
    # QAT fine-tunes the weights, so its int8 is verified against the fine-tuned Keras model
    # (conversion fidelity); agreement with the original model is reported beside it.
    qat_probs = np.asarray(result.predictions, dtype=np.float64)[:, FAKE_INDEX]
    qat_ref = Reference(
        qat_probs, predict_labels(qat_probs, ref.threshold), ref.truth, ref.threshold
    )
    staged, check = _stage_and_verify(
        result.content, info, staging / "qat", name, "int8", valid, qat_ref, limits, opts.threads
    )
    rep["qat_keras_accuracy"] = qat_ref.accuracy
    rep["qat_int8_agreement_with_original_keras"] = _agreement_with(staged, valid, ref)
    qat_outcome = VariantOutcome(
        "int8",
        name,
        check.passed,
        check,
        round(time.perf_counter() - t0, 2),
        _facts_summary(facts),
        list(check.problems),
        origin="qat",
    )
    outcomes.append(qat_outcome)
    _log_check(check)
    rep["qat_accuracy"] = check.accuracy
    rep["qat_passed"] = check.passed
    ptq_text = "conversion failed" if ptq_acc is None else f"{ptq_acc:.4f}"
    better = check.passed and (not ptq.passed or check.accuracy > ptq.check.accuracy)
    if better:
        rep["kept"] = "qat"
        staged_ok["int8"] = (staged, qat_outcome)
        rep["reason"] = (
            f"QAT int8 kept: it passed verification (accuracy {check.accuracy:.4f}) and PTQ int8 "
            + (f"did not ({ptq_text})" if not ptq.passed else f"is less accurate ({ptq_text})")
        )
    else:
        rep["reason"] = (
            "PTQ int8 kept: QAT int8 accuracy "
            f"{check.accuracy:.4f}{'' if check.passed else ' (failed verification)'} "
            f"is not better than PTQ int8 ({ptq_text})"
        )
    log(f"convert: {rep['reason']}")
    return rep


__all__ = [
    "ConversionResult",
    "ConvertError",
    "ConvertOptions",
    "QatOptions",
    "VariantOutcome",
    "parse_variants",
    "run_conversion",
]
