"""Where bundled variant names are looked up, and what a user is told when one is missing."""

import json
import shutil
import sys

import pytest

from edge_runtime import ModelError, bundle
from edge_runtime.types import KEPT_MODELS, MODEL_VERSION, VARIANTS
from tests.conftest import REPO
from tests.test_cli import run_cli


@pytest.fixture()
def nowhere(tmp_path, monkeypatch):
    """Every search folder empty, the working directory a fresh folder, no $EDGE_DETECT_MODELS."""
    empty = tmp_path / "empty"
    empty.mkdir()
    for name in ("PACKAGE_MODELS", "PACKAGE_VARIANTS", "CHECKOUT_MODELS"):
        monkeypatch.setattr(bundle, name, empty)
    monkeypatch.delenv(bundle.MODELS_ENV, raising=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return tmp_path


def _place(tiny, folder, variant):
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / bundle.variant_filename(variant)
    shutil.copy(tiny, target)
    shutil.copy(bundle.sidecar_path(tiny), bundle.sidecar_path(target))
    return target


def test_variant_found_in_working_directory_models(nowhere, monkeypatch, tiny_bundles):
    # A copy of the package installed elsewhere, run from a checkout root: ./models is searched.
    checkout = nowhere / "checkout"
    target = _place(tiny_bundles["fp16"], checkout / "models", "fp16")
    monkeypatch.chdir(checkout)
    assert bundle.resolve_model("fp16").resolve() == target.resolve()
    assert bundle.load_bundle("fp16").info.variant == "fp16"
    assert "fp32" not in bundle.available_variants()


def test_installed_wheel_variants_folder_and_env(nowhere, monkeypatch, tiny_bundles):
    # An installed wheel: int8 in edge_runtime/models, the others in edge_runtime/variants.
    variants = nowhere / "site" / "variants"
    monkeypatch.setattr(bundle, "PACKAGE_VARIANTS", variants)
    target = _place(tiny_bundles["fp32"], variants, "fp32")
    assert bundle.find_variant("fp32") == ("package", target)
    # $EDGE_DETECT_MODELS comes first.
    env_target = _place(tiny_bundles["fp32"], nowhere / "mine", "fp32")
    monkeypatch.setenv(bundle.MODELS_ENV, str(nowhere / "mine"))
    assert bundle.find_variant("fp32") == ("$EDGE_DETECT_MODELS", env_target)


def test_missing_variant_names_every_way_to_get_it(nowhere):
    with pytest.raises(ModelError) as err:
        bundle.resolve_model("fp32")
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
    monkeypatch.setattr(bundle, "PACKAGE_MODELS", nowhere / "pkg")
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
    assert sorted(bundle.available_variants()) == sorted(VARIANTS)
    assert sorted(bundle.available_models()) == sorted((*VARIANTS, *KEPT_MODELS))
    assert run_cli("models").exit_code == 0


@pytest.mark.skipif(sys.version_info < (3, 11), reason="reads pyproject.toml with tomllib (3.11+)")
def test_wheel_carries_the_checkout_variants():
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = REPO / config["package-dir"]["edge_runtime.variants"]
    assert mapped.resolve() == bundle.CHECKOUT_MODELS
    assert "edge_runtime.variants" in config["packages"]
    assert "*.tflite" in config["package-data"]["edge_runtime.variants"]
    assert bundle.PACKAGE_VARIANTS.name == "variants"
    for variant in ("fp32", "fp16", "dynamic", *KEPT_MODELS):
        assert (mapped / bundle.variant_filename(variant)).is_file()


def test_generation_names_resolve_to_their_files():
    # The shipped generation's prefix names the plain variant's file; a kept generation has its
    # own; an unknown name lists every name -m accepts.
    assert bundle.resolve_model(f"{MODEL_VERSION}-int8") == bundle.resolve_model("int8")
    assert bundle.variant_filename("v9-int8") == "edge_detect_mobilenet_v9_int8.tflite"
    for name in KEPT_MODELS:
        assert bundle.resolve_model(name).name == bundle.variant_filename(name)
    with pytest.raises(ModelError, match=f"bundled model name: .*{MODEL_VERSION}-int8"):
        bundle.resolve_model("v9-int8")
