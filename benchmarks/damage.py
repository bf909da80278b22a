"""How much JPEG damage edge_runtime.damage flags, and how often it cries wolf.

    python -m benchmarks.damage [--data ../shared/data] [--clean 3000] [--damaged 100] [--seed 1]

Draws JPEGs from the shared data (seeded), checks that whole files raise no flag (false
alarms, and the check's time per file), then damages copies in memory three ways (3 random
bytes changed, a 64-byte run zeroed, 1-63 bytes deleted; always after the first third of the
file, in the image data) and counts how many `jpeg_damage` flags. Prints one table.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from edge_runtime.damage import jpeg_damage
from workbench.paths import shared_data_dir


def _damage(data: bytes, kind: str, rng: random.Random) -> bytes:
    d = bytearray(data)
    start = len(d) // 3
    if kind == "3 bytes changed":
        for _ in range(3):
            d[rng.randrange(start, len(d) - 2)] = rng.randrange(256)
    elif kind == "64 bytes zeroed":
        i = rng.randrange(start, len(d) - 70)
        d[i : i + 64] = bytes(64)
    else:
        i = rng.randrange(start, len(d) - 70)
        del d[i : i + rng.randrange(1, 64)]
    return bytes(d)


KINDS = ("3 bytes changed", "64 bytes zeroed", "1-63 bytes deleted")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.damage", description=__doc__)
    p.add_argument("--data", default=None, help="folder of JPEGs (default ../shared/data)")
    p.add_argument("--clean", type=int, default=3000, help="whole files checked (default 3000)")
    p.add_argument("--damaged", type=int, default=100, help="damaged copies per kind (100)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    files = sorted(Path(args.data or shared_data_dir()).rglob("*.jpg"))
    rng = random.Random(args.seed)
    sample = rng.sample(files, min(args.clean, len(files)))
    blobs = [f.read_bytes() for f in sample]
    t0 = time.perf_counter()
    alarms = sum(jpeg_damage(b) is not None for b in blobs)
    per_file = (time.perf_counter() - t0) / len(blobs) * 1000
    print("| files | flagged | markers only | of | ms per file |")
    print("|---|---|---|---|---|")
    markers = sum(jpeg_damage(b, entropy=False) is not None for b in blobs)
    print(f"| whole | {alarms} | {markers} | {len(blobs)} | {per_file:.2f} |")
    for kind in KINDS:
        damaged = [_damage(b, kind, rng) for b in blobs[: args.damaged]]
        hits = sum(jpeg_damage(d) is not None for d in damaged)
        marker_hits = sum(jpeg_damage(d, entropy=False) is not None for d in damaged)
        print(f"| {kind} | {hits} | {marker_hits} | {len(damaged)} | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
