"""Tiny real Keras models built by the project's own code, and the committed test fixtures.

The runtime, CLI and benchmark tests use the committed copies in tests/fixtures/tiny/ (a
runtime-only install, e.g. a Raspberry Pi, has no TensorFlow to build them). This module is how
they were made, and how CI proves they are current (needs the train extra):

    python -m tests.tiny_models write tests/fixtures/tiny    # rebuild the committed fixtures
    python -m tests.tiny_models check tests/fixtures/tiny    # rebuild in a temp dir and compare

TF conversion is not byte-for-byte reproducible, so `check` compares what the tests rely on:
each file's sidecar (sha256 aside), input/output tensors (dtype, shape, quantization), op list,
and the model's outputs on fixed inputs (within int8 quantization noise).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tiny"
SIZE = 32
# Besides the four variants of the tiny classifier (fp32): output kinds a bundle must declare,
# and a one-channel input the detector must refuse. name -> (head, input channels)
EXTRA_FIXTURES = {"logits": ("logits", 3), "sigmoid": ("sigmoid", 3), "gray": ("softmax", 1)}


def build_tiny_classifier(
    size: int = SIZE, seed: int = 0, head: str = "softmax", channels: int = 3
):
    """A small conv net with the detector's interface: named image input, 2-way softmax.

    head="logits": the same net without the softmax (2 raw scores); head="sigmoid": one
    sigmoid value (Keras' binary convention, P(real)). channels=1: a greyscale input.
    """
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, channels), name="image")
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inp)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    if head == "sigmoid":
        out = keras.layers.Dense(1, activation="sigmoid", name="probabilities")(x)
    else:
        activation = "softmax" if head == "softmax" else None
        out = keras.layers.Dense(2, activation=activation, name="probabilities")(x)
    return keras.Model(inp, out, name="tiny_classifier")


def random_representative(size: int, n: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)

    def gen():
        for _ in range(n):
            yield [rng.uniform(-1, 1, (1, size, size, 3)).astype(np.float32)]

    return gen


def write_tiny_bundles(out_dir, size: int = SIZE) -> dict:
    """The four variants of a tiny classifier as edge_runtime bundles in out_dir (needs TF)."""
    from convert.tflite_export import keras_to_tflite
    from edge_runtime.bundle import save_bundle
    from edge_runtime.types import VARIANTS, BundleInfo, PreprocessSpec

    out_dir = Path(out_dir)
    model = build_tiny_classifier(size=size)
    paths = {}
    for variant in VARIANTS:
        content = keras_to_tflite(model, variant, random_representative(size))
        info = BundleInfo(
            variant=variant,
            preprocess=PreprocessSpec(height=size, width=size),
            training_run="tests/tiny_models.py",
        )
        paths[variant] = save_bundle(content, info, out_dir / f"tiny_{variant}.tflite").path
    return paths


def write_fixtures(out_dir=FIXTURES, size: int = SIZE) -> dict:
    """Everything in tests/fixtures/tiny: the four variants, plus fp32 models whose output is
    logits or one sigmoid value (each sidecar declares it) and one with a greyscale input
    (needs TF)."""
    from convert.tflite_export import keras_to_tflite
    from edge_runtime.bundle import save_bundle
    from edge_runtime.types import BundleInfo, PreprocessSpec

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = write_tiny_bundles(out_dir, size)
    for name, (head, channels) in EXTRA_FIXTURES.items():
        model = build_tiny_classifier(size=size, head=head, channels=channels)
        info = BundleInfo(
            variant="fp32",
            preprocess=PreprocessSpec(height=size, width=size),
            output=head,
            training_run="tests/tiny_models.py",
        )
        content = keras_to_tflite(model, "fp32")
        paths[name] = save_bundle(content, info, out_dir / f"tiny_{name}.tflite").path
    return paths


def fixture_paths(folder=FIXTURES) -> dict[str, Path]:
    """name (fp32, fp16, dynamic, int8, logits, sigmoid, gray) -> committed .tflite path."""
    from edge_runtime.types import VARIANTS

    return {name: Path(folder) / f"tiny_{name}.tflite" for name in (*VARIANTS, *EXTRA_FIXTURES)}


def probe_inputs(size: int = SIZE, n: int = 4, channels: int = 3) -> np.ndarray:
    """Fixed normalised inputs the check runs every fixture on."""
    rng = np.random.default_rng(1234)
    return rng.uniform(-1, 1, (n, 1, size, size, channels)).astype(np.float32)


def describe_fixture(path: Path) -> dict:
    """What the tests rely on in one fixture: sidecar, tensors, ops, outputs on probe inputs."""
    from edge_runtime.bundle import sidecar_path
    from edge_runtime.detector import dequantize, quantize
    from edge_runtime.inspect_model import read_model_facts
    from edge_runtime.interpreter import load_backend, make_interpreter

    content = Path(path).read_bytes()
    sidecar = json.loads(sidecar_path(path).read_text("utf-8"))
    sidecar.pop("sha256", None)
    facts = read_model_facts(content, str(path))
    interp = make_interpreter(content, 1, load_backend("ai_edge_litert"), str(path))
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    outputs = []
    for x in probe_inputs(int(inp["shape"][1]), channels=int(inp["shape"][3])):
        interp.set_tensor(inp["index"], quantize(x, inp))
        interp.invoke()
        outputs.append(dequantize(interp.get_tensor(out["index"]), out).reshape(-1).tolist())
    return {
        "sidecar": sidecar,
        "inputs": facts["inputs"],
        "outputs": facts["outputs"],
        "ops": sorted(facts["ops"]),
        "values": outputs,
    }


def compare_fixtures(committed=FIXTURES, rebuilt=None, atol: float = 0.02) -> list[str]:
    """Differences between the committed fixtures and a fresh build (empty list: current)."""
    problems = []
    for name, path in fixture_paths(committed).items():
        fresh = fixture_paths(rebuilt)[name]
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        a, b = describe_fixture(path), describe_fixture(fresh)
        for key in ("sidecar", "inputs", "ops"):
            if a[key] != b[key]:
                problems.append(f"{path.name}: {key} differs: committed {a[key]} vs built {b[key]}")
        # Tensor names and quantization of outputs can move by a rounding step between builds.
        if [(t["dtype"], t["shape"]) for t in a["outputs"]] != [
            (t["dtype"], t["shape"]) for t in b["outputs"]
        ]:
            problems.append(f"{path.name}: outputs differ: {a['outputs']} vs {b['outputs']}")
        diff = np.max(np.abs(np.array(a["values"]) - np.array(b["values"])))
        if not diff <= atol:
            problems.append(f"{path.name}: outputs on the probe inputs differ by {diff:.4f}")
    return problems


def main(argv: list[str] | None = None) -> int:
    from edge_runtime.console import ArgumentParser

    parser = ArgumentParser(prog="python -m tests.tiny_models", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("write", "check"))
    parser.add_argument("folder", nargs="?", default=str(FIXTURES))
    args = parser.parse_args(argv)
    if args.action == "write":
        for path in write_fixtures(args.folder).values():
            print(path)
        return 0
    with tempfile.TemporaryDirectory(prefix="tiny_fixtures_") as tmp:
        write_fixtures(tmp)
        problems = compare_fixtures(Path(args.folder), Path(tmp))
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(
            "the committed fixtures are stale: python -m tests.tiny_models write", file=sys.stderr
        )
        return 1
    print(f"{len(fixture_paths())} fixtures in {args.folder} are current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
