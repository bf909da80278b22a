"""Train as you infer: prepare-crops caches exactly the crop edge-detect would judge."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_runtime.detector import Detector
from edge_runtime.preprocess import resize
from edge_runtime.types import DetectorOptions, FaceOptions
from workbench.crops import INDEX_FILE, prepare_crops, read_crop_summary
from workbench.sources import CROP_SUFFIX, load_sources, source_files, split_key

from .conftest import SHARED_DATA, requires_shared_data

SOURCES = {
    "split_salt": "test",
    "split_fractions": {"train": 0.5, "valid": 0.25, "test": 0.25},
    "sources": [
        {"name": "lfw_like", "folder": "set", "class": "real", "splits": "hash", "family": "real"},
        {
            "name": "grouped",
            "folder": "grouped",
            "class": "fake",
            "splits": "hash",
            "family": "x",
            "split_group": r"^(.+)_\d+\.",
        },
    ],
}


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "data"
    real = root / "set" / "real"
    real.mkdir(parents=True)
    for src in sorted((SHARED_DATA / "lfw_faceswap" / "real").iterdir())[:3]:
        shutil.copy(src, real / src.name)  # a temporary copy for the test, never committed
    Image.new("RGB", (200, 200), (40, 120, 60)).save(real / "blank.jpg")  # no face
    (real / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    fake = root / "grouped" / "fake"
    fake.mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (64, 64), (i * 50, 0, 0)).save(fake / f"anna_{i}.jpg")
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps(SOURCES))
    return root, sources


@requires_shared_data
def test_prepare_crops_caches_the_crop_the_cli_judges(tmp_path):
    root, sources_file = _tree(tmp_path)
    sources = load_sources(sources_file)
    out = tmp_path / "crops"
    report = prepare_crops(sources, root, out, workers=2)
    by_name = {s["source"]: s for s in report["sources"]}
    assert by_name["lfw_like"]["images"] == 5
    assert by_name["lfw_like"]["ok"] == 3
    assert by_name["lfw_like"]["no_face"] == 1
    assert by_name["lfw_like"]["error"] == 1
    assert by_name["grouped"]["no_face"] == 3  # counted, not silently dropped
    assert read_crop_summary(out)["lfw_like"] == by_name["lfw_like"]

    index = json.loads((out / "set" / "lfw_like" / INDEX_FILE).read_text())
    entry = next(e for e in index["images"] if e["status"] == "ok")
    assert {"box", "score", "face_px", "upsampled", "faces"} <= set(entry)
    broken = next(e for e in index["images"] if e["status"] == "error")
    assert "broken.jpg" in broken["reason"]

    # The cached crop, through the model's preprocessing, is the CLI's network input.
    detector = Detector(DetectorOptions(model="int8", num_threads=1, faces=FaceOptions()))
    original = root / entry["file"]
    prepared = detector.prepare(str(original))
    with Image.open(out / entry["crop"]) as crop:
        cached = resize(crop.convert("RGB"), detector.spec)
    assert any(np.array_equal(cached, p) for p in prepared.crops)

    # Same split as the original file; a second run reuses the finished index.
    crops_split = {
        k: sorted(Path(s.path).name.removesuffix(CROP_SUFFIX) for s in v)
        for k, v in source_files(sources.sources[0], out, sources).items()
    }
    data_split = {
        k: sorted(
            Path(s.path).name
            for s in v
            if (out / "set" / "real" / (Path(s.path).name + CROP_SUFFIX)).exists()
        )
        for k, v in source_files(sources.sources[0], root, sources).items()
    }
    assert crops_split == data_split
    before = (out / "set" / "lfw_like" / INDEX_FILE).stat().st_mtime_ns
    prepare_crops(sources, root, out, workers=1)
    assert (out / "set" / "lfw_like" / INDEX_FILE).stat().st_mtime_ns == before


def test_split_group_keeps_one_person_in_one_split(tmp_path):
    sources_file = tmp_path / "sources.json"
    sources_file.write_text(json.dumps(SOURCES))
    grouped = load_sources(sources_file).sources[1]
    assert split_key(grouped, "anna_3.jpg") == "anna"
    assert split_key(grouped, "anna_3.jpg" + CROP_SUFFIX) == "anna"
    assert split_key(grouped, "nomatch.jpg") == "nomatch.jpg"
    bad = dict(SOURCES, sources=[dict(SOURCES["sources"][1], split_group="(")])
    sources_file.write_text(json.dumps(bad))
    with pytest.raises(Exception, match="source 0"):
        load_sources(sources_file)


@pytest.mark.parametrize("name", ["ytf_real", "ffpp_real", "ffpp_fake", "imfdb_real", "rmfd_real"])
def test_shipped_split_groups_match_their_files(name):
    """Every file of a grouped source yields a group (a regex that never matches would fall
    back to per-file splits silently)."""
    sources = load_sources()
    src = sources.by_name()[name]
    folder = SHARED_DATA / src.folder / src.class_name
    if not folder.is_dir():
        pytest.skip(f"needs {folder}")
    names = [p.name for p in folder.iterdir()]
    assert all(split_key(src, n) != n for n in names)


def test_sources_table_counts_images_without_a_crop():
    from benchmarks.sources import ModelColumn, render, table_rows

    figures = {
        "threshold": 0.5,
        "sources": [
            {"source": "lfw_like", "class": "real", "family": "real", "n": 3, "accuracy": 1.0}
        ],
        "folders": [],
    }
    column = ModelColumn("m", "m", "m.tflite", 0.5, figures)
    summary = {"lfw_like": {"images": 5, "ok": 3, "no_face": 1, "too_small": 0, "error": 1}}
    text = render([column], table_rows(None, [column]), summary)
    assert "no crop (all splits)" in text
    assert "| lfw_like | real | real | 3 | 2 / 5 | 100.00 |" in text
    assert "no crop" not in render([column], table_rows(None, [column]))
