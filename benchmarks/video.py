"""Video: judged frames per second on a 1080p clip with one face, and the share spent decoding.

    python -m benchmarks.video fps [--seconds 10] [--fps 4 30] [--threads 2] [--repeat 3]
    python -m benchmarks.video verdicts [--fps 1 2 4]   issue 21's clip: the verdict per --fps
    python -m benchmarks.video decoders [CLIP]     PyAV vs OpenCV: import and decode speed

`fps` writes a 1920x1080 H.264 clip (30 frames/s, --seconds long) with PyAV: face-free real photo
texture (benchmarks.face_scenes.background) panning slowly, and one real faces140k test face,
about 400 px, moving across it. It then runs edge_runtime.video.detect_video (the CLI's path:
sampled frames through Detector.detect_many, decode on its own thread) at each --fps and
prints judged frames per second, seconds of video per second of wall time, and the decode
share: the decode thread's busy time (every frame decoded, the sampled ones converted to RGB)
over the wall time. Decode overlaps inference, so the shares of a run do not add up to 1.
For comparison, the same frames one after the other on one thread (decode a frame, then
Detector.detect it): its wall time and decode share. Each path runs --repeat times per --fps,
interleaved (P S, S P, ...) so that load from other jobs falls on both alike; the table gives
medians with the range, and the process CPU seconds of each path (the work done, which load
changes much less than the wall time). One unpaired run of each once showed the pipelined path
slower than the sequential one (5.30 vs 3.89 s at --fps 4); interleaved runs did not.

`decoders` decodes CLIP (default: the `fps` clip, written first) with each installed library,
in a fresh process each: import time, every frame decoded, and every frame / every 10th frame
converted to RGB. OpenCV is not a dependency: install it apart to compare, e.g.
`pip install --target /tmp/cv opencv-python-headless` and `PYTHONPATH=/tmp/cv python -m
benchmarks.video decoders`.

`write_face_clip` and `write_scenes_clip` (shots with hard cuts) are also how the tests make
their clips (tests/test_video.py, tests/test_tracking.py).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.face_scenes import DATA, background, face_files
from edge_runtime.console import ArgumentParser, at_least, setup_logging, usage_error

PROG = "python -m benchmarks.video"
CLIP_SIZE = (1920, 1080)
CLIP_RATE = 30
FACE_SIDE = 400  # pasted aligned crop, pixels (its face box is about 240 px wide)


Moving = tuple[Image.Image, tuple[int, int], tuple[int, int]]  # face, start and end top-left


@dataclass(frozen=True)
class Scene:
    """A shot of a generated clip: `frames` frames of its own background (panning `pan_px` a
    frame), each face moving in a straight line from its start to its end position over the
    shot. Faces are pasted in order: a later one covers an earlier one where they cross."""

    frames: int
    faces: list[Moving]
    pan_px: int = 1

    def positions(self, i: int) -> list[tuple[int, int]]:
        """Top-left corner of each face in the shot's frame i."""
        f = i / max(self.frames - 1, 1)
        return [
            (round(x0 + (x1 - x0) * f), round(y0 + (y1 - y0) * f))
            for _, (x0, y0), (x1, y1) in self.faces
        ]


def write_scenes_clip(
    path: str | Path,
    size: tuple[int, int],
    rate: int,
    scenes: list[Scene],
    seed: int = 0,
    codec: str = "libx264",
) -> Path:
    """Write an H.264 (yuv420p) clip of the scenes one after the other (hard cuts: each scene
    has its own real photo texture, benchmarks.face_scenes.background). Needs PyAV."""
    import av

    rng = np.random.default_rng(seed)
    w, h = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for scene in scenes:
            canvas = background(rng, (w + scene.pan_px * scene.frames, h))
            for i in range(scene.frames):
                x = scene.pan_px * i
                frame = canvas.crop((x, 0, x + w, h))
                for (img, _, _), at in zip(scene.faces, scene.positions(i)):
                    frame.paste(img, at)
                for packet in stream.encode(av.VideoFrame.from_image(frame)):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return Path(path)


def write_face_clip(
    path: str | Path,
    size: tuple[int, int],
    n_frames: int,
    rate: int,
    faces: list[Moving],
    seed: int = 0,
    pan_px: int = 1,
    codec: str = "libx264",
) -> Path:
    """A one-scene clip (write_scenes_clip): real photo texture panning `pan_px` a frame, and
    each face (an RGB image pasted as it is) moving in a straight line from its start to its
    end position (top-left corners)."""
    return write_scenes_clip(path, size, rate, [Scene(n_frames, faces, pan_px)], seed, codec)


def one_face_clip(path: Path, seconds: float) -> Path:
    """The benchmark clip: 1080p, 30 frames/s, one real test face crossing the frame."""
    face = Image.open(face_files("test")[0]).convert("RGB").resize((FACE_SIDE, FACE_SIDE))
    n = round(seconds * CLIP_RATE)
    y = (CLIP_SIZE[1] - FACE_SIDE) // 2
    return write_face_clip(
        path, CLIP_SIZE, n, CLIP_RATE, [(face, (100, y), (CLIP_SIZE[0] - FACE_SIDE - 100, y))]
    )


def fps(seconds: float, sample_rates: list[float], threads: int, repeat: int) -> int:
    from benchmarks.face_stage import _machine
    from edge_runtime.detector import Detector
    from edge_runtime.types import DetectorOptions, FaceOptions
    from edge_runtime.video import VideoOptions, detect_video

    det = Detector(DetectorOptions(num_threads=threads, faces=FaceOptions()))
    with tempfile.TemporaryDirectory() as tmp:
        clip = one_face_clip(Path(tmp) / "clip1080.mp4", seconds)
        print(
            f"{CLIP_SIZE[0]}x{CLIP_SIZE[1]} H.264 clip, {seconds:g} s at {CLIP_RATE} frames/s, "
            f"one face ({FACE_SIDE} px crop); model {det.model_name}, {threads} interpreter "
            f"threads, {det.workers} face workers; {repeat} interleaved runs of each path, "
            f"median (min-max); load average {_load()}; {_machine()}"
        )
        print(
            "| --fps | frames judged | wall s | judged frames/s | video s per wall s "
            "| decode share | CPU s | sequential: wall s | decode share | CPU s | verdict |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        detect_video(det, clip, VideoOptions(sample_fps=1, max_frames=2))  # warm-up
        for rate in sample_rates:
            piped, sequential = [], []
            for i in range(repeat):  # P S, S P, P S ...: neither path always runs first
                for path in ("piped", "sequential")[:: 1 if i % 2 == 0 else -1]:
                    if path == "piped":
                        piped.append(_pipelined(det, clip, rate))
                    else:
                        sequential.append(_sequential(det, clip, rate))
            wall = statistics.median(r["wall"] for r in piped)
            r = piped[0]["result"]
            print(
                f"| {rate:g} | {len(r.frames)} | {_spread(piped, 'wall')} | "
                f"{len(r.frames) / wall:.1f} | {seconds / wall:.2f} | "
                f"{_spread(piped, 'decode', share=True)} | {_spread(piped, 'cpu')} | "
                f"{_spread(sequential, 'wall')} | {_spread(sequential, 'decode', share=True)} | "
                f"{_spread(sequential, 'cpu')} | "
                f"{r.label} {r.fake_probability:.3f}, {len(r.tracks)} track(s) |"
            )
    return 0


def _load() -> str:
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def _spread(runs: list[dict], key: str, share: bool = False) -> str:
    """Median (min-max) of one measurement over runs; share: over each run's wall time."""
    values = [r[key] / r["wall"] if share else r[key] for r in runs]
    if share:
        return f"{statistics.median(values):.0%}"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def _pipelined(detector, clip: Path, rate: float) -> dict:
    """What `edge-detect clip.mp4` runs: decode thread, face workers, interpreter."""
    from edge_runtime.video import VideoOptions, detect_video

    cpu = time.process_time()
    r = detect_video(detector, clip, VideoOptions(sample_fps=rate))
    return {
        "wall": r.latency_ms / 1000,
        "decode": r.decode_ms / 1000,
        "cpu": time.process_time() - cpu,
        "result": r,
    }


def _sequential(detector, clip: Path, rate: float) -> dict:
    """The same sampled frames without overlap: decode one, detect it, then the next."""
    from edge_runtime.video import sample_frames

    start, cpu = time.perf_counter(), time.process_time()
    decode = 0.0
    frames = sample_frames(str(clip), rate)
    while True:
        t0 = time.perf_counter()
        item = next(frames, None)
        decode += time.perf_counter() - t0
        if item is None:
            break
        detector.detect(item[2])
    wall = time.perf_counter() - start
    return {"wall": wall, "decode": decode, "cpu": time.process_time() - cpu}


def verdicts(sample_rates: list[float], threads: int) -> int:
    """Issue 21's clip: 10 s of 720p at 30 frames/s, a real face for 3 s, a cut, a StyleGAN
    face crossing the frame at 240 px/s from 3.0 to 6.5 s (starting near the real face's
    place), then background only. The clip's verdict and its deciding track at each --fps."""
    from benchmarks.face_stage import _machine
    from edge_runtime.detector import Detector
    from edge_runtime.tracking import most_fake
    from edge_runtime.types import DetectorOptions, FaceOptions
    from edge_runtime.video import VideoOptions, detect_video

    root = DATA / "faces140k_sample" / "test"
    real, fake = (
        Image.open(sorted((root / label).glob("*.jpg"))[0]).convert("RGB").resize((240, 240))
        for label in ("real", "fake")
    )
    rate, crossing = 30, round(3.5 * 30)
    scenes = [
        Scene(3 * rate, [(real, (300, 240), (340, 240))]),
        Scene(crossing, [(fake, (250, 260), (250 + 240 * (crossing - 1) // rate, 260))]),
        Scene(crossing, []),
    ]
    det = Detector(DetectorOptions(num_threads=threads, faces=FaceOptions()))
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_scenes_clip(Path(tmp) / "issue21.mp4", (1280, 720), rate, scenes, seed=5)
        print(
            f"1280x720 H.264, 10 s at {rate} frames/s: real face 0-3 s, cut, StyleGAN face "
            f"crossing at 240 px/s 3.0-6.5 s; model {det.model_name}; {_machine()}"
        )
        print("| --fps | verdict | deciding track: judged frames, span s | tracks |")
        print("|---|---|---|---|")
        for sample_fps in sample_rates:
            r = detect_video(det, clip, VideoOptions(sample_fps=sample_fps))
            top = most_fake(r.tracks)
            decided = "-" if r.label is None else f"{r.label} {r.fake_probability:.3f}"
            span = "-" if top is None else f"{top.judged_frames}, {top.first_s}-{top.last_s}"
            print(f"| {sample_fps:g} | {decided} | {span} | {len(r.tracks)} |")
    return 0


_DECODE = r"""
import json, sys, time
start = time.perf_counter()
lib, path, step = sys.argv[1], sys.argv[2], int(sys.argv[3])
if lib == "av":
    import av
    version = av.__version__
    imported = time.perf_counter()
    n = kept = 0
    with av.open(path) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for n, frame in enumerate(c.decode(stream), start=1):
            if (n - 1) % step == 0:
                frame.to_ndarray(format="rgb24"); kept += 1
else:
    import cv2
    version = cv2.__version__
    imported = time.perf_counter()
    cap = cv2.VideoCapture(path)
    n = kept = 0
    while cap.grab():
        if n % step == 0:
            ok, bgr = cap.retrieve(); bgr[:, :, ::-1].copy(); kept += 1
        n += 1
done = time.perf_counter()
print(json.dumps({"lib": lib, "version": version, "import_ms": (imported - start) * 1000,
                  "frames": n, "kept": kept, "decode_fps": n / (done - imported)}))
"""


def decoders(clip: str | None, seconds: float) -> int:
    import importlib.util

    from benchmarks.face_stage import _machine

    with tempfile.TemporaryDirectory() as tmp:
        path = clip or str(one_face_clip(Path(tmp) / "clip1080.mp4", seconds))
        print(f"{path if clip else '1080p one-face clip'}; {_machine()}")
        print(
            "| library | version | import ms | frames/s, every frame to RGB "
            "| frames/s, every 10th to RGB |"
        )
        print("|---|---|---|---|---|")
        for lib, module in (("av", "av"), ("opencv", "cv2")):
            if importlib.util.find_spec(module) is None:
                print(f"| {lib} | not installed | | | |")
                continue
            rows = []
            for step in (1, 10):
                out = subprocess.run(
                    [sys.executable, "-c", _DECODE, "av" if lib == "av" else "cv", path, str(step)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                rows.append(json.loads(out.stdout))
            print(
                f"| {lib} | {rows[0]['version']} | {min(r['import_ms'] for r in rows):.0f} | "
                f"{rows[0]['decode_fps']:.0f} | {rows[1]['decode_fps']:.0f} |"
            )
    return 0


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fps", help="judged frames per second and decode share, 1080p clip")
    f.add_argument("--seconds", type=float, default=10.0, help="clip length  [default: 10]")
    f.add_argument(
        "--fps", type=float, nargs="+", default=[4.0, 30.0], help="sample rates  [default: 4 30]"
    )
    f.add_argument("--threads", type=at_least(1), default=2, help="interpreter threads")
    f.add_argument(
        "--repeat",
        type=at_least(1),
        default=3,
        help="runs of each path per --fps, interleaved; the table gives the median  [default: 3]",
    )
    v = sub.add_parser("verdicts", help="issue 21's clip: the verdict at each --fps")
    v.add_argument("--fps", type=float, nargs="+", default=[1.0, 2.0, 4.0], help="[default: 1 2 4]")
    v.add_argument("--threads", type=at_least(1), default=2, help="interpreter threads")
    d = sub.add_parser("decoders", help="PyAV vs OpenCV decode speed and import time")
    d.add_argument("clip", nargs="?", default=None, help="a video file  [default: 1080p clip]")
    d.add_argument("--seconds", type=float, default=10.0, help="generated clip length")
    args = p.parse_args(argv)
    setup_logging()
    if not DATA.is_dir():
        usage_error(PROG, f"{DATA} is missing (the clip is made from its faces)")
    try:
        import av  # noqa: F401 - the clip is written with PyAV
    except ImportError:
        usage_error(PROG, 'needs PyAV: pip install "edge-detect[video]"')
    if args.cmd == "fps":
        return fps(args.seconds, args.fps, args.threads, args.repeat)
    if args.cmd == "verdicts":
        return verdicts(args.fps, args.threads)
    return decoders(args.clip, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
