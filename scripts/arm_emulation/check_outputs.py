"""Record model outputs on a few images, and compare two such records (x86 vs emulated aarch64).

Runs with edge_runtime's dependencies only (numpy, pillow, a TFLite interpreter), so the same file
runs on the host and inside the arm64 rootfs. It measures no time on purpose: under QEMU the
clock says nothing about a real ARM core.

    python check_outputs.py run --images DIR --n 20 --out x86.json MODEL.tflite ...
    python check_outputs.py compare x86.json arm64.json [--float-tol 1e-3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout, for edge_runtime

from edge_runtime.inputs import is_image_name  # after sys.path: the checkout


def pick_images(folder: Path, n: int) -> list[Path]:
    """n images: half from real/ and half from fake/ when those exist, else the first n."""
    classes = [folder / c for c in ("fake", "real") if (folder / c).is_dir()]
    pools = classes or [folder]
    files = [sorted(p for p in pool.iterdir() if is_image_name(p.name)) for pool in pools]
    per = max(1, n // len(files))
    chosen = [p for group in files for p in group[:per]]
    return chosen[:n]


def record(models: list[str], images_dir: Path, n: int) -> dict:
    import numpy as np

    from edge_runtime.bundle import load_bundle
    from edge_runtime.detector import Detector
    from edge_runtime.preprocess import load_resized, normalize
    from edge_runtime.types import DetectorOptions

    images = pick_images(images_dir, n)
    result: dict = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "qemu_cpu": os.environ.get("QEMU_CPU", ""),
        "images": [str(p.relative_to(images_dir)) for p in images],
        "models": [],
    }
    for model in models:
        bundle = load_bundle(model)
        # One thread: the comparison is about kernels, not scheduling.
        det = Detector(DetectorOptions(model=model, num_threads=1), bundle=bundle)
        result["backend"] = det.backend.describe()
        out_detail = det.interpreter.get_output_details()[0]
        raw_outputs, probabilities = [], []
        for path in images:
            x = normalize(load_resized(path, det.spec), det.spec)
            probabilities.append([float(v) for v in det.invoke(x)])
            raw = det.interpreter.get_tensor(out_detail["index"]).reshape(-1)
            raw_outputs.append(raw.tolist())
        result["models"].append(
            {
                "name": bundle.path.name,
                "sha256": bundle.info.sha256,
                "variant": bundle.info.variant,
                "output_dtype": str(np.dtype(out_detail["dtype"])),
                "raw_outputs": raw_outputs,
                "probabilities": probabilities,
            }
        )
        print(f"{platform.machine()}: {bundle.path.name} on {len(images)} images", file=sys.stderr)
    return result


def compare(a: dict, b: dict, float_tol: float, dynamic_tol: float) -> tuple[bool, list[str]]:
    """int8-output models must match exactly; float ones within float_tol; dynamic-range ones
    (int8 weights, activations quantized at run time by each platform's own hybrid kernels, so
    not bit-reproducible across CPUs) within dynamic_tol."""
    import numpy as np

    lines = [
        (
            f"{a['machine']} ({a.get('backend', '?')}) vs {b['machine']} "
            f"({b.get('backend', '?')}, QEMU_CPU={b.get('qemu_cpu') or 'unset'})"
        )
    ]
    ok = a["images"] == b["images"]
    if not ok:
        lines.append("FAIL: the two runs used different images")
    by_sha = {m["sha256"]: m for m in b["models"]}
    for ma in a["models"]:
        mb = by_sha.get(ma["sha256"])
        if mb is None:
            lines.append(f"FAIL {ma['name']}: missing from the second run")
            ok = False
            continue
        pa, pb = np.array(ma["probabilities"]), np.array(mb["probabilities"])
        same_label = float(np.mean(pa.argmax(1) == pb.argmax(1)) * 100)
        max_diff = float(np.max(np.abs(pa - pb))) if pa.size else 0.0
        if ma["output_dtype"].startswith("int") or ma["output_dtype"].startswith("uint"):
            identical = ma["raw_outputs"] == mb["raw_outputs"]
            verdict = "identical" if identical else "DIFFERENT"
            lines.append(
                f"{'ok  ' if identical else 'FAIL'} {ma['name']} ({ma['output_dtype']} output): "
                f"raw outputs {verdict} on {len(pa)} images; same label {same_label:.0f}%"
            )
            ok &= identical
        else:
            tol = dynamic_tol if ma.get("variant") == "dynamic" else float_tol
            kind = "dynamic range, " if ma.get("variant") == "dynamic" else ""
            within = max_diff <= tol
            mean_diff = float(np.mean(np.abs(pa - pb))) if pa.size else 0.0
            lines.append(
                f"{'ok  ' if within else 'FAIL'} {ma['name']} ({kind}{ma['output_dtype']} output): "
                f"max |diff| {max_diff:.2e}, mean {mean_diff:.1e} (tolerance {tol:.0e}) on "
                f"{len(pa)} images; same label {same_label:.0f}%"
            )
            ok &= within
    lines.append("timings: not measured (emulated time is not ARM latency)")
    return ok, lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="record outputs of MODELS on images")
    run.add_argument("models", nargs="+")
    run.add_argument("--images", type=Path, required=True)
    run.add_argument("--n", type=int, default=20)
    run.add_argument("--out", type=Path, required=True)
    cmp_ = sub.add_parser("compare", help="compare two records; exit 1 on a mismatch")
    cmp_.add_argument("first", type=Path)
    cmp_.add_argument("second", type=Path)
    cmp_.add_argument("--float-tol", type=float, default=1e-3)
    cmp_.add_argument("--dynamic-tol", type=float, default=5e-2)
    args = ap.parse_args(argv)
    if args.cmd == "run":
        data = record(args.models, args.images, args.n)
        args.out.write_text(json.dumps(data) + "\n")
        return 0
    ok, lines = compare(
        json.loads(args.first.read_text()),
        json.loads(args.second.read_text()),
        args.float_tol,
        args.dynamic_tol,
    )
    print("\n".join(lines))
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
