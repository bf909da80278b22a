"""The Keras callbacks of a training run: one log line per epoch, the best weights kept.

The "epoch N/M - ..." lines go to stderr and <run>/train.log (scripts and people read them):
keep their format. Imported only once TensorFlow is needed (train/fit.py).
"""

from __future__ import annotations

import logging
import time

import keras
import numpy as np

log = logging.getLogger(__name__).info  # progress lines on stderr (console.setup_logging)


def format_eta(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else (f"{seconds // 60}m{seconds % 60:02d}s")
    )


class EpochLog(keras.callbacks.Callback):
    """One line per epoch on stderr, and the per-epoch history with timings."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.total_epochs = epochs
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
        epochs = self.total_epochs
        steps = (self.params or {}).get("steps") or 0
        spent = now - self._t0
        left = spent / (batch + 1) * max(0, steps - batch - 1) if steps else 0.0
        run_left = self._run_eta(left, spent + left, epochs - self._epoch - 1)
        log(
            f"epoch {self._epoch + 1}/{epochs}: batch {batch + 1}/{steps or '?'}, "
            f"epoch ETA {format_eta(left)}, run ETA {format_eta(run_left)}"
        )

    def on_epoch_end(self, epoch, logs=None):
        epochs = self.total_epochs
        seconds = time.perf_counter() - self._t0
        self.history["epoch"].append(epoch + 1)
        self.history["epoch_seconds"].append(round(seconds, 3))
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))
        parts = " - ".join(f"{k} {float(v):.4f}" for k, v in (logs or {}).items())
        eta = self._run_eta(0.0, seconds, epochs - epoch - 1)
        log(f"epoch {epoch + 1}/{epochs} - {seconds:.1f}s - {parts} - ETA {format_eta(eta)}")


class BestWeights(keras.callbacks.Callback):
    """Keep (and restore at the end) the weights of the lowest validation loss."""

    def __init__(self, save_best) -> None:
        super().__init__()
        self.save_best = save_best
        self.best = np.inf
        self.best_epoch = 0
        self.weights = None

    def on_epoch_end(self, epoch, logs=None):
        val = float((logs or {}).get("val_loss", np.nan))
        if np.isfinite(val) and val < self.best:
            self.best, self.best_epoch = val, epoch + 1
            self.weights = [v.numpy() for v in self.model.weights]
            self.save_best()

    def restore_best(self):
        """At the end of the run (not of each per-epoch fit call)."""
        if self.weights is not None:
            for v, w in zip(self.model.weights, self.weights):
                v.assign(w)
