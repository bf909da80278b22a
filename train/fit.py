"""`python -m train fit`: one training run -> one run folder.

Run folder (workbench.run_folder names and writes every file): model.keras (best validation
loss; written to a temporary name, then renamed), config.json, data_summary.json, history.json,
curves.png, test_metrics.json, confusion_matrix.png, predictions.csv, and threshold.json when
--threshold-from-valid. The data paths (cached features, in memory, streamed) are train/splits.py;
the callbacks (the `epoch N/M` log lines) train/callbacks.py, the strategies train/strategy.py,
the end of a run (scores, threshold, result files) train/fit_results.py, --resume's rules
train/checkpoint.py.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_runtime.types import LABELS
from workbench.run_folder import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    FEATURE_CACHE_DIR,
    HISTORY_FILE,
    LOG_FILE,
    MODEL_FILE,
    RunFolder,
)

from .checkpoint import resumed_config
from .config import TrainConfig, default_run_name
from .data import SPLITS, Layout, Skipped, SplitFiles, find_layout, list_split, require_both_classes
from .errors import ConfigError, DataError
from .strategy import is_chief, make_strategy

if TYPE_CHECKING:
    from .fit_results import Evaluation

log = logging.getLogger(__name__).info  # progress lines on stderr (console.setup_logging)


class Interrupted(Exception):
    """Ctrl-C during training; the run folder holds what was finished (atomically)."""


@dataclass
class FitResult:
    run_dir: Path
    history: dict[str, Any]
    test: dict[str, Any]
    threshold: float
    used_cache: bool
    timing: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunState:
    """What one run accumulates while it goes: its folder, config, timings, skipped files."""

    cfg: TrainConfig
    run: RunFolder
    chief: bool
    layout: Layout
    files: dict[str, SplitFiles]
    resolved: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, Any] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    usable: dict[str, SplitFiles] = field(default_factory=dict)  # the files that were used
    mix: Any = None  # sources.Mix with --sources
    sources: Any = None  # sources.SourceList with --sources

    @property
    def where(self) -> str:
        return str(self.layout.root)

    def write_config(self) -> None:
        self.run.write_json(CONFIG_FILE, {**self.cfg.to_dict(), "resolved": self.resolved})


def _prepare_out(cfg: TrainConfig, chief: bool) -> RunFolder:
    if not chief:
        return RunFolder(Path(tempfile.mkdtemp(prefix="edge_detect_worker_")))
    out = Path(cfg.out or Path("runs") / default_run_name())
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not cfg.resume:
        if not cfg.overwrite:
            raise ConfigError(
                f"--out {out}: folder exists and is not empty (use --overwrite or another --out)"
            )
        RunFolder(out).clear_results()  # no stale result may pass for this run's
    out.mkdir(parents=True, exist_ok=True)
    cfg.out = str(out)
    return RunFolder(out)


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def _sources_root(cfg: TrainConfig) -> Path:
    """With --sources, --data is the folder holding the source folders (default: shared data)."""
    from workbench.evaluation import default_sample_dir, shared_data_dir

    return shared_data_dir() if cfg.data == str(default_sample_dir()) else Path(cfg.data)


def _list_sources(cfg: TrainConfig):
    """--sources: the pooled splits of the training sources, hold-outs and evaluation-only
    sets kept out of train and valid (train/sources.py)."""
    from .sources import build_mix, check_source_weights, load_sources

    sources = load_sources(cfg.sources)
    root = _sources_root(cfg)
    check_source_weights(sources, cfg.source_weights)
    mix = build_mix(sources, root, cfg.hold_out, cfg.limit_per_class, cfg.seed)
    layout = Layout(root=root, split_dirs={}, csv_files={})
    for row in mix.rows:
        used = row["used"]
        log(
            f"source {row['name']} ({row['class']}, {row['family']}): {row['role']}, "
            f"train {used['train']} / valid {used['valid']} / test {used['test']}"
        )
    return layout, mix.splits, mix, sources


def _list_files(cfg: TrainConfig) -> tuple[Layout, dict[str, SplitFiles], Any, Any]:
    """Data first: a missing split or an empty class fails before TensorFlow even loads."""
    from .sources import check_trainable, load_sources

    mix = sources = None
    if cfg.sources:
        layout, files, mix, sources = _list_sources(cfg)
    else:
        layout = find_layout(cfg.data, cfg.use_csv)
        files = {s: list_split(layout, s, cfg.limit_per_class, cfg.seed) for s in SPLITS}
        # Evaluation-only sets (train/sources.json) never train, whichever way they come in.
        from workbench.evaluation import shared_data_dir

        trained = files["train"].samples + files["valid"].samples
        check_trainable(trained, load_sources(), shared_data_dir())
    for f in files.values():
        require_both_classes(f, str(layout.root))
    counts = ", ".join(
        f"{s} {f.counts()['real']} real + {f.counts()['fake']} fake" for s, f in files.items()
    )
    csv_note = ""
    if layout.csv_files:
        csv_note = f" (file lists from {', '.join(sorted(layout.csv_files))} CSV)"
    log(f"data {layout.root}: {counts}{csv_note}")
    return layout, files, mix, sources


def _build(state: RunState):
    """Seed, strategy, model and (when the recipe allows) the feature-cache split."""
    import keras
    import tensorflow as tf

    from .model import build_model, cache_split, init_from_model

    cfg = state.cfg
    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = make_strategy(cfg.strategy)
    split = None
    with strategy.scope():  # the variables (and the cached tail's) belong to the strategy
        built = build_model(cfg)
        if cfg.init_from:
            n = init_from_model(built.model, cfg.init_from)
            log(f"warm start: {n} layers' weights from {cfg.init_from}")
        if cfg.cache_features != "off" and not cfg.random_each_epoch():
            split = cache_split(built.model)
    if split is None and cfg.cache_features == "on":
        raise ConfigError(
            "--cache-features on: no frozen layers to cache (--trainable-layers all?)"
        )
    model = built.model
    state.resolved.update(
        versions=_versions(),
        host={"machine": platform.machine(), "cpu_count": os.cpu_count()},
        strategy={"name": cfg.strategy, "replicas": strategy.num_replicas_in_sync},
        n_params=int(model.count_params()),
        n_trainable_params=int(sum(int(np.prod(w.shape)) for w in model.trainable_weights)),
        n_base_layers=len(built.base_layers),
        trainable_base_layers=[layer.name for layer in built.trainable_base_layers],
        feature_cache={
            "used": split is not None,
            "cut_after": split.cut_layer if split else None,
            "feature_shape": list(split.feature_shape) if split else None,
        },
        output_layer="probabilities (index 0 = fake, 1 = real)",
    )
    state.write_config()
    log(
        f"{model.name}: {state.resolved['n_trainable_params']:,} of "
        f"{state.resolved['n_params']:,} parameters trainable "
        f"({len(built.trainable_base_layers)} base layers + head)"
        + (f"; training from cached features after {split.cut_layer}" if split else "")
    )
    return strategy, built, split


_after_epoch = None  # tests: called with the finished epoch's number after its checkpoint


def _fit(state: RunState, strategy, built, trained, splits, callbacks) -> None:
    """One Keras fit call per epoch on that epoch's dataset (a function of seed and epoch),
    a checkpoint after each; --resume restores the last one and goes on from there."""
    from .checkpoint import load_checkpoint, restore, run_fingerprint, save_checkpoint
    from .model import compile_model

    cfg = state.cfg
    epoch_log, best = callbacks
    val_ds = splits["valid"].dataset(cfg, shuffle=False)
    with strategy.scope():
        compile_model(trained, cfg, built)
    fingerprint = run_fingerprint(state.cfg, state.files)
    start = 0
    if cfg.resume:
        ck = load_checkpoint(state.run)
        if ck.fingerprint != fingerprint:
            raise ConfigError(
                f"--resume {cfg.resume}: the recipe or the file lists differ from the "
                "interrupted run's (data changed?)"
            )
        with strategy.scope():
            restore(trained, ck)
        start = ck.epochs_done
        epoch_log.history = ck.history
        best.best, best.best_epoch = ck.best_val_loss, ck.best_epoch
        best.weights = ck.best_weights
        log(f"resuming {state.run.path} after epoch {start} of {cfg.epochs}")
    if cfg.strategy == "multiworker":
        from .strategy import work_around_keras_20585

        work_around_keras_20585(trained, splits["train"].dataset(cfg, True, start))
    t0 = time.perf_counter()
    for epoch in range(start, cfg.epochs):
        trained.fit(
            splits["train"].dataset(cfg, shuffle=True, epoch=epoch),
            validation_data=val_ds,
            initial_epoch=epoch,
            epochs=epoch + 1,
            verbose=0,
            shuffle=False,
            callbacks=[epoch_log, best],
        )
        if state.chief:
            meta = {
                "epochs_done": epoch + 1,
                "history": epoch_log.history,
                "best_val_loss": float(best.best),
                "best_epoch": best.best_epoch,
                "fingerprint": fingerprint,
            }
            save_checkpoint(state.run, trained, meta, best.weights)
        if _after_epoch is not None:
            _after_epoch(epoch + 1)
    best.restore_best()
    state.timing["fit_seconds"] = round(time.perf_counter() - t0, 3)


def _interrupted(state: RunState, epoch_log, best) -> Interrupted:
    state.resolved["status"] = "interrupted"
    history = {**epoch_log.history, "best_epoch": best.best_epoch, "interrupted": True}
    if state.chief:
        state.run.write_json(HISTORY_FILE, history)
        state.write_config()
    saved = state.run.model_path.exists()
    kept = "the best model so far is in model.keras" if saved else "no model was saved"
    n = len(epoch_log.history["epoch"])
    return Interrupted(f"interrupted after {n} epoch(s); {kept}")


def _train(state: RunState) -> tuple[dict[str, Any], Evaluation, bool]:
    """Build, fit (Ctrl-C: what was finished stays), save, evaluate."""
    from .callbacks import BestWeights, EpochLog
    from .fit_results import evaluate_run, per_source_results
    from .model import save_model_atomic
    from .pipeline import FailedFiles, make_forward
    from .sources import class_weights, sample_weights
    from .splits import prepare_splits

    cfg, run = state.cfg, state.run
    strategy, built, split = _build(state)
    model = built.model
    failed = FailedFiles()

    def save_best() -> None:
        if cfg.checkpoint or not state.chief:
            save_model_atomic(model, run.model_path)

    epoch_log, best = EpochLog(cfg.epochs), BestWeights(save_best)
    source_of = state.mix.source_of if state.mix is not None else None
    weights = {
        n: sample_weights(state.files[n].samples, cfg.balance, source_of, cfg.source_weights)
        for n in ("train", "valid")
    }
    if cfg.source_weights:
        log("source weights: " + ", ".join(f"{k} x{v:g}" for k, v in cfg.source_weights.items()))
    if cfg.balance != "none":
        w = class_weights(state.files["train"].samples)
        state.resolved["class_weights"] = {LABELS[k]: round(v, 6) for k, v in w.items()}
        log(f"class balance: sample weight fake {w[0]:.3f}, real {w[1]:.3f}")
    try:
        splits, trained = prepare_splits(
            state.files,
            cfg,
            cfg.spec(),
            model,
            split,
            run.path,
            failed,
            state.timing,
            state.where,
            weights,
        )
        _fit(state, strategy, built, trained, splits, (epoch_log, best))
    except KeyboardInterrupt:
        raise _interrupted(state, epoch_log, best) from None
    history = {
        **epoch_log.history,
        "best_epoch": best.best_epoch,
        "best_val_loss": None if not np.isfinite(best.best) else best.best,
    }
    if best.weights is None:
        log("validation loss never finite: keeping the last epoch's weights")
    save_model_atomic(model, run.model_path)
    forward = make_forward(model)
    ev = evaluate_run(state, splits, failed, forward)
    if state.mix is not None:
        ev.per_source = per_source_results(state, ev, forward)
    return history, ev, split is not None


def run_fit(cfg: TrainConfig) -> FitResult:
    """Train one model from a recipe and write its run folder."""
    t_start = time.perf_counter()
    if cfg.resume:
        cfg = resumed_config(cfg)  # the run's own recipe and data; this command's engine
    cfg.validate()  # the one validation of a run's settings (train/settings.py)
    chief = is_chief(cfg.strategy)
    layout, files, mix, sources = _list_files(cfg)
    run = _prepare_out(cfg, chief)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    state = RunState(
        cfg,
        run,
        chief,
        layout,
        files,
        {"status": "running", "started": started, "command": sys.argv},
        mix=mix,
        sources=sources,
    )
    state.skipped = [k for f in files.values() for k in f.skipped]
    with _log_to(run, chief, append=bool(cfg.resume)):
        history, ev, used_cache = _train(state)
        return _finish(state, history, ev, used_cache, t_start)


class _log_to:
    """The run's progress lines also go to <run>/train.log (a background run's log)."""

    def __init__(self, run: RunFolder, chief: bool, append: bool) -> None:
        self.handler = None
        if chief:
            self.handler = logging.FileHandler(run.file(LOG_FILE), mode="a" if append else "w")
            self.handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
            self.handler.setLevel(logging.INFO)

    def __enter__(self):
        if self.handler is not None:
            logging.getLogger("train").addHandler(self.handler)
            if logging.getLogger("train").getEffectiveLevel() > logging.INFO:
                logging.getLogger("train").setLevel(logging.INFO)
        return self

    def __exit__(self, *exc):
        if self.handler is not None:
            logging.getLogger("train").removeHandler(self.handler)
            self.handler.close()
        return False


def _finish(state: RunState, history, ev, used_cache, t_start) -> FitResult:
    run, chief = state.run, state.chief
    state.timing["total_seconds"] = round(time.perf_counter() - t_start, 3)
    history["timing"] = state.timing
    finished = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    state.resolved.update(
        status="done",
        finished=finished,
        threshold=ev.threshold,
        best_epoch=history["best_epoch"],
        timing=state.timing,
    )
    if chief:
        from .fit_results import write_results

        write_results(state, history, ev)
    shutil.rmtree(run.file(FEATURE_CACHE_DIR), ignore_errors=True)
    run.file(CHECKPOINT_FILE).unlink(missing_ok=True)  # done: nothing left to resume
    if not chief:
        shutil.rmtree(run.path, ignore_errors=True)
    auc = ev.test_m.roc_auc
    where = (
        f"run folder {run.path}" if chief else "non-chief worker: the chief writes the run folder"
    )
    log(
        f"test accuracy {ev.test_m.accuracy:.4f}, AUC "
        + (f"{auc:.4f}" if auc is not None else "n/a")
        + f" (threshold {ev.threshold:.3f}); {where} ({state.timing['total_seconds']:.0f}s)"
    )
    return FitResult(
        run_dir=run.path,
        history=history,
        test=ev.metrics,
        threshold=ev.threshold,
        used_cache=used_cache,
        timing=state.timing,
    )


__all__ = ["MODEL_FILE", "DataError", "FitResult", "Interrupted", "run_fit"]
