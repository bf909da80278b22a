"""conversion_report.json and .md (written atomically, also when a variant fails)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_runtime.fileio import atomic_write_json, atomic_write_text

REPORT_JSON = "conversion_report.json"
REPORT_MD = "conversion_report.md"


def write_report(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    json_path = atomic_write_json(out / REPORT_JSON, report)
    md_path = atomic_write_text(out / REPORT_MD, render_markdown(report))
    return json_path, md_path


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.2f}"


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
    qat = r.get("qat") or {}
    lines += ["", "## Quantization-aware training", ""]
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
    if r["failures"]:
        lines += ["", "## Failures", ""] + [f"- {f}" for f in r["failures"]]
    lines += ["", "## Ops per variant (name: version)", ""]
    for v in r["variants"]:
        ops = (v.get("facts") or {}).get("ops") or {}
        lines.append(
            f"- {v['variant']} ({v['origin']}): " + ", ".join(f"{k}:{n}" for k, n in ops.items())
        )
    return "\n".join(lines) + "\n"
