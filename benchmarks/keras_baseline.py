"""The way a user would otherwise run the model: Keras in TensorFlow, timed in a fresh process.

Cold start = from launching `python` to the first prediction (import tensorflow, load the .keras
file, preprocess one image, model.predict). Then per-image latency of model.predict(x) (what the
report's notebook calls) and of model(x) (the direct call), and a folder pass with model(x) for
accuracy. Preprocessing is edge_runtime's, so only the inference engine differs from the TFLite
rows. TensorFlow runs with its default threading (all cores), as a user would get it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def have_tensorflow() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorflow") is not None


def _p_fake(y) -> float:
    """P(fake) from the Keras output: one sigmoid unit (P(real)) or the softmax over LABELS."""
    from edge_runtime.types import LABELS

    y = y.numpy() if hasattr(y, "numpy") else y
    y = y.reshape(-1)
    return float(1.0 - y[0]) if y.size == 1 else float(y[LABELS.index("fake")])


def _folder_pass(model, images: list, spec) -> tuple[list[float | None], int, float]:
    """(P(fake) per image, None where it failed; failures; seconds) with model(x)."""
    from edge_runtime.preprocess import load_resized, normalize

    scores: list[float | None] = []
    errors = 0
    t0 = time.perf_counter()
    for path, _label in images:
        try:
            scores.append(
                _p_fake(model(normalize(load_resized(path, spec), spec)[None], training=False))
            )
        except Exception:  # noqa: BLE001 - one bad image never stops the pass
            scores.append(None)
            errors += 1
    return scores, errors, time.perf_counter() - t0


def child(job_path: str, result_path: str) -> int:
    """Runs in the fresh process. Imports TensorFlow only here."""
    started = time.time()
    job = json.loads(Path(job_path).read_text())
    import keras
    import tensorflow as tf

    imported = time.time()
    model = keras.models.load_model(job["model"], compile=False)
    loaded = time.time()
    from edge_runtime.preprocess import load_resized, normalize
    from edge_runtime.types import PreprocessSpec

    from .timing import summarize, time_calls
    from .worker import peak_rss_mb

    h, w = model.input_shape[1:3]
    # The spec is borrowed from the fp32 bundle (or the defaults): the Keras model's size wins.
    spec = PreprocessSpec.from_dict(job["preprocess"]).fit_input(
        int(h), int(w), recorded=False, name=job["model"], where="preprocessing"
    )
    x = normalize(load_resized(job["latency_image"], spec), spec)[None]
    model.predict(x, verbose=0)
    first = time.time()

    runs, warmup = job["runs"], job["warmup"]
    call_ms = time_calls(lambda: model(x, training=False), runs, warmup)
    predict_ms = time_calls(lambda: model.predict(x, verbose=0), runs, warmup)
    e2e_ms = time_calls(
        lambda: model(
            normalize(load_resized(job["latency_image"], spec), spec)[None], training=False
        ),
        runs,
        warmup,
    )
    scores, errors, folder_s = _folder_pass(model, job["images"], spec)
    done = sum(s is not None for s in scores)
    result = {
        "status": "ok",
        "child_started": started,
        "first_result": first,
        "import_s": imported - started,
        "load_s": loaded - imported,
        "first_predict_s": first - loaded,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "call_ms": summarize(call_ms),
        "predict_ms": summarize(predict_ms),
        "e2e_ms": summarize(e2e_ms),
        "p_fake": scores,
        "image_errors": errors,
        "throughput_ips": done / folder_s if job["images"] and folder_s > 0 else None,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "peak_rss_mb": peak_rss_mb(),
    }
    Path(result_path).write_text(json.dumps(result))
    return 0


def _failed(name: str, status: str):
    from .harness import Row

    return [Row(model=f"{name} (Keras)", kind="keras", status=status)]


def _child_env() -> dict[str, str]:
    """This environment, with the checkout importable and TensorFlow's C++ log quiet."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _run_child(job: dict[str, Any], timeout_s: float) -> tuple[float, dict[str, Any]] | str:
    """(launch time, the child's result), or the failure status when it gave none."""
    with tempfile.TemporaryDirectory(prefix="edge_detect_keras_") as tmp:
        job_path, result_path = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job_path.write_text(json.dumps(job))
        env = _child_env()
        print(
            f"[keras] {job['model']} (cold start, then {job['runs']} runs)",
            file=sys.stderr,
            flush=True,
        )
        # One unmeasured import first, so TensorFlow's files are in the OS cache as they are for
        # the TFLite cold starts (which also discard their first process).
        subprocess.run(
            [sys.executable, "-c", "import tensorflow"],
            env=env,
            check=False,
            capture_output=True,
            timeout=timeout_s,
        )
        launched = time.time()
        try:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks",
                    "keras-child",
                    str(job_path),
                    str(result_path),
                ],
                env=env,
                timeout=timeout_s,
                check=False,
                capture_output=True,
                text=True,
            )
        except subprocess.TimeoutExpired:
            return "failed: timed out"
        if not result_path.is_file():
            last = next((ln for ln in reversed(proc.stderr.splitlines()) if ln.strip()), "")
            return f"failed: Keras run exited with code {proc.returncode} ({last[:200]})"
        return launched, json.loads(result_path.read_text())


def _rows(model_path: str, preprocess: dict[str, Any], launched: float, res: dict[str, Any]):
    """The model.predict row (with the cold start) and the model(x) row (with e2e and
    throughput, which the child measured with model(x))."""
    from edge_runtime.types import threshold_or_default

    from .harness import Row

    name = Path(model_path).name
    cold = res["first_result"] - launched
    backend = f"tensorflow {res['tensorflow']} (keras {res['keras']})"
    threads = os.cpu_count() if res["intra_op_threads"] == 0 else res["intra_op_threads"]
    size = Path(model_path).stat().st_size
    extra = {
        "import_s": res["import_s"],
        "load_s": res["load_s"],
        "first_predict_s": res["first_predict_s"],
        "threshold": threshold_or_default(preprocess.get("threshold")),
        "throughput_source": "folder pass with model(x), 1 stream",
    }
    rows = []
    for label, key, cold_start in (
        ("model.predict", "predict_ms", cold),
        ("model(x)", "call_ms", None),
    ):
        rows.append(
            Row(
                model=f"{name} (Keras {label})",
                kind="keras",
                path=str(model_path),
                variant="keras",
                backend=backend,
                threads=threads,
                size_bytes=size,
                size_mb=size / 1e6,
                model_ms=res[key],
                e2e_ms=res["e2e_ms"] if key == "call_ms" else None,
                throughput_ips=res["throughput_ips"] if key == "call_ms" else None,
                peak_rss_mb=res["peak_rss_mb"],
                cold_start_s=cold_start,
                image_errors=res["image_errors"],
                p_fake=res["p_fake"],
                extra=dict(extra),
                notes="cold start = launch python to first model.predict result"
                if cold_start
                else "",
            )
        )
    return rows


def run_keras_baseline(
    model_path: str,
    preprocess: dict[str, Any],
    latency_image: str,
    images: list[tuple[str, str]],
    runs: int,
    warmup: int,
    timeout_s: float = 1800.0,
):
    """Two rows (model.predict and model(x)) for the table; failed rows when TF is missing."""
    name = Path(model_path).name
    if not have_tensorflow():
        return _failed(name, "failed: TensorFlow is not installed (pip install '.[train]')")
    if not Path(model_path).is_file():
        return _failed(name, f"failed: {model_path}: no such file")
    job = {
        "model": str(model_path),
        "preprocess": preprocess,
        "latency_image": latency_image,
        "images": images,
        "runs": runs,
        "warmup": warmup,
    }
    outcome = _run_child(job, timeout_s)
    if isinstance(outcome, str):
        return _failed(name, outcome)
    launched, res = outcome
    return _rows(model_path, preprocess, launched, res)
