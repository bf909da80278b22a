"""The model registry: every bundled model's name, file, generation and description, in one
table, and the one place a model name becomes a file (`resolve_path`) or a loaded bundle
(`resolve`). `edge-detect -m`/`models`/`info`, the benchmarks, `train evaluate`/`ship-check`/
`calibrate`, convert's checks and the web demo all resolve names here.

After timm's `@register_model` + `default_cfgs`: one entry per model file. An entry is named
`<generation>-<variant>` (v1-int8, v2-int8); the entry marked `default=True` is what `-m`
falls back to (DEFAULT_MODEL), and its generation's models also go by their plain variant names
(int8 = v1-int8, fp32 = v1-fp32, ...). Everything else a model needs (preprocessing, labels,
threshold, output kind, calibration) is NOT repeated here: it is read from the model's own
bundle (its `<stem>.bundle.json` sidecar, else the `bundle.json` packed in the .tflite) through
edge_runtime/bundle_schema.py, so a file and its facts cannot drift apart.

Adding a generation is one entry in MODELS, its file placed in models/ (the wheel maps that
folder to `edge_runtime.variants`) under the name the entry derives::

    ModelEntry("v3-int8", "edge-detect v3, int8 (...)"),  # -> edge_detect_mobilenet_v3_int8.tflite

Making it the default is moving `default=True` onto it (the plain names then follow v3).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

# The kinds of model convert makes from one trained network (convert/tflite_export.py holds
# each one's converter settings); "int8" here names the kind, DEFAULT_MODEL names a model.
VARIANTS: tuple[str, ...] = ("fp32", "fp16", "dynamic", "int8")
FILE_STEM = "edge_detect_mobilenet"  # convert's default output stem; registry files start so


@dataclass(frozen=True)
class ModelEntry:
    """One bundled model: its name (`<generation>-<variant>`), what it is, where its file is."""

    name: str
    description: str
    default: bool = False  # the model -m falls back to; its generation owns the plain names
    # The .tflite file name, searched for in the folders of model_sources(); empty: derived
    # from the name (v2-int8 -> edge_detect_mobilenet_v2_int8.tflite).
    file: str = ""
    version: str = field(init=False)
    variant: str = field(init=False)

    def __post_init__(self):
        version, _, variant = self.name.partition("-")
        if variant not in VARIANTS:
            raise ValueError(f"registry entry {self.name!r}: not <generation>-<variant>")
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "variant", variant)
        if not self.file:
            object.__setattr__(self, "file", f"{FILE_STEM}_{version}_{variant}.tflite")


_V1 = "edge-detect v1 (real vs StyleGAN faces of the 140k dataset)"
MODELS: tuple[ModelEntry, ...] = (
    ModelEntry("v1-fp32", f"{_V1}, float32", file=f"{FILE_STEM}_fp32.tflite"),
    ModelEntry("v1-fp16", f"{_V1}, float16 weights", file=f"{FILE_STEM}_fp16.tflite"),
    ModelEntry("v1-dynamic", f"{_V1}, dynamic-range int8", file=f"{FILE_STEM}_dynamic.tflite"),
    ModelEntry("v1-int8", f"{_V1}, int8", default=True, file=f"{FILE_STEM}_int8.tflite"),
    ModelEntry(
        "v2-int8",
        "edge-detect v2 candidate trained across generators, int8; kept by name for "
        "comparison, not the default (MODEL_CARD.md)",
    ),
    ModelEntry(
        "v3-int8",
        "edge-detect v3 candidate trained as it infers (face-stage crops, 22 sources), int8, "
        "threshold for 3 % of validation reals called fake, calibrated; kept by name, not the "
        "default (MODEL_CARD.md)",
    ),
)


def _default_entry(models: tuple[ModelEntry, ...]) -> ModelEntry:
    defaults = [m for m in models if m.default]
    names = [m.name for m in models]
    if len(defaults) != 1 or len(set(names)) != len(names):
        raise ValueError("the registry needs unique names and exactly one default model")
    return defaults[0]


# The generation whose models also go by their plain variant names, and the default model's
# name: "int8" while v1 ships (DetectorOptions, -m, info, the benchmarks, the web demo).
DEFAULT_ENTRY = _default_entry(MODELS)
SHIPPED_VERSION = DEFAULT_ENTRY.version
DEFAULT_MODEL = DEFAULT_ENTRY.variant


def shipped() -> tuple[ModelEntry, ...]:
    """The shipped generation's models (the variants the benchmarks compare)."""
    return tuple(m for m in MODELS if m.version == SHIPPED_VERSION)


def listed_names() -> tuple[str, ...]:
    """One name per model file, as `edge-detect models` lists them: the shipped generation's
    plain names, then the other generations' models (int8, ..., v2-int8)."""
    return (
        *(m.variant for m in shipped()),
        *(m.name for m in MODELS if m.version != SHIPPED_VERSION),
    )


def model_names() -> tuple[str, ...]:
    """Every name -m accepts: the plain names, every entry's name (v1-int8 = int8), in that
    order."""
    return (*(m.variant for m in shipped()), *(m.name for m in MODELS))


def entry(name: str) -> ModelEntry | None:
    """The registry entry a model name means (int8 -> v1-int8's), or None for any other text."""
    for m in MODELS:
        if name == m.name or (m.version == SHIPPED_VERSION and name == m.variant):
            return m
    return None


def names_help() -> str:
    """The names, for --help texts: one definition of how they read."""
    others = [m.name for m in MODELS if m.version != SHIPPED_VERSION]
    kept = f", {', '.join(others)}" if others else ""
    plain = ", ".join(m.variant for m in shipped())
    return (
        f"{plain}: the {SHIPPED_VERSION} detector, also as {SHIPPED_VERSION}-{DEFAULT_MODEL} "
        f"etc.{kept}"
    )


# Where the files are found, searched in model_sources() order.
PACKAGE_MODELS = Path(__file__).resolve().parent / "models"  # the default int8 (in git here)
# The other models live in the checkout's models/; pyproject.toml maps that folder to the
# package `edge_runtime.variants`, so an installed wheel carries them here (README "Packaging").
PACKAGE_VARIANTS = Path(__file__).resolve().parent / "variants"
CHECKOUT_MODELS = Path(__file__).resolve().parent.parent / "models"
MODELS_ENV = "EDGE_DETECT_MODELS"  # a folder of bundles, searched first


def model_sources() -> list[tuple[str, Path]]:
    """Where bundled model names are looked up, in order: (what it is, folder)."""
    sources = []
    env = os.environ.get(MODELS_ENV)
    if env:
        sources.append((f"${MODELS_ENV}", Path(env)))
    sources += [
        ("package", PACKAGE_MODELS),
        ("package", PACKAGE_VARIANTS),
        ("checkout", CHECKOUT_MODELS),
    ]
    # A copy of the package installed elsewhere, run from a checkout root, sees its models/.
    cwd_models = Path.cwd() / "models"
    if cwd_models.resolve() != CHECKOUT_MODELS:
        sources.append(("working directory", cwd_models))
    return sources


def search_dirs() -> list[Path]:
    return [folder for _, folder in model_sources()]


def filename(name: str) -> str:
    """The file of a registered model name: int8 -> edge_detect_mobilenet_int8.tflite."""
    found = entry(name)
    if found is None:
        raise KeyError(f"{name}: not a registered model name")
    return found.file


def find(name: str) -> tuple[str, Path] | None:
    """(where it comes from, .tflite path) of a registered model, or None when it is nowhere."""
    for source, folder in model_sources():
        candidate = folder / filename(name)
        if candidate.is_file():
            return source, candidate
    return None


def how_to_get(name: str) -> str:
    """Every way to make a missing registered model available, for error messages."""
    file = filename(name)
    sidecar = file.removesuffix(".tflite") + ".bundle.json"
    return (
        f"install edge-detect from a full checkout (pip install .: the wheel carries "
        f"{', '.join(listed_names())}), or set ${MODELS_ENV} to a folder holding {file} and "
        f"{sidecar}, or give the file's path (-m path/to/{file})"
    )


def resolve_path(model: str | os.PathLike) -> Path:
    """A registered model name (model_names()) or a path -> the .tflite path; ModelError (one
    line) when neither."""
    from .types import ModelError  # types imports DEFAULT_MODEL from here

    text = os.fspath(model)
    if entry(text) is not None:
        found = find(text)
        if found:
            return found[1]
        where = ", ".join(str(d) for d in search_dirs())
        raise ModelError(
            f"{text}: bundled variant not found (looked in {where}); {how_to_get(text)}"
        )
    p = Path(text)
    if p.is_dir():
        raise ModelError(f"{text}: is a directory, expected a .tflite file")
    if not p.exists():
        raise ModelError(
            f"{text}: no such model file (or bundled model name: {', '.join(model_names())})"
        )
    return p


def resolve(model: str | os.PathLike):
    """A registered model name or a path -> its loaded ModelBundle (file, preprocessing,
    labels, threshold, ...: bundle.load_bundle)."""
    from .bundle import load_bundle  # bundle resolves names through this module

    return load_bundle(model)


def _found(names) -> dict[str, Path]:
    return {name: hit[1] for name in names if (hit := find(name))}


def available_variants() -> dict[str, Path]:
    """The shipped generation's models that are found, by plain name (what benchmarks compare)."""
    return _found(m.variant for m in shipped())


def available_models() -> dict[str, Path]:
    """Every registered model that is found, by its listed name (int8, ..., v2-int8)."""
    return _found(listed_names())


def list_models() -> list[dict]:
    """One row per model file (listed_names order): name, generation, description, default,
    where it was found (or how to get it) and, when found, the facts its bundle records."""
    from .bundle import read_info  # bundle resolves names through this module
    from .types import ModelError

    rows = []
    for name in listed_names():
        m = entry(name)
        row = {"variant": name, "name": m.name, "version": m.version, "file": m.file}
        row.update(description=m.description, default=m.default)
        hit = find(name)
        if hit is None:
            rows.append({**row, "from": None, "missing": how_to_get(name)})
            continue
        source, path = hit
        row.update({"from": source, "path": str(path), "size_bytes": path.stat().st_size})
        try:
            info, _ = read_info(path)
        except ModelError as e:  # listed anyway; loading it says the same
            info, row["bundle_error"] = None, str(e)
        if info is not None:
            row["threshold"] = info.threshold
            row["labels"] = list(info.labels)
            row["preprocess"] = info.preprocess.to_dict()
        rows.append(row)
    return rows
