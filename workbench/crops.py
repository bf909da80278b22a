"""Train as you infer: every source image through the runtime's own face stage, cached.

`edge-detect` never classifies a dataset's own alignment: it finds the face (BlazeFace),
aligns it FFHQ-style (or keeps a photo that already is the aligned crop) and feeds that crop
to the classifier's preprocessing. `prepare_crops` sends every image of every source (whole
photos and ready-made crops alike) through exactly that step (`edge_runtime.faces.align_faces`,
with the CLI's face options) and writes the crop it would classify as a lossless PNG in a
tree that mirrors the data root: `<root>/<folder>/.../<class>/<file name>` becomes
`<crops>/<folder>/.../<class>/<file name>.crop.png`. Training, validation, thresholds and
every per-source table then read the crop tree in place of the data root (`--data CROPS`);
the split of a crop is its original file's (workbench.sources.split_key).

Of several faces the largest judged one is kept (the subject of a labelled face photo). Each
source's `index.json` lists every image: box, detector score, face size in source pixels,
whether the network sees it magnified, the number of faces, and why an image has no crop
(no face, every face too small, unreadable) - those are counted per source, never dropped
silently. numpy + Pillow + edge_runtime only (no TensorFlow).
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_runtime.detector import Detector
from edge_runtime.faces import align_faces
from edge_runtime.fileio import atomic_write_bytes, atomic_write_json
from edge_runtime.registry import DEFAULT_MODEL
from edge_runtime.types import DetectorOptions, FaceOptions, ImageError

from .sources import CROP_SUFFIX, Source, SourceList, image_files, source_folders

log = logging.getLogger(__name__)

INDEX_FILE = "index.json"  # per source, in the crop tree beside its class folder(s)
SUMMARY_FILE = "crops_summary.json"  # at the top of the crop tree
STATUSES = ("ok", "no_face", "too_small", "error")  # why an index entry has (or has no) crop
CROPS_VERSION = 2  # bump when the crop rule changes: older trees are then rebuilt (2: second look)


@dataclass(frozen=True)
class CropSettings:
    """What decides the crops (an index made with other settings is stale)."""

    model: str = DEFAULT_MODEL  # whose preprocessing spec sets the decode-size rule
    min_score: float = FaceOptions.min_score
    min_crop_px: int = FaceOptions.min_crop_px

    def describe(self, detector: Detector) -> dict[str, Any]:
        return {
            "version": CROPS_VERSION,
            "model": self.model,
            "input_size": detector.spec.height,
            "min_score": self.min_score,
            "min_crop_px": self.min_crop_px,
        }


def source_images(source: Source, root: Path) -> Iterator[Path]:
    """Every image of a source under root, every split (the crop tree mirrors the layout)."""
    for _, folder in source_folders(source, root):
        yield from image_files(folder)


def crop_one(detector: Detector, path: Path) -> tuple[dict[str, Any], bytes | None]:
    """One image -> (its index entry, the PNG bytes of the crop it would classify or None)."""
    try:
        faces = align_faces(path, detector.face_finder, detector.spec, detector.face_options)
    except ImageError as e:
        return {"status": "error", "reason": str(e)}, None
    judged = [f for f in faces if f.image is not None]
    entry: dict[str, Any] = {"faces": len(faces), "judged_faces": len(judged)}
    if not judged:
        entry["status"] = "too_small" if faces else "no_face"
        return entry, None
    face = max(judged, key=lambda f: f.crop_px)
    buf = io.BytesIO()
    # compress_level 1: lossless and fast; these files are a cache, not an archive.
    face.image.save(buf, format="PNG", compress_level=1)
    entry.update(
        status="ok",
        box=list(face.box),
        score=face.score,
        face_px=face.crop_px,
        crop_size=list(face.image.size),
        upsampled=face.crop_px < detector.spec.height,  # the network sees magnified pixels
    )
    return entry, buf.getvalue()


def _source_dir(out: Path, source: Source) -> Path:
    return out / source.folder / source.name


def prepare_source(
    detector: Detector,
    source: Source,
    root: Path,
    out: Path,
    settings: dict[str, Any],
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Crop one source; its index is written last (atomically), so a stopped run resumes."""
    index_path = _source_dir(out, source) / INDEX_FILE
    if index_path.is_file():
        old = json.loads(index_path.read_text("utf-8"))
        if old.get("settings") == settings:
            return old["summary"]
    files = list(source_images(source, root))
    entries: list[dict[str, Any]] = []

    def work(path: Path) -> dict[str, Any]:
        entry, png = crop_one(detector, path)
        rel = path.relative_to(root)
        entry["file"] = str(rel)
        if png is not None:
            crop_rel = rel.with_name(rel.name + CROP_SUFFIX)
            atomic_write_bytes(out / crop_rel, png)
            entry["crop"] = str(crop_rel)
        return entry

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for i, entry in enumerate(pool.map(work, files), 1):
            entries.append(entry)
            if progress is not None:
                progress(i, len(files))
    counts = {k: sum(e["status"] == k for e in entries) for k in STATUSES}
    summary = {
        "source": source.name,
        "folder": source.folder,
        "class": source.class_name,
        "images": len(entries),
        **counts,
        "upsampled": sum(bool(e.get("upsampled")) for e in entries),
    }
    atomic_write_json(index_path, {"settings": settings, "summary": summary, "images": entries})
    return summary


def _progress_logger(name: str) -> Callable[[int, int], None]:
    """A progress callback that logs at most every 10 s, and at the end."""
    start = time.perf_counter()
    last = [start]

    def progress(i: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 10 or i == total:
            last[0] = now
            log.info("%s: %d/%d images (%.0f s)", name, i, total, now - start)

    return progress


def prepare_crops(
    sources: SourceList,
    root: str | os.PathLike,
    out: str | os.PathLike,
    settings: CropSettings = CropSettings(),
    workers: int = 2,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Every source (or those named in `only`) through the face stage into the crop tree."""
    root, out = Path(root), Path(out)
    detector = Detector(
        DetectorOptions(
            model=settings.model,
            num_threads=1,
            faces=FaceOptions(min_score=settings.min_score, min_crop_px=settings.min_crop_px),
        )
    )
    described = settings.describe(detector)
    chosen = [s for s in sources.sources if not only or s.name in only]
    summaries = []
    for n, source in enumerate(chosen, 1):
        progress = _progress_logger(source.name)
        summary = prepare_source(detector, source, root, out, described, workers, progress)
        log.info(
            "[%d/%d] %s: %d crops of %d images (no face %d, too small %d, unreadable %d)",
            n,
            len(chosen),
            source.name,
            summary["ok"],
            summary["images"],
            summary["no_face"],
            summary["too_small"],
            summary["error"],
        )
        summaries.append(summary)
    report = {"settings": described, "data_root": str(root), "sources": summaries}
    if not only:
        atomic_write_json(out / SUMMARY_FILE, report)
    return report


def read_crop_summary(crops: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Per-source summaries (images, ok, no_face, too_small, error) of a crop tree, by name;
    empty when the folder is not a crop tree."""
    out: dict[str, dict[str, Any]] = {}
    for index in Path(crops).glob(f"*/*/{INDEX_FILE}"):
        summary = json.loads(index.read_text("utf-8"))["summary"]
        out[summary["source"]] = summary
    return out


def format_summary(report: dict[str, Any]) -> str:
    lines = [f"{'source':<22} {'images':>7} {'crops':>7} {'no face':>8} {'small':>6} {'bad':>4}"]
    for s in report["sources"]:
        lines.append(
            f"{s['source']:<22} {s['images']:>7} {s['ok']:>7} {s['no_face']:>8} "
            f"{s['too_small']:>6} {s['error']:>4}"
        )
    return "\n".join(lines)


__all__ = [
    "INDEX_FILE",
    "SUMMARY_FILE",
    "CropSettings",
    "crop_one",
    "format_summary",
    "prepare_crops",
    "prepare_source",
    "read_crop_summary",
    "source_images",
]
