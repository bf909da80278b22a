"""Live cameras (`edge-detect --camera`): fresh frames through the video path's judge_frames.

picamera2 (Raspberry Pi OS apt package `python3-picamera2`) when importable, else a V4L2 device
(/dev/videoN) through PyAV.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator

from .types import EdgeDetectError
from .video import (
    FrameSampler,
    SampledFrame,
    Tracker,
    VideoUnavailable,
    _reason,
    import_av,
    judge_frames,
    track_text,
)

log = logging.getLogger(__name__)

CAMERA_SIZE = (1280, 720)  # requested from a camera; the driver may pick the nearest it has


class CameraError(EdgeDetectError):
    """No camera could be opened."""


def _picamera2_frames(index: int):
    """Frames of a Raspberry Pi camera through picamera2 (libcamera); None when picamera2 is not
    importable. picamera2 is Raspberry Pi OS's apt package python3-picamera2 (not on PyPI in a
    usable form): a venv sees it with --system-site-packages."""
    try:
        from picamera2 import Picamera2
    except ImportError:
        return None
    try:
        camera = Picamera2(index)
        # "RGB888" is stored B, G, R in memory (libcamera's naming): flipped below.
        camera.configure(
            camera.create_video_configuration({"size": CAMERA_SIZE, "format": "RGB888"})
        )
        camera.start()
    except Exception as e:  # noqa: BLE001 - libcamera raises plain RuntimeError/IndexError
        raise CameraError(f"camera {index}: cannot open with picamera2 ({_reason(e)})") from None

    def frames():
        from PIL import Image

        try:
            while True:
                yield Image.fromarray(camera.capture_array("main")[:, :, ::-1].copy())
        finally:
            camera.stop()
            camera.close()

    return frames()


def _v4l2_frames(index: int):
    """Frames of /dev/videoINDEX (any V4L2 / USB camera) through PyAV."""
    device = f"/dev/video{index}"
    try:
        av = import_av()
    except VideoUnavailable as e:
        raise CameraError(f"{device}: no picamera2, and a V4L2 camera needs PyAV: {e}") from None
    if not os.path.exists(device):
        raise CameraError(f"no camera: {device} does not exist (and picamera2 is not installed)")
    size = f"{CAMERA_SIZE[0]}x{CAMERA_SIZE[1]}"
    try:
        container = av.open(device, format="v4l2", options={"video_size": size})
    except (av.FFmpegError, OSError, ValueError) as e:
        raise CameraError(f"{device}: cannot open camera ({_reason(e)})") from None

    def frames():
        with container:
            for frame in container.decode(video=0):
                yield frame.to_image()

    return frames()


def open_camera(index: int):
    """An endless iterator of PIL RGB frames: picamera2 when importable, else V4L2 via PyAV.
    Raises CameraError (one line) when there is no camera."""
    frames = _picamera2_frames(index)
    return frames if frames is not None else _v4l2_frames(index)


class _LatestFrame:
    """Reads a live camera on its own thread and keeps only the newest frame, so the detector
    always gets a fresh one (never a queue of stale ones) however slow it is."""

    def __init__(self, frames: Iterator):
        self._frames = frames
        self._cond = threading.Condition()
        self._latest = None
        self._count = 0
        self._error: BaseException | None = None
        self._done = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edge-detect-camera", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for frame in self._frames:
                with self._cond:
                    self._latest, self._count = frame, self._count + 1
                    self._cond.notify_all()
                if self._stop.is_set():
                    break
        except BaseException as e:  # noqa: BLE001 - raised in the consumer
            self._error = e
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _newer_than(self, seen: int):
        return lambda: self._count > seen or self._done

    def frames(self, start: float, duration: float | None):
        """(frame number, seconds since start, image) of fresh frames until `duration`."""
        seen = 0
        while duration is None or time.perf_counter() - start < duration:
            with self._cond:
                if not self._cond.wait_for(self._newer_than(seen), timeout=1.0):
                    continue  # no frame for a second: check the duration again
                if self._count == seen:  # the camera stopped
                    if self._error is not None:
                        raise CameraError(f"camera stopped ({_reason(self._error)})")
                    return
                seen, frame = self._count, self._latest
            yield seen - 1, time.perf_counter() - start, frame

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def run_camera(
    detector,
    index: int,
    duration: float | None = None,
    json_lines: bool = False,
    sample_fps: float | None = None,
) -> int:
    """`edge-detect --camera`: print each judged frame's faces and the achieved frames per second
    until Ctrl-C or `duration` s, then the tracks. 2 (one line) when there is no camera.
    sample_fps caps the judged frames per second (default: as fast as the detector goes)."""
    import json
    import sys

    from .console import EXIT_OK, EXIT_USAGE

    name = f"camera {index}"
    try:
        camera = _LatestFrame(open_camera(index))
    except CameraError as e:
        print(f"edge-detect: error: {e}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    start = time.perf_counter()
    counter = {"n": 0}

    def show(frame: SampledFrame) -> None:
        counter["n"] += 1
        fps = counter["n"] / max(time.perf_counter() - start, 1e-9)
        if json_lines:
            print(json.dumps({**frame.to_dict(), "fps": round(fps, 2)}), flush=True)
            return
        faces = "  ".join(
            f"track {t}: " + ("too small" if f.too_small else f"{f.label} {f.fake_probability:.3f}")
            for f, t in zip(frame.faces, frame.tracks)
        )
        print(f"{frame.time_s:7.1f} s  {fps:5.1f} fps  {faces or 'no face'}", flush=True)

    frames = camera.frames(start, duration)
    if sample_fps:
        sampler = FrameSampler(sample_fps)
        frames = (f for f in frames if sampler.keep(f[1]))
    tracker = Tracker()
    try:
        judge_frames(detector, frames, name, on_frame=show, tracker=tracker)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a live run ends
    except CameraError as e:
        print(f"edge-detect: error: {e}", file=sys.stderr, flush=True)
    finally:
        camera.close()
    elapsed = time.perf_counter() - start
    log.info(
        f"{name}: {counter['n']} frames judged in {elapsed:.1f} s "
        f"({counter['n'] / max(elapsed, 1e-9):.1f} fps)"
    )
    for t in tracker.summaries(detector.threshold):
        log.info(f"  track {t.id}: {track_text(t)}")
    return EXIT_OK
