"""The page against the runtime, face by face, on the same files (a real headless Chromium).

    python -m web_demo.compare [--png] [--limit N] PATH...   (files or folders; table + JSON)

Runs `python -m edge_runtime --json` and the page (web_demo/tools/run_page.mjs: puppeteer-core
drives Chromium, which reads the files where they are) on the same files, pairs faces by box
overlap and reports verdict agreement and |dP|. `--png` first writes lossless PNG copies of the
decoded pictures to a temporary folder, so both sides see the same pixels and what is left is
the pipeline, not the JPEG decoder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from edge_runtime.preprocess import load_image

from .server import NODE_MODULES, WEB_DIR, serve_in_thread

REPO = WEB_DIR.parent
RUN_PAGE = WEB_DIR / "tools" / "run_page.mjs"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
SAME_FACE_IOU = 0.5  # a page face and a runtime face with boxes overlapping this much are one
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def missing_tools() -> str | None:
    """Why the page cannot be run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (NODE_MODULES / "puppeteer-core").is_dir() or not (NODE_MODULES / "@litertjs").is_dir():
        return f"{NODE_MODULES} lacks puppeteer-core/@litertjs (run `npm ci` in web_demo/)"
    if chromium() is None:
        return "no Chromium (apt-get install chromium, or set $CHROMIUM)"
    return None


def chromium() -> str | None:
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next((shutil.which(n) for n in CHROMIUM_NAMES if shutil.which(n)), None)


def run_page(paths: list[Path], timeout: float = 600) -> dict:
    """Serve the page, feed it `paths` in Chromium; run_page.mjs's JSON."""
    server = serve_in_thread()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        with tempfile.TemporaryDirectory() as tmp:
            listing, out = Path(tmp) / "files.json", Path(tmp) / "out.json"
            listing.write_text(json.dumps([str(Path(p).resolve()) for p in paths]))
            env = {**os.environ, "CHROMIUM": chromium() or ""}
            subprocess.run(
                ["node", str(RUN_PAGE), url, str(listing), str(out)],
                cwd=WEB_DIR,
                env=env,
                check=True,
                timeout=timeout,
            )
            return json.loads(out.read_text())
    finally:
        server.shutdown()
        server.server_close()


def run_runtime(paths: list[Path]) -> list[dict]:
    """`python -m edge_runtime --json` on `paths`, one dict per file, in order."""
    proc = subprocess.run(
        [sys.executable, "-m", "edge_runtime", "--json", *map(str, paths)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def _iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def pair_faces(page: list[dict], runtime: list[dict]) -> dict:
    """Face-level comparison of two result lists for the same files (in the same order)."""
    rows, only_page, only_runtime, errors = [], 0, 0, []
    for p, r in zip(page, runtime, strict=True):
        if "error" in p or "error" in r:
            if ("error" in p) != ("error" in r):
                errors.append((r.get("path"), p.get("error"), r.get("error")))
            continue
        left = list(r["faces"])
        for pf in p["faces"]:
            best = max(left, key=lambda rf: _iou(pf["box"], rf["box"]), default=None)
            if best is None or _iou(pf["box"], best["box"]) < SAME_FACE_IOU:
                only_page += 1
                continue
            left.remove(best)
            if pf["fake_probability"] is None or best["fake_probability"] is None:
                continue
            rows.append(
                (
                    r["path"],
                    pf["fake_probability"],
                    best["fake_probability"],
                    pf["label"] == best["label"],
                )
            )
        only_runtime += len(left)
    dps = [abs(a - b) for _, a, b, _ in rows]
    worst = max(rows, key=lambda t: abs(t[1] - t[2]), default=None)
    return {
        "faces_judged_by_both": len(rows),
        "verdict_agreement": sum(s for *_, s in rows) / len(rows) if rows else None,
        "max_abs_dp": max(dps, default=None),
        "mean_abs_dp": sum(dps) / len(dps) if dps else None,
        "faces_exactly_equal": sum(d == 0 for d in dps),
        "faces_only_in_page": only_page,
        "faces_only_in_runtime": only_runtime,
        "error_mismatches": errors,
        "worst": worst,
    }


def png_copies(paths: list[Path], folder: Path) -> list[Path]:
    """Lossless PNGs of the pictures as the runtime decodes them (upright RGB)."""
    out = []
    for i, p in enumerate(paths):
        target = folder / f"{i:03d}_{Path(p).stem}.png"
        load_image(p).save(target)
        out.append(target)
    return out


def collect(args: list[str], limit: int | None) -> list[Path]:
    paths: list[Path] = []
    for a in args:
        p = Path(a)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
            paths += found[:limit] if limit else found
        else:
            paths.append(p)
    return paths


def compare(paths: list[Path]) -> dict:
    page = run_page(paths)
    summary = pair_faces(page["results"], run_runtime(paths))
    summary.update(files=len(paths), browser=page["browser"], ready_ms=page["ready_ms"])
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m web_demo.compare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("paths", nargs="+", help="image files or folders")
    parser.add_argument("--png", action="store_true", help="compare lossless PNG copies instead")
    parser.add_argument("--limit", type=int, default=None, help="at most N files per folder")
    args = parser.parse_args(argv)
    why = missing_tools()
    if why:
        print(f"python -m web_demo.compare: {why}", file=sys.stderr)
        return 2
    paths = collect(args.paths, args.limit)
    with tempfile.TemporaryDirectory() as tmp:
        if args.png:
            paths = png_copies(paths, Path(tmp))
        summary = compare(paths)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
