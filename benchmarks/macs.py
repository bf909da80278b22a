"""Multiply-accumulates of a .tflite model, counted from its flatbuffer (tensor shapes only).

Counts the three ops that hold nearly all of a MobileNet's arithmetic:
  CONV_2D            out[N,Ho,Wo,Co] x filter[Co,Kh,Kw,Ci]  -> N*Ho*Wo*Co * Kh*Kw*Ci
  DEPTHWISE_CONV_2D  out[N,Ho,Wo,C]  x filter[1,Kh,Kw,C]    -> N*Ho*Wo*C * Kh*Kw
  FULLY_CONNECTED    out[..., U]     x weights[U, I]        -> (out elements) * I
Everything else (pooling, activations, quantize/dequantize, softmax) is ignored; for MobileNet it
is well under 1% of the total. The flatbuffer is read by edge_runtime.inspect_model's reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge_runtime.inspect_model import op_name, read_model, type_name
from edge_runtime.types import ModelError

COUNTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@dataclass
class MacCount:
    total: int = 0
    by_op: dict[str, int] = field(default_factory=dict)  # op name -> MACs
    layers: int = 0  # number of counted operators
    by_weight_type: dict[str, int] = field(default_factory=dict)  # weight dtype -> MACs


def _shape(subgraph, index: int) -> list[int]:
    t = subgraph.Tensors(int(index))
    shape = [int(s) for s in t.ShapeAsNumpy()] if t.ShapeLength() else []
    # A dynamic batch (-1) runs as one image.
    return [1 if s < 0 else s for s in shape]


def op_macs(op: str, filter_shape: list[int], output_shape: list[int]) -> int:
    """MACs of one operator from its weight/filter and output shapes (0 for uncounted ops)."""
    out = int(np.prod(output_shape, dtype=np.int64)) if output_shape else 0
    if op == "CONV_2D":
        # Output already holds N*Ho*Wo*Co; each output element sums Kh*Kw*Ci products.
        _, kh, kw, ci = filter_shape
        return out * kh * kw * ci
    if op == "DEPTHWISE_CONV_2D":
        _, kh, kw, _ = filter_shape
        return out * kh * kw  # depth multiplier is folded into the output channels
    if op == "FULLY_CONNECTED":
        return out * filter_shape[-1]
    return 0


def count_macs(content: bytes, name: str = "<model>") -> MacCount:
    """MACs of one inference of subgraph 0. Raises ModelError for an unparseable file."""
    model = read_model(content, name)
    try:
        codes = []
        for i in range(model.OperatorCodesLength()):
            oc = model.OperatorCodes(i)
            codes.append(op_name(max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode()))))
        result = MacCount()
        if not model.SubgraphsLength():
            return result
        sg = model.Subgraphs(0)
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            name_ = codes[op.OpcodeIndex()]
            if name_ not in COUNTED_OPS:
                continue
            inputs = op.InputsAsNumpy()
            outputs = op.OutputsAsNumpy()
            macs = op_macs(name_, _shape(sg, inputs[1]), _shape(sg, outputs[0]))
            wtype = type_name(sg.Tensors(int(inputs[1])).Type())
            result.by_weight_type[wtype] = result.by_weight_type.get(wtype, 0) + macs
            result.total += macs
            result.by_op[name_] = result.by_op.get(name_, 0) + macs
            result.layers += 1
        return result
    except ModelError:
        raise
    except Exception as e:  # noqa: BLE001 - a malformed file must become one line
        raise ModelError(f"{name}: cannot count MACs ({type(e).__name__}: {e})") from None
