"""A one-op .tflite (float32 -> QUANTIZE -> int8/uint8), written with LiteRT's own flatbuffer
schema (no TensorFlow): the interpreter's QUANTIZE output is the reference that the runtime's
input table (edge_runtime.detector.input_table) is checked and measured against."""

from __future__ import annotations

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

_TYPES = {np.int8: schema.TensorType.INT8, np.uint8: schema.TensorType.UINT8}


def quantize_op_model(scale: float, zero_point: int, dtype, n: int = 256) -> bytes:
    """A .tflite whose only op is QUANTIZE: float32[1, n] -> dtype[1, n] (scale, zero_point)."""
    s = schema
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.QUANTIZE
    code.version = 1
    x = s.TensorT()
    x.shape, x.type, x.name, x.buffer = [1, n], s.TensorType.FLOAT32, b"x", 0
    q = s.TensorT()
    q.shape, q.type, q.name, q.buffer = [1, n], _TYPES[dtype], b"q", 0
    q.quantization = s.QuantizationParametersT()
    q.quantization.scale, q.quantization.zeroPoint = [scale], [zero_point]
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1]
    graph = s.SubGraphT()
    graph.tensors, graph.inputs, graph.outputs, graph.operators = [x, q], [0], [1], [op]
    model = s.ModelT()
    model.version, model.operatorCodes, model.subgraphs = 3, [code], [graph]
    model.buffers = [s.BufferT()]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def tflite_quantize(scale: float, zero_point: int, dtype, values: np.ndarray, resolver=None):
    """The interpreter's QUANTIZE of float values (1-D) with this scale / zero point / type."""
    from ai_edge_litert.interpreter import Interpreter

    kwargs = {} if resolver is None else {"experimental_op_resolver_type": resolver}
    it = Interpreter(
        model_content=quantize_op_model(scale, zero_point, dtype, values.size),
        num_threads=1,
        **kwargs,
    )
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], values.reshape(1, -1).astype(np.float32))
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]).reshape(-1)
