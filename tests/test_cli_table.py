"""The CLI's text table: every row's columns line up (also "no face", "too small" and ERROR
rows), and the summary line counts each kind of row under its own name."""

from __future__ import annotations

import numpy as np
from PIL import Image

from edge_runtime.cli import LABEL_WIDTH
from edge_runtime.cli import main as cli_main
from tests.conftest import requires_shared_data


def _one_face_scene(path, seed: int, width: int) -> None:
    from benchmarks import face_scenes

    rng = np.random.default_rng(seed)
    canvas = face_scenes.background(rng, (400, 300))
    files = face_scenes.face_files("test")
    crop = Image.open(files[rng.integers(len(files))]).convert("RGB")
    assert face_scenes.paste_faces(canvas, [crop], [width], rng)
    canvas.save(path, quality=92)


@requires_shared_data
def test_rows_line_up_and_the_summary_counts_too_small_apart(tmp_path, capsys):
    small = tmp_path / "small.jpg"
    _one_face_scene(small, 2, 48)  # found, but its crop spans too few pixels to judge
    judged = tmp_path / "judged.jpg"
    _one_face_scene(judged, 1, 64)
    blank = tmp_path / "blank.png"
    Image.new("RGB", (400, 300), (0, 0, 0)).save(blank)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    assert cli_main([str(p) for p in (small, judged, blank, broken)] + ["-t", "1"]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    rows = [line for line in lines if not line.startswith("  ")]  # no per-face rows
    assert [r.split("  ")[0].strip() for r in rows[1:]] == [
        "too small",
        rows[2].split()[0],
        "no face",
        "ERROR",
    ]
    assert rows[2].split()[0] in ("fake", "real")
    # P(FAKE) ends at one column, TIME ms at the next, on every row (header included)
    p_end, time_end = LABEL_WIDTH + 2 + 7, LABEL_WIDTH + 2 + 7 + 2 + 8
    for row in rows:
        assert row[LABEL_WIDTH : LABEL_WIDTH + 2] == "  ", row
        assert row[p_end - 1] != " " and row[p_end : p_end + 2] == "  ", row
        assert row[time_end - 1] != " " and row[time_end : time_end + 2] == "  ", row
    assert "  face 1: too small at " in out
    assert "4 inputs: " in err
    summary = err[err.index("4 inputs: ") :].splitlines()[0]
    fake_real = "1 fake, 0 real" if rows[2].startswith("fake") else "0 fake, 1 real"
    assert summary == f"4 inputs: {fake_real}, 1 no face, 1 too small, 1 failed"
