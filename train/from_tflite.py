"""A Keras model rebuilt from a converted classifier .tflite (a warm start without the .keras).

The converter folds each BatchNormalization into the convolution before it (a bias), fuses the
ReLU6 into the op and keeps `padding="same"`, which equals Keras MobileNet's ZeroPadding2D(0, 1)
+ "valid" on even input sizes. So the k-th CONV_2D / DEPTHWISE_CONV_2D of the .tflite (op
order) fills the k-th Conv2D / DepthwiseConv2D of the Keras model, the k-th FULLY_CONNECTED the
k-th Dense, and the BatchNorm after a bias-free conv becomes an exact identity plus that bias:
gamma 1, beta = bias, moving mean 0, moving variance 1 - epsilon (so sqrt(var + eps) = 1).
Such a model must be trained with its BatchNorm frozen (`fit --freeze-batchnorm`): in training
mode a BatchNorm uses batch statistics and the outputs change.

Quantized weights (int8 per-channel, or fp16 / dynamic-range behind DEQUANTIZE) are
dequantized with their own scales and zero points; activations stay float, so an int8 model's
Keras twin agrees with it only as closely as int8 agrees with float.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError

_NUMPY_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 9: np.int8, 3: np.uint8}


@dataclass
class TfliteLayer:
    """One weighted op of the .tflite, its weights in Keras layout (float32)."""

    op: str  # CONV_2D | DEPTHWISE_CONV_2D | FULLY_CONNECTED
    kernel: np.ndarray
    bias: np.ndarray | None


def _read(path: str | os.PathLike):
    from ai_edge_litert.tools import flatbuffer_utils

    try:
        with open(path, "rb") as f:
            model = flatbuffer_utils.read_model_from_bytearray(bytearray(f.read()))
    except Exception as e:  # noqa: BLE001 - missing or foreign file: one line
        raise ConfigError(f"{path}: cannot read as a .tflite ({e})") from None
    if len(model.subgraphs) != 1:
        raise ConfigError(f"{path}: expected one subgraph, got {len(model.subgraphs)}")
    return model


def _constant(model, sg, index: int, dequantized_from: dict) -> np.ndarray:
    """The float32 value of a constant tensor, dequantized with its (per-channel) parameters."""
    index = dequantized_from.get(index, index)  # fp16 / dynamic weights behind a DEQUANTIZE
    t = sg.tensors[index]
    data = model.buffers[t.buffer].data
    if data is None or t.type not in _NUMPY_TYPES:
        raise ConfigError(f"tensor {t.name!r}: not a constant of a supported type")
    raw = np.frombuffer(bytes(data), dtype=_NUMPY_TYPES[t.type]).reshape(list(t.shape))
    q = t.quantization
    if q is None or q.scale is None or len(q.scale) == 0 or t.type in (0, 1):
        return raw.astype(np.float32)
    shape = [1] * raw.ndim
    if len(q.scale) > 1:
        shape[q.quantizedDimension] = len(q.scale)
    scale = np.asarray(q.scale, np.float32).reshape(shape)
    zero = np.asarray(q.zeroPoint, np.float32).reshape(shape)
    return ((raw.astype(np.float32) - zero) * scale).astype(np.float32)


def read_tflite_layers(path: str | os.PathLike) -> tuple[list[TfliteLayer], tuple[int, ...]]:
    """The weighted ops of a .tflite in op order (Keras layouts), and its input shape."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools.flatbuffer_utils import get_builtin_code_from_operator_code

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = _read(path)
    sg = model.subgraphs[0]
    ops = [
        (names[get_builtin_code_from_operator_code(model.operatorCodes[op.opcodeIndex])], op)
        for op in sg.operators
    ]
    dequantized_from = {op.outputs[0]: op.inputs[0] for name, op in ops if name == "DEQUANTIZE"}
    layers = []
    for name, op in ops:
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        w = _constant(model, sg, op.inputs[1], dequantized_from)
        has_bias = len(op.inputs) > 2 and op.inputs[2] >= 0
        b = _constant(model, sg, op.inputs[2], dequantized_from) if has_bias else None
        if name == "CONV_2D":  # OHWI -> HWIO
            kernel = w.transpose(1, 2, 3, 0)
        elif name == "DEPTHWISE_CONV_2D":  # [1, H, W, C*M] -> [H, W, C, M]
            m = op.builtinOptions.depthMultiplier or 1
            kernel = w.reshape(w.shape[1], w.shape[2], w.shape[3] // m, m)
        else:  # [out, in] -> [in, out]
            kernel = w.T
        layers.append(TfliteLayer(name, np.ascontiguousarray(kernel), b))
    shape = tuple(int(d) for d in sg.tensors[sg.inputs[0]].shape)
    return layers, shape


_KERAS_OF = {
    "CONV_2D": "Conv2D",
    "DEPTHWISE_CONV_2D": "DepthwiseConv2D",
    "FULLY_CONNECTED": "Dense",
}


def _bias_into_batchnorm(bn, bias: np.ndarray) -> None:
    """Make `bn` (inference mode) compute x + bias exactly."""
    n = bias.shape[0]
    if not bn.center:
        raise ConfigError(f"{bn.name}: BatchNormalization without beta cannot take a bias")
    if bn.scale:
        bn.gamma.assign(np.ones(n, np.float32))
    bn.beta.assign(bias)
    bn.moving_mean.assign(np.zeros(n, np.float32))
    bn.moving_variance.assign(np.full(n, 1.0 - bn.epsilon, np.float32))


def load_tflite_weights(model, path: str | os.PathLike) -> int:
    """Fill every Conv2D / DepthwiseConv2D / Dense of a Keras chain model from the .tflite's
    weighted ops in order; a bias-free conv's bias goes into the BatchNorm after it. Returns
    the number of layers filled."""
    tfl, _ = read_tflite_layers(path)
    order = [layer for layer in model.layers if type(layer).__name__ in _KERAS_OF.values()]
    kinds = [type(layer).__name__ for layer in order]
    if kinds != [_KERAS_OF[t.op] for t in tfl]:
        raise ConfigError(
            f"{path}: its {len(tfl)} weighted ops do not match the Keras model's "
            f"{len(order)} conv/dense layers in kind and order"
        )
    position = {id(layer): i for i, layer in enumerate(model.layers)}
    for layer, src in zip(order, tfl):
        if tuple(layer.kernel.shape) != src.kernel.shape:
            raise ConfigError(
                f"{path}: {layer.name} kernel {tuple(layer.kernel.shape)} "
                f"!= .tflite {src.kernel.shape}"
            )
        layer.kernel.assign(src.kernel)
        if src.bias is None:
            continue
        if layer.use_bias:
            layer.bias.assign(src.bias)
            continue
        nxt = model.layers[position[id(layer)] + 1]
        if type(nxt).__name__ != "BatchNormalization":
            raise ConfigError(f"{path}: {layer.name} has no bias and no BatchNorm after it")
        _bias_into_batchnorm(nxt, src.bias)
    return len(order)


def keras_from_tflite(path: str | os.PathLike):
    """The train/model.py MobileNet classifier whose weights reproduce the .tflite
    (alpha, input size and Dense units read from the .tflite's shapes)."""
    from .config import ALL_LAYERS, TrainConfig
    from .model import build_model

    tfl, shape = read_tflite_layers(path)
    dense = [t for t in tfl if t.op == "FULLY_CONNECTED"]
    if len(shape) != 4 or shape[1] != shape[2] or len(dense) != 2 or tfl[0].op != "CONV_2D":
        raise ConfigError(f"{path}: not a MobileNet classifier (input {list(shape)})")
    cfg = TrainConfig(
        arch="mobilenet",
        alpha=tfl[0].kernel.shape[-1] / 32,  # MobileNet's first conv has 32 x alpha filters
        weights="none",
        image_size=shape[1],
        dense_units=dense[0].kernel.shape[1],
        dropout=0.0,
        trainable_layers=ALL_LAYERS,
    )
    model = build_model(cfg).model
    load_tflite_weights(model, path)
    return model


def compare_with_tflite(model, path: str | os.PathLike, folder, limit: int = 50) -> dict:
    """P(fake) of the Keras model and of the .tflite (edge_runtime, its bundle's spec and
    threshold) on up to `limit` images of `folder` (sorted, recursive): max / mean |dP| and
    the share of images with the same verdict."""
    from pathlib import Path

    from edge_runtime.detector import Detector
    from edge_runtime.preprocess import preprocess
    from edge_runtime.types import DetectorOptions

    det = Detector(DetectorOptions(model=str(path), num_threads=1))
    suffixes = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in suffixes)
    if not files:
        raise ConfigError(f"--check {folder}: no images")
    step = max(1, len(files) // limit)  # spread over the classes' subfolders
    files = files[::step][:limit]
    x = np.stack([preprocess(f, det.spec) for f in files]).astype(np.float32)
    p_keras = np.asarray(model.predict(x, batch_size=16, verbose=0))[:, det.fake_index]
    p_tflite = np.array([det.fake_probability(one) for one in x])
    d = np.abs(p_keras - p_tflite)
    t = det.threshold
    return {
        "images": len(files),
        "max_abs_dp": float(d.max()),
        "mean_abs_dp": float(d.mean()),
        "same_verdict": float(np.mean((p_keras >= t) == (p_tflite >= t))),
        "threshold": t,
    }
