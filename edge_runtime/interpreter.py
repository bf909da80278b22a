"""Find a TFLite interpreter: ai_edge_litert, then tflite_runtime, then tensorflow.lite.

TensorFlow is the last resort and is only imported when neither runtime package is installed
(or when asked for by name); the Pi install never has it.
"""

from __future__ import annotations

import importlib
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
            errors.append(f"{name}: {e}")
    raise BackendError(
        "no TFLite interpreter found ("
        + "; ".join(errors)
        + "). Install one: pip install ai-edge-litert (64-bit Linux, macOS arm64), "
        "or tflite-runtime on Python <= 3.11 with numpy < 2"
    )


def make_interpreter(model_content: bytes, num_threads: int, backend: Backend, name: str) -> Any:
    """An allocated interpreter over the model bytes; num_threads is always passed."""
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    try:
        interp = backend.interpreter_class(model_content=model_content, num_threads=num_threads)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{name}: {backend.name} cannot load this model ({first})") from None
    return interp
