"""The model bundle: a .tflite file plus a `<stem>.bundle.json` sidecar saying how to use it.

The sidecar holds labels (fake = 0, real = 1), input size, normalisation, resize method,
variant, the sha256 of the .tflite and the training run it came from. A plain .tflite without
a sidecar still loads: with the bundle packed inside it when it carries one (the Android assets
hold `bundle.json` among their TFLite metadata files, a zip appended to the flatbuffer), else
with the defaults (MobileNet scaling, the report's labels). Model names (int8, v2-int8, ...)
and the folders searched for them are edge_runtime/registry.py's.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .bundle_schema import (
    OUTPUT_KINDS,
    OUTPUT_LOGITS,
    OUTPUT_SIGMOID,
    OUTPUT_SOFTMAX,
    parse_bundle,
)
from .fileio import atomic_write_bytes, atomic_write_json, sha256_bytes
from .registry import resolve_path
from .types import BundleInfo, ModelError

SIDECAR_SUFFIX = ".bundle.json"
# A model's own copy of its bundle among its TFLite metadata files (no sha256: a file cannot
# hold its own hash). Read when a .tflite is copied without its sidecar.
PACKED_BUNDLE_NAME = "bundle.json"
TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier at bytes 4..8 of every .tflite


@dataclass(frozen=True)
class ModelBundle:
    path: Path
    content: bytes
    info: BundleInfo
    # False for a plain .tflite without a sidecar: `info` then holds assumed defaults, and the
    # model's own input size wins over info.preprocess (PreprocessSpec.fit_input).
    has_metadata: bool = True
    # Keys the bundle left to their documented defaults, unknown keys (bundle_schema): one
    # line each, naming the file and the key; the CLI prints them as warnings.
    warnings: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def size_bytes(self) -> int:
        return len(self.content)


def sidecar_path(tflite_path: str | os.PathLike) -> Path:
    p = Path(tflite_path)
    return p.with_name(p.stem + SIDECAR_SUFFIX)


def check_tflite_bytes(content: bytes, name: str) -> None:
    if len(content) == 0:
        raise ModelError(f"{name}: empty model file (0 bytes)")
    if len(content) < 8 or content[4:8] != TFLITE_IDENTIFIER:
        raise ModelError(f"{name}: not a TFLite model (no TFL3 flatbuffer identifier)")


def load_bundle(model: str | os.PathLike) -> ModelBundle:
    """A registered model name (edge_runtime/registry.py) or a .tflite path -> its bundle."""
    path = resolve_path(model)
    try:
        content = path.read_bytes()
    except OSError as e:
        raise ModelError(f"{path}: cannot read model ({e.strerror or e})") from None
    check_tflite_bytes(content, str(path))
    digest = sha256_bytes(content)
    info, warnings = read_info(path, content)
    # Only a sidecar's hash is checked: a packed copy may carry its source model's.
    if sidecar_path(path).is_file() and info.sha256 and info.sha256 != digest:
        raise ModelError(
            f"{path}: sha256 {digest[:12]}... does not match its bundle metadata "
            f"({info.sha256[:12]}...); the .tflite was replaced without its {SIDECAR_SUFFIX}"
        )
    recorded = info is not None
    if info is None:
        info = BundleInfo(description="plain .tflite without bundle metadata (defaults assumed)")
    return ModelBundle(
        path=path,
        content=content,
        info=replace(info, sha256=digest),
        has_metadata=recorded,
        warnings=tuple(warnings),
    )


def read_info(path: Path, content: bytes | None = None) -> tuple[BundleInfo | None, list[str]]:
    """A model file's recorded facts, checked against the one schema (bundle_schema): its
    sidecar when it has one, else the bundle packed in the .tflite (`content`, read when not
    given), else (None, []): a plain .tflite. The sidecar's sha256 is not checked here."""
    side = sidecar_path(path)
    if side.is_file():
        return _read_sidecar(side)
    if content is None:
        try:
            content = path.read_bytes()
        except OSError as e:
            raise ModelError(f"{path}: cannot read model ({e.strerror or e})") from None
    return packed_info(content, str(path)) or (None, [])


def _read_sidecar(side: Path) -> tuple[BundleInfo, list[str]]:
    try:
        data = json.loads(side.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{side}: unreadable bundle metadata ({e})") from None
    return parse_bundle(data, str(side))


def packed_info(content: bytes, name: str) -> tuple[BundleInfo, list[str]] | None:
    """The bundle packed inside a .tflite's metadata files (and its schema warnings), or None
    when it carries none."""
    import zipfile  # only for a .tflite without its sidecar: keeps it off the cold start

    where = f"{name} (packed {PACKED_BUNDLE_NAME})"
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as packed:
            if PACKED_BUNDLE_NAME not in packed.namelist():
                return None
            data = json.loads(packed.read(PACKED_BUNDLE_NAME))
    except zipfile.BadZipFile:
        return None  # most .tflite files carry no packed files
    except (OSError, ValueError) as e:
        raise ModelError(f"{where}: unreadable ({e})") from None
    return parse_bundle(data, where, packed=True)


def check_output(bundle: ModelBundle, n_values: int) -> str:
    """Refuse (ModelError, one line) a model whose output is not what its bundle declares;
    return the declared kind, which to_probabilities then applies.

    The op that computes the output is read from the flatbuffer: "softmax" needs n = len(labels)
    values from a SOFTMAX, "sigmoid" one value from a LOGISTIC, "logits" anything but those two
    (declaring logits on probabilities would squash them twice). A model with logits or one
    sigmoid value is never read as probabilities silently: its bundle has to say so.
    """
    from .inspect_model import OP_LOGISTIC, OP_SOFTMAX, output_op

    name, info = str(bundle.path), bundle.info
    kind, n_labels = info.output, len(info.labels)
    where = f"its {SIDECAR_SUFFIX}" if bundle.has_metadata else f"a {SIDECAR_SUFFIX} sidecar"
    if kind not in OUTPUT_KINDS:
        raise ModelError(
            f"{name}: bundle metadata declares output {kind!r}; expected one of "
            + ", ".join(OUTPUT_KINDS)
        )
    expected = 1 if kind == OUTPUT_SIGMOID else n_labels
    if n_values != expected and not (kind == OUTPUT_LOGITS and n_values == 1):
        hint = (
            f'; if it is one sigmoid P({info.labels[-1]}), declare "output": "sigmoid" in {where}'
            if n_values == 1
            else ""
        )
        raise ModelError(
            f"{name}: model output has {n_values} values; expected {expected} ({kind} over "
            f"{', '.join(info.labels)}){hint}"
        )
    op = output_op(bundle.content)
    if op is None:  # no flatbuffers module: to_probabilities still range-checks every output
        return kind
    if kind == OUTPUT_SOFTMAX and op != OP_SOFTMAX:
        raise ModelError(
            f"{name}: model output is not probabilities (it does not end in SOFTMAX); "
            f'if it gives logits, declare "output": "logits" in {where}'
        )
    if kind == OUTPUT_SIGMOID and op != OP_LOGISTIC:
        raise ModelError(
            f'{name}: bundle declares "output": "sigmoid" but the model does not end in LOGISTIC'
        )
    if kind == OUTPUT_LOGITS and op in (OP_SOFTMAX, OP_LOGISTIC):
        raise ModelError(
            f'{name}: bundle declares "output": "logits" but the model already ends in '
            f"{'SOFTMAX' if op == OP_SOFTMAX else 'LOGISTIC'} (probabilities)"
        )
    return kind


def to_probabilities(values: np.ndarray, kind: str, name: str) -> np.ndarray:
    """A model's dequantized output values -> class probabilities in labels order."""
    y = np.asarray(values, dtype=np.float32).reshape(-1)
    if kind == OUTPUT_LOGITS:
        if y.size == 1:
            kind, y = OUTPUT_SIGMOID, 1.0 / (1.0 + np.exp(-y))
        else:
            e = np.exp(y - y.max())
            return (e / e.sum()).astype(np.float32)
    if kind == OUTPUT_SIGMOID:
        y = np.array([1.0 - y[0], y[0]], dtype=np.float32)
    # A last guard for backends where check_output could not read the graph.
    if not (np.all(y >= -0.01) and np.all(y <= 1.01)):
        raise ModelError(
            f"{name}: model output {np.round(y, 3).tolist()} is not probabilities; "
            f'if it gives logits, declare "output": "logits" in its {SIDECAR_SUFFIX}'
        )
    return y


def save_bundle(content: bytes, info: BundleInfo, tflite_path: str | os.PathLike) -> ModelBundle:
    """Write the .tflite and its sidecar (each atomically); the sidecar records the sha256."""
    check_tflite_bytes(content, str(tflite_path))
    info = replace(info, sha256=sha256_bytes(content))
    path = atomic_write_bytes(tflite_path, content)
    atomic_write_json(sidecar_path(path), info.to_dict())
    return ModelBundle(path=path, content=content, info=info)
