"""`python -m train fit`: one training run -> one run folder.

Run folder (workbench.run_folder names and writes every file): model.keras (best validation
loss; written to a temporary name, then renamed), config.json, data_summary.json, history.json,
curves.png, test_metrics.json, confusion_matrix.png, predictions.csv, and threshold.json when
--threshold-from-valid. The data paths (cached features, in memory, streamed) are train/splits.py.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.types import DEFAULT_THRESHOLD, FAKE_INDEX, LABELS
from workbench.evaluation import CONVENTION, BinaryMetrics, best_threshold, binary_metrics
from workbench.run_folder import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    CONFUSION_FILE,
    CURVES_FILE,
    DATA_SUMMARY_FILE,
    FEATURE_CACHE_DIR,
    HISTORY_FILE,
    LOG_FILE,
    MODEL_FILE,
    PER_SOURCE_FILE,
    PER_SOURCE_TABLE,
    PREDICTIONS_FILE,
    TEST_METRICS_FILE,
    RunFolder,
)

from .config import TrainConfig, config_of_run, default_run_name
from .data import (
    SPLITS,
    Layout,
    Skipped,
    SplitFiles,
    find_layout,
    list_split,
    require_both_classes,
    summary,
)
from .errors import ConfigError, DataError

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
class _Run:
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


def _is_chief(strategy: str) -> bool:
    """With several workers only the chief writes the run folder."""
    if strategy != "multiworker":
        return True
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = tf_config.get("task", {})
    has_chief = "chief" in tf_config.get("cluster", {})
    return task.get("type") == "chief" or (
        task.get("type") == "worker" and int(task.get("index", 0)) == 0 and not has_chief
    )


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


def _make_strategy(name: str):
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if "TF_CONFIG" not in os.environ:
        raise ConfigError(
            "--strategy multiworker needs the TF_CONFIG environment variable (see train/README.md)"
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def _eta(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else (f"{seconds // 60}m{seconds % 60:02d}s")
    )


def _callbacks(save_best, epochs: int):
    import keras

    class EpochLog(keras.callbacks.Callback):
        """One line per epoch on stderr, and the per-epoch history with timings."""

        def __init__(self) -> None:
            super().__init__()
            self.history: dict[str, list] = {"epoch": [], "epoch_seconds": []}
            self._t0 = 0.0
            self._last_line = 0.0
            self._epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = self._last_line = time.perf_counter()
            self._epoch = epoch

        def _run_eta(self, epoch_left: float, epoch_total: float, epochs_left: int) -> float:
            """This epoch's remaining seconds + the later epochs at the finished epochs' mean
            (in the first epoch: this epoch's whole estimated length)."""
            done = self.history["epoch_seconds"]
            per_epoch = float(np.mean(done)) if done else epoch_total
            return epoch_left + per_epoch * epochs_left

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            if now - self._last_line < 60:  # a progress line a minute on long epochs
                return
            self._last_line = now
            steps = (self.params or {}).get("steps") or 0
            spent = now - self._t0
            left = spent / (batch + 1) * max(0, steps - batch - 1) if steps else 0.0
            run_left = self._run_eta(left, spent + left, epochs - self._epoch - 1)
            log(
                f"epoch {self._epoch + 1}/{epochs}: batch {batch + 1}/{steps or '?'}, "
                f"epoch ETA {_eta(left)}, run ETA {_eta(run_left)}"
            )

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self._t0
            self.history["epoch"].append(epoch + 1)
            self.history["epoch_seconds"].append(round(seconds, 3))
            for k, v in (logs or {}).items():
                self.history.setdefault(k, []).append(float(v))
            parts = " - ".join(f"{k} {float(v):.4f}" for k, v in (logs or {}).items())
            eta = self._run_eta(0.0, seconds, epochs - epoch - 1)
            log(f"epoch {epoch + 1}/{epochs} - {seconds:.1f}s - {parts} - ETA {_eta(eta)}")

    class BestWeights(keras.callbacks.Callback):
        """Keep (and restore at the end) the weights of the lowest validation loss."""

        def __init__(self) -> None:
            super().__init__()
            self.best = np.inf
            self.best_epoch = 0
            self.weights = None

        def on_epoch_end(self, epoch, logs=None):
            val = float((logs or {}).get("val_loss", np.nan))
            if np.isfinite(val) and val < self.best:
                self.best, self.best_epoch = val, epoch + 1
                self.weights = [v.numpy() for v in self.model.weights]
                save_best()

        def restore_best(self):
            """At the end of the run (not of each per-epoch fit call)."""
            if self.weights is not None:
                for v, w in zip(self.model.weights, self.weights):
                    v.assign(w)

    return EpochLog(), BestWeights()


def _predictions_csv(rows: list[tuple[str, str, int, float]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["split", "path", "label", "p_fake"])
    for split, path, label, p in rows:
        w.writerow([split, path, LABELS[label], f"{p:.6f}"])
    return buf.getvalue()


def _work_around_keras_20585(model, train_ds) -> None:
    """Keras 3 fit() under MultiWorkerMirroredStrategy with several workers fails twice.

    (keras-team/keras#20585, open in Keras 3.15.) 1) Its symbolic build all-reduces the first
    distributed batch, which the collective strategy rejects; the build only needs shapes, so
    it gets one local batch. 2) It reduces every per-step log over axis 0, which fails on the
    scalar loss and metrics; those are averaged over replicas instead.
    """
    from keras.src.backend.tensorflow import trainer as tf_trainer

    sample = next(iter(train_ds))
    build = model._maybe_symbolic_build
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: build(data_batch=sample)
    original = tf_trainer.reduce_per_replica
    if getattr(original, "edge_detect_patch", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(
            strategy
        ):
            import tensorflow as tf

            def mean(v):
                local = v.values[0] if isinstance(v, tf.distribute.DistributedValues) else v
                if len(getattr(local, "shape", ())) == 0:  # scalar log: mean over replicas
                    return strategy.reduce("MEAN", v, axis=None)
                return original(v, strategy, reduction)

            return tf.nest.map_structure(mean, values)
        return original(values, strategy, reduction)

    reduce_per_replica.edge_detect_patch = True
    tf_trainer.reduce_per_replica = reduce_per_replica


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


def _build(state: _Run):
    """Seed, strategy, model and (when the recipe allows) the feature-cache split."""
    import keras
    import tensorflow as tf

    from .model import build_model, cache_split, init_from_model

    cfg = state.cfg
    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = _make_strategy(cfg.strategy)
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


def _fingerprint(state: _Run) -> str:
    """What must not change between an interrupted run and its resumption."""
    import hashlib

    recipe = {k: v for k, v in state.cfg.to_dict().items() if k not in _ENGINE_FIELDS}
    listed = {s: [x.path for x in f.samples] for s, f in state.files.items() if s != "test"}
    text = json.dumps({"recipe": recipe, "files": listed}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# Where and how a run executes, not what it computes: these may differ on --resume.
_ENGINE_FIELDS = (
    "out", "resume", "strategy", "cache_features", "in_memory", "memory_gb", "checkpoint",
    "overwrite", "extra", "data",
)  # fmt: skip


def _fit(state: _Run, strategy, built, trained, splits, callbacks) -> None:
    """One Keras fit call per epoch on that epoch's dataset (a function of seed and epoch),
    a checkpoint after each; --resume restores the last one and goes on from there."""
    from .checkpoint import load_checkpoint, restore, save_checkpoint
    from .model import compile_model

    cfg = state.cfg
    epoch_log, best = callbacks
    val_ds = splits["valid"].dataset(cfg, shuffle=False)
    with strategy.scope():
        compile_model(trained, cfg, built)
    fingerprint = _fingerprint(state)
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
        _work_around_keras_20585(trained, splits["train"].dataset(cfg, True, start))
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


def _interrupted(state: _Run, epoch_log, best) -> Interrupted:
    state.resolved["status"] = "interrupted"
    history = {**epoch_log.history, "best_epoch": best.best_epoch, "interrupted": True}
    if state.chief:
        state.run.write_json(HISTORY_FILE, history)
        state.write_config()
    saved = state.run.model_path.exists()
    kept = "the best model so far is in model.keras" if saved else "no model was saved"
    n = len(epoch_log.history["epoch"])
    return Interrupted(f"interrupted after {n} epoch(s); {kept}")


@dataclass
class _Evaluation:
    valid: Any  # splits.Scores
    test: Any
    valid_paths: list[str]
    threshold: float
    threshold_source: str
    metrics: dict[str, Any]
    test_m: BinaryMetrics
    per_source: dict[str, Any] | None = None


def _evaluate(state: _Run, splits, failed, forward_model) -> _Evaluation:
    """Validation scores (for the threshold) through the path that validated during training,
    then the test split through the saved model; metrics at the chosen threshold."""
    from .pipeline import forward_files
    from .splits import Scores

    cfg, spec = state.cfg, state.cfg.spec()
    t0 = time.perf_counter()
    valid = splits["valid"].score(cfg, spec, forward_model)
    probs, labels, idx, bad = forward_files(
        forward_model, state.files["test"], spec, cfg.batch_size
    )
    test = Scores(probs[:, FAKE_INDEX], labels, idx)
    test_files = SplitFiles("test", [state.files["test"].samples[i] for i in idx])
    test_files.source = state.files["test"].source
    require_both_classes(test_files, state.where)
    # Skipped files in the order they were met: listing, train, valid, test, failed streaming.
    state.skipped += splits["train"].skipped + splits["valid"].skipped + bad
    for path, reason in failed.reasons.items():
        in_train = any(s.path == path for s in state.files["train"].samples)
        state.skipped.append(Skipped(path, reason, "train" if in_train else "valid"))
    usable = {name: splits[name].usable(failed) for name in ("train", "valid")}
    state.usable = {**usable, "test": test_files}
    state.timing["evaluate_seconds"] = round(time.perf_counter() - t0, 3)
    if cfg.threshold_from_valid:
        threshold, valid_acc = best_threshold(valid.labels, valid.p_fake)
        source = f"maximises validation accuracy ({valid_acc:.4f})"
    else:
        threshold, source = DEFAULT_THRESHOLD, "default (argmax of the two probabilities)"
    test_m = binary_metrics(test.labels, test.p_fake, threshold)
    metrics: dict[str, Any] = {
        "positive_class": "real",
        "convention": CONVENTION,
        "threshold": threshold,
        "threshold_source": source,
        "test": test_m.to_dict(),
        "valid": binary_metrics(valid.labels, valid.p_fake, threshold).to_dict(),
    }
    if threshold != DEFAULT_THRESHOLD:
        at_default = binary_metrics(test.labels, test.p_fake, DEFAULT_THRESHOLD)
        metrics[f"test_at_{DEFAULT_THRESHOLD}"] = at_default.to_dict()
    valid_paths = splits["valid"].paths(valid.index)
    return _Evaluation(valid, test, valid_paths, threshold, source, metrics, test_m)


def _write_results(state: _Run, history: dict, ev: _Evaluation) -> None:
    from .plots import plot_confusion, plot_curves

    cfg, run = state.cfg, state.run
    run.write_json(HISTORY_FILE, history)
    plot_curves(history, run.file(CURVES_FILE), title=f"{run.name}: {cfg.arch}")
    run.write_json(TEST_METRICS_FILE, ev.metrics)
    plot_confusion(
        ev.test_m.confusion_matrix,
        run.file(CONFUSION_FILE),
        title=f"test, threshold {ev.threshold:.3f} (positive = real)",
    )
    rows = [
        ("valid", p, int(y), float(v))
        for p, y, v in zip(ev.valid_paths, ev.valid.labels, ev.valid.p_fake)
    ]
    test_samples = state.files["test"].samples
    rows += [
        ("test", test_samples[i].path, int(y), float(v))
        for i, y, v in zip(ev.test.index, ev.test.labels, ev.test.p_fake)
    ]
    run.write_text(PREDICTIONS_FILE, _predictions_csv(rows))
    if cfg.threshold_from_valid:
        valid_acc = ev.metrics["valid"]["accuracy"]
        run.write_threshold(ev.threshold, ev.threshold_source, valid_acc)
    listed = {s: f.counts() for s, f in state.files.items()}
    extra = {"limit_per_class": cfg.limit_per_class, "listed": listed}
    if state.mix is not None:
        from .sources import per_source_markdown

        extra["sources_file"] = state.sources.path
        extra["held_out"] = sorted(state.mix.held_out)
        extra["per_source"] = state.mix.rows
        run.write_json(PER_SOURCE_FILE, ev.per_source)
        run.write_text(PER_SOURCE_TABLE, per_source_markdown(ev.per_source))
    run.write_json(DATA_SUMMARY_FILE, summary(state.layout, state.usable, state.skipped, extra))
    state.write_config()


def _train(state: _Run) -> tuple[dict[str, Any], _Evaluation, bool]:
    """Build, fit (Ctrl-C: what was finished stays), save, evaluate."""
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

    epoch_log, best = _callbacks(save_best, cfg.epochs)
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
    ev = _evaluate(state, splits, failed, forward)
    if state.mix is not None:
        ev.per_source = _per_source(state, ev, forward)
    return history, ev, split is not None


def _per_source(state: _Run, ev: _Evaluation, forward) -> dict[str, Any]:
    """Every source's test split (held-out and evaluation-only ones too) at the run's threshold."""
    from .pipeline import forward_files
    from .sources import per_source_markdown, per_source_table

    cfg, mix = state.cfg, state.mix
    samples = state.files["test"].samples
    p_fake = {samples[i].path: float(p) for i, p in zip(ev.test.index, ev.test.p_fake)}
    rest = [s for f in mix.per_source_test.values() for s in f.samples if s.path not in p_fake]
    if rest:
        probs, _, idx, bad = forward_files(
            forward, SplitFiles("evaluation-only", rest), cfg.spec(), cfg.batch_size
        )
        p_fake.update({rest[i].path: float(p) for i, p in zip(idx, probs[:, FAKE_INDEX])})
        state.skipped += bad
    table = per_source_table(mix, state.sources, p_fake, ev.threshold)
    log("per source (test splits):\n" + per_source_markdown(table))
    return table


def run_fit(cfg: TrainConfig) -> FitResult:
    """Train one model from a recipe and write its run folder."""
    t_start = time.perf_counter()
    cfg.validate()
    chief = _is_chief(cfg.strategy)
    if cfg.cache_features == "on" and cfg.augment:
        raise ConfigError(
            "--cache-features on: augmentation changes what enters the frozen layers; "
            "use --cache-features auto or off with --augment"
        )
    if cfg.resume:
        cfg = _resumed_config(cfg)
    layout, files, mix, sources = _list_files(cfg)
    run = _prepare_out(cfg, chief)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    state = _Run(
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


def _resumed_config(cfg: TrainConfig) -> TrainConfig:
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
    return resumed.validate()


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


def _finish(state: _Run, history, ev, used_cache, t_start) -> FitResult:
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
        _write_results(state, history, ev)
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
