"""The model registry: where bundled model names are looked up, what a user is told when one
is missing, and the names the table gives (edge_runtime/registry.py)."""

import json
import shutil
import sys

import pytest

from edge_runtime import ModelError, bundle, registry
from edge_runtime.registry import SHIPPED_VERSION, VARIANTS
from tests.conftest import REPO
from tests.test_cli import run_cli

# Today's names, literally: every one must keep resolving as before the registry existed.
KEPT_MODELS = ("v2-int8", "v3-int8")  # other generations' models, kept by name


@pytest.fixture()
def nowhere(tmp_path, monkeypatch):
    """Every search folder empty, the working directory a fresh folder, no $EDGE_DETECT_MODELS."""
    empty = tmp_path / "empty"
    empty.mkdir()
    for name in ("PACKAGE_MODELS", "PACKAGE_VARIANTS", "CHECKOUT_MODELS"):
        monkeypatch.setattr(registry, name, empty)
    monkeypatch.delenv(registry.MODELS_ENV, raising=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return tmp_path


def _place(tiny, folder, variant):
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / registry.filename(variant)
    shutil.copy(tiny, target)
    shutil.copy(bundle.sidecar_path(tiny), bundle.sidecar_path(target))
    return target


def test_variant_found_in_working_directory_models(nowhere, monkeypatch, tiny_bundles):
    # A copy of the package installed elsewhere, run from a checkout root: ./models is searched.
    checkout = nowhere / "checkout"
    target = _place(tiny_bundles["fp16"], checkout / "models", "fp16")
    monkeypatch.chdir(checkout)
    assert registry.resolve_path("fp16").resolve() == target.resolve()
    assert bundle.load_bundle("fp16").info.variant == "fp16"
    assert "fp32" not in registry.available_variants()


def test_installed_wheel_variants_folder_and_env(nowhere, monkeypatch, tiny_bundles):
    # An installed wheel: int8 in edge_runtime/models, the others in edge_runtime/variants.
    variants = nowhere / "site" / "variants"
    monkeypatch.setattr(registry, "PACKAGE_VARIANTS", variants)
    target = _place(tiny_bundles["fp32"], variants, "fp32")
    assert registry.find("fp32") == ("package", target)
    # $EDGE_DETECT_MODELS comes first.
    env_target = _place(tiny_bundles["fp32"], nowhere / "mine", "fp32")
    monkeypatch.setenv(registry.MODELS_ENV, str(nowhere / "mine"))
    assert registry.find("fp32") == ("$EDGE_DETECT_MODELS", env_target)


def test_missing_variant_names_every_way_to_get_it(nowhere):
    with pytest.raises(ModelError) as err:
        registry.resolve_path("fp32")
    message = str(err.value)
    for needle in (
        "fp32: bundled variant not found",
        "pip install .",
        "$EDGE_DETECT_MODELS",
        "-m path/to/edge_detect_mobilenet_fp32.tflite",
        "edge_detect_mobilenet_fp32.bundle.json",
    ):
        assert needle in message, needle
    result = run_cli("x.jpg", "-m", "fp32")
    assert result.exit_code == 2 and "$EDGE_DETECT_MODELS" in result.stderr


def test_models_command_lists_where_each_variant_comes_from(nowhere, monkeypatch, tiny_bundles):
    _place(tiny_bundles["int8"], nowhere / "pkg", "int8")
    monkeypatch.setattr(registry, "PACKAGE_MODELS", nowhere / "pkg")
    text = run_cli("models")
    assert text.exit_code == 1  # three variants missing
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["MODEL", "SIZE", "MB", "FROM", "PATH"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == set(VARIANTS) | set(KEPT_MODELS)
    assert "package" in rows["int8"] and "missing" in rows["fp32"] and "pip install" in rows["fp32"]
    report = json.loads(run_cli("models", "--json").stdout)
    by_name = {r["variant"]: r for r in report["variants"]}
    assert by_name["int8"]["from"] == "package" and by_name["fp16"]["from"] is None


def test_real_checkout_has_every_variant():
    assert sorted(registry.available_variants()) == sorted(VARIANTS)
    assert sorted(registry.available_models()) == sorted((*VARIANTS, *KEPT_MODELS))
    assert run_cli("models").exit_code == 0


@pytest.mark.skipif(sys.version_info < (3, 11), reason="reads pyproject.toml with tomllib (3.11+)")
def test_wheel_carries_the_checkout_variants():
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = REPO / config["package-dir"]["edge_runtime.variants"]
    assert mapped.resolve() == registry.CHECKOUT_MODELS
    assert "edge_runtime.variants" in config["packages"]
    assert "*.tflite" in config["package-data"]["edge_runtime.variants"]
    assert registry.PACKAGE_VARIANTS.name == "variants"
    for variant in ("fp32", "fp16", "dynamic", *KEPT_MODELS):
        assert (mapped / registry.filename(variant)).is_file()


def test_generation_names_resolve_to_their_files():
    # The shipped generation's prefix names the plain variant's file; a kept generation has its
    # own; an unknown name lists every name -m accepts.
    assert SHIPPED_VERSION == "v1" and registry.DEFAULT_MODEL == "int8"
    assert registry.model_names() == (
        *VARIANTS,
        *(f"v1-{v}" for v in VARIANTS),
        *KEPT_MODELS,
    )
    assert registry.listed_names() == (*VARIANTS, *KEPT_MODELS)
    assert registry.resolve_path(f"{SHIPPED_VERSION}-int8") == registry.resolve_path("int8")
    assert registry.filename("v2-int8") == "edge_detect_mobilenet_v2_int8.tflite"
    for name in KEPT_MODELS:
        assert registry.resolve_path(name).name == registry.filename(name)
    with pytest.raises(ModelError, match=f"bundled model name: .*{SHIPPED_VERSION}-int8"):
        registry.resolve_path("v9-int8")
    assert registry.entry("v9-int8") is None and registry.entry("int8").name == "v1-int8"


def test_a_new_generation_is_one_entry(monkeypatch, nowhere, tiny_bundles):
    # The module docstring's promise: v4 is one ModelEntry; made the default, the plain names
    # follow it, and -m, `models` and DetectorOptions' default resolve through it. (The module
    # derives SHIPPED_VERSION and DEFAULT_MODEL from the table at import; set here by hand.)
    v4 = registry.ModelEntry("v4-int8", "a test generation", default=True)
    others = tuple(registry.ModelEntry(m.name, m.description, file=m.file) for m in registry.MODELS)
    table = (*others, v4)
    monkeypatch.setattr(registry, "MODELS", table)
    monkeypatch.setattr(registry, "SHIPPED_VERSION", "v4")
    monkeypatch.setattr(registry, "DEFAULT_MODEL", "int8")
    assert v4.file == "edge_detect_mobilenet_v4_int8.tflite"
    assert registry.listed_names() == (
        "int8",
        "v1-fp32",
        "v1-fp16",
        "v1-dynamic",
        "v1-int8",
        "v2-int8",
        "v3-int8",
    )
    target = _place(tiny_bundles["int8"], nowhere / "mine", "v4-int8")
    monkeypatch.setenv(registry.MODELS_ENV, str(nowhere / "mine"))
    assert registry.resolve_path("int8") == registry.resolve_path("v4-int8") == target
    assert registry.resolve("int8").info.variant == "int8"
    rows = {r["variant"]: r for r in registry.list_models()}
    assert rows["int8"]["name"] == "v4-int8" and rows["int8"]["default"]
    assert rows["int8"]["threshold"] == bundle.load_bundle(target).info.threshold
    assert rows["v1-int8"]["from"] is None and "pip install" in rows["v1-int8"]["missing"]


def test_registry_table_needs_one_default():
    entries = (registry.ModelEntry("v1-int8", "a"), registry.ModelEntry("v2-int8", "b"))
    with pytest.raises(ValueError, match="exactly one default"):
        registry._default_entry(entries)
    with pytest.raises(ValueError, match="not <generation>-<variant>"):
        registry.ModelEntry("int8", "a plain name is not an entry")


def test_models_json_carries_each_models_recorded_facts():
    report = json.loads(run_cli("models", "--json").stdout)
    by_name = {r["variant"]: r for r in report["variants"]}
    assert by_name["int8"]["default"] and by_name["int8"]["version"] == "v1"
    assert not by_name["v2-int8"]["default"] and by_name["v2-int8"]["version"] == "v2"
    for name, row in by_name.items():
        recorded = bundle.load_bundle(name).info
        assert row["threshold"] == recorded.threshold, name
        assert row["labels"] == list(recorded.labels), name
        assert row["preprocess"] == recorded.preprocess.to_dict(), name
