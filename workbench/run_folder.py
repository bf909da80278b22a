"""A training run folder: its file names, how they are written, and how later stages read them.

`python -m train fit` writes one; `python -m convert`, `python -m train evaluate` and
`python -m train gradcam` read it. The rules live here once (no TensorFlow):

- the model is `model.keras`; `config.json` holds the recipe, `preprocess` (the PreprocessSpec
  the bundle gets), `data` (the data folder) and `run_name`;
- the decision threshold lives in `threshold.json` (key `threshold`, written only when the run
  chose one on the validation split); without it the run uses DEFAULT_THRESHOLD;
- every file is written atomically (temporary name, then rename), so a crash never leaves a
  half-written file where a good one was.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_runtime.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text
from edge_runtime.types import DEFAULT_THRESHOLD, ModelError, PreprocessSpec, check_threshold

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
THRESHOLD_FILE = "threshold.json"
HISTORY_FILE = "history.json"
TEST_METRICS_FILE = "test_metrics.json"
DATA_SUMMARY_FILE = "data_summary.json"
PREDICTIONS_FILE = "predictions.csv"
CURVES_FILE = "curves.png"
CONFUSION_FILE = "confusion_matrix.png"
FEATURE_CACHE_DIR = ".feature_cache"
CHECKPOINT_FILE = "checkpoint.npz"  # the last finished epoch's state (train --resume)
PER_SOURCE_FILE = "per_source.json"  # test figures per training source (train --sources)
PER_SOURCE_TABLE = "per_source.md"
LOG_FILE = "train.log"  # where a background run's stderr goes (train/README.md)
# Results that must not survive into a rerun in the same folder (--overwrite): a stale one
# could pass for the new run's.
RESULT_FILES = (
    MODEL_FILE,
    TEST_METRICS_FILE,
    THRESHOLD_FILE,
    HISTORY_FILE,
    CHECKPOINT_FILE,
    PER_SOURCE_FILE,
    PER_SOURCE_TABLE,
)


@dataclass(frozen=True)
class RunFolder:
    path: Path

    @classmethod
    def of_model(cls, model_path: str | os.PathLike) -> RunFolder | None:
        """The run folder a model file sits in (a `model.keras` beside a `config.json`)."""
        p = Path(model_path)
        if p.name == MODEL_FILE and (p.parent / CONFIG_FILE).is_file():
            return cls(p.parent)
        return None

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def name(self) -> str:
        return self.path.name

    # --- writing (train) ----------------------------------------------------------------------
    def write_json(self, name: str, data: Any) -> Path:
        return atomic_write_json(self.path / name, data)

    def write_text(self, name: str, text: str) -> Path:
        return atomic_write_text(self.path / name, text)

    def write_bytes(self, name: str, content: bytes) -> Path:
        return atomic_write_bytes(self.path / name, content)

    def clear_results(self) -> None:
        for name in RESULT_FILES:
            (self.path / name).unlink(missing_ok=True)

    def write_threshold(self, threshold: float, source: str, valid_accuracy: float | None) -> Path:
        return self.write_json(
            THRESHOLD_FILE,
            {
                "threshold": threshold,
                "rule": "fake when P(fake) >= threshold",
                "source": source,
                "valid_accuracy": valid_accuracy,
            },
        )

    # --- reading (convert, evaluate, gradcam) -------------------------------------------------
    def _json(self, name: str) -> dict[str, Any] | None:
        """The file's JSON object; None when absent. Unreadable -> ModelError naming the file."""
        f = self.path / name
        if not f.is_file():
            return None
        try:
            data = json.loads(f.read_text("utf-8"))
        except (OSError, ValueError) as e:
            raise ModelError(f"{f}: unreadable JSON ({e})") from None
        if not isinstance(data, dict):
            raise ModelError(f"{f}: expected a JSON object")
        return data

    def config(self) -> dict[str, Any]:
        return self._json(CONFIG_FILE) or {}

    def preprocess(self) -> PreprocessSpec | None:
        """The run's PreprocessSpec (config.json `preprocess`), None when it has none."""
        fields = self.config().get("preprocess")
        if isinstance(fields, dict) and any(
            k in fields for k in PreprocessSpec.__dataclass_fields__
        ):
            return PreprocessSpec.from_dict(fields)
        return None

    def threshold(self) -> tuple[float, str]:
        """(threshold, where it came from): threshold.json's, else DEFAULT_THRESHOLD."""
        data = self._json(THRESHOLD_FILE)
        value = (data or {}).get("threshold")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            where = self.path / THRESHOLD_FILE
            return check_threshold(value, f"{where}: threshold", ModelError), str(where)
        if data is not None:
            raise ModelError(f"{self.path / THRESHOLD_FILE}: no numeric 'threshold'")
        return DEFAULT_THRESHOLD, "default"

    def data_dir(self) -> Path | None:
        """The data folder the run trained on, when it still exists."""
        value = self.config().get("data")
        return Path(value) if isinstance(value, str) and value and Path(value).is_dir() else None

    def training_run(self) -> str:
        return str(self.config().get("run_name") or self.name)


__all__ = [
    "CONFIG_FILE",
    "MODEL_FILE",
    "RESULT_FILES",
    "THRESHOLD_FILE",
    "RunFolder",
]
