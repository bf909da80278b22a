"""`python -m train ship-check`: does a candidate replace the packaged model (train/ship.py)."""

from __future__ import annotations

import argparse

from edge_runtime.console import usage_error

from . import PROG


def add_ship_check(sub) -> None:
    p = sub.add_parser(
        "ship-check",
        help="does a candidate int8 replace the packaged one (issue 10's rule)",
        description="Issue 10's ship rule (train/ship.py) on the fixed per-source test splits: "
        "the candidate int8 at least as accurate as the current one on faces140k_sample, at "
        "least as good on every other trainable source and better on their mean, at most 4.5 MB, "
        "and within 0.5 pp of its float model on every source. Each MODEL is a .tflite / bundled "
        "name / model.keras (evaluated here) or a saved `evaluate --sources --json` report.",
        epilog="Exit status 0: ship the candidate; 1: keep the current model; 2: bad input.",
    )
    p.add_argument("candidate_int8", metavar="CANDIDATE_INT8", help="the candidate's int8 .tflite")
    p.add_argument("candidate_float", metavar="CANDIDATE_FLOAT", help="its float model or report")
    p.add_argument(
        "--current", default="int8", help="the packaged model or its report (default: %(default)s)"
    )
    p.add_argument("--sources", default=None, help="sources file (default train/sources.json)")
    p.add_argument("--num-threads", type=int, default=None, help="interpreter threads")
    p.add_argument("--json", dest="json_out", default=None, help="also write JSON here")


def run_ship_check(args: argparse.Namespace) -> int:
    from edge_runtime.bundle import resolve_model
    from edge_runtime.fileio import atomic_write_json

    from ..ship import comparison_rows, decide, load_report, markdown

    if args.candidate_int8.endswith(".json"):
        usage_error(
            f"{PROG} ship-check", "CANDIDATE_INT8 must be the .tflite (its size is checked)"
        )
    size = resolve_model(args.candidate_int8).stat().st_size
    reports = [
        load_report(m, args.sources, args.num_threads)
        for m in (args.current, args.candidate_int8, args.candidate_float)
    ]
    checks = decide(*reports, size, args.sources)
    rows = comparison_rows(*reports, args.sources)
    print(markdown(checks, rows))
    if args.json_out:
        atomic_write_json(
            args.json_out,
            {
                "ship": all(c.ok for c in checks),
                "checks": [c.__dict__ for c in checks],
                "rows": rows,
                "reports": dict(zip(("current", "candidate_int8", "candidate_float"), reports)),
            },
        )
    return 0 if all(c.ok for c in checks) else 1
