"""TFLite Support model metadata, written and read without tflite-support.

tflite-support (the official writer) pins protobuf < 4, which cannot share an environment with
TensorFlow 2.21, so this module builds the metadata flatbuffer itself with the `flatbuffers`
package, following TFLite Support's metadata_schema.fbs (file identifier "M001"):

- the ModelMetadata flatbuffer is stored as a model buffer, referenced from the model's
  `metadata` list under the name "TFLITE_METADATA";
- associated files (labels.txt) are packed onto the end of the .tflite as an uncompressed zip
  archive, as TFLite Support's MetadataPopulator does; the interpreter ignores trailing bytes.

Android's TFLite Support library (MetadataExtractor) and Task Library read both.
Field slots below are the declaration order of each table in metadata_schema.fbs.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from typing import Any

import flatbuffers
from flatbuffers import number_types as N
from flatbuffers.table import Table

from edge_runtime.inspect_model import TFLITE_METADATA_KEY, metadata_buffers
from edge_runtime.types import LABELS, ModelError, PreprocessSpec

METADATA_IDENTIFIER = b"M001"
# Only fields of the schema's 1.0.0 release are written, so any metadata parser understands them.
MIN_PARSER_VERSION = "1.0.0"

# enum values from metadata_schema.fbs
ASSOCIATED_FILE_TENSOR_AXIS_LABELS = 2
COLOR_SPACE_RGB = 1
CONTENT_FEATURE_PROPERTIES = 1  # union ContentProperties: FeatureProperties = 1
CONTENT_IMAGE_PROPERTIES = 2  # ImageProperties = 2
PROCESS_UNIT_NORMALIZATION = 1  # union ProcessUnitOptions: NormalizationOptions = 1


@dataclass(frozen=True)
class AssociatedFile:
    name: str
    description: str = ""
    type: int = ASSOCIATED_FILE_TENSOR_AXIS_LABELS


@dataclass(frozen=True)
class ClassifierMetadata:
    """What an image classifier's metadata says (the fields Android tooling reads)."""

    name: str
    description: str
    version: str
    author: str
    license: str
    spec: PreprocessSpec
    labels: tuple[str, ...] = LABELS
    labels_file: str = "labels.txt"
    input_name: str = "image"
    input_description: str = ""
    output_name: str = "probabilities"
    output_description: str = ""
    extra_files: tuple[AssociatedFile, ...] = field(default_factory=tuple)


def labels_text(labels: tuple[str, ...] = LABELS) -> str:
    """labels.txt: one label per line, line i = output index i (fake first, then real)."""
    return "".join(f"{label}\n" for label in labels)


# ---------------------------------------------------------------- writing


def _string(b: flatbuffers.Builder, text: str) -> int:
    return b.CreateString(text)


def _float_vector(b: flatbuffers.Builder, values: list[float]) -> int:
    b.StartVector(4, len(values), 4)
    for v in reversed(values):
        b.PrependFloat32(float(v))
    return b.EndVector()


def _offset_vector(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for o in reversed(offsets):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


def _table(b: flatbuffers.Builder, n_slots: int, offsets: dict[int, int], scalars=()) -> int:
    """A table with offset fields {slot: offset} and scalar fields [(slot, kind, value)]."""
    b.StartObject(n_slots)
    for slot, kind, value in scalars:
        if kind == "int8":
            b.PrependInt8Slot(slot, value, 0)
        elif kind == "uint8":
            b.PrependUint8Slot(slot, value, 0)
        elif kind == "uint32":
            b.PrependUint32Slot(slot, value, 0)
        else:
            raise ValueError(kind)
    for slot, off in offsets.items():
        b.PrependUOffsetTRelativeSlot(slot, off, 0)
    return b.EndObject()


def _associated_file(b: flatbuffers.Builder, f: AssociatedFile) -> int:
    # AssociatedFile: name 0, description 1, type 2 (byte), locale 3
    name, desc = _string(b, f.name), _string(b, f.description)
    return _table(b, 4, {0: name, 1: desc}, [(2, "int8", f.type)])


def _stats(b: flatbuffers.Builder, max_v: list[float], min_v: list[float]) -> int:
    # Stats: max 0, min 1
    mx, mn = _float_vector(b, max_v), _float_vector(b, min_v)
    return _table(b, 2, {0: mx, 1: mn})


def build_metadata(md: ClassifierMetadata) -> bytes:
    """The ModelMetadata flatbuffer (file identifier M001) for a one-input image classifier."""
    b = flatbuffers.Builder(1024)
    spec = md.spec
    mean, std = [float(spec.mean)] * 3, [float(spec.std)] * 3

    # Input: ImageProperties(RGB, default_size) + NormalizationOptions(mean, std) + value range.
    image_size = _table(b, 2, {}, [(0, "uint32", spec.width), (1, "uint32", spec.height)])
    image_props = _table(b, 2, {1: image_size}, [(0, "int8", COLOR_SPACE_RGB)])
    # Content: content_properties_type 0 (ubyte), content_properties 1, range 2
    in_content = _table(b, 3, {1: image_props}, [(0, "uint8", CONTENT_IMAGE_PROPERTIES)])
    norm = _table(b, 2, {0: _float_vector(b, mean), 1: _float_vector(b, std)})
    # ProcessUnit: options_type 0 (ubyte), options 1
    unit = _table(b, 2, {1: norm}, [(0, "uint8", PROCESS_UNIT_NORMALIZATION)])
    units = _offset_vector(b, [unit])
    in_stats = _stats(
        b, [(255.0 - m) / s for m, s in zip(mean, std)], [(0.0 - m) / s for m, s in zip(mean, std)]
    )
    in_name, in_desc = _string(b, md.input_name), _string(b, md.input_description)
    # TensorMetadata: name 0, description 1, dimension_names 2, content 3, process_units 4,
    # stats 5, associated_files 6
    input_tm = _table(b, 7, {0: in_name, 1: in_desc, 3: in_content, 4: units, 5: in_stats})

    # Output: FeatureProperties, probabilities in [0, 1], labels file along the class axis.
    features = _table(b, 0, {})
    out_content = _table(b, 3, {1: features}, [(0, "uint8", CONTENT_FEATURE_PROPERTIES)])
    out_stats = _stats(b, [1.0], [0.0])
    labels_file = _associated_file(
        b,
        AssociatedFile(
            md.labels_file,
            "Labels of the output classes, one per line, line i = output index i",
            ASSOCIATED_FILE_TENSOR_AXIS_LABELS,
        ),
    )
    out_files = _offset_vector(b, [labels_file])
    out_name, out_desc = _string(b, md.output_name), _string(b, md.output_description)
    output_tm = _table(b, 7, {0: out_name, 1: out_desc, 3: out_content, 5: out_stats, 6: out_files})

    # SubGraphMetadata: name 0, description 1, input_tensor_metadata 2, output_tensor_metadata 3
    inputs, outputs = _offset_vector(b, [input_tm]), _offset_vector(b, [output_tm])
    subgraph = _table(b, 7, {2: inputs, 3: outputs})
    subgraphs = _offset_vector(b, [subgraph])

    model_files = (
        _offset_vector(b, [_associated_file(b, f) for f in md.extra_files])
        if md.extra_files
        else None
    )
    # ModelMetadata: name 0, description 1, version 2, subgraph_metadata 3, author 4, license 5,
    # associated_files 6, min_parser_version 7
    fields = {
        0: _string(b, md.name),
        1: _string(b, md.description),
        2: _string(b, md.version),
        3: subgraphs,
        4: _string(b, md.author),
        5: _string(b, md.license),
        7: _string(b, MIN_PARSER_VERSION),
    }
    if model_files is not None:
        fields[6] = model_files
    root = _table(b, 8, fields)
    b.Finish(root, file_identifier=METADATA_IDENTIFIER)
    return bytes(b.Output())


def populate(model: bytes, metadata: bytes, files: dict[str, bytes]) -> bytes:
    """The model with `metadata` stored as TFLITE_METADATA and `files` zipped onto its end.

    Existing TFLITE_METADATA and packed files are replaced (populating twice gives the same bytes).
    """
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    flat = strip_associated_files(model)
    obj = flatbuffer_utils.read_model_from_bytearray(bytearray(flat))
    existing = [m for m in (obj.metadata or []) if _name(m.name) == TFLITE_METADATA_KEY]
    if existing:  # re-populating: overwrite the old metadata buffer in place
        obj.buffers[existing[0].buffer].data = list(metadata)
    else:
        buf = schema.BufferT()
        buf.data = list(metadata)
        obj.buffers.append(buf)
        entry = schema.MetadataT()
        entry.name = TFLITE_METADATA_KEY
        entry.buffer = len(obj.buffers) - 1
        obj.metadata = list(obj.metadata or []) + [entry]
    out = bytes(flatbuffer_utils.convert_object_to_bytearray(obj))
    if files:
        stream = io.BytesIO(out)
        stream.seek(0, io.SEEK_END)
        # Stored, not deflated: the Android extractor maps packed files straight from the model.
        with zipfile.ZipFile(stream, "a", compression=zipfile.ZIP_STORED) as z:
            for name, data in files.items():
                z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
        out = stream.getvalue()
    return out


def _name(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value or "")


def strip_associated_files(model: bytes) -> bytes:
    """The model bytes without a trailing zip of associated files (if one is there)."""
    files = _zip_span(model)
    return model if files is None else model[:files]


def _zip_span(model: bytes) -> int | None:
    """Where an appended zip archive starts inside the model bytes, or None."""
    try:
        with zipfile.ZipFile(io.BytesIO(model)) as z:
            infos = z.infolist()
            if not infos:
                return None
            # zipfile has already shifted header offsets by the bytes before the archive.
            return min(i.header_offset for i in infos)
    except zipfile.BadZipFile:
        return None


# ---------------------------------------------------------------- reading


class MetadataReadError(ModelError):
    pass


class _Reader:
    def __init__(self, buf: bytes):
        self.buf = bytearray(buf)

    def table(self, pos: int) -> Table:
        return Table(self.buf, pos)

    def _off(self, t: Table, slot: int) -> int:
        return t.Offset(4 + 2 * slot)

    def string(self, t: Table, slot: int) -> str | None:
        o = self._off(t, slot)
        return t.String(o + t.Pos).decode("utf-8") if o else None

    def scalar(self, t: Table, slot: int, flags, default=0):
        o = self._off(t, slot)
        return t.Get(flags, o + t.Pos) if o else default

    def sub(self, t: Table, slot: int) -> Table | None:
        o = self._off(t, slot)
        return self.table(t.Indirect(o + t.Pos)) if o else None

    def tables(self, t: Table, slot: int) -> list[Table]:
        o = self._off(t, slot)
        if not o:
            return []
        start, n = t.Vector(o), t.VectorLen(o)
        return [self.table(t.Indirect(start + 4 * i)) for i in range(n)]

    def floats(self, t: Table, slot: int) -> list[float]:
        o = self._off(t, slot)
        if not o:
            return []
        start, n = t.Vector(o), t.VectorLen(o)
        return [float(t.Get(N.Float32Flags, start + 4 * i)) for i in range(n)]


def parse_metadata(metadata: bytes) -> dict[str, Any]:
    """The ModelMetadata flatbuffer -> a dict (the fields this project writes)."""
    if len(metadata) < 8 or metadata[4:8] != METADATA_IDENTIFIER:
        raise MetadataReadError("TFLITE_METADATA buffer lacks the M001 file identifier")
    r = _Reader(metadata)
    root = r.table(flatbuffers.encode.Get(N.UOffsetTFlags.packer_type, r.buf, 0))

    def files(t: Table, slot: int) -> list[dict[str, Any]]:
        return [
            {
                "name": r.string(f, 0),
                "description": r.string(f, 1),
                "type": r.scalar(f, 2, N.Int8Flags),
            }
            for f in r.tables(t, slot)
        ]

    def tensor(t: Table) -> dict[str, Any]:
        d: dict[str, Any] = {"name": r.string(t, 0), "description": r.string(t, 1)}
        content = r.sub(t, 3)
        if content is not None:
            kind = r.scalar(content, 0, N.Uint8Flags)
            props = r.sub(content, 1)
            d["content_type"] = {
                1: "FeatureProperties",
                2: "ImageProperties",
                3: "BoundingBoxProperties",
            }.get(kind, kind)
            if kind == CONTENT_IMAGE_PROPERTIES and props is not None:
                size = r.sub(props, 1)
                d["image"] = {
                    "color_space": {0: "UNKNOWN", 1: "RGB", 2: "GRAYSCALE"}.get(
                        r.scalar(props, 0, N.Int8Flags)
                    ),
                    "width": r.scalar(size, 0, N.Uint32Flags) if size else None,
                    "height": r.scalar(size, 1, N.Uint32Flags) if size else None,
                }
        units = []
        for u in r.tables(t, 4):
            kind = r.scalar(u, 0, N.Uint8Flags)
            opts = r.sub(u, 1)
            if kind == PROCESS_UNIT_NORMALIZATION and opts is not None:
                units.append(
                    {"normalization": {"mean": r.floats(opts, 0), "std": r.floats(opts, 1)}}
                )
            else:
                units.append({"type": kind})
        d["process_units"] = units
        stats = r.sub(t, 5)
        if stats is not None:
            d["stats"] = {"max": r.floats(stats, 0), "min": r.floats(stats, 1)}
        d["associated_files"] = files(t, 6)
        return d

    subgraphs = []
    for sg in r.tables(root, 3):
        subgraphs.append(
            {
                "inputs": [tensor(t) for t in r.tables(sg, 2)],
                "outputs": [tensor(t) for t in r.tables(sg, 3)],
            }
        )
    return {
        "name": r.string(root, 0),
        "description": r.string(root, 1),
        "version": r.string(root, 2),
        "subgraphs": subgraphs,
        "author": r.string(root, 4),
        "license": r.string(root, 5),
        "associated_files": files(root, 6),
        "min_parser_version": r.string(root, 7),
    }


def read_metadata(model: bytes) -> dict[str, Any]:
    """The TFLITE_METADATA of a .tflite as a dict; MetadataReadError when there is none."""
    buffers = metadata_buffers(model)
    if TFLITE_METADATA_KEY not in buffers:
        raise MetadataReadError(f"model has no {TFLITE_METADATA_KEY} entry")
    return parse_metadata(buffers[TFLITE_METADATA_KEY])


def read_associated_files(model: bytes) -> dict[str, bytes]:
    """The files zipped onto the end of the model (name -> bytes)."""
    try:
        with zipfile.ZipFile(io.BytesIO(model)) as z:
            return {i.filename: z.read(i) for i in z.infolist()}
    except zipfile.BadZipFile:
        return {}
