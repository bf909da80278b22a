"""The face stage: anchors, decoding, weighted NMS, FFHQ alignment, and the whole stage on
synthetic scenes (real face crops pasted at known boxes into real photo texture).

Runs on the runtime alone (the shipped BlazeFace short-range .tflite and int8 classifier; no
TensorFlow). Scene tests need ../shared/data and skip without it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from edge_runtime import align, faces
from edge_runtime.cli import main as cli_main
from edge_runtime.detector import Detector
from edge_runtime.interpreter import load_backend
from edge_runtime.preprocess import load_image_scaled
from edge_runtime.types import DetectorOptions, FaceOptions, ModelError
from tests.conftest import requires_shared_data


@pytest.fixture(scope="module")
def finder():
    return faces.FaceFinder(load_backend(), num_threads=1)


@pytest.fixture(scope="module")
def face_detector():
    return Detector(DetectorOptions(num_threads=1, faces=FaceOptions()))


def _scenes():
    from benchmarks import face_scenes

    return face_scenes


def _scene(seed, size, widths, angles=None, split="test"):
    fs = _scenes()
    rng = np.random.default_rng(seed)
    canvas = fs.background(rng, size)
    files = fs.face_files(split)
    crops = [Image.open(files[rng.integers(len(files))]).convert("RGB") for _ in widths]
    truth = fs.paste_faces(canvas, crops, list(widths), rng, angles)
    assert len(truth) == len(widths), "scene too small for its faces"
    return canvas, truth


# --- anchors, decoding, NMS: numbers known by construction ----------------------------------


def test_short_range_anchors_follow_the_published_layout():
    a = faces.ssd_anchor_centres(faces.SHORT_RANGE)
    assert a.shape == (896, 2)
    # stride 8: 16x16 cells x 2 anchors, row-major, both anchors of a cell share its centre
    np.testing.assert_allclose(a[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[2], [1.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[511], [15.5 / 16, 15.5 / 16])
    # strides 16, 16, 16 share one 8x8 map: 6 anchors per cell
    np.testing.assert_allclose(a[512:518], np.tile([0.5 / 8, 0.5 / 8], (6, 1)))
    np.testing.assert_allclose(a[518], [1.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(a[-1], [7.5 / 8, 7.5 / 8])


def test_decode_places_boxes_and_keypoints_relative_to_their_anchor():
    spec = faces.SHORT_RANGE
    anchors = faces.ssd_anchor_centres(spec)
    raw = np.zeros((896, 16), np.float32)
    logits = np.full((896, 1), -10.0, np.float32)
    i = 600
    raw[i, :4] = [12.8, -6.4, 32.0, 64.0]  # dx, dy, w, h in input pixels (128)
    raw[i, 4:6] = [-12.8, 0.0]  # first keypoint 0.1 to the left of the anchor
    logits[i] = 2.0
    boxes, kps, scores = faces.decode(raw, logits, anchors, spec)
    assert len(scores) == 1
    cx, cy = anchors[i] + [0.1, -0.05]
    np.testing.assert_allclose(boxes[0], [cx - 0.125, cy - 0.25, cx + 0.125, cy + 0.25], atol=1e-6)
    np.testing.assert_allclose(kps[0, 0], anchors[i] + [-0.1, 0.0], atol=1e-6)
    np.testing.assert_allclose(scores[0], 1 / (1 + np.exp(-2.0)), rtol=1e-6)


def test_decode_drops_scores_below_threshold_and_survives_huge_logits():
    spec = faces.SHORT_RANGE
    anchors = faces.ssd_anchor_centres(spec)
    raw = np.zeros((896, 16), np.float32)
    logits = np.full((896, 1), -1e9, np.float32)
    logits[3] = 1e9
    logits[4] = 0.0  # exactly 0.5: kept (>= min_score)
    logits[5] = -0.01
    with np.errstate(over="raise"):
        _, _, scores = faces.decode(raw, logits, anchors, spec)
    assert sorted(scores.tolist()) == pytest.approx([0.5, 1.0])


def test_weighted_nms_merges_overlaps_by_score_and_keeps_separate_faces():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], float)
    kps = np.zeros((3, 6, 2))
    kps[:, 0] = [[2, 2], [4, 2], [55, 55]]
    scores = np.array([0.9, 0.6, 0.7])
    b, k, s = faces.weighted_nms(boxes, kps, scores, 0.3)
    assert s.tolist() == pytest.approx([0.9, 0.7])
    np.testing.assert_allclose(b[0], [0.4, 0, 10.4, 10])  # (0.9 * 0 + 0.6 * 1) / 1.5
    np.testing.assert_allclose(k[0, 0], [2.8, 2])
    np.testing.assert_allclose(b[1], boxes[2])


def test_tiles_cover_the_photo_down_to_a_quarter_of_its_side():
    assert faces.tile_sizes(256, 256) == [200.0]
    assert faces.tile_sizes(1600, 900) == [800.0, 400.0]
    assert faces.tile_sizes(100, 80) == []


# --- alignment ------------------------------------------------------------------------------


def test_ffhq_quad_of_an_upright_face_is_level_and_sized_by_the_eyes():
    quad = align.ffhq_quad(right_eye=(100, 100), left_eye=(140, 100), mouth=(120, 140))
    assert align.quad_angle_degrees(quad) == pytest.approx(0.0, abs=1e-9)
    # |x| = max(2 * 40, 1.8 * 40) = 80: the square is 160 wide, centred 4 px below the eyes
    assert align.quad_side(quad) == pytest.approx(160.0)
    np.testing.assert_allclose(quad.mean(axis=0), [120, 104])


@pytest.mark.parametrize("degrees", [-30.0, 15.0, 90.0])
def test_ffhq_quad_turns_with_the_face(degrees):
    t = np.radians(degrees)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    pts = [rot @ np.array(p, float) for p in [(-20, 0), (20, 0), (0, 40)]]
    quad = align.ffhq_quad(*pts)
    assert align.quad_angle_degrees(quad) == pytest.approx(degrees, abs=1e-6)
    eyes = align.eye_positions_in_crop(quad, pts[0], pts[1])
    assert eyes[0, 1] == pytest.approx(eyes[1, 1], abs=1e-6)  # level in the crop


def test_aligned_crop_maps_marks_to_their_aligned_places_and_mirrors_outside():
    img = Image.new("RGB", (200, 200), (0, 0, 0))
    img.putpixel((100, 100), (255, 255, 255))
    quad = np.array([[50, 50], [50, 150], [150, 150], [150, 50]], float)
    crop = np.asarray(align.aligned_crop(img, quad, size=100))
    y, x = np.unravel_index(crop[:, :, 0].argmax(), crop.shape[:2])
    assert abs(x - 50) <= 1 and abs(y - 50) <= 1  # FFHQ samples at quad + 0.5
    # a square hanging over the left edge: the missing part is the mirrored photo, not black
    img2 = Image.fromarray(np.tile(np.linspace(40, 240, 64, dtype=np.uint8), (64, 1))).convert(
        "RGB"
    )
    quad2 = np.array([[-32, 0], [-32, 64], [32, 64], [32, 0]], float)
    left = np.asarray(align.aligned_crop(img2, quad2, size=64))[:, :8, 0]
    assert left.min() > 35


@requires_shared_data
def test_alignment_rebuilds_the_140k_crops_own_square(finder):
    from tests.conftest import sample_images

    for path in sample_images("test", "real", 4) + sample_images("test", "fake", 4):
        img = Image.open(path).convert("RGB")
        found = finder.find(img)
        assert found, path
        quad = max(found, key=lambda f: f.width).quad()
        lo, hi = quad.min(axis=0), quad.max(axis=0)
        iou = _scenes().iou((*lo, *hi), (0, 0, img.width, img.height))
        assert iou > 0.75, (path, iou)
        assert abs(align.quad_angle_degrees(quad)) < 8


# --- the stage on scenes ---------------------------------------------------------------------


@requires_shared_data
def test_pasted_faces_are_found_at_their_boxes(finder):
    fs = _scenes()
    canvas, truth = _scene(1, (1200, 800), [64, 96, 150, 260])
    found = [f.box for f in finder.find(canvas)]
    ious = fs.best_ious(truth, found)
    assert min(ious) >= 0.5, ious
    assert np.mean(ious) >= 0.65, ious


@requires_shared_data
@pytest.mark.parametrize("degrees", [-25.0, 20.0])
def test_in_plane_rotated_face_is_aligned_eyes_level(finder, degrees):
    canvas, truth = _scene(2, (700, 500), [200], angles=[degrees])
    found = finder.find(canvas)
    best = max(found, key=lambda f: _scenes().iou(f.box, truth[0]))
    assert _scenes().iou(best.box, truth[0]) > 0.3
    # PIL turns counter-clockwise for positive degrees: in image coordinates (y down) the eye
    # line then slopes by -degrees.
    assert align.quad_angle_degrees(best.quad()) == pytest.approx(-degrees, abs=8)
    k = best.keypoints
    eyes = align.eye_positions_in_crop(best.quad(), k[faces.RIGHT_EYE], k[faces.LEFT_EYE])
    assert abs(eyes[0, 1] - eyes[1, 1]) < 0.02 * align.ALIGNED_SIZE


@requires_shared_data
def test_exif_rotated_photo_gives_boxes_in_upright_pixels(face_detector, tmp_path):
    canvas, truth = _scene(3, (800, 600), [180])
    upright = tmp_path / "upright.jpg"
    canvas.save(upright, quality=95)
    # The same photo stored lying on its side with EXIF orientation 6 ("rotate 90 CW to view").
    sideways = tmp_path / "sideways.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    canvas.transpose(Image.Transpose.ROTATE_90).save(sideways, quality=95, exif=exif)
    a = face_detector.detect(upright).faces
    b = face_detector.detect(sideways).faces
    # the pasted face, in both; (weak detections in the texture may differ with the turn)
    face_a = max(a, key=lambda f: _scenes().iou(f.box, truth[0]))
    face_b = max(b, key=lambda f: _scenes().iou(f.box, truth[0]))
    assert _scenes().iou(face_a.box, truth[0]) > 0.5
    assert _scenes().iou(face_a.box, face_b.box) > 0.85


def test_generated_textures_have_no_face_and_the_second_look_is_what_drops_them(finder):
    from benchmarks.face_free import generated

    unverified = faces.FaceFinder(
        load_backend(), num_threads=1, min_score=FaceOptions().min_score, verify_min_score=None
    )
    textures = dict(generated())
    for name, img in textures.items():
        assert finder.find(img) == [], name
    # the wheel texture holds a 0.76 "face" for the first look alone
    assert unverified.find(textures["gen/rings_2"])


@requires_shared_data
def test_flat_canvas_with_three_faces_gives_three(face_detector):
    fs = _scenes()
    rng = np.random.default_rng(11)
    canvas = Image.new("RGB", (1200, 800), (40, 120, 40))
    files = fs.face_files("test")
    crops = [Image.open(files[i]).convert("RGB") for i in (0, 160, 40)]
    truth = fs.paste_faces(canvas, crops, [150, 200, 120], rng)
    d = face_detector.detect(canvas)
    assert len(d.faces) == 3, d.faces
    assert all(max(fs.iou(f.box, t) for f in d.faces) >= 0.5 for t in truth)


@requires_shared_data
def test_faces_cut_by_the_frame_are_found_and_judged(face_detector):
    fs = _scenes()
    rng = np.random.default_rng(12)
    canvas = fs.background(rng, (1200, 800))
    files = fs.face_files("test")
    truth = [
        fs.paste_at_edge(canvas, Image.open(files[3]).convert("RGB"), 220, "left", 0.4, 0.3),
        fs.paste_at_edge(canvas, Image.open(files[200]).convert("RGB"), 180, "right", 0.45, 0.6),
        fs.paste_at_edge(canvas, Image.open(files[7]).convert("RGB"), 200, "bottom", 0.3, 0.5),
    ]
    d = face_detector.detect(canvas)
    for t in truth:
        hit = [f for f in d.faces if fs.iou(f.box, t) >= 0.5]
        assert len(hit) == 1 and hit[0].label in ("fake", "real"), (t, d.faces)
    before = faces.FaceFinder(load_backend(), num_threads=1, min_score=0.65, edges=False)
    assert sum(max((fs.iou(f.box, t) for f in before.find(canvas)), default=0) >= 0.5
               for t in truth) < len(truth)  # fmt: skip


@pytest.mark.parametrize("colour", [(128, 128, 128), (0, 0, 0), (255, 255, 255)])
def test_blank_image_has_no_face(face_detector, colour):
    d = face_detector.detect(Image.new("RGB", (640, 480), colour))
    assert d.faces == () and d.label is None and d.fake_probability is None


@requires_shared_data
def test_zero_one_and_many_faces(face_detector):
    for widths in ([], [160], [100, 140, 200]):
        canvas, truth = _scene(4, (1000, 700), widths)
        d = face_detector.detect(canvas)
        matched = [
            f for f in d.faces if max((_scenes().iou(f.box, t) for t in truth), default=0) >= 0.5
        ]
        assert len(matched) == len(widths), (widths, d.faces)
        judged = [f for f in d.faces if f.fake_probability is not None]
        if judged:
            assert d.fake_probability == max(f.fake_probability for f in judged)
            assert d.label in ("fake", "real")


@requires_shared_data
def test_tiny_face_is_reported_too_small_not_classified(face_detector):
    canvas, truth = _scene(5, (300, 300), [44])
    d = face_detector.detect(canvas)
    tiny = [f for f in d.faces if _scenes().iou(f.box, truth[0]) >= 0.4]
    assert len(tiny) == 1, d.faces
    assert tiny[0].too_small and tiny[0].label is None and tiny[0].fake_probability is None
    assert d.label is None


@requires_shared_data
def test_largest_mode_keeps_one_face():
    det = Detector(DetectorOptions(num_threads=1, faces=FaceOptions(mode="largest")))
    canvas, truth = _scene(6, (1000, 700), [90, 220])
    d = det.detect(canvas)
    assert len(d.faces) == 1
    assert _scenes().iou(d.faces[0].box, truth[1]) >= 0.5


@requires_shared_data
def test_big_jpeg_is_found_on_a_draft_and_boxed_in_full_size_pixels(face_detector, tmp_path):
    canvas, truth = _scene(7, (3200, 2400), [700])
    path = tmp_path / "big.jpg"
    canvas.save(path, quality=90)
    img, scale = load_image_scaled(path, faces.FIND_DECODE_SHORT_SIDE)
    assert scale == pytest.approx(4.0) and img.size == (800, 600)  # 1/4 DCT scale
    d = face_detector.detect(path)
    assert max(_scenes().iou(f.box, truth[0]) for f in d.faces) >= 0.5
    # a small face in the same big photo is still cropped from enough pixels (decoded again)
    canvas, truth = _scene(8, (3200, 2400), [150])
    canvas.save(path, quality=90)
    cut = faces.prepare_faces(path, face_detector.face_finder, face_detector.spec, FaceOptions())
    hit = [c for c in cut if _scenes().iou(c.box, truth[0]) >= 0.5]
    assert len(hit) == 1 and hit[0].pixels is not None and hit[0].crop_px >= 224


# --- CLI: JSON schema, no-face result, exit code ----------------------------------------------


@requires_shared_data
def test_cli_json_has_faces_and_no_face_is_a_result(tmp_path, capsys):
    canvas, _ = _scene(9, (1000, 700), [120, 200])
    group = tmp_path / "group.jpg"
    canvas.save(group, quality=92)
    blank = tmp_path / "blank.png"
    Image.new("RGB", (400, 300), (128, 128, 128)).save(blank)
    out_dir = tmp_path / "annotated"
    rc = cli_main([str(group), str(blank), "--json", "-t", "1", "--annotate", str(out_dir)])
    assert rc == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["path"] for r in rows] == [str(group), str(blank)]
    for r in rows:
        assert set(r) == {"path", "label", "fake_probability", "model", "latency_ms", "faces"}
    assert len(rows[0]["faces"]) >= 2 and rows[0]["label"] in ("fake", "real")
    for f in rows[0]["faces"]:
        assert set(f) == {"box", "score", "label", "fake_probability", "too_small"}
        assert len(f["box"]) == 4 and all(isinstance(v, int) for v in f["box"])
    assert rows[1]["faces"] == [] and rows[1]["label"] is None
    assert rows[1]["fake_probability"] is None
    assert sorted(p.name for p in out_dir.iterdir()) == ["blank.faces.jpg", "group.faces.jpg"]
    assert Image.open(out_dir / "group.faces.jpg").size == (1000, 700)


def test_cli_text_says_no_face(tmp_path, capsys):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (400, 300), (0, 0, 0)).save(blank)
    assert cli_main([str(blank), "-t", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("no face") and out[1].endswith(str(blank))
    assert cli_main([str(blank), "-t", "1", "--faces", "none"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[0] in ("fake", "real")


def test_annotate_never_overwrites_an_input(tmp_path, capsys):
    # x.jpg's annotated copy would be x.faces.jpg, itself an input here
    src = tmp_path / "x.jpg"
    other = tmp_path / "x.faces.jpg"
    for p in (src, other):
        Image.new("RGB", (100, 100), (0, 0, 0)).save(p)
    before = other.read_bytes()
    rc = cli_main([str(src), str(other), "-t", "1", "--annotate", str(tmp_path)])
    assert rc == 1
    assert other.read_bytes() == before
    assert "overwrite" in capsys.readouterr().err
    assert (tmp_path / "x.faces.faces.jpg").is_file()


def test_face_options_refuse_unknown_mode():
    with pytest.raises(ValueError, match="faces mode"):
        FaceOptions(mode="some")


def test_already_aligned_rule():
    frame = np.array([[0, 0], [0, 256], [256, 256], [256, 0]], float)
    assert align.is_already_aligned(frame, 256, 256)
    assert align.is_already_aligned(frame * 0.9 + 12, 256, 256)  # within detector noise
    assert not align.is_already_aligned(frame * 0.6 + 50, 256, 256)  # a smaller face
    t = np.radians(15)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    tilted = (frame - 128) @ rot.T + 128
    assert not align.is_already_aligned(tilted, 256, 256)  # needs turning level


@requires_shared_data
def test_aligned_140k_crop_reaches_the_classifier_as_without_the_stage(face_detector):
    from edge_runtime.preprocess import load_resized
    from tests.conftest import sample_images

    for path in sample_images("test", "fake", 3):
        cut = faces.prepare_faces(
            path, face_detector.face_finder, face_detector.spec, FaceOptions()
        )
        main = max(cut, key=lambda c: c.crop_px)
        np.testing.assert_array_equal(main.pixels, load_resized(path, face_detector.spec))


def test_full_range_anchors_are_one_per_cell_of_a_48_map():
    a = faces.ssd_anchor_centres(faces.FULL_RANGE)
    assert a.shape == (2304, 2)
    np.testing.assert_allclose(a[0], [0.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(a[1], [1.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(a[48], [0.5 / 48, 1.5 / 48])


def test_face_detector_file_is_checked(tmp_path):
    bad = tmp_path / "face.tflite"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(ModelError, match="sha256"):
        faces.FaceFinder(load_backend(), model_path=bad)


@requires_shared_data
def test_refused_larger_decode_falls_back_to_the_draft(face_detector, tmp_path, monkeypatch):
    from edge_runtime.types import ImageError

    canvas, truth = _scene(8, (3200, 2400), [150])
    path = tmp_path / "big.jpg"
    canvas.save(path, quality=90)
    real = faces.load_image_scaled
    calls = []

    def refuse_second(source, short_side, **kwargs):
        calls.append(short_side)
        if len(calls) > 1:
            raise ImageError(f"{source}: refused")
        return real(source, short_side, **kwargs)

    monkeypatch.setattr(faces, "load_image_scaled", refuse_second)
    cut = faces.prepare_faces(path, face_detector.face_finder, face_detector.spec, FaceOptions())
    assert len(calls) == 2
    hit = [c for c in cut if _scenes().iou(c.box, truth[0]) >= 0.5]
    assert len(hit) == 1 and hit[0].pixels is not None


@requires_shared_data
def test_detect_many_with_faces_matches_one_by_one(face_detector):
    from tests.conftest import sample_images

    canvas, _ = _scene(10, (900, 600), [100, 180])
    sources = [*sample_images("test", "real", 3), canvas, Image.new("RGB", (300, 300))]
    one_by_one = [face_detector.detect(s) for s in sources]
    piped = list(face_detector.detect_many(sources, workers=2))
    for a, b in zip(one_by_one, piped, strict=True):
        assert a.faces == b.faces and a.label == b.label


@requires_shared_data
def test_face_benchmark_checks_run(tmp_path, capsys):
    from benchmarks import face_stage

    assert face_stage.main(["phantoms", "--per-source", "1", "--photos", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| before issue 21" in out and "(default)" in out and "24 gen" in out
    saved = tmp_path / "crops.npz"
    assert face_stage.main(["crops", "--images", "20", "--save", str(saved)]) == 0
    assert face_stage.main(["crops", "--images", "20", "--compare", str(saved)]) == 0
    assert "max abs difference 0, mean 0.0000" in capsys.readouterr().out
