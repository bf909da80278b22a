"""What `--annotate DIR` calls its files, and how edge-detect knows them again (standard library
only: input expansion checks every `*.faces.jpg` it meets, annotating or not).

- Names: one per input in a batch, never two alike, so no output replaces another:
  `<stem>.faces.jpg`; when inputs share a stem, `<name with extension>.faces.jpg`
  (a/photo.jpg, a/photo.png); when that is shared too, the path's folders join the name
  (a/photo.jpg, b/photo.jpg -> a_photo.jpg.faces.jpg, b_photo.jpg.faces.jpg); a `-2`, `-3`
  ... suffix settles whatever still collides.
- Marker: each annotated copy carries MARKER as a JPEG comment (COM segment). A file whose name
  ends in SUFFIX *and* that carries the marker is our own output: input expansion skips it, so
  `edge-detect DIR --annotate DIR` run twice does not judge its own drawings.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

SUFFIX = ".faces.jpg"
MARKER = b"edge-detect --annotate output"
STDIN_STEM = "stdin"
_HEAD_BYTES = 65536  # the marker sits among the header segments, before the image data


def _parts(path: str) -> list[str]:
    return [p for p in Path(os.path.normpath(path)).parts if p not in (os.sep, "..", ".")]


def _with_folders(path: str, k: int) -> str:
    """a/b/photo.jpg, k=1 -> b_photo.jpg: the last k folders as part of one file name."""
    return "_".join(p.replace(":", "") for p in _parts(path)[-(k + 1) :])


def annotation_names(paths: Iterable[str]) -> dict[str, str]:
    """input path -> its annotated file name in DIR, unique within the batch (case-insensitive,
    as on macOS and Windows file systems)."""
    paths = list(dict.fromkeys(paths))

    def stem(p: str) -> str:
        return STDIN_STEM if p in ("-", "") else Path(p).stem

    def name(p: str) -> str:
        return STDIN_STEM if p in ("-", "") else Path(p).name

    depth = max((len(_parts(p)) for p in paths), default=1)
    rules = [stem, name] + [lambda p, k=k: _with_folders(p, k) for k in range(1, depth)]
    names: dict[str, str] = {}
    pending = paths
    for rule in rules:  # the first rule that tells a path apart from its namesakes names it
        counts = Counter(rule(p).casefold() for p in pending)
        names.update({p: rule(p) + SUFFIX for p in pending if counts[rule(p).casefold()] == 1})
        pending = [p for p in pending if p not in names]
    names.update({p: name(p) + SUFFIX for p in pending})
    taken: set[str] = set()
    for p in paths:  # in input order: the first keeps its name, later ones get -2, -3, ...
        base, n = names[p][: -len(SUFFIX)], 1
        while names[p].casefold() in taken:
            n += 1
            names[p] = f"{base}-{n}{SUFFIX}"
        taken.add(names[p].casefold())
    return names


def _jpeg_comments(head: bytes) -> Iterable[bytes]:
    """The COM segments among a JPEG's header segments (up to the image data)."""
    i = 2
    while i + 4 <= len(head) and head[i] == 0xFF:
        marker = head[i + 1]
        if marker == 0xDA:  # start of scan: no more header segments
            return
        length = int.from_bytes(head[i + 2 : i + 4], "big")
        if marker == 0xFE:
            yield head[i + 4 : i + 2 + length]
        i += 2 + length


def is_own_annotation(path: str) -> bool:
    """A file `--annotate` wrote: its name ends in SUFFIX and it carries MARKER."""
    if not path.lower().endswith(SUFFIX):
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD_BYTES)
    except OSError:
        return False  # the loader names what is wrong with it
    return head[:2] == b"\xff\xd8" and any(c == MARKER for c in _jpeg_comments(head))


__all__ = ["MARKER", "SUFFIX", "annotation_names", "is_own_annotation"]
