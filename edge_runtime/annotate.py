"""`--annotate DIR`: a copy of an input with each face boxed, coloured by verdict, P(fake) beside.

Pillow only. The copy is written atomically under a new name in DIR and never over an input;
its name (unique in the batch) and the marker that lets input expansion skip it next time are
edge_runtime/annotate_names.py.
"""

from __future__ import annotations

import io
import os
from collections.abc import Collection
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .annotate_names import MARKER, STDIN_STEM, SUFFIX
from .fileio import atomic_write_bytes
from .preprocess import ImageSource, load_image
from .types import Detection, EdgeDetectError

COLOURS = {"fake": (230, 40, 40), "real": (40, 200, 60), None: (160, 160, 160)}


def annotated_path(source_name: str, out_dir: str | os.PathLike) -> Path:
    """DIR/<stem>.faces.jpg: one input's name (a batch: annotate_names.annotation_names)."""
    stem = Path(source_name).stem if source_name not in ("-", "") else STDIN_STEM
    return Path(out_dir) / f"{stem}{SUFFIX}"


def draw_faces(img: Image.Image, detection: Detection) -> Image.Image:
    """Boxes and labels drawn on a copy of the (upright, full-size) image."""
    img = img.copy()
    draw = ImageDraw.Draw(img)
    width = max(2, round(max(img.size) / 400))
    font_size = max(12, round(max(img.size) / 60))
    try:
        font = ImageFont.load_default(size=font_size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        font = ImageFont.load_default()
    for face in detection.faces or ():
        colour = COLOURS.get(face.label, COLOURS[None])
        draw.rectangle(face.box, outline=colour, width=width)
        if face.too_small:
            text = "too small"
        else:
            text = f"{face.label} {face.fake_probability:.2f}"
        x, y = face.box[0], max(0, face.box[1] - font_size - 2 * width)
        bbox = draw.textbbox((x, y), text, font=font)
        draw.rectangle(bbox, fill=(0, 0, 0))
        draw.text((x, y), text, fill=colour, font=font)
    if not detection.faces:
        draw.text((width, width), "no face", fill=COLOURS[None], font=font)
    return img


def write_annotated(
    source: ImageSource,
    detection: Detection,
    out_dir: str | os.PathLike,
    inputs: Collection[Path] = (),
    name: str | None = None,
) -> Path:
    """Draw `detection` on `source` and write it to out_dir/`name` (default <stem>.faces.jpg),
    atomically, with MARKER as its JPEG comment.

    Raises EdgeDetectError when the target is the source or one of `inputs` (resolved paths).
    """
    target = (Path(out_dir) / name if name else annotated_path(detection.path, out_dir)).resolve()
    protected = set(inputs)
    if isinstance(source, (str, os.PathLike)):
        protected.add(Path(source).resolve())
    if target in protected:
        raise EdgeDetectError(f"{target} is an input: --annotate would overwrite it")
    img = load_image(source)
    buf = io.BytesIO()
    draw_faces(img, detection).save(buf, format="JPEG", quality=90, comment=MARKER)
    return atomic_write_bytes(target, buf.getvalue())


__all__ = ["annotated_path", "draw_faces", "write_annotated"]
