"""Progress lines on stderr (stdout stays free for tables and JSON)."""

from __future__ import annotations

import sys
import time

_START = time.monotonic()


def log(message: str) -> None:
    elapsed = time.monotonic() - _START
    print(f"[train {elapsed:7.1f}s] {message}", file=sys.stderr, flush=True)
