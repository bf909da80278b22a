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
The parsers and their help text live in cli_args.py, the table, JSON lines and progress bar
in cli_output.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from .cli_args import (
    PROG,
    PROGRESS_MIN_INPUTS,
    STDIN_ARG,
    detect_parser,
    info_parser,
    models_parser,
)
from .cli_output import LABEL_WIDTH, NO_FACE, TOO_SMALL, Output, Progress, table_row, verdict
from .console import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    setup_logging,
    usage_error,
)

# Kept under these names: tests and other modules refer to them.
EXIT_INPUT_FAILED = EXIT_FAILED
# Every input has a verdict, but some input was damaged (edge_runtime/damage.py, a video's
# concealed decode errors or missing frames): a verdict on a repaired picture. 1 wins over it.
EXIT_DAMAGED = 3

log = logging.getLogger(__name__)

__all__ = [
    "EXIT_DAMAGED",
    "EXIT_INPUT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "LABEL_WIDTH",
    "detect_parser",
    "info_parser",
    "main",
    "models_parser",
    "table_row",
    "verdict",
]


def _default_threads() -> int:
    from .types import usable_cores

    return usable_cores()


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
    bar = Progress(total, bool(show_progress))
    out = Output(args.json_lines, bar)
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
