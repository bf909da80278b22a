"""`python -m benchmarks run|merge|plot`: size, accuracy and latency of model variants.

Runs on a Raspberry Pi with only edge_runtime's dependencies (numpy, Pillow, typer, a TFLite
interpreter): no TensorFlow, pandas, psutil or matplotlib needed except for `plot` and the
optional Keras baseline.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from edge_runtime.types import usable_cores

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help=__doc__,
)


def _usage(message: str) -> typer.Exit:
    print(f"benchmarks: error: {message}", file=sys.stderr)
    return typer.Exit(EXIT_USAGE)


def parse_threads(text: str, cores: int | None = None) -> list[int]:
    """'auto' -> 1..cores (1, 2, 4, ... and cores itself); '1,2,4' -> [1, 2, 4]."""
    cores = cores or usable_cores()
    if text.strip().lower() == "auto":
        counts = {cores}
        t = 1
        while t < cores:
            counts.add(t)
            t *= 2
        return sorted(counts)
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ValueError(f"--threads {text!r}: expected 'auto' or a list like 1,2,4") from None
    if not counts or counts[0] < 1:
        raise ValueError(f"--threads {text!r}: thread counts must be >= 1")
    return counts


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lower() or "machine"


@app.command()
def run(
    models: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="MODELS",
            help="Bundles / .tflite files / variant names (fp32 fp16 dynamic int8). "
            "None: the bundled variants edge_runtime finds.",
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Labelled folder with real/ and fake/ subfolders. Default: "
            "../shared/data/faces140k_sample/test when present.",
        ),
    ] = None,
    no_data: Annotated[
        bool,
        typer.Option("--no-data", help="Skip accuracy (latency and size only)."),
    ] = False,
    runs: Annotated[
        int,
        typer.Option("--runs", min=1, help="Timed runs per latency figure."),
    ] = 50,
    warmup: Annotated[
        int,
        typer.Option("--warmup", min=0, help="Untimed runs before timing."),
    ] = 5,
    threads: Annotated[
        str,
        typer.Option(
            "--threads",
            help="Thread counts to sweep, e.g. 1,2,4; 'auto' = 1, 2, 4 .. cores. "
            "The largest is the main setting of the table.",
        ),
    ] = "auto",
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", min=2, help="Use at most N images of the folder (half real, half fake)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write OUT.json, OUT.csv, OUT.md. Default: results/<machine-label>."
        ),
    ] = None,
    machine_label: Annotated[
        str | None,
        typer.Option(
            "--machine-label", help="Name of this machine in tables and merges (e.g. pi4, x86-dev)."
        ),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend", help="ai_edge_litert, tflite_runtime or tensorflow (default: best found)."
        ),
    ] = None,
    keras_baseline: Annotated[
        Path | None,
        typer.Option(
            "--keras-baseline",
            help="A .keras model to time in TensorFlow in the same run "
            "(cold start and per-image latency), when TF is installed.",
        ),
    ] = None,
    cold_start: Annotated[
        int,
        typer.Option(
            "--cold-start",
            min=0,
            help="Fresh `edge-detect IMAGE` processes timed per model for the cold-start "
            "column (median; 0 skips).",
        ),
    ] = 3,
    timeout: Annotated[
        float,
        typer.Option("--timeout", help="Seconds allowed per model."),
    ] = 1800.0,
    contenders: Annotated[
        bool,
        typer.Option(
            "--contenders",
            help="Also time each model on ONNX Runtime (via tf2onnx) and OpenVINO, outputs "
            "checked against LiteRT first (pip install '.[contenders]'; the ONNX row also "
            "needs TensorFlow).",
        ),
    ] = False,
) -> None:
    """Benchmark models: one row each (a broken model fails its own row only)."""
    from edge_runtime.bundle import available_variants
    from edge_runtime.interpreter import load_backend
    from edge_runtime.types import EdgeDetectError

    from .data import DataError, default_data_dir, labelled_images, synthetic_jpeg
    from .harness import BenchmarkOptions, benchmark, data_summary, result_document
    from .machine import machine_record, read_load_average, read_temperature_c, read_throttled
    from .report import render, write_outputs

    try:
        thread_counts = parse_threads(threads)
    except ValueError as e:
        raise _usage(str(e)) from None
    if not models:
        found = available_variants()
        if not found:
            raise _usage(
                "no bundled model variants found (edge_runtime/models, models/); "
                "pass .tflite files or bundles"
            )
        models = [str(p) for p in found.values()]
    try:
        backend_desc = load_backend(backend).describe()
    except EdgeDetectError as e:
        raise _usage(str(e)) from None

    folder = None if no_data else (str(data) if data else None)
    if folder is None and not no_data and default_data_dir() is not None:
        folder = str(default_data_dir())
    images: list[tuple[str, str]] = []
    if folder:
        try:
            images = labelled_images(folder, limit)
        except DataError as e:
            raise _usage(str(e)) from None

    machine = machine_record(machine_label, backend_desc)
    from .peaks import measure_peak

    # The % of peak column divides by a measured peak, not by a clock from /proc/cpuinfo.
    machine["measured_peak"] = measure_peak(max(thread_counts), backend)
    notes: list[str] = []
    if usable_cores() < max(thread_counts):
        notes.append(f"thread counts above the {usable_cores()} usable cores oversubscribe the CPU")
    with tempfile.TemporaryDirectory(prefix="edge_detect_bench_img_") as tmp:
        if images:
            latency_image = images[0][0]
        else:
            latency_image = str(synthetic_jpeg(Path(tmp) / "synthetic_256.jpg"))
            notes.append("latency image: a synthetic 256x256 JPEG (no labelled folder given)")
        options = BenchmarkOptions(
            runs=runs,
            warmup=warmup,
            threads=thread_counts,
            data=folder,
            limit=limit,
            backend=backend,
            latency_image=latency_image,
            timeout_s=timeout,
            cold_start_runs=cold_start,
            contenders=contenders,
        )
        start = time.perf_counter()
        keras_rows = None
        if keras_baseline is not None:
            keras_rows = _keras_rows(str(keras_baseline), models, options, images)
        rows = benchmark(models, options, images, machine, keras_rows)
    machine["temperature_end_c"] = read_temperature_c()
    machine["throttled_end"] = read_throttled()
    machine["load_average_end"] = read_load_average()
    machine["total_s"] = round(time.perf_counter() - start, 1)
    doc = result_document(rows, machine, options, data_summary(folder, images), notes)
    sys.stdout.write(render(doc))
    target = out or Path("results") / _slug(machine["label"])
    for p in write_outputs(doc, target):
        print(f"wrote {p}", file=sys.stderr)
    raise typer.Exit(EXIT_OK if all(r.ok for r in rows) else EXIT_SOME_FAILED)


def _keras_rows(keras_path: str, models: list[str], options, images):
    """The Keras baseline uses the fp32 bundle's preprocessing when one is among the models."""
    from edge_runtime.bundle import load_bundle
    from edge_runtime.types import DEFAULT_THRESHOLD, EdgeDetectError, PreprocessSpec

    from .keras_baseline import run_keras_baseline

    spec, threshold = PreprocessSpec().to_dict(), DEFAULT_THRESHOLD
    for m in models:
        try:
            b = load_bundle(m)
        except EdgeDetectError:
            continue
        if b.info.variant == "fp32":
            spec, threshold = b.info.preprocess.to_dict(), b.info.threshold
            break
    spec["threshold"] = threshold
    return run_keras_baseline(
        keras_path,
        spec,
        options.latency_image,
        images,
        options.runs,
        options.warmup,
        options.timeout_s,
    )


@app.command()
def merge(
    results: Annotated[
        list[Path],
        typer.Argument(metavar="RESULTS.json...", help="Result JSON files (one per machine)."),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Also write OUT.json, OUT.csv, OUT.md."),
    ] = None,
) -> None:
    """Put several machines' results side by side in one table (x86 vs Pi 4 vs Pi 5)."""
    from .report import ResultFileError, load_result, merge_documents, merged_table, write_merged

    try:
        docs = [load_result(p) for p in results]
    except ResultFileError as e:
        raise _usage(str(e)) from None
    merged = merge_documents(docs)
    sys.stdout.write(merged_table(merged))
    if out:
        for p in write_merged(merged, out):
            print(f"wrote {p}", file=sys.stderr)


@app.command()
def plot(
    result: Annotated[
        Path,
        typer.Argument(metavar="RESULT.json", help="A result JSON (single machine or merged)."),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="PNG path (default: RESULT with .png)."),
    ] = None,
    latency: Annotated[
        str,
        typer.Option("--latency", help="e2e (decode+preprocess+invoke) or invoke."),
    ] = "e2e",
) -> None:
    """PNG: latency against accuracy, marker size = file size (needs matplotlib)."""
    from .plot import PlotError, plot_results
    from .report import ResultFileError, load_result

    if latency not in ("e2e", "invoke"):
        raise _usage(f"--latency {latency!r}: expected e2e or invoke")
    try:
        doc = load_result(result)
        path = plot_results(
            doc, out or result.with_suffix(".png"), "e2e_ms" if latency == "e2e" else "model_ms"
        )
    except (ResultFileError, PlotError) as e:
        raise _usage(str(e)) from None
    print(f"wrote {path}", file=sys.stderr)


@app.command("worker", hidden=True)
def worker_cmd(job: str, result: str) -> None:
    """Internal: benchmark one model (run by `run` in a fresh process)."""
    from .worker import main

    raise typer.Exit(main(job, result))


@app.command("keras-child", hidden=True)
def keras_child_cmd(job: str, result: str) -> None:
    """Internal: the Keras baseline's fresh process."""
    from .keras_baseline import child

    raise typer.Exit(child(job, result))


def main() -> None:
    app()
