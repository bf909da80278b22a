"""PNG figures of a run: accuracy/loss curves and the confusion matrix (matplotlib, no display)."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

from edge_runtime.fileio import atomic_write_bytes
from edge_runtime.types import LABELS


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def plot_curves(history: dict, path: str | os.PathLike, title: str = "") -> None:
    """Training and validation accuracy and loss per epoch; the kept epoch is marked."""
    plt = _pyplot()
    epochs = history.get("epoch", [])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, name in ((axes[0], "accuracy", "accuracy"), (axes[1], "loss", "loss")):
        if history.get(key):
            ax.plot(epochs, history[key], "o-", label=f"train {name}")
        if history.get(f"val_{key}"):
            ax.plot(epochs, history[f"val_{key}"], "s-", label=f"validation {name}")
        best = history.get("best_epoch")
        if best:
            ax.axvline(best, color="grey", linestyle=":", label=f"kept epoch {best}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    _save(fig, path)
    plt.close(fig)


def plot_confusion(
    matrix: Sequence[Sequence[int]], path: str | os.PathLike, title: str = ""
) -> None:
    """Rows = true class, columns = predicted class, in LABELS order (fake, real)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    ax.imshow(matrix, cmap="Blues")
    top = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(
                j,
                i,
                str(value),
                ha="center",
                va="center",
                color="white" if value > top / 2 else "black",
                fontsize=14,
            )
    ax.set_xticks(range(len(LABELS)), [f"pred {name}" for name in LABELS])
    ax.set_yticks(range(len(LABELS)), [f"true {name}" for name in LABELS])
    ax.set_title(title or "confusion matrix (positive = real)")
    _save(fig, path)
    plt.close(fig)
