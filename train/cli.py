"""Command line: `python -m train fit|evaluate|gradcam|...` (run from the repository root).

argparse with edge_runtime.console's usage errors and logging, like every CLI of the repository.
Each subcommand's parser and handler live in train/commands/ (calibrate: train/calibrate_cli.py).
"""

from __future__ import annotations

import os
import sys

from edge_runtime.console import EXIT_USAGE, ArgumentParser, setup_logging, usage_error
from edge_runtime.types import EdgeDetectError

from .calibrate_cli import add_calibrate, run_calibrate
from .commands import PROG, data, evaluation, models, ship_check
from .commands import fit as fit_command
from .commands.fit import fit_config

EXIT_INTERRUPTED = 130

# Subcommand -> handler; build_parser declares them in the order --help lists them.
HANDLERS = {
    "fit": fit_command.run_fit_command,
    "evaluate": evaluation.run_evaluate,
    "gradcam": evaluation.run_gradcam,
    "shortcut-check": evaluation.run_shortcut_check,
    "stability": evaluation.run_stability,
    "ship-check": ship_check.run_ship_check,
    "mix-layout": data.run_mix_layout,
    "prepare-crops": data.run_prepare_crops,
    "from-tflite": models.run_from_tflite,
    "calibrate": run_calibrate,
}


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="Train, evaluate and explain the edge-detect Keras model "
        "(needs the train extra).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug messages on stderr")
    sub = parser.add_subparsers(
        dest="command",
        required=True,
    )
    fit_command.add_fit(sub)
    evaluation.add_evaluate(sub)
    evaluation.add_gradcam(sub)
    evaluation.add_checks(sub)
    ship_check.add_ship_check(sub)
    data.add_mix_layout(sub)
    data.add_prepare_crops(sub)
    models.add_from_tflite(sub)
    add_calibrate(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done; 2 bad input (one line `python -m train CMD: error: ...`); 130 Ctrl-C."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    prog = f"{PROG} {args.command}"
    run = HANDLERS[args.command]
    from .fit import Interrupted

    try:
        return run(args)
    except Interrupted as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print(f"{prog}: error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except EdgeDetectError as e:
        usage_error(prog, str(e))
    return EXIT_USAGE


__all__ = ["build_parser", "fit_config", "main"]
