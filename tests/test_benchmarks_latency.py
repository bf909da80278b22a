"""pytest-benchmark suite: per-image latency of each model variant.

CI runs it with --benchmark-disable (pyproject addopts), so each function runs once as a test.
Measure for real with:
    pytest tests/test_benchmarks_latency.py --benchmark-enable \\
        --benchmark-columns=min,median,mean,max
The tiny variants always run (built by the tiny_bundles fixture); the real bundled variants are
added when edge_runtime finds them (edge_runtime/models, models/).
"""

from __future__ import annotations

import pytest

from benchmarks.data import synthetic_jpeg
from edge_runtime.detector import Detector, quantize
from edge_runtime.preprocess import load_resized, normalize
from edge_runtime.registry import available_variants
from edge_runtime.types import VARIANTS, DetectorOptions

REAL_VARIANTS = available_variants()
THREADS = 1  # one thread: comparable across machines and runs


@pytest.fixture(scope="module")
def face_jpeg(tmp_path_factory):
    return synthetic_jpeg(tmp_path_factory.mktemp("latency") / "face.jpg", size=256)


def _detector(path) -> Detector:
    return Detector(DetectorOptions(model=str(path), num_threads=THREADS))


def _set_input(det: Detector, image) -> None:
    x = normalize(load_resized(image, det.spec), det.spec)
    det.interpreter.set_tensor(det._in["index"], quantize(x.reshape(det._in["shape"]), det._in))


@pytest.mark.parametrize("variant", VARIANTS)
def test_tiny_invoke_latency(benchmark, tiny_bundles, face_jpeg, variant):
    det = _detector(tiny_bundles[variant])
    _set_input(det, face_jpeg)
    benchmark.group = "tiny invoke"
    benchmark(det.interpreter.invoke)
    assert det.fake_probability(normalize(load_resized(face_jpeg, det.spec), det.spec)) >= 0


@pytest.mark.parametrize("variant", VARIANTS)
def test_tiny_end_to_end_latency(benchmark, tiny_bundles, face_jpeg, variant):
    det = _detector(tiny_bundles[variant])
    benchmark.group = "tiny end-to-end"
    result = benchmark(det.detect, face_jpeg)
    assert result.label in ("fake", "real")


@pytest.mark.parametrize("variant", sorted(REAL_VARIANTS) or ["none"])
def test_real_variant_end_to_end_latency(benchmark, face_jpeg, variant):
    if variant == "none":
        pytest.skip("no bundled model variants in edge_runtime/models or models/ yet")
    det = _detector(REAL_VARIANTS[variant])
    benchmark.group = "bundled end-to-end"
    result = benchmark(det.detect, face_jpeg)
    assert 0.0 <= result.fake_probability <= 1.0


@pytest.mark.parametrize("variant", sorted(REAL_VARIANTS) or ["none"])
def test_real_variant_invoke_latency(benchmark, face_jpeg, variant):
    if variant == "none":
        pytest.skip("no bundled model variants in edge_runtime/models or models/ yet")
    det = _detector(REAL_VARIANTS[variant])
    _set_input(det, face_jpeg)
    benchmark.group = "bundled invoke"
    benchmark(det.interpreter.invoke)
