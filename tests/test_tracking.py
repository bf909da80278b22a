"""Tracks (edge_runtime/tracking.py): prediction, gates, skipped frames, the appearance check,
and on generated 720p clips (a real face, a scene cut, a StyleGAN face crossing the frame at
240 px/s; two faces crossing) the clip verdict at --fps 1, 2 and 4 and tracks that never mix
two people.

Clips are written with PyAV from ../shared/data faces on real photo texture
(benchmarks.video.write_scenes_clip) at 8 frames/s, so decoding them is cheap.
"""

from __future__ import annotations

import importlib.util

import pytest
from PIL import Image

from edge_runtime.tracking import (
    TRACK_MIN_SIMILARITY,
    Tracker,
    colour_signature,
    most_fake,
)
from edge_runtime.types import DEFAULT_THRESHOLD, Face, label_for
from tests.conftest import requires_shared_data

requires_av = pytest.mark.skipif(
    importlib.util.find_spec("av") is None,
    reason='needs PyAV, the video extra: pip install -e ".[video]"',
)


def _face(x, y, side=100, p=0.5):
    return Face((x, y, x + side, y + side), 0.9, label_for(p), p)


def test_a_fast_face_at_one_frame_a_second_stays_one_track():
    """2.4 face sizes a second: beyond any box overlap, within the unknown-velocity gate; once
    its velocity is known the prediction follows it."""
    tracker = Tracker()
    ids = [tracker.update([_face(100 + 240 * t, 300)], float(t))[0] for t in range(5)]
    assert ids == [1, 1, 1, 1, 1]


def test_prediction_keeps_two_crossing_faces_apart():
    """Two faces moving towards each other, crossing between samples: each stays on its track,
    also while one is hidden (missing) for a sampled frame."""
    tracker = Tracker()
    frames = []
    for t in range(7):
        a = _face(100 + 150 * t, 300, p=0.1)
        b = _face(1000 - 150 * t, 330, p=0.9)
        frames.append([a] if t == 3 else [b, a])  # at t=3, a covers b
    ids = [tracker.update(faces, float(t)) for t, faces in enumerate(frames)]
    assert ids[0] == (1, 2) and ids[3] == (2,)
    assert all(i == (1, 2) for i in ids[4:])


def test_a_jump_starts_a_new_track_and_a_track_may_skip_frames():
    tracker = Tracker()
    assert tracker.update([_face(100, 100)], 0.0) == (1,)
    assert tracker.update([], 0.25) == ()
    assert tracker.update([], 0.5) == ()
    assert tracker.update([_face(110, 100)], 0.75) == (1,)  # 2 frames missed: the same track
    assert tracker.update([_face(110, 100), _face(1100, 100)], 1.0) == (1, 2)  # too far: new
    tracker.update([], 2.25)
    tracker.update([], 2.5)
    tracker.update([], 2.75)
    assert tracker.update([_face(110, 100)], 3.0) == (3,)  # 2 s and 3 frames unseen: ended


def test_size_must_fit_the_prediction():
    tracker = Tracker()
    assert tracker.update([_face(100, 100, side=100)], 0.0) == (1,)
    assert tracker.update([_face(100, 100, side=200)], 0.25) == (2,)


def _two_colour_frame(left, right):
    img = Image.new("RGB", (400, 200), left)
    img.paste(right, (200, 0, 400, 200))
    return img


def test_another_person_at_the_same_place_starts_a_new_track():
    """A scene cut: the same place, other colours. Without pixels geometry alone decides."""
    box = _face(50, 50)
    skin, other = (200, 150, 120), (60, 40, 160)
    same = _two_colour_frame(skin, other)
    cut = _two_colour_frame(other, skin)
    assert colour_signature(same, box.box) @ colour_signature(same, box.box) == pytest.approx(1)
    assert colour_signature(same, box.box) @ colour_signature(cut, box.box) < TRACK_MIN_SIMILARITY
    tracker = Tracker()
    assert tracker.update([box], 0.0, same) == (1,)
    assert tracker.update([box], 1.0, same) == (1,)
    assert tracker.update([box], 2.0, cut) == (2,)
    geometry_only = Tracker()
    assert [geometry_only.update([box], float(t))[0] for t in range(3)] == [1, 1, 1]


def _box_face(box, p):
    return Face(box, 0.9, None if p is None else label_for(p), p, too_small=p is None)


def test_track_summaries_survive_a_missed_frame():
    f = _box_face
    tracker = Tracker()
    assert tracker.update([f((0, 0, 100, 100), 0.9), f((300, 0, 400, 100), 0.1)], 0) == (1, 2)
    # listed the other way round, each moved a little: the same tracks
    assert tracker.update([f((310, 0, 410, 100), 0.2), f((10, 0, 110, 100), 0.7)], 1) == (2, 1)
    assert tracker.update([f((20, 0, 120, 100), None)], 2) == (1,)  # track 2 missed once
    assert tracker.update([f((320, 0, 420, 100), 0.3), f((700, 0, 800, 100), 0.8)], 3) == (2, 3)
    tracks = {t.id: t for t in tracker.summaries(DEFAULT_THRESHOLD)}
    assert tracks[1].frames == 3 and tracks[1].judged_frames == 2
    assert tracks[1].mean_fake_probability == pytest.approx(0.8)
    assert tracks[1].max_fake_probability == 0.9 and tracks[1].fake_share == 1.0
    assert tracks[1].label == "fake" and tracks[1].box == (0, 0, 100, 100)
    assert tracks[2].label == "real" and tracks[2].fake_share == 0.0 and tracks[2].frames == 3
    assert tracks[3].frames == 1 and (tracks[3].first_s, tracks[3].last_s) == (3, 3)


def test_faces_at_the_frame_edge_are_compared_on_the_part_inside():
    frame = _two_colour_frame((200, 150, 120), (60, 40, 160))
    half_out = (-50, -40, 50, 60)
    inside = colour_signature(frame, (0, 10, 50, 60))
    assert colour_signature(frame, half_out) @ inside == pytest.approx(1)
    assert colour_signature(frame, (-300, 0, -200, 100)) is None  # wholly outside
    tracker = Tracker()
    assert tracker.update([_face(-50, -40)], 0.0, frame) == (1,)
    assert tracker.update([_face(-45, -40)], 0.25, frame) == (1,)


def test_clip_verdict_is_the_most_fake_track_seen_more_than_once():
    tracker = Tracker()
    tracker.update([_face(0, 0, p=0.6), _face(500, 0, p=0.99)], 0)
    tracker.update([_face(0, 0, p=0.7)], 1)
    tracker.update([_face(0, 0, p=0.1)], 2)
    tracks = tracker.summaries(DEFAULT_THRESHOLD)
    assert most_fake(tracks).id == 1 and most_fake(tracks).label == "real"  # mean 0.467
    assert most_fake(tracks[1:]).id == 2  # alone, a once-seen track decides
    assert most_fake([]) is None


# --- generated clips --------------------------------------------------------------------------

CLIP_SIZE = (1280, 720)
CLIP_RATE = 8  # frames per second: --fps 4, 2, 1 keep every 2nd, 4th, 8th frame
CROP_SIDE = 240  # pasted aligned crop: a face box of about 145 px
SPEED = 240  # px/s


@pytest.fixture(scope="module")
def detector():
    from edge_runtime.detector import Detector
    from edge_runtime.types import DetectorOptions, FaceOptions

    return Detector(DetectorOptions(num_threads=2, faces=FaceOptions()))


@pytest.fixture(scope="module")
def faces(detector):
    """A StyleGAN face the model calls fake and a real face it calls real, as still crops: the
    clips test tracking and the clip rule, not the classifier."""
    from tests.conftest import sample_images

    def first(label, keep):
        for path in sample_images("test", label, 20):
            crop = Image.open(path).convert("RGB").resize((CROP_SIDE, CROP_SIDE))
            if keep(detector.detect(crop).fake_probability or 0.5):
                return crop
        pytest.skip(f"no {label} test face judged {label} by {detector.model_name}")

    return first("real", lambda p: p < 0.3), first("fake", lambda p: p > 0.8)


def _scenes(kind, faces):
    from benchmarks.video import Scene

    real, fake = faces
    y = 240
    seconds = lambda n: n * CLIP_RATE  # noqa: E731
    if kind == "cut":
        # A real face for 1.5 s, a cut, then the fake face from the real face's place across
        # the frame at SPEED for 3.5 s (as in issue 21).
        n = round(seconds(3.5))
        return [
            Scene(round(seconds(1.5)), [(real, (200, y), (230, y))]),
            Scene(n, [(fake, (100, y + 20), (100 + SPEED * (n - 1) // CLIP_RATE, y + 20))]),
        ]
    n = seconds(3)  # two faces crossing at 1.5 s, the fake one in front
    far = 80 + SPEED * (n - 1) // CLIP_RATE
    return [Scene(n, [(real, (80, y), (far, y)), (fake, (far, y + 40), (80, y + 40))])]


def _truth(scenes, index, fake):
    """(identity, true face box) of frame `index`; identity 1: the fake face, 0: the real one."""
    from benchmarks.face_scenes import FACE_BOX_IN_CROP

    for scene in scenes:
        if index < scene.frames:
            out = []
            for (img, _, _), (x, y) in zip(scene.faces, scene.positions(index)):
                fx0, fy0, fx1, fy1 = (v * CROP_SIDE for v in FACE_BOX_IN_CROP)
                out.append((int(img is fake), (x + fx0, y + fy0, x + fx1, y + fy1)))
            return out
        index -= scene.frames
    raise IndexError(index)


@requires_av
@requires_shared_data
@pytest.mark.parametrize("kind", ["cut", "crossing"])
def test_fake_face_decides_the_clip_at_any_frame_rate_and_tracks_never_mix(
    kind, faces, detector, tmp_path
):
    from benchmarks.face_scenes import iou
    from benchmarks.video import write_scenes_clip
    from edge_runtime.video import VideoOptions, detect_video

    scenes = _scenes(kind, faces)
    clip = write_scenes_clip(tmp_path / f"{kind}.mp4", CLIP_SIZE, CLIP_RATE, scenes, seed=3)
    for fps in (1, 2, 4):
        result = detect_video(detector, clip, VideoOptions(sample_fps=fps))
        people: dict[int, set[int]] = {}  # track id -> identities of its faces
        fake_frames = 0
        for frame in result.frames:
            truth = _truth(scenes, frame.index, faces[1])
            for face, track in zip(frame.faces, frame.tracks):
                overlaps = [(iou(face.box, box), who) for who, box in truth]
                best, who = max(overlaps, default=(0.0, None))
                if best >= 0.3:
                    people.setdefault(track, set()).add(who)
                    fake_frames += who == 1
        mixed = {t: p for t, p in people.items() if len(p) > 1}
        assert not mixed, f"--fps {fps}: tracks mixing the real and the fake face: {mixed}"
        assert fake_frames >= 3, f"--fps {fps}: the fake face was found in {fake_frames} frames"
        top = most_fake(result.tracks)
        assert people.get(top.id) == {1}, f"--fps {fps}: the clip's verdict is not the fake's"
        assert top.judged_frames >= 2 and result.label == "fake", f"--fps {fps}: {top}"


@requires_shared_data
def test_colour_signatures_tell_one_face_from_another():
    """The appearance threshold on faces140k test faces: one face under detector-like box jitter
    (4 % of its size), JPEG and +-20 % scale stays above it; two different faces rarely do."""
    import io

    import numpy as np

    from benchmarks.face_scenes import FACE_BOX_IN_CROP, face_files

    rng = np.random.default_rng(0)
    files = face_files("test")

    def view(path, side):
        img = Image.open(path).convert("RGB").resize((side, side), Image.BILINEAR)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=50)
        jitter = rng.normal(0, 0.04 * (FACE_BOX_IN_CROP[2] - FACE_BOX_IN_CROP[0]) * side, 4)
        box = [v * side + j for v, j in zip(FACE_BOX_IN_CROP, jitter)]
        return colour_signature(Image.open(buf), box)

    same, other = [], []
    for _ in range(150):
        i, j = rng.choice(len(files), 2, replace=False)
        side = int(rng.integers(100, 320))
        first = view(files[i], side)
        same.append(first @ view(files[i], int(side * rng.uniform(0.8, 1.25))))
        other.append(first @ view(files[j], side))
    assert min(same) >= TRACK_MIN_SIMILARITY + 0.02, sorted(same)[:5]
    assert np.mean(np.asarray(other) >= TRACK_MIN_SIMILARITY) <= 0.03, sorted(other)[-5:]
