"""android_demo_assets: client-input models with TFLite Support metadata, packed labels.txt and
bundle.json, runtime sidecars, verified against their source bundles.

The metadata is read back twice: with convert/tflite_metadata.py's own flatbuffer reader
(always), and with tflite-support's MetadataDisplayer (independent; needs a separate Python with
tflite-support, see android_demo_assets/README.md: EDGE_DETECT_METADATA_PYTHON or
.venv-metadata/bin/python).
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_runtime.bundle import load_bundle, save_bundle, sidecar_path
from edge_runtime.types import LABELS, PreprocessSpec
from tests.conftest import REPO, requires_shared_data, sample_images

ASSETS = REPO / "android_demo_assets"
# The tiny models as if trained with the shipped model's 0.875 centre crop: the client input is
# 37x37 with the network's 32x32 at offset 2.
CROPPED = PreprocessSpec(height=32, width=32, crop="center", crop_fraction=0.875)
CLIENT = 37


@pytest.fixture(scope="module")
def cropped_bundles(tiny_bundles, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("cropped")
    paths = {}
    for variant in ("int8", "fp32"):
        b = load_bundle(tiny_bundles[variant])
        info = replace(b.info, preprocess=CROPPED, threshold=0.625)
        paths[variant] = save_bundle(b.content, info, out / f"tiny_{variant}.tflite").path
    return paths


@pytest.fixture(scope="module")
def labelled_images(tmp_path_factory) -> Path:
    """A labelled folder of images at the client input size (where the asset must be exact)."""
    root = tmp_path_factory.mktemp("labelled")
    rng = np.random.default_rng(3)
    for label in LABELS:
        (root / label).mkdir()
        for i in range(3):
            pixels = rng.integers(0, 256, (CLIENT, CLIENT, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def assets(cropped_bundles, labelled_images, tmp_path_factory) -> Path:
    from convert.android_assets import AssetOptions, build_assets

    out = tmp_path_factory.mktemp("android")
    build_assets(
        str(cropped_bundles["int8"]),
        str(cropped_bundles["fp32"]),
        out,
        AssetOptions(version="9.8.7"),
        verify_dir=labelled_images,
        threads=1,
    )
    return out


def test_metadata_reads_back(assets, cropped_bundles):
    from convert.android_assets import ASSET_NAMES, BUNDLE_FILE, DEFAULT_AUTHOR, DEFAULT_LICENSE
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
        assert md["license"] == DEFAULT_LICENSE and "P(fake) >= 0.625" in md["description"]
        assert md["min_parser_version"] == "1.0.0"
        (inp,) = md["subgraphs"][0]["inputs"]
        (out,) = md["subgraphs"][0]["outputs"]
        assert inp["name"] == "image" and inp["content_type"] == "ImageProperties"
        assert inp["image"] == {"color_space": "RGB", "width": CLIENT, "height": CLIENT}
        # Raw pixels in: the normalisation a client applies is the identity.
        assert inp["process_units"] == [{"normalization": {"mean": [0.0] * 3, "std": [1.0] * 3}}]
        assert inp["stats"] == {"max": [255.0] * 3, "min": [0.0] * 3}
        assert "crops its centre 32x32 (0.875" in inp["description"]
        assert out["name"] == "probabilities" and out["content_type"] == "FeatureProperties"
        assert out["associated_files"][0]["name"] == "labels.txt"
        assert out["associated_files"][0]["type"] == ASSOCIATED_FILE_TENSOR_AXIS_LABELS
        assert [f["name"] for f in md["associated_files"]] == [BUNDLE_FILE]
        packed = read_associated_files(content)
        assert set(packed) == {"labels.txt", BUNDLE_FILE}
        assert packed["labels.txt"] == b"fake\nreal\n"
        with zipfile.ZipFile(assets / name) as z:
            assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_STORED}
        dump = json.loads((assets / (Path(name).stem + ".metadata.json")).read_text())
        assert dump == md
    assert (assets / "labels.txt").read_text() == "".join(f"{label}\n" for label in LABELS)


def test_packed_bundle_sidecar_and_provenance_agree(assets, cropped_bundles):
    """bundle.json inside the model = its sidecar (minus the file's own sha256) = assets.json."""
    from convert.android_assets import ASSET_NAMES, BUNDLE_FILE
    from convert.tflite_metadata import read_associated_files
    from edge_runtime.fileio import sha256_bytes

    provenance = json.loads((assets / "assets.json").read_text())
    for kind, name in ASSET_NAMES.items():
        content = (assets / name).read_bytes()
        sidecar = json.loads(sidecar_path(assets / name).read_text())
        packed = json.loads(read_associated_files(content)[BUNDLE_FILE])
        assert sidecar.pop("sha256") == sha256_bytes(content) == provenance[kind]["sha256"]
        assert packed == sidecar
        assert packed["threshold"] == 0.625 == provenance[kind]["threshold"]
        spec = packed["preprocess"]
        assert (spec["height"], spec["crop"], spec["crop_fraction"]) == (CLIENT, "center", 1.0)
        assert (spec["mean"], spec["std"]) == (0.0, 1.0)
        assert packed["extra"]["source_preprocess"] == CROPPED.to_dict()
        source = load_bundle(cropped_bundles["int8" if kind == "int8" else "fp32"])
        assert provenance[kind]["source_sha256"] == source.info.sha256
        checks = provenance[kind]["verification"]
        for check in (checks[f"generated_{CLIENT}x{CLIENT}"], checks["images"]):
            assert check["label_agreement"] == 1.0 and check["max_abs_dp"] == 0.0
        assert checks["images"]["images"] == 6


def test_assets_run_in_the_runtime_like_their_bundles(assets, cropped_bundles):
    """edge-detect -m ASSET (sidecar beside it) gives the source bundle's answers."""
    from convert.android_assets import ASSET_NAMES
    from edge_runtime import Detector, DetectorOptions

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (CLIENT, CLIENT, 3), dtype=np.uint8) for _ in range(3)]
    for kind, variant in (("int8", "int8"), ("float", "fp32")):
        asset = Detector(DetectorOptions(model=str(assets / ASSET_NAMES[kind]), num_threads=1))
        plain = Detector(DetectorOptions(model=str(cropped_bundles[variant]), num_threads=1))
        assert asset.input_dtype == np.uint8 and asset.threshold == plain.threshold
        for img in images:
            assert asset.detect(img).fake_probability == plain.detect(img).fake_probability


def test_mismatch_writes_nothing(cropped_bundles, labelled_images, tmp_path):
    from convert.android_assets import AssetMismatch, AssetOptions, build_assets

    out = tmp_path / "out"
    with pytest.raises(AssetMismatch, match="agrees with its source on 100.0%"):
        build_assets(
            str(cropped_bundles["int8"]),
            str(cropped_bundles["fp32"]),
            out,
            AssetOptions(),
            verify_dir=labelled_images,
            threads=1,
            min_agreement=1.01,  # impossible: stands for a broken edit
        )
    assert not out.exists()


def test_cli_writes_the_assets(cropped_bundles, tmp_path, capsys):
    from convert.android_assets import main

    code = main(
        [
            "--int8", str(cropped_bundles["int8"]),
            "--float", str(cropped_bundles["fp32"]),
            "--out", str(tmp_path),
            "--verify-dir", "none",
            "--threads", "1",
        ]
    )  # fmt: skip
    assert code == 0
    written = json.loads(capsys.readouterr().out)
    assert [Path(p).name for p in written] == [
        "edge_detect_int8.tflite",
        "edge_detect_fp32.tflite",
        "labels.txt",
        "assets.json",
    ]
    assert sidecar_path(tmp_path / "edge_detect_int8.tflite").is_file()


def test_populating_twice_gives_the_same_bytes(tiny_bundles):
    from convert.tflite_metadata import ClassifierMetadata, build_metadata, populate

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
                  "labels": d.get_associated_file_buffer("labels.txt").decode(),
                  "bundle": json.loads(d.get_associated_file_buffer("bundle.json"))}))
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
        assert [f["name"] for f in md["associated_files"]] == ["bundle.json"]
        sub = md["subgraph_metadata"][0]
        inp = sub["input_tensor_metadata"][0]
        assert inp["content"]["content_properties_type"] == "ImageProperties"
        assert inp["content"]["content_properties"]["color_space"] == "RGB"
        assert inp["process_units"][0]["options_type"] == "NormalizationOptions"
        assert inp["process_units"][0]["options"] == {"mean": [0.0] * 3, "std": [1.0] * 3}
        out = sub["output_tensor_metadata"][0]
        assert out["associated_files"] == [
            {
                "name": "labels.txt",
                "description": "Labels of the output classes, one per line, "
                "line i = output index i",
                "type": "TENSOR_AXIS_LABELS",
            }
        ]
        assert sorted(shown["files"]) == ["bundle.json", "labels.txt"]
        assert shown["labels"] == "fake\nreal\n"
        assert shown["bundle"]["threshold"] == 0.625


# ------------------------------------------------------------------ the committed assets


def _committed():
    from convert.android_assets import ASSET_NAMES

    provenance = json.loads((ASSETS / "assets.json").read_text())
    return {kind: (ASSETS / name, provenance[kind]) for kind, name in ASSET_NAMES.items()}


def test_committed_assets_are_current_and_consistent():
    """Sidecar, packed bundle.json, metadata dump and assets.json agree with each model file,
    and assets.json names the bundles that ship now (regenerate: android_demo_assets/README.md)."""
    from convert.android_assets import BUNDLE_FILE
    from convert.tflite_metadata import read_associated_files, read_metadata
    from edge_runtime.fileio import sha256_bytes

    assert (ASSETS / "labels.txt").read_text() == "fake\nreal\n"
    for path, prov in _committed().values():
        content = path.read_bytes()
        sidecar = json.loads(sidecar_path(path).read_text())
        assert sidecar.pop("sha256") == sha256_bytes(content) == prov["sha256"]
        packed = read_associated_files(content)
        assert packed["labels.txt"] == b"fake\nreal\n"
        assert json.loads(packed[BUNDLE_FILE]) == sidecar
        assert json.loads(
            path.with_name(path.stem + ".metadata.json").read_text()
        ) == read_metadata(content)
        source = load_bundle(REPO / prov["source_bundle"])
        assert source.info.sha256 == prov["source_sha256"], f"{path.name} is stale"
        assert sidecar["threshold"] == source.info.threshold


def test_committed_assets_give_the_bundle_answers_at_256():
    """Images of the client input size: the asset and its source bundle agree exactly."""
    from edge_runtime import Detector, DetectorOptions

    rng = np.random.default_rng(0)
    for path, prov in _committed().values():
        asset = Detector(DetectorOptions(model=str(path), num_threads=1))
        source = Detector(DetectorOptions(model=str(REPO / prov["source_bundle"]), num_threads=1))
        size = asset.spec.height
        for _ in range(2):
            img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            assert asset.detect(img).fake_probability == source.detect(img).fake_probability


@requires_shared_data
def test_committed_assets_give_the_bundle_answers_on_test_faces():
    from edge_runtime import Detector, DetectorOptions

    faces = sample_images("test", "real", 3) + sample_images("test", "fake", 3)
    for path, prov in _committed().values():
        asset = Detector(DetectorOptions(model=str(path), num_threads=1))
        source = Detector(DetectorOptions(model=str(REPO / prov["source_bundle"]), num_threads=1))
        for face in faces:
            assert asset.detect(face).fake_probability == source.detect(face).fake_probability


def test_asset_copied_without_its_sidecar_reads_its_packed_bundle(tmp_path):
    """A mobile developer copies only the .tflite: the runtime reads the packed bundle.json,
    so the answers stay the bundle's (not the assumed MobileNet scaling)."""
    from edge_runtime import Detector, DetectorOptions

    rng = np.random.default_rng(1)
    for path, _ in _committed().values():
        alone = tmp_path / path.name
        alone.write_bytes(path.read_bytes())
        copied = load_bundle(alone)
        assert copied.has_metadata
        assert copied.info.preprocess == load_bundle(path).info.preprocess
        with_sidecar = Detector(DetectorOptions(model=str(path), num_threads=1))
        without = Detector(DetectorOptions(model=str(alone), num_threads=1))
        img = rng.integers(0, 256, (300, 280, 3), dtype=np.uint8)
        assert without.detect(img).fake_probability == with_sidecar.detect(img).fake_probability
