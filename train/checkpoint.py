"""The per-epoch checkpoint of a run (`--resume RUN` continues from it).

One file in the run folder, written atomically after every epoch: every variable of the fitted
model (weights, BatchNorm statistics, Dropout's random-generator state), the optimizer's state,
the kept (lowest validation loss) weights, the history so far and the number of finished
epochs. With data order and random draws a function of (seed, epoch) (train/pipeline.py), a
resumed run continues exactly where the interrupted one stopped.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.run_folder import CHECKPOINT_FILE, CONFIG_FILE, RunFolder

from .config import TrainConfig
from .data import SplitFiles
from .errors import ConfigError
from .recipe_files import config_of_run


@dataclass
class Checkpoint:
    epochs_done: int
    history: dict[str, Any]
    best_val_loss: float
    best_epoch: int
    best_weights: list[np.ndarray] | None
    variables: list[np.ndarray]
    optimizer: list[np.ndarray]
    fingerprint: str


def save_checkpoint(run: RunFolder, trained, ck_meta: dict[str, Any], best_weights) -> None:
    """Write the checkpoint of `trained` (a compiled Keras model) atomically."""
    arrays: dict[str, np.ndarray] = {}
    for i, v in enumerate(trained.variables):
        arrays[f"var_{i}"] = np.asarray(v.numpy())
    for i, v in enumerate(trained.optimizer.variables):
        arrays[f"opt_{i}"] = np.asarray(v.numpy())
    for i, w in enumerate(best_weights or []):
        arrays[f"best_{i}"] = np.asarray(w)
    meta = {**ck_meta, "n_best": len(best_weights or [])}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    run.write_bytes(CHECKPOINT_FILE, buf.getvalue())


def load_checkpoint(run: RunFolder) -> Checkpoint:
    path = run.file(CHECKPOINT_FILE)
    if not path.is_file():
        raise ConfigError(f"--resume {run.path}: no {CHECKPOINT_FILE} (nothing to resume)")
    try:
        with np.load(path) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            n_var = sum(1 for k in z.files if k.startswith("var_"))
            n_opt = sum(1 for k in z.files if k.startswith("opt_"))
            variables = [z[f"var_{i}"] for i in range(n_var)]
            optimizer = [z[f"opt_{i}"] for i in range(n_opt)]
            best = [z[f"best_{i}"] for i in range(meta["n_best"])] or None
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(f"{path}: unreadable checkpoint ({e})") from None
    return Checkpoint(
        epochs_done=int(meta["epochs_done"]),
        history=meta["history"],
        best_val_loss=float(meta["best_val_loss"]),
        best_epoch=int(meta["best_epoch"]),
        best_weights=best,
        variables=variables,
        optimizer=optimizer,
        fingerprint=str(meta["fingerprint"]),
    )


def restore(trained, ck: Checkpoint) -> None:
    """Put the checkpoint's variables and optimizer state into a freshly compiled model."""
    if not trained.optimizer.built:
        trained.optimizer.build(trained.trainable_variables)
    pairs = [(trained.variables, ck.variables), (trained.optimizer.variables, ck.optimizer)]
    for targets, values in pairs:
        if len(targets) != len(values):
            raise ConfigError(
                f"checkpoint holds {len(values)} variables, the model {len(targets)}: "
                "not the same model (was the recipe changed?)"
            )
        for v, value in zip(targets, values):
            if tuple(v.shape) != value.shape:
                raise ConfigError(f"checkpoint: {v.path} has shape {value.shape}, not {v.shape}")
            v.assign(value)


def run_fingerprint(cfg: TrainConfig, files: dict[str, SplitFiles]) -> str:
    """What must not change between an interrupted run and its resumption."""
    recipe = {k: v for k, v in cfg.to_dict().items() if k not in _ENGINE_FIELDS}
    listed = {s: [x.path for x in f.samples] for s, f in files.items() if s != "test"}
    text = json.dumps({"recipe": recipe, "files": listed}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# Where and how a run executes, not what it computes: these may differ on --resume.
_ENGINE_FIELDS = (
    "out", "resume", "strategy", "cache_features", "in_memory", "memory_gb", "checkpoint",
    "overwrite", "extra", "data",
)  # fmt: skip


def resumed_config(cfg: TrainConfig) -> TrainConfig:
    """--resume RUN: the run's own recipe and data; the engine settings of this command."""
    run = RunFolder(Path(cfg.resume))
    recorded = run.config()
    if not recorded:
        raise ConfigError(f"--resume {cfg.resume}: no {CONFIG_FILE} (not a run folder)")
    if not run.file(CHECKPOINT_FILE).is_file():
        raise ConfigError(f"--resume {cfg.resume}: no {CHECKPOINT_FILE} (nothing to resume)")
    resumed = config_of_run(recorded)
    for name in ("strategy", "cache_features", "in_memory", "memory_gb", "checkpoint"):
        setattr(resumed, name, getattr(cfg, name))
    resumed.out, resumed.resume, resumed.overwrite = str(run.path), str(run.path), False
    return resumed  # validated by run_fit, like every run's config


__all__ = [
    "Checkpoint",
    "load_checkpoint",
    "restore",
    "resumed_config",
    "run_fingerprint",
    "save_checkpoint",
]
