"""No stage imports another stage; the benchmarks need only the runtime (no train, no TF)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STAGES = ("train", "convert", "benchmarks")


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("stage", STAGES)
def test_no_stage_imports_another(stage):
    others = set(STAGES) - {stage}
    offenders = {
        str(p.relative_to(REPO)): sorted(_imported_packages(p) & others)
        for p in (REPO / stage).rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}, offenders


def test_benchmarks_import_with_the_runtime_only():
    code = (
        "import sys; import benchmarks.cli, benchmarks.harness, benchmarks.worker, "
        "benchmarks.data, benchmarks.macs; "
        "bad = [m for m in ('train', 'convert', 'tensorflow', 'keras') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
