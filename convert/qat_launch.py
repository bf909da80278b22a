"""Start QAT (convert/qat.py) in a subprocess from the Keras 3 conversion process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.types import PreprocessSpec

from .qat_graph import GraphError, export_graph, save_graph

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class QatOptions:
    epochs: int = 2
    learning_rate: float = 1e-5
    batch_size: int = 16
    train_limit: int = 0  # 0: every training image
    seed: int = 0
    threads: int = 1
    calibration_images: int = 300
    legacy_fully_connected: bool = False
    timeout_s: float | None = None


@dataclass
class QatResult:
    ok: bool
    content: bytes | None
    summary: dict[str, Any]
    # The fine-tuned (fake-quant) Keras model's probabilities on the inputs passed as predict_x:
    # the reference its int8 conversion is verified against.
    predictions: np.ndarray | None = None

    @property
    def error(self) -> str:
        return str(self.summary.get("error", ""))


def run_qat(
    model,
    train_dir: Path,
    spec: PreprocessSpec,
    options: QatOptions,
    reference_x: np.ndarray,
    predict_x: np.ndarray,
) -> QatResult:
    """Fine-tune `model` (Keras 3) with QAT in a child process; the int8 .tflite bytes or why not.

    reference_x: a few preprocessed inputs; the child checks its tf_keras rebuild against the
    Keras model's outputs on them before training. predict_x: inputs the QAT model predicts
    after training (the validation set).
    """
    try:
        graph, weights = export_graph(model)
    except GraphError as e:
        return QatResult(
            False, None, {"ok": False, "error": f"cannot carry the model to tf_keras: {e}"}
        )
    with tempfile.TemporaryDirectory(prefix="edge_detect_qat_") as tmp:
        tmp_path = Path(tmp)
        graph_path, weights_path = save_graph(graph, weights, tmp_path)
        reference = tmp_path / "reference.npz"
        np.savez(reference, x=reference_x, y=np.asarray(model.predict(reference_x, verbose=0)))
        predict_in, predict_out = tmp_path / "predict_x.npy", tmp_path / "predictions.npy"
        np.save(predict_in, predict_x)
        spec_path = tmp_path / "spec.json"
        spec_path.write_text(json.dumps(spec.to_dict()), "utf-8")
        out = tmp_path / "qat_int8.tflite"
        summary_path = tmp_path / "summary.json"
        cmd = [
            sys.executable, "-m", "convert.qat", str(graph_path), str(weights_path),
            "--train-dir", str(train_dir), "--spec-json", str(spec_path),
            "--out", str(out), "--summary", str(summary_path),
            "--epochs", str(options.epochs), "--learning-rate", str(options.learning_rate),
            "--batch-size", str(options.batch_size), "--limit", str(options.train_limit),
            "--seed", str(options.seed), "--threads", str(options.threads),
            "--calibration-images", str(options.calibration_images),
            "--reference", str(reference),
            "--predict", str(predict_in), "--predictions-out", str(predict_out),
        ]  # fmt: skip
        if options.legacy_fully_connected:
            cmd.append("--legacy-fully-connected")
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1")
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        print(f"qat: starting {' '.join(cmd[:3])} ... (epochs={options.epochs})", file=sys.stderr)
        try:
            proc = subprocess.run(
                cmd, env=env, cwd=REPO_ROOT, timeout=options.timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            return QatResult(
                False, None, {"ok": False, "error": f"QAT timed out after {options.timeout_s} s"}
            )
        summary: dict[str, Any]
        try:
            summary = json.loads(summary_path.read_text("utf-8"))
        except (OSError, ValueError):
            summary = {
                "ok": False,
                "error": f"QAT process exited with status {proc.returncode} and no summary",
            }
        if proc.returncode != 0 or not summary.get("ok") or not out.is_file():
            summary.setdefault("error", f"QAT process exited with status {proc.returncode}")
            summary["ok"] = False
            return QatResult(False, None, summary)
        return QatResult(True, out.read_bytes(), summary, np.load(predict_out))
