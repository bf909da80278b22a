"""Interpreter backends: a missing one is named, LiteRT's INFO chatter is hidden, errors are not."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from edge_runtime.interpreter import BACKEND_NAMES, Backend, load_backend, make_interpreter
from edge_runtime.types import BackendError, ModelError
from tests.conftest import REPO
from tests.image_cases import VALID_CASES
from tests.test_cli import run_cli

_MODULES = {
    "ai_edge_litert": "ai_edge_litert",
    "tflite_runtime": "tflite_runtime",
    "tensorflow": "tensorflow",
}


def _missing_backends() -> list[str]:
    return [n for n in BACKEND_NAMES if importlib.util.find_spec(_MODULES[n]) is None]


@pytest.mark.skipif(not _missing_backends(), reason="every backend is installed here")
def test_asking_for_a_missing_backend_says_it_is_missing(tmp_path):
    name = _missing_backends()[-1]  # tensorflow in a runtime-only install
    with pytest.raises(BackendError) as err:
        load_backend(name)
    message = str(err.value)
    assert message.startswith(f"backend {name}: ") and "is not installed" in message
    assert "no TFLite interpreter" not in message
    result = run_cli(VALID_CASES["bmp"](tmp_path), "--backend", name)
    assert result.exit_code == 2 and "is not installed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge_runtime", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_litert_info_line_hidden_unless_verbose(tiny_bundles, tmp_path):
    pytest.importorskip("ai_edge_litert")
    image = str(VALID_CASES["bmp"](tmp_path))
    model = str(tiny_bundles["int8"])
    quiet = _cli(image, "-m", model, "--backend", "ai_edge_litert")
    assert quiet.returncode == 0, quiet.stderr
    assert "XNNPACK" not in quiet.stderr and "INFO" not in quiet.stderr
    verbose = _cli(image, "-m", model, "--backend", "ai_edge_litert", "--verbose")
    assert verbose.returncode == 0
    assert "INFO: Created TensorFlow Lite XNNPACK delegate" in verbose.stderr


class _NoisyInterpreter:
    """Stands in for a native interpreter that writes to fd 2, as LiteRT's C++ code does."""

    fail = False

    def __init__(self, model_content: bytes, num_threads: int):
        pass

    def allocate_tensors(self):
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"ERROR: Didn't find op for builtin opcode 'FOO' version '99'\n")
        if self.fail:
            raise RuntimeError("Encountered unresolved custom op: FOO.\nNode number 3 failed")


def test_native_errors_are_not_swallowed(capfd):
    noisy = Backend("noisy", "0", _NoisyInterpreter)
    make_interpreter(b"", 1, noisy, "m.tflite")
    err = capfd.readouterr().err
    assert "ERROR: Didn't find op for builtin opcode 'FOO'" in err
    assert "XNNPACK" not in err
    _NoisyInterpreter.fail = True
    try:
        with pytest.raises(ModelError, match="m.tflite: noisy cannot load this model"):
            make_interpreter(b"", 1, noisy, "m.tflite")
    finally:
        _NoisyInterpreter.fail = False
    assert "ERROR: Didn't find op" in capfd.readouterr().err
    os.write(2, b"fd 2 is back\n")
    assert capfd.readouterr().err == "fd 2 is back\n"
