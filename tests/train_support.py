"""Helpers of the train-stage tests (no tests here): small data trees in tmp_path.

Trees are symbolic links to real images of ../shared/data (never copies into the repository)
plus generated bad files.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import FACES

SPLITS = ("train", "valid", "test")


def link_tree(root: Path, n: int = 3, splits=SPLITS, classes=("real", "fake")) -> Path:
    """root/{split}/{class}/*.jpg -> n real images per class from faces140k_sample."""
    for split in splits:
        for label in classes:
            d = root / split / label
            d.mkdir(parents=True, exist_ok=True)
            for src in sorted((FACES / split / label).glob("*.jpg"))[:n]:
                (d / src.name).symlink_to(src)
    return root


def add_bad_files(folder: Path) -> dict[str, str]:
    """Generated bad inputs in a class folder -> {file name: expected words of the reason}."""
    good = next(p for p in sorted(folder.iterdir()) if p.suffix == ".jpg")
    data = good.resolve().read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "not_an_image.jpg").write_text("this is text, not a JPEG\n")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("a stray file\n")
    return {
        "truncated.jpg": "decode",
        "not_an_image.jpg": "not an image",
        "empty.jpg": "empty file",
        "notes.txt": "not an image file",
    }
