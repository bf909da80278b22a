"""The model card's per-source table through the face stage, from `train calibrate` reports.

    python scripts/face_stage_table.py LABEL=calibration.json [LABEL=calibration.json ...]

One row per source of the reports (the same sources file and crop tree): n, then for each
model the share of a real source's crops called fake (false-positive rate) or of a fake
source's crops caught (recall), at the model's bundle threshold and at its 3 %-FPR operating
point (`train calibrate`'s threshold on the calibrated P(fake)); then ROC AUC per two-class
folder and the operating points themselves. Layout only: every figure is read from the reports.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _rate(row: dict, key: str) -> str:
    value = row.get(key)
    return "" if value is None else f"{value:.3f}"


def table(reports: dict[str, dict]) -> str:
    labels = list(reports)
    head = ["source", "family", "n", "what"]
    for label in labels:
        head += [f"{label} at bundle thr.", f"{label} at 3 % FPR"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    first = reports[labels[0]]["test"]["sources"]
    for i, row in enumerate(first):
        fake = row["class"] == "fake"
        key = "recall_fake" if fake else "false_positive_rate"
        cells = [row["source"], row["family"], str(row["n"]), "caught" if fake else "called fake"]
        for label in labels:
            r = reports[label]["test"]["sources"][i]
            cells += [_rate(r, f"{key}_old_threshold"), _rate(r, key)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| folder (both classes) | n | " + " | ".join(f"{x} AUC" for x in labels) + " |"]
    lines.append("|" + "---|" * (2 + len(labels)))
    for i, row in enumerate(reports[labels[0]]["test"]["folders"]):
        aucs = [f"{reports[x]['test']['folders'][i]['roc_auc']:.3f}" for x in labels]
        lines.append(f"| {row['folder']} | {row['n']} | " + " | ".join(aucs) + " |")
    head = "| model | bundle threshold | temperature | 3 % FPR threshold (calibrated / own P) |"
    lines += ["", head]
    lines.append("|---|---|---|---|")
    for label, r in reports.items():
        lines.append(
            f"| {label} | {r['old_threshold']:.4f} | {r['temperature']:.3f} | "
            f"{r['threshold']:.4f} / {r['threshold_uncalibrated']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if not argv or any("=" not in a for a in argv):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    reports = {}
    for arg in argv:
        label, path = arg.split("=", 1)
        reports[label] = json.loads(Path(path).read_text("utf-8"))
    sys.stdout.write(table(reports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
