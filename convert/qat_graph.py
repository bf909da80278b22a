"""Carry a Keras 3 model's architecture and weights over to tf_keras (for QAT).

tensorflow-model-optimization only quantizes tf_keras models, and tf_keras cannot read a Keras 3
file. So the Keras 3 side writes a flat layer list (nested models such as an
applications.MobileNet base are inlined, since tfmot rejects nested models) plus the weights per
layer, and the tf_keras side (in its own process) rebuilds the same graph layer by layer, by name.
No TensorFlow import here: `export_graph` needs a live Keras 3 model, `rebuild` a tf_keras module.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np

GRAPH_FORMAT = "edge-detect-flat-graph/1"
# Base-layer keyword arguments every tf_keras layer accepts beyond its own signature.
_BASE_KWARGS = {"name", "trainable", "dtype"}


class GraphError(Exception):
    """The model uses something the flat-graph transfer cannot carry (shared layers, ...)."""


def _is_model(op) -> bool:
    return hasattr(op, "operations") and hasattr(op, "inputs") and hasattr(op, "outputs")


def export_graph(model) -> tuple[dict[str, Any], dict[str, list[np.ndarray]]]:
    """Keras 3 functional/sequential model -> (flat graph description, weights by layer name)."""
    layers: list[dict[str, Any]] = []
    weights: dict[str, list[np.ndarray]] = {}
    if len(model.inputs) != 1:
        raise GraphError("only single-input models can be carried over")
    in_tensor = model.inputs[0]
    input_name = in_tensor.name if isinstance(in_tensor.name, str) else "image"
    # The input layer's own name (what the signature is called) when there is one.
    for op in model.operations:
        if type(op).__name__ == "InputLayer":
            input_name = op.name
            break
    outputs = _flatten(model, [input_name], layers, weights)
    graph = {
        "format": GRAPH_FORMAT,
        "input": {"name": input_name, "shape": [int(s) for s in in_tensor.shape[1:]]},
        "layers": layers,
        "outputs": outputs,
    }
    return graph, weights


def _flatten(model, input_producers: list[str], layers: list, weights: dict) -> list[str]:
    tensor_map: dict[int, str] = {id(t): p for t, p in zip(model.inputs, input_producers)}
    pending = [op for op in model.operations if type(op).__name__ != "InputLayer"]
    while pending:
        progressed = False
        for op in list(pending):
            nodes = [
                n
                for n in op._inbound_nodes
                if n.input_tensors and all(id(t) in tensor_map for t in n.input_tensors)
            ]
            if not nodes:
                continue
            if len(nodes) > 1:
                raise GraphError(
                    f"layer {op.name!r} is used more than once (shared layers are not supported)"
                )
            node = nodes[0]
            ins = [tensor_map[id(t)] for t in node.input_tensors]
            if _is_model(op):
                outs = _flatten(op, ins, layers, weights)
            else:
                if op.name in weights:
                    raise GraphError(f"two layers are named {op.name!r}; names must be unique")
                layers.append(
                    {
                        "name": op.name,
                        "class_name": type(op).__name__,
                        "config": _plain(op.get_config()),
                        "inbound": ins,
                    }
                )
                weights[op.name] = [np.asarray(w) for w in op.get_weights()]
                outs = [op.name]
            if len(outs) != len(node.output_tensors):
                raise GraphError(f"layer {op.name!r} has several outputs (not supported)")
            for t, o in zip(node.output_tensors, outs):
                tensor_map[id(t)] = o
            pending.remove(op)
            progressed = True
        if not progressed:
            raise GraphError("cannot order the model's layers (disconnected or shared layers)")
    return [tensor_map[id(t)] for t in model.outputs]


def _plain(value):
    """JSON-friendly copy of a layer config (tuples become lists)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def save_graph(
    graph: dict[str, Any], weights: dict[str, list[np.ndarray]], folder: Path
) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    graph_path = folder / "graph.json"
    weights_path = folder / "weights.npz"
    graph_path.write_text(json.dumps(graph), "utf-8")
    flat = {f"{name}::{i}": w for name, ws in weights.items() for i, w in enumerate(ws)}
    np.savez(weights_path, **flat)
    return graph_path, weights_path


def load_graph(
    graph_path: Path, weights_path: Path
) -> tuple[dict[str, Any], dict[str, list[np.ndarray]]]:
    graph = json.loads(Path(graph_path).read_text("utf-8"))
    if graph.get("format") != GRAPH_FORMAT:
        raise GraphError(f"{graph_path}: not a {GRAPH_FORMAT} file")
    weights: dict[str, list[np.ndarray]] = {}
    with np.load(weights_path) as data:
        keyed = sorted(
            (k.rsplit("::", 1)[0], int(k.rsplit("::", 1)[1]), data[k]) for k in data.files
        )
        for name, _, w in keyed:
            weights.setdefault(name, []).append(w)
    return graph, weights


def _layer_kwargs(cls, config: dict[str, Any]) -> dict[str, Any]:
    """Keep what the tf_keras layer understands; weights come separately, so initializers,
    regularizers and constraints are dropped, and the dtype is plain float32."""
    accepted = set(inspect.signature(cls.__init__).parameters) | _BASE_KWARGS
    out = {}
    for key, value in config.items():
        if key.endswith(("_initializer", "_regularizer", "_constraint")) or key not in accepted:
            continue
        if key == "dtype":
            value = "float32"
        if key == "activation" and not isinstance(value, str):
            raise GraphError(f"layer {config.get('name')!r}: non-builtin activation {value!r}")
        out[key] = value
    return out


def rebuild(graph: dict[str, Any], weights: dict[str, list[np.ndarray]], tf_keras) -> Any:
    """The same graph as a tf_keras functional model, weights set layer by layer by name."""
    inp = tf_keras.Input(shape=tuple(graph["input"]["shape"]), name=graph["input"]["name"])
    tensors = {graph["input"]["name"]: inp}
    for entry in graph["layers"]:
        cls = getattr(tf_keras.layers, entry["class_name"], None)
        if cls is None:
            raise GraphError(
                f"layer {entry['name']!r}: tf_keras has no layer {entry['class_name']}"
            )
        try:
            layer = cls(**_layer_kwargs(cls, entry["config"]))
        except (TypeError, ValueError) as e:
            raise GraphError(f"layer {entry['name']!r} ({entry['class_name']}): {e}") from None
        ins = [tensors[n] for n in entry["inbound"]]
        tensors[entry["name"]] = layer(ins[0] if len(ins) == 1 else ins)
        w = weights.get(entry["name"], [])
        if len(w) != len(layer.weights):
            raise GraphError(
                f"layer {entry['name']!r}: {len(w)} weight "
                f"arrays for {len(layer.weights)} variables"
            )
        if w:
            layer.set_weights(w)
    outputs = [tensors[n] for n in graph["outputs"]]
    return tf_keras.Model(inp, outputs[0] if len(outputs) == 1 else outputs)
