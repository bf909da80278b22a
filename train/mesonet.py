"""MesoNet (Afchar et al., WIFS 2018), a published peer: Meso4 and MesoInception4 in Keras 3.

`python -m train.mesonet --out DIR [--arch meso4|mesoinception4] [--weights DF|F2F]` builds the
network from the paper / the authors' classifiers.py, loads their .h5 weights (DariusAf/MesoNet,
Apache-2.0; ../shared/weights/mesonet, README there) and writes a run folder that
`python -m convert DIR` turns into bundles:

- `model.keras`: input `image` 256x256x3, output one sigmoid = P(real): the authors' training
  folders sorted `df` (0) before `real` (1), which is the runtime's label order (fake, real),
  so the bundle declares `"output": "sigmoid"` (edge_runtime/bundle.py) and P(fake) = 1 - it;
- `config.json`: the PreprocessSpec of the authors' example.py (RGB, nearest-neighbour resize
  of the whole image to 256x256, pixel / 255 = mean 0, std 255), so the runtime's own
  preprocessing feeds it as the authors did.

The .h5 files hold weights only, named by Keras 2's per-type counters (conv2d_5, ...) in the
order the layers were created. Here each layer is named by the same kind of counter, starting
at 1 in creation order, and the file's layers of a type, sorted by their number, are assigned
in that order: every weight's shape is checked (Keras' set_weights), so a mismatch is an error.
"""

from __future__ import annotations

import logging
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from edge_runtime.console import ArgumentParser, setup_logging, usage_error
from edge_runtime.types import EdgeDetectError, ModelError, PreprocessSpec
from workbench.paths import SHARED_WEIGHTS
from workbench.run_folder import CONFIG_FILE, MODEL_FILE, RunFolder

log = logging.getLogger(__name__).info

PROG = "python -m train.mesonet"
WEIGHTS_DIR = SHARED_WEIGHTS / "mesonet"
INPUT_NAME = "image"
IMAGE_SIZE = 256
# The authors' example.py: ImageDataGenerator(rescale=1/255), load_img's nearest resize.
PREPROCESS = PreprocessSpec(
    height=IMAGE_SIZE, width=IMAGE_SIZE, resize="nearest", crop="none", mean=0.0, std=255.0
)
ARCHES = ("meso4", "mesoinception4")
TRAINED_ON = {"DF": "Deepfake face-swap video faces", "F2F": "Face2Face reenactment video faces"}
WEIGHT_FILES = {"meso4": "Meso4_{}.h5", "mesoinception4": "MesoInception_{}.h5"}
# Trainable parameters the README states (a check that the architecture is the published one).
TRAINABLE_PARAMS = {"meso4": 27_977, "mesoinception4": 28_615}
CITATION = (
    "Afchar, Nozick, Yamagishi, Echizen: MesoNet: a Compact Facial Video Forgery Detection "
    "Network, IEEE WIFS 2018 (github.com/DariusAf/MesoNet, Apache-2.0)"
)


class _Namer:
    """Keras 2's layer names: one counter per layer type, from 1, in creation order."""

    def __init__(self):
        self.counts: dict[str, int] = defaultdict(int)

    def __call__(self, kind: str) -> str:
        self.counts[kind] += 1
        return f"{kind}_{self.counts[kind]}"


def _conv(keras, name: _Namer, filters: int, size: int, dilation: int = 1):
    return keras.layers.Conv2D(
        filters,
        size,
        padding="same",
        dilation_rate=dilation,
        activation="relu",
        name=name("conv2d"),
    )


def _block(keras, name: _Namer, x, pool: int):
    """BatchNormalization then max pooling, after every feature stage."""
    x = keras.layers.BatchNormalization(name=name("batch_normalization"))(x)
    return keras.layers.MaxPooling2D(pool, padding="same", name=name("max_pooling2d"))(x)


def _inception(keras, name: _Namer, x, a: int, b: int, c: int, d: int):
    """The paper's inception module: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 dilated 2 | 1x1 -> 3x3
    dilated 3, concatenated (a + b + c + d channels). Created in the authors' order."""
    x1 = _conv(keras, name, a, 1)(x)
    x2 = _conv(keras, name, b, 1)(x)
    x2 = _conv(keras, name, b, 3)(x2)
    x3 = _conv(keras, name, c, 1)(x)
    x3 = _conv(keras, name, c, 3, dilation=2)(x3)
    x4 = _conv(keras, name, d, 1)(x)
    x4 = _conv(keras, name, d, 3, dilation=3)(x4)
    return keras.layers.Concatenate(axis=-1, name=name("concatenate"))([x1, x2, x3, x4])


def build(arch: str):
    """The untrained network (Keras 3 functional model, input `image`, one sigmoid P(real))."""
    import keras

    if arch not in ARCHES:
        raise ValueError(f"unknown MesoNet architecture {arch!r}; one of {', '.join(ARCHES)}")
    name = _Namer()
    inp = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name=INPUT_NAME)
    if arch == "meso4":
        x = _block(keras, name, _conv(keras, name, 8, 3)(inp), 2)
        x = _block(keras, name, _conv(keras, name, 8, 5)(x), 2)
    else:
        x = _block(keras, name, _inception(keras, name, inp, 1, 4, 4, 2), 2)
        x = _block(keras, name, _inception(keras, name, x, 2, 4, 4, 2), 2)
    x = _block(keras, name, _conv(keras, name, 16, 5)(x), 2)
    x = _block(keras, name, _conv(keras, name, 16, 5)(x), 4)
    y = keras.layers.Flatten(name=name("flatten"))(x)
    y = keras.layers.Dropout(0.5, name=name("dropout"))(y)
    y = keras.layers.Dense(16, name=name("dense"))(y)
    # Leaky ReLU (slope 0.1), as the authors' classifiers.py. Meso4's .h5 lists no leaky_re_lu
    # layer (it holds no weights), yet the README's outputs are reproduced only with it (without:
    # P(fake) 0.988, 0.988, 0.000, 0.000 instead of 0.959, 0.951, 0.010, 0.002).
    y = keras.layers.LeakyReLU(negative_slope=0.1, name=name("leaky_re_lu"))(y)
    y = keras.layers.Dropout(0.5, name=name("dropout"))(y)
    out = keras.layers.Dense(1, activation="sigmoid", name=name("dense"))(y)
    return keras.Model(inp, out, name=arch)


_COUNTED = re.compile(r"^(?P<kind>[a-z0-9_]+?)_(?P<n>\d+)$")


def _file_layers(h5) -> dict[str, list[tuple[str, list]]]:
    """The .h5's weighted layers per type, in creation order: {kind: [(name, [arrays])]}."""
    group = h5["model_weights"] if "model_weights" in h5 else h5
    by_kind: dict[str, list[tuple[int, str, list]]] = defaultdict(list)
    for raw in group.attrs["layer_names"]:
        layer = raw.decode() if isinstance(raw, bytes) else str(raw)
        names = [w.decode() if isinstance(w, bytes) else str(w) for w in group[layer].attrs[
            "weight_names"
        ]]  # fmt: skip
        if not names:
            continue
        m = _COUNTED.match(layer)
        if m is None:
            raise ModelError(f"unexpected layer name {layer!r} in the weight file")
        arrays = [group[layer][w][()] for w in names]
        by_kind[m["kind"]].append((int(m["n"]), layer, arrays))
    return {k: [(name, arrays) for _, name, arrays in sorted(v)] for k, v in by_kind.items()}


def load_weights(model, path: str | Path) -> None:
    """Assign the .h5's weights by layer type and creation order; any difference in the
    number of layers or in a weight's shape is a ModelError naming the file."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as h5:
            stored = _file_layers(h5)
    except (OSError, KeyError) as e:
        raise ModelError(f"{path}: not a readable Keras .h5 weight file ({e})") from None
    ours: dict[str, list] = defaultdict(list)
    # Keras 3 lists a functional model's layers in graph order, not creation order: sort.
    weighted = [layer for layer in model.layers if layer.weights]
    for layer in sorted(weighted, key=lambda la: int(_COUNTED.match(la.name)["n"])):
        ours[_COUNTED.match(layer.name)["kind"]].append(layer)
    if sorted(stored) != sorted(ours) or any(len(stored[k]) != len(ours[k]) for k in ours):
        got = {k: len(v) for k, v in stored.items()}
        want = {k: len(v) for k, v in ours.items()}
        raise ModelError(f"{path}: weighted layers {got} do not fit {model.name}'s {want}")
    for kind, layers in ours.items():
        for layer, (stored_name, arrays) in zip(layers, stored[kind]):
            try:
                layer.set_weights(arrays)
            except ValueError as e:
                first = str(e).splitlines()[0]
                raise ModelError(
                    f"{path}: {stored_name} does not fit {layer.name}: {first}"
                ) from None
            log(f"{layer.name} <- {stored_name} {[a.shape for a in arrays]}")


def weight_file(arch: str, trained_on: str, folder: Path = WEIGHTS_DIR) -> Path:
    return Path(folder) / WEIGHT_FILES[arch].format(trained_on)


def trainable_params(model) -> int:
    return int(sum(int(w.numpy().size) for w in model.trainable_weights))


def pretrained(arch: str, trained_on: str = "DF", folder: Path = WEIGHTS_DIR):
    """The published network with its weights, parameter count checked."""
    path = weight_file(arch, trained_on, folder)
    if not path.is_file():
        raise ModelError(f"{path}: no such weight file (MesoNet's weights: {WEIGHTS_DIR})")
    model = build(arch)
    n = trainable_params(model)
    if n != TRAINABLE_PARAMS[arch]:
        raise ModelError(
            f"{arch}: {n} trainable parameters, the paper's has {TRAINABLE_PARAMS[arch]}"
        )
    load_weights(model, path)
    return model


@dataclass(frozen=True)
class PeerRun:
    arch: str
    trained_on: str

    @property
    def name(self) -> str:
        """The run (and bundle stem) name: mesonet_meso4_df."""
        return f"mesonet_{self.arch}_{self.trained_on.lower()}"


def write_run(arch: str, trained_on: str, out: Path, folder: Path = WEIGHTS_DIR) -> RunFolder:
    """A run folder convert reads: model.keras + config.json (preprocessing, run name)."""
    model = pretrained(arch, trained_on, folder)
    peer = PeerRun(arch, trained_on)
    run = RunFolder(Path(out))
    run.path.mkdir(parents=True, exist_ok=True)
    tmp = run.file(f".{MODEL_FILE}.partial.keras")
    model.save(tmp)
    tmp.replace(run.model_path)  # a crash never leaves a half-written model.keras
    run.write_json(
        CONFIG_FILE,
        {
            "run_name": peer.name,
            "description": f"MesoNet {arch} (Afchar et al. 2018), the authors' {trained_on} "
            "weights, a published peer",
            "peer": "MesoNet",
            "arch": arch,
            "weights": str(weight_file(arch, trained_on, folder)),
            "trained_on": TRAINED_ON[trained_on],
            "output": "one sigmoid = P(real) (labels fake = 0, real = 1)",
            "preprocess": PREPROCESS.to_dict(),
            "citation": CITATION,
        },
    )
    return run


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog=PROG,
        description="Build MesoNet (Meso4 / MesoInception4) with the authors' weights and write "
        "a run folder (model.keras + config.json) for `python -m convert`.",
    )
    p.add_argument("--out", type=Path, required=True, help="run folder to write")
    p.add_argument("--arch", choices=ARCHES, default="meso4", help="(default: %(default)s)")
    p.add_argument(
        "--weights",
        choices=tuple(TRAINED_ON),
        default="DF",
        help="DF: trained on Deepfake face swaps; F2F: on Face2Face (default: %(default)s)",
    )
    p.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR, help="(default: %(default)s)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug messages on stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    if args.out.exists() and not args.out.is_dir():
        usage_error(PROG, f"{args.out}: exists and is not a folder")
    try:
        run = write_run(args.arch, args.weights, args.out, args.weights_dir)
    except EdgeDetectError as e:
        usage_error(PROG, str(e))
    print(f"wrote {run.model_path} and {run.file(CONFIG_FILE)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
