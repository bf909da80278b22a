"""Start QAT (convert/qat.py) in a subprocess from the Keras 3 conversion process."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.fileio import atomic_write_json
from edge_runtime.types import PreprocessSpec

from .options import ConvertOptions
from .qat_graph import GraphError, export_graph, save_graph

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parent.parent


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
    opts: ConvertOptions,
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
        out = tmp_path / "qat_int8.tflite"
        summary_path = tmp_path / "summary.json"
        # Everything the child needs, as one JSON job: its options are QatOptions, not flags.
        job = {
            "graph": str(graph_path),
            "weights": str(weights_path),
            "train_dir": str(train_dir),
            "spec": spec.to_dict(),
            "out": str(out),
            "summary": str(summary_path),
            "reference": str(reference),
            "predict": str(predict_in),
            "predictions_out": str(predict_out),
            "qat": opts.qat.to_dict(),
            "seed": opts.seed,
            "threads": opts.threads,
            "calibration_images": opts.calibration_images,
            "legacy_fully_connected": opts.legacy_fully_connected,
        }
        job_path = atomic_write_json(tmp_path / "job.json", job)
        cmd = [sys.executable, "-m", "convert.qat", str(job_path)]
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1")
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        log.info(f"qat: starting {' '.join(cmd[1:3])} (epochs={opts.qat.epochs})")
        try:
            proc = subprocess.run(
                cmd, env=env, cwd=REPO_ROOT, timeout=opts.qat.timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            return QatResult(
                False, None, {"ok": False, "error": f"QAT timed out after {opts.qat.timeout_s} s"}
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
