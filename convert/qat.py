"""Quantization-aware training in its own process: `python -m convert.qat GRAPH WEIGHTS ...`.

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
import sys
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from convert.data import list_labelled, load_image_set
from convert.qat_graph import GraphError, load_graph, rebuild
from edge_runtime.fileio import atomic_write_bytes, atomic_write_json
from edge_runtime.types import EdgeDetectError, PreprocessSpec

# Max abs probability difference allowed between the Keras 3 model and its tf_keras rebuild.
REBUILD_TOLERANCE = 1e-4

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def main(
    graph: Annotated[
        Path, typer.Argument(help="flat graph JSON written by convert (qat_graph.save_graph)")
    ],
    weights: Annotated[Path, typer.Argument(help="weights .npz written beside it")],
    train_dir: Annotated[Path, typer.Option(help="labelled training images (real/ and fake/)")],
    spec_json: Annotated[Path, typer.Option(help="PreprocessSpec as JSON")],
    out: Annotated[Path, typer.Option(help="where to write the int8 .tflite")],
    summary: Annotated[Path, typer.Option(help="where to write the JSON summary")],
    epochs: Annotated[int, typer.Option(min=1)] = 2,
    learning_rate: Annotated[float, typer.Option(min=0.0)] = 1e-5,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
    limit: Annotated[
        int, typer.Option(min=0, help="at most this many training images (0: all)")
    ] = 0,
    seed: Annotated[int, typer.Option()] = 0,
    calibration_images: Annotated[
        int, typer.Option(min=1, help="training images for the converter's int8 I/O")
    ] = 300,
    threads: Annotated[int, typer.Option(min=1)] = 1,
    reference: Annotated[
        Path | None,
        typer.Option(help=".npz with x (inputs) and y (Keras outputs) to check the rebuild"),
    ] = None,
    predict: Annotated[
        Path | None, typer.Option(help=".npy inputs for the QAT model to predict after training")
    ] = None,
    predictions_out: Annotated[
        Path | None, typer.Option(help="where to save those predictions")
    ] = None,
    freeze_batchnorm: Annotated[
        bool, typer.Option(help="BatchNormalization in inference mode while fine-tuning")
    ] = True,
    legacy_fully_connected: Annotated[bool, typer.Option()] = False,
) -> None:
    start = time.perf_counter()
    try:
        import tensorflow as tf
        import tensorflow_model_optimization as tfmot
        import tf_keras

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        tf_keras.utils.set_random_seed(seed)
        spec = PreprocessSpec.from_dict(json.loads(spec_json.read_text("utf-8")))
        labelled = list_labelled(train_dir, "QAT training")
        data = load_image_set(labelled, spec, limit or None, seed, "QAT training")
        print(f"qat: {len(data)} training images {data.counts}", file=sys.stderr)

        g, w = load_graph(graph, weights)
        float_model = rebuild(g, w, tf_keras)
        rebuild_diff = None
        if reference is not None:
            # The rebuilt tf_keras model must compute what the Keras 3 model computes.
            with np.load(reference) as ref:
                got = float_model.predict(ref["x"], verbose=0)
                rebuild_diff = float(np.abs(got - ref["y"]).max())
            if rebuild_diff > REBUILD_TOLERANCE:
                raise GraphError(
                    f"the tf_keras rebuild does not match the Keras model (max abs difference "
                    f"{rebuild_diff:.2e} > {REBUILD_TOLERANCE:g})"
                )
        if freeze_batchnorm:
            # Fine-tuning with batch statistics of small batches shifts every BatchNormalization
            # away from the statistics the model was trained with; frozen = inference mode.
            for layer in float_model.layers:
                if isinstance(layer, tf_keras.layers.BatchNormalization):
                    layer.trainable = False
        qat_model = tfmot.quantization.keras.quantize_model(float_model)
        qat_model.compile(
            optimizer=tf_keras.optimizers.Adam(learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        history = qat_model.fit(
            data.x, data.y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=2
        )
        from convert.tflite_export import qat_model_to_tflite

        def representative():
            for i in range(min(len(data.x), calibration_images)):
                yield [data.x[i : i + 1]]

        content = qat_model_to_tflite(qat_model, representative, legacy_fully_connected)
        if predict is not None and predictions_out is not None:
            np.save(predictions_out, qat_model.predict(np.load(predict), batch_size=32, verbose=0))
        atomic_write_bytes(out, content)
        result = {
            "ok": True,
            "train_images": len(data),
            "train_counts": data.counts,
            "train_source": data.source,
            "epochs": epochs,
            "learning_rate": learning_rate,
            "batch_size": batch_size,
            "final_train_accuracy": float(history.history["accuracy"][-1]),
            "final_train_loss": float(history.history["loss"][-1]),
            "tfmot_version": getattr(tfmot, "__version__", "unknown"),
            "rebuild_max_abs_diff": rebuild_diff,
            "freeze_batchnorm": freeze_batchnorm,
            "wall_s": round(time.perf_counter() - start, 1),
        }
    except (EdgeDetectError, GraphError) as e:
        result = {"ok": False, "error": str(e)}
    except Exception as e:  # noqa: BLE001 - report any tfmot/TF failure as one line to the parent
        first = (str(e).strip().splitlines() or [""])[0][:300]
        result = {"ok": False, "error": f"{type(e).__name__}: {first}"}
    atomic_write_json(summary, result)
    if not result["ok"]:
        print(f"qat: {result['error']}", file=sys.stderr)
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
