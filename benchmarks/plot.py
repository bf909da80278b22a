"""PNG of latency against accuracy, marker area proportional to file size (matplotlib only here)."""

from __future__ import annotations

import os
from pathlib import Path

from .report import split_merged


def short_name(model: str) -> str:
    """edge_detect_mobilenet_int8.tflite -> int8; other names lose only .tflite."""
    name = model.removesuffix(".tflite")
    return name.removeprefix("edge_detect_mobilenet_") or name


class PlotError(RuntimeError):
    """Nothing to plot, or no matplotlib (one-line message)."""


def plot_results(doc: dict, out: str | os.PathLike, latency: str = "e2e_ms") -> Path:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotError(
            "matplotlib is not installed: the plot is the one part of the benchmarks that needs it "
            "(pip install matplotlib, or plot the JSON on another machine)"
        ) from None
    results = split_merged(doc)
    points = []
    for d in results:
        for r in d["rows"]:
            stats = r.get(latency) or {}
            if r.get("status") == "ok" and r.get("accuracy") is not None and stats.get("p50"):
                points.append((d["machine"]["label"], r))
    if not points:
        raise PlotError("no row has both accuracy and latency: run the benchmark with --data DIR")
    labels = list(dict.fromkeys(label for label, _ in points))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    sizes = [r.get("size_mb") or 0.0 for _, r in points]
    biggest = max(sizes) or 1.0
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    for i, label in enumerate(labels):
        mine = [(r, s) for (lab, r), s in zip(points, sizes) if lab == label]
        ax.scatter(
            [r[latency]["p50"] for r, _ in mine],
            [r["accuracy"] * 100 for r, _ in mine],
            s=[40 + 1200 * s / biggest for _, s in mine],
            alpha=0.55,
            color=colours[i % len(colours)],
            edgecolors="black",
            linewidths=0.6,
            label=label,
        )
        for j, (r, s) in enumerate(mine):
            # Staggered labels keep points at nearly the same place readable.
            ax.annotate(
                f"{short_name(r['model'])} ({s:.1f} MB)",
                (r[latency]["p50"], r["accuracy"] * 100),
                textcoords="offset points",
                xytext=(9, 4 - 11 * (j % 3)),
                fontsize=8,
            )
    xs = [r[latency]["p50"] for _, r in points]
    if max(xs) / min(xs) > 4:
        ax.set_xscale("log")
        plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.margins(x=0.25)
    ys = [r["accuracy"] * 100 for _, r in points]
    pad = max(1.0, (max(ys) - min(ys)) * 0.3)
    ax.set_ylim(min(ys) - pad, max(ys) + pad)
    what = (
        "end-to-end (decode + preprocess + invoke)" if latency == "e2e_ms" else "model-only invoke"
    )
    ax.set_xlabel(f"{what} latency p50, ms per image")
    ax.set_ylabel("accuracy on the labelled folder, %")
    ax.set_title("edge-detect: latency vs accuracy (marker area = file size)")
    ax.grid(True, alpha=0.3)
    if len(labels) > 1 or labels[0]:
        legend = ax.legend(title="machine", fontsize=8)
        for handle in legend.legend_handles:
            handle.set_sizes([60])
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, out)
    return out
