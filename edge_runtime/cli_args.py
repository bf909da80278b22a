"""The `edge-detect` command lines: the detect, info and models parsers and their help text.

Standard library only at import (argparse, via edge_runtime.console); split from cli.py, which
runs the commands.
"""

from __future__ import annotations

import argparse

from .console import ArgumentParser, at_least, probability
from .registry import DEFAULT_MODEL, names_help
from .types import DEFAULT_FACE_MODE, FACE_MODES

PROG = "edge-detect"
PROGRESS_MIN_INPUTS = 10  # a progress bar appears (on a terminal) above this many inputs
STDIN_ARG = "-"  # `cat face.jpg | edge-detect -`
BACKEND_CHOICES = ("ai_edge_litert", "tflite_runtime", "tensorflow")  # interpreter.BACKEND_NAMES
USAGE = f"""{PROG} [OPTIONS] IMAGE...
       {PROG} info [MODEL] [--json] [--backend NAME]
       {PROG} models [--json]
       {PROG} --camera [INDEX] [--duration S] [OPTIONS]"""


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be > 0, got {value:g}")
    return value


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
