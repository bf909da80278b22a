"""Client-compatible inputs: raw RGB pixels in, centre crop and normalisation inside the model.

Standard on-device clients (MediaPipe Tasks' and the Task Library's ImageClassifier, any app
that only scales a bitmap to the input tensor's size) resize the whole image to the input size
and feed uint8 pixels. Our models expect a 0.875 centre crop, then (pixel - mean) / std, then
(int8) quantisation. This module edits a converted .tflite so that such clients get our answers:

    uint8 [1, S, S, 3] raw pixels            S = the side whose centre crop is the model input
      -> SLICE   the centre crop (offset (S - H) // 2, size H: the runtime's own SxS crop)
      -> CAST    uint8 -> int32 (GATHER indices)
      -> GATHER  a 256-entry table: pixel value -> network input value
      -> the original network (its old input tensor is now GATHER's output)
      -> DEQUANTIZE int8 probabilities -> float32 (clients read float scores; MediaPipe
         refuses int8 tensors)

The table is edge_runtime's own (`detector.input_table`, `preprocess.normalize`) for every
possible pixel value, so the network sees bit for bit the tensor the runtime feeds the original
model (no second definition of the normalisation, no rounding mode of another kernel). For an
SxS image (S = 256 for 224 at 0.875) the edited model therefore gives exactly the original's
output; for other sizes the only difference left is crop-then-resize versus resize-then-crop.

The new input tensor is quantised with scale 1, zero point 0 (its value is the pixel), so
edge_runtime runs the edited model with the spec `client_spec` returns: resize the square centre
of the image (crop fraction 1.0) to S, mean 0, std 1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from edge_runtime.detector import input_table
from edge_runtime.preprocess import normalize
from edge_runtime.types import ModelError, PreprocessSpec

INPUT_NAME = "image"
NETWORK_INPUT_NAME = "image_normalized"
OUTPUT_NAME = "probabilities"


@dataclass(frozen=True)
class CropPlan:
    """Where the model input sits inside the client's square input."""

    client_size: int  # S: the client resizes the whole (square) image to S x S
    offset: int  # first row/column of the centre crop
    size: int  # side of the crop = the network's input side


def crop_plan(spec: PreprocessSpec) -> CropPlan:
    """The client input size whose centre crop (as edge_runtime.preprocess.resize crops) is the
    network input, pixel for pixel."""
    if spec.height != spec.width:
        raise ModelError(f"client input needs a square model input, got {spec.height}x{spec.width}")
    side = spec.height
    if spec.crop == "none" or (spec.crop == "center" and spec.crop_fraction == 1.0):
        return CropPlan(side, 0, side)
    if spec.crop != "center" or not 0.0 < spec.crop_fraction < 1.0:
        raise ModelError(f"cannot place crop {spec.crop!r} ({spec.crop_fraction}) inside the model")
    client = round(side / spec.crop_fraction)
    # Same rule as preprocess.resize: side = round(min(w, h) * fraction), left = (w - side) // 2.
    if round(client * spec.crop_fraction) != side:
        raise ModelError(
            f"no integer input size has a {spec.crop_fraction} centre crop of exactly {side} pixels"
        )
    return CropPlan(client, (client - side) // 2, side)


def client_spec(spec: PreprocessSpec) -> PreprocessSpec:
    """What edge_runtime (and the Android sample) do before feeding the edited model."""
    size = crop_plan(spec).client_size
    # The square centre of the image, whole: a square face crop is fed as it is, and a
    # non-square photo keeps the same centre square as the original spec took.
    return replace(
        spec, height=size, width=size, crop="center", crop_fraction=1.0, mean=0.0, std=1.0
    )


def pixel_table(spec: PreprocessSpec, dtype: type, scale: float, zero_point: int) -> np.ndarray:
    """Network input value for each pixel value 0..255, by the runtime's own functions
    (Detector.input_tensor feeds exactly these values to the original model)."""
    detail = {"dtype": dtype, "quantization": (float(scale), int(zero_point))}
    table = input_table(spec, detail)
    return normalize(np.arange(256, dtype=np.uint8), spec) if table is None else table


# ------------------------------------------------------------------ flatbuffer editing


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


def _opcode(model, builtin: int, version: int) -> int:
    """Index of (builtin, version) in the model's operator codes, added when missing."""
    schema = _schema()
    from ai_edge_litert.tools.flatbuffer_utils import get_builtin_code_from_operator_code

    for i, code in enumerate(model.operatorCodes):
        if get_builtin_code_from_operator_code(code) == builtin and code.version == version:
            return i
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)  # codes above 127 live in builtinCode only
    code.version = version
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _add_tensor(model, subgraph, name, shape, ttype, data=None, quant=None) -> int:
    schema = _schema()
    t = schema.TensorT()
    t.name = name
    t.shape = list(shape)
    t.type = ttype
    t.buffer = 0  # buffer 0 is the empty sentinel: an activation
    if data is not None:
        buf = schema.BufferT()
        buf.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
        model.buffers.append(buf)
        t.buffer = len(model.buffers) - 1
    if quant is not None:
        q = schema.QuantizationParametersT()
        q.scale, q.zeroPoint = [float(quant[0])], [int(quant[1])]
        t.quantization = q
    subgraph.tensors.append(t)
    return len(subgraph.tensors) - 1


def _op(model, builtin: int, version: int, inputs, outputs, options_type=0, options=None):
    schema = _schema()
    op = schema.OperatorT()
    op.opcodeIndex = _opcode(model, builtin, version)
    op.inputs, op.outputs = list(inputs), list(outputs)
    op.builtinOptionsType, op.builtinOptions = options_type, options
    return op


def _retarget_signatures(model, old: int, new: int, inputs: bool) -> None:
    for sig in model.signatureDefs or []:
        for entry in (sig.inputs if inputs else sig.outputs) or []:
            if entry.tensorIndex == old:
                entry.tensorIndex = new


def add_client_input(content: bytes, spec: PreprocessSpec) -> bytes:
    """The model with a uint8 raw-pixel input (crop + normalisation in-graph) and float output.

    `content` is a converted edge-detect classifier (one [1, H, W, 3] int8 or float32 input, one
    probabilities output), `spec` the preprocessing it was trained with (its bundle's).
    """
    from ai_edge_litert.tools import flatbuffer_utils

    from .tflite_metadata import strip_associated_files

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(strip_associated_files(content)))
    sg = _single_subgraph(model)
    shape = _checked_network_input(sg, spec)
    plan = crop_plan(spec)
    lookup = _normalization_lookup(sg.tensors[sg.inputs[0]], spec)
    _prepend_pixel_input(model, sg, plan, shape, lookup)
    _append_float_output(model, sg)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _single_subgraph(model):
    """The one subgraph of a classifier with one input and one output tensor."""
    if len(model.subgraphs) != 1:
        raise ModelError(f"expected one subgraph, got {len(model.subgraphs)}")
    sg = model.subgraphs[0]
    if len(sg.inputs) != 1 or len(sg.outputs) != 1:
        raise ModelError("expected one input and one output tensor")
    return sg


def _checked_network_input(sg, spec: PreprocessSpec) -> list[int]:
    """The network input's shape, once it is known to be [1, H, W, 3] of the spec's size and not
    already the client input."""
    T = _schema().TensorType
    net_in = sg.tensors[sg.inputs[0]]
    shape = [int(s) for s in net_in.shape]
    if net_in.type == T.UINT8 or net_in.name == NETWORK_INPUT_NAME.encode():
        raise ModelError("model already takes client input (uint8 pixels)")
    if len(shape) != 4 or shape[0] != 1 or shape[3] != 3 or shape[1:3] != [spec.height, spec.width]:
        raise ModelError(
            f"model input {shape} does not match its spec {spec.height}x{spec.width}x3"
        )
    return shape


@dataclass(frozen=True)
class _Lookup:
    """The 256-entry pixel -> network input table, in the network input's type."""

    table: np.ndarray
    quant: tuple[float, int] | None
    gather_version: int  # GATHER with int8 data needs version 2


def _normalization_lookup(net_in, spec: PreprocessSpec) -> _Lookup:
    T = _schema().TensorType
    if net_in.type == T.INT8:
        q = net_in.quantization
        table = pixel_table(spec, np.int8, q.scale[0], q.zeroPoint[0])
        return _Lookup(table, (q.scale[0], q.zeroPoint[0]), 2)
    if net_in.type == T.FLOAT32:
        return _Lookup(pixel_table(spec, np.float32, 0, 0), None, 1)
    raise ModelError(f"unsupported model input type {net_in.type} (int8 or float32 expected)")


def _prepend_pixel_input(model, sg, plan, shape: list[int], lookup: _Lookup) -> None:
    """uint8 pixels -> [SLICE (the crop)] -> CAST to int32 -> GATHER from the table -> the old
    network input, which stays in the graph under NETWORK_INPUT_NAME."""
    schema = _schema()
    T, Op, Opt = schema.TensorType, schema.BuiltinOperator, schema.BuiltinOptions
    old_in = sg.inputs[0]
    net_in = sg.tensors[old_in]
    net_in.name = NETWORK_INPUT_NAME
    net_in.shapeSignature = None
    side = plan.client_size
    pixels = _add_tensor(model, sg, INPUT_NAME, [1, side, side, 3], T.UINT8, quant=(1.0, 0))
    ops = []
    src = pixels
    if plan.offset or plan.size != side:
        begin = _add_tensor(
            model,
            sg,
            "crop_begin",
            [4],
            T.INT32,
            np.array([0, plan.offset, plan.offset, 0], np.int32),
        )
        size = _add_tensor(
            model, sg, "crop_size", [4], T.INT32, np.array([1, plan.size, plan.size, 3], np.int32)
        )
        src = _add_tensor(model, sg, "image_cropped", shape, T.UINT8, quant=(1.0, 0))
        ops.append(
            _op(
                model,
                Op.SLICE,
                1,
                [pixels, begin, size],
                [src],
                Opt.SliceOptions,
                schema.SliceOptionsT(),
            )
        )
    indices = _add_tensor(model, sg, "pixel_indices", shape, T.INT32)
    cast = schema.CastOptionsT()
    cast.inDataType, cast.outDataType = T.UINT8, T.INT32
    ops.append(_op(model, Op.CAST, 1, [src], [indices], Opt.CastOptions, cast))
    table = lookup.table
    ttype = T.INT8 if table.dtype == np.int8 else T.FLOAT32
    lut = _add_tensor(model, sg, "normalization_table", [256], ttype, table, lookup.quant)
    gather = schema.GatherOptionsT()
    gather.axis, gather.batchDims = 0, 0
    ops.append(
        _op(
            model,
            Op.GATHER,
            lookup.gather_version,
            [lut, indices],
            [old_in],
            Opt.GatherOptions,
            gather,
        )
    )
    sg.operators = ops + list(sg.operators)
    sg.inputs = [pixels]
    _retarget_signatures(model, old_in, pixels, inputs=True)


def _append_float_output(model, sg) -> None:
    """An int8 output gets a DEQUANTIZE to float probabilities; a float one stays as it is."""
    schema = _schema()
    T, Op, Opt = schema.TensorType, schema.BuiltinOperator, schema.BuiltinOptions
    old_out = sg.outputs[0]
    out_t = sg.tensors[old_out]
    if out_t.type == T.INT8:
        out_t.name = OUTPUT_NAME + "_int8"
        out_t.shapeSignature = None
        probs = _add_tensor(model, sg, OUTPUT_NAME, list(out_t.shape), T.FLOAT32)
        sg.operators.append(
            _op(
                model,
                Op.DEQUANTIZE,
                2,
                [old_out],
                [probs],
                Opt.DequantizeOptions,
                schema.DequantizeOptionsT(),
            )
        )
        sg.outputs = [probs]
        _retarget_signatures(model, old_out, probs, inputs=False)
    elif out_t.type != T.FLOAT32:
        raise ModelError(f"unsupported model output type {out_t.type} (int8 or float32 expected)")
