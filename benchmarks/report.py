"""Result files and tables: Markdown on stdout, JSON + CSV + .md files, and the merge of several
machines' JSON results into one side-by-side table."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from edge_runtime.fileio import atomic_write_json, atomic_write_text

from .harness import RESULT_SCHEMA
from .peaks import describe_peak

# (header, function of a row dict -> cell text). Designed after Ultralytics' `yolo benchmark`
# table (format, status, size, metric, inference ms, FPS) plus accuracy change against float32,
# agreement with float32 and the share of the compute floor.


def _num(v: Any, fmt: str) -> str:
    return "—" if v is None else format(v, fmt)


def _pct(v: float | None, digits: int = 1) -> str:
    return "—" if v is None else f"{v * 100:.{digits}f}"


def _ms(v: float | None) -> str:
    """Milliseconds with the digits that matter: 0.042, 12.34, 215.3."""
    if v is None:
        return "—"
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.1f}"


def _lat(stats: dict | None) -> str:
    if not stats:
        return "—"
    return f"{_ms(stats['p50'])} / {_ms(stats['p90'])} / {_ms(stats['p99'])}"


def _sweep(sweep: dict | None) -> str:
    if not sweep:
        return "—"
    return " ".join(f"{t}:{_ms(v)}" for t, v in sorted(sweep.items(), key=lambda kv: int(kv[0])))


def _floor(r: dict) -> str:
    if r.get("floor_pct") is None:
        return "—"
    return f"{r['floor_pct']:.1f}% ({_ms(r['floor_ms'])} ms)"


def _status(r: dict) -> str:
    s = r.get("status", "")
    return "✅" if s == "ok" else "❌ " + s.replace("|", "/")


def _delta(v: float | None) -> str:
    return "—" if v is None else f"{v:+.1f}"


TABLE_COLUMNS: list[tuple[str, Any]] = [
    ("Model", lambda r: r["model"]),
    ("Status", _status),
    ("Size (MB)", lambda r: _num(r.get("size_mb"), ".2f")),
    ("× fp32", lambda r: _num(r.get("size_ratio_fp32"), ".2f")),
    ("Acc %", lambda r: _pct(r.get("accuracy"))),
    ("Δ Acc (pp)", lambda r: _delta(r.get("delta_accuracy_pp"))),
    ("Agree %", lambda r: _num(r.get("agreement_pct"), ".1f")),
    ("F1", lambda r: _num(r.get("f1"), ".3f")),
    ("AUC", lambda r: _num(r.get("auc"), ".3f")),
    ("Invoke ms p50/p90/p99", lambda r: _lat(r.get("model_ms"))),
    ("End-to-end ms p50/p90/p99", lambda r: _lat(r.get("e2e_ms"))),
    ("img/s", lambda r: _num(r.get("throughput_ips"), ".1f")),
    ("Threads → invoke p50 ms", lambda r: _sweep(r.get("thread_sweep_p50_ms"))),
    ("Peak RSS (MB)", lambda r: _num(r.get("peak_rss_mb"), ".0f")),
    ("% of compute peak (floor)", _floor),
    ("Cold start (s)", lambda r: _num(r.get("cold_start_s"), ".2f")),
]


def markdown_table(rows: list[dict], columns=TABLE_COLUMNS) -> str:
    # Drop columns nobody filled (e.g. cold start without a Keras baseline).
    used = [
        (h, f)
        for h, f in columns
        if h in ("Model", "Status") or any(f(r) not in ("—", "") for r in rows)
    ]
    head = [h for h, _ in used]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(f(r)) for _, f in used) + " |")
    return "\n".join(lines)


def header_line(doc: dict) -> str:
    m, o, d = doc["machine"], doc["options"], doc.get("data")
    cpu = m.get("cpu_model") or m.get("arch")
    where = f"{m['label']} ({cpu}, {m.get('arch')}, {m.get('cores')} cores"
    if m.get("board") and m["board"] != m["label"]:
        where += f", {m['board']}"
    where += f"; {m.get('backend')}; Python {m.get('python')}, numpy {m.get('numpy')})"
    data = (
        f"{d['images']} images from {d['folder']}"
        if d
        else "no labelled data (latency and size only)"
    )
    threads = ",".join(str(t) for t in o["threads"])
    return (
        f"Benchmarks on {where}, {m['date']}: {o['runs']} runs after {o['warmup']} warm-up, "
        f"main setting {max(o['threads'])} thread(s) (sweep {threads}); {data}"
    )


def footer_lines(doc: dict) -> list[str]:
    m = doc["machine"]
    out = []
    out.append("Compute peak: " + describe_peak(m, max(doc["options"]["threads"])) + ".")
    if any((r.get("floor_pct") or 0) > 100 for r in doc["rows"]):
        out.append(
            "A share above 100% means the assumed peak is too low for this CPU: most often a "
            "turbo clock above the MHz that /proc/cpuinfo or cpufreq reports."
        )
    heat = []
    if m.get("temperature_c") is not None:
        heat.append(f"temperature {m['temperature_c']:.1f} °C at start")
    if m.get("temperature_end_c") is not None:
        heat.append(f"{m['temperature_end_c']:.1f} °C at end")
    if m.get("throttled"):
        t = m["throttled"]
        heat.append(f"throttled {t.get('raw')} {', '.join(t.get('flags') or []) or '(none)'}")
    heat.append(f"governor {m.get('governor')}")
    if m.get("load_average"):
        load = f"load average {m['load_average'][0]:.2f} at start"
        if m.get("load_average_end"):
            load += f", {m['load_average_end'][0]:.2f} at end"
        heat.append(load + f" ({m.get('usable_cores')} usable cores)")
    out.append("Machine: " + "; ".join(heat) + ".")
    out += doc.get("notes") or []
    return out


def render(doc: dict) -> str:
    parts = [header_line(doc), "", markdown_table(doc["rows"]), ""]
    parts += [f"- {line}" for line in footer_lines(doc)]
    return "\n".join(parts) + "\n"


CSV_FIELDS = [
    "machine",
    "model",
    "status",
    "kind",
    "variant",
    "backend",
    "threads",
    "size_bytes",
    "size_mb",
    "size_ratio_fp32",
    "macs",
    "images",
    "image_errors",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "auc",
    "delta_accuracy_pp",
    "agreement_pct",
    "invoke_p50_ms",
    "invoke_p90_ms",
    "invoke_p99_ms",
    "invoke_mean_ms",
    "e2e_p50_ms",
    "e2e_p90_ms",
    "e2e_p99_ms",
    "e2e_mean_ms",
    "throughput_ips",
    "peak_rss_mb",
    "floor_ms",
    "floor_pct",
    "cold_start_s",
    "path",
]


def csv_text(docs: list[dict]) -> str:
    """One line per (machine, model); the thread sweep as invoke_p50_ms_t<N> columns."""
    sweep_threads = sorted(
        {int(t) for d in docs for r in d["rows"] for t in (r.get("thread_sweep_p50_ms") or {})}
    )
    fields = CSV_FIELDS + [f"invoke_p50_ms_t{t}" for t in sweep_threads]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for d in docs:
        for r in d["rows"]:
            flat = {k: v for k, v in r.items() if not isinstance(v, dict)}
            flat["machine"] = d["machine"]["label"]
            for prefix, key in (("invoke", "model_ms"), ("e2e", "e2e_ms")):
                for stat in ("p50", "p90", "p99", "mean"):
                    flat[f"{prefix}_{stat}_ms"] = (r.get(key) or {}).get(stat)
            for t, v in (r.get("thread_sweep_p50_ms") or {}).items():
                flat[f"invoke_p50_ms_t{t}"] = v
            w.writerow(flat)
    return buf.getvalue()


def write_outputs(doc: dict, out: str | os.PathLike) -> list[Path]:
    """out = results/NAME -> results/NAME.json, .csv and .md (each written atomically)."""
    base = Path(out)
    if base.suffix in (".json", ".csv", ".md"):
        base = base.with_suffix("")
    paths = [
        atomic_write_json(base.with_suffix(".json"), doc),
        atomic_write_text(base.with_suffix(".csv"), csv_text([doc])),
        atomic_write_text(base.with_suffix(".md"), render(doc)),
    ]
    return paths


class ResultFileError(ValueError):
    """A file given to merge/plot is not a benchmark result (one-line message)."""


def load_result(path: str | os.PathLike) -> dict:
    p = Path(path)
    try:
        doc = json.loads(p.read_text("utf-8"))
    except FileNotFoundError:
        raise ResultFileError(f"{path}: no such file") from None
    except (OSError, ValueError) as e:
        raise ResultFileError(f"{path}: not a readable JSON file ({e})") from None
    if isinstance(doc, dict) and doc.get("schema") == RESULT_SCHEMA + "+merged":
        return doc
    if not isinstance(doc, dict) or doc.get("schema") != RESULT_SCHEMA:
        raise ResultFileError(
            f"{path}: not an edge-detect benchmark result (schema {RESULT_SCHEMA})"
        )
    return doc


def split_merged(doc: dict) -> list[dict]:
    return doc["results"] if doc.get("schema", "").endswith("+merged") else [doc]


def merge_documents(docs: list[dict]) -> dict:
    results = [copy.deepcopy(d) for doc in docs for d in split_merged(doc)]
    labels = [d["machine"]["label"] for d in results]
    # Two runs on the same kind of machine keep apart by a numbered label.
    seen: dict[str, int] = {}
    for d, label in zip(results, labels):
        seen[label] = seen.get(label, 0) + 1
        if labels.count(label) > 1:
            d["machine"] = {**d["machine"], "label": f"{label} #{seen[label]}"}
    return {"schema": RESULT_SCHEMA + "+merged", "results": results}


def merged_table(merged: dict) -> str:
    """Models down, machines across: end-to-end and invoke p50 and % of peak per machine, with
    size and accuracy (from the first machine that measured them; int8 results are the same on
    every machine, float ones within rounding)."""
    results = merged["results"]
    labels = [d["machine"]["label"] for d in results]
    models: list[str] = []
    for d in results:
        for r in d["rows"]:
            if r["model"] not in models:
                models.append(r["model"])
    head = ["Model", "Size (MB)", "Acc %", "Δ Acc (pp)", "Agree %"]
    for label in labels:
        head += [f"{label}: end-to-end p50 ms", f"{label}: invoke p50 ms", f"{label}: % peak"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for model in models:
        per = [next((r for r in d["rows"] if r["model"] == model), None) for d in results]
        first_ok = next((r for r in per if r and r["status"] == "ok"), None) or {}
        cells = [
            model,
            _num(first_ok.get("size_mb"), ".2f"),
            _pct(first_ok.get("accuracy")),
            _delta(first_ok.get("delta_accuracy_pp")),
            _num(first_ok.get("agreement_pct"), ".1f"),
        ]
        for r in per:
            if r is None:
                cells += ["—"] * 3
            elif r["status"] != "ok":
                cells += ["❌ " + r["status"].replace("|", "/")[:60], "—", "—"]
            else:
                cells += [
                    _ms((r.get("e2e_ms") or {}).get("p50")),
                    _ms((r.get("model_ms") or {}).get("p50")),
                    _num(r.get("floor_pct"), ".1f"),
                ]
        lines.append("| " + " | ".join(cells) + " |")
    machines = []
    for d in results:
        m = d["machine"]
        o = d["options"]
        machines.append(
            f"- {m['label']}: {m.get('cpu_model')} ({m.get('arch')}, {m.get('cores')} cores"
            + (f", {m['board']}" if m.get("board") else "")
            + f"), {m.get('backend')}, {max(o['threads'])} thread(s), {o['runs']} runs, {m['date']}"
        )
    return "\n".join(lines) + "\n\n" + "\n".join(machines) + "\n"


def write_merged(merged: dict, out: str | os.PathLike) -> list[Path]:
    base = Path(out)
    if base.suffix in (".json", ".csv", ".md"):
        base = base.with_suffix("")
    return [
        atomic_write_json(base.with_suffix(".json"), merged),
        atomic_write_text(base.with_suffix(".csv"), csv_text(merged["results"])),
        atomic_write_text(base.with_suffix(".md"), merged_table(merged)),
    ]
