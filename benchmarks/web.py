"""The web page (web_demo/) in headless Chromium: what it downloads, how long until it is ready
and gives its first verdict, and the time per photo and per face on this machine.

    python -m benchmarks.web [--repeat N] [--faces DIR] [--limit N] [--json]

Each repeat is a fresh browser profile (nothing cached): it opens the page served by
`python -m web_demo --port 0`, feeds the shipped samples (and up to --limit photos of --faces)
through the file input and reads the page's own timings (performance.now() in the page).
A measurement, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .cold_start import machine_line

REPO = Path(__file__).resolve().parent.parent
WEB = REPO / "web_demo"
SAMPLES = REPO / "edge_runtime" / "samples"
DEFAULT_FACES = REPO.parent / "shared" / "data" / "faces140k_sample" / "test" / "real"


def _start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "web_demo", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    found = re.search(r"http://\S+/", line)
    if not found:
        proc.kill()
        raise SystemExit(
            f"python -m benchmarks.web: the page server did not start ({line.strip()})"
        )
    return proc, found.group(0)


def _run_page(url: str, files: list[Path]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        listing, out = Path(tmp) / "files.json", Path(tmp) / "out.json"
        listing.write_text(json.dumps([str(f.resolve()) for f in files]))
        subprocess.run(
            ["node", str(WEB / "tools" / "run_page.mjs"), url, str(listing), str(out)],
            cwd=WEB,
            check=True,
            timeout=600,
        )
        return json.loads(out.read_text())


def _kind(url: str) -> str:
    for suffix, kind in ((".wasm", "wasm"), (".tflite", "models"), (".js", "scripts")):
        if url.split("?")[0].endswith(suffix):
            return kind
    return "page"


def summarise(runs: list[dict]) -> dict:
    """Medians over the repeats; bytes from the first run (every run downloads the same)."""
    by_kind: dict[str, int] = {}
    for r in runs[0]["requests"]:
        by_kind[_kind(r["url"])] = by_kind.get(_kind(r["url"]), 0) + r["bytes"]
    per_photo = [res["ms"] for run in runs for res in run["results"] if "ms" in res]
    per_face = [
        res["ms"] / len(res["faces"]) for run in runs for res in run["results"] if res.get("faces")
    ]
    return {
        "machine": machine_line(),
        "browser": runs[0]["browser"],
        "repeats": len(runs),
        "photos_per_run": len(runs[0]["files"]),
        "downloaded_bytes": sum(by_kind.values()),
        "downloaded_by_kind": by_kind,
        "ready_ms_median": statistics.median(r["ready_ms"] for r in runs),
        "first_verdict_ms_median": statistics.median(r["first_verdict_ms"] for r in runs),
        "per_photo_ms_median": statistics.median(per_photo),
        "per_face_ms_median": statistics.median(per_face),
        "samples_ms": {
            res["name"]: round(res["ms"], 1)
            for res in runs[-1]["results"]
            if res["name"] in {p.name for p in SAMPLES.glob("*.jpg")}
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.web", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--repeat", type=int, default=3, help="fresh page loads (default 3)")
    parser.add_argument(
        "--faces",
        type=Path,
        default=DEFAULT_FACES,
        help="folder of face photos "
        "fed after the samples (default ../shared/data/faces140k_sample/test/real)",
    )
    parser.add_argument(
        "--limit", type=int, default=20, help="photos taken from --faces (default 20)"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    if shutil.which("node") is None or not (WEB / "node_modules" / "puppeteer-core").is_dir():
        print("python -m benchmarks.web: needs node and `npm ci` in web_demo/", file=sys.stderr)
        return 2
    os.environ.setdefault("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
    files = sorted(SAMPLES.glob("*.jpg"))
    if args.faces.is_dir():
        files += sorted(args.faces.glob("*.jpg"))[: args.limit]
    server, url = _start_server()
    try:
        runs = [_run_page(url, files) for _ in range(args.repeat)]
    finally:
        server.terminate()
        server.wait()
    s = summarise(runs)
    if args.json:
        print(json.dumps(s, indent=1))
        return 0
    print(f"machine: {s['machine']}; {s['browser']} headless; {s['repeats']} fresh page loads")
    kinds = ", ".join(f"{k} {v / 1e3:.0f} kB" for k, v in sorted(s["downloaded_by_kind"].items()))
    print(f"downloaded per page load: {s['downloaded_bytes'] / 1e6:.2f} MB ({kinds})")
    print(f"models loaded and compiled: {s['ready_ms_median']:.0f} ms after the script starts")
    print(f"first verdict: {s['first_verdict_ms_median']:.0f} ms after the script starts")
    print(
        f"per photo: {s['per_photo_ms_median']:.0f} ms, per face: {s['per_face_ms_median']:.0f} ms "
        f"(median over {s['photos_per_run']} photos x {s['repeats']})"
    )
    print("samples (last run): " + ", ".join(f"{k} {v} ms" for k, v in s["samples_ms"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
