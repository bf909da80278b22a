"""The model to convert: a train run folder (model.keras + config.json) or a bare .keras file.

Everything here is checked before any conversion work starts, and every problem is one line.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.bundle import OUTPUT_SIGMOID, OUTPUT_SOFTMAX
from edge_runtime.types import DEFAULT_THRESHOLD, FAKE_INDEX, LABELS, ModelError, PreprocessSpec
from workbench.run_folder import MODEL_FILE, RunFolder


@dataclass
class ModelSource:
    """Where the Keras model comes from and what its run says about using it."""

    model_path: Path
    run_dir: Path | None
    preprocess: PreprocessSpec
    preprocess_source: str  # the run's config.json, or "defaults"
    threshold: float
    threshold_source: str
    training_run: str
    data_dir: Path | None = None  # the folder the run trained on, when it still exists
    description: str = ""  # the run's own words for the model (config.json `description`)


def resolve_source(path: str | Path) -> ModelSource:
    """A run folder or .keras/.h5 path -> ModelSource (no TensorFlow import yet).

    What the run says (preprocessing, threshold, data folder) is read by RunFolder's rules.
    """
    p = Path(path)
    if not p.exists():
        raise ModelError(f"{p}: no such run folder or model file")
    if p.is_dir():
        run: RunFolder | None = RunFolder(p)
        model_path = p / MODEL_FILE
        if not model_path.is_file():
            raise ModelError(f"{p}: run folder without {MODEL_FILE}")
    else:
        model_path = p
        # A model file inside a run folder still gets its run's preprocessing and threshold.
        run = RunFolder.of_model(p)
    check_model_file(model_path)
    spec, spec_source = PreprocessSpec(), "defaults"
    threshold, threshold_source = DEFAULT_THRESHOLD, "default"
    if run is not None:
        recorded = run.preprocess()
        if recorded is not None:
            spec, spec_source = recorded, str(run.file("config.json"))
        threshold, threshold_source = run.threshold()
    return ModelSource(
        model_path=model_path,
        run_dir=run.path if run else None,
        preprocess=spec,
        preprocess_source=spec_source,
        threshold=threshold,
        threshold_source=threshold_source,
        training_run=run.training_run() if run else model_path.stem,
        data_dir=run.data_dir() if run else None,
        description=str(run.config().get("description") or "") if run else "",
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
    """Load the model (Keras 3) and check its interface: one HxWx3 input -> 2 probabilities
    (softmax) or one sigmoid P(real)."""
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
    """(height, width) of a model with one [None, H, W, 3] input and one [None, 2] output
    (softmax over the labels) or [None, 1] output (one sigmoid, P(labels[1]) = P(real))."""
    inputs, outputs = list(model.inputs), list(model.outputs)
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(
            f"{name}: expected 1 image input and 1 output, got "
            f"{len(inputs)} inputs and {len(outputs)} outputs"
        )
    in_shape = tuple(inputs[0].shape)
    out_shape = tuple(outputs[0].shape)
    if len(in_shape) != 4 or in_shape[3] != 3 or None in in_shape[1:3]:
        raise ModelError(f"{name}: input shape {list(in_shape)} is not [batch, H, W, 3]")
    if len(out_shape) != 2 or out_shape[1] not in (1, len(LABELS)):
        raise ModelError(
            f"{name}: output shape {list(out_shape)} is not [batch, {len(LABELS)}] "
            f"(softmax over {', '.join(LABELS)}) or [batch, 1] (sigmoid, P({LABELS[-1]}))"
        )
    return int(in_shape[1]), int(in_shape[2])


def output_kind(model) -> str:
    """What the bundle declares (edge_runtime.bundle): one value is a sigmoid P(real), Keras'
    binary convention with the labels' order; two are a softmax. The runtime checks the op."""
    return OUTPUT_SIGMOID if int(model.outputs[0].shape[1]) == 1 else OUTPUT_SOFTMAX


def fake_probabilities(outputs) -> np.ndarray:
    """A Keras model's [n, 2] softmax or [n, 1] sigmoid P(real) outputs -> P(fake) per image."""
    y = np.asarray(outputs, dtype=np.float64)
    return 1.0 - y[:, 0] if y.shape[1] == 1 else y[:, FAKE_INDEX]


def fit_spec(source: ModelSource, height: int, width: int) -> PreprocessSpec:
    """The preprocessing spec with the model's input size; a run spec that disagrees is an error."""
    return source.preprocess.fit_input(
        height,
        width,
        recorded=source.preprocess_source != "defaults",
        name=str(source.model_path),
        where=f"run's preprocessing in {source.preprocess_source}",
    )
