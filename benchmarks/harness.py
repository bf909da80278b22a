"""The benchmark loop: one worker process per model, one row per model, then the comparisons
against the float32 model (size ratio, accuracy change, agreement) and the compute floor."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.types import LABELS, REAL_INDEX, is_fake, threshold_or_default
from workbench.evaluation import binary_metrics

from .peaks import compute_floor
from .worker import WorkerJob

REPO = Path(__file__).resolve().parent.parent
RESULT_SCHEMA = "edge-detect-benchmark/1"


@dataclass
class BenchmarkOptions:
    runs: int = 50
    warmup: int = 5
    threads: list[int] = field(default_factory=lambda: [1])
    data: str | None = None  # labelled folder (real/, fake/)
    limit: int | None = None
    backend: str | None = None
    latency_image: str = ""
    timeout_s: float = 1800.0  # per model
    cold_start_runs: int = 3  # fresh `edge-detect IMAGE` processes per model (0: skip)
    contenders: bool = False  # also ONNX Runtime / OpenVINO rows (benchmarks/contenders.py)


@dataclass
class Row:
    """One model's line in the table (and in the CSV/JSON); None = not measured / not known."""

    model: str
    status: str = "ok"
    kind: str = "tflite"  # tflite | keras
    path: str = ""
    variant: str = ""
    backend: str = ""
    threads: int | None = None
    size_bytes: int | None = None
    size_mb: float | None = None
    size_ratio_fp32: float | None = None
    macs: int | None = None
    images: int | None = None
    image_errors: int | None = None
    accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    auc: float | None = None
    delta_accuracy_pp: float | None = None
    agreement_pct: float | None = None
    model_ms: dict[str, float] | None = None  # p50 p90 p99 mean min runs
    e2e_ms: dict[str, float] | None = None
    thread_sweep_p50_ms: dict[str, float] | None = None
    throughput_ips: float | None = None
    peak_rss_mb: float | None = None
    floor_ms: float | None = None
    floor_pct: float | None = None
    peak_basis: str | None = None
    cold_start_s: float | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # Per-image P(fake), kept in memory for the agreement column; not written out.
    p_fake: list[float | None] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("p_fake")
        return d


def display_name(model: str) -> str:
    return Path(model).name if os.sep in model or model.endswith(".tflite") else model


def _signal_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"worker killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"worker killed by signal {-returncode}"
    return f"worker exited with code {returncode}"


def run_worker(model: str, options: BenchmarkOptions, images: list[tuple[str, str]]) -> dict:
    """Run one model in a fresh Python process; a crash becomes a failed status, not an abort."""
    job = WorkerJob(
        model=model,
        threads=options.threads,
        runs=options.runs,
        warmup=options.warmup,
        latency_image=options.latency_image,
        images=images,
        backend=options.backend,
    )
    with tempfile.TemporaryDirectory(prefix="edge_detect_bench_") as tmp:
        job_path, result_path = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job_path.write_text(json.dumps(asdict(job)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
        cmd = [sys.executable, "-m", "benchmarks", "worker", str(job_path), str(result_path)]
        try:
            proc = subprocess.run(
                cmd,
                env=env,
                timeout=options.timeout_s,
                check=False,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        except subprocess.TimeoutExpired:
            return {"status": f"failed: timed out after {options.timeout_s:.0f} s"}
        # The worker's progress lines go on to our stderr.
        for line in proc.stderr.splitlines():
            if line.startswith("  "):
                print(line, file=sys.stderr)
        if result_path.is_file():
            return json.loads(result_path.read_text())
        last = next((ln for ln in reversed(proc.stderr.splitlines()) if ln.strip()), "")
        reason = _signal_reason(proc.returncode)
        return {"status": f"failed: {reason}" + (f" ({last.strip()[:200]})" if last else "")}


def row_from_worker(model: str, result: dict) -> Row:
    row = Row(model=display_name(model), status=result.get("status", "failed: no result"))
    if not row.ok:
        return row
    for key in (
        "path",
        "variant",
        "backend",
        "threads",
        "size_bytes",
        "macs",
        "model_ms",
        "e2e_ms",
        "thread_sweep_p50_ms",
        "throughput_ips",
        "peak_rss_mb",
        "p_fake",
        "image_errors",
    ):
        setattr(row, key, result.get(key))
    row.size_mb = row.size_bytes / 1e6 if row.size_bytes is not None else None
    row.extra = {
        "sha256": result.get("sha256"),
        "macs_by_op": result.get("macs_by_op"),
        "macs_by_weight_type": result.get("macs_by_weight_type"),
        "input": result.get("input"),
        "threshold": result.get("threshold"),
        "has_bundle_metadata": result.get("has_bundle_metadata"),
        "throughput_source": result.get("throughput_source"),
        "image_error_examples": result.get("image_error_examples"),
        "measured_peak": result.get("measured_peak"),
    }
    return row


def measure_cold_start(row: Row, options: BenchmarkOptions) -> None:
    """Median wall time of fresh `edge-detect IMAGE --model M` processes, after one unmeasured
    run (so the OS file cache is warm, as on any second use). Uses benchmarks/cold_start.py's
    command and timer."""
    try:
        from .cold_start import cli_command, cold_env, time_runs
    except ImportError as e:
        row.extra["cold_start_error"] = f"benchmarks/cold_start.py unavailable ({e})"
        return
    cmd, how = cli_command(sys.executable)
    cmd = [*cmd, options.latency_image, "--model", row.path, "--threads", str(row.threads or 1)]
    if options.backend:
        cmd += ["--backend", options.backend]
    env = cold_env()
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    try:
        time_runs(cmd, 1, env)
        # (wall seconds, CPU seconds) per process: the column is the median of the walls only.
        walls, cpus = time_runs(cmd, options.cold_start_runs, env)
    except SystemExit as e:  # cold_start's timer reports a failed run this way
        row.extra["cold_start_error"] = str(e).splitlines()[0]
        return
    row.cold_start_s = float(np.median(walls))
    row.extra["cold_start_cpu_s"] = float(np.median(cpus))
    row.extra["cold_start"] = f"median of {len(walls)} fresh `{how} IMAGE` processes"


def run_contenders(rows: list[Row], options: BenchmarkOptions) -> list[Row]:
    """ONNX Runtime and OpenVINO rows for each ok TFLite row, from a fresh process (tf2onnx
    imports TensorFlow, which must stay out of this one); outputs are checked against LiteRT
    there before timing. A runtime that is not installed gets a row saying how to install it."""
    tflite = [r for r in rows if r.ok and r.kind == "tflite"]
    if not tflite:
        return []
    print("[contenders] ONNX Runtime, OpenVINO", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="edge_detect_contenders_") as tmp:
        out = Path(tmp) / "rows.json"
        cmd = [sys.executable, "-m", "benchmarks.contenders", *[r.path for r in tflite]]
        cmd += ["--threads", str(max(options.threads)), "--runs", str(options.runs)]
        cmd += ["--warmup", str(options.warmup), "--json-out", str(out)]
        if options.data:
            cmd += ["--images", options.data]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
        try:
            proc = subprocess.run(
                cmd, env=env, cwd=REPO, timeout=options.timeout_s, capture_output=True, text=True
            )
        except subprocess.TimeoutExpired:
            return [
                Row(model="contenders", status=f"failed: timed out after {options.timeout_s:.0f} s")
            ]
        if not out.is_file():
            last = next((ln for ln in reversed(proc.stderr.splitlines()) if ln.strip()), "")
            return [
                Row(
                    model="contenders",
                    status=f"failed: {_signal_reason(proc.returncode)} ({last[:200]})",
                )
            ]
        results = json.loads(out.read_text())
    by_path = {r.path: r for r in tflite}
    contender_rows = []
    for res in results:
        source = by_path.get(res["path"])
        row = Row(
            model=f"{source.model} ({res['runtime']})" if source else res["model"],
            status=res["status"],
            kind="contender",
            path=res["path"],
            variant=res.get("variant", ""),
            backend=res.get("backend", res.get("runtime", "")),
            threads=res.get("threads"),
            model_ms=res.get("model_ms"),
            macs=source.macs if source else None,
        )
        row.extra = {
            "check_vs_litert": res.get("check"),
            "load_s": res.get("load_s"),
            "macs_by_weight_type": source.extra.get("macs_by_weight_type") if source else None,
        }
        if res.get("check"):
            c = res["check"]
            row.notes = (
                f"vs LiteRT on {c['images']} images: max |ΔP(fake)| "
                f"{c['max_abs_dp_vs_litert']:.4f}, same label {c['same_label_pct']:.0f} %"
            )
        contender_rows.append(row)
    return contender_rows


def score_rows(rows: list[Row], images: list[tuple[str, str]]) -> None:
    """Accuracy, precision, recall, F1 and ROC AUC of each ok row over the labelled images."""
    y_all = np.array([LABELS.index(label) for _, label in images], dtype=np.int64)
    for row in rows:
        if not row.ok or not row.p_fake or len(row.p_fake) != len(images):
            continue
        keep = np.array([p is not None for p in row.p_fake])
        if not keep.any():
            continue
        p = np.array([p for p in row.p_fake if p is not None], dtype=np.float64)
        m = binary_metrics(y_all[keep], p, threshold_or_default(row.extra.get("threshold")))
        row.images = int(keep.sum())
        row.accuracy, row.precision, row.recall = m.accuracy, m.precision, m.recall
        row.f1, row.auc = m.f1, m.roc_auc
        row.extra["confusion_matrix"] = m.confusion_matrix


def reference_row(rows: list[Row]) -> Row | None:
    """The float32 model every other row is compared with: the first ok row of variant fp32."""
    for row in rows:
        if row.ok and row.kind == "tflite" and row.variant == "fp32":
            return row
    return None


def compare_to_reference(rows: list[Row]) -> None:
    """Size ratio, accuracy change (percentage points) and label agreement against float32."""
    ref = reference_row(rows)
    if ref is None:
        return
    ref_labels = None
    if ref.p_fake:
        thr = threshold_or_default(ref.extra.get("threshold"))
        ref_labels = [None if p is None else is_fake(p, thr) for p in ref.p_fake]
    for row in rows:
        if not row.ok:
            continue
        if row.kind == "tflite" and ref.size_bytes and row.size_bytes is not None:
            row.size_ratio_fp32 = row.size_bytes / ref.size_bytes
        if row.accuracy is not None and ref.accuracy is not None:
            row.delta_accuracy_pp = (row.accuracy - ref.accuracy) * 100.0
        if ref_labels and row.p_fake and len(row.p_fake) == len(ref_labels):
            thr = threshold_or_default(row.extra.get("threshold"))
            pairs = [
                (a, is_fake(p, thr))
                for a, p in zip(ref_labels, row.p_fake)
                if a is not None and p is not None
            ]
            if pairs:
                row.agreement_pct = 100.0 * sum(a == b for a, b in pairs) / len(pairs)


def add_compute_floor(rows: list[Row], machine: dict[str, Any]) -> None:
    """% of peak for every row against one peak: the best of the machine-level measurement and
    each worker's (taken right after its timing), since load only ever slows a run down; the
    machine record then holds that best, so the footer states what every row divides by."""
    from .peaks import best_measured_peak

    best = best_measured_peak(
        [machine.get("measured_peak")] + [r.extra.get("measured_peak") for r in rows]
    )
    if best is not None:
        machine["measured_peak"] = best
    ref = reference_row(rows)
    for row in rows:
        if not row.ok or not row.model_ms:
            continue
        by_type = row.extra.get("macs_by_weight_type")
        if not by_type and row.kind == "keras" and ref is not None:
            # The Keras model does the float32 model's arithmetic.
            row.macs = ref.macs
            by_type = {"float32": ref.macs}
        if not by_type:
            continue
        floor = compute_floor(
            by_type,
            row.model_ms["p50"],
            row.threads or 1,
            machine,
        )
        row.floor_ms, row.floor_pct, row.peak_basis = (
            floor["floor_ms"],
            floor["floor_pct"],
            floor["peak_basis"],
        )


def benchmark(
    models: list[str],
    options: BenchmarkOptions,
    images: list[tuple[str, str]],
    machine: dict[str, Any],
    keras_rows: list[Row] | None = None,
) -> list[Row]:
    """The one loop: every model gets a row, ok or failed with its reason."""
    rows: list[Row] = []
    for i, model in enumerate(models, 1):
        print(f"[{i}/{len(models)}] {model}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        row = row_from_worker(model, run_worker(model, options, images))
        if row.ok and options.cold_start_runs > 0:
            measure_cold_start(row, options)
        row.extra["wall_s"] = round(time.perf_counter() - start, 1)
        if not row.ok:
            print(f"  {row.status}", file=sys.stderr)
        rows.append(row)
    if options.contenders:
        rows += run_contenders(rows, options)
    rows += keras_rows or []
    if images:
        score_rows(rows, images)
    compare_to_reference(rows)
    add_compute_floor(rows, machine)
    return rows


def result_document(
    rows: list[Row],
    machine: dict[str, Any],
    options: BenchmarkOptions,
    data_summary: dict[str, Any] | None,
    notes: list[str],
) -> dict[str, Any]:
    return {
        "schema": RESULT_SCHEMA,
        "machine": machine,
        "options": asdict(options),
        "data": data_summary,
        "rows": [r.to_dict() for r in rows],
        "notes": notes,
    }


def data_summary(folder: str | None, images: list[tuple[str, str]]) -> dict[str, Any] | None:
    if not folder:
        return None
    counts = {label: sum(1 for _, lab in images if lab == label) for label in LABELS}
    return {
        "folder": str(folder),
        "images": len(images),
        **counts,
        "positive_class": LABELS[REAL_INDEX],
    }
