"""The int8/uint8 input table gives, for every uint8 level, the code TFLite's own QUANTIZE op
gives the normalised pixel. Checked against the interpreter itself: a one-op model
(float32 -> QUANTIZE -> int8/uint8) written with LiteRT's flatbuffer schema, no TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.bundle import load_bundle
from edge_runtime.detector import Detector, input_table, quantize
from edge_runtime.preprocess import normalize
from edge_runtime.types import DetectorOptions, PreprocessSpec

pytest.importorskip("ai_edge_litert", reason="needs ai-edge-litert (its flatbuffer schema)")
pytest.importorskip("flatbuffers", reason="needs flatbuffers (ai-edge-litert's)")
from ai_edge_litert.interpreter import OpResolverType

from benchmarks.quantize_op import tflite_quantize as interpreter_codes


def _detail(scale, zero_point, dtype) -> dict:
    return {"dtype": dtype, "quantization": (scale, zero_point)}


SHIPPED_INT8 = load_bundle("int8")
_shipped_in = Detector(DetectorOptions(model="int8", num_threads=1))._in

CASES = {
    # The shipped int8 model's input: MobileNet scaling puts every pixel on a rounding tie.
    "shipped-int8": (SHIPPED_INT8.info.preprocess, *_shipped_in["quantization"], np.int8),
    "int8-generic": (PreprocessSpec(mean=127.5, std=127.5), 0.0081, 3, np.int8),
    "int8-imagenet-ish": (PreprocessSpec(mean=120.0, std=58.0), 0.0213, -10, np.int8),
    "uint8-mobilenet": (PreprocessSpec(mean=127.5, std=127.5), 1 / 127.5, 128, np.uint8),
    # A uint8 model with normalisation in the graph takes the pixel itself.
    "uint8-identity": (PreprocessSpec(mean=0.0, std=1.0), 1.0, 0, np.uint8),
    "int8-saturating": (PreprocessSpec(mean=0.0, std=1.0), 1.0, -128, np.int8),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize(
    "resolver", [None, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES], ids=["xnnpack", "builtin"]
)
def test_table_matches_tflite_quantize_on_every_level(case, resolver):
    spec, scale, zero_point, dtype = CASES[case]
    table = input_table(spec, _detail(scale, zero_point, dtype))
    assert table is not None and table.shape == (256,) and table.dtype == dtype
    levels = normalize(np.arange(256, dtype=np.uint8), spec)
    expected = interpreter_codes(scale, zero_point, dtype, levels, resolver)
    mismatches = np.flatnonzero(table != expected)
    assert mismatches.size == 0, f"{case}: levels {mismatches[:10]} differ from TFLite's QUANTIZE"


def test_shipped_model_gets_the_interpreter_codes_and_numpy_rounding_did_not():
    spec, scale, zero_point, dtype = CASES["shipped-int8"]
    levels = normalize(np.arange(256, dtype=np.uint8), spec)
    expected = interpreter_codes(scale, zero_point, dtype, levels)
    det = Detector(DetectorOptions(model="int8", num_threads=1))
    np.testing.assert_array_equal(det._table, expected)
    # The old rule (numpy round-half-to-even of x / scale + zero) is the bug this replaces.
    old = np.clip(np.round(levels / np.float32(scale) + zero_point), -128, 127).astype(np.int8)
    assert (old != expected).sum() > 50


def test_image_lookup_equals_quantize_of_normalize():
    det = Detector(DetectorOptions(model="int8", num_threads=1))
    pixels = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    by_table = det.input_tensor(pixels)
    by_float = quantize(normalize(pixels, det.spec), det._in).reshape(by_table.shape)
    np.testing.assert_array_equal(by_table, by_float)
    assert by_table.dtype == np.int8 and by_table.shape == (1, 224, 224, 3)


def test_float_input_has_no_table():
    assert input_table(PreprocessSpec(), {"dtype": np.float32, "quantization": (0.0, 0)}) is None
