"""Opt-in: the Android sample's preprocessing (Preprocessing.kt) against the Python runtime.

Compiles android_demo_assets/sample/.../Preprocessing.kt with tests/kotlin/PreprocessingCheck.kt
by `kotlinc` (Debian: apt-get install kotlin), runs it on a JVM on the same decoded pixels as
edge_runtime, and requires the same input tensor, byte for byte, for the committed assets' and
the bundles' specs (crop, Pillow's bilinear resize, normalisation, quantisation).
Skips when kotlinc or java is absent.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_runtime.bundle import load_bundle
from tests.conftest import REPO, SHARED_DATA, have_shared_data, sample_images

SAMPLE = REPO / "android_demo_assets" / "sample" / "app" / "src" / "main" / "java"
PREPROCESSING_KT = SAMPLE / "org" / "edgedetect" / "demo" / "Preprocessing.kt"
CHECK_KT = REPO / "tests" / "kotlin" / "PreprocessingCheck.kt"

pytestmark = pytest.mark.skipif(
    shutil.which("kotlinc") is None or shutil.which("java") is None,
    reason="needs kotlinc and java (Debian: apt-get install kotlin); "
    "android_demo_assets/README.md says how to run this check",
)


@pytest.fixture(scope="module")
def check_jar(tmp_path_factory) -> Path:
    jar = tmp_path_factory.mktemp("kotlin") / "check.jar"
    proc = subprocess.run(
        ["kotlinc", str(PREPROCESSING_KT), str(CHECK_KT), "-include-runtime", "-d", str(jar)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0 and jar.is_file(), proc.stderr
    return jar


def _images() -> list[tuple[str, np.ndarray]]:
    """Decoded, upright RGB pixels (edge_runtime.preprocess.load_image), several sizes/shapes."""
    from edge_runtime.preprocess import load_image

    rng = np.random.default_rng(7)
    out = [
        ("noise 97x151", rng.integers(0, 256, (151, 97, 3), dtype=np.uint8)),
        ("noise 256x256", rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)),
        ("noise 37x40", rng.integers(0, 256, (40, 37, 3), dtype=np.uint8)),
    ]
    if have_shared_data():
        faces = sample_images("test", "real", 1) + sample_images("test", "fake", 1)
        faces += sorted((SHARED_DATA / "utkface_200" / "real").glob("*.jpg"))[:1]
        faces += sorted((SHARED_DATA / "unsplash_tpdne_300" / "real").glob("*.jpg"))[:1]
        for face in faces:
            pixels = np.asarray(load_image(face))
            out.append((face.name, pixels))
            h, w = pixels.shape[:2]
            out.append((f"{face.name} non-square", pixels[h // 8 :, : w - w // 5]))
    return out


def _kotlin_tensors(jar: Path, tmp: Path, images, spec, tensor) -> bytes:
    blob = tmp / "images.bin"
    with blob.open("wb") as f:
        f.write(struct.pack(">i", len(images)))
        for _, pixels in images:
            h, w = pixels.shape[:2]
            f.write(struct.pack(">ii", w, h))
            f.write(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())
    out = tmp / "tensors.bin"
    scale, zero = tensor["quantization"]
    kind = {np.float32: "FLOAT32", np.uint8: "UINT8", np.int8: "INT8"}[
        np.dtype(tensor["dtype"]).type
    ]
    args = [spec.height, spec.width, spec.resize, spec.crop, repr(float(spec.crop_fraction))]
    args += [repr(float(spec.mean)), repr(float(spec.std)), kind, repr(float(scale)), int(zero)]
    proc = subprocess.run(
        ["java", "-jar", str(jar), str(blob), str(out), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return out.read_bytes()


def _models() -> dict[str, Path]:
    """The committed Android assets (client spec) and their source bundles (0.875 crop)."""
    assets = REPO / "android_demo_assets"
    provenance = json.loads((assets / "assets.json").read_text())
    models = {}
    for kind, entry in provenance.items():
        models[f"asset {kind}"] = assets / entry["asset"]
        models[f"bundle {kind}"] = REPO / entry["source_bundle"]
    return models


@pytest.mark.parametrize("model", sorted(_models()))
def test_kotlin_preprocessing_equals_the_runtime(check_jar, tmp_path, model):
    from edge_runtime import Detector, DetectorOptions
    from edge_runtime.preprocess import resize

    det = Detector(DetectorOptions(model=str(_models()[model]), num_threads=1))
    assert load_bundle(_models()[model]).has_metadata  # the spec comes from the sidecar
    tensor = det.interpreter.get_input_details()[0]
    images = _images()
    got = _kotlin_tensors(check_jar, tmp_path, images, det.spec, tensor)
    expected = [det.input_tensor(resize(Image.fromarray(p), det.spec)) for _, p in images]
    size = expected[0].nbytes
    assert len(got) == size * len(images)
    for i, ((name, _), want) in enumerate(zip(images, expected)):
        kotlin = np.frombuffer(got[i * size : (i + 1) * size], dtype=want.dtype).reshape(want.shape)
        diff = int(np.count_nonzero(kotlin != want))
        assert diff == 0, f"{model}, {name}: {diff} of {want.size} input values differ"
