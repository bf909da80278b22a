"""Keras model -> TFLite bytes for one variant (fp32, fp16, dynamic, int8).

Uses model.export() + TFLiteConverter.from_saved_model: quiet, and about twice as fast as
from_keras_model with TF 2.21 / Keras 3.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.types import VARIANTS

RepresentativeData = Callable[[], Iterable[list[np.ndarray]]]


@dataclass(frozen=True)
class VariantRecipe:
    """How the converter makes one variant."""

    op_set: str  # the converter's target op set (recorded in bundles and the report)
    optimize: bool = False  # Optimize.DEFAULT: quantize weights (and, calibrated, activations)
    float16: bool = False  # weights stored as float16
    calibrated: bool = False  # full integer: needs representative (calibration) data; int8 I/O


# The variants, as data: edge_runtime.types.VARIANTS, each with its converter settings.
VARIANT_TABLE: dict[str, VariantRecipe] = {
    "fp32": VariantRecipe("TFLITE_BUILTINS"),
    "fp16": VariantRecipe("TFLITE_BUILTINS", optimize=True, float16=True),
    "dynamic": VariantRecipe("TFLITE_BUILTINS", optimize=True),
    "int8": VariantRecipe("TFLITE_BUILTINS_INT8", optimize=True, calibrated=True),
}
assert tuple(VARIANT_TABLE) == VARIANTS


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

    if variant not in VARIANT_TABLE:
        raise ValueError(f"unknown variant {variant!r}; one of {', '.join(VARIANTS)}")
    recipe = VARIANT_TABLE[variant]
    if recipe.calibrated and representative_data is None:
        raise ValueError(f"{variant} conversion needs representative_data")
    with tempfile.TemporaryDirectory(prefix="edge_detect_export_") as tmp:
        saved = Path(tmp) / "saved_model"
        model.export(str(saved), verbose=False)
        conv = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        if recipe.optimize:
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if recipe.float16:
            conv.target_spec.supported_types = [tf.float16]
        if recipe.calibrated:
            conv.representative_dataset = representative_data
            conv.target_spec.supported_ops = [getattr(tf.lite.OpsSet, recipe.op_set)]
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
        if legacy_fully_connected and recipe.optimize and not recipe.float16:
            conv._experimental_disable_per_channel_quantization_for_dense_layers = True
        return conv.convert()


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
