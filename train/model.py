"""The report's model: a Keras application base + GAP -> Dense(relu) -> Dense(2, softmax).

The base layers are called directly on the model's named Input `image`, so every base layer is
a layer of the model itself (Grad-CAM finds `conv_pw_13_relu` by name, the TFLite signature
keeps the input name) and the output layer is `probabilities` (index 0 = fake, 1 = real).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from .config import ALL_LAYERS, TrainConfig
from .errors import ConfigError, WeightsError
from .weights import ensure_imagenet_weights, missing_weights_message

log = logging.getLogger(__name__).info  # progress lines on stderr (console.setup_logging)

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"


@dataclass
class BuiltModel:
    model: object  # keras.Model
    base_layers: list  # every layer of the pretrained base (InputLayer excluded), in order
    trainable_base_layers: list


def _base(cfg: TrainConfig, inp, weights):
    import keras

    shape = (cfg.image_size, cfg.image_size, 3)
    with warnings.catch_warnings():
        # "input_shape is undefined or non-square, or rows is not in [128, ...]": weights of the
        # 224 model are loaded for other sizes, which is intended (recorded in config.json).
        warnings.simplefilter("ignore", UserWarning)
        if cfg.arch == "mobilenet":
            return keras.applications.MobileNet(
                input_shape=shape,
                input_tensor=inp,
                alpha=cfg.alpha,
                include_top=False,
                weights=weights,
            )
        if cfg.arch == "densenet121":
            return keras.applications.DenseNet121(
                input_shape=shape, input_tensor=inp, include_top=False, weights=weights
            )
    raise ConfigError(f"--arch: unknown {cfg.arch!r}")


def build_model(cfg: TrainConfig) -> BuiltModel:
    """Build (and set trainability of) the classifier for this recipe; seeds must be set before."""
    import keras

    weights = None
    if cfg.weights == "imagenet":
        if ensure_imagenet_weights(cfg.arch, cfg.alpha, cfg.image_size) is None:
            log(f"ImageNet weights for {cfg.arch} not cached; asking Keras to download them")
        weights = "imagenet"
    inp = keras.Input((cfg.image_size, cfg.image_size, 3), name=INPUT_NAME)
    try:
        base = _base(cfg, inp, weights)
    except ConfigError:
        raise
    except Exception as e:
        if weights is None:
            raise
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        reason = reason.split(" -- ")[-1]  # Keras: "URL fetch failure on <url>: None -- <why>"
        raise WeightsError(
            missing_weights_message(cfg.arch, cfg.alpha, cfg.image_size, reason)
        ) from None
    base_layers = [layer for layer in base.layers if layer.name != INPUT_NAME]
    x = keras.layers.GlobalAveragePooling2D(name="global_average_pooling")(base.output)
    x = keras.layers.Dense(cfg.dense_units, activation="relu", name="dense_hidden")(x)
    if cfg.dropout > 0:
        x = keras.layers.Dropout(cfg.dropout, name="dropout")(x)
    out = keras.layers.Dense(2, activation="softmax", name=OUTPUT_NAME)(x)
    model = keras.Model(inp, out, name=f"edge_detect_{cfg.arch}")

    n = len(base_layers) if cfg.trainable_layers == ALL_LAYERS else cfg.trainable_layers
    n = min(n, len(base_layers))
    trainable = base_layers[len(base_layers) - n :] if n > 0 else []
    trainable_ids = {id(layer) for layer in trainable}
    for layer in base_layers:
        layer.trainable = id(layer) in trainable_ids
        if cfg.freeze_batchnorm and isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False  # inference mode: ImageNet statistics, gamma/beta fixed
    return BuiltModel(model=model, base_layers=base_layers, trainable_base_layers=trainable)


def init_from_model(model, path: str | os.PathLike) -> int:
    """Copy the weights of every layer that `path`'s model has under the same name and with the
    same shapes (a warm start); returns how many layers were copied. A different head (other
    Dense sizes) keeps its fresh initialisation."""
    try:
        earlier = load_model(path)
    except Exception as e:  # noqa: BLE001 - corrupt or foreign file: one line, no traceback
        raise ConfigError(f"--init-from {path}: cannot load Keras model ({e})") from None
    source = {layer.name: layer for layer in earlier.layers}
    copied = 0
    for layer in model.layers:
        old = source.get(layer.name)
        if old is None or not layer.weights:
            continue
        new_w, old_w = layer.get_weights(), old.get_weights()
        if [w.shape for w in new_w] == [w.shape for w in old_w]:
            layer.set_weights(old_w)
            copied += 1
    if copied == 0:
        raise ConfigError(f"--init-from {path}: no layer matches this model by name and shape")
    return copied


def _scaled_update_step(cls):
    """An optimizer class whose update uses lr * multiplier for the chosen variables."""

    class Scaled(cls):
        def __init__(self, *args, lr_multiplier: float = 1.0, scaled_paths=(), **kwargs):
            super().__init__(*args, **kwargs)
            self.lr_multiplier = float(lr_multiplier)
            self.scaled_paths = frozenset(scaled_paths)

        def update_step(self, gradient, variable, learning_rate):
            # `variable` may be the backend's own variable; map it back to the Keras one.
            keras_var = self._trainable_variables[self._get_variable_index(variable)]
            if keras_var.path in self.scaled_paths:
                learning_rate = learning_rate * self.lr_multiplier
            return super().update_step(gradient, variable, learning_rate)

    Scaled.__name__ = f"LayerScaled{cls.__name__}"
    return Scaled


def make_optimizer(cfg: TrainConfig, built: BuiltModel):
    import keras

    if cfg.weight_decay > 0:
        cls, kwargs = keras.optimizers.AdamW, {"weight_decay": cfg.weight_decay}
    else:
        cls, kwargs = keras.optimizers.Adam, {}
    if cfg.base_learning_rate_multiplier is None or cfg.base_learning_rate_multiplier == 1.0:
        return cls(learning_rate=cfg.learning_rate, **kwargs)
    paths = [w.path for layer in built.trainable_base_layers for w in layer.trainable_weights]
    return _scaled_update_step(cls)(
        learning_rate=cfg.learning_rate,
        lr_multiplier=cfg.base_learning_rate_multiplier,
        scaled_paths=paths,
        **kwargs,
    )


def compile_model(model, cfg: TrainConfig, built: BuiltModel) -> None:
    import keras

    model.compile(
        optimizer=make_optimizer(cfg, built),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
    )


@dataclass
class CacheSplit:
    """prefix(image) -> cached tensor; tail(cached tensor) -> probabilities (shared layers)."""

    prefix: object
    tail: object
    cut_layer: str
    feature_shape: tuple[int, ...]


def _is_fixed(layer) -> bool:
    """Nothing in this layer changes during training and nothing random happens in it."""
    import keras

    if isinstance(layer, (keras.layers.Dropout, keras.layers.GaussianNoise)):
        return False
    return not (layer.trainable and layer.trainable_weights)


def cache_split(model) -> CacheSplit | None:
    """Split the model after its last fixed layer, where a single tensor crosses the cut.

    MobileNet is a chain, so the cut sits right before the first trainable layer; in DenseNet a
    cut inside a dense block is crossed by concatenations, so it moves back to the nearest
    point where the tail can be built from one tensor. None: nothing fixed to cache.
    """
    import keras

    layers = model.layers
    first = next((i for i, layer in enumerate(layers) if not _is_fixed(layer)), len(layers))
    for j in range(first - 1, 0, -1):
        cut = layers[j].output
        try:
            tail = keras.Model(cut, model.output, name="cached_tail")
        except (ValueError, KeyError):
            continue  # other tensors cross this cut
        prefix = keras.Model(model.input, cut, name="cached_prefix")
        shape = tuple(int(d) for d in cut.shape[1:])
        return CacheSplit(prefix=prefix, tail=tail, cut_layer=layers[j].name, feature_shape=shape)
    return None


def inference_model(model):
    """The same layers as an uncompiled model: what model.keras holds (no optimizer state)."""
    import keras

    return keras.Model(model.input, model.output, name=model.name)


def save_model_atomic(model, path: str | os.PathLike) -> Path:
    """Write the .keras file under a temporary name, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp.keras", dir=path.parent)
    os.close(fd)
    try:
        inference_model(model).save(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_model(path: str | os.PathLike):
    import keras

    return keras.saving.load_model(str(path), compile=False)


def last_conv_layer(model) -> str:
    """The last layer with a 4-D output before global pooling (Grad-CAM's default target)."""
    name = None
    for layer in model.layers:
        if "GlobalAveragePooling" in type(layer).__name__:
            break
        out = getattr(layer, "output", None)
        if out is not None and len(out.shape) == 4 and layer.name != INPUT_NAME:
            name = layer.name
    if name is None:
        raise ConfigError(f"{model.name}: no convolutional layer found for Grad-CAM")
    return name
