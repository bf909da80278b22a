"""Opt-in contender rows: the same .tflite on ONNX Runtime (converted with tf2onnx) and OpenVINO.

    pip install ".[contenders]"        # onnxruntime, openvino, tf2onnx
                                       # (tf2onnx also needs TensorFlow: the train extra)
    python -m benchmarks.contenders int8 [fp32 ...] [--threads 2] [--runs 50] [--images DIR]
    python -m benchmarks run --contenders ...   # the same rows in the benchmark table

For each model and runtime: load (OpenVINO reads the .tflite directly; ONNX Runtime gets
tf2onnx's conversion of it), then check the outputs against LiteRT on the same input tensors
(the runtime's own preprocessing, --check-images faces) before any timing: the row fails with the
difference when P(fake) moves by more than TOLERANCE on any image or any label flips. Then
model-only latency (inference on an input already set, --runs after --warmup), with the same
thread count as LiteRT. A runtime that is not installed gets a row that says how to install it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

# Largest |P(fake) difference| accepted against LiteRT: the int8 model's output step is 1/256, and
# other runtimes requantize intermediate layers with their own arithmetic.
TOLERANCE = 0.05
INSTALL = "pip install '.[contenders]'"
RUNTIMES = ("onnxruntime", "openvino")


def _missing(modules: tuple[str, ...]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


class _OpenVINO:
    name = "OpenVINO"
    modules = ("openvino",)
    install = INSTALL

    def __init__(self, tflite: Path, threads: int, work: Path):
        import openvino as ov

        self.version = ov.__version__.split("-")[0]
        core = ov.Core()
        compiled = core.compile_model(
            core.read_model(str(tflite)),
            "CPU",
            # f32: on CPUs with AVX512-BF16 OpenVINO otherwise runs float layers in bfloat16.
            {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"},
        )
        self.request = compiled.create_infer_request()

    def set(self, x: np.ndarray) -> None:
        self.request.set_input_tensor(__import__("openvino").Tensor(np.ascontiguousarray(x)))

    def run(self) -> None:
        self.request.infer()

    def output(self) -> np.ndarray:
        return np.array(self.request.get_output_tensor(0).data)


class _ONNXRuntime:
    name = "ONNX Runtime"
    modules = ("onnxruntime", "tf2onnx", "tensorflow")  # tf2onnx imports TensorFlow
    install = "pip install '.[contenders,train]'"

    def __init__(self, tflite: Path, threads: int, work: Path):
        import onnxruntime as ort
        import tf2onnx

        self.version = f"{ort.__version__} (tf2onnx {tf2onnx.__version__})"
        proto, _ = tf2onnx.convert.from_tflite(str(tflite), opset=17)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            proto.SerializeToString(), opts, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.feed: dict[str, np.ndarray] = {}
        self.last: np.ndarray | None = None

    def set(self, x: np.ndarray) -> None:
        self.feed = {self.input_name: x}

    def run(self) -> None:
        self.last = self.session.run(None, self.feed)[0]

    def output(self) -> np.ndarray:
        return self.last


_RUNTIMES = {"onnxruntime": _ONNXRuntime, "openvino": _OpenVINO}


def contender_rows(
    model: str, threads: int, runs: int, warmup: int, images: list[str], runtimes=RUNTIMES
) -> list[dict[str, Any]]:
    """One result dict per runtime: status, versions, the check against LiteRT, latency."""
    from edge_runtime import Detector, DetectorOptions
    from edge_runtime.detector import dequantize

    from .timing import summarize, time_calls

    det = Detector(DetectorOptions(model=model, num_threads=threads))
    inputs = [det.input_tensor(det.prepare(p).crops[0]) for p in images]
    reference = [det._run(x)[det.fake_index] for x in inputs]
    rows = []
    for key in runtimes:
        cls = _RUNTIMES[key]
        row: dict[str, Any] = {
            "model": f"{det.model_name} ({cls.name})",
            "runtime": cls.name,
            "path": str(det.bundle.path),
            "variant": det.bundle.info.variant,
            "threads": threads,
        }
        rows.append(row)
        missing = _missing(cls.modules)
        if missing:
            row["status"] = f"not installed: {cls.install} (missing {', '.join(missing)})"
            continue
        try:
            with tempfile.TemporaryDirectory(prefix="edge_detect_contender_") as tmp:
                start = time.perf_counter()
                rt = cls(det.bundle.path, threads, Path(tmp))
                row["load_s"] = time.perf_counter() - start
                row["backend"] = f"{cls.name} {rt.version}"
                got = []
                for x in inputs:
                    rt.set(x)
                    rt.run()
                    probs = dequantize(np.asarray(rt.output()), det._out).reshape(-1)
                    got.append(float(probs[det.fake_index]))
                diff = np.abs(np.array(got) - np.array(reference))
                same = [
                    (a >= det.threshold) == (b >= det.threshold) for a, b in zip(got, reference)
                ]
                row["check"] = {
                    "images": len(images),
                    "max_abs_dp_vs_litert": float(diff.max()),
                    "mean_abs_dp_vs_litert": float(diff.mean()),
                    "same_label_pct": 100.0 * sum(same) / len(same),
                }
                if diff.max() > TOLERANCE or not all(same):
                    row["status"] = (
                        f"failed: outputs differ from LiteRT (max |ΔP(fake)| {diff.max():.3f}, "
                        f"same label {row['check']['same_label_pct']:.0f} %)"
                    )
                    continue
                rt.set(inputs[0])
                row["model_ms"] = summarize(time_calls(rt.run, runs, warmup))
                row["status"] = "ok"
        except Exception as e:  # noqa: BLE001 - a runtime that cannot take the model: its row says why
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            row["status"] = f"failed: {type(e).__name__}: {first}"
    return rows


def _check_images(folder: str | None, n: int) -> list[str]:
    from .cold_start import PACKAGED_SAMPLE

    paths: list[str] = []
    if folder:
        root = Path(folder)
        per = max(1, n // 2)
        for label in ("real", "fake"):
            paths += [str(p) for p in sorted((root / label).glob("*.jpg"))[:per]]
    return paths or [str(PACKAGED_SAMPLE)]


def main(argv: list[str] | None = None) -> int:
    from edge_runtime.registry import DEFAULT_MODEL
    from edge_runtime.types import usable_cores
    from workbench.evaluation import default_sample_dir

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "models", nargs="*", default=[DEFAULT_MODEL], help="model names or .tflite files"
    )
    ap.add_argument("--threads", type=int, default=None, help="default: usable cores")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--images", default=str(default_sample_dir() / "test"))
    ap.add_argument("--check-images", type=int, default=20)
    ap.add_argument(
        "--runtimes", default=",".join(RUNTIMES), help="comma list: onnxruntime,openvino"
    )
    ap.add_argument("--json-out", help="write the rows to this JSON file")
    args = ap.parse_args(argv)
    runtimes = [r for r in args.runtimes.split(",") if r]
    unknown = [r for r in runtimes if r not in _RUNTIMES]
    if unknown:
        print(f"contenders: error: unknown runtime {unknown[0]!r}", file=sys.stderr)
        return 2
    images = _check_images(args.images if Path(args.images).is_dir() else None, args.check_images)
    threads = args.threads or usable_cores()
    rows = []
    for model in args.models:
        rows += contender_rows(model, threads, args.runs, args.warmup, images, runtimes)
    for r in rows:
        check = r.get("check")
        line = f"{r['model']:<48} {r['status']}"
        if r.get("model_ms"):
            line += f"  invoke p50 {r['model_ms']['p50']:.2f} ms at {r['threads']} thread(s)"
        if check:
            line += (
                f"  [vs LiteRT on {check['images']} images: max |ΔP| "
                f"{check['max_abs_dp_vs_litert']:.4f}, same label {check['same_label_pct']:.0f} %]"
            )
        print(line)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=1))
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
