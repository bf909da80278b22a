"""`edge-detect`: classify face images as fake or real, or describe a model (`edge-detect info`).

    edge-detect [OPTIONS] IMAGE...          classify (`edge-detect detect IMAGE...` also works)
    edge-detect [OPTIONS] VIDEO...          judge sampled frames, faces tracked (video.py)
    edge-detect --camera [INDEX]            judge a live camera until Ctrl-C or --duration
    edge-detect info [MODEL] [--json]       describe a model

Exit status: 0 every input classified, 1 some input failed (the others are still classified and
printed), 2 usage error (bad option, no inputs, missing or unusable model), 3 every input
classified but some was damaged (its verdict carries warnings: JSON `warnings`, a `warning:` row).

Standard library only at start-up (argparse, via edge_runtime.console); the detector, the model
report and the interpreter backend are imported inside the command that needs them (the
package's __init__ still brings numpy and Pillow). Cold start: benchmarks/cold_start.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from .console import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    ArgumentParser,
    at_least,
    probability,
    setup_logging,
    usage_error,
)
from .registry import DEFAULT_MODEL, names_help
from .types import DEFAULT_FACE_MODE, FACE_MODES

PROG = "edge-detect"
# Kept under these names: tests and other modules refer to them.
EXIT_INPUT_FAILED = EXIT_FAILED
# Every input has a verdict, but some input was damaged (edge_runtime/damage.py, a video's
# concealed decode errors or missing frames): a verdict on a repaired picture. 1 wins over it.
EXIT_DAMAGED = 3
PROGRESS_MIN_INPUTS = 10  # a progress bar appears (on a terminal) above this many inputs
STDIN_ARG = "-"  # `cat face.jpg | edge-detect -`
BACKEND_CHOICES = ("ai_edge_litert", "tflite_runtime", "tensorflow")  # interpreter.BACKEND_NAMES
USAGE = f"""{PROG} [OPTIONS] IMAGE...
       {PROG} info [MODEL] [--json] [--backend NAME]
       {PROG} models [--json]
       {PROG} --camera [INDEX] [--duration S] [OPTIONS]"""

# The table's first column: fake, real, or why there is no verdict ("no face", "too small"),
# or ERROR; as wide as the widest, so P(FAKE), TIME and FILE line up on every row.
NO_FACE, TOO_SMALL = "no face", "too small"
LABEL_WIDTH = len(TOO_SMALL)

log = logging.getLogger(__name__)

__all__ = [
    "EXIT_DAMAGED",
    "EXIT_INPUT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "detect_parser",
    "info_parser",
    "main",
]


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be > 0, got {value:g}")
    return value


def _default_threads() -> int:
    from .types import usable_cores

    return usable_cores()


def _version() -> str:
    from . import __version__

    return f"{PROG} {__version__}"


def detect_parser() -> ArgumentParser:
    from .video import DEFAULT_SAMPLE_FPS  # PyAV is imported only when a video is read

    p = ArgumentParser(
        prog=PROG,
        usage=USAGE,
        description="Classify face images as fake or real (TensorFlow-free; MobileNet v1, "
        "TFLite): photos, sampled frames of video files, or a live camera. Prints one row "
        "(or, with --json, one JSON object) per input. "
        f"`{PROG} info [MODEL]` describes a model; `{PROG} models` lists the bundled variants.",
        epilog="Exit status 0: all classified; 1: some input failed (the others are still "
        "printed); 2: usage error or unusable model; 3: all classified, but some input was "
        "damaged (its row is followed by 'warning:' lines; JSON: a warnings list).",
    )
    p.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE",
        help="image files (.jpg .jpeg .png .gif .webp .bmp .tif .tiff), video files (.mp4 .m4v "
        ".mov .mkv .webm .avi .mpg .mpeg; need the video extra), folders (their image and "
        f"video files), glob patterns, or {STDIN_ARG} for one image on standard input",
    )
    p.add_argument(
        "-m",
        "--model",
        default=DEFAULT_MODEL,
        help=f"a bundled model ({names_help()}; `edge-detect models` lists them) or a "
        "path to a .tflite file (its <stem>.bundle.json sidecar is read when present, else a "
        f"bundle.json packed in it)  [default: {DEFAULT_MODEL}]",
    )
    p.add_argument(
        "-t",
        "--threads",
        type=at_least(1),
        default=None,
        help="interpreter threads  [default: all cores]",
    )
    p.add_argument(
        "-w",
        "--workers",
        type=at_least(0),
        default=None,
        metavar="N",
        help="decode threads that read and preprocess the next images while the interpreter "
        "runs the current one; 0 = one image at a time (the plain sequential loop)  "
        "[default: one per core with the face stage; with --faces none the cores --threads "
        "leaves free, at least 1]",
    )
    p.add_argument(
        "--threshold",
        type=probability,
        default=None,
        metavar="P",
        help="label an image fake when its fake probability is >= P  "
        "[default: the model bundle's threshold]",
    )
    p.add_argument(
        "--faces",
        choices=FACE_MODES,
        default=DEFAULT_FACE_MODE,
        help="auto/all: find every face in the photo, align it and classify it (one row per "
        "face; the image's verdict is its most-likely-fake face; no face -> 'no face'); "
        "largest: only the largest face; none: classify the whole image as one face crop "
        f"(for inputs that are already aligned crops)  [default: {DEFAULT_FACE_MODE}]",
    )
    p.add_argument(
        "--annotate",
        metavar="DIR",
        default=None,
        help="also write a copy of each input to DIR/<stem>.faces.jpg with every face boxed, "
        "coloured by verdict, P(fake) beside it (never over an input or another output: "
        "inputs sharing a stem or name get their extension or folders in the name); files "
        "written this way are skipped as inputs",
    )
    p.add_argument(
        "--fps",
        type=_positive_number,
        default=None,
        metavar="F",
        help="video: judge F frames per second of video, each through the face stage and the "
        "classifier; faces are linked into tracks across them; with --camera: judge at most F "
        f"frames per second  [default: {DEFAULT_SAMPLE_FPS:g} for files; camera: as fast as "
        "it goes]",
    )
    p.add_argument(
        "--max-frames",
        type=at_least(1),
        default=None,
        metavar="N",
        help="video: judge at most N sampled frames per clip  [default: all]",
    )
    p.add_argument(
        "--camera",
        nargs="?",
        type=at_least(0),
        const=0,
        default=None,
        metavar="INDEX",
        help="judge a live camera instead of files: Raspberry Pi camera INDEX (picamera2, when "
        "importable) or /dev/videoINDEX (V4L2/USB, via the video extra); prints each judged "
        "frame's faces and the achieved frames per second until Ctrl-C  [INDEX default: 0]",
    )
    p.add_argument(
        "--duration",
        type=_positive_number,
        default=None,
        metavar="S",
        help="with --camera: stop after S seconds  [default: run until Ctrl-C]",
    )
    p.add_argument(
        "-r",
        "--recursive",
        action="store_true",
        help="read subfolders of folders too; lets ** in globs span folders",
    )
    p.add_argument(
        "--json",
        dest="json_lines",
        action="store_true",
        help="one JSON object per line instead of a table",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print backend, model, threads and versions (and LiteRT's own messages) to stderr",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr  "
        f"[default: on a terminal, above {PROGRESS_MIN_INPUTS} inputs]",
    )
    p.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        default=None,
        metavar="NAME",
        help="interpreter package: " + ", ".join(BACKEND_CHOICES) + "  "
        "[default: the first one installed, in that order]",
    )
    p.add_argument("--version", action="version", version=_version())
    return p


def info_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog=f"{PROG} info",
        description="Describe a model: size, sha256, input/output types and quantization, ops "
        "and their versions, minimum runtime version, bundle metadata, and the interpreter "
        "backend that runs it.",
        epilog="Exit status 0: described and loadable; 1: described, but the backend cannot "
        "load it; 2: missing or corrupt model file.",
    )
    p.add_argument(
        "model",
        nargs="?",
        default=DEFAULT_MODEL,
        metavar="MODEL",
        help=f"a bundled model ({names_help()}) or a path to a .tflite file  "
        f"[default: {DEFAULT_MODEL}]",
    )
    p.add_argument("--json", dest="json_out", action="store_true", help="one JSON object")
    p.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        default=None,
        metavar="NAME",
        help="interpreter package to check the model with  [default: the first installed]",
    )
    return p


class _Progress:
    """A one-line bar on stderr, cleared before each result line so the two never mix."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled = total, enabled
        self.start = time.monotonic()
        self.last_draw = 0.0
        self.drawn = False

    def clear(self) -> None:
        if self.enabled and self.drawn:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self.drawn = False

    def update(self, done: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last_draw < 0.1 and done < self.total):
            return
        self.last_draw = now
        width = 30
        filled = width * done // max(self.total, 1)
        rate = done / max(now - self.start, 1e-9)
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total}  {rate:.1f} img/s"
        )
        sys.stderr.flush()
        self.drawn = True


def verdict(result) -> str:
    """A result's label, or why it has none: no face found, or faces found but none big enough
    to judge (a clip: tracks, each never judged). The table's first column and the summary's
    counts both use it."""
    if result.label is not None:
        return result.label
    return TOO_SMALL if result.faces else NO_FACE


def table_row(label: str, p_fake: str, latency: str, rest: str) -> str:
    return f"{label:<{LABEL_WIDTH}}  {p_fake:>7}  {latency:>8}  {rest}"


class _Output:
    """Result lines on stdout: a readable table, or one JSON object per line (--json)."""

    def __init__(self, json_lines: bool, progress: _Progress):
        self.json_lines = json_lines
        self.progress = progress
        self.header_done = False

    def _emit(self, line: str) -> None:
        self.progress.clear()
        print(line, flush=True)

    def result(self, detection) -> None:
        if self.json_lines:
            self._emit(json.dumps(detection.to_dict(), ensure_ascii=False))
            return
        self._header()
        self._rows(detection)
        for warning in detection.warnings:  # damage under the verdict: never a silent row
            self._emit(f"  warning: {warning}")

    def _rows(self, detection) -> None:
        if hasattr(detection, "tracks"):  # a video clip: one row, then one per track
            from .video import text_lines

            for line in text_lines(detection):
                self._emit(line)
            return
        p_fake = "-" if detection.fake_probability is None else f"{detection.fake_probability:.3f}"
        latency = f"{detection.latency_ms:.1f}"
        if detection.faces is None:  # --faces none: the whole image was classified
            self._emit(table_row(detection.label, p_fake, latency, detection.path))
            return
        n = len(detection.faces)
        count = f"  ({n} faces)" if n > 1 else ""
        self._emit(table_row(verdict(detection), p_fake, latency, f"{detection.path}{count}"))
        if n > 1 or any(f.too_small for f in detection.faces):
            for i, f in enumerate(detection.faces, start=1):
                judged = TOO_SMALL if f.too_small else f"{f.label} {f.fake_probability:.3f}"
                box = f"{f.box[0]},{f.box[1]}-{f.box[2]},{f.box[3]}"
                self._emit(f"  face {i}: {judged} at {box} (detector score {f.score:.2f})")

    def error(self, failure) -> None:
        if self.json_lines:
            self._emit(json.dumps(failure.to_dict(), ensure_ascii=False))
            return
        self._header()
        self._emit(table_row("ERROR", "-", "-", failure.error))

    def _header(self) -> None:
        if not self.header_done:
            self._emit(table_row("LABEL", "P(FAKE)", "TIME ms", "FILE"))
            self.header_done = True


def _versions_line() -> str:
    import numpy
    import PIL

    from . import __version__

    py = ".".join(str(v) for v in sys.version_info[:3])
    return f"{PROG} {__version__}, python {py}, numpy {numpy.__version__}, pillow {PIL.__version__}"


def _read_stdin():
    """The one image piped to standard input, as an EncodedImage named `-`."""
    from .preprocess import EncodedImage
    from .types import ImageError

    stream = sys.stdin
    if stream is None or stream.isatty():
        raise ImageError(f"{STDIN_ARG}: standard input is a terminal; pipe an image into it")
    data = stream.buffer.read() if hasattr(stream, "buffer") else stream.read()
    if isinstance(data, str):  # a text stream without a byte buffer (tests): take its bytes
        data = data.encode("latin-1")
    if not data:
        raise ImageError(f"{STDIN_ARG}: empty standard input (0 bytes)")
    return EncodedImage(data=data, name=STDIN_ARG)


def _assumed_bundle_line(detector, threshold_given: bool) -> str:
    """The one warning for a .tflite without its sidecar: what was assumed in its place."""
    from .bundle import sidecar_path

    spec = detector.spec
    crop = f"centre crop {spec.crop_fraction:g}" if spec.crop == "center" else "no crop"
    threshold = f"threshold {detector.threshold:g}" + (
        " (--threshold)" if threshold_given else " (the default)"
    )
    labels = ", ".join(f"{i}={name}" for i, name in enumerate(detector.labels))
    return (
        f"{PROG}: warning: {detector.bundle.path} has no "
        f"{sidecar_path(detector.bundle.path).name}; "
        f"assumed {spec.height}x{spec.width} input, {crop}, {spec.resize} resize, "
        f"(pixel - {spec.mean:g}) / {spec.std:g}, labels {labels}, {threshold}: "
        "results may differ from the model's own bundle"
    )


def _check_input_mode(args: argparse.Namespace) -> None:
    """Files or a camera, not both, and not neither."""
    if args.camera is None and not args.images:
        usage_error(PROG, f"the following arguments are required: IMAGE (see {PROG} --help)")
    if args.camera is not None and args.images:
        usage_error(PROG, "--camera reads the camera: give no IMAGE with it")
    if args.duration is not None and args.camera is None:
        usage_error(PROG, "--duration is for --camera")


def _results(detector, sources, items, args: argparse.Namespace, protected):
    """Results in input order: Detector.detect_many; with any video file among the inputs,
    each video judged frame by frame through the same detector (edge_runtime/video.py)."""
    from .inputs import is_video_name

    if not any(isinstance(i, str) and is_video_name(i) for i in items):
        return detector.detect_many(sources)
    from .video import VideoOptions, detect_mixed

    options = VideoOptions(
        max_frames=args.max_frames,
        annotate_dir=args.annotate,
        protected=frozenset(protected),
        annotate_names=_annotate_names(items) if args.annotate else {},
        **({"sample_fps": args.fps} if args.fps else {}),
    )
    return detect_mixed(detector, sources, options)


def _annotated(result, out_dir: str, protected, names: dict[str, str]) -> bool:
    """--annotate for one image result; False (and one error line) when it cannot be written.
    A video's sampled frames were annotated as they were judged (edge_runtime/video.py)."""
    from .types import EdgeDetectError

    if result.faces is None or result.path == STDIN_ARG or hasattr(result, "tracks"):
        return True
    try:
        # Imported only here: Pillow's ImageFont costs ~20 ms of every cold start.
        from .annotate import write_annotated

        write_annotated(result.path, result, out_dir, protected, names.get(result.path))
    except (EdgeDetectError, OSError) as e:
        log.error(f"{PROG}: {result.path}: cannot annotate ({e})")
        return False
    return True


def _open_detector(args: argparse.Namespace, n_threads: int):
    """The Detector the options ask for; a model or option it refuses is a usage error (2)."""
    from .detector import Detector
    from .types import DetectorOptions, EdgeDetectError, FaceOptions

    try:
        return Detector(
            DetectorOptions(
                model=args.model,
                num_threads=n_threads,
                threshold=args.threshold,
                backend=args.backend,
                workers=args.workers,
                faces=FaceOptions(mode=args.faces),
            )
        )
    except (EdgeDetectError, ValueError) as e:  # ValueError: a value the interpreter refuses
        usage_error(PROG, str(e))


def _log_run_details(detector, expanded, n_threads: int) -> None:
    """--verbose: versions, backend, model, threads and input count before the results."""
    spec = detector.spec
    info = detector.bundle.info
    log.debug(_versions_line())
    log.debug(f"backend: {detector.backend.describe()}")
    log.debug(
        f"model: {detector.bundle.path} (variant {info.variant}, input "
        f"{spec.height}x{spec.width}, {detector.input_dtype} input, threshold "
        f"{detector.threshold}, sha256 {info.sha256[:12]})"
    )
    log.debug(f"threads: {n_threads} interpreter, {detector.workers} decode")
    skipped = (
        f" ({expanded.skipped_non_images} non-image files in folders skipped)"
        if expanded.skipped_non_images
        else ""
    )
    log.debug(f"inputs: {len(expanded.items)}{skipped}")


def _prepare_annotate(out_dir: str, items) -> set:
    """Creates the --annotate folder; returns the inputs' resolved paths, which an annotated
    copy must never overwrite."""
    from pathlib import Path

    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        usage_error(PROG, f"--annotate {out_dir}: cannot create folder ({e.strerror or e})")
    return {Path(i).resolve() for i in items if i != STDIN_ARG}


def _annotate_names(items) -> dict[str, str]:
    """Each input's --annotate file name, unique in this batch (annotate_names.py)."""
    from .annotate_names import annotation_names

    return annotation_names(i for i in items if isinstance(i, str))


def _sources(items):
    """The inputs as Detector.detect_many takes them: `-` read from stdin here, so that a stdin
    that cannot be read is one failed input, not an exception."""
    from .types import DetectionError, EdgeDetectError

    for item in items:
        if item != STDIN_ARG:
            yield item
            continue
        try:
            yield _read_stdin()
        except EdgeDetectError as e:
            yield DetectionError(path=item, error=str(e))


def _detect_all(detector, items, args: argparse.Namespace, protected, out, bar) -> dict[str, int]:
    """Classifies every input, printing each result as it comes; returns the counts by label."""
    from .types import DetectionError

    counts = {"fake": 0, "real": 0, NO_FACE: 0, TOO_SMALL: 0, "failed": 0}
    # Decode threads prepare the next images while the interpreter runs (Detector.detect_many);
    # results come back in input order, a bad input as one DetectionError.
    results = _results(detector, _sources(items), items, args, protected)
    names = _annotate_names(items) if args.annotate else {}
    for done, result in enumerate(results, start=1):
        if isinstance(result, DetectionError):
            counts["failed"] += 1
            out.error(result)
        else:
            # no label (no face, or only faces too small to judge): a result, not a failure
            counts[verdict(result)] += 1
            counts["damaged"] = counts.get("damaged", 0) + bool(result.warnings)
            out.result(result)
            if args.annotate and not _annotated(result, args.annotate, protected, names):
                counts["failed"] += 1
        bar.update(done)
    bar.clear()
    return counts


def run_detect(args: argparse.Namespace) -> int:
    from .inputs import expand_inputs

    _check_input_mode(args)
    n_threads = args.threads or _default_threads()
    detector = _open_detector(args, n_threads)

    if not detector.bundle.has_metadata:
        log.warning(_assumed_bundle_line(detector, threshold_given=args.threshold is not None))
    for line in detector.bundle.warnings:  # bundle keys left to their defaults (bundle_schema)
        log.warning(f"{PROG}: warning: {line}")
    if args.camera is not None:
        from .camera import run_camera

        return run_camera(detector, args.camera, args.duration, args.json_lines, args.fps)
    expanded = expand_inputs(args.images, recursive=args.recursive)
    total = len(expanded.items)
    if args.verbose:
        _log_run_details(detector, expanded, n_threads)
    if expanded.skipped_annotations:
        log.info(
            f"{PROG}: skipped {expanded.skipped_annotations} file(s) written by --annotate "
            "(*.faces.jpg carrying its marker)"
        )

    show_progress = (
        args.progress
        if args.progress is not None
        else (total > PROGRESS_MIN_INPUTS and sys.stderr.isatty())
    )
    bar = _Progress(total, bool(show_progress))
    out = _Output(args.json_lines, bar)
    protected = _prepare_annotate(args.annotate, expanded.items) if args.annotate else set()
    counts = _detect_all(detector, expanded.items, args, protected, out, bar)

    if args.verbose or (not args.json_lines and total > 1):
        log.info(
            f"{total} inputs: {counts['fake']} fake, {counts['real']} real, "
            + "".join(f"{counts[k]} {k}, " for k in (NO_FACE, TOO_SMALL) if counts[k])
            + f"{counts['failed']} failed"
            + (f", {counts['damaged']} damaged (with warnings)" if counts.get("damaged") else "")
        )
    if counts["failed"]:
        return EXIT_INPUT_FAILED
    return EXIT_DAMAGED if counts.get("damaged") else EXIT_OK


def run_info(args: argparse.Namespace) -> int:
    from .model_report import format_report, model_report
    from .types import EdgeDetectError

    try:
        report = model_report(args.model, args.backend)
    except EdgeDetectError as e:
        usage_error(f"{PROG}", str(e))
    if args.json_out:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print("\n".join(format_report(report)))
    return EXIT_OK if report.loads else EXIT_INPUT_FAILED  # 1: described, but cannot run


def models_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog=f"{PROG} models",
        description=f"List the bundled models ({names_help()}; edge_runtime/registry.py): "
        "where each is found (package, $EDGE_DETECT_MODELS, checkout, working directory), its "
        "file and size, and how to get one that is missing; --json adds each one's generation, "
        "description and the threshold, labels and preprocessing its bundle records.",
        epilog="Exit status 0: every model found; 1: some model is missing.",
    )
    p.add_argument("--json", dest="json_out", action="store_true", help="one JSON object")
    return p


def run_models(args: argparse.Namespace) -> int:
    from .registry import list_models, model_sources

    rows = list_models()
    if args.json_out:
        searched = [{"from": s, "folder": str(f)} for s, f in model_sources()]
        print(json.dumps({"variants": rows, "searched": searched}, ensure_ascii=False))
    else:
        print(f"{'MODEL':<8} {'SIZE MB':>7}  {'FROM':<18} PATH")
        for r in rows:
            if r["from"]:
                size = f"{r['size_bytes'] / 1e6:.2f}"
                print(f"{r['variant']:<8} {size:>7}  {r['from']:<18} {r['path']}")
            else:
                print(f"{r['variant']:<8} {'-':>7}  {'missing':<18} {r['missing']}")
    return EXIT_INPUT_FAILED if any(r["from"] is None for r in rows) else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Console entry point (`edge-detect`, `python -m edge_runtime`); returns the exit status."""
    try:
        return _dispatch(argv)
    except BrokenPipeError:  # `edge-detect photos/ | head`: the reader left, stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush cannot fail
        return EXIT_INPUT_FAILED


def _dispatch(argv: list[str] | None) -> int:
    """Run the command argv names.

    `edge-detect info ...` describes a model, `edge-detect models` lists the variants; anything
    else is `detect` (an image literally named `info` can be given as `./info` or
    `edge-detect detect info`).
    """
    import warnings

    args = list(sys.argv[1:] if argv is None else argv)
    # Pillow warns (multi-line) about e.g. corrupt EXIF; errors are reported per file instead.
    warnings.filterwarnings("ignore", module=r"PIL(\..*)?$")
    for stream in (sys.stdout, sys.stderr):
        # A file name that is not valid UTF-8 prints escaped rather than crashing the batch.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    if args[:1] == ["info"]:
        parsed = info_parser().parse_args(args[1:])
        setup_logging(verbose=False)
        return run_info(parsed)
    if args[:1] == ["models"]:
        return run_models(models_parser().parse_args(args[1:]))
    if args[:1] == ["detect"]:
        args = args[1:]
    # Intermixed: options may come after, or between, the images (`edge-detect a.jpg -m fp32`).
    parsed = detect_parser().parse_intermixed_args(args)
    setup_logging(parsed.verbose)
    return run_detect(parsed)


if __name__ == "__main__":
    sys.exit(main())
