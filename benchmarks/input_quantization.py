"""What the int8 model's input quantization does to its answers: before (numpy) vs after (table).

    python -m benchmarks.input_quantization [--data DIR] [--model int8] [--reference fp32]

- before: the runtime's former rule, numpy round-half-to-even of normalize(x) / scale + zero
  point (it disagrees with TFLite's own QUANTIZE op on exact ties, and MobileNet's
  (pixel - 127.5) / 127.5 puts every pixel on a tie);
- after: edge_runtime.detector.input_table, one 256-entry lookup = the code TFLite's QUANTIZE op
  gives (tests/test_input_quantization.py checks it against the interpreter).

For each: distinct input codes over the 256 pixel levels, levels that differ from TFLite's
QUANTIZE (the interpreter's own output on a one-op model), accuracy / AUC on the labelled folder
with the bundle's threshold, label agreement with the float reference (same images, same
preprocessing), and mean / max |P(fake) - P_ref(fake)|. Deterministic: one thread, no timing.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def old_quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """The rule the runtime used before the table (kept here only to measure the change)."""
    scale, zero = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])


def tflite_codes(detail: dict, levels: np.ndarray) -> np.ndarray | None:
    """The interpreter's own QUANTIZE output for the levels (None without ai-edge-litert)."""
    try:
        from .quantize_op import tflite_quantize
    except ImportError:
        return None
    scale, zero = detail["quantization"]
    return tflite_quantize(scale, zero, np.dtype(detail["dtype"]).type, levels)


def build_parser() -> argparse.ArgumentParser:
    from workbench.evaluation import default_sample_dir

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", default=str(default_sample_dir() / "test"), help="real/ + fake/")
    ap.add_argument("--model", default="int8", help="integer-input model (default: int8)")
    ap.add_argument("--reference", default="fp32", help="float reference model (default: fp32)")
    ap.add_argument("--json-out", help="also write the figures to this JSON file")
    return ap


def score_images(det, ref, images, tables: dict[str, np.ndarray]):
    """P(fake) of the reference, and of the model with each input table, per image. Every table
    sees the same preprocessed pixels, so only the input quantization differs."""
    p_ref, p_by = [], {k: [] for k in tables}
    for path, _ in images:
        pixels = det.prepare(path).crops[0]
        p_ref.append(ref.classify(ref.prepare(path))[0])
        for name, table in tables.items():
            x = np.take(table, pixels).reshape(det._in["shape"])
            p_by[name].append(float(det._run(x)[det.fake_index]))
    return np.array(p_ref), p_by


def table_row(table, p: np.ndarray, y, det, p_ref: np.ndarray, ref_labels, truth) -> dict:
    """One input rule's figures against the labels, the reference and TFLite's own codes."""
    from edge_runtime.types import is_fake
    from workbench.evaluation import binary_metrics

    m = binary_metrics(y, p, det.threshold)
    diff = np.abs(p - p_ref)
    return {
        "distinct_codes": int(np.unique(table).size),
        "levels_differing_from_tflite": None if truth is None else int((table != truth).sum()),
        "accuracy": m.accuracy,
        "auc": m.roc_auc,
        "agreement_pct": float((is_fake(p, det.threshold) == ref_labels).mean() * 100.0),
        "mean_abs_dp": float(diff.mean()),
        "max_abs_dp": float(diff.max()),
    }


def main(argv: list[str] | None = None) -> int:
    from edge_runtime.detector import Detector
    from edge_runtime.preprocess import normalize
    from edge_runtime.types import LABELS, DetectorOptions, is_fake
    from workbench.evaluation import binary_metrics

    from .data import labelled_images

    args = build_parser().parse_args(argv)

    det = Detector(DetectorOptions(model=args.model, num_threads=1))
    ref = Detector(DetectorOptions(model=args.reference, num_threads=1))
    if det._table is None:
        print(f"{args.model}: float input, nothing to compare", file=sys.stderr)
        return 2
    images = labelled_images(args.data)
    y = np.array([LABELS.index(label) for _, label in images])
    levels = normalize(np.arange(256, dtype=np.uint8), det.spec)
    truth = tflite_codes(det._in, levels)
    tables = {"before (numpy round)": old_quantize(levels, det._in), "after (table)": det._table}

    p_ref_a, p_by = score_images(det, ref, images, tables)
    ref_labels = is_fake(p_ref_a, ref.threshold)
    ref_metrics = binary_metrics(y, p_ref_a, ref.threshold)
    result = {
        "model": str(det.bundle.path),
        "reference": str(ref.bundle.path),
        "data": args.data,
        "images": len(images),
        "input": {"dtype": str(det.input_dtype), "quantization": list(det._in["quantization"])},
        "reference_accuracy": ref_metrics.accuracy,
        "reference_auc": ref_metrics.roc_auc,
        "rows": {},
    }
    print(
        f"{det.model_name} vs {ref.model_name} on {len(images)} images of {args.data}; "
        f"input {det.input_dtype} scale {det._in['quantization'][0]:.9g} zero point "
        f"{det._in['quantization'][1]}; reference accuracy {ref_metrics.accuracy:.4f} "
        f"AUC {ref_metrics.roc_auc:.4f}"
    )
    print(
        f"{'input rule':<22} {'codes':>5} {'≠TFLite':>7} {'acc':>7} {'AUC':>7} "
        f"{'agree %':>7} {'mean|Δp|':>9} {'max|Δp|':>8}"
    )
    for name, table in tables.items():
        p = np.array(p_by[name])
        row = result["rows"][name] = table_row(table, p, y, det, p_ref_a, ref_labels, truth)
        differing = "?" if truth is None else str(row["levels_differing_from_tflite"])
        print(
            f"{name:<22} {row['distinct_codes']:>5} {differing:>7} {row['accuracy']:>7.4f} "
            f"{row['auc']:>7.4f} {row['agreement_pct']:>7.1f} {row['mean_abs_dp']:>9.4f} "
            f"{row['max_abs_dp']:>8.4f}"
        )
    if args.json_out:
        from edge_runtime.fileio import atomic_write_json

        atomic_write_json(args.json_out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
