"""Where the time of a classified image goes, and what the pipelined batch path buys.

    python -m benchmarks.pipeline [all|e2e|folder|decode|sharing] [--model int8] [--threads 2]
                                  [--copies 5] [--repeat 5] [--baseline-rev REV] [--json-out F]

- e2e: per 256x256 face, end to end (`Detector.detect(path)`: read, decode, crop, resize,
  input table, invoke, output) against model-only `invoke()` on an input already set; p50 of
  --runs after warm-up, and the ratio.
- folder: images/s of `edge-detect --json -r FOLDER` as a fresh process (what a user runs), over
  faces140k_sample/test repeated --copies times (symlinks in a temporary folder, so start-up is
  a small share): the default pipelined path vs `--workers 0` (the sequential loop), vs the
  code of git revision --baseline-rev (the runtime before this change, run from a `git archive`
  of it with the same Python), and the default path on 1 core vs all usable cores
  (sched_setaffinity). Runs alternate; the median of --repeat runs is reported.
- decode: on a 4000x3000 JPEG (the packaged 512x512 portrait scaled up, with noise so it
  compresses like a photo), the share of prepare() (read + draft decode + crop + resize) in
  prepare + classify.
- sharing: N threads classifying through one shared Detector (its lock serialises the
  interpreter), through one Detector with a pool of N 1-thread interpreters
  (DetectorOptions.interpreters), and through one Detector per thread; images/s.

A benchmark, not a test: figures depend on the machine and what else runs on it; the load
average is printed with them.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "?"


def _p50(samples: list[float]) -> float:
    return float(np.percentile(samples, 50))


def _face(data: Path | None) -> str:
    from .cold_start import PACKAGED_SAMPLE

    if data is not None:
        faces = sorted((data / "real").glob("*.jpg"))
        if faces:
            return str(faces[0])
    return str(PACKAGED_SAMPLE)


def measure_e2e(
    model: str, threads: int, face: str, runs: int, warmup: int, faces: str = "none"
) -> dict:
    from edge_runtime import Detector, DetectorOptions
    from edge_runtime.types import FaceOptions

    from .timing import summarize, time_calls

    det = Detector(DetectorOptions(model=model, num_threads=threads, faces=FaceOptions(mode=faces)))
    prepared = det.prepare(face)
    det.set_input(np.zeros(det._in["shape"][1:], dtype=np.float32))
    det._run(det.input_tensor(prepared.crops[0]))  # leaves this face's input set
    phases = {
        "invoke_ms": summarize(time_calls(det.invoke_only, runs, warmup)),
        "end_to_end_ms": summarize(time_calls(lambda: det.detect(face), runs, warmup)),
        "prepare_ms": summarize(time_calls(lambda: det.prepare(face), runs, warmup)),
        "input_table_ms": summarize(
            time_calls(lambda: det.input_tensor(prepared.crops[0]), runs, warmup)
        ),
    }
    ratio = phases["end_to_end_ms"]["p50"] / phases["invoke_ms"]["p50"]
    return {
        "image": face,
        "threads": threads,
        "faces": faces,
        **phases,
        "ratio_e2e_to_invoke": ratio,
    }


def _repeated_folder(data: Path, copies: int, into: Path) -> int:
    """into/copyK/<label>/<name> symlinks to every image of data/<label>, copies times."""
    n = 0
    for k in range(copies):
        for label_dir in sorted(p for p in data.iterdir() if p.is_dir()):
            out = into / f"copy{k}" / label_dir.name
            out.mkdir(parents=True)
            for f in sorted(label_dir.glob("*.jpg")):
                (out / f.name).symlink_to(f)
                n += 1
    return n


def _baseline_tree(rev: str, into: Path) -> Path:
    """A `git archive` of rev (the runtime as it was), unpacked into a temporary folder."""
    blob = subprocess.run(
        ["git", "archive", "--format=tar", rev, "edge_runtime"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    return into


def _cli_run(cwd: Path, args: list[str], cpus: set[int] | None, expect: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(cwd))
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "edge_runtime", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    wall = time.perf_counter() - start
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or len(lines) != expect:
        raise SystemExit(
            f"pipeline: edge-detect {' '.join(args)} exited {proc.returncode} with "
            f"{len(lines)} lines (expected {expect}): {proc.stderr.strip()[-300:]}"
        )
    return wall


def measure_folder(
    data: Path, copies: int, repeat: int, baseline_rev: str | None, face_modes: list[str]
) -> dict:
    from edge_runtime.types import usable_cores

    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    with tempfile.TemporaryDirectory(prefix="edge_detect_pipeline_") as tmp:
        folder = Path(tmp) / "images"
        n = _repeated_folder(data, copies, folder)
        args = ["--json", "-r", str(folder)]
        one_core = {cores[0]} if cores and len(cores) > 1 else None
        configs: dict[str, tuple[Path, list[str], set[int] | None]] = {}
        for faces in face_modes:
            face_args = [] if faces == "default" else ["--faces", faces]
            tag = "faces default" if faces == "default" else f"--faces {faces}"
            configs[f"{tag}, pipelined"] = (REPO, [*face_args, *args], None)
            configs[f"{tag}, sequential (--workers 0)"] = (
                REPO,
                [*face_args, "--workers", "0", *args],
                None,
            )
            if one_core:
                configs[f"{tag}, pipelined, 1 core"] = (REPO, [*face_args, *args], one_core)
        if baseline_rev:
            old = _baseline_tree(baseline_rev, Path(tmp) / "baseline")
            configs[f"before ({baseline_rev}, sequential)"] = (old, args, None)
        for cwd, a, cpus in configs.values():  # warm-up: file cache, .pyc
            _cli_run(cwd, a, cpus, n)
        walls: dict[str, list[float]] = {name: [] for name in configs}
        for _ in range(repeat):  # alternating, so every configuration sees the same load
            for name, (cwd, a, cpus) in configs.items():
                walls[name].append(_cli_run(cwd, a, cpus, n))
    rows = {
        name: {"median_s": statistics.median(w), "images_per_s": n / statistics.median(w)}
        for name, w in walls.items()
    }
    return {
        "images": n,
        "copies": copies,
        "repeat": repeat,
        "usable_cores": usable_cores(),
        "rows": rows,
    }


def _large_photo(path: Path) -> Path:
    from PIL import Image

    from .cold_start import REPO as _repo

    src = _repo / "edge_runtime" / "samples" / "astronaut_portrait.jpg"
    with Image.open(src) as img:
        big = np.asarray(img.convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC))
    noise = np.random.default_rng(0).normal(0, 6, big.shape)
    Image.fromarray(np.clip(big + noise, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def measure_decode(model: str, threads: int, runs: int, warmup: int) -> dict:
    from edge_runtime import Detector, DetectorOptions

    from .timing import summarize, time_calls

    det = Detector(DetectorOptions(model=model, num_threads=threads))
    with tempfile.TemporaryDirectory(prefix="edge_detect_large_") as tmp:
        photo = _large_photo(Path(tmp) / "photo_4000x3000.jpg")
        prepared = det.prepare(photo)
        prep = summarize(time_calls(lambda: det.prepare(photo), runs, warmup))
        cls = summarize(time_calls(lambda: det.classify(prepared), runs, warmup))
        e2e = summarize(time_calls(lambda: det.detect(photo), runs, warmup))
        size = photo.stat().st_size
    share = prep["p50"] / (prep["p50"] + cls["p50"])
    return {
        "photo": "4000x3000 JPEG q90, " + f"{size / 1e6:.1f} MB",
        "prepare_ms": prep,
        "classify_ms": cls,
        "end_to_end_ms": e2e,
        "decode_share": share,
    }


def measure_sharing(model: str, images: list[str], n_threads: int, repeat: int) -> dict:
    from edge_runtime import Detector, DetectorOptions
    from edge_runtime.types import usable_cores

    work = images * 2

    def run(detectors: list) -> float:
        barrier = threading.Barrier(n_threads)

        def worker(i: int) -> None:
            det = detectors[i % len(detectors)]
            barrier.wait()
            for path in work[i::n_threads]:
                det.detect(path)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return len(work) / (time.perf_counter() - start)

    cores = usable_cores()
    shared = [Detector(DetectorOptions(model=model, num_threads=cores))]
    pooled = [Detector(DetectorOptions(model=model, num_threads=1, interpreters=n_threads))]
    per_thread = [Detector(DetectorOptions(model=model, num_threads=1)) for _ in range(n_threads)]
    configs = {
        f"one shared Detector ({cores} interpreter threads, lock)": shared,
        f"one shared Detector, interpreters={n_threads} (1 thread each)": pooled,
        f"one Detector per thread ({n_threads} x 1 interpreter thread)": per_thread,
    }
    rates: dict[str, list[float]] = {name: [] for name in configs}
    for dets in configs.values():  # warm-up (and the pool's interpreters are made)
        run(dets)
    for _ in range(repeat):
        for name, dets in configs.items():
            rates[name].append(run(dets))
    return {
        "threads": n_threads,
        "images": len(work),
        "images_per_s": {k: statistics.median(v) for k, v in rates.items()},
    }


def build_parser() -> argparse.ArgumentParser:
    from edge_runtime.registry import DEFAULT_MODEL
    from workbench.evaluation import default_sample_dir

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "what", nargs="?", default="all", choices=["all", "e2e", "folder", "decode", "sharing"]
    )
    ap.add_argument("--model", default=DEFAULT_MODEL, help="model name or .tflite path")
    ap.add_argument(
        "--threads", type=int, default=None, help="interpreter threads (default: usable cores)"
    )
    ap.add_argument("--data", type=Path, default=default_sample_dir() / "test")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--copies", type=int, default=3, help="folder copies for the throughput run")
    ap.add_argument("--repeat", type=int, default=5, help="alternating runs per configuration")
    ap.add_argument("--sharing-threads", type=int, default=4)
    ap.add_argument(
        "--baseline-rev",
        default=None,
        help="git revision whose edge_runtime is timed as 'before' in the folder run",
    )
    ap.add_argument(
        "--faces",
        action="append",
        default=None,
        help="face-stage modes to time in the folder run, e.g. --faces none (repeatable; "
        "'default' = no --faces flag)  [default: default and none]",
    )
    ap.add_argument("--json-out")
    return ap


def _run_e2e(args: argparse.Namespace, threads: int, data: Path | None) -> dict:
    """End-to-end vs invoke-only on one face, without and with the face stage."""
    results = {}
    for faces in ("none", "auto"):
        r = results[faces] = measure_e2e(
            args.model, threads, _face(data), args.runs, args.warmup, faces
        )
        print(
            f"e2e ({threads} threads, {Path(r['image']).name}, face stage {faces}): "
            f"end-to-end p50 {r['end_to_end_ms']['p50']:.3f} ms, invoke p50 "
            f"{r['invoke_ms']['p50']:.3f} ms, ratio {r['ratio_e2e_to_invoke']:.2f}x "
            f"(prepare {r['prepare_ms']['p50']:.3f} ms, input table "
            f"{r['input_table_ms']['p50']:.3f} ms)",
            flush=True,
        )
    return results


def _run_decode(args: argparse.Namespace, threads: int) -> dict:
    r = measure_decode(args.model, threads, max(5, args.runs // 20), 2)
    print(
        f"decode ({r['photo']}): prepare p50 {r['prepare_ms']['p50']:.1f} ms, classify "
        f"{r['classify_ms']['p50']:.2f} ms, end-to-end {r['end_to_end_ms']['p50']:.1f} ms; "
        f"decode share {r['decode_share'] * 100:.0f} %",
        flush=True,
    )
    return r


def _run_sharing(args: argparse.Namespace, data: Path) -> dict:
    faces = [str(p) for p in sorted((data / "real").glob("*.jpg"))[:50]]
    r = measure_sharing(args.model, faces, args.sharing_threads, args.repeat)
    for name, rate in r["images_per_s"].items():
        print(f"sharing, {r['threads']} caller threads: {name}: {rate:.0f} img/s", flush=True)
    return r


def _run_folder(args: argparse.Namespace, data: Path) -> dict:
    r = measure_folder(data, args.copies, args.repeat, args.baseline_rev, args.faces)
    print(
        f"folder: edge-detect --json -r over {r['images']} images "
        f"({args.copies} x {data}), median of {args.repeat}:",
        flush=True,
    )
    for name, row in r["rows"].items():
        print(f"  {name:<40} {row['median_s']:6.2f} s  {row['images_per_s']:7.0f} img/s")
    _print_folder_ratios(r["rows"], args.faces)
    return r


def _print_folder_ratios(rows: dict, face_modes: list[str]) -> None:
    """Each face mode's pipelined rate over its other rows (and over the 'before' rows)."""
    for faces in face_modes:
        tag = "faces default" if faces == "default" else f"--faces {faces}"
        base = rows[f"{tag}, pipelined"]["images_per_s"]
        for name, row in rows.items():
            if name.startswith(tag) and name != f"{tag}, pipelined" or (name.startswith("before")):
                ratio = base / row["images_per_s"]
                print(f"  {tag}, pipelined / {name}: {ratio:.2f}x")


def main(argv: list[str] | None = None) -> int:
    from edge_runtime.types import usable_cores

    from .cold_start import machine_line

    args = build_parser().parse_args(argv)
    threads = args.threads or usable_cores()
    args.faces = args.faces or ["default", "none"]
    data = args.data if (args.data / "real").is_dir() else None
    out: dict = {"machine": machine_line(), "load_average_start": _load(), "model": args.model}
    print(f"machine: {out['machine']}; load average {out['load_average_start']}", flush=True)

    if args.what in ("all", "e2e"):
        out["e2e"] = _run_e2e(args, threads, data)
    if args.what in ("all", "decode"):
        out["decode"] = _run_decode(args, threads)
    if args.what in ("all", "sharing") and data is not None:
        out["sharing"] = _run_sharing(args, data)
    if args.what in ("all", "folder"):
        if data is None:
            print("folder: skipped (no labelled folder; --data)", file=sys.stderr)
        else:
            out["folder"] = _run_folder(args, data)
    out["load_average_end"] = _load()
    print(f"load average at end {out['load_average_end']}")
    if args.json_out:
        from edge_runtime.fileio import atomic_write_json

        atomic_write_json(args.json_out, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
