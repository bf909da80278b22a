"""Golden test of the shipped model: P(fake) of each packaged sample photo, with a tolerance.

As in the tensorflow/examples Raspberry Pi classifier tests: the installed package, run as a
user would (`Detector` with the default int8 bundle, whole image), must give these answers on
any machine. The tolerance covers int8 rounding differences between CPUs and XNNPACK kernels
(one output quantization step is 1/256 = 0.004); a changed model, preprocessing or input
quantization moves them further. Values from the 2-core x86_64 dev machine, ai_edge_litert 2.3.0.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_runtime import Detector, DetectorOptions
from edge_runtime.registry import DEFAULT_MODEL, PACKAGE_MODELS, filename

SAMPLES = Path(__file__).resolve().parent.parent / "edge_runtime" / "samples"
GOLDEN_INT8 = {  # file -> (P(fake), label); both are real NASA photos
    "astronaut_face.jpg": (0.246094, "real"),
    "astronaut_portrait.jpg": (0.148438, "real"),
}
TOLERANCE = 0.02


@pytest.fixture(scope="module")
def shipped_int8():
    model = PACKAGE_MODELS / filename(DEFAULT_MODEL)
    assert model.is_file(), f"the shipped int8 model is missing: {model}"
    return Detector(DetectorOptions(model=str(model), num_threads=1))


@pytest.mark.parametrize("name", sorted(GOLDEN_INT8))
def test_shipped_int8_on_the_sample_photos(shipped_int8, name):
    expected_p, expected_label = GOLDEN_INT8[name]
    result = shipped_int8.detect(SAMPLES / name)
    assert result.fake_probability == pytest.approx(expected_p, abs=TOLERANCE)
    assert result.label == expected_label


def test_every_sample_has_a_golden_value():
    assert sorted(p.name for p in SAMPLES.glob("*.jpg")) == sorted(GOLDEN_INT8)
