"""tf.data input pipelines and batched forward passes (TensorFlow side of the data).

Every image comes from edge_runtime.preprocess (load_resized, or augment.py around the same
load_image/resize) as uint8; `normalize_tf` is edge_runtime.preprocess.normalize as a TF op,
(x - mean) / std in float32 (the tests check both give the same tensor).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

import numpy as np

from edge_runtime.preprocess import load_resized, normalize
from edge_runtime.types import EdgeDetectError, PreprocessSpec

from .data import DecodedSet, SplitFiles, decode_files

log = logging.getLogger(__name__).info  # progress lines on stderr (console.setup_logging)


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(2, dtype=np.float32)[np.asarray(labels, dtype=np.int64)]


def normalize_tf(x, spec: PreprocessSpec):
    import tensorflow as tf

    return (tf.cast(x, tf.float32) - tf.constant(spec.mean, tf.float32)) / tf.constant(
        spec.std, tf.float32
    )


def _options():
    import tensorflow as tf

    opts = tf.data.Options()
    # Each worker (multi-worker strategy) reads the index range and keeps its share of batches.
    opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    opts.deterministic = True
    return opts


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of one epoch: a function of (n, seed, epoch) only, so a resumed run
    and the cached and image paths all see the same batches."""
    return np.random.default_rng([seed, epoch]).permutation(n).astype(np.int64)


def array_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    shuffle: bool,
    seed: int,
    spec: PreprocessSpec | None = None,
    rows: np.ndarray | None = None,
    epoch: int = 0,
    weights: np.ndarray | None = None,
):
    """Batches of (x[idx], y[idx]) gathered from numpy arrays (RAM or np.memmap).

    spec: x holds uint8 images to normalise; None: x is already network input (cached features).
    rows: use only these rows of x and y (files that decoded), without copying x.
    weights: one sample weight per row of y (class balance); batches are then (x, y, w).
    """
    import tensorflow as tf

    n = len(y) if rows is None else len(rows)
    order = epoch_order(n, seed, epoch) if shuffle else np.arange(n, dtype=np.int64)
    ds = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
    x_dtype = tf.as_dtype(x.dtype)
    w_all = np.ones(len(y), np.float32) if weights is None else weights.astype(np.float32)

    def gather(idx):
        i = np.asarray(idx) if rows is None else rows[np.asarray(idx)]
        return np.asarray(x[i]), np.asarray(y[i], dtype=np.float32), w_all[i]

    def fetch(idx):
        xb, yb, wb = tf.numpy_function(gather, [idx], (x_dtype, tf.float32, tf.float32))
        xb.set_shape((None,) + tuple(x.shape[1:]))
        yb.set_shape((None,) + tuple(y.shape[1:]))
        wb.set_shape((None,))
        return (xb, yb, wb) if weights is not None else (xb, yb)

    def to_input(xb, yb, *wb):
        return (normalize_tf(xb, spec), yb, *wb)

    ds = ds.map(fetch)
    if spec is not None:
        ds = ds.map(to_input)
    return ds.prefetch(tf.data.AUTOTUNE).with_options(_options())


class FailedFiles:
    """Files that failed to decode while streaming (thread-safe; reported in data_summary)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reasons: dict[str, str] = {}

    def add(self, path: str, reason: str) -> None:
        with self._lock:
            self.reasons.setdefault(path, reason)


def file_dataset(
    files: SplitFiles,
    spec: PreprocessSpec,
    batch_size: int,
    shuffle: bool,
    seed: int,
    failed: FailedFiles,
    loader: Callable[[str, np.random.Generator], np.ndarray] | None = None,
    epoch: int = 0,
    weights: np.ndarray | None = None,
):
    """Batches decoded from the files each epoch (for augmentation, or sets too big for RAM).

    loader(path, rng) -> uint8 network input (augmentation / harmonisation); None: the runtime's
    load_resized. Each file gets its own random stream per epoch, from (seed, epoch): a resumed
    run sees the same pixels. weights: a sample weight per file, multiplied in.
    """
    import tensorflow as tf

    paths = [s.path for s in files.samples]
    labels = one_hot(np.array([s.label for s in files.samples], dtype=np.int64))
    w_all = np.ones(len(paths), np.float32) if weights is None else weights.astype(np.float32)
    blank = np.zeros((spec.height, spec.width, 3), dtype=np.uint8)

    def load(i, sample_seed):
        path = paths[int(i)]
        try:
            if loader is not None:
                pixels = loader(path, np.random.default_rng(int(sample_seed)))
            else:
                pixels = load_resized(path, spec)
        except EdgeDetectError as e:
            text = str(e)
            failed.add(path, text[len(path) + 2 :] if text.startswith(path + ": ") else text)
            # Weight 0 instead of filtering: the dataset keeps its known length.
            return blank, labels[int(i)], np.float32(0.0)
        return pixels, labels[int(i)], w_all[int(i)]

    def fetch(i, sample_seed):
        x, y, w = tf.numpy_function(load, [i, sample_seed], (tf.uint8, tf.float32, tf.float32))
        x.set_shape((spec.height, spec.width, 3))
        y.set_shape((2,))
        w.set_shape(())
        return x, y, w

    def to_input(xb, yb, wb):
        return normalize_tf(xb, spec), yb, wb

    n = len(paths)
    order = epoch_order(n, seed, epoch) if shuffle else np.arange(n, dtype=np.int64)
    # One random seed per element and epoch, drawn from (seed, epoch): reproducible, resumable.
    seeds = np.random.default_rng([seed + 1, epoch]).integers(0, 2**62, n, dtype=np.int64)
    ds = tf.data.Dataset.from_tensor_slices((order, seeds))
    ds = ds.map(fetch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size).map(to_input)
    return ds.prefetch(tf.data.AUTOTUNE).with_options(_options())


def make_forward(model) -> Callable[[np.ndarray], np.ndarray]:
    """A compiled inference call (training=False) usable outside any distribution strategy."""
    import tensorflow as tf

    spec = tf.TensorSpec((None,) + tuple(model.input_shape[1:]), tf.float32)
    # A callable object, not a closure: TensorFlow counts traces per code object, and one trace
    # per model would otherwise add up to a spurious "frequent retracing" warning.
    fn = tf.function(_Inference(model), input_signature=[spec])
    return lambda x: fn(tf.convert_to_tensor(x, tf.float32)).numpy()


class _Inference:
    def __init__(self, model) -> None:
        self.model = model

    def __call__(self, x):
        return self.model(x, training=False)


def forward_images(
    forward, images: np.ndarray, spec: PreprocessSpec, batch_size: int
) -> np.ndarray:
    """Run a network on uint8 images, normalised with edge_runtime.preprocess.normalize."""
    outs = [
        forward(normalize(images[i : i + batch_size], spec))
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


def decoded_chunks(
    files: SplitFiles,
    spec: PreprocessSpec,
    chunk: int = 1024,
    loader: Callable[[str], np.ndarray] | None = None,
) -> Iterator[tuple[int, DecodedSet]]:
    """Decode a file list chunk by chunk (bounded memory); `index` stays global."""
    for start in range(0, len(files.samples), chunk):
        part = SplitFiles(files.name, files.samples[start : start + chunk])
        dec = decode_files(part, spec, loader=loader)
        dec.index = dec.index + start
        yield start, dec


def forward_files(
    forward,
    files: SplitFiles,
    spec: PreprocessSpec,
    batch_size: int,
    out: np.ndarray | None = None,
    chunk: int = 1024,
    what: str = "forward",
    loader: Callable[[str], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Decode + run the network over a file list in chunks.

    Returns (outputs, labels, index into files.samples, skipped). With `out` given (an array or
    np.memmap of len(files)), outputs are written there at their file positions and `out` is
    returned whole; callers keep only out[index].
    """
    outputs, labels, index, skipped = [], [], [], []
    n = len(files.samples)
    done = 0
    for _, dec in decoded_chunks(files, spec, chunk, loader):
        y = forward_images(forward, dec.images, spec, batch_size)
        if out is not None:
            if len(dec.index):
                out[dec.index] = y
        else:
            outputs.append(y)
        labels.append(dec.labels)
        index.append(dec.index)
        skipped += dec.skipped
        done += len(dec.index) + len(dec.skipped)
        if n > chunk:
            log(f"{what} {files.name}: {done}/{n}")
    lab = np.concatenate(labels) if labels else np.zeros(0, np.int64)
    idx = np.concatenate(index) if index else np.zeros(0, np.int64)
    if out is not None:
        return out, lab, idx, skipped
    return (np.concatenate(outputs) if outputs else np.zeros((0, 2), np.float32)), lab, idx, skipped
