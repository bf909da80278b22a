"""What `edge-detect info` shows: flatbuffer facts + bundle metadata + whether the backend loads it.

The flatbuffer facts (tensors, ops, minimum runtime version) come from inspect_model.py, which
reads the .tflite with ai_edge_litert's bundled schema, no TensorFlow.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from .bundle import load_bundle
from .interpreter import load_backend, make_interpreter
from .types import EdgeDetectError, ModelError


@dataclass
class ModelReport:
    path: str
    size_bytes: int
    sha256: str
    has_bundle_metadata: bool
    bundle: dict[str, Any]  # BundleInfo.to_dict(): labels, input size, normalisation, variant, ...
    backend: str  # "name version" of the interpreter that would run it
    loads: bool  # whether that backend accepts the model
    load_error: str = ""
    facts: dict[str, Any] = field(default_factory=dict)  # inspect_model.read_model_facts()
    facts_error: str = ""  # why facts is empty (no schema module available)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def model_report(model: str | os.PathLike, backend: str | None = None) -> ModelReport:
    """Raises ModelError for a missing, non-TFLite or unparseable model file."""
    bundle = load_bundle(model)  # existence, TFL3 identifier, sha256 against the sidecar
    from . import inspect_model

    facts: dict[str, Any] = {}
    facts_error = ""
    try:
        import ai_edge_litert.schema_py_generated  # noqa: F401 - inspect_model reads with it
    except ImportError as e:
        # A tflite_runtime-only install has no schema module: the rest of the report still works.
        facts_error = f"op list unavailable: ai_edge_litert's model schema is not importable ({e})"
    else:
        facts = inspect_model.read_model_facts(bundle.content, str(bundle.path))
        if not facts.get("inputs") or not facts.get("outputs"):
            # The Python flatbuffer reader does not verify: garbage after a TFL3 identifier
            # reads as an empty model. A usable model always has a graph with inputs and outputs.
            raise ModelError(
                f"{bundle.path}: not a valid TFLite model "
                "(no graph inputs/outputs in the flatbuffer)"
            )
    try:
        be = load_backend(backend)
        backend_text = be.describe()
    except EdgeDetectError as e:
        be, backend_text = None, f"none ({e})"
    report = ModelReport(
        path=str(bundle.path),
        size_bytes=bundle.size_bytes,
        sha256=bundle.info.sha256,
        has_bundle_metadata=bundle.has_metadata,  # sidecar or packed bundle.json
        bundle=bundle.info.to_dict(),
        backend=backend_text,
        loads=False,
        facts=facts,
        facts_error=facts_error,
    )
    if be is not None:
        try:
            make_interpreter(bundle.content, 1, be, str(bundle.path))
            report.loads = True
        except ModelError as e:
            report.load_error = str(e)
    return report


def _tensor_line(t: dict[str, Any]) -> str:
    line = f"{t.get('name') or '?'}  {t['dtype']}  {t['shape']}"
    q = t.get("quantization") or {}
    scale, zero = q.get("scale") or [], q.get("zero_point") or []
    if len(scale) == 1:
        line += f"  quantized: scale {scale[0]:.6g}, zero point {zero[0] if zero else 0}"
    elif scale:
        line += f"  quantized per channel ({len(scale)} scales)"
    return line


def format_report(r: ModelReport) -> list[str]:
    """Readable lines for the terminal."""
    lines = [
        f"model:               {r.path}",
        f"size:                {r.size_bytes:,} bytes ({r.size_bytes / 1e6:.2f} MB)",
        f"sha256:              {r.sha256}",
    ]
    f = r.facts
    if f:
        lines += [
            f"schema version:      {f.get('schema_version')}",
            f"min runtime version: {f.get('min_runtime_version') or '- (not recorded)'}",
        ]
        lines += [f"input:               {_tensor_line(t)}" for t in f.get("inputs", [])]
        lines += [f"output:              {_tensor_line(t)}" for t in f.get("outputs", [])]
        ops = f.get("ops", {})
        # Each op's version is the op kernel's version, not the runtime's: see min runtime above.
        lines.append(f"ops ({len(ops)}, highest op version used):")
        lines += [f"  {name:<28} op version {version}" for name, version in ops.items()]
    else:
        lines.append(f"flatbuffer:          {r.facts_error}")
    loads = "yes" if r.loads else f"NO - {r.load_error}" if r.load_error else "not checked"
    lines += [f"backend:             {r.backend}", f"loads:               {loads}"]
    b = r.bundle
    if not r.has_bundle_metadata:
        lines.append("bundle metadata:     none (plain .tflite; defaults assumed)")
        return lines
    pre = b.get("preprocess", {})
    crop = pre.get("crop")
    if crop == "center":
        crop = f"center {pre.get('crop_fraction')}"
    lines += [
        "bundle metadata:",
        f"  variant:           {b.get('variant')}",
        "  labels:            " + ", ".join(f"{i}={n}" for i, n in enumerate(b.get("labels", []))),
        f"  output:            {b.get('output', 'softmax')} (bundle.check_output)",
        f"  input size:        {pre.get('height')}x{pre.get('width')}",
        f"  normalisation:     (pixel - {pre.get('mean')}) / {pre.get('std')}",
        f"  resize:            {pre.get('resize')}, crop {crop}",
        f"  threshold:         {b.get('threshold')} (fake when fake_probability >= threshold)",
        "  calibration:       "
        + (
            f"temperature {b['calibration']['temperature']:g} (P(fake) = sigmoid(logit(p) / T))"
            if "calibration" in b
            else "none (temperature 1.0)"
        ),
        f"  training run:      {b.get('training_run') or '-'}",
    ]
    if b.get("description"):
        lines.append(f"  description:       {b['description']}")
    for key, value in (b.get("extra") or {}).items():
        lines.append(f"  {key + ':':<18} {value}")
    return lines
