"""The model to convert: a train run folder (model.keras + config.json) or a bare .keras file.

Everything here is checked before any conversion work starts, and every problem is one line.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edge_runtime.types import LABELS, ModelError, PreprocessSpec

RUN_MODEL_NAME = "model.keras"
RUN_CONFIG_NAME = "config.json"
# Files of a run folder that may carry the chosen decision threshold (first found wins).
THRESHOLD_FILES = ("config.json", "threshold.json", "metrics.json", "summary.json")


@dataclass
class ModelSource:
    """Where the Keras model comes from and what its run says about using it."""

    model_path: Path
    run_dir: Path | None
    preprocess: PreprocessSpec
    preprocess_source: str  # "run config.json" or "defaults"
    threshold: float
    threshold_source: str
    training_run: str
    config: dict[str, Any] = field(default_factory=dict)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: unreadable JSON ({e})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return data


def _find_threshold(run_dir: Path, config: dict[str, Any]) -> tuple[float, str] | None:
    for name in THRESHOLD_FILES:
        data = config if name == RUN_CONFIG_NAME else None
        if data is None:
            p = run_dir / name
            if not p.is_file():
                continue
            try:
                data = _read_json(p)
            except ModelError:
                continue
        for key in ("threshold", "decision_threshold"):
            value = data.get(key)
            if isinstance(value, (int, float)) and 0.0 <= float(value) <= 1.0:
                return float(value), f"{run_dir / name}:{key}"
    return None


def resolve_source(path: str | Path) -> ModelSource:
    """A run folder or .keras/.h5 path -> ModelSource (no TensorFlow import yet)."""
    p = Path(path)
    if not p.exists():
        raise ModelError(f"{p}: no such run folder or model file")
    run_dir: Path | None = None
    config: dict[str, Any] = {}
    if p.is_dir():
        run_dir = p
        model_path = p / RUN_MODEL_NAME
        if not model_path.is_file():
            raise ModelError(f"{p}: run folder without {RUN_MODEL_NAME}")
        if (p / RUN_CONFIG_NAME).is_file():
            config = _read_json(p / RUN_CONFIG_NAME)
    else:
        model_path = p
        # A model file inside a run folder still gets its run's preprocessing and threshold.
        if (p.parent / RUN_CONFIG_NAME).is_file() and p.name == RUN_MODEL_NAME:
            run_dir = p.parent
            config = _read_json(p.parent / RUN_CONFIG_NAME)
    check_model_file(model_path)
    spec_fields = config.get("preprocess", config)
    if isinstance(spec_fields, dict) and any(
        k in spec_fields for k in PreprocessSpec.__dataclass_fields__
    ):
        spec, spec_source = PreprocessSpec.from_dict(spec_fields), f"{run_dir / RUN_CONFIG_NAME}"
    else:
        spec, spec_source = PreprocessSpec(), "defaults"
    threshold, threshold_source = 0.5, "default"
    if run_dir is not None:
        found = _find_threshold(run_dir, config)
        if found:
            threshold, threshold_source = found
    training_run = str(
        config.get("run_name")
        or config.get("run_id")
        or (run_dir.name if run_dir else model_path.stem)
    )
    return ModelSource(
        model_path=model_path,
        run_dir=run_dir,
        preprocess=spec,
        preprocess_source=spec_source,
        threshold=threshold,
        threshold_source=threshold_source,
        training_run=training_run,
        config=config,
    )


def check_model_file(path: Path) -> None:
    """Cheap checks that need no TensorFlow: readable, and a .keras file is a Keras zip."""
    if path.is_dir():
        raise ModelError(f"{path}: is a directory, expected a .keras model file")
    try:
        size = path.stat().st_size
    except OSError as e:
        raise ModelError(f"{path}: cannot read model ({e.strerror or e})") from None
    if size == 0:
        raise ModelError(f"{path}: empty file (0 bytes), not a Keras model")
    suffix = path.suffix.lower()
    if suffix == ".keras":
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
        except (zipfile.BadZipFile, OSError):
            raise ModelError(
                f"{path}: not a Keras model (a .keras file is a zip archive)"
            ) from None
        if "config.json" not in names:
            raise ModelError(f"{path}: not a Keras model (zip without config.json)")
    elif suffix not in (".h5", ".hdf5"):
        raise ModelError(f"{path}: not a Keras model file (expected .keras, or legacy .h5)")


def load_keras_model(source: ModelSource):
    """Load the model (Keras 3) and check its interface: one HxWx3 image input -> 2 probabilities."""
    import keras

    path = source.model_path
    try:
        model = keras.saving.load_model(str(path), compile=False)
    except Exception as e:  # noqa: BLE001 - any loader failure is one line about this file
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelError(f"{path}: cannot load as a Keras model ({first})") from None
    check_interface(model, str(path))
    return model


def check_interface(model, name: str) -> tuple[int, int]:
    """(height, width) of a model with one [None, H, W, 3] input and one [None, 2] output."""
    inputs, outputs = list(model.inputs), list(model.outputs)
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(
            f"{name}: expected 1 image input and 1 output, got {len(inputs)} inputs and {len(outputs)} outputs"
        )
    in_shape = tuple(inputs[0].shape)
    out_shape = tuple(outputs[0].shape)
    if len(in_shape) != 4 or in_shape[3] != 3 or None in in_shape[1:3]:
        raise ModelError(f"{name}: input shape {list(in_shape)} is not [batch, H, W, 3]")
    if len(out_shape) != 2 or out_shape[1] != len(LABELS):
        raise ModelError(
            f"{name}: output shape {list(out_shape)} is not [batch, {len(LABELS)}] "
            f"(softmax over {', '.join(LABELS)})"
        )
    return int(in_shape[1]), int(in_shape[2])


def fit_spec(source: ModelSource, height: int, width: int) -> PreprocessSpec:
    """The preprocessing spec with the model's input size; a run spec that disagrees is an error."""
    spec = source.preprocess
    if (spec.height, spec.width) == (height, width):
        return spec
    if source.preprocess_source != "defaults":
        raise ModelError(
            f"{source.model_path}: model input {height}x{width} does not match its run's "
            f"preprocessing ({spec.height}x{spec.width} in {source.preprocess_source})"
        )
    return replace(spec, height=height, width=width)
