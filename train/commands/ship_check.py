"""`python -m train ship-check`: does a candidate become the default model (train/ship.py)."""

from __future__ import annotations

import argparse

from ..ship import DEFAULT_CURRENT, rule_summary


def add_ship_check(sub) -> None:
    p = sub.add_parser(
        "ship-check",
        help="does a candidate become the default model (issue 18's rule)",
        description="Issue 18's ship rule (train/ship.py) on the fixed per-source test splits "
        f"(the candidate's int8 at its bundle threshold): {rule_summary()}. Each MODEL is a "
        ".tflite / bundled name / model.keras (evaluated here on --data) or a saved "
        "`evaluate --sources --json` report.",
        epilog="Exit status 0: ship the candidate; 1: keep the current model; 2: bad input.",
    )
    p.add_argument("candidate_int8", metavar="CANDIDATE_INT8", help="the candidate's int8 .tflite")
    p.add_argument("candidate_float", metavar="CANDIDATE_FLOAT", help="its float model or report")
    p.add_argument(
        "--current",
        default=DEFAULT_CURRENT,
        help="the model the 140k check compares with, or its report (default: %(default)s)",
    )
    p.add_argument("--sources", default=None, help="sources file (default train/sources.json)")
    p.add_argument(
        "--data",
        default=None,
        help="the folder holding the sources for the models evaluated here: the crop tree of "
        "`prepare-crops` (default ../shared/data)",
    )
    p.add_argument("--num-threads", type=int, default=None, help="interpreter threads")
    p.add_argument("--json", dest="json_out", default=None, help="also write every figure here")


def run_ship_check(args: argparse.Namespace) -> int:
    from edge_runtime.fileio import atomic_write_json

    from ..ship import render, ship_check

    models = (args.candidate_int8, args.candidate_float, args.current)
    checks, doc = ship_check(*models, args.sources, args.data, args.num_threads)
    print(render(checks))
    if args.json_out:
        atomic_write_json(args.json_out, doc)
    return 0 if doc["ship"] else 1
