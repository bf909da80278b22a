"""`python -m train mix-layout OUT`: the mix's splits as a folder layout of symbolic links.

Tools that read a labelled layout (`convert`'s int8 calibration and verification, `evaluate`)
then see exactly the files a `fit --sources` run trained and validated on, without copying an
image (the shared data's licences forbid copies in the repository):
OUT/{train,valid,test}/{real,fake}/<source>__<file name> -> the shared file.
No TensorFlow here.
"""

from __future__ import annotations

import os
from pathlib import Path

from edge_runtime.types import LABELS

from .errors import ConfigError
from .sources import build_mix, load_sources


def write_mix_layout(
    out: str | os.PathLike,
    sources_file: str | None = None,
    root: str | None = None,
    hold_out: tuple[str, ...] = (),
) -> dict[str, dict[str, int]]:
    """Write the links; returns the count per split and class. OUT must be new or empty."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out}: exists and is not an empty folder")
    mix = build_mix(load_sources(sources_file), root, hold_out)
    counts: dict[str, dict[str, int]] = {}
    for split, files in mix.splits.items():
        counts[split] = {label: 0 for label in LABELS}
        for sample in files.samples:
            label = LABELS[sample.label]
            folder = out / split / label
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{mix.source_of[sample.path]}__{Path(sample.path).name}"
            (folder / name).symlink_to(Path(sample.path).resolve())
            counts[split][label] += 1
    return counts


__all__ = ["write_mix_layout"]
