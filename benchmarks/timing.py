"""Latency statistics: percentiles over repeated runs after warm-up."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import numpy as np


def summarize(samples_ms: list[float] | np.ndarray) -> dict[str, float]:
    """p50 / p90 / p99 / mean / min of latencies in milliseconds (numpy's linear percentiles)."""
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        raise ValueError("no latency samples")
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "mean": float(a.mean()),
        "min": float(a.min()),
        "runs": int(a.size),
    }


def time_calls(fn: Callable[[], object], runs: int, warmup: int) -> list[float]:
    """Milliseconds per call of fn over `runs` calls, after `warmup` untimed calls.

    The garbage collector is paused while timing so a collection does not land in one sample.
    """
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    for _ in range(max(0, warmup)):
        fn()
    samples = []
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - start) * 1000.0)
    finally:
        if was_enabled:
            gc.enable()
    return samples
