"""`python -m train from-tflite`: a Keras model rebuilt from a shipped .tflite."""

from __future__ import annotations

import argparse
import json
import os

from edge_runtime.console import usage_error

from . import PROG


def add_from_tflite(sub) -> None:
    p = sub.add_parser(
        "from-tflite",
        help="a Keras model rebuilt from a MobileNet classifier .tflite (to warm-start fit)",
        description="Rebuild train/model.py's MobileNet classifier (alpha, input size, Dense "
        "units read from the .tflite) with the .tflite's weights (int8 / fp16 dequantized), for "
        "`fit --init-from OUT --freeze-batchnorm`: BatchNorm is folded into the convs, so the "
        "model matches the .tflite only with BatchNorm in inference mode (train/README.md).",
    )
    p.add_argument("model", help="a MobileNet classifier .tflite (fp32, fp16, dynamic or int8)")
    p.add_argument("out", help="the .keras file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    p.add_argument(
        "--check",
        metavar="DIR",
        default=None,
        help="also compare P(fake) of OUT and the .tflite on images of DIR (recursive)",
    )
    p.add_argument(
        "--check-limit", type=int, default=50, help="images for --check (default: %(default)s)"
    )


def run_from_tflite(args: argparse.Namespace) -> int:
    from ..from_tflite import compare_with_tflite, keras_from_tflite
    from ..model import save_model_atomic

    if os.path.exists(args.out) and not args.overwrite:
        usage_error(f"{PROG} from-tflite", f"{args.out} exists (--overwrite replaces it)")
    model = keras_from_tflite(args.model)
    if args.check:
        print(json.dumps(compare_with_tflite(model, args.model, args.check, args.check_limit)))
    print(save_model_atomic(model, args.out))
    return 0
