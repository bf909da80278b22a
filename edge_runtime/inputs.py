"""Turn the CLI's IMAGE arguments (files, folders, globs) into the list of files to classify.

Rules (the README's "Inputs" section says the same):
- a file named explicitly is always attempted, whatever its extension: the user asked for it;
- a folder contributes the files with an image or video extension (case-insensitive), sorted;
  other files are skipped (and counted), hidden files and folders (".name") are skipped; with
  `recursive` its subfolders too. A folder with no images or videos is an error line;
- a glob pattern (`*`, `?`, `[`) that is not an existing path is expanded here (for shells that
  did not, or quoted patterns); `**` spans folders when `recursive` is set. Matched files are
  attempted as if named, matched folders are read as folders; no match is an error line;
- anything else (a missing path, a dangling symlink) goes on to the loader, which names the reason;
- files `--annotate` wrote (name `*.faces.jpg` and its marker: annotate_names.py) are skipped
  wherever they come from, and counted, so a run into the input folder never judges them.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from .annotate_names import is_own_annotation
from .types import DetectionError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"})
# Video files (edge_runtime/video.py samples their frames; decoding needs the `video` extra).
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg"})
_GLOB_CHARS = frozenset("*?[")


@dataclass
class ExpandedInputs:
    """What the arguments stand for, in the order given: file paths to try, or input errors."""

    items: list[str | DetectionError] = field(default_factory=list)
    skipped_non_images: int = 0  # files inside folders without an image extension
    skipped_annotations: int = 0  # --annotate outputs met among the inputs (never judged)

    @property
    def n_files(self) -> int:
        return sum(isinstance(i, str) for i in self.items)


def _suffix(name: str) -> str:
    """The one suffix rule: the last extension, case-insensitive."""
    return os.path.splitext(name)[1].lower()


def is_image_name(name: str) -> bool:
    return _suffix(name) in IMAGE_EXTENSIONS


def is_video_name(name: str) -> bool:
    return _suffix(name) in VIDEO_EXTENSIONS


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _folder_files(folder: str, recursive: bool) -> tuple[list[str], int, bool]:
    """(image files, number of skipped non-image files, whether subfolders were left unread)."""
    images: list[str] = []
    skipped = 0
    has_subfolders = False
    for root, dirs, files in os.walk(folder, onerror=None, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not _hidden(d))
        if not recursive:
            has_subfolders = bool(dirs)
            dirs[:] = []
        for name in sorted(files):
            if _hidden(name):
                continue
            if is_image_name(name) or is_video_name(name):
                images.append(os.path.join(root, name))
            else:
                skipped += 1
    return images, skipped, has_subfolders


def _add_folder(out: ExpandedInputs, folder: str, recursive: bool) -> None:
    if not os.access(folder, os.R_OK | os.X_OK):
        out.items.append(
            DetectionError(folder, f"{folder}: permission denied (cannot list folder)")
        )
        return
    images, skipped, has_subfolders = _folder_files(folder, recursive)
    out.skipped_non_images += skipped
    if images:
        out.items.extend(images)
        return
    exts = ", ".join(sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))
    hint = "; it has subfolders: add --recursive" if has_subfolders else ""
    what = (
        f"holds no images or videos ({skipped} other files)"
        if skipped
        else "holds no images or videos"
    )
    out.items.append(DetectionError(folder, f"{folder}: folder {what}; looked for {exts}{hint}"))


def expand_inputs(args: Iterable[str], recursive: bool = False) -> ExpandedInputs:
    out = ExpandedInputs()
    for arg in args:
        if not arg:
            out.items.append(DetectionError(arg, "'': empty path argument"))
        elif os.path.isdir(arg):
            _add_folder(out, arg, recursive)
        elif os.path.lexists(arg) or not (_GLOB_CHARS & set(arg)):
            out.items.append(arg)  # explicit file, or missing path / dangling link: loader says why
        else:
            matches = sorted(glob.glob(arg, recursive=recursive))
            if not matches:
                out.items.append(DetectionError(arg, f"{arg}: no files match this pattern"))
            for match in matches:
                if os.path.isdir(match):
                    _add_folder(out, match, recursive)
                else:
                    out.items.append(match)
    # The same file named twice (e.g. a folder and a glob inside it) is classified once.
    seen: set[str] = set()
    unique: list[str | DetectionError] = []
    for item in out.items:
        key = os.path.normpath(item) if isinstance(item, str) else None
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        unique.append(item)
    out.items = [i for i in unique if not (isinstance(i, str) and is_own_annotation(i))]
    out.skipped_annotations = len(unique) - len(out.items)
    return out
