"""The leave-one-out table of issue 10 from run folders (and v1's `evaluate --sources` JSON).

    R=~/edge-runs; python -m train.experiments.broad_table $R/broad-full \
        $R/broad-no-stylegan2 $R/broad-no-sd21 $R/broad-no-stylegan1 --v1 $R/v1/int8-sources.json

One row per source: the share of its test split called correctly (fakes caught, reals called
real) at each run's threshold; a cell is marked * where the run held that source out of
training. Then the pooled test accuracy / ROC AUC and accuracy / AUC per two-class folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from workbench.run_folder import PER_SOURCE_FILE, TEST_METRICS_FILE


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def table(runs: list[Path], v1: Path | None) -> str:
    per = [json.loads((r / PER_SOURCE_FILE).read_text()) for r in runs]
    tests = [json.loads((r / TEST_METRICS_FILE).read_text()) for r in runs]
    v1_rows = {}
    if v1:
        for s in json.loads(v1.read_text())["sets"]:
            v1_rows[s["set"].split(" ")[0]] = s["accuracy"]
    names = [r.name for r in runs] + (["v1 int8"] if v1 else [])
    out = ["| source | family | class | " + " | ".join(names) + " |"]
    out.append("|---|---|---|" + "---|" * len(names))
    for i, row in enumerate(per[0]["sources"]):
        cells = []
        for p in per:
            r = p["sources"][i]
            mark = "*" if r["role"] == "held out" else ""
            cells.append(_f(r["accuracy"]) + mark)
        if v1:
            cells.append(_f(v1_rows.get(row["source"])))
        out.append(
            f"| {row['source']} | {row['family']} | {row['class']} | " + " | ".join(cells) + " |"
        )
    pooled = [f"{_f(t['test']['accuracy'])} / {_f(t['test']['roc_auc'])}" for t in tests]
    out.append(
        "| pooled test (trainable sources) | | acc / AUC | "
        + " | ".join(pooled)
        + (" | |" if v1 else " |")
    )
    for j, folder in enumerate(per[0]["folders"]):
        cells = [
            f"{_f(p['folders'][j]['accuracy'])} / {_f(p['folders'][j]['roc_auc'])}" for p in per
        ]
        out.append(
            f"| {folder['folder']} | | acc / AUC | " + " | ".join(cells) + (" | |" if v1 else " |")
        )
    thresholds = [_f(p["threshold"]) for p in per]
    out.append(
        "| threshold (from validation) | | | "
        + " | ".join(thresholds)
        + (" | 0.597 |" if v1 else " |")
    )
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run folders with per_source.json")
    ap.add_argument(
        "--v1", type=Path, default=None, help="`train evaluate int8 --sources --json` output"
    )
    args = ap.parse_args()
    print(table(args.runs, args.v1))


if __name__ == "__main__":
    main()
