"""Quantization-aware training in its own process: `python -m convert.qat JOB.json`.

tensorflow-model-optimization needs tf_keras, and TF_USE_LEGACY_KERAS=1 must be set before
TensorFlow is imported, which the Keras 3 conversion process cannot do. convert/ starts this
module as a subprocess (see qat_launch.py); it rebuilds the model in tf_keras from the flat graph
(qat_graph.py), wraps it with tfmot's quantize_model, fine-tunes it on the training split at a
low learning rate, and writes a full-int8 .tflite (int8 input and output) plus a JSON summary.
"""

from __future__ import annotations

import os

# Must precede any TensorFlow import in this process.
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from convert.data import list_labelled, load_image_set
from convert.options import QatOptions
from convert.qat_graph import GraphError, load_graph, rebuild
from edge_runtime.console import setup_logging
from edge_runtime.fileio import atomic_write_bytes, atomic_write_json
from edge_runtime.types import EdgeDetectError, PreprocessSpec

log = logging.getLogger(__name__)

# Max abs probability difference allowed between the Keras 3 model and its tf_keras rebuild.
REBUILD_TOLERANCE = 1e-4


def _rebuild_checked(job: dict[str, Any], tf_keras):
    """The tf_keras model, checked against the Keras 3 model's outputs on the reference inputs."""
    g, w = load_graph(Path(job["graph"]), Path(job["weights"]))
    float_model = rebuild(g, w, tf_keras)
    with np.load(job["reference"]) as ref:
        got = float_model.predict(ref["x"], verbose=0)
        rebuild_diff = float(np.abs(got - ref["y"]).max())
    if rebuild_diff > REBUILD_TOLERANCE:
        raise GraphError(
            f"the tf_keras rebuild does not match the Keras model (max abs difference "
            f"{rebuild_diff:.2e} > {REBUILD_TOLERANCE:g})"
        )
    return float_model, rebuild_diff


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Fine-tune with QAT, write the int8 .tflite and the predictions; the summary."""
    start = time.perf_counter()
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras

    from convert.tflite_export import qat_model_to_tflite

    qat = QatOptions.from_dict(job["qat"])
    tf.config.threading.set_intra_op_parallelism_threads(job["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(job["threads"])
    tf_keras.utils.set_random_seed(job["seed"])
    spec = PreprocessSpec.from_dict(job["spec"])
    labelled = list_labelled(job["train_dir"], "QAT training")
    data = load_image_set(labelled, spec, qat.train_limit or None, job["seed"], "QAT training")
    log.info(f"qat: {len(data)} training images {data.counts}")
    float_model, rebuild_diff = _rebuild_checked(job, tf_keras)
    if qat.freeze_batchnorm:
        # Fine-tuning with batch statistics of small batches shifts every BatchNormalization
        # away from the statistics the model was trained with; frozen = inference mode.
        for layer in float_model.layers:
            if isinstance(layer, tf_keras.layers.BatchNormalization):
                layer.trainable = False
    qat_model = tfmot.quantization.keras.quantize_model(float_model)
    qat_model.compile(
        optimizer=tf_keras.optimizers.Adam(qat.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = qat_model.fit(
        data.x, data.y, batch_size=qat.batch_size, epochs=qat.epochs, shuffle=True, verbose=2
    )

    def representative():
        for i in range(min(len(data.x), job["calibration_images"])):
            yield [data.x[i : i + 1]]

    content = qat_model_to_tflite(qat_model, representative, job["legacy_fully_connected"])
    predictions = qat_model.predict(np.load(job["predict"]), batch_size=32, verbose=0)
    np.save(job["predictions_out"], predictions)
    atomic_write_bytes(job["out"], content)
    return {
        "ok": True,
        "train_images": len(data),
        "train_counts": data.counts,
        "train_source": data.source,
        "epochs": qat.epochs,
        "learning_rate": qat.learning_rate,
        "batch_size": qat.batch_size,
        "final_train_accuracy": float(history.history["accuracy"][-1]),
        "final_train_loss": float(history.history["loss"][-1]),
        "tfmot_version": getattr(tfmot, "__version__", "unknown"),
        "rebuild_max_abs_diff": rebuild_diff,
        "freeze_batchnorm": qat.freeze_batchnorm,
        "wall_s": round(time.perf_counter() - start, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m convert.qat JOB.json` (written by convert/qat_launch.py); 0 ok, 1 failed."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(
            "usage: python -m convert.qat JOB.json (started by python -m convert)", file=sys.stderr
        )
        return 2
    setup_logging()
    job = json.loads(Path(args[0]).read_text("utf-8"))
    try:
        result = run_job(job)
    except (EdgeDetectError, GraphError) as e:
        result = {"ok": False, "error": str(e)}
    except Exception as e:  # noqa: BLE001 - report any tfmot/TF failure as one line to the parent
        first = (str(e).strip().splitlines() or [""])[0][:300]
        result = {"ok": False, "error": f"{type(e).__name__}: {first}"}
    atomic_write_json(job["summary"], result)
    if not result["ok"]:
        log.error(f"qat: {result['error']}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
