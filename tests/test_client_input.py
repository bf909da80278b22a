"""convert/client_input.py: raw uint8 pixels in, centre crop and normalisation inside the model.

On the committed tiny models (no TensorFlow): the edited model, run by edge_runtime with the
client spec, must give exactly the source bundle's output on images of the client input size.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edge_runtime.bundle import ModelBundle, load_bundle
from edge_runtime.types import ModelError, PreprocessSpec

CROPPED = PreprocessSpec(height=32, width=32, crop="center", crop_fraction=0.875)


def _with_spec(path, spec: PreprocessSpec) -> ModelBundle:
    """The tiny bundle as if it had been trained with `spec` (the spec is only its sidecar)."""
    bundle = load_bundle(path)
    return replace(bundle, info=replace(bundle.info, preprocess=spec))


def _client_bundle(source: ModelBundle) -> ModelBundle:
    from convert.client_input import add_client_input, client_spec

    content = add_client_input(source.content, source.info.preprocess)
    info = replace(source.info, preprocess=client_spec(source.info.preprocess))
    return ModelBundle(path=source.path.with_name("client.tflite"), content=content, info=info)


def _detector(bundle: ModelBundle):
    from edge_runtime import Detector, DetectorOptions

    return Detector(DetectorOptions(num_threads=1), bundle=bundle)


def test_crop_plan_places_the_runtime_crop():
    from convert.client_input import client_spec, crop_plan

    shipped = PreprocessSpec(crop="center", crop_fraction=0.875)
    assert crop_plan(shipped).client_size == 256
    assert (crop_plan(shipped).offset, crop_plan(shipped).size) == (16, 224)
    assert (crop_plan(CROPPED).client_size, crop_plan(CROPPED).offset) == (37, 2)
    assert crop_plan(PreprocessSpec(height=32, width=32)).client_size == 32  # no crop: same size
    spec = client_spec(shipped)
    assert (spec.height, spec.width, spec.crop, spec.crop_fraction) == (256, 256, "center", 1.0)
    assert (spec.mean, spec.std, spec.resize) == (0.0, 1.0, "bilinear")
    with pytest.raises(ModelError, match="square"):
        crop_plan(PreprocessSpec(height=32, width=40))


@pytest.mark.parametrize("variant", ["int8", "fp32"])
@pytest.mark.parametrize(
    "spec", [CROPPED, PreprocessSpec(height=32, width=32)], ids=["crop", "none"]
)
def test_client_model_gives_the_source_answers(tiny_bundles, variant, spec):
    source = _with_spec(tiny_bundles[variant], spec)
    client = _client_bundle(source)
    src, dst = _detector(source), _detector(client)
    size = client.info.preprocess.height
    assert dst.input_dtype == np.uint8
    detail = dst.interpreter.get_input_details()[0]
    assert list(detail["shape"]) == [1, size, size, 3] and detail["quantization"] == (1.0, 0)
    assert dst.interpreter.get_output_details()[0]["dtype"] == np.float32
    rng = np.random.default_rng(1)
    # Exact on images of the client input size: the same pixels reach the same network.
    for _ in range(5):
        img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        assert dst.detect(img).fake_probability == src.detect(img).fake_probability
    # Other sizes: resize-then-crop instead of crop-then-resize; close, not identical.
    img = rng.integers(0, 256, (61, 83, 3), dtype=np.uint8)
    assert abs(dst.detect(img).fake_probability - src.detect(img).fake_probability) < 0.2


def test_table_is_the_runtime_input_step(tiny_bundles):
    """The in-graph table equals edge_runtime's own pixel -> input tensor step, per pixel value."""
    from convert.client_input import pixel_table
    from edge_runtime.detector import quantize
    from edge_runtime.preprocess import normalize

    src = _detector(load_bundle(tiny_bundles["int8"]))
    scale, zero = src.interpreter.get_input_details()[0]["quantization"]
    levels = np.arange(256, dtype=np.uint8)
    table = pixel_table(CROPPED, np.int8, scale, zero)
    detail = {"dtype": np.int8, "quantization": (scale, zero)}
    np.testing.assert_array_equal(table, quantize(normalize(levels, CROPPED), detail))
    image = np.resize(levels, (32, 32, 3))  # every pixel value, through the Detector's own step
    np.testing.assert_array_equal(table[image], src.input_tensor(image)[0])
    np.testing.assert_array_equal(
        pixel_table(CROPPED, np.float32, 0, 0), normalize(levels, CROPPED)
    )


def test_edited_model_structure(tiny_bundles):
    from convert.client_input import add_client_input
    from edge_runtime.inspect_model import read_model_facts

    for variant in ("int8", "fp32"):
        source = _with_spec(tiny_bundles[variant], CROPPED)
        content = add_client_input(source.content, CROPPED)
        facts = read_model_facts(content)
        assert {"SLICE", "CAST", "GATHER"} <= set(facts["ops"])
        assert ("DEQUANTIZE" in facts["ops"]) == (variant == "int8")
        assert facts["inputs"][0]["name"] == "image" and facts["inputs"][0]["dtype"] == "uint8"
        assert facts["outputs"][0]["dtype"] == "float32"
        with pytest.raises(ModelError, match="already takes client input"):
            add_client_input(content, CROPPED)


def test_wrong_spec_is_refused(tiny_bundles):
    from convert.client_input import add_client_input

    content = load_bundle(tiny_bundles["int8"]).content
    with pytest.raises(ModelError, match="does not match its spec"):
        add_client_input(content, PreprocessSpec(height=64, width=64))
