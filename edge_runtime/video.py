"""Video files and live cameras: per-face verdicts over time, through the still-image Detector.

    from edge_runtime import Detector, DetectorOptions, FaceOptions
    from edge_runtime.video import VideoOptions, detect_video

    det = Detector(DetectorOptions(faces=FaceOptions()))
    clip = detect_video(det, "clip.mp4", VideoOptions(sample_fps=4))
    clip.label, clip.fake_probability, [t.to_dict() for t in clip.tracks]

How a clip is judged:
1. **Sampling**: frames are decoded in order and one is kept every 1 / sample_fps seconds of
   presentation time (the first frame, then the first frame at or after each next step), up to
   max_frames. Every frame must still be decoded (H.264 frames depend on earlier ones); only the
   kept ones are converted to RGB.
2. **The still-image path**: each kept frame is a PIL image handed to `Detector.detect_many`, so
   it gets exactly the face stage and classifier a photo gets (prepare + classify). A decode
   thread reads the next frames while the detector's workers find faces and the interpreter
   classifies: decoding overlaps inference.
3. **Tracks** (edge_runtime/tracking.py has the definition): a face continues the live track
   whose constant-velocity prediction of position and size it is closest to, within gates
   measured in face sizes that widen with the time since the track was last seen, and only if
   its colours match the track's (another person at the same place, as after a scene cut,
   starts a new track); a track may skip sampled frames.
4. **Verdicts**: a track's P(fake) is the mean of its judged frames' P(fake); the clip's verdict
   is that of its most-fake track among those judged in at least TRACK_MIN_FRAMES sampled
   frames (among all judged tracks when none was); no judged track -> label None ("no face").

Decoding uses PyAV (FFmpeg), imported lazily: the `video` extra
(`pip install "edge-detect[video]"`).
Cameras (`edge-detect --camera`): edge_runtime/camera.py, through judge_frames here.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .inputs import is_video_name
from .tracking import Track, Tracker, most_fake
from .types import Detection, DetectionError, EdgeDetectError, Face, ImageError

log = logging.getLogger(__name__)

VIDEO_EXTRA = 'pip install "edge-detect[video]"'
DEFAULT_SAMPLE_FPS = 4.0  # frames judged per second of video: faces barely move in 1/4 s
# Decoded frames waiting for the detector: enough to keep its workers busy, bounded memory.
DECODE_AHEAD = 4
# A stream that ends more than this many frame intervals before its declared duration has lost
# frames (a container's own rounding stays within one).
MISSING_FRAMES_TOLERANCE = 1.5


class VideoError(ImageError):
    """A video file cannot be opened or decoded; the message names the file and the reason."""


class VideoUnavailable(EdgeDetectError):
    """PyAV (the `video` extra) is not installed."""


def import_av():
    """PyAV, or one line saying which extra to install."""
    try:
        import av
    except ImportError as e:
        raise VideoUnavailable(f"video input needs PyAV ({e}): {VIDEO_EXTRA}") from None
    return av


@dataclass(frozen=True)
class VideoOptions:
    sample_fps: float = DEFAULT_SAMPLE_FPS
    max_frames: int | None = None  # None: every sampled frame of the clip
    annotate_dir: str | None = None  # write each sampled frame, annotated, here
    protected: frozenset[Path] = frozenset()  # never write an annotated frame over these
    # clip path -> its --annotate name in the batch (annotate_names.annotation_names)
    annotate_names: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if not self.sample_fps > 0:
            raise ValueError(f"sample_fps must be > 0, got {self.sample_fps}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {self.max_frames}")


@dataclass(frozen=True)
class SampledFrame:
    """One judged frame: its faces (as a still image's) and the track each face belongs to."""

    index: int  # decoded frame number, from 0
    time_s: float  # presentation time
    faces: tuple[Face, ...]
    tracks: tuple[int, ...]  # track id of each face
    latency_ms: float

    def to_dict(self) -> dict[str, Any]:
        faces = Detection("", None, None, "", 0.0, self.faces).to_dict()["faces"]
        return {
            "index": self.index,
            "time_s": round(self.time_s, 3),
            "faces": [dict(f, track=t) for f, t in zip(faces, self.tracks)],
        }


@dataclass(frozen=True)
class VideoDetection:
    """One judged clip. The still-image keys mean the same as for a photo: label and
    fake_probability are the most-fake track's (None: no face judged), `faces` has one entry
    per track; `frames` and `tracks` add the detail. latency_ms is the whole clip's wall time."""

    path: str
    label: str | None
    fake_probability: float | None
    model: str
    latency_ms: float
    faces: tuple[Face, ...]
    frames: tuple[SampledFrame, ...]
    tracks: tuple[Track, ...]
    decode_ms: float = 0.0  # time the decode thread spent decoding (overlapped with inference)
    warnings: tuple[str, ...] = ()  # damage FFmpeg concealed, frames missing (DecodeReport)

    def to_dict(self) -> dict[str, Any]:
        d = Detection(
            self.path,
            self.label,
            self.fake_probability,
            self.model,
            self.latency_ms,
            self.faces,
            warnings=self.warnings,
        ).to_dict()
        d["frames"] = [f.to_dict() for f in self.frames]
        d["tracks"] = [t.to_dict() for t in self.tracks]
        return d


# --- decoding -------------------------------------------------------------------------------


class FrameSampler:
    """The one sampling rule: keep the first frame, then the first frame at or after each next
    1 / sample_fps step of presentation time. A gap in the stream gives no burst of frames."""

    def __init__(self, sample_fps: float):
        self.step = 1.0 / sample_fps
        self.due: float | None = None

    def keep(self, t: float) -> bool:
        if self.due is None:
            self.due = t
        if t + 1e-6 < self.due:
            return False
        self.due += self.step
        while self.due <= t + 1e-6:
            self.due += self.step
        return True


def _reason(e: BaseException) -> str:
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return " ".join(str(text).split())


def _upright(frame):
    """The frame as shown: a phone's portrait clip is stored sideways with a display matrix
    (PyAV's `rotation`: the degrees it turns the picture counter-clockwise, as PIL's rotate)."""
    img = frame.to_image()
    rotation = round(getattr(frame, "rotation", 0) or 0) % 360
    return img.rotate(rotation, expand=True) if rotation else img


@dataclass
class DecodeReport:
    """What sample_frames saw go wrong while the clip still decoded: FFmpeg's concealed decode
    errors (frames it flags corrupt) and frames missing from the container's end."""

    decoded: int = 0
    damaged: int = 0  # decoded frames FFmpeg flagged corrupt (errors it concealed)
    kept: int = 0
    damaged_kept: int = 0  # of the sampled (judged) frames
    missing_tail_s: float = 0.0  # the stream stops this long before its declared duration

    def warnings(self) -> tuple[str, ...]:
        notes = []
        if self.damaged:
            notes.append(
                f"video data damaged: FFmpeg concealed decode errors in {self.damaged} of "
                f"{self.decoded} frames ({self.damaged_kept} of the {self.kept} judged)"
            )
        if self.missing_tail_s:
            notes.append(
                f"video frames missing: the stream ends {self.missing_tail_s:.2f} s before "
                "the duration its header declares"
            )
        return tuple(notes)


def sample_frames(
    path: str,
    sample_fps: float,
    max_frames: int | None = None,
    report: DecodeReport | None = None,
):
    """Yield (frame index, time s, PIL RGB image) of the sampled frames of a video file,
    counting damage in `report` when given.

    Raises VideoUnavailable without PyAV, VideoError for a file that cannot be opened or
    decoded, has no video stream, or ends well before the duration its header declares
    (a truncated file)."""
    report = report if report is not None else DecodeReport()
    av = import_av()
    if not os.path.exists(path):
        raise VideoError(f"{path}: no such file")
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")
    try:
        container = av.open(path)
    except (av.FFmpegError, OSError, ValueError) as e:
        raise VideoError(f"{path}: cannot open video ({_reason(e)})") from None
    with container:
        if not container.streams.video:
            raise VideoError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # FFmpeg's own frame threads
        rate = float(stream.average_rate or 25)
        declared = container.duration / 1e6 if container.duration else None
        sampler = FrameSampler(sample_fps)
        kept = 0
        n = 0
        t = 0.0
        try:
            for n, frame in enumerate(container.decode(stream), start=1):
                t = float(frame.time) if frame.time is not None else (n - 1) / rate
                report.decoded, report.damaged = n, report.damaged + frame.is_corrupt
                if not sampler.keep(t):
                    continue
                report.kept, report.damaged_kept = kept + 1, report.damaged_kept + frame.is_corrupt
                yield n - 1, t, _upright(frame)  # only kept frames are converted to RGB
                kept += 1
                if max_frames is not None and kept >= max_frames:
                    return
        except (av.FFmpegError, OSError, ValueError, EOFError) as e:
            raise VideoError(f"{path}: cannot decode video ({_reason(e)})") from None
        if not n:
            raise VideoError(f"{path}: no decodable video frames")
        end = t + 1.0 / rate
        if declared and end < declared - max(1.0, 0.1 * declared):
            raise VideoError(
                f"{path}: video ends at {end:.1f} s of the {declared:.1f} s its header "
                "declares (truncated file?)"
            )
        if declared and end < declared - MISSING_FRAMES_TOLERANCE / rate:
            report.missing_tail_s = declared - end


class _DecodeAhead:
    """Runs a frame iterator on its own thread, DECODE_AHEAD frames ahead of the consumer, so
    decoding the next frames overlaps the detector's work (FFmpeg and Pillow release the GIL).
    An exception in the iterator is raised in the consumer; close() stops the thread."""

    _END = object()

    def __init__(self, frames: Iterator, depth: int = DECODE_AHEAD):
        self._frames = frames
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self.busy_s = 0.0  # time spent inside the iterator (decoding)
        self._thread = threading.Thread(target=self._run, name="edge-detect-video", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                start = time.perf_counter()
                item = next(self._frames, self._END)
                self.busy_s += time.perf_counter() - start
                self._put(item)
                if item is self._END:
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised there
            self._put(e)
        finally:
            close = getattr(self._frames, "close", None)
            if close is not None:
                close()

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


FrameCallback = Callable[[SampledFrame], None]


def judge_frames(
    detector,
    frames: Iterable[tuple[int, float, Any]],
    name: str,
    options: VideoOptions = VideoOptions(),
    on_frame: FrameCallback | None = None,
    tracker: Tracker | None = None,
) -> tuple[list[SampledFrame], list[Track]]:
    """Run (index, time, PIL image) frames through the detector's pipelined still-image path
    (Detector.detect_many) and link their faces into tracks (in `tracker`, when given, so a
    caller stopped by Ctrl-C still has them)."""
    if detector.face_finder is None:
        raise VideoError(f"{name}: video needs the face stage (--faces none judges whole images)")
    pending: deque[tuple[int, float, Any]] = deque()

    def sources():
        for index, t, img in frames:
            img.filename = f"{name} frame {index}"  # what describe() calls it in an error
            pending.append((index, t, img))  # the tracker compares the faces' colours
            yield img

    tracker = tracker if tracker is not None else Tracker()
    judged: list[SampledFrame] = []
    for result in detector.detect_many(sources()):
        index, t, img = pending.popleft()
        if isinstance(result, DetectionError):
            raise VideoError(f"{name}: frame {index} at {t:.2f} s: {result.error}")
        ids = tracker.update(result.faces, t, img)
        frame = SampledFrame(index, t, result.faces, ids, result.latency_ms)
        judged.append(frame)
        if options.annotate_dir:
            _annotate(img, result, name, index, options)
        if on_frame is not None:
            on_frame(frame)
    return judged, tracker.summaries(detector.threshold)


def _annotate(img, result: Detection, name: str, index: int, options: VideoOptions) -> None:
    from .annotate import write_annotated  # Pillow's fonts: only when asked
    from .annotate_names import SUFFIX

    # DIR/<clip's name in the batch, else its stem>_f<frame>.faces.jpg
    base = options.annotate_names.get(name, Path(name).stem + SUFFIX)[: -len(SUFFIX)]
    write_annotated(
        img, result, options.annotate_dir, options.protected, f"{base}_f{index:06d}{SUFFIX}"
    )


def detect_video(
    detector,
    path: str | os.PathLike,
    options: VideoOptions = VideoOptions(),
) -> VideoDetection:
    """Judge one video file (see the module docstring). Raises VideoUnavailable without the
    `video` extra, VideoError for a bad file."""
    name = os.fspath(path)
    start = time.perf_counter()
    import_av()  # the missing extra is reported before any thread starts
    report = DecodeReport()
    frames = _DecodeAhead(sample_frames(name, options.sample_fps, options.max_frames, report))
    try:
        judged, tracks = judge_frames(detector, frames, name, options)
    finally:
        frames.close()
    if report.kept and report.damaged_kept == report.kept:
        raise VideoError(f"{name}: {report.warnings()[0]}: no sound frame left to judge")
    top = most_fake(tracks)
    return VideoDetection(
        path=name,
        label=top.label if top else None,
        fake_probability=top.mean_fake_probability if top else None,
        model=detector.model_name,
        latency_ms=round((time.perf_counter() - start) * 1000.0, 3),
        faces=tuple(t.as_face() for t in tracks),
        frames=tuple(judged),
        tracks=tuple(tracks),
        decode_ms=round(frames.busy_s * 1000.0, 3),
        warnings=report.warnings(),
    )


def detect_mixed(detector, sources: Iterable, options: VideoOptions = VideoOptions()):
    """The CLI's inputs in order: runs of images through Detector.detect_many, each video file
    (by inputs.is_video_name) through detect_video; a bad video yields a DetectionError."""
    images: list = []
    for source in sources:
        if isinstance(source, (str, os.PathLike)) and is_video_name(os.fspath(source)):
            yield from detector.detect_many(images)
            images = []
            yield video_result(detector, os.fspath(source), options)
        else:
            images.append(source)
    yield from detector.detect_many(images)


def video_result(detector, path: str, options: VideoOptions) -> VideoDetection | DetectionError:
    try:
        result = detect_video(detector, path, options)
    except VideoUnavailable as e:
        return DetectionError(path=path, error=f"{path}: {e}")
    except (EdgeDetectError, OSError) as e:
        return DetectionError(path=path, error=str(e))
    log.debug(
        f"{path}: {len(result.frames)} frames judged in {result.latency_ms / 1000:.2f} s, "
        f"decoding {result.decode_ms / 1000:.2f} s of it on its own thread"
    )
    return result


def text_lines(result: VideoDetection) -> list[str]:
    """A clip in the CLI's table: one row for the clip, one indented row per track."""
    from .cli_output import table_row, verdict

    p_fake = "-" if result.fake_probability is None else f"{result.fake_probability:.3f}"
    n, k = len(result.frames), len(result.tracks)
    counts = f"({n} frame{'s' * (n != 1)}, {k} track{'s' * (k != 1)})"
    lines = [
        table_row(verdict(result), p_fake, f"{result.latency_ms:.1f}", f"{result.path}  {counts}")
    ]
    for t in result.tracks:
        lines.append(f"  track {t.id}: {track_text(t)}")
    return lines


def track_text(t: Track) -> str:
    span = f"{t.first_s:.1f}-{t.last_s:.1f} s"
    if t.label is None:
        return f"too small in all {t.frames} frames, {span}"
    fakes = round(t.fake_share * t.judged_frames)
    return (
        f"{t.label} mean {t.mean_fake_probability:.3f} max {t.max_fake_probability:.3f}, "
        f"fake in {fakes}/{t.judged_frames} frames, seen in {t.frames}, {span}"
    )
