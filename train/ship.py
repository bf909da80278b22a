"""Issue 18's ship rule, as code: does a candidate become the default model?

It replaced issue 10's rule (candidate >= current on every source, int8 within 0.5 pp of
float), under which v2 was kept by name (MODEL_CARD.md, "The ship decision"). On the fixed
per-source test splits of train/sources.json, through the face stage (evaluated on the crop
tree of `python -m train prepare-crops`), the candidate's int8 ships only when:

1. every real source, evaluation-only ones included, calls at most FPR_LIMIT of its reals fake;
2. every trainable fake source whose family has a floor in RECALL_FLOORS catches at least that
   share (fake families without a floor and evaluation-only fakes are reported, not gated);
3. its accuracy on IN_DISTRIBUTION_FOLDER (both classes) is at most IN_DISTRIBUTION_DROP_PP
   below the current model's;
4. its int8 file is at most INT8_SIZE_LIMIT bytes;
5. on every source, int8 and float give the same verdict (each at its own threshold) on at
   least AGREEMENT_LIMIT of the images.

Inputs are `python -m train evaluate MODEL --sources --json` reports (their per-image `p_fake`
maps give the verdicts of 5) or models, evaluated here the same way. No TensorFlow here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge_runtime.registry import DEFAULT_ENTRY
from edge_runtime.types import is_fake

from .errors import ConfigError
from .sources import Source, load_sources

FPR_LIMIT = 0.05  # reals called fake, on every real source
# Fakes caught, by generator family (sources.json `family`): the one table of recall floors.
RECALL_FLOORS: dict[str, float] = {
    "stylegan1": 0.90,
    "stylegan2": 0.90,
    "sd21": 0.80,
    "flux": 0.80,
    "faceforensics": 0.70,
}
IN_DISTRIBUTION_FOLDER = "faces140k_sample"  # the report's test split, both classes
IN_DISTRIBUTION_DROP_PP = 2.0  # the candidate may be at most this far below the current model
INT8_SIZE_LIMIT = 4_500_000  # bytes ("int8 <= 4.5 MB")
AGREEMENT_LIMIT = 0.97  # same verdict from int8 and float, per source
# The model the 140k check compares with: the default model, by its generation name (v1-int8).
DEFAULT_CURRENT = DEFAULT_ENTRY.name


def rule_summary() -> str:
    """The rule in one sentence, from the constants above (for --help)."""
    floors = ", ".join(f"{f} {v:.2f}" for f, v in RECALL_FLOORS.items())
    return (
        f"every real source (evaluation-only too) calls at most {FPR_LIMIT:.0%} of its reals "
        f"fake; each trainable fake source catches at least its family's floor ({floors}; "
        f"other families and evaluation-only fakes reported, not gated); "
        f"{IN_DISTRIBUTION_FOLDER} accuracy at most {IN_DISTRIBUTION_DROP_PP:g} pp below the "
        f"current model's; int8 file at most {INT8_SIZE_LIMIT / 1e6:g} MB; int8 and float give "
        f"the same verdict on at least {AGREEMENT_LIMIT:.0%} of every source's images"
    )


@dataclass(frozen=True)
class Check:
    """One line of the decision: a figure against its limit; gated False = reported only."""

    name: str  # e.g. "ffpp_fake recall"
    value: float | None  # None: nothing was scored
    limit: float
    higher_is_better: bool
    gated: bool = True
    n: int = 0  # images behind the figure
    unit: str = "rate"  # rate (a share), pp (a difference) or MB
    note: str = ""  # why it is not gated, or what it compares with

    @property
    def ok(self) -> bool:
        if self.value is None:
            return False  # a gate with no evidence does not pass
        d = self.value - self.limit
        return (d >= -1e-9) if self.higher_is_better else (d <= 1e-9)

    @property
    def margin(self) -> float | None:
        """How far inside (+) or outside (-) the limit, in the figure's own unit (gated only)."""
        if self.value is None or not self.gated:
            return None
        return (self.value - self.limit) * (1 if self.higher_is_better else -1)

    def line(self) -> str:
        status = ("PASS" if self.ok else "MISS") if self.gated else "info"
        if self.value is None:
            return f"{status}  {self.name}: no image scored"
        fig, lim = _fmt(self.value, self.unit), _fmt(self.limit, self.unit)
        if not self.gated:
            return f"{status}  {self.name} {fig} ({self.note}; n={self.n})"
        op = (">=" if self.higher_is_better else "<=") if self.ok else _miss_op(self)
        if self.unit == "MB":
            margin = f"{self.margin:+.2f} MB"
        else:
            margin = f"{self.margin * (100 if self.unit == 'rate' else 1):+.1f} pp"
        extra = "".join(f"; {x}" for x in (self.note, self.n and f"n={self.n}") if x)
        return f"{status}  {self.name} {fig} {op} {lim} ({margin}{extra})"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok if self.gated else None, "margin": self.margin}


def _miss_op(c: Check) -> str:
    return "<" if c.higher_is_better else ">"


def _fmt(v: float, unit: str) -> str:
    if unit == "MB":
        return f"{v:.2f} MB"
    if unit == "pp":
        return f"{v:+.2f} pp"
    return f"{v:.3f}"


@dataclass(frozen=True)
class SetResult:
    """One source's row of a report: images scored, share called correctly, P(fake) by path."""

    n: int
    correct: int
    threshold: float
    p_fake: dict[str, float] | None

    @property
    def rate(self) -> float | None:
        return self.correct / self.n if self.n else None


def results_of(report: dict[str, Any]) -> dict[str, SetResult]:
    """Source name -> its row, from an `evaluate --sources` report."""
    out = {}
    for row in report["sets"]:
        n = int(row["n"])
        correct = round(float(row["accuracy"]) * n) if n else 0
        threshold = float(row.get("threshold", report.get("threshold")))
        out[row["set"].split(" (", 1)[0]] = SetResult(n, correct, threshold, row.get("p_fake"))
    return out


def _need(results: dict[str, SetResult], names: list[str], which: str) -> None:
    missing = [n for n in names if n not in results]
    if missing:
        raise ConfigError(
            f"the {which} report lacks source rows {', '.join(missing)} "
            "(make it with `python -m train evaluate MODEL --sources --json`)"
        )


def class_checks(sources: list[Source], c8: dict[str, SetResult]) -> list[Check]:
    """Checks 1 and 2: false-positive rate per real source, recall per fake source."""
    checks = []
    for s in sources:
        r = c8[s.name]
        if s.class_name == "real":
            fpr = None if r.rate is None else 1.0 - r.rate
            checks.append(Check(f"{s.name} false-positive rate", fpr, FPR_LIMIT, False, n=r.n))
            continue
        floor = RECALL_FLOORS.get(s.family)
        if s.evaluation_only or floor is None:
            why = "evaluation-only" if s.evaluation_only else f"no floor for family {s.family}"
            checks.append(Check(f"{s.name} recall", r.rate, 0.0, True, False, r.n, note=why))
        else:
            checks.append(Check(f"{s.name} recall", r.rate, floor, True, n=r.n))
    return checks


def in_distribution_check(
    sources: list[Source], c8: dict[str, SetResult], cur: dict[str, SetResult]
) -> Check:
    """Check 3: the candidate's accuracy on the 140k folder against the current model's."""
    names = [s.name for s in sources if s.folder == IN_DISTRIBUTION_FOLDER]
    if not names:
        raise ConfigError(f"the sources file has no {IN_DISTRIBUTION_FOLDER} source")
    _need(cur, names, "current model's")
    n, n_cur = (sum(r[x].n for x in names) for r in (c8, cur))
    both = [sum(r[x].correct for x in names) / max(1, m) for r, m in ((c8, n), (cur, n_cur))]
    diff = None if 0 in (n, n_cur) else 100 * (both[0] - both[1])
    note = f"accuracy {both[0]:.4f} vs current {both[1]:.4f}"
    name = f"{IN_DISTRIBUTION_FOLDER} accuracy - current"
    return Check(name, diff, -IN_DISTRIBUTION_DROP_PP, True, n=n, unit="pp", note=note)


def agreement(int8: SetResult, flt: SetResult, name: str) -> tuple[float | None, int]:
    """Share of the images both models scored with the same verdict, and how many those are."""
    if int8.p_fake is None or flt.p_fake is None:
        raise ConfigError(
            f"{name}: a report has no per-image p_fake (re-make it with this version of "
            "`python -m train evaluate MODEL --sources --json`)"
        )
    common = int8.p_fake.keys() & flt.p_fake.keys()
    if not common and int8.p_fake and flt.p_fake:
        raise ConfigError(f"{name}: the reports share no image (make both with the same --data)")
    same = sum(
        bool(is_fake(int8.p_fake[p], int8.threshold)) == bool(is_fake(flt.p_fake[p], flt.threshold))
        for p in common
    )
    return (same / len(common) if common else None), len(common)


def decide(
    current: dict[str, Any],
    candidate_int8: dict[str, Any],
    candidate_float: dict[str, Any],
    int8_size_bytes: int,
    sources_file: str | None = None,
) -> list[Check]:
    """Every check of the module docstring, in its order; ship when every gated one is ok."""
    sources = load_sources(sources_file).sources
    names = [s.name for s in sources]
    c8, cf, cur = (results_of(r) for r in (candidate_int8, candidate_float, current))
    _need(c8, names, "candidate int8")
    _need(cf, names, "candidate float")
    checks = class_checks(sources, c8)
    checks.append(in_distribution_check(sources, c8, cur))
    size = int8_size_bytes / 1e6
    checks.append(Check("int8 file", size, INT8_SIZE_LIMIT / 1e6, False, unit="MB"))
    for s in sources:
        share, n = agreement(c8[s.name], cf[s.name], s.name)
        checks.append(Check(f"{s.name} int8-vs-float agreement", share, AGREEMENT_LIMIT, True, n=n))
    return checks


def ships(checks: list[Check]) -> bool:
    return all(c.ok for c in checks if c.gated)


def verdict_line(checks: list[Check]) -> str:
    gated = [c for c in checks if c.gated]
    missed = [c.name for c in gated if not c.ok]
    if not missed:
        return f"SHIP: all {len(gated)} checks pass; the candidate becomes the default"
    return f"KEEP: {len(missed)} of {len(gated)} checks miss ({'; '.join(missed)})"


def render(checks: list[Check]) -> str:
    return "\n".join([c.line() for c in checks] + [verdict_line(checks)])


def comparison_rows(
    current: dict[str, Any],
    candidate_int8: dict[str, Any],
    candidate_float: dict[str, Any],
    sources_file: str | None = None,
) -> list[dict[str, Any]]:
    """One row per source: n and the share called correctly by each model (None: not scored)."""
    cur, c8, cf = (results_of(r) for r in (current, candidate_int8, candidate_float))
    return [
        {
            "source": s.name,
            "family": s.family,
            "class": s.class_name,
            "role": "evaluation only" if s.evaluation_only else "trained",
            "n": c8[s.name].n,
            "current_int8": cur[s.name].rate if s.name in cur else None,
            "candidate_float": cf[s.name].rate,
            "candidate_int8": c8[s.name].rate,
        }
        for s in load_sources(sources_file).sources
    ]


def load_report(
    model_or_json: str,
    sources_file: str | None,
    data: str | None = None,
    num_threads: int | None = None,
) -> dict[str, Any]:
    """A saved `evaluate --sources --json` report, or a model evaluated here the same way on the
    sources under `data` (the crop tree; default ../shared/data)."""
    from .evaluate import evaluate_sources, report

    if model_or_json.endswith(".json") and not model_or_json.endswith(".bundle.json"):
        try:
            return json.loads(Path(model_or_json).read_text("utf-8"))
        except (OSError, ValueError) as e:
            raise ConfigError(f"{model_or_json}: unreadable report ({e})") from None
    rows, t = evaluate_sources(model_or_json, sources_file, data, num_threads=num_threads)
    return report(model_or_json, rows, t)


def ship_check(
    candidate_int8: str,
    candidate_float: str,
    current: str = DEFAULT_CURRENT,
    sources_file: str | None = None,
    data: str | None = None,
    num_threads: int | None = None,
) -> tuple[list[Check], dict[str, Any]]:
    """The checks, and the whole decision as JSON: every figure, the verdict, the reports."""
    from edge_runtime.registry import resolve_path

    if candidate_int8.endswith(".json"):
        raise ConfigError(
            "CANDIDATE_INT8 must be the .tflite or a bundled name, not a report or bundle "
            "(its file size is checked)"
        )
    size = resolve_path(candidate_int8).stat().st_size
    models = {
        "current": current,
        "candidate_int8": candidate_int8,
        "candidate_float": candidate_float,
    }
    reports = {k: load_report(m, sources_file, data, num_threads) for k, m in models.items()}
    checks = decide(
        reports["current"],
        reports["candidate_int8"],
        reports["candidate_float"],
        size,
        sources_file,
    )
    return checks, {
        "ship": ships(checks),
        "verdict": verdict_line(checks),
        "checks": [c.to_dict() for c in checks],
        "limits": {
            "false_positive_rate": FPR_LIMIT,
            "recall_floors": RECALL_FLOORS,
            "in_distribution_drop_pp": IN_DISTRIBUTION_DROP_PP,
            "int8_size_bytes": INT8_SIZE_LIMIT,
            "agreement": AGREEMENT_LIMIT,
        },
        "int8_size_bytes": size,
        "models": models,
        "rows": comparison_rows(
            reports["current"], reports["candidate_int8"], reports["candidate_float"], sources_file
        ),
        "reports": reports,
    }


__all__ = [
    "AGREEMENT_LIMIT",
    "DEFAULT_CURRENT",
    "FPR_LIMIT",
    "INT8_SIZE_LIMIT",
    "IN_DISTRIBUTION_DROP_PP",
    "RECALL_FLOORS",
    "Check",
    "comparison_rows",
    "decide",
    "load_report",
    "render",
    "rule_summary",
    "ship_check",
    "ships",
]
