"""`python -m train mix-layout | prepare-crops`: the training data as other tools read it."""

from __future__ import annotations

import argparse

from edge_runtime.console import usage_error
from workbench.crops import CropSettings
from workbench.paths import shared_data_dir

from ..settings import comma_list
from . import PROG


def add_mix_layout(sub) -> None:
    p = sub.add_parser(
        "mix-layout",
        help="the --sources mix as a train/valid/test folder layout of symbolic links",
        description="Write OUT/{train,valid,test}/{real,fake}/ with one symbolic link per file "
        "of the mix's splits (what `fit --sources` trains and validates on), named "
        "<source>__<file>: for tools that read a layout, e.g. `python -m convert RUN "
        "--calibration-dir OUT` calibrates int8 on the mix. No image is copied.",
    )
    p.add_argument("out", help="a new or empty folder")
    p.add_argument("--sources", default=None, help="sources file (default train/sources.json)")
    p.add_argument("--data", default=None, help="folder holding the sources (../shared/data)")
    p.add_argument("--hold-out", type=comma_list, default=(), help="as fit --hold-out")


def add_prepare_crops(sub) -> None:
    p = sub.add_parser(
        "prepare-crops",
        help="every source image through edge-detect's face stage; the crops it would judge",
        description="Send every image of every source (whole photos and ready-made crops "
        "alike) through edge_runtime's face stage and alignment exactly as edge-detect does, "
        "and write the crop it would classify (the largest judged face) as a PNG in OUT, a "
        "tree that mirrors the data folder (x.jpg -> x.jpg.crop.png, same split). Each "
        "source's index.json lists box, detector score, face size, whether it was upsampled "
        "and why an image has no crop (no face, too small, unreadable). Give OUT as --data to "
        "fit / evaluate --sources / benchmarks sources. A stopped run resumes: finished "
        "sources are kept when their settings match.",
    )
    p.add_argument("out", help="the crop tree (created; finished sources are reused)")
    p.add_argument("--sources", default=None, help="sources file (default train/sources.json)")
    p.add_argument("--data", default=None, help="folder holding the sources (../shared/data)")
    p.add_argument("--only", type=comma_list, default=(), help="comma list of source names")
    p.add_argument(
        "--model",
        default=CropSettings.model,
        help="whose input size sets the decode rule (default: %(default)s)",
    )
    p.add_argument(
        "--workers", type=int, default=2, help="decode/crop threads (default: %(default)s)"
    )
    p.add_argument("--json", dest="json_out", default=None, help="also write the summary here")


def run_mix_layout(args: argparse.Namespace) -> int:
    from ..mix_layout import write_mix_layout

    counts = write_mix_layout(args.out, args.sources, args.data, args.hold_out)
    for split, by_class in counts.items():
        print(f"{split}: {by_class['real']} real, {by_class['fake']} fake -> {args.out}/{split}")
    return 0


def run_prepare_crops(args: argparse.Namespace) -> int:
    from edge_runtime.fileio import atomic_write_json
    from workbench.crops import format_summary, prepare_crops
    from workbench.sources import load_sources

    sources = load_sources(args.sources)
    unknown = sorted(set(args.only) - {s.name for s in sources.sources})
    if unknown:
        usage_error(f"{PROG} prepare-crops", f"unknown source(s): {', '.join(unknown)}")
    report = prepare_crops(
        sources,
        args.data or shared_data_dir(),
        args.out,
        CropSettings(model=args.model),
        workers=args.workers,
        only=list(args.only),
    )
    print(format_summary(report))
    if args.json_out:
        atomic_write_json(args.json_out, report)
    return 0
