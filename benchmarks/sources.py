"""`python -m benchmarks sources`: accuracy per training source, each model against the first.

The sources, their fixed test splits (evaluation-only sets whole), the seeded
--limit-per-class sample and the per-source figures are workbench/sources.py's, the same
definitions `python -m train evaluate MODEL --sources` uses; each model runs through the
runtime's own Detector at its bundle's threshold, face stage off (the input is the face crop,
as in the accuracy columns of `benchmarks run`). No TensorFlow, no train import.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.evaluation import SplitFiles
from workbench.paths import PEER_MODELS
from workbench.sources import SourceList, per_source_figures

log = logging.getLogger(__name__).info  # progress on stderr (console.setup_logging)


@dataclass
class ModelColumn:
    """One model's figures on every source, or why it has none."""

    label: str
    model: str  # as given: a variant name or a path
    path: str = ""
    threshold: float | None = None
    figures: dict[str, Any] | None = None  # workbench.sources.per_source_figures
    skipped: list[dict[str, str]] = field(default_factory=list)  # unreadable test images
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "model": self.model,
            "path": self.path,
            "threshold": self.threshold,
            "error": self.error,
            "n_skipped": len(self.skipped),
            "skipped": self.skipped,
            "figures": self.figures,
        }


def model_label(model: str) -> str:
    """A column name: the variant name as given, else the file's name without .tflite."""
    p = Path(model)
    return p.name[: -len(".tflite")] if p.name.endswith(".tflite") else p.name


def peer_models() -> dict[str, Path]:
    """The published peers' bundles in the checkout (models/peers/*/), by name: the file's
    stem, e.g. mesonet_meso4_df_int8 (a hyphenated mesonet-meso4-df-int8 is taken too)."""
    return {p.stem: p for p in sorted(PEER_MODELS.glob("*/*.tflite"))}


def resolve_peer(model: str) -> str:
    """A peer's name -> its .tflite path; anything else (a path, a bundled name) as given."""
    found = peer_models().get(model.replace("-", "_"))
    return str(found) if found is not None and not Path(model).exists() else model


def score_model(
    model: str,
    sources: SourceList,
    tests: dict[str, SplitFiles],
    threads: int,
    label: str | None = None,
) -> ModelColumn:
    """P(fake) of every test file through the runtime's Detector, then the per-source figures.
    A model that cannot load or run gives a column with its one-line error, never an exception."""
    from edge_runtime.detector import Detector
    from edge_runtime.types import DetectionError, DetectorOptions, EdgeDetectError, FaceOptions

    column = ModelColumn(label or model_label(model), model)
    try:
        detector = Detector(
            DetectorOptions(
                model=resolve_peer(model), num_threads=threads, faces=FaceOptions(mode="none")
            )
        )
        column.path = str(detector.bundle.path)
        column.threshold = detector.threshold
        p_fake: dict[str, float] = {}
        for src in sources.sources:
            files = tests[src.name].samples
            log(f"{column.label}: {src.name} ({len(files)} images)")
            for sample, result in zip(files, detector.detect_many(s.path for s in files)):
                if isinstance(result, DetectionError):
                    column.skipped.append({"path": sample.path, "reason": result.error})
                else:
                    p_fake[sample.path] = result.fake_probability
    except Exception as e:  # noqa: BLE001 - a broken model fails its own column, in one line
        # The runtime's own errors name the file and the reason; anything else gets its type.
        text = str(e) if isinstance(e, EdgeDetectError) else f"{type(e).__name__}: {e}"
        column.error = " ".join(text.split())
        return column
    column.figures = per_source_figures(sources, tests, p_fake, column.threshold)
    return column


def table_rows(sources: SourceList, columns: list[ModelColumn]) -> list[dict[str, Any]]:
    """One row per source, then one per two-class folder: n, and per model accuracy, ROC AUC
    (folders only) and the accuracy drop in percentage points against the first model."""
    ok = [c for c in columns if c.ok]
    if not ok:
        return []
    reference = columns[0] if columns[0].ok else None  # no drop without the float reference
    rows: list[dict[str, Any]] = []
    first = ok[0].figures
    layout = [("source", r["source"], r["class"], r["family"]) for r in first["sources"]]
    layout += [("folder", r["folder"], "both", "") for r in first["folders"]]
    for kind, name, cls, family in layout:
        row: dict[str, Any] = {"kind": kind, "name": name, "class": cls, "family": family}
        per_model: dict[str, dict[str, Any]] = {}
        for c in ok:
            fig = _figure(c, kind, name)
            per_model[c.label] = {
                "n": fig["n"],
                "accuracy": fig["accuracy"],
                "roc_auc": fig.get("roc_auc"),
            }
        row["n"] = per_model[ok[0].label]["n"]
        if reference is not None:
            ref_acc = per_model[reference.label]["accuracy"]
            for c in ok[1:]:
                acc = per_model[c.label]["accuracy"]
                drop = None if acc is None or ref_acc is None else (acc - ref_acc) * 100.0
                per_model[c.label]["delta_pp"] = drop
        row["models"] = per_model
        rows.append(row)
    return rows


def _figure(column: ModelColumn, kind: str, name: str) -> dict[str, Any]:
    if kind == "source":
        return next(r for r in column.figures["sources"] if r["source"] == name)
    found = [r for r in column.figures["folders"] if r["folder"] == name]
    return found[0] if found else {"n": 0, "accuracy": None, "roc_auc": None}


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100.0 * v:.2f}"


def _pp(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.2f}"


def _auc(v: float | None) -> str:
    return "—" if v is None else f"{v:.4f}"


def _shown(path: str) -> str:
    """A path relative to the working directory when it lies under it (the table is pasted)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path


def _no_crop(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return ""
    return f"{summary['images'] - summary['ok']} / {summary['images']}"


def render(
    columns: list[ModelColumn],
    rows: list[dict[str, Any]],
    crops: dict[str, dict[str, Any]] | None = None,
) -> str:
    """The markdown table and one line per model (file, threshold, skipped images, failure).
    crops: a prepare-crops tree's per-source summaries (workbench.crops.read_crop_summary):
    adds each source's images without a crop (no face, too small, unreadable), all splits."""
    ref = columns[0].label if columns else ""
    head = ["source / folder", "class", "family", "n"]
    if crops:
        head.append("no crop (all splits)")
    for i, c in enumerate(columns):
        head.append(f"{c.label} acc %")
        if i:
            head.append(f"{c.label} Δ pp")
        head.append(f"{c.label} AUC")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for row in rows:
        name = row["name"] if row["kind"] == "source" else f"{row['name']} (both classes)"
        cells = [name, row["class"], row["family"], str(row["n"])]
        if crops:
            cells.append(_no_crop(crops.get(row["name"])) if row["kind"] == "source" else "")
        for i, c in enumerate(columns):
            m = row["models"].get(c.label)
            if m is None:
                cells += ["failed"] * (3 if i else 2)
                continue
            cells.append(_pct(m["accuracy"]))
            if i:
                cells.append(_pp(m.get("delta_pp")))
            cells.append(_auc(m["roc_auc"]))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for c in columns:
        if c.ok:
            lines.append(
                f"- {c.label}: {_shown(c.path)}, threshold {c.threshold:.4f}, "
                f"{len(c.skipped)} unreadable test image(s) not counted"
            )
        else:
            lines.append(f"- {c.label}: failed: {c.error}")
    if columns and not columns[0].ok:
        lines.append(f"- no Δ column: the reference model ({ref}) failed")
    if crops:
        lines.append(
            "- scored on the face stage's crops (`python -m train prepare-crops`); an image "
            "without a crop is not in n: a real one is not called fake, a fake one not caught"
        )
    return "\n".join(lines) + "\n"


def document(
    sources: SourceList,
    root: str | os.PathLike,
    limit: int | None,
    seed: int,
    threads: int,
    columns: list[ModelColumn],
    rows: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "sources_file": sources.path,
        "data_root": str(root),
        "limit_per_class": limit,
        "seed": seed,
        "threads": threads,
        "reference": columns[0].label if columns else None,
        "accuracy": "fake sources: fakes caught; real sources: reals called real; folders: both",
        "models": [c.to_dict() for c in columns],
        "rows": rows,
    }


__all__ = [
    "ModelColumn",
    "document",
    "model_label",
    "peer_models",
    "render",
    "resolve_peer",
    "score_model",
    "table_rows",
]
