"""`--annotate DIR` (edge_runtime/annotate.py, annotate_names.py): one output per input, never two
alike, and never its own outputs judged again. Generated images, the shipped model."""

from __future__ import annotations

import json

from PIL import Image

from edge_runtime.annotate_names import MARKER, SUFFIX, annotation_names, is_own_annotation
from edge_runtime.inputs import expand_inputs
from tests.test_cli import run_cli


def _image(path, colour=(90, 90, 90), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (120, 100), colour).save(path, format=fmt)
    return path


def test_same_stem_inputs_get_three_files(tmp_path):
    inputs = [
        _image(tmp_path / "a" / "photo.jpg"),
        _image(tmp_path / "a" / "photo.png", (10, 200, 10)),
        _image(tmp_path / "b" / "photo.jpg", (200, 10, 10)),
    ]
    out = tmp_path / "out"
    result = run_cli(*inputs, "--annotate", out, "-t", "1", "--json")
    assert result.exit_code == 0, result.stderr
    written = sorted(p.name for p in out.iterdir())
    assert written == [
        "a_photo.jpg.faces.jpg",
        "b_photo.jpg.faces.jpg",
        "photo.png.faces.jpg",
    ]
    for name, colour in zip(written, [(90, 90, 90), (200, 10, 10), (10, 200, 10)]):
        with Image.open(out / name) as img:
            assert img.info.get("comment") == MARKER
            # each file is its own input's drawing (the corner pixel keeps its colour)
            assert all(
                abs(a - b) < 12 for a, b in zip(img.convert("RGB").getpixel((60, 90)), colour)
            )


def test_names_rule():
    names = annotation_names(["x/one.jpg", "y/two.png", "a/p.jpg", "a/p.png", "b/p.jpg", "-"])
    assert names == {
        "x/one.jpg": "one.faces.jpg",  # unique stems keep the plain name
        "y/two.png": "two.faces.jpg",
        "a/p.jpg": "a_p.jpg.faces.jpg",
        "a/p.png": "p.png.faces.jpg",
        "b/p.jpg": "b_p.jpg.faces.jpg",
        "-": "stdin.faces.jpg",
    }
    # whatever still collides gets a number; case-insensitive (macOS, Windows)
    names = annotation_names(["a_p.jpg", "a/p.jpg", "A/p.jpg", "a/P.jpg"])
    assert len({n.casefold() for n in names.values()}) == 4
    assert all(n.endswith(SUFFIX) for n in names.values())


def test_a_second_run_into_the_input_folder_skips_its_own_outputs(tmp_path):
    folder = tmp_path / "photos"
    _image(folder / "one.jpg")
    _image(folder / "two.png", (30, 30, 30))
    # a user's own file with the suffix but without the marker is still an input
    _image(folder / "mine.faces.jpg", (60, 60, 60))
    first = run_cli(folder, "--annotate", folder, "-t", "1", "--json")
    assert first.exit_code == 0, first.stderr
    judged = [json.loads(line)["path"] for line in first.stdout.splitlines()]
    assert len(judged) == 3
    files = sorted(p.name for p in folder.iterdir())
    assert files == sorted(
        [
            "one.jpg",
            "two.png",
            "mine.faces.jpg",
            "one.faces.jpg",
            "two.faces.jpg",
            "mine.faces.faces.jpg",
        ]
    )
    assert is_own_annotation(str(folder / "one.faces.jpg"))
    assert not is_own_annotation(str(folder / "mine.faces.jpg"))
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    second = run_cli(folder, "--annotate", folder, "-t", "1", "--json")
    assert second.exit_code == 0, second.stderr
    assert [json.loads(line)["path"] for line in second.stdout.splitlines()] == judged
    assert "skipped 3 file(s) written by --annotate" in second.stderr
    assert sorted(p.name for p in folder.iterdir()) == sorted(before)  # nothing fed on itself
    # named on the command line (a shell glob) they are skipped too
    expanded = expand_inputs([str(p) for p in sorted(folder.iterdir())])
    assert expanded.skipped_annotations == 3 and expanded.n_files == 3
