"""`python -m benchmarks run|sources|merge|plot`: size, accuracy and latency of model variants.

Runs on a Raspberry Pi with only edge_runtime's dependencies (numpy, Pillow, a TFLite
interpreter): no TensorFlow, pandas, psutil or matplotlib needed except for `plot` and the
optional Keras baseline.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

from edge_runtime.console import (
    EXIT_FAILED,
    EXIT_OK,
    ArgumentParser,
    at_least,
    setup_logging,
    usage_error,
)
from edge_runtime.types import usable_cores

PROG = "python -m benchmarks"
EXIT_SOME_FAILED = EXIT_FAILED


def _usage(message: str) -> NoReturn:
    usage_error(PROG, message)


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


def _models(models: list[str]) -> list[str]:
    """The models named, or every bundled variant edge_runtime finds."""
    from edge_runtime.registry import available_variants

    if models:
        return models
    found = available_variants()
    if not found:
        _usage(
            "no bundled model variants found (edge_runtime/models, models/); "
            "pass .tflite files or bundles"
        )
    return [str(p) for p in found.values()]


def _images(args: argparse.Namespace) -> tuple[str | None, list[tuple[str, str]]]:
    """The labelled folder (--data, else the shared sample's test split) and its images."""
    from .data import DataError, default_data_dir, labelled_images

    if args.no_data:
        return None, []
    folder = str(args.data) if args.data else None
    if folder is None and default_data_dir() is not None:
        folder = str(default_data_dir())
    if not folder:
        return None, []
    try:
        return folder, labelled_images(folder, args.limit)
    except DataError as e:
        _usage(str(e))


def run(args: argparse.Namespace) -> int:
    """Benchmark models: one row each (a broken model fails its own row only)."""
    from edge_runtime.interpreter import load_backend
    from edge_runtime.types import EdgeDetectError

    from .data import synthetic_jpeg
    from .harness import BenchmarkOptions, benchmark, data_summary, result_document
    from .machine import machine_record, read_load_average, read_temperature_c, read_throttled
    from .peaks import measure_peak
    from .report import render, write_outputs

    try:
        thread_counts = parse_threads(args.threads)
    except ValueError as e:
        _usage(str(e))
    models = _models(args.models)
    try:
        backend_desc = load_backend(args.backend).describe()
    except EdgeDetectError as e:
        _usage(str(e))
    folder, images = _images(args)
    machine = machine_record(args.machine_label, backend_desc)
    # The % of peak column divides by a measured peak, not by a clock from /proc/cpuinfo.
    machine["measured_peak"] = measure_peak(max(thread_counts), args.backend)
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
            runs=args.runs,
            warmup=args.warmup,
            threads=thread_counts,
            data=folder,
            limit=args.limit,
            backend=args.backend,
            latency_image=latency_image,
            timeout_s=args.timeout,
            cold_start_runs=args.cold_start,
            contenders=args.contenders,
        )
        start = time.perf_counter()
        keras_rows = None
        if args.keras_baseline is not None:
            keras_rows = _keras_rows(str(args.keras_baseline), models, options, images)
        rows = benchmark(models, options, images, machine, keras_rows)
    machine["temperature_end_c"] = read_temperature_c()
    machine["throttled_end"] = read_throttled()
    machine["load_average_end"] = read_load_average()
    machine["total_s"] = round(time.perf_counter() - start, 1)
    doc = result_document(rows, machine, options, data_summary(folder, images), notes)
    sys.stdout.write(render(doc))
    target = args.out or Path("results") / _slug(machine["label"])
    for p in write_outputs(doc, target):
        print(f"wrote {p}", file=sys.stderr)
    return EXIT_OK if all(r.ok for r in rows) else EXIT_SOME_FAILED


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


def merge(args: argparse.Namespace) -> int:
    """Put several machines' results side by side in one table (x86 vs Pi 4 vs Pi 5)."""
    from .report import ResultFileError, load_result, merge_documents, merged_table, write_merged

    try:
        docs = [load_result(p) for p in args.results]
    except ResultFileError as e:
        _usage(str(e))
    merged = merge_documents(docs)
    sys.stdout.write(merged_table(merged))
    if args.out:
        for p in write_merged(merged, args.out):
            print(f"wrote {p}", file=sys.stderr)
    return EXIT_OK


def plot(args: argparse.Namespace) -> int:
    """PNG: latency against accuracy, marker size = file size (needs matplotlib)."""
    from .plot import PlotError, plot_results
    from .report import ResultFileError, load_result

    result = args.result
    try:
        doc = load_result(result)
        column = "e2e_ms" if args.latency == "e2e" else "model_ms"
        path = plot_results(doc, args.out or result.with_suffix(".png"), column)
    except (ResultFileError, PlotError) as e:
        _usage(str(e))
    print(f"wrote {path}", file=sys.stderr)
    return EXIT_OK


def _source_models(models: list[str]) -> list[str]:
    """The models named, or every bundled variant edge_runtime finds by name (fp32 first: the
    reference), one per file."""
    from edge_runtime.registry import available_variants

    if models:
        return models
    seen: dict[Path, str] = {}
    for name, path in available_variants().items():
        seen.setdefault(path.resolve(), name)
    if not seen:
        _usage(
            "no bundled model variants found (edge_runtime/models, models/); "
            "pass .tflite files or bundles"
        )
    return list(seen.values())


def sources(args: argparse.Namespace) -> int:
    """Accuracy per source of train/sources.json for each model, and its drop against the first."""
    from edge_runtime.fileio import atomic_write_json
    from workbench.crops import read_crop_summary
    from workbench.evaluation import DataError, shared_data_dir
    from workbench.sources import load_sources, source_test_lists

    from .sources import document, render, score_model, table_rows

    models = _source_models(args.models)
    root = args.data or shared_data_dir()
    try:
        source_list = load_sources(args.sources)
        tests = source_test_lists(source_list, root, args.limit_per_class, args.seed)
    except DataError as e:
        _usage(str(e))
    n = sum(len(t.samples) for t in tests.values())
    print(
        f"{len(source_list.sources)} sources, {n} test images, models: {', '.join(models)}",
        file=sys.stderr,
    )
    columns = [score_model(m, source_list, tests, args.threads) for m in models]
    for c in columns:
        if not c.ok:
            print(f"{c.label}: failed: {c.error}", file=sys.stderr)
    rows = table_rows(source_list, columns)
    sys.stdout.write(render(columns, rows, read_crop_summary(root)))
    if args.json_out:
        doc = document(
            source_list, root, args.limit_per_class, args.seed, args.threads, columns, rows
        )
        print(f"wrote {atomic_write_json(args.json_out, doc)}", file=sys.stderr)
    return EXIT_OK if all(c.ok for c in columns) else EXIT_SOME_FAILED


def _add_sources(sub) -> None:
    from workbench.sources import SOURCES_FILE

    p = sub.add_parser(
        "sources",
        help="accuracy per training source, each model against the first",
        description="One row per source of train/sources.json (its fixed test split; "
        "evaluation-only sets whole) and per two-class folder: each model's accuracy at its "
        "bundle's threshold, face stage off, ROC AUC per folder, and each later model's "
        "accuracy minus the first model's in percentage points. The same splits and figures "
        "as `python -m train evaluate MODEL --sources`.",
        epilog="Exit status 0: every model scored; 1: some model failed (its column says why); "
        "2: usage error.",
    )
    p.add_argument(
        "models",
        nargs="*",
        metavar="MODELS",
        help=".tflite files / bundles / bundled names (fp32 fp16 dynamic int8 v2-int8) / "
        "published peers' names (models/peers/*/: mesonet_meso4_df_int8, ...); the first is "
        "the reference; none: every bundled variant edge_runtime finds, fp32 first",
    )
    p.add_argument(
        "--sources",
        default=None,
        help=f"sources file (default: {SOURCES_FILE.parent.name}/{SOURCES_FILE.name})",
    )
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder holding the source folders (default: ../shared/data)",
    )
    p.add_argument(
        "--limit-per-class",
        type=at_least(1),
        default=None,
        help="at most N test images per source (seeded, as train evaluate's); default: all",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of --limit-per-class (train evaluate's: 0)"
    )
    p.add_argument(
        "--threads",
        type=at_least(1),
        default=usable_cores(),
        help="interpreter threads (default: the usable cores, %(default)s here)",
    )
    p.add_argument(
        "--json", dest="json_out", default=None, help="also write every figure to this file"
    )
    p.set_defaults(func=sources)


def _worker(args: argparse.Namespace) -> int:
    from .worker import main

    return main(args.job, args.result)


def _keras_child(args: argparse.Namespace) -> int:
    from .keras_baseline import child

    return child(args.job, args.result)


def _add_run(sub) -> None:
    p = sub.add_parser(
        "run",
        help="benchmark models, one row each",
        description="Benchmark models: one row each (a broken model fails its own row only).",
    )
    p.add_argument(
        "models",
        nargs="*",
        metavar="MODELS",
        help="bundles / .tflite files / variant names (fp32 fp16 dynamic int8); "
        "none: the bundled variants edge_runtime finds",
    )
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="labelled folder with real/ and fake/; default: "
        "../shared/data/faces140k_sample/test when present",
    )
    p.add_argument("--no-data", action="store_true", help="skip accuracy (latency, size only)")
    p.add_argument("--runs", type=at_least(1), default=50, help="timed runs per figure")
    p.add_argument("--warmup", type=at_least(0), default=5, help="untimed runs before timing")
    p.add_argument(
        "--threads",
        default="auto",
        help="thread counts to sweep, e.g. 1,2,4; 'auto' = 1, 2, 4 .. cores; "
        "the largest is the table's main setting",
    )
    p.add_argument(
        "--limit",
        type=at_least(2),
        default=None,
        help="at most N images of the folder (half real, half fake)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write OUT.json, OUT.csv, OUT.md (default: results/<machine-label>)",
    )
    p.add_argument(
        "--machine-label",
        default=None,
        help="name of this machine in tables and merges (e.g. pi4, x86-dev)",
    )
    p.add_argument(
        "--backend",
        default=None,
        help="ai_edge_litert, tflite_runtime or tensorflow (default: best found)",
    )
    p.add_argument(
        "--keras-baseline",
        type=Path,
        default=None,
        help="a .keras model to time in TensorFlow in the same run (when installed)",
    )
    p.add_argument(
        "--cold-start",
        type=at_least(0),
        default=3,
        help="fresh `edge-detect IMAGE` processes per model (median; 0 skips)",
    )
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per model")
    p.add_argument(
        "--contenders",
        action="store_true",
        help="also time each model on ONNX Runtime (via tf2onnx) and OpenVINO, "
        "outputs checked against LiteRT first (pip install '.[contenders]')",
    )
    p.set_defaults(func=run)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug messages on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,sources,merge,plot}")
    _add_run(sub)
    _add_sources(sub)
    p = sub.add_parser("merge", help="several machines' results in one table")
    p.add_argument(
        "results",
        nargs="+",
        type=Path,
        metavar="RESULTS.json",
        help="result JSON files (one per machine)",
    )
    p.add_argument("--out", type=Path, default=None, help="also write OUT.json, OUT.csv, OUT.md")
    p.set_defaults(func=merge)
    p = sub.add_parser("plot", help="PNG: latency against accuracy")
    p.add_argument("result", type=Path, metavar="RESULT.json", help="a result JSON")
    p.add_argument("--out", type=Path, default=None, help="PNG path (default: RESULT.png)")
    p.add_argument(
        "--latency",
        choices=("e2e", "invoke"),
        default="e2e",
        help="e2e (decode+preprocess+invoke) or invoke",
    )
    p.set_defaults(func=plot)
    for name, func in (("worker", _worker), ("keras-child", _keras_child)):
        p = sub.add_parser(name)  # internal: the fresh process of one model / the Keras baseline
        p.add_argument("job")
        p.add_argument("result")
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return args.func(args)
