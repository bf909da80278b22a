"""Nothing on the runtime path imports TensorFlow (the interpreter fallback aside)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.image_cases import asymmetric_rgb

RUNTIME = REPO / "edge_runtime"
HEAVY = ("tensorflow", "keras", "tf_keras", "tensorflow_model_optimization")

_CHILD = rf"""
import json, sys
import edge_runtime
from edge_runtime import Detector, DetectorOptions
from edge_runtime.cli import main  # noqa: F401
from edge_runtime.model_report import model_report
det = Detector(DetectorOptions(model=sys.argv[1], num_threads=1))
result = det.detect(sys.argv[2])
model_report(sys.argv[1])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {set(HEAVY)!r})
print(json.dumps({{"label": result.label, "backend": det.backend.name, "heavy": heavy}}))
"""


def _tensorflow_imports(path: Path) -> list[str]:
    """import statements and import_module("...") calls naming TensorFlow-side packages."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Call) and getattr(
            node.func, "attr", getattr(node.func, "id", "")
        ) in (
            "import_module",
            "__import__",
        ):
            names = [
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
        found += [f"{path.name}:{node.lineno}: {n}" for n in names if n.split(".")[0] in HEAVY]
    return found


def test_runtime_source_has_no_tensorflow_import():
    offenders = []
    for path in sorted(RUNTIME.rglob("*.py")):
        if path.name != "interpreter.py":
            offenders += _tensorflow_imports(path)
    assert offenders == []
    # interpreter.py names TensorFlow only as the last backend, as a string in its table.
    assert _tensorflow_imports(RUNTIME / "interpreter.py") == []


def test_detection_in_fresh_process_imports_no_tensorflow(tiny_bundles, tmp_path):
    image = tmp_path / "face.png"
    asymmetric_rgb().save(image)
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tiny_bundles["int8"]), str(image)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["label"] in ("fake", "real")
    assert out["backend"] != "tensorflow"
    assert out["heavy"] == []


def test_cli_importtime_shows_no_tensorflow(tiny_bundles, tmp_path):
    image = tmp_path / "face.png"
    asymmetric_rgb().save(image)
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "edge_runtime",
            str(image),
            "-m",
            str(tiny_bundles["fp32"]),
        ],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {
        line.split("|")[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "edge_runtime.cli" in imported and "PIL.Image" in imported  # the listing is real
    assert not [m for m in imported if m.split(".")[0] in HEAVY]
