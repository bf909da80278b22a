"""Issue 10's ship rule, as code: does a candidate int8 replace the packaged one?

The candidate ships only when, on the fixed per-source test splits of train/sources.json:

1. its int8 is at least as accurate as the current int8 on the 140k test split (both classes);
2. its int8 is at least as good on every other trainable source (fakes caught, reals called
   real) and better on their mean;
3. its int8 file is at most INT8_SIZE_LIMIT bytes;
4. its int8 is within INT8_FLOAT_LIMIT_PP percentage points of its float model on every source
   (evaluation-only sets included).

The evaluation-only sets (CIPLAB composites, LFW swaps) are not test splits of a training source;
they are reported beside the checks, never gated. Inputs are `python -m train evaluate MODEL
--sources --json` reports (or models, evaluated here the same way). No TensorFlow here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .sources import load_sources

IN_DISTRIBUTION_FOLDER = "faces140k_sample"  # the report's test split: the first check
INT8_SIZE_LIMIT = 4_500_000  # bytes (issue 10: "int8 file <= 4.5 MB")
INT8_FLOAT_LIMIT_PP = 0.5  # |int8 - float| on every source, percentage points


@dataclass(frozen=True)
class SourceScore:
    correct: int
    n: int

    @property
    def rate(self) -> float:
        return self.correct / self.n if self.n else float("nan")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def scores_of(report: dict[str, Any]) -> dict[str, SourceScore]:
    """Source name -> its share called correctly, from an `evaluate --sources` report."""
    out = {}
    for row in report["sets"]:
        name = row["set"].split(" (", 1)[0]
        n = int(row["n"])
        out[name] = SourceScore(round(float(row["accuracy"]) * n), n) if n else SourceScore(0, 0)
    return out


def folder_score(scores: dict[str, SourceScore], names: list[str]) -> SourceScore:
    return SourceScore(sum(scores[n].correct for n in names), sum(scores[n].n for n in names))


def decide(
    current: dict[str, Any],
    candidate_int8: dict[str, Any],
    candidate_float: dict[str, Any],
    int8_size_bytes: int,
    sources_file: str | None = None,
) -> list[Check]:
    """The four checks of the module docstring, in order; ship when every one is ok."""
    sources = load_sources(sources_file)
    cur, c8, cf = (scores_of(r) for r in (current, candidate_int8, candidate_float))
    names = [s.name for s in sources.sources]
    missing = [n for n in names if not all(n in scores for scores in (cur, c8, cf))]
    if missing:
        raise ConfigError(f"a report lacks source rows {', '.join(missing)} (use --sources)")
    checks = []
    in_dist = [s.name for s in sources.sources if s.folder == IN_DISTRIBUTION_FOLDER]
    a, b = folder_score(c8, in_dist), folder_score(cur, in_dist)
    checks.append(
        Check(
            f"{IN_DISTRIBUTION_FOLDER} accuracy >= current",
            a.rate >= b.rate,
            f"{a.rate:.4f} vs {b.rate:.4f} ({a.n} images)",
        )
    )
    others = [s.name for s in sources.sources if not s.evaluation_only and s.name not in in_dist]
    worse = [
        f"{n} {c8[n].rate:.3f} < {cur[n].rate:.3f}" for n in others if c8[n].rate < cur[n].rate
    ]
    mean_c8 = sum(c8[n].rate for n in others) / len(others)
    mean_cur = sum(cur[n].rate for n in others) / len(others)
    checks.append(
        Check(
            "every other trainable source >= current, mean better",
            not worse and mean_c8 > mean_cur,
            (f"worse: {'; '.join(worse)}; " if worse else "none worse; ")
            + f"mean {mean_c8:.4f} vs {mean_cur:.4f}",
        )
    )
    checks.append(
        Check(
            f"int8 file <= {INT8_SIZE_LIMIT / 1e6:.1f} MB",
            int8_size_bytes <= INT8_SIZE_LIMIT,
            f"{int8_size_bytes / 1e6:.3f} MB",
        )
    )
    gaps = {s.name: 100 * (c8[s.name].rate - cf[s.name].rate) for s in sources.sources}
    over = {n: g for n, g in gaps.items() if abs(g) > INT8_FLOAT_LIMIT_PP + 1e-9}
    largest = max(gaps, key=lambda n: abs(gaps[n]))
    checks.append(
        Check(
            f"int8 within {INT8_FLOAT_LIMIT_PP} pp of float on every source",
            not over,
            (
                "over: " + "; ".join(f"{n} {g:+.2f} pp ({c8[n].n} images)" for n, g in over.items())
                if over
                else f"largest {largest} {gaps[largest]:+.2f} pp"
            ),
        )
    )
    return checks


def comparison_rows(
    current: dict[str, Any],
    candidate_int8: dict[str, Any],
    candidate_float: dict[str, Any],
    sources_file: str | None = None,
) -> list[dict[str, Any]]:
    """One row per source: n and the share called correctly by each model."""
    sources = load_sources(sources_file)
    cur, c8, cf = (scores_of(r) for r in (current, candidate_int8, candidate_float))
    return [
        {
            "source": s.name,
            "family": s.family,
            "class": s.class_name,
            "role": "evaluation only" if s.evaluation_only else "trained",
            "n": c8[s.name].n,
            "current_int8": cur[s.name].rate,
            "candidate_float": cf[s.name].rate,
            "candidate_int8": c8[s.name].rate,
        }
        for s in sources.sources
    ]


def markdown(checks: list[Check], rows: list[dict[str, Any]]) -> str:
    lines = [
        "| source | family | class | role | n | current int8 | candidate float | candidate int8 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['source']} | {r['family']} | {r['class']} | {r['role']} | {r['n']} | "
            f"{r['current_int8']:.3f} | {r['candidate_float']:.3f} | {r['candidate_int8']:.3f} |"
        )
    lines += ["", "| check | result | figures |", "|---|---|---|"]
    for c in checks:
        lines.append(f"| {c.name} | {'pass' if c.ok else 'FAIL'} | {c.detail} |")
    verdict = "ship the candidate" if all(c.ok for c in checks) else "keep the current model"
    return "\n".join(lines) + f"\n\nverdict: {verdict}"


def load_report(model_or_json: str, sources_file: str | None, num_threads: int | None):
    """A saved `evaluate --sources --json` report, or a model evaluated here the same way."""
    from .evaluate import evaluate_sources, report

    if model_or_json.endswith(".json"):
        try:
            return json.loads(Path(model_or_json).read_text("utf-8"))
        except (OSError, ValueError) as e:
            raise ConfigError(f"{model_or_json}: unreadable report ({e})") from None
    rows, t = evaluate_sources(model_or_json, sources_file, num_threads=num_threads)
    return report(model_or_json, rows, t)


__all__ = [
    "INT8_FLOAT_LIMIT_PP",
    "INT8_SIZE_LIMIT",
    "Check",
    "comparison_rows",
    "decide",
    "load_report",
    "markdown",
]
