"""Facts about a .tflite file read straight from its flatbuffer (no TensorFlow, no interpreter).

Used by `edge-detect info` and by convert/ (minimum runtime version, op versions, tensor types).
The model schema is the generated reader that ships inside ai_edge_litert.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .bundle import check_tflite_bytes
from .types import ModelError

# Metadata entry names the TFLite converter / metadata populator write into Model.metadata.
MIN_RUNTIME_VERSION_KEY = "min_runtime_version"
TFLITE_METADATA_KEY = "TFLITE_METADATA"  # TFLite Support model metadata (file identifier M001)

_TYPE_NAMES: dict[int, str] | None = None
_OP_NAMES: dict[int, str] | None = None


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError as e:
        raise ModelError(
            f"cannot read .tflite structure: ai_edge_litert's model schema is not importable ({e})"
        ) from None
    return schema


def _names(cls) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def type_name(code: int) -> str:
    """A TensorType code -> its name (FLOAT32, INT8, ...)."""
    global _TYPE_NAMES
    if _TYPE_NAMES is None:
        _TYPE_NAMES = _names(_schema().TensorType)
    return _TYPE_NAMES.get(code, f"TYPE_{code}").lower()


def op_name(code: int) -> str:
    """A BuiltinOperator code -> its name (CONV_2D, ...)."""
    global _OP_NAMES
    if _OP_NAMES is None:
        _OP_NAMES = _names(_schema().BuiltinOperator)
    return _OP_NAMES.get(code, f"BUILTIN_{code}")


def _buffer_bytes(model, content: bytes, index: int) -> bytes:
    """A buffer's bytes, inline or (for large models) stored after the flatbuffer by offset."""
    buf = model.Buffers(index)
    if buf is None:
        return b""
    offset, size = int(buf.Offset()), int(buf.Size())
    if offset > 1:
        return bytes(content[offset : offset + size])
    if buf.DataLength() == 0:
        return b""
    return buf.DataAsNumpy().tobytes()


def metadata_buffers(content: bytes) -> dict[str, bytes]:
    """The metadata entries (name -> raw bytes), e.g. min_runtime_version, TFLITE_METADATA."""
    model = read_model(content, "<model>")
    return _metadata(model, content)


def _metadata(model, content: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        name = (entry.Name() or b"").decode("utf-8", "replace")
        out[name] = _buffer_bytes(model, content, int(entry.Buffer()))
    return out


def read_model(content: bytes, name: str):
    """The flatbuffer's Model object (ai_edge_litert's schema); ModelError if it is not one."""
    check_tflite_bytes(content, name)
    schema = _schema()
    try:
        return schema.Model.GetRootAs(content, 0)
    except Exception as e:  # noqa: BLE001 - a corrupt flatbuffer must become one line
        raise ModelError(f"{name}: cannot parse the TFLite flatbuffer ({e})") from None


def _tensor_facts(subgraph, index: int) -> dict[str, Any]:
    t = subgraph.Tensors(int(index))
    q = t.Quantization()
    scale: list[float] = []
    zero: list[int] = []
    if q is not None and q.ScaleLength():
        scale = [float(s) for s in q.ScaleAsNumpy()]
        zero = [int(z) for z in q.ZeroPointAsNumpy()] if q.ZeroPointLength() else []
    shape = [int(s) for s in t.ShapeAsNumpy()] if t.ShapeLength() else []
    return {
        "name": (t.Name() or b"").decode("utf-8", "replace"),
        "dtype": type_name(t.Type()),
        "shape": shape,
        "quantization": {"scale": scale, "zero_point": zero},
    }


def read_model_facts(content: bytes, name: str = "<model>") -> dict[str, Any]:
    """ops (name -> highest version used), min_runtime_version, inputs/outputs of subgraph 0.

    Raises ModelError (one line) when the bytes are not a parseable .tflite.
    """
    model = read_model(content, name)
    try:
        ops: dict[str, int] = {}
        for i in range(model.OperatorCodesLength()):
            oc = model.OperatorCodes(i)
            # Codes above 127 live in builtin_code; older files only fill the deprecated byte.
            code = max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode()))
            op = op_name(code)
            if op == "CUSTOM":
                op = "CUSTOM:" + (oc.CustomCode() or b"").decode("utf-8", "replace")
            ops[op] = max(ops.get(op, 0), int(oc.Version()))
        meta = _metadata(model, content)
        raw_version = meta.get(MIN_RUNTIME_VERSION_KEY, b"")
        # Stored as a fixed 16-byte, NUL-padded ASCII string.
        min_runtime = raw_version.split(b"\0", 1)[0].decode("ascii", "replace") or None
        inputs: list[dict[str, Any]] = []
        outputs: list[dict[str, Any]] = []
        if model.SubgraphsLength():
            sg = model.Subgraphs(0)
            inputs = [_tensor_facts(sg, i) for i in np.atleast_1d(sg.InputsAsNumpy())]
            outputs = [_tensor_facts(sg, i) for i in np.atleast_1d(sg.OutputsAsNumpy())]
        return {
            "schema_version": int(model.Version()),
            "ops": dict(sorted(ops.items())),
            "min_runtime_version": min_runtime,
            "metadata_names": sorted(meta),
            "inputs": inputs,
            "outputs": outputs,
            "size_bytes": len(content),
        }
    except ModelError:
        raise
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"{name}: malformed TFLite flatbuffer ({type(e).__name__}: {e})") from None


# Builtin op codes (schema.fbs BuiltinOperator; tests check them against the generated schema).
OP_LOGISTIC, OP_SOFTMAX = 14, 25
# Ops that only change an output's type or shape, not what its values mean.
_PASS_THROUGH_OPS = {6: "DEQUANTIZE", 22: "RESHAPE", 43: "SQUEEZE", 53: "CAST", 114: "QUANTIZE"}


def output_op(content: bytes) -> int | None:
    """Builtin code of the op that computes subgraph 0's first output, seen through ops that only
    change type or shape (e.g. SOFTMAX behind a DEQUANTIZE); -1 when no op produces it.

    Read with the bare `flatbuffers` runtime rather than the generated schema, whose import costs
    about 8 ms of every cold start. None when flatbuffers is not installed (a tflite_runtime-only
    install) or the file cannot be walked; callers then skip the check.
    """
    try:
        from flatbuffers import encode, number_types
        from flatbuffers.table import Table
    except ImportError:
        return None
    u32, i32, i8 = number_types.UOffsetTFlags, number_types.Int32Flags, number_types.Int8Flags

    def field(tab: Table, slot: int) -> int:
        return tab.Offset(4 + 2 * slot)

    def table_vector(tab: Table, slot: int) -> list[Table]:
        o = field(tab, slot)
        if not o:
            return []
        start = tab.Vector(o)
        return [Table(tab.Bytes, tab.Indirect(start + 4 * j)) for j in range(tab.VectorLen(o))]

    def int_vector(tab: Table, slot: int) -> list[int]:
        o = field(tab, slot)
        if not o:
            return []
        start = tab.Vector(o)
        return [int(tab.Get(i32, start + 4 * j)) for j in range(tab.VectorLen(o))]

    def scalar(tab: Table, slot: int, flags) -> int:
        o = field(tab, slot)
        return int(tab.Get(flags, o + tab.Pos)) if o else 0

    try:
        model = Table(content, encode.Get(u32.packer_type, content, 0))
        codes = [
            # Codes above 127 live in builtin_code (slot 3); older files fill only slot 0.
            max(scalar(oc, 0, i8), scalar(oc, 3, i32))
            for oc in table_vector(model, 1)  # Model.operator_codes
        ]
        subgraph = table_vector(model, 2)[0]  # Model.subgraphs
        produced_by = {}
        for op in table_vector(subgraph, 3):  # SubGraph.operators
            for t in int_vector(op, 2):  # Operator.outputs
                produced_by[t] = (codes[scalar(op, 0, u32)], int_vector(op, 1))
        tensor = int_vector(subgraph, 2)[0]  # SubGraph.outputs
        for _ in range(len(produced_by) + 1):
            if tensor not in produced_by:
                return -1
            code, inputs = produced_by[tensor]
            if code not in _PASS_THROUGH_OPS or not inputs:
                return code
            tensor = inputs[0]
    except Exception:  # noqa: BLE001 - the interpreter has already accepted the file
        return None
    return None
