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

from edge_runtime.bundle import sidecar_path
from edge_runtime.fileio import sha256_bytes
from edge_runtime.types import VARIANTS, EdgeDetectError
from workbench.evaluation import default_sample_dir

from .data import LabelledFiles, list_labelled, load_image_set, split_dir
from .options import QAT_MODES, ConvertOptions, QatOptions
from .qat_choice import maybe_qat
from .report import ConversionReport, QatDecision, VariantOutcome, write_report
from .source import ModelSource, fit_spec, load_keras_model, resolve_source
from .variants import Conversion, convert_and_verify
from .verify import VerifyLimits, keras_reference


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


def _commit(staged: Path, final: Path) -> None:
    """Move a verified bundle (the .tflite, then its sidecar) into place."""
    os.replace(staged, final)
    os.replace(sidecar_path(staged), sidecar_path(final))


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
        qat, qat_outcome = maybe_qat(conv, outcomes)
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


__all__ = [
    "ConversionResult",
    "ConvertError",
    "ConvertOptions",
    "QatOptions",
    "VariantOutcome",
    "parse_variants",
    "run_conversion",
]
