"""The web page (web_demo/) against the runtime: Pillow's operations ported to JavaScript give
Pillow's bytes (node), and in a real headless Chromium the page finds the same faces as
`python -m edge_runtime --json` and gives them the same verdicts (JPEG files and PNG copies, and
photos made at test time with a face cut by the frame, for the edge search)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from web_demo import compare
from web_demo.manifest import build

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
# Face photos of several sources, shapes and sizes (square crops, portrait and landscape
# frames), read in place: the first few files of each folder.
FACE_FOLDERS = (
    "faces140k_sample/test/fake",
    "faces140k_sample/test/real",
    "lfw_faceswap/real",
    "imfdb_movie/real",
    "maskdet_web_nomask/real",
    "unsplash_tpdne_300/fake",
    "utkface_200/real",
)
PER_FOLDER = 4


def test_manifest_follows_the_registry():
    manifest, files = build()
    assets = json.loads((REPO / "android_demo_assets" / "assets.json").read_text())
    entry = next(
        e for e in assets.values() if e["asset"] == Path(manifest["classifier"]["url"]).name
    )
    from edge_runtime.bundle import load_bundle

    assert entry["source_sha256"] == load_bundle("int8").info.sha256
    assert set(files) == {Path(manifest[k]["url"]).name for k in ("classifier", "face_detector")}
    assert all(p.is_file() for p in files.values())
    crop = manifest["classifier"]["client_crop"]
    assert crop["offset"] * 2 + crop["size"] == manifest["classifier"]["input_size"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_pillow_port_gives_pillows_bytes(tmp_path):
    rng = np.random.default_rng(0)
    cases, expected = [], []

    def add(op, img, out, **kw):
        i = len(cases)
        (tmp_path / f"in{i}").write_bytes(np.asarray(img).tobytes())
        cases.append(
            dict(
                op=op,
                width=img.size[0],
                height=img.size[1],
                input=str(tmp_path / f"in{i}"),
                output=str(tmp_path / f"out{i}"),
                **kw,
            )
        )
        expected.append(np.asarray(out))

    bilinear = Image.Resampling.BILINEAR
    # Square and landscape pictures, resized proportionally as the runtime does.
    for w, h in [(256, 256), (250, 250), (512, 384), (300, 200), (1000, 700), (97, 91)]:
        noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        ramp = (np.add.outer(np.arange(h), np.arange(w))[:, :, None] * [1, 2, 3] % 256).astype(
            np.uint8
        )
        for img in map(Image.fromarray, (noise, ramp)):
            for s in (85 / max(w, h), 128 / 200, 0.5, 224 / min(w, h), 1.7):
                size = (max(1, round(w * s)), max(1, round(h * s)))
                for gap in (None, 3.0):
                    add(
                        "resize",
                        img,
                        img.resize(size, bilinear, reducing_gap=gap),
                        size=list(size),
                        box=None,
                        reducing_gap=gap,
                    )
            for f in (2, 3, 5):
                add("reduce", img, img.reduce(f), factor=f)
            quad = [
                w * 0.1 + 0.5,
                h * 0.05,
                w * 0.05,
                h * 0.9,
                w * 0.95,
                h * 0.97,
                w * 0.9,
                h * 0.1,
            ]
            add(
                "quad",
                img,
                img.transform((256, 256), Image.Transform.QUAD, quad, bilinear),
                size=256,
                quad=quad,
            )
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    subprocess.run(
        ["node", str(REPO / "web_demo/tools/pillow_check.mjs"), str(tmp_path / "cases.json")],
        check=True,
        timeout=120,
    )
    done = json.loads((tmp_path / "cases.json").read_text())
    bad = []
    for c, want in zip(done, expected, strict=True):
        got = np.frombuffer(Path(c["output"]).read_bytes(), np.uint8)
        if got.size != want.size or (got.reshape(want.shape) != want).any():
            bad.append(
                (
                    c["op"],
                    c["width"],
                    c["height"],
                    c.get("size"),
                    c.get("reducing_gap"),
                    c.get("factor"),
                )
            )
    assert not bad, bad


def _face_photos() -> list[Path]:
    samples = sorted((REPO / "edge_runtime" / "samples").glob("*.jpg"))
    if not SHARED.is_dir():
        return samples
    photos = []
    for folder in FACE_FOLDERS:
        photos += sorted((SHARED / folder).glob("*.jpg"))[:PER_FOLDER]
    return samples + photos


@pytest.fixture(scope="module")
def browser_ready():
    why = compare.missing_tools()
    if why:
        pytest.skip(why)


@pytest.mark.parametrize("kind", ["jpeg", "png"])
def test_page_agrees_with_the_runtime(browser_ready, kind):
    paths = _face_photos()
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "png":
            paths = compare.png_copies(paths, Path(tmp))
        summary = compare.compare(paths)
    print(kind, json.dumps(summary))
    assert summary["faces_only_in_page"] == 0 and summary["faces_only_in_runtime"] == 0, summary
    assert not summary["error_mismatches"], summary
    assert summary["faces_judged_by_both"] >= len(paths) * 0.8, summary  # real faces, judged
    assert summary["verdict_agreement"] >= 0.99, summary
    if kind == "png":  # the same pixels on both sides: float rounding of the output only
        assert summary["max_abs_dp"] < 1e-3, summary


def _cut_photos(out: Path) -> list[Path]:
    """Photos of 620-1000 px (the edge search's size) with the face cut by the frame: shared
    photos enlarged to 1000 px and cropped, the left 42 % or the top 38 % taken away."""
    sources = []
    for folder, n in (
        ("maskdet_web_nomask/real", 4),
        ("lfw_faceswap/real", 3),
        ("faces140k_sample/test/real", 3),
    ):
        sources += sorted((SHARED / folder).glob("*.jpg"))[:n]
    paths = []
    for i, src in enumerate(sources):
        with Image.open(src) as im:
            im = im.convert("RGB")
        s = 1000 / max(im.size)
        big = im.resize((round(im.size[0] * s), round(im.size[1] * s)), Image.Resampling.BICUBIC)
        w, h = big.size
        cut = big.crop((int(w * 0.42), 0, w, h) if i % 2 == 0 else (0, int(h * 0.38), w, h))
        paths.append(out / f"cut{i}.png")
        cut.save(paths[-1])
    return paths


def test_page_agrees_on_faces_cut_by_the_frame(browser_ready, tmp_path):
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent")
    from edge_runtime.faces import FaceFinder
    from edge_runtime.interpreter import load_backend
    from edge_runtime.types import FaceOptions

    paths = _cut_photos(tmp_path)
    finder = FaceFinder(load_backend(), min_score=FaceOptions().min_score)
    edge_faces = sum(f.edge for p in paths for f in finder.find(Image.open(p).convert("RGB")))
    assert edge_faces >= 3  # the edge search is exercised
    summary = compare.compare(paths)
    print("cut", edge_faces, json.dumps(summary))
    assert summary["faces_only_in_page"] == 0 and summary["faces_only_in_runtime"] == 0, summary
    assert not summary["error_mismatches"], summary
    assert summary["verdict_agreement"] >= 0.99, summary
