"""conversion_report.json and .md (written atomically, also when a variant fails)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge_runtime.fileio import atomic_write_json, atomic_write_text

from .verify import VariantCheck

REPORT_JSON = "conversion_report.json"
REPORT_MD = "conversion_report.md"


@dataclass
class VariantOutcome:
    """One try at one variant: PTQ (post-training) or QAT, verified or failed, kept or not."""

    variant: str
    file: str
    passed: bool
    check: VariantCheck | None
    conversion_s: float
    facts: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    origin: str = "ptq"  # "ptq" or "qat"
    kept: bool = False  # moved into the output folder
    staged: Path | None = field(default=None, repr=False)  # the verified bundle, before commit

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("staged")
        d["check"] = self.check.to_dict() if self.check else None
        return d


@dataclass
class QatDecision:
    """Whether QAT ran, why, and which int8 was kept. None = does not apply on this path."""

    mode: str
    threshold_pp: float
    ran: bool = False
    float_accuracy: float | None = None
    float_reference: str | None = None  # "fp32 .tflite" or "Keras"
    ptq_accuracy: float | None = None
    ptq_drop_pp: float | None = None
    ptq_passed: bool | None = None
    kept: str | None = None  # "ptq" or "qat"
    trigger: str | None = None
    training: dict[str, Any] | None = None  # the QAT child's summary
    qat_keras_accuracy: float | None = None
    qat_int8_agreement_with_original_keras: float | None = None
    qat_accuracy: float | None = None
    qat_passed: bool | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class ConversionReport:
    """conversion_report.json, typed; `to_dict()` is what is written."""

    created: str
    machine: str
    source: dict[str, Any]
    preprocess: dict[str, Any]
    threshold: float
    versions: dict[str, str]
    options: dict[str, Any]
    calibration: dict[str, Any] | None
    validation: dict[str, Any]
    keras: dict[str, Any]
    variants: list[VariantOutcome]
    qat: QatDecision
    failures: list[str]
    wall_s: float
    tool: str = "python -m convert"

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def kept_files(self) -> list[str]:
        return [v.file for v in self.variants if v.kept]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "created": self.created,
            "machine": self.machine,
            "source": self.source,
            "preprocess": self.preprocess,
            "threshold": self.threshold,
            "versions": self.versions,
            "options": self.options,
            "calibration": self.calibration,
            "validation": self.validation,
            "keras": self.keras,
            "variants": [v.to_dict() for v in self.variants],
            "qat": self.qat.to_dict(),
            "passed": self.passed,
            "failures": self.failures,
            "wall_s": self.wall_s,
        }


def write_report(report: ConversionReport, out: Path) -> tuple[Path, Path]:
    data = report.to_dict()
    json_path = atomic_write_json(out / REPORT_JSON, data)
    md_path = atomic_write_text(out / REPORT_MD, render_markdown(data))
    return json_path, md_path


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.2f}"


def _qat_lines(qat: dict[str, Any]) -> list[str]:
    lines = ["", "## Quantization-aware training", ""]
    if qat.get("mode") == "off" or "reason" not in qat:
        lines.append(f"- mode {qat.get('mode', 'off')}: not run")
    else:
        lines.append(f"- mode {qat['mode']}, threshold {qat['threshold_pp']} pp: {qat['reason']}")
        if qat.get("ran") and "qat_keras_accuracy" in qat:
            t = qat.get("training") or {}
            lines.append(
                f"- QAT: {t.get('epochs')} epoch(s) on {t.get('train_images')} training images, "
                f"lr {t.get('learning_rate')}, BatchNormalization "
                f"frozen {t.get('freeze_batchnorm')}, "
                "tf_keras rebuild max abs diff "
                f"{t.get('rebuild_max_abs_diff')}, {t.get('wall_s')} s"
            )
            lines.append(
                f"- the QAT row's agreement / dP compare its int8 with the fine-tuned (fake-quant) "
                f"Keras model (accuracy {qat['qat_keras_accuracy']:.4f}); "
                "its labels agree with the "
                "original Keras model on "
                f"{qat['qat_int8_agreement_with_original_keras']:.1%} of images"
            )
    return lines


def render_markdown(r: dict[str, Any]) -> str:
    src = r["source"]
    lines = [
        "# Conversion report",
        "",
        f"- Result: **{'PASSED' if r['passed'] else 'FAILED'}**",
        f"- Model: `{src['model']}` (training run "
        f"`{src['training_run']}`, sha256 {src['model_sha256'][:12]}...)",
        f"- Preprocessing ({src['preprocess_source']}): "
        + ", ".join(f"{k}={v}" for k, v in r["preprocess"].items()),
        f"- Threshold: {r['threshold']} ({src['threshold_source']})",
        "- Converter: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()),
        f"- Machine: {r['machine']}; wall time {r['wall_s']} s",
        f"- Validation: {r['validation']['images']} images "
        f"{r['validation']['per_class']} from `{r['validation']['source']}`",
        f"- Keras accuracy: {r['keras']['accuracy']:.4f} (threshold {r['threshold']})",
    ]
    cal = r.get("calibration")
    if cal:
        lines.append(
            f"- int8 calibration: {cal['size']} training images "
            f"{cal['per_class']} from `{cal['source']}` "
            f"(stratified, seed {cal['seed']}, same preprocessing as inference)"
        )
    lines.append(
        f"- Legacy FULLY_CONNECTED (tflite-runtime 2.14): {r['options']['legacy_fully_connected']}"
    )
    lines += [
        "",
        "| variant | quantization | kept | size MB | agreement | max abs "
        "dP(fake) | accuracy | min runtime | conversion s | invoke ms |",
        "|---|---|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for v in r["variants"]:
        c = v.get("check") or {}
        lines.append(
            "| {variant} | {origin} | {kept} | {size} | "
            "{agr} | {diff} | {acc} | {rt} | {conv} | {inv} |".format(
                variant=v["variant"],
                origin=v["origin"],
                kept="yes" if v["kept"] else ("FAILED" if not v["passed"] else "no"),
                size=_mb(c.get("size_bytes")),
                agr=f"{c['agreement']:.1%}" if c else "-",
                diff=f"{c['max_abs_diff']:.2e}" if c else "-",
                acc=f"{c['accuracy']:.4f}" if c else "-",
                rt=(v.get("facts") or {}).get("min_runtime_version") or "-",
                conv=v["conversion_s"],
                inv=c.get("invoke_ms_mean", "-"),
            )
        )
    lines += _qat_lines(r.get("qat") or {})
    if r["failures"]:
        lines += ["", "## Failures", ""] + [f"- {f}" for f in r["failures"]]
    lines += ["", "## Ops per variant (name: version)", ""]
    for v in r["variants"]:
        ops = (v.get("facts") or {}).get("ops") or {}
        lines.append(
            f"- {v['variant']} ({v['origin']}): " + ", ".join(f"{k}:{n}" for k, n in ops.items())
        )
    return "\n".join(lines) + "\n"
