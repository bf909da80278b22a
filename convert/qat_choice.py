"""QAT's place in a conversion: run it when asked or when PTQ int8 loses too much, and say
which int8 (post-training or quantization-aware) is kept."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from edge_runtime.bundle import OUTPUT_SOFTMAX
from workbench.evaluation import predict_labels

from .data import ImageSet
from .report import QatDecision, VariantOutcome
from .source import fake_probabilities, output_kind
from .variants import Conversion, stage_and_verify
from .verify import Reference, predict_fake

log = logging.getLogger(__name__).info  # progress lines on stderr (console.setup_logging)


def _agreement_with(tflite_path: Path, valid: ImageSet, ref: Reference) -> float:
    p = predict_fake(tflite_path, valid.x)
    return float((predict_labels(p, ref.threshold) == ref.labels).mean())


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


def maybe_qat(
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
