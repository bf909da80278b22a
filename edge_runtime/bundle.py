"""The model bundle: a .tflite file plus a `<stem>.bundle.json` sidecar saying how to use it.

The sidecar holds labels (fake = 0, real = 1), input size, normalisation, resize method,
variant, the sha256 of the .tflite and the training run it came from. A plain .tflite without
a sidecar still loads, with the defaults (MobileNet scaling, the report's labels).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from .fileio import atomic_write_bytes, atomic_write_json, sha256_bytes
from .types import VARIANTS, BundleInfo, ModelError

SIDECAR_SUFFIX = ".bundle.json"
PACKAGE_MODELS = Path(__file__).resolve().parent / "models"
# A checkout keeps the non-default variants here (see README); an installed wheel does not.
CHECKOUT_MODELS = Path(__file__).resolve().parent.parent / "models"
DEFAULT_STEM = "edge_detect_mobilenet"
TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier at bytes 4..8 of every .tflite


@dataclass(frozen=True)
class ModelBundle:
    path: Path
    content: bytes
    info: BundleInfo
    # False for a plain .tflite without a sidecar: `info` then holds assumed defaults, and the
    # model's own input size wins over info.preprocess (PreprocessSpec.fit_input).
    has_metadata: bool = True

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def size_bytes(self) -> int:
        return len(self.content)


def sidecar_path(tflite_path: str | os.PathLike) -> Path:
    p = Path(tflite_path)
    return p.with_name(p.stem + SIDECAR_SUFFIX)


def search_dirs() -> list[Path]:
    dirs = []
    env = os.environ.get("EDGE_DETECT_MODELS")
    if env:
        dirs.append(Path(env))
    dirs += [PACKAGE_MODELS, CHECKOUT_MODELS]
    # A non-editable install run from the checkout root still finds the checkout's models/.
    cwd_models = Path.cwd() / "models"
    if cwd_models.resolve() != CHECKOUT_MODELS:
        dirs.append(cwd_models)
    return dirs


def variant_filename(variant: str) -> str:
    return f"{DEFAULT_STEM}_{variant}.tflite"


def resolve_model(model: str | os.PathLike) -> Path:
    """A bundled variant name (fp32, fp16, dynamic, int8) or a path -> the .tflite path."""
    text = os.fspath(model)
    if text in VARIANTS:
        for d in search_dirs():
            candidate = d / variant_filename(text)
            if candidate.is_file():
                return candidate
        where = ", ".join(str(d) for d in search_dirs())
        raise ModelError(
            f"{text}: bundled variant not found (looked in {where}); "
            "only int8 ships inside the package, the others live in a checkout's models/"
        )
    p = Path(text)
    if p.is_dir():
        raise ModelError(f"{text}: is a directory, expected a .tflite file")
    if not p.exists():
        raise ModelError(f"{text}: no such model file (or variant; variants are {', '.join(VARIANTS)})")
    return p


def available_variants() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for v in VARIANTS:
        try:
            found[v] = resolve_model(v)
        except ModelError:
            pass
    return found


def check_tflite_bytes(content: bytes, name: str) -> None:
    if len(content) == 0:
        raise ModelError(f"{name}: empty model file (0 bytes)")
    if len(content) < 8 or content[4:8] != TFLITE_IDENTIFIER:
        raise ModelError(f"{name}: not a TFLite model (no TFL3 flatbuffer identifier)")


def load_bundle(model: str | os.PathLike) -> ModelBundle:
    path = resolve_model(model)
    try:
        content = path.read_bytes()
    except OSError as e:
        raise ModelError(f"{path}: cannot read model ({e.strerror or e})") from None
    check_tflite_bytes(content, str(path))
    side = sidecar_path(path)
    digest = sha256_bytes(content)
    if side.is_file():
        try:
            info = BundleInfo.from_dict(json.loads(side.read_text("utf-8")))
        except (OSError, ValueError, TypeError) as e:
            raise ModelError(f"{side}: unreadable bundle metadata ({e})") from None
        if info.sha256 and info.sha256 != digest:
            raise ModelError(
                f"{path}: sha256 {digest[:12]}... does not match its bundle metadata "
                f"({info.sha256[:12]}...); the .tflite was replaced without its {SIDECAR_SUFFIX}"
            )
    else:
        info = BundleInfo(description="plain .tflite without bundle metadata (defaults assumed)")
    return ModelBundle(
        path=path, content=content, info=replace(info, sha256=digest), has_metadata=side.is_file()
    )


def save_bundle(content: bytes, info: BundleInfo, tflite_path: str | os.PathLike) -> ModelBundle:
    """Write the .tflite and its sidecar (each atomically); the sidecar records the sha256."""
    check_tflite_bytes(content, str(tflite_path))
    info = replace(info, sha256=sha256_bytes(content))
    path = atomic_write_bytes(tflite_path, content)
    atomic_write_json(sidecar_path(path), info.to_dict())
    return ModelBundle(path=path, content=content, info=info)
