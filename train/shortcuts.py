"""Shortcut checks: can the label be read from the file format, and is P(fake) format-stable?

`python -m train shortcut-check`: a small k-nearest-neighbour classifier that sees only format
features (bytes per pixel, width, height, the JPEG quality estimated from the quantisation
table) learns real vs fake on the training sources' train+valid files and is scored on their
test files: once on the files as stored ("before") and once on the bytes the training pipeline
produces from them (train/harmonize.py, "after"). Before should be well above chance (the
sources differ in format), after near chance (the pipeline removed the cue).

`python -m train stability MODEL SET...`: P(fake) of a model (Keras run, .tflite, bundle or
variant) on the original images and on JPEG re-encodings (quality 70-95) and 0.5x-2x resize
round trips; per transform the mean |dP| and the share of flipped decisions.

No TensorFlow here (a Keras MODEL loads it through train.evaluate).
"""

from __future__ import annotations

import io
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from edge_runtime.types import REAL_INDEX
from workbench.evaluation import Sample, SplitFiles, roc_auc

from .harmonize import Harmonize, file_rng, harmonized_bytes
from .sources import build_mix, load_sources

log = logging.getLogger(__name__).info

# libjpeg's standard luminance quantisation table (quality 50), in natural (row-major) order.
_STD_LUMA = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
     14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
     18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    dtype=np.float64,
)  # fmt: skip


def _table_at(quality: int) -> np.ndarray:
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip(np.floor((_STD_LUMA * scale + 50) / 100), 1, 255)


_TABLES = {q: _table_at(q) for q in range(1, 101)}


def jpeg_quality(img: Image.Image) -> float:
    """The libjpeg quality whose luminance table is closest to the file's; 101 = not a JPEG."""
    tables = getattr(img, "quantization", None) or {}
    if 0 not in tables:
        return 101.0
    # Pillow's table order differs between versions; compare the sorted values.
    luma_sorted = np.sort(np.array(list(tables[0]), dtype=np.float64))
    errors = {q: np.abs(np.sort(t) - luma_sorted).mean() for q, t in _TABLES.items()}
    return float(min(errors, key=errors.get))


def format_features(data: bytes) -> np.ndarray:
    """[bytes per pixel, width, height, JPEG quality estimate] of an encoded image."""
    img = Image.open(io.BytesIO(data))
    w, h = img.size
    return np.array([len(data) / (w * h), w, h, jpeg_quality(img)], dtype=np.float64)


def knn_p_real(train_x, train_y, test_x, k: int = 15) -> np.ndarray:
    """Share of real among the k nearest training rows (standardised features)."""
    mu, sd = train_x.mean(0), train_x.std(0) + 1e-9
    a, b = (train_x - mu) / sd, (test_x - mu) / sd
    out = np.empty(len(b))
    for start in range(0, len(b), 512):
        d = ((b[start : start + 512, None, :] - a[None, :, :]) ** 2).sum(-1)
        nearest = np.argpartition(d, min(k, len(a) - 1), axis=1)[:, :k]
        out[start : start + 512] = train_y[nearest].mean(1)
    return out


def _score(train_x, train_y, test_x, test_y) -> dict[str, Any]:
    p_real = knn_p_real(train_x, train_y, test_x)
    pred = (p_real >= 0.5).astype(np.int64)
    majority = max(test_y.mean(), 1 - test_y.mean())
    return {
        "accuracy": float((pred == test_y).mean()),
        "roc_auc": roc_auc(test_y, p_real),  # positive class = real, as the evaluation layer
        "majority_share": float(majority),
        "n_train": len(train_y),
        "n_test": len(test_y),
    }


def shortcut_check(
    sources_file: str | None,
    root: str | None,
    h: Harmonize,
    limit: int | None = 300,
    seed: int = 42,
) -> dict[str, Any]:
    """Format-only classifier accuracy before and after the training pipeline."""
    sources = load_sources(sources_file)
    mix = build_mix(sources, root, (), limit, seed)
    fit_rows = mix.splits["train"].samples + mix.splits["valid"].samples
    test_rows = mix.splits["test"].samples
    result: dict[str, Any] = {"harmonize": h.__dict__, "limit_per_source_split": limit}
    for stage in ("before", "after"):
        feats = {}
        for sample in fit_rows + test_rows:
            data = Path(sample.path).read_bytes()
            if stage == "after":
                img = Image.open(io.BytesIO(data)).convert("RGB")
                data = harmonized_bytes(img, h, file_rng(sample.path, seed))
            feats[sample.path] = format_features(data)
        x_fit = np.stack([feats[s.path] for s in fit_rows])
        x_test = np.stack([feats[s.path] for s in test_rows])
        y_fit = np.array([s.label == REAL_INDEX for s in fit_rows], dtype=np.float64)
        y_test = np.array([s.label for s in test_rows], dtype=np.int64)
        result[stage] = _score(x_fit, y_fit, x_test, y_test)
        # Which features carry what is left: bytes per pixel also follows image content
        # (texture, blur), width/height/quality are pure format.
        for name, cols in (("bytes_per_pixel", [0]), ("size_and_quality", [1, 2, 3])):
            result[stage][name] = _score(x_fit[:, cols], y_fit, x_test[:, cols], y_test)["accuracy"]
        log(f"{stage}: format-only accuracy {result[stage]['accuracy']:.4f}")
    return result


# Transforms of the stability check: (name, kind, value).
STABILITY_TRANSFORMS = (
    ("jpeg q95", "jpeg", 95),
    ("jpeg q90", "jpeg", 90),
    ("jpeg q80", "jpeg", 80),
    ("jpeg q70", "jpeg", 70),
    ("resize 0.5x", "resize", 0.5),
    ("resize 0.75x", "resize", 0.75),
    ("resize 1.5x", "resize", 1.5),
    ("resize 2x", "resize", 2.0),
)


def _transformed(path: str, kind: str, value: float, out: Path) -> str:
    img = Image.open(path).convert("RGB")
    if kind == "jpeg":
        target = out / (Path(path).stem + ".jpg")
        img.save(target, format="JPEG", quality=int(value))
    else:  # resize round trip, lossless file so only the resampling changes the pixels
        w, h = img.size
        small = img.resize((max(8, round(w * value)), max(8, round(h * value))), Image.BICUBIC)
        target = out / (Path(path).stem + ".png")
        small.resize((w, h), Image.BICUBIC).save(target)
    return str(target)


def stability(
    model: str,
    sets: Sequence[str],
    limit: int | None = 100,
    seed: int = 0,
    num_threads=None,
    sources_file: str | None = None,
) -> dict[str, Any]:
    """Mean |dP(fake)| and flipped share per transform, over the images of the sets (or, with
    sources_file, of every training source's fixed test split: images no run trained on)."""
    from .data import eval_set, limit_per_class
    from .evaluate import make_scorer

    samples: list[Sample] = []
    for s in sets:
        samples += limit_per_class(eval_set(s), limit, seed).samples
    if sources_file:
        mix = build_mix(load_sources(sources_file), None, (), limit, seed)
        samples += mix.splits["test"].samples
        sets = [*sets, f"{sources_file} (test splits)"]
    scorer = make_scorer(model, 64, num_threads)
    t = scorer.threshold
    base_p, _, bad = scorer.score(SplitFiles("original", samples))
    bad_paths = {b.path for b in bad}
    kept = [s for s in samples if s.path not in bad_paths]
    rows = []
    with tempfile.TemporaryDirectory(prefix="edge_detect_stability_") as tmp:
        for name, kind, value in STABILITY_TRANSFORMS:
            folder = Path(tmp) / name.replace(" ", "_")
            folder.mkdir()
            moved = [Sample(_transformed(s.path, kind, value, folder), s.label) for s in kept]
            p, _, bad2 = scorer.score(SplitFiles(name, moved))
            if bad2:
                raise RuntimeError(f"{name}: {len(bad2)} transformed images failed")
            dp = np.abs(p - base_p)
            flipped = (p >= t) != (base_p >= t)
            rows.append(
                {
                    "transform": name,
                    "n": len(p),
                    "mean_abs_dp": float(dp.mean()),
                    "max_abs_dp": float(dp.max()),
                    "flipped_share": float(flipped.mean()),
                }
            )
            log(f"{name}: mean |dP| {dp.mean():.4f}, flipped {flipped.mean():.4f}")
    overall = {
        "mean_abs_dp": float(np.mean([r["mean_abs_dp"] for r in rows])),
        "flipped_share": float(np.mean([r["flipped_share"] for r in rows])),
    }
    return {"model": model, "threshold": t, "sets": list(sets), "rows": rows, "overall": overall}


def stability_markdown(result: dict[str, Any]) -> str:
    lines = ["| transform | n | mean abs dP | max abs dP | flipped |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(
            f"| {r['transform']} | {r['n']} | {r['mean_abs_dp']:.4f} | {r['max_abs_dp']:.4f} | "
            f"{r['flipped_share']:.4f} |"
        )
    o = result["overall"]
    lines.append(f"| all | | {o['mean_abs_dp']:.4f} | | {o['flipped_share']:.4f} |")
    return "\n".join(lines) + "\n"


def shortcut_markdown(result: dict[str, Any]) -> str:
    lines = [
        "| stage | all four features: accuracy | ROC AUC | bytes/pixel only | "
        "width, height, quality only | majority share | n train | n test |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for stage in ("before", "after"):
        r = result[stage]
        auc = "n/a" if r["roc_auc"] is None else f"{r['roc_auc']:.4f}"
        lines.append(
            f"| {stage} | {r['accuracy']:.4f} | {auc} | {r['bytes_per_pixel']:.4f} | "
            f"{r['size_and_quality']:.4f} | {r['majority_share']:.4f} | "
            f"{r['n_train']} | {r['n_test']} |"
        )
    return "\n".join(lines) + "\n"


__all__ = [
    "format_features",
    "jpeg_quality",
    "shortcut_check",
    "shortcut_markdown",
    "stability",
    "stability_markdown",
]
