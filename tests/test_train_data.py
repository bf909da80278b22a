"""train/data.py: layout discovery (incl. the Kaggle download), CSV lists, bad files, errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.preprocess import load_resized
from edge_runtime.types import PreprocessSpec
from tests.conftest import FACES, SHARED_DATA, requires_shared_data
from tests.train_support import add_bad_files, link_tree
from train.config import TrainConfig
from train.data import decode_files, eval_set, find_layout, limit_per_class, list_split
from train.errors import DataError

pytestmark = requires_shared_data
SPEC = PreprocessSpec(height=32, width=32)


def test_sample_layout_counts():
    layout = find_layout(FACES)
    assert layout.root == FACES and not layout.csv_files
    counts = {s: list_split(layout, s).counts() for s in ("train", "valid", "test")}
    assert counts == {
        "train": {"fake": 600, "real": 600},
        "valid": {"fake": 150, "real": 150},
        "test": {"fake": 150, "real": 150},
    }
    assert all(s.label == 1 for s in list_split(layout, "test").samples if "/real/" in s.path)


def _kaggle_download(tmp_path: Path, n: int = 3) -> Path:
    """The Kaggle zip's shape: real_vs_fake/real-vs-fake/{split}/{class}/ + top-level CSVs."""
    top = tmp_path / "download"
    images = link_tree(top / "real_vs_fake" / "real-vs-fake", n)
    for split in ("train", "valid", "test"):
        with open(top / f"{split}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["", "original_path", "label", "label_str", "path"])
            for i, p in enumerate(sorted((images / split).glob("*/*.jpg"))):
                real = p.parent.name == "real"
                w.writerow(
                    [
                        i,
                        f"/orig/{p.name}",
                        int(real),
                        "real" if real else "fake",
                        f"{split}/{p.parent.name}/{p.name}",
                    ]
                )
            if split == "train":  # listed but absent: skipped and reported, not a crash
                w.writerow([99, "/orig/gone.jpg", 1, "real", "train/real/gone.jpg"])
    # An image in the folder but not in the CSV is not part of the split.
    extra = max((FACES / "train" / "real").glob("*.jpg"))
    (images / "train" / "real" / "not_listed.jpg").symlink_to(extra)
    return top


def test_kaggle_download_top_folder_and_csv(tmp_path):
    top = _kaggle_download(tmp_path)
    layout = find_layout(top)
    assert layout.root == top / "real_vs_fake" / "real-vs-fake"
    assert set(layout.csv_files) == {"train", "valid", "test"}
    train = list_split(layout, "train")
    assert train.source.endswith("train.csv")
    assert train.counts() == {"fake": 3, "real": 3}
    assert not any(s.path.endswith("not_listed.jpg") for s in train.samples)
    assert [Path(k.path).name for k in train.skipped] == ["gone.jpg"]
    assert "missing" in train.skipped[0].reason
    # Pointing at the inner folder finds the same split; --use-csv off lists the folders.
    assert find_layout(top / "real_vs_fake").root == layout.root
    folders = list_split(find_layout(top, use_csv="off"), "train")
    assert folders.counts() == {"fake": 3, "real": 4}


def test_csv_label_from_numeric_column(tmp_path):
    root = link_tree(tmp_path / "d", 2)
    rows = [
        (f"{s}/{p.parent.name}/{p.name}", int(p.parent.name == "real"))
        for s in ("train",)
        for p in sorted((root / s).glob("*/*.jpg"))
    ]
    flat = tmp_path / "flat"  # the CSV path does not name the class folder
    flat.mkdir()
    with open(root / "train.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "label", "path"])
        for i, (rel, label) in enumerate(rows):
            (flat / f"{i}.jpg").symlink_to((root / rel).resolve())
            w.writerow([i, label, f"../flat/{i}.jpg"])
    files = list_split(find_layout(root, use_csv="on", splits=("train",)), "train")
    assert files.counts() == {"fake": 2, "real": 2}
    by_name = {Path(s.path).name: s.label for s in files.samples}
    assert by_name == {f"{i}.jpg": label for i, (_, label) in enumerate(rows)}


def test_missing_split_is_a_clear_error(tmp_path):
    root = link_tree(tmp_path / "d", 1, splits=("train", "test"))
    with pytest.raises(DataError, match=r"missing split folder\(s\) valid/"):
        find_layout(root)
    with pytest.raises(DataError, match="no train/ split folder"):
        find_layout(tmp_path)
    with pytest.raises(DataError, match="no such data folder"):
        find_layout(tmp_path / "absent")


def test_missing_or_empty_class_fails_before_training(tmp_path):
    from train.fit import run_fit

    root = link_tree(tmp_path / "d", 2)
    for p in (root / "valid" / "fake").iterdir():
        p.unlink()
    (root / "valid" / "fake" / "readme.txt").write_text("no images here")
    cfg = TrainConfig(data=str(root), out=str(tmp_path / "run"), weights="none")
    with pytest.raises(DataError, match=r"valid/fake/ \(empty class\)"):
        run_fit(cfg)
    assert not (tmp_path / "run").exists()  # nothing written, no training started
    (root / "valid" / "fake" / "readme.txt").unlink()
    (root / "valid" / "fake").rmdir()
    with pytest.raises(DataError, match=r"missing class folder\(s\) fake/"):
        run_fit(cfg)


def test_bad_files_are_skipped_and_listed(tmp_path):
    root = link_tree(tmp_path / "d", 2)
    expected = add_bad_files(root / "train" / "real")
    (root / "train" / "real" / ".DS_Store").write_bytes(b"\0\1")
    files = list_split(find_layout(root), "train")
    listed = {Path(k.path).name: k.reason for k in files.skipped}
    assert "not an image file" in listed["notes.txt"] and "hidden" in listed[".DS_Store"]
    decoded = decode_files(files, SPEC)
    reasons = {Path(k.path).name: k.reason for k in decoded.skipped}
    for name, words in expected.items():
        if name != "notes.txt":
            assert words in reasons[name], (name, reasons[name])
    assert decoded.images.shape == (4, 32, 32, 3) and decoded.labels.tolist().count(1) == 2
    # The decoded pixels are edge_runtime's own.
    first = files.samples[decoded.index[0]].path
    np.testing.assert_array_equal(decoded.images[0], load_resized(first, SPEC))


def test_limit_per_class_is_seeded_and_balanced():
    files = list_split(find_layout(FACES), "train")
    a = limit_per_class(files, 5, seed=1)
    b = limit_per_class(files, 5, seed=1)
    c = limit_per_class(files, 5, seed=2)
    assert a.counts() == {"fake": 5, "real": 5}
    assert [s.path for s in a.samples] == [s.path for s in b.samples]
    assert [s.path for s in a.samples] != [s.path for s in c.samples]


def test_eval_set_shapes():
    sd21 = eval_set(SHARED_DATA / "sd21_faces")  # fake/ only
    assert sd21.counts()["real"] == 0 and sd21.counts()["fake"] > 0
    layout_set = eval_set(FACES)  # a layout: its test split
    assert layout_set.counts() == {"fake": 150, "real": 150}
    with pytest.raises(DataError, match="no real/ or fake/"):
        eval_set(SHARED_DATA / "sd21_faces" / "fake")
