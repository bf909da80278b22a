"""The one way every command line of this repository reports usage errors and sets up logging.

Used by `edge-detect` and by `python -m train`, `python -m convert`, `python -m benchmarks`:

    from edge_runtime.console import ArgumentParser, EXIT_USAGE, setup_logging, usage_error

    parser = ArgumentParser(prog="python -m convert", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug messages on stderr")
    args = parser.parse_args(argv)       # a bad flag: one line `PROG: error: ...`, exit 2
    setup_logging(args.verbose)          # stderr; INFO by default, DEBUG with --verbose
    if not Path(args.run).exists():
        usage_error(parser.prog, f"{args.run}: no such run folder")   # same line, exit 2

Standard library only (a CLI's start-up time matters on a Pi): no third-party import here.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import NoReturn

# Every CLI's exit status contract (README "Exit status").
EXIT_OK = 0  # everything done
EXIT_FAILED = 1  # ran, but some input or step failed (the rest was still done and reported)
EXIT_USAGE = 2  # bad flag or value, missing argument, unusable model: nothing was done


def usage_error(prog: str, message: str) -> NoReturn:
    """Print `PROG: error: MESSAGE` as one line on stderr and exit with status 2."""
    message = " ".join(str(message).split())  # one line, whatever the message held
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_USAGE)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the repository's error style: one line, no usage dump, exit 2.

    `--help` shows the full usage; an error only says what was wrong and where help is.
    """

    def error(self, message: str) -> NoReturn:
        usage_error(self.prog, f"{message} (see {self.prog} --help)")


def at_least(minimum: int):
    """An argparse `type=` for a whole number >= minimum (counts, epochs, threads, runs)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = f"whole number >= {minimum}"  # argparse names the type in its errors
    return parse


def probability(text: str) -> float:
    """An argparse `type=` for a value within [0, 1] (thresholds, shares)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within [0, 1], got {value:g}")
    return value


# The repository's own packages: --verbose turns on their DEBUG messages, not every library's
# (Pillow alone logs each PNG chunk at DEBUG).
PROJECT_LOGGERS = ("edge_runtime", "train", "convert", "benchmarks", "__main__")


def setup_logging(verbose: bool = False) -> logging.Logger:
    """Log to stderr, message only: INFO and above by default, our DEBUG too with --verbose.

    Call once, after parsing arguments; calling again (tests run several CLIs in one process)
    replaces the previous setup. Returns the root logger; modules keep using
    `logging.getLogger(__name__)`.
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr, force=True)
    for name in PROJECT_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.NOTSET)
    return logging.getLogger()


__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "ArgumentParser",
    "at_least",
    "probability",
    "setup_logging",
    "usage_error",
]
