"""`python -m train gradcam`: where does the Keras model look (face or background)?

Grad-CAM (Selvaraju et al., 2017) on the last convolutional layer (MobileNet: conv_pw_13_relu):
the feature maps weighted by the spatial mean of the gradient of the target's log-odds
(logit of the target class minus the other's logit, computed from the `probabilities` layer's
kernel), ReLU, scaled to [0, 1] and upsampled to the input.
Writes one PNG per image (input | overlay) and, for labelled folders, a grid PNG per class.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from edge_runtime.fileio import atomic_write_bytes
from edge_runtime.inputs import is_image_name
from edge_runtime.preprocess import load_resized, normalize
from edge_runtime.types import FAKE_INDEX, LABELS, EdgeDetectError, PreprocessSpec
from workbench.run_folder import RunFolder

from .data import Sample, class_dirs, eval_set, limit_per_class
from .errors import ConfigError
from .model import OUTPUT_NAME, last_conv_layer, load_model

log = logging.getLogger(__name__).info  # progress lines on stderr (console.setup_logging)

TARGETS = ("predicted", "fake", "real")


@dataclass
class CamResult:
    path: str
    label: int | None  # true label when known
    p_fake: float
    target: int
    pixels: np.ndarray  # uint8 network input
    heatmap: np.ndarray  # float [0, 1], network size
    overlay: np.ndarray  # uint8


class GradCam:
    def __init__(self, model, layer: str | None = None):
        import keras

        self.layer = layer or last_conv_layer(model)
        try:
            conv = model.get_layer(self.layer)
        except ValueError:
            raise ConfigError(f"--layer {self.layer}: no such layer in {model.name}") from None
        head = model.get_layer(OUTPUT_NAME)
        self.kernel, self.bias = head.kernel, head.bias
        self.grad_model = keras.Model(model.input, [conv.output, head.input])

    def __call__(
        self, x: np.ndarray, target: str = "predicted"
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """x: 1 x H x W x 3 normalised -> (heatmap at conv resolution, probabilities, target)."""
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            conv, hidden = self.grad_model(x, training=False)
            logits = tf.matmul(hidden, self.kernel) + self.bias
            probs = tf.nn.softmax(logits)
            if target == "predicted":
                t = int(tf.argmax(probs[0]))
            else:
                t = LABELS.index(target)
            score = logits[:, t] - logits[:, 1 - t]
        grads = tape.gradient(score, conv)[0]
        weights = tf.reduce_mean(grads, axis=(0, 1))
        cam = tf.nn.relu(tf.reduce_sum(conv[0] * weights, axis=-1)).numpy()
        top = float(cam.max())
        cam = cam / top if top > 0 else cam
        return cam, probs[0].numpy(), t


def upsample(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    img = Image.fromarray(np.asarray(cam, dtype=np.float32), mode="F")
    return np.asarray(img.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)


def overlay(pixels: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    from matplotlib import colormaps

    colour = colormaps["jet"](np.clip(heatmap, 0, 1))[..., :3] * 255.0
    mixed = (1 - alpha) * pixels.astype(np.float32) + alpha * colour
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def _caption(r: CamResult) -> str:
    truth = f"true {LABELS[r.label]}, " if r.label is not None else ""
    return f"{truth}P(fake) {r.p_fake:.3f}, CAM for {LABELS[r.target]}"


def _png(arr_or_img) -> bytes:
    img = arr_or_img if isinstance(arr_or_img, Image.Image) else Image.fromarray(arr_or_img)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def side_by_side(r: CamResult) -> Image.Image:
    h, w = r.pixels.shape[:2]
    canvas = Image.new("RGB", (2 * w, h + 18), "white")
    canvas.paste(Image.fromarray(r.pixels), (0, 18))
    canvas.paste(Image.fromarray(r.overlay), (w, 18))
    ImageDraw.Draw(canvas).text((4, 3), _caption(r), fill="black")
    return canvas


def grid(
    results: Sequence[CamResult], path: str | os.PathLike, title: str, columns: int = 4
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(results)
    cols = min(columns, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, r in zip(axes.ravel(), results):
        ax.imshow(r.overlay)
        ax.set_title(f"P(fake) {r.p_fake:.2f} [{LABELS[r.target]}]", fontsize=8)
    fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _inputs(
    inputs: Sequence[str], per_class: int, seed: int
) -> tuple[list[Sample | str], dict[int, list[Sample]]]:
    """Loose image files, and per-class samples from labelled folders."""
    singles: list[Sample | str] = []
    by_class: dict[int, list[Sample]] = {}
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            if not class_dirs(p) and not (p / "test").is_dir():
                singles += sorted(str(f) for f in p.iterdir() if is_image_name(f.name))
                continue
            files = limit_per_class(eval_set(p), per_class, seed)
            for s in files.samples:
                by_class.setdefault(s.label, []).append(s)
        elif p.is_file():
            singles.append(str(p))
        else:
            raise ConfigError(f"{item}: no such file or folder")
    return singles, by_class


def run_gradcam(
    model_path: str,
    inputs: Sequence[str],
    out_dir: str,
    layer: str | None = None,
    per_class: int = 8,
    target: str = "predicted",
    alpha: float = 0.45,
    seed: int = 0,
) -> dict[str, list[Path]]:
    if target not in TARGETS:
        raise ConfigError(f"--target: {target!r} not one of {', '.join(TARGETS)}")
    mp = Path(model_path)
    if mp.suffix != ".keras" or not mp.is_file():
        raise ConfigError(f"{model_path}: Grad-CAM needs a Keras model file (.keras)")
    singles, by_class = _inputs(inputs, per_class, seed)
    if not singles and not by_class:
        raise ConfigError("no images found in the given inputs")
    model = load_model(mp)
    h, w = (int(d) for d in model.input_shape[1:3])
    recorded = RunFolder(mp.parent).preprocess()
    spec = (recorded or PreprocessSpec()).fit_input(
        h, w, recorded=recorded is not None, name=str(mp), where="run's preprocessing"
    )
    cam = GradCam(model, layer)
    log(f"Grad-CAM on layer {cam.layer} of {mp}")
    out = Path(out_dir)
    (out / "overlays").mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {"overlays": [], "grids": [], "skipped": []}

    def one(path: str, label: int | None) -> CamResult | None:
        try:
            pixels = load_resized(path, spec)
        except EdgeDetectError as e:
            log(f"skipped: {e}")
            written["skipped"].append(Path(path))
            return None
        heat, probs, t = cam(normalize(pixels, spec)[None], target)
        heat = upsample(heat, h, w)
        r = CamResult(
            path, label, float(probs[FAKE_INDEX]), t, pixels, heat, overlay(pixels, heat, alpha)
        )
        tag = LABELS[label] + "_" if label is not None else ""
        dest = out / "overlays" / f"{tag}{Path(path).stem}.png"
        atomic_write_bytes(dest, _png(side_by_side(r)))
        written["overlays"].append(dest)
        return r

    for path in singles:
        one(str(path), None)
    for label, samples in sorted(by_class.items()):
        results = [r for r in (one(s.path, s.label) for s in samples) if r is not None]
        if results:
            dest = out / f"grid_{LABELS[label]}.png"
            grid(results, dest, f"Grad-CAM ({cam.layer}), true class {LABELS[label]}")
            written["grids"].append(dest)
    log(f"wrote {len(written['overlays'])} overlays and {len(written['grids'])} grids to {out}")
    return written
