"""Keras model -> TFLite bytes for one variant (fp32, fp16, dynamic, int8).

Uses model.export() + TFLiteConverter.from_saved_model: quiet, and about twice as fast as
from_keras_model with TF 2.21 / Keras 3.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from edge_runtime.types import VARIANTS

RepresentativeData = Callable[[], Iterable[list[np.ndarray]]]


def keras_to_tflite(
    model,
    variant: str,
    representative_data: RepresentativeData | None = None,
    legacy_fully_connected: bool = False,
) -> bytes:
    """Convert a Keras 3 model (one named image input) to TFLite bytes.

    representative_data is required for int8: a callable yielding [float32 1xHxWx3] batches
    that went through edge_runtime's preprocessing.
    legacy_fully_connected keeps FULLY_CONNECTED at an op version older runtimes
    (tflite-runtime 2.14) load, by disabling per-channel quantization for dense layers.
    """
    import tensorflow as tf

    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; one of {', '.join(VARIANTS)}")
    if variant == "int8" and representative_data is None:
        raise ValueError("int8 conversion needs representative_data")
    with tempfile.TemporaryDirectory(prefix="edge_detect_export_") as tmp:
        saved = Path(tmp) / "saved_model"
        model.export(str(saved), verbose=False)
        conv = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        if variant == "fp16":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.target_spec.supported_types = [tf.float16]
        elif variant == "dynamic":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        elif variant == "int8":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = representative_data
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
        if legacy_fully_connected and variant in ("dynamic", "int8"):
            conv._experimental_disable_per_channel_quantization_for_dense_layers = True
        return conv.convert()


def op_set(variant: str) -> str:
    """The converter's target op set for a variant (recorded in bundles and the report)."""
    return "TFLITE_BUILTINS_INT8" if variant == "int8" else "TFLITE_BUILTINS"


def qat_model_to_tflite(
    model, representative_data: RepresentativeData, legacy_fully_connected: bool = False
) -> bytes:
    """A tfmot quantize_model()-wrapped tf_keras model -> full-int8 TFLite (int8 input/output).

    Runs in the QAT subprocess (TF_USE_LEGACY_KERAS=1). The fake-quant ranges learned in training
    set the weights' and activations' quantization; TF 2.21 still insists on a representative
    dataset for int8 input/output, so a few preprocessed training images are passed.
    """
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative_data
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    if legacy_fully_connected:
        conv._experimental_disable_per_channel_quantization_for_dense_layers = True
    return conv.convert()
