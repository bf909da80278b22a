"""Find a TFLite interpreter: ai_edge_litert, then tflite_runtime, then tensorflow.lite.

TensorFlow is the last resort and is only imported when neither runtime package is installed
(or when asked for by name); the Pi install never has it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any

from .types import BackendError, ModelError

# (name, module holding Interpreter, module whose __version__ is the backend's version)
_BACKENDS = (
    ("ai_edge_litert", "ai_edge_litert.interpreter", "ai_edge_litert"),
    # Python <= 3.11 and numpy < 2 only; 2-5x slower than LiteRT and cannot load TF 2.21's
    # default dynamic-range model (FULLY_CONNECTED v12).
    ("tflite_runtime", "tflite_runtime.interpreter", "tflite_runtime"),
    ("tensorflow", "tensorflow.lite", "tensorflow"),
)
BACKEND_NAMES = tuple(b[0] for b in _BACKENDS)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backend:
    name: str
    version: str
    interpreter_class: Any

    def describe(self) -> str:
        return f"{self.name} {self.version}"


def _import_backend(name: str, module: str, version_module: str) -> Backend:
    mod = importlib.import_module(module)
    try:
        version = getattr(importlib.import_module(version_module), "__version__", "unknown")
    except ImportError:
        version = "unknown"
    return Backend(name, str(version), mod.Interpreter)


# What to tell a user whose --backend NAME is not installed.
_INSTALL_HINT = {
    "ai_edge_litert": "LiteRT (ai_edge_litert) is not installed: pip install ai-edge-litert",
    "tflite_runtime": "tflite_runtime is not installed: pip install tflite-runtime "
    "(Python <= 3.11, numpy < 2)",
    "tensorflow": "TensorFlow is not installed: pip install tensorflow, or the train extra "
    "(pip install '.[train]'); the runtime itself never needs it",
}


def load_backend(preferred: str | None = None) -> Backend:
    """The named backend, or the first importable one in BACKEND_NAMES order."""
    candidates = _BACKENDS
    if preferred:
        candidates = tuple(b for b in _BACKENDS if b[0] == preferred)
        if not candidates:
            raise BackendError(f"unknown backend {preferred!r}; one of {', '.join(BACKEND_NAMES)}")
    errors = []
    for name, module, version_module in candidates:
        try:
            return _import_backend(name, module, version_module)
        except ImportError as e:
            if preferred:
                missing = getattr(e, "name", None)
                if missing and missing.split(".")[0] == module.split(".")[0]:
                    raise BackendError(f"backend {name}: {_INSTALL_HINT[name]}") from None
                raise BackendError(f"backend {name}: cannot import {module} ({e})") from None
            errors.append(f"{name}: {e}")
    raise BackendError(
        "no TFLite interpreter found ("
        + "; ".join(errors)
        + "). Install one: pip install ai-edge-litert (64-bit Linux, macOS arm64), "
        "or tflite-runtime on Python <= 3.11 with numpy < 2"
    )


# LiteRT's C++ code prints e.g. "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." to
# file descriptor 2 when tensors are allocated; Python's sys.stderr cannot catch it.
_NATIVE_INFO_PREFIX = "INFO: "
_fd_lock = threading.Lock()  # fd 2 is process-wide: one redirect at a time


def _scratch_file():
    """An anonymous file: memfd on Linux (no tempfile import: 3 ms of cold start), else tempfile."""
    if hasattr(os, "memfd_create"):
        return open(os.memfd_create("edge-detect-stderr"), "w+b")
    import tempfile

    return tempfile.TemporaryFile()


@contextlib.contextmanager
def _native_stderr_to_log():
    """Hold fd 2 in a temporary file while native code runs; then its "INFO: " lines go to the
    DEBUG log (shown with --verbose) and every other line (a real error) back to stderr."""
    if log.isEnabledFor(logging.DEBUG):
        yield  # --verbose: LiteRT speaks for itself
        return
    with _fd_lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no usable fd 2: nothing to hide
            yield
            return
        with _scratch_file() as held:
            os.dup2(held.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                held.seek(0)
                for line in held.read().decode("utf-8", "replace").splitlines():
                    if line.startswith(_NATIVE_INFO_PREFIX):
                        log.debug(line)
                    elif line.strip():  # also when the model failed to load: say why
                        print(line, file=sys.stderr, flush=True)


def make_interpreter(model_content: bytes, num_threads: int, backend: Backend, name: str) -> Any:
    """An allocated interpreter over the model bytes; num_threads is always passed."""
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    try:
        with _native_stderr_to_log():
            interp = backend.interpreter_class(model_content=model_content, num_threads=num_threads)
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{name}: {backend.name} cannot load this model ({first})") from None
    return interp
