"""Video files and the camera (edge_runtime/video.py): sampling, tracks, verdicts that agree with
the still-image path on the same frames, bad files, no face, no `video` extra, no camera.

Clips are written here with PyAV (the `video` extra) from ../shared/data faces moving across
real photo texture (benchmarks.video.write_face_clip); each test takes a few seconds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_runtime.inputs import expand_inputs
from edge_runtime.types import label_for
from edge_runtime.video import FrameSampler
from tests.conftest import REPO, requires_shared_data, sample_images
from tests.test_cli import run_cli

HAVE_AV = importlib.util.find_spec("av") is not None
requires_av = pytest.mark.skipif(
    not HAVE_AV, reason='needs PyAV, the video extra: pip install -e ".[video]"'
)
SAMPLE_JPG = REPO / "edge_runtime" / "samples" / "astronaut_face.jpg"
CLIP_RATE = 10  # frames per second of the test clips
CLIP_FRAMES = 20
SAMPLE_FPS = 5  # -> every 2nd frame: 10 judged frames


def _plain_clip(
    path: Path, n_frames: int = CLIP_FRAMES, rate: int = CLIP_RATE, faststart: bool = False
) -> Path:
    """A face-free clip (very smooth colour fields), written with PyAV. faststart: the index
    (moov) before the frames, so a cut file still opens."""
    import av

    rng = np.random.default_rng(1)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for _ in range(n_frames):
            small = rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)
            img = Image.fromarray(small).resize((320, 240), Image.BILINEAR)
            for packet in stream.encode(av.VideoFrame.from_image(img)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def two_face_clip(tmp_path_factory) -> Path:
    """640x360, 2 s at 10 frames/s: a real (left) and a StyleGAN (right) face moving towards
    each other across panning real photo texture."""
    from benchmarks.video import write_face_clip

    real = Image.open(sample_images("test", "real", 1)[0]).convert("RGB").resize((160, 160))
    fake = Image.open(sample_images("test", "fake", 1)[0]).convert("RGB").resize((160, 160))
    path = tmp_path_factory.mktemp("video") / "two faces.mp4"
    return write_face_clip(
        path,
        (640, 360),
        CLIP_FRAMES,
        CLIP_RATE,
        [(real, (40, 100), (120, 100)), (fake, (440, 100), (360, 100))],
    )


def test_sampler_keeps_one_frame_per_step_of_presentation_time():
    times = [i / 10 for i in range(20)]
    sampler = FrameSampler(4)
    assert [i for i, t in enumerate(times) if sampler.keep(t)] == [0, 3, 5, 8, 10, 13, 15, 18]
    sampler = FrameSampler(100)  # faster than the video: every frame, no duplicates
    assert sum(sampler.keep(t) for t in times) == 20
    sampler = FrameSampler(1)  # a gap in the stream gives one frame, not a burst
    assert [t for t in (0.0, 0.5, 5.0, 5.1, 5.5, 6.0) if sampler.keep(t)] == [0.0, 5.0, 6.0]


def test_folders_contribute_videos_by_the_one_suffix_rule(tmp_path):
    for name in ("a.MP4", "b.jpg", "c.mkv", "notes.txt", ".hidden.mp4"):
        (tmp_path / name).write_bytes(b"x")
    items = expand_inputs([str(tmp_path)]).items
    assert [Path(i).name for i in items] == ["a.MP4", "b.jpg", "c.mkv"]


def _decoded_frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


@requires_av
@requires_shared_data
def test_clip_verdicts_agree_with_the_still_image_path_on_the_same_frames(two_face_clip, tmp_path):
    annotated = tmp_path / "annotated"
    result = run_cli(
        two_face_clip, "--json", "--fps", SAMPLE_FPS, "-t", "2", "--annotate", annotated
    )
    assert result.exit_code == 0, result.stderr
    (clip,) = [json.loads(line) for line in result.stdout.splitlines()]
    for key in ("path", "label", "fake_probability", "model", "latency_ms", "faces"):
        assert key in clip
    # sampling: every 2nd frame of the 10 frames/s clip
    assert [f["index"] for f in clip["frames"]] == list(range(0, CLIP_FRAMES, 2))
    assert [f["time_s"] for f in clip["frames"]] == [i / CLIP_RATE for i in range(0, 20, 2)]
    # linking: two tracks, each seen in every judged frame; the real face stays on the left
    tracks = {t["id"]: t for t in clip["tracks"]}
    assert sorted(tracks) == [1, 2] and all(t["frames"] == 10 for t in tracks.values())
    left = {f["track"] for fr in clip["frames"] for f in fr["faces"] if f["box"][2] < 320}
    right = {f["track"] for fr in clip["frames"] for f in fr["faces"] if f["box"][0] > 320}
    assert len(left) == 1 and len(right) == 1 and left != right

    # The still-image path on the same sampled frames, written losslessly.
    frames = _decoded_frames(two_face_clip)
    stills = []
    for f in clip["frames"]:
        stills.append(tmp_path / f"frame{f['index']:03d}.png")
        Image.fromarray(frames[f["index"]]).save(stills[-1])
    still = run_cli(*stills, "--json", "-t", "2")
    assert still.exit_code == 0, still.stderr
    per_track: dict[int, list[float]] = {1: [], 2: []}
    for frame, line in zip(clip["frames"], still.stdout.splitlines(), strict=True):
        photo = json.loads(line)
        video_faces = [{k: v for k, v in f.items() if k != "track"} for f in frame["faces"]]
        assert video_faces == photo["faces"]  # boxes, scores, labels, P(fake): identical
        for f in frame["faces"]:
            per_track[f["track"]].append(f["fake_probability"])
    for tid, ps in per_track.items():
        mean = sum(ps) / len(ps)
        assert tracks[tid]["mean_fake_probability"] == pytest.approx(mean, abs=1e-6)
        assert tracks[tid]["max_fake_probability"] == max(ps)
        assert tracks[tid]["label"] == label_for(mean)
        assert tracks[tid]["fake_share"] == pytest.approx(
            sum(label_for(p) == "fake" for p in ps) / len(ps), abs=1e-4
        )
    # both tracks were judged in every frame: the clip's is the higher mean P(fake)
    top = max(tracks.values(), key=lambda t: t["mean_fake_probability"])
    assert (clip["label"], clip["fake_probability"]) == (top["label"], top["mean_fake_probability"])
    assert len(clip["faces"]) == 2  # one per track, in the still-image face shape

    written = sorted(p.name for p in annotated.iterdir())
    assert written == [f"two faces_f{i:06d}.faces.jpg" for i in range(0, CLIP_FRAMES, 2)]
    with Image.open(annotated / written[0]) as img:
        assert img.size == (640, 360)


@requires_av
@requires_shared_data
def test_max_frames_and_text_output(two_face_clip):
    result = run_cli(two_face_clip, "--max-frames", "3", "--fps", "2", "-t", "2")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].endswith("two faces.mp4  (3 frames, 2 tracks)")
    assert [line.split(":")[0] for line in lines[2:]] == ["  track 1", "  track 2"]


@requires_av
def test_corrupt_and_truncated_videos_give_one_line_each_and_the_batch_goes_on(tmp_path):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(os.urandom(4000))
    whole = _plain_clip(tmp_path / "whole.mp4").read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(whole[: len(whole) // 2])
    # Index first: the cut file opens, and ends long before the duration it declares.
    whole = _plain_clip(tmp_path / "whole_fs.mp4", n_frames=60, faststart=True).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 2])
    empty = tmp_path / "empty.mov"
    empty.write_bytes(b"")
    bad = [corrupt, truncated, cut, empty]
    result = run_cli(*bad, SAMPLE_JPG, "--json", "-t", "2", "--fps", "1")
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in rows] == [str(p) for p in [*bad, SAMPLE_JPG]]
    reasons = ("cannot open video", "cannot open video", "video ends at", "empty file")
    for row, reason in zip(rows[:4], reasons):
        assert set(row) == {"path", "error"}
        assert row["error"].startswith(f"{row['path']}: {reason}") and "\n" not in row["error"]
    assert "of the 6.0 s its header declares (truncated file?)" in rows[2]["error"]
    assert rows[4]["label"] in ("fake", "real")


@requires_av
def test_video_without_a_face_is_a_result_not_an_error(tmp_path):
    clip = _plain_clip(tmp_path / "noface.mp4")
    result = run_cli(clip, "--json", "-t", "2", "--fps", "2")
    assert result.exit_code == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["label"] is None and row["fake_probability"] is None
    assert row["faces"] == [] and row["tracks"] == [] and len(row["frames"]) == 4
    text = run_cli(clip, "-t", "2", "--fps", "2")
    assert text.stdout.splitlines()[1].startswith("no face")


def test_without_the_video_extra_one_line_names_it_and_images_go_on(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` raises ImportError
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00" * 100)
    result = run_cli(clip, SAMPLE_JPG, "-t", "2")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[1].startswith("ERROR") and 'pip install "edge-detect[video]"' in lines[1]
    assert lines[2].endswith("astronaut_face.jpg")


def test_no_camera_fails_with_one_line_and_exit_2(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)
    if os.path.exists("/dev/video9"):
        pytest.skip("this machine has a /dev/video9")
    result = run_cli("--camera", "9", "--duration", "1", "-t", "1")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "edge-detect: error:" in result.stderr
    assert "/dev/video9" in result.stderr


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--camera", "0", "x.jpg"], "give no IMAGE"),
        (["x.jpg", "--duration", "3"], "--duration is for --camera"),
        (["x.mp4", "--fps", "0"], "--fps"),
    ],
)
def test_video_usage_errors_exit_2(args, needle):
    result = run_cli(*args)
    assert result.exit_code == 2 and needle in result.stderr


@requires_av
@requires_shared_data
def test_camera_loop_prints_faces_and_fps_until_the_duration(two_face_clip, monkeypatch):
    """The live loop (newest-frame reader thread, the same detector path, tracks) fed by the
    clip's frames at about 10 frames/s in place of a device, which this machine lacks."""
    import time

    import edge_runtime.camera as camera

    frames = _decoded_frames(two_face_clip)
    feed = frames + [frames[-1]] * 30  # 5 s: the clip, then its last frame held
    served = []

    def fake_camera(index):
        assert index == 3
        for frame in feed:
            time.sleep(0.1)
            served.append(1)
            yield Image.fromarray(frame)

    monkeypatch.setattr(camera, "open_camera", fake_camera)
    result = run_cli("--camera", "3", "--duration", "1.2", "-t", "2")
    assert result.exit_code == 0, result.stderr
    assert len(served) < len(feed)  # stopped by --duration, not by the frames' end
    lines = result.stdout.splitlines()
    assert len(lines) >= 3
    for line in lines:
        assert " fps  " in line and "track 1: " in line and "track 2: " in line
    assert "frames judged in" in result.stderr and "  track 1: " in result.stderr


@requires_av
def test_a_clip_stored_sideways_is_judged_upright(tmp_path):
    """A phone's portrait clip: landscape pixels plus a display matrix saying turn 90 degrees
    counter-clockwise. Its frames reach the detector as shown (portrait, marker bottom-left)."""
    import av

    from edge_runtime.video import sample_frames

    stored = Image.new("RGB", (64, 32), (200, 0, 0))
    stored.paste((0, 0, 255), (0, 0, 8, 8))  # a blue marker in the stored top-left corner
    path = tmp_path / "portrait.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        if not hasattr(stream, "set_display_rotation"):
            pytest.skip(f"PyAV {av.__version__} cannot write a display matrix")
        stream.set_display_rotation(90)
        for packet in stream.encode(av.VideoFrame.from_image(stored)):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    ((_, _, img),) = list(sample_frames(str(path), 1))
    assert img.size == (32, 64)
    r, g, b = img.getpixel((3, 60))
    assert b > 200 and r < 30  # the marker, turned to the bottom-left
    assert img.getpixel((28, 3))[0] > 180  # red elsewhere
