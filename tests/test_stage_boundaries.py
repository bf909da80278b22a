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


# The packages the installed runtime may import: the standard library's, its declared
# dependencies and the optional ones it loads lazily (video, camera, fallback interpreters).
RUNTIME_ALLOWED = {
    "edge_runtime",
    "numpy",
    "PIL",
    "simplejpeg",  # JPEG decoding for the face stage (optional at run time)
    "ai_edge_litert",
    "tflite_runtime",
    "tensorflow",  # the interpreter's last fallback only
    "flatbuffers",
    "av",
    "picamera2",
}


def test_runtime_imports_only_itself_and_its_dependencies():
    checkout = {"workbench", "tests", *STAGES}
    offenders = {}
    for path in (REPO / "edge_runtime").rglob("*.py"):
        outside = {
            name
            for name in _imported_packages(path)
            if name not in RUNTIME_ALLOWED and name not in sys.stdlib_module_names
        }
        if outside or _imported_packages(path) & checkout:
            offenders[str(path.relative_to(REPO))] = sorted(outside)
    assert not offenders, offenders


def test_runtime_holds_no_path_into_the_checkout():
    # The wheel is edge_runtime alone: no source file may name the shared data, the source list
    # or the workbench (a checkout-relative path would point nowhere on a device).
    needles = ("../shared", "shared/data", "sources.json", "workbench")
    hits = [
        f"{path.relative_to(REPO)}: {needle}"
        for path in (REPO / "edge_runtime").rglob("*.py")
        for needle in needles
        if needle in path.read_text("utf-8")
    ]
    assert not hits, hits
