"""ImageNet weights on an offline machine: find them in the Keras cache or ../shared/weights.

Keras downloads pretrained weights into `$KERAS_HOME/models/` (default `~/.keras/models/`).
These machines cannot reach the download; `../shared/weights/` holds the MobileNet 1.0/224
file, which is copied into the Keras cache so the standard `weights="imagenet"` call works.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__).info  # progress lines on stderr (console.setup_logging)


REPO = Path(__file__).resolve().parent.parent
MOBILENET_ROWS = (128, 160, 192, 224)
_ALPHA_TEXT = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}


def shared_weights_dir() -> Path:
    env = os.environ.get("EDGE_DETECT_SHARED_WEIGHTS")
    return Path(env) if env else REPO.parent / "shared" / "weights"


def keras_models_dir() -> Path:
    """Where keras.utils.get_file looks (Keras 3's rules: KERAS_HOME, ~/.keras, /tmp/.keras)."""
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    if os.path.isdir(home) and not os.access(home, os.W_OK):
        home = os.path.join(tempfile.gettempdir(), ".keras")
    return Path(home) / "models"


def imagenet_filename(arch: str, alpha: float = 1.0, size: int = 224) -> str:
    """The no-top weights file Keras downloads for this architecture."""
    if arch == "mobilenet":
        rows = size if size in MOBILENET_ROWS else 224  # Keras loads the 224 file otherwise
        return f"mobilenet_{_ALPHA_TEXT[alpha]}_{rows}_tf_no_top.h5"
    if arch == "densenet121":
        return "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"
    raise ValueError(f"unknown arch {arch!r}")


def ensure_imagenet_weights(arch: str, alpha: float = 1.0, size: int = 224) -> Path | None:
    """The cached weights file, copying it from ../shared/weights when the cache lacks it.

    None: neither place has it (Keras will try to download; offline that fails).
    """
    name = imagenet_filename(arch, alpha, size)
    cached = keras_models_dir() / name
    if cached.is_file():
        return cached
    shared = shared_weights_dir() / name
    if shared.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=cached.parent)
        os.close(fd)
        try:
            shutil.copyfile(shared, tmp)
            os.replace(tmp, cached)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        log(f"copied ImageNet weights {shared} -> {cached}")
        return cached
    return None


def missing_weights_message(arch: str, alpha: float, size: int, reason: str) -> str:
    name = imagenet_filename(arch, alpha, size)
    readme = shared_weights_dir() / "README.md"
    return (
        f"ImageNet weights for {arch} ({name}) are not in {keras_models_dir()} and could not be "
        f"downloaded ({reason}); offline, copy the file there (see {readme}), "
        "or train from scratch with --weights none"
    )
