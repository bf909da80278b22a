"""Benchmark one model in its own process: latency, thread sweep, folder pass, peak RSS.

The harness starts one worker process per model, so a model that crashes the interpreter (a
segfault in a kernel) fails its own row only, and peak resident memory is that model's alone.
Input and output are JSON files: `python -m benchmarks worker JOB.json RESULT.json`.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_runtime.fileio import atomic_write_json

from .timing import summarize, time_calls


@dataclass
class WorkerJob:
    model: str
    threads: list[int]  # the sweep; the last (largest) is the main setting
    runs: int = 50
    warmup: int = 5
    latency_image: str = ""  # one encoded image for the latency loops
    images: list[tuple[str, str]] = field(default_factory=list)  # (path, label) folder pass
    backend: str | None = None

    @property
    def main_threads(self) -> int:
        return max(self.threads)


def peak_rss_mb() -> float | None:
    """This process's peak resident set size (ru_maxrss: KiB on Linux, bytes on macOS)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def _progress(msg: str) -> None:
    print(f"  {msg}", file=sys.stderr, flush=True)


def _model_facts(bundle, job: WorkerJob) -> dict[str, Any]:
    """What the file says about the model, before anything runs."""
    from .macs import count_macs

    name = str(bundle.path)
    macs = count_macs(bundle.content, name)
    return {
        "status": "ok",
        "path": name,
        "variant": bundle.info.variant,
        "has_bundle_metadata": bundle.has_metadata,
        "size_bytes": bundle.size_bytes,
        "sha256": bundle.info.sha256,
        "macs": macs.total,
        "macs_by_op": macs.by_op,
        "macs_by_weight_type": macs.by_weight_type,
        "threads": job.main_threads,
    }


def _thread_sweep(job: WorkerJob, bundle):
    """Model-only latency (the interpreter's invoke() on an input already set, nothing else) at
    each thread count. Returns (the main setting's Detector, its latency stats, p50 by threads)."""
    from edge_runtime.detector import Detector
    from edge_runtime.preprocess import load_resized, normalize
    from edge_runtime.types import DetectorOptions

    sweep: dict[str, float] = {}
    main_det, main_stats = None, None
    for threads in sorted(set(job.threads)):
        opts = DetectorOptions(model=job.model, num_threads=threads, backend=job.backend)
        det = Detector(opts, bundle=bundle)
        x = normalize(load_resized(job.latency_image, det.spec), det.spec)
        det.set_input(x)
        samples = time_calls(det.invoke_only, job.runs, job.warmup)
        stats = summarize(samples)
        sweep[str(threads)] = stats["p50"]
        _progress(f"{bundle.path.name}: invoke p50 {stats['p50']:.2f} ms at {threads} thread(s)")
        if threads == job.main_threads:
            main_det, main_stats = det, stats
    assert main_det is not None
    return main_det, main_stats, sweep


def _folder_pass(job: WorkerJob, det, e2e: list[float], name: str) -> dict[str, Any]:
    """Accuracy scores and throughput. The images go through detect_many (the batch path
    edge-detect uses: decode threads prepare the next images while the interpreter runs); with
    no images, throughput comes from the end-to-end loop."""
    from edge_runtime.types import DetectionError

    result: dict[str, Any] = {}
    p_fake: list[float | None] = []
    errors: list[str] = []
    if job.images:
        start = time.perf_counter()
        for item in det.detect_many(path for path, _label in job.images):
            if isinstance(item, DetectionError):
                p_fake.append(None)
                errors.append(item.error)
            else:
                p_fake.append(item.fake_probability)
        seconds = time.perf_counter() - start
        done = sum(p is not None for p in p_fake)
        result["throughput_ips"] = done / seconds if seconds > 0 else None
        result["throughput_source"] = (
            f"folder pass, {done} images, detect_many with {det.workers} decode thread(s)"
        )
        _progress(f"{name}: {done} images in {seconds:.1f} s")
    else:
        total_s = sum(e2e) / 1000.0
        result["throughput_ips"] = len(e2e) / total_s if total_s > 0 else None
        result["throughput_source"] = f"end-to-end loop on one image, {len(e2e)} runs"
    result["p_fake"] = p_fake
    result["image_errors"] = len(errors)
    result["image_error_examples"] = errors[:3]
    return result


def run_job(job: WorkerJob) -> dict[str, Any]:
    """Everything measured about one model; raises EdgeDetectError for an unusable model."""
    from edge_runtime.bundle import load_bundle

    bundle = load_bundle(job.model)
    result = _model_facts(bundle, job)
    main_det, result["model_ms"], result["thread_sweep_p50_ms"] = _thread_sweep(job, bundle)
    # The attainable peak the % column divides by, measured now, under the same load.
    from .peaks import measure_peak

    result["measured_peak"] = measure_peak(job.main_threads, job.backend)
    result["backend"] = main_det.backend.describe()
    result["input"] = {
        "height": main_det.spec.height,
        "width": main_det.spec.width,
        "dtype": str(main_det.input_dtype),
    }
    result["threshold"] = main_det.threshold

    # End-to-end: file -> decode -> preprocess -> invoke -> probabilities, as a user calls it.
    e2e = time_calls(lambda: main_det.detect(job.latency_image), job.runs, job.warmup)
    result["e2e_ms"] = summarize(e2e)
    _progress(f"{bundle.path.name}: end-to-end p50 {result['e2e_ms']['p50']:.2f} ms")

    result.update(_folder_pass(job, main_det, e2e, bundle.path.name))
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def main(job_path: str, result_path: str) -> int:
    from edge_runtime.types import EdgeDetectError

    raw = json.loads(Path(job_path).read_text())
    raw["images"] = [tuple(p) for p in raw.get("images", [])]
    job = WorkerJob(**raw)
    try:
        result = run_job(job)
    except EdgeDetectError as e:
        result = {"status": f"failed: {e}"}
    except (ValueError, RuntimeError, OSError) as e:
        result = {"status": f"failed: {type(e).__name__}: {e}"}
    atomic_write_json(result_path, result)
    return 0
