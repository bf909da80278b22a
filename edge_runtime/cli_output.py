"""`edge-detect` output: the result table or JSON lines on stdout, the progress bar on stderr.

Split from cli.py, which runs the commands; video.py prints a clip's rows with the same columns.
"""

from __future__ import annotations

import json
import sys
import time

# The table's first column: fake, real, or why there is no verdict ("no face", "too small"),
# or ERROR; as wide as the widest, so P(FAKE), TIME and FILE line up on every row.
NO_FACE, TOO_SMALL = "no face", "too small"
LABEL_WIDTH = len(TOO_SMALL)


class Progress:
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


def verdict(result) -> str:
    """A result's label, or why it has none: no face found, or faces found but none big enough
    to judge (a clip: tracks, each never judged). The table's first column and the summary's
    counts both use it."""
    if result.label is not None:
        return result.label
    return TOO_SMALL if result.faces else NO_FACE


def table_row(label: str, p_fake: str, latency: str, rest: str) -> str:
    return f"{label:<{LABEL_WIDTH}}  {p_fake:>7}  {latency:>8}  {rest}"


class Output:
    """Result lines on stdout: a readable table, or one JSON object per line (--json)."""

    def __init__(self, json_lines: bool, progress: Progress):
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
        self._rows(detection)
        for warning in detection.warnings:  # damage under the verdict: never a silent row
            self._emit(f"  warning: {warning}")

    def _rows(self, detection) -> None:
        if hasattr(detection, "tracks"):  # a video clip: one row, then one per track
            from .video import text_lines

            for line in text_lines(detection):
                self._emit(line)
            return
        p_fake = "-" if detection.fake_probability is None else f"{detection.fake_probability:.3f}"
        latency = f"{detection.latency_ms:.1f}"
        if detection.faces is None:  # --faces none: the whole image was classified
            self._emit(table_row(detection.label, p_fake, latency, detection.path))
            return
        n = len(detection.faces)
        count = f"  ({n} faces)" if n > 1 else ""
        self._emit(table_row(verdict(detection), p_fake, latency, f"{detection.path}{count}"))
        if n > 1 or any(f.too_small for f in detection.faces):
            for i, f in enumerate(detection.faces, start=1):
                judged = TOO_SMALL if f.too_small else f"{f.label} {f.fake_probability:.3f}"
                box = f"{f.box[0]},{f.box[1]}-{f.box[2]},{f.box[3]}"
                self._emit(f"  face {i}: {judged} at {box} (detector score {f.score:.2f})")

    def error(self, failure) -> None:
        if self.json_lines:
            self._emit(json.dumps(failure.to_dict(), ensure_ascii=False))
            return
        self._header()
        self._emit(table_row("ERROR", "-", "-", failure.error))

    def _header(self) -> None:
        if not self.header_done:
            self._emit(table_row("LABEL", "P(FAKE)", "TIME ms", "FILE"))
            self.header_done = True
