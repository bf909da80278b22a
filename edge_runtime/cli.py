"""`edge-detect`: classify face images as fake or real, or describe a model (`edge-detect info`).

`edge-detect IMAGE...` is short for `edge-detect detect IMAGE...`. Exit status: 0 every input
classified, 1 some input failed (the others are still classified and printed), 2 usage error
(bad option, no inputs, missing or unusable model).

This module imports only typer and the standard library at start-up; the detector, the model
report and the interpreter backend are imported inside the command that needs them (the
package's __init__ still brings numpy and Pillow). Cold start: benchmarks/cold_start.py.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

# These three exit codes are the CLI's contract (README "Exit status").
EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE = 0, 1, 2
PROGRESS_MIN_INPUTS = 10  # a progress bar appears (on a terminal) above this many inputs
_GROUP_ONLY_ARGS = ("--help", "-h", "--version")


class _DetectByDefault(TyperGroup):
    """A group whose unnamed command is `detect`, so `edge-detect face.jpg` just works.

    Anything that is not a subcommand name (or a top-level --help/--version) is handed to
    `detect`; an image literally named `info` can be given as `./info` or `detect info`.
    """

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in _GROUP_ONLY_ARGS):
            args = ["detect", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_DetectByDefault,
    add_completion=False,
    # Plain click-style errors: one short message, no boxes; cheaper to start too.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _fail_usage(message: str) -> typer.Exit:
    """One line on stderr and exit status 2."""
    print(f"edge-detect: error: {message}", file=sys.stderr)
    return typer.Exit(EXIT_USAGE)


def _default_threads() -> int:
    from .types import usable_cores

    return usable_cores()


def _show_version(value: bool) -> None:
    if value:
        from . import __version__

        print(f"edge-detect {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_show_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """TensorFlow-free deepfake-face detector (MobileNet v1, TFLite).

    edge-detect IMAGE... is short for edge-detect detect IMAGE...;
    edge-detect info [MODEL] describes a model.
    """


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
        self._emit(
            f"{detection.label:<5}  {detection.fake_probability:>7.3f}  "
            f"{detection.latency_ms:>8.1f}  {detection.path}"
        )

    def error(self, failure) -> None:
        if self.json_lines:
            self._emit(json.dumps(failure.to_dict(), ensure_ascii=False))
            return
        self._header()
        self._emit(f"{'ERROR':<5}  {'-':>7}  {'-':>8}  {failure.error}")

    def _header(self) -> None:
        if not self.header_done:
            self._emit(f"{'LABEL':<5}  {'P(FAKE)':>7}  {'TIME ms':>8}  FILE")
            self.header_done = True


def _versions_line() -> str:
    import numpy
    import PIL

    from . import __version__

    py = ".".join(str(v) for v in sys.version_info[:3])
    return f"edge-detect {__version__}, python {py}, numpy {numpy.__version__}, pillow {PIL.__version__}"


@app.command("detect")
def detect(
    images: Annotated[
        list[str],
        typer.Argument(
            metavar="IMAGE",
            help="Image files, folders (their .jpg .jpeg .png .gif .webp .bmp .tif .tiff files) "
            "or glob patterns.",
            show_default=False,
        ),
    ],
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="A bundled variant (fp32, fp16, dynamic, int8) or a path to a .tflite file "
            "(its <stem>.bundle.json sidecar is read when present).",
        ),
    ] = "int8",
    threads: Annotated[
        int | None,
        typer.Option("--threads", "-t", min=1, help="Interpreter threads.  [default: all cores]"),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Label an image fake when its fake probability is >= this.  "
            "[default: the model bundle's threshold]",
        ),
    ] = None,
    recursive: Annotated[
        bool,
        typer.Option(
            "--recursive",
            "-r",
            help="Read subfolders of folders too; lets ** in globs span folders.",
        ),
    ] = False,
    json_lines: Annotated[
        bool, typer.Option("--json", help="One JSON object per line instead of a table.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Print backend, model, threads and versions to stderr."
        ),
    ] = False,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Progress bar on stderr.  "
            f"[default: on a terminal, above {PROGRESS_MIN_INPUTS} inputs]",
            show_default=False,
        ),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            help="Interpreter package: ai_edge_litert, tflite_runtime or tensorflow.  "
            "[default: the first one installed, in that order]",
        ),
    ] = None,
) -> None:
    """Classify face images as fake or real.

    Prints one row (or, with --json, one JSON object) per input. Exit status 0: all classified;
    1: some input failed (the others are still printed); 2: usage error or unusable model.
    """
    from .detector import Detector
    from .inputs import expand_inputs
    from .types import DetectionError, DetectorOptions, EdgeDetectError

    n_threads = threads or _default_threads()
    try:
        detector = Detector(
            DetectorOptions(
                model=model, num_threads=n_threads, threshold=threshold, backend=backend
            )
        )
    except EdgeDetectError as e:
        raise _fail_usage(str(e)) from None
    except ValueError as e:  # threshold or thread count outside what the interpreter takes
        raise _fail_usage(str(e)) from None

    expanded = expand_inputs(images, recursive=recursive)
    total = len(expanded.items)
    if verbose:
        spec = detector.spec
        info = detector.bundle.info
        err = sys.stderr
        print(_versions_line(), file=err)
        print(f"backend: {detector.backend.describe()}", file=err)
        print(
            f"model: {detector.bundle.path} (variant {info.variant}, input {spec.height}x{spec.width}, "
            f"{detector.input_dtype} input, threshold {detector.threshold}, "
            f"sha256 {info.sha256[:12]})",
            file=err,
        )
        print(f"threads: {n_threads}", file=err)
        skipped = (
            f" ({expanded.skipped_non_images} non-image files in folders skipped)"
            if expanded.skipped_non_images
            else ""
        )
        print(f"inputs: {total}{skipped}", file=err)

    show_progress = (
        progress if progress is not None else (total > PROGRESS_MIN_INPUTS and sys.stderr.isatty())
    )
    bar = _Progress(total, bool(show_progress))
    out = _Output(json_lines, bar)
    counts = {"fake": 0, "real": 0, "failed": 0}
    for done, item in enumerate(expanded.items, start=1):
        if isinstance(item, DetectionError):
            failure: Any = item
        else:
            try:
                detection = detector.detect(item)
            except EdgeDetectError as e:
                failure = DetectionError(path=item, error=str(e))
            except Exception as e:  # noqa: BLE001 - one odd file must not end the batch
                failure = DetectionError(
                    path=item, error=f"{item}: unexpected {type(e).__name__}: {e}"
                )
            else:
                counts[detection.label] = counts.get(detection.label, 0) + 1
                out.result(detection)
                bar.update(done)
                continue
        counts["failed"] += 1
        out.error(failure)
        bar.update(done)
    bar.clear()

    if verbose or (not json_lines and total > 1):
        print(
            f"{total} inputs: {counts['fake']} fake, {counts['real']} real, {counts['failed']} failed",
            file=sys.stderr,
        )
    raise typer.Exit(EXIT_INPUT_FAILED if counts["failed"] else EXIT_OK)


@app.command("info")
def info(
    model: Annotated[
        str,
        typer.Argument(
            help="A bundled variant (fp32, fp16, dynamic, int8) or a path to a .tflite file."
        ),
    ] = "int8",
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON object instead of text.")
    ] = False,
    backend: Annotated[
        str | None,
        typer.Option(
            help="Interpreter package to check the model with.  [default: the first installed]"
        ),
    ] = None,
) -> None:
    """Describe a model: size, sha256, input/output types and quantization, ops, minimum runtime
    version, bundle metadata, and the interpreter backend that runs it.

    Exit status 0: described and loadable; 1: described, but the backend cannot load it;
    2: missing or corrupt model file."""
    from .model_report import format_report, model_report
    from .types import EdgeDetectError

    try:
        report = model_report(model, backend)
    except EdgeDetectError as e:
        raise _fail_usage(str(e)) from None
    if json_out:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print("\n".join(format_report(report)))
    if not report.loads:  # described, but this backend cannot run it
        raise typer.Exit(EXIT_INPUT_FAILED)


def main(argv: list[str] | None = None) -> None:
    """Console entry point (`edge-detect`, `python -m edge_runtime`)."""
    import warnings

    # Pillow warns (multi-line) about e.g. corrupt EXIF; errors are reported per file instead.
    warnings.filterwarnings("ignore", module=r"PIL(\..*)?$")
    for stream in (sys.stdout, sys.stderr):
        # A file name that is not valid UTF-8 prints escaped rather than crashing the batch.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    app(args=argv, prog_name="edge-detect")


if __name__ == "__main__":
    main()
