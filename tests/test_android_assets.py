"""android_demo_assets: TFLite Support metadata written into the .tflite and read back.

Read back twice: with convert/tflite_metadata.py's own flatbuffer reader (always), and with
tflite-support's MetadataDisplayer (independent; needs a separate Python with tflite-support,
see android_demo_assets/README.md: EDGE_DETECT_METADATA_PYTHON or .venv-metadata/bin/python).
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.types import LABELS
from tests.conftest import REPO

ASSETS = REPO / "android_demo_assets"


@pytest.fixture(scope="module")
def assets(tiny_bundles, tmp_path_factory) -> Path:
    from convert.android_assets import AssetOptions, build_assets

    out = tmp_path_factory.mktemp("android")
    build_assets(
        str(tiny_bundles["int8"]), str(tiny_bundles["fp32"]), out, AssetOptions(version="9.8.7")
    )
    return out


def test_metadata_reads_back(assets, tiny_bundles):
    from convert.android_assets import ASSET_NAMES, DEFAULT_AUTHOR, DEFAULT_LICENSE
    from convert.tflite_metadata import (
        ASSOCIATED_FILE_TENSOR_AXIS_LABELS,
        read_associated_files,
        read_metadata,
    )

    for kind, name in ASSET_NAMES.items():
        content = (assets / name).read_bytes()
        md = read_metadata(content)
        variant = "int8" if kind == "int8" else "fp32"
        assert md["name"] == f"edge-detect deepfake face classifier ({variant})"
        assert md["version"] == "9.8.7" and md["author"] == DEFAULT_AUTHOR
        assert md["license"] == DEFAULT_LICENSE and "fake" in md["description"]
        assert md["min_parser_version"] == "1.0.0"
        (inp,) = md["subgraphs"][0]["inputs"]
        (out,) = md["subgraphs"][0]["outputs"]
        assert inp["name"] == "image" and inp["content_type"] == "ImageProperties"
        assert inp["image"] == {"color_space": "RGB", "width": 32, "height": 32}
        assert inp["process_units"] == [
            {"normalization": {"mean": [127.5] * 3, "std": [127.5] * 3}}
        ]
        assert inp["stats"] == {"max": [1.0] * 3, "min": [-1.0] * 3}
        assert out["name"] == "probabilities" and out["content_type"] == "FeatureProperties"
        assert out["associated_files"][0]["name"] == "labels.txt"
        assert out["associated_files"][0]["type"] == ASSOCIATED_FILE_TENSOR_AXIS_LABELS
        # The labels file is packed into the model as an uncompressed zip entry.
        assert read_associated_files(content) == {"labels.txt": b"fake\nreal\n"}
        with zipfile.ZipFile(assets / name) as z:
            assert [i.compress_type for i in z.infolist()] == [zipfile.ZIP_STORED]
        dump = json.loads((assets / (Path(name).stem + ".metadata.json")).read_text())
        assert dump == md
    assert (assets / "labels.txt").read_text() == "".join(f"{label}\n" for label in LABELS)
    provenance = json.loads((assets / "assets.json").read_text())
    assert provenance["int8"]["source_bundle"] == str(tiny_bundles["int8"])


def test_metadata_model_runs_like_the_bundle(assets, tiny_bundles):
    """The metadata-carrying file still loads in edge_runtime and gives the same output."""
    from convert.android_assets import ASSET_NAMES
    from edge_runtime import Detector, DetectorOptions
    from edge_runtime.inspect_model import read_model_facts

    x = np.random.default_rng(0).uniform(-1, 1, (32, 32, 3)).astype(np.float32)
    for kind, variant in (("int8", "int8"), ("float", "fp32")):
        with_md = Detector(DetectorOptions(model=str(assets / ASSET_NAMES[kind]), num_threads=1))
        plain = Detector(DetectorOptions(model=str(tiny_bundles[variant]), num_threads=1))
        np.testing.assert_array_equal(with_md.invoke(x), plain.invoke(x))
        facts = read_model_facts((assets / ASSET_NAMES[kind]).read_bytes())
        assert "TFLITE_METADATA" in facts["metadata_names"]
        assert facts["min_runtime_version"] == plain.bundle.info.extra.get(
            "min_runtime_version", facts["min_runtime_version"]
        )


def test_populating_twice_gives_the_same_bytes(tiny_bundles):
    from convert.tflite_metadata import ClassifierMetadata, build_metadata, populate
    from edge_runtime.types import PreprocessSpec

    md = build_metadata(
        ClassifierMetadata("n", "d", "1", "a", "l", PreprocessSpec(height=32, width=32))
    )
    content = tiny_bundles["fp32"].read_bytes()
    once = populate(content, md, {"labels.txt": b"fake\nreal\n"})
    assert populate(once, md, {"labels.txt": b"fake\nreal\n"}) == once


def test_wrong_bundle_kinds_are_refused(tiny_bundles, tmp_path):
    from convert.android_assets import AssetOptions, build_assets
    from edge_runtime.types import ModelError

    with pytest.raises(ModelError, match="--int8 expects an int8 bundle"):
        build_assets(str(tiny_bundles["fp32"]), str(tiny_bundles["fp32"]), tmp_path, AssetOptions())
    with pytest.raises(ModelError, match="--float expects an fp32"):
        build_assets(
            str(tiny_bundles["int8"]), str(tiny_bundles["dynamic"]), tmp_path, AssetOptions()
        )


def _metadata_python() -> str | None:
    env = os.environ.get("EDGE_DETECT_METADATA_PYTHON")
    if env:
        return env
    local = REPO / ".venv-metadata" / "bin" / "python"
    return str(local) if local.is_file() else None


DISPLAY = """
import json, sys
from tflite_support import metadata
d = metadata.MetadataDisplayer.with_model_file(sys.argv[1])
print(json.dumps({"json": json.loads(d.get_metadata_json()),
                  "files": d.get_packed_associated_file_list(),
                  "labels": d.get_associated_file_buffer("labels.txt").decode()}))
"""


@pytest.mark.skipif(
    _metadata_python() is None,
    reason="independent check needs tflite-support in its own venv "
    "(android_demo_assets/README.md: .venv-metadata or EDGE_DETECT_METADATA_PYTHON)",
)
def test_tflite_support_reads_our_metadata(assets):
    from convert.android_assets import ASSET_NAMES

    for name in ASSET_NAMES.values():
        proc = subprocess.run(
            [_metadata_python(), "-c", DISPLAY, str(assets / name)],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        shown = json.loads(proc.stdout)
        md = shown["json"]
        assert md["name"].startswith("edge-detect deepfake face classifier")
        assert md["version"] == "9.8.7"
        sub = md["subgraph_metadata"][0]
        inp = sub["input_tensor_metadata"][0]
        assert inp["content"]["content_properties_type"] == "ImageProperties"
        assert inp["content"]["content_properties"]["color_space"] == "RGB"
        assert inp["process_units"][0]["options_type"] == "NormalizationOptions"
        assert inp["process_units"][0]["options"] == {"mean": [127.5] * 3, "std": [127.5] * 3}
        out = sub["output_tensor_metadata"][0]
        assert out["associated_files"] == [
            {
                "name": "labels.txt",
                "description": "Labels of the output classes, one per line, line i = output index i",
                "type": "TENSOR_AXIS_LABELS",
            }
        ]
        assert shown["files"] == ["labels.txt"] and shown["labels"] == "fake\nreal\n"


def test_checked_in_assets_are_consistent():
    """The committed labels.txt follows LABELS; committed models (if any) carry metadata."""
    from convert.tflite_metadata import read_associated_files, read_metadata

    assert (ASSETS / "labels.txt").read_text() == "fake\nreal\n"
    for model in sorted(ASSETS.glob("*.tflite")):
        content = model.read_bytes()
        assert read_metadata(content)["subgraphs"][0]["inputs"][0]["name"] == "image"
        assert read_associated_files(content)["labels.txt"] == b"fake\nreal\n"
