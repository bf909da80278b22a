"""`python -m train fit`: one training run -> one run folder.

Run folder: model.keras (best validation loss; written to a temporary name, then renamed),
config.json, data_summary.json, history.json, curves.png, test_metrics.json,
confusion_matrix.png, predictions.csv, and threshold.json when --threshold-from-valid.
"""

from __future__ import annotations

import csv
import io
import json
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

from edge_runtime.fileio import atomic_write_json, atomic_write_text
from edge_runtime.types import LABELS

from .config import TrainConfig, default_run_name
from .data import (
    SPLITS,
    Skipped,
    SplitFiles,
    decode_files,
    find_layout,
    list_split,
    require_both_classes,
    summary,
)
from .errors import ConfigError, DataError
from .log import log
from edge_runtime.evaluation import CONVENTION, best_threshold, binary_metrics

MODEL_FILE = "model.keras"


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


def _prepare_out(cfg: TrainConfig, chief: bool) -> Path:
    if not chief:
        return Path(tempfile.mkdtemp(prefix="edge_detect_worker_"))
    out = Path(cfg.out or Path("runs") / default_run_name())
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not cfg.overwrite:
            raise ConfigError(f"--out {out}: folder exists and is not empty (use --overwrite or another --out)")
        for name in (MODEL_FILE, "test_metrics.json", "threshold.json", "history.json"):
            (out / name).unlink(missing_ok=True)  # no stale result may pass for this run's
    out.mkdir(parents=True, exist_ok=True)
    cfg.out = str(out)
    return out


def _make_strategy(name: str):
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if "TF_CONFIG" not in os.environ:
        raise ConfigError("--strategy multiworker needs the TF_CONFIG environment variable (see train/README.md)")
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


def _callbacks(save_best, epochs: int):
    import keras

    class EpochLog(keras.callbacks.Callback):
        """One line per epoch on stderr, and the per-epoch history with timings."""

        def __init__(self) -> None:
            super().__init__()
            self.history: dict[str, list] = {"epoch": [], "epoch_seconds": []}
            self._t0 = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self._t0
            self.history["epoch"].append(epoch + 1)
            self.history["epoch_seconds"].append(round(seconds, 3))
            for k, v in (logs or {}).items():
                self.history.setdefault(k, []).append(float(v))
            parts = " - ".join(f"{k} {float(v):.4f}" for k, v in (logs or {}).items())
            log(f"epoch {epoch + 1}/{epochs} - {seconds:.1f}s - {parts}")

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

        def on_train_end(self, logs=None):
            if self.weights is not None:
                for v, w in zip(self.model.weights, self.weights):
                    v.assign(w)

    return EpochLog(), BestWeights()


def _feature_store(n: int, shape: tuple[int, ...], cfg: TrainConfig, out: Path, name: str) -> np.ndarray:
    """RAM when the cache fits in --memory-gb, else a float32 np.memmap in the run folder."""
    nbytes = n * int(np.prod(shape)) * 4
    if nbytes <= cfg.memory_gb * 1e9:
        return np.empty((n,) + shape, dtype=np.float32)
    cache_dir = out / ".feature_cache"
    cache_dir.mkdir(exist_ok=True)
    log(f"feature cache for {name}: {nbytes / 1e9:.1f} GB on disk in {cache_dir}")
    return np.lib.format.open_memmap(cache_dir / f"{name}.npy", mode="w+", dtype=np.float32, shape=(n,) + shape)


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
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):
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


def run_fit(cfg: TrainConfig) -> FitResult:
    """Train one model from a recipe and write its run folder."""
    t_start = time.perf_counter()
    cfg.validate()
    spec = cfg.spec()
    chief = _is_chief(cfg.strategy)
    if cfg.cache_features == "on" and cfg.augment:
        raise ConfigError(
            "--cache-features on: augmentation changes what enters the frozen layers; "
            "use --cache-features auto or off with --augment"
        )

    # Data first: a missing split or an empty class fails before TensorFlow even loads.
    layout = find_layout(cfg.data, cfg.use_csv)
    files = {s: list_split(layout, s, cfg.limit_per_class, cfg.seed) for s in SPLITS}
    for f in files.values():
        require_both_classes(f, str(layout.root))
    log(
        "data " + str(layout.root) + ": "
        + ", ".join(f"{s} {f.counts()['real']} real + {f.counts()['fake']} fake" for s, f in files.items())
        + (f" (file lists from {', '.join(sorted(layout.csv_files))} CSV)" if layout.csv_files else "")
    )
    out = _prepare_out(cfg, chief)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    resolved: dict[str, Any] = {"status": "running", "started": started, "command": sys.argv}
    config_path = out / "config.json"

    def write_config() -> None:
        atomic_write_json(config_path, {**cfg.to_dict(), "resolved": resolved})

    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = _make_strategy(cfg.strategy)
    from .model import build_model, cache_split, compile_model, save_model_atomic
    from .pipeline import (
        FailedFiles,
        array_dataset,
        file_dataset,
        forward_files,
        forward_images,
        make_forward,
        one_hot,
    )

    split = None
    with strategy.scope():  # the variables (and the cached tail's) belong to the strategy
        built = build_model(cfg)
        model = built.model
        if cfg.cache_features != "off" and not cfg.augment:
            split = cache_split(model)
    if split is None and cfg.cache_features == "on":
            raise ConfigError("--cache-features on: no frozen layers to cache (--trainable-layers all?)")
    resolved.update(
        versions=_versions(),
        host={"machine": platform.machine(), "cpu_count": os.cpu_count()},
        strategy={"name": cfg.strategy, "replicas": strategy.num_replicas_in_sync},
        n_params=int(model.count_params()),
        n_trainable_params=int(sum(int(np.prod(w.shape)) for w in model.trainable_weights)),
        n_base_layers=len(built.base_layers),
        trainable_base_layers=[layer.name for layer in built.trainable_base_layers],
        feature_cache={"used": split is not None, "cut_after": split.cut_layer if split else None,
                       "feature_shape": list(split.feature_shape) if split else None},
        output_layer="probabilities (index 0 = fake, 1 = real)",
    )
    write_config()
    log(
        f"{model.name}: {resolved['n_trainable_params']:,} of {resolved['n_params']:,} parameters trainable "
        f"({len(built.trainable_base_layers)} base layers + head)"
        + (f"; training from cached features after {split.cut_layer}" if split else "")
    )

    skipped: list[Skipped] = [k for f in files.values() for k in f.skipped]
    failed = FailedFiles()
    timing: dict[str, Any] = {}
    usable: dict[str, SplitFiles] = {}
    fwd_model = make_forward(model)

    def save_best() -> None:
        if cfg.checkpoint or not chief:
            save_model_atomic(model, out / MODEL_FILE)

    epoch_log, best = _callbacks(save_best, cfg.epochs)
    valid_pfake: np.ndarray
    valid_labels: np.ndarray
    valid_paths: list[str]

    def keep(name: str, idx: np.ndarray) -> None:
        usable[name] = SplitFiles(name, [files[name].samples[i] for i in idx], source=files[name].source)

    try:
        if split is not None:
            t0 = time.perf_counter()
            fwd_prefix = make_forward(split.prefix)
            feats: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
            for name in ("train", "valid"):
                store = _feature_store(len(files[name].samples), split.feature_shape, cfg, out, name)
                store, _, idx, bad = forward_files(
                    fwd_prefix, files[name], spec, cfg.batch_size, out=store, what="caching features of"
                )
                skipped += bad
                keep(name, idx)
                labels_all = np.array([s.label for s in files[name].samples], dtype=np.int64)
                feats[name] = (store, labels_all, idx)
            timing["feature_cache_seconds"] = round(time.perf_counter() - t0, 3)
            log(f"cached features of {sum(len(v[2]) for v in feats.values())} images "
                f"in {timing['feature_cache_seconds']:.1f}s")
            for name in ("train", "valid"):
                require_both_classes(usable[name], str(layout.root))
            train_ds = array_dataset(feats["train"][0], one_hot(feats["train"][1]), cfg.batch_size,
                                     True, cfg.seed, rows=feats["train"][2])
            val_ds = array_dataset(feats["valid"][0], one_hot(feats["valid"][1]), cfg.batch_size,
                                   False, cfg.seed, rows=feats["valid"][2])
            trained = split.tail
        else:
            per_image = spec.height * spec.width * 3
            fits = (len(files["train"].samples) + len(files["valid"].samples)) * per_image <= cfg.memory_gb * 1e9
            in_memory = cfg.in_memory == "on" or (cfg.in_memory == "auto" and fits)
            t0 = time.perf_counter()
            decoded = {}
            for name in ("train", "valid"):
                if in_memory and not (name == "train" and cfg.augment):
                    dec = decode_files(files[name], spec)
                    skipped += dec.skipped
                    keep(name, dec.index)
                    require_both_classes(usable[name], str(layout.root))
                    decoded[name] = dec
            timing["decode_seconds"] = round(time.perf_counter() - t0, 3)
            if "train" in decoded:
                d = decoded["train"]
                train_ds = array_dataset(d.images, one_hot(d.labels), cfg.batch_size, True, cfg.seed, spec=spec)
            else:
                train_ds = file_dataset(files["train"], spec, cfg.batch_size, True, cfg.seed, failed,
                                        cfg.augment, cfg.random_crop_fraction)
            if "valid" in decoded:
                d = decoded["valid"]
                val_ds = array_dataset(d.images, one_hot(d.labels), cfg.batch_size, False, cfg.seed, spec=spec)
            else:
                val_ds = file_dataset(files["valid"], spec, cfg.batch_size, False, cfg.seed, failed)
            log("training on " + ("decoded images in memory" if "train" in decoded else "images streamed from files")
                + (f" with augmentation {','.join(cfg.augment)}" if cfg.augment else ""))
            trained = model

        with strategy.scope():
            compile_model(trained, cfg, built)
        if cfg.strategy == "multiworker":
            _work_around_keras_20585(trained, train_ds)
        t0 = time.perf_counter()
        trained.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, verbose=0, shuffle=False,
                    callbacks=[epoch_log, best])
        timing["fit_seconds"] = round(time.perf_counter() - t0, 3)
    except KeyboardInterrupt:
        resolved["status"] = "interrupted"
        history = {**epoch_log.history, "best_epoch": best.best_epoch, "interrupted": True}
        if chief:
            atomic_write_json(out / "history.json", history)
            write_config()
        kept = "the best model so far is in model.keras" if (out / MODEL_FILE).exists() else "no model was saved"
        raise Interrupted(f"interrupted after {len(epoch_log.history['epoch'])} epoch(s); {kept}") from None

    history = {
        **epoch_log.history,
        "best_epoch": best.best_epoch,
        "best_val_loss": None if not np.isfinite(best.best) else best.best,
    }
    if best.weights is None:
        log("validation loss never finite: keeping the last epoch's weights")
    save_model_atomic(model, out / MODEL_FILE)

    # Validation scores (for the threshold) through the path that validated during training.
    t0 = time.perf_counter()
    if split is not None:
        store, labels_all, idx = feats["valid"]
        fwd_tail = make_forward(split.tail)
        probs = np.concatenate([fwd_tail(np.asarray(store[idx[i : i + cfg.batch_size]]))
                                for i in range(0, len(idx), cfg.batch_size)])
        valid_labels, valid_paths = labels_all[idx], [files["valid"].samples[i].path for i in idx]
    elif "valid" in decoded:
        d = decoded["valid"]
        probs = forward_images(fwd_model, d.images, spec, cfg.batch_size)
        valid_labels, valid_paths = d.labels, [files["valid"].samples[i].path for i in d.index]
    else:
        probs, valid_labels, idx, bad = forward_files(fwd_model, files["valid"], spec, cfg.batch_size)
        skipped += [b for b in bad if b.path not in failed.reasons]
        keep("valid", idx)
        valid_paths = [files["valid"].samples[i].path for i in idx]
    valid_pfake = probs[:, 0]
    test_probs, test_labels, test_idx, bad = forward_files(fwd_model, files["test"], spec, cfg.batch_size)
    skipped += bad
    keep("test", test_idx)
    require_both_classes(usable["test"], str(layout.root))
    test_pfake = test_probs[:, 0]
    timing["evaluate_seconds"] = round(time.perf_counter() - t0, 3)

    if "train" not in usable:  # streamed: the files that failed while streaming are left out
        keep("train", np.array([i for i, s in enumerate(files["train"].samples) if s.path not in failed.reasons],
                               dtype=np.int64))
    for path, reason in failed.reasons.items():
        skipped.append(Skipped(path, reason, "train" if any(s.path == path for s in files["train"].samples)
                               else "valid"))
    if "valid" not in usable:
        keep("valid", np.array([i for i, s in enumerate(files["valid"].samples) if s.path not in failed.reasons],
                               dtype=np.int64))

    if cfg.threshold_from_valid:
        threshold, valid_acc = best_threshold(valid_labels, valid_pfake)
        threshold_source = f"maximises validation accuracy ({valid_acc:.4f})"
    else:
        threshold, threshold_source = 0.5, "default (argmax of the two probabilities)"
    test_m = binary_metrics(test_labels, test_pfake, threshold)
    valid_m = binary_metrics(valid_labels, valid_pfake, threshold)
    metrics: dict[str, Any] = {
        "positive_class": "real",
        "convention": CONVENTION,
        "threshold": threshold,
        "threshold_source": threshold_source,
        "test": test_m.to_dict(),
        "valid": valid_m.to_dict(),
    }
    if threshold != 0.5:
        metrics["test_at_0.5"] = binary_metrics(test_labels, test_pfake, 0.5).to_dict()
    timing["total_seconds"] = round(time.perf_counter() - t_start, 3)
    history["timing"] = timing
    resolved.update(status="done", finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), threshold=threshold,
                    best_epoch=best.best_epoch, timing=timing)

    if chief:
        from .plots import plot_confusion, plot_curves

        atomic_write_json(out / "history.json", history)
        plot_curves(history, out / "curves.png", title=f"{Path(out).name}: {cfg.arch}")
        atomic_write_json(out / "test_metrics.json", metrics)
        plot_confusion(test_m.confusion_matrix, out / "confusion_matrix.png",
                       title=f"test, threshold {threshold:.3f} (positive = real)")
        rows = [("valid", p, int(y), float(v)) for p, y, v in zip(valid_paths, valid_labels, valid_pfake)]
        rows += [("test", files["test"].samples[i].path, int(y), float(v))
                 for i, y, v in zip(test_idx, test_labels, test_pfake)]
        atomic_write_text(out / "predictions.csv", _predictions_csv(rows))
        if cfg.threshold_from_valid:
            atomic_write_json(out / "threshold.json", {
                "threshold": threshold, "rule": "fake when P(fake) >= threshold",
                "source": threshold_source, "valid_accuracy": valid_m.accuracy,
            })
        atomic_write_json(out / "data_summary.json", summary(layout, usable, skipped, {
            "limit_per_class": cfg.limit_per_class,
            "listed": {s: f.counts() for s, f in files.items()},
        }))
        write_config()
    shutil.rmtree(out / ".feature_cache", ignore_errors=True)
    if not chief:
        shutil.rmtree(out, ignore_errors=True)
    log(
        f"test accuracy {test_m.accuracy:.4f}, AUC "
        + (f"{test_m.roc_auc:.4f}" if test_m.roc_auc is not None else "n/a")
        + f" (threshold {threshold:.3f}); "
        + (f"run folder {out}" if chief else "non-chief worker: the chief writes the run folder")
        + f" ({timing['total_seconds']:.0f}s)"
    )
    return FitResult(run_dir=out, history=history, test=metrics, threshold=threshold,
                     used_cache=split is not None, timing=timing)


__all__ = ["MODEL_FILE", "DataError", "FitResult", "Interrupted", "run_fit"]
