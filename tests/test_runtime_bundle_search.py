"""Where bundled variant names are looked up."""

import shutil

from edge_runtime import bundle


def test_variant_found_in_working_directory_models(tmp_path, monkeypatch, tiny_bundles):
    # A non-editable install run from a checkout root: the package has only int8, the
    # checkout's models/ is found through the working directory.
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(bundle, "PACKAGE_MODELS", empty)
    monkeypatch.setattr(bundle, "CHECKOUT_MODELS", empty)
    monkeypatch.delenv("EDGE_DETECT_MODELS", raising=False)
    checkout = tmp_path / "checkout"
    (checkout / "models").mkdir(parents=True)
    target = checkout / "models" / bundle.variant_filename("fp16")
    shutil.copy(tiny_bundles["fp16"], target)
    shutil.copy(bundle.sidecar_path(tiny_bundles["fp16"]), bundle.sidecar_path(target))
    monkeypatch.chdir(checkout)
    assert bundle.resolve_model("fp16").resolve() == target.resolve()
    assert bundle.load_bundle("fp16").info.variant == "fp16"
    assert "fp32" not in bundle.available_variants()
