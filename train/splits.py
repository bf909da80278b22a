"""The three data paths of a training run, one small strategy each.

A split (train or valid) reaches the network one of three ways:

- `CachedSplit`: the frozen layers' outputs computed once (RAM or an np.memmap in the run
  folder); only the trainable tail is fitted (`--cache-features`);
- `DecodedSplit`: images decoded once into RAM as uint8 (`--in-memory`);
- `StreamedSplit`: images decoded from the files every epoch (augmentation, or too big for RAM).

Each builds its tf.data dataset, scores itself for the threshold (through the path that
validated during training), and says which of its files were usable. `prepare_splits` picks the
path from the recipe and returns the model that is fitted (the tail when features are cached).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_runtime.types import FAKE_INDEX, PreprocessSpec
from workbench.run_folder import FEATURE_CACHE_DIR

from .config import TrainConfig
from .data import Skipped, SplitFiles, decode_files, require_both_classes
from .harmonize import Harmonize, harmonized_loader, training_loader
from .pipeline import (
    FailedFiles,
    array_dataset,
    file_dataset,
    forward_files,
    forward_images,
    make_forward,
    one_hot,
)

log = logging.getLogger(__name__).info  # progress lines on stderr (console.setup_logging)


@dataclass
class Scores:
    """P(fake) of the usable files of a split, their labels and positions in the file list."""

    p_fake: np.ndarray
    labels: np.ndarray
    index: np.ndarray


@dataclass
class SplitData:
    """One split on its data path. `index`: the usable files' positions (None: not known yet)."""

    files: SplitFiles
    skipped: list[Skipped] = field(default_factory=list)
    index: np.ndarray | None = None
    weights: np.ndarray | None = None  # a sample weight per listed file (class balance)

    @property
    def name(self) -> str:
        return self.files.name

    def dataset(self, cfg: TrainConfig, shuffle: bool, epoch: int = 0):
        """This split's batches in `epoch` (order and random draws depend on seed and epoch)."""
        raise NotImplementedError

    def score(self, cfg: TrainConfig, spec: PreprocessSpec, forward_model) -> Scores:
        raise NotImplementedError

    def usable(self, failed: FailedFiles) -> SplitFiles:
        """The files that reached the network (decoded, cached, or streamed without failing)."""
        if self.index is None:
            keep = [s for s in self.files.samples if s.path not in failed.reasons]
        else:
            keep = [self.files.samples[i] for i in self.index]
        return SplitFiles(self.name, keep, source=self.files.source)

    def paths(self, index: np.ndarray) -> list[str]:
        return [self.files.samples[i].path for i in index]


@dataclass
class CachedSplit(SplitData):
    store: np.ndarray | None = None  # features of every listed file (rows in `index` are valid)
    labels: np.ndarray | None = None  # label of every listed file
    tail: object = None  # the trainable part of the model, which the features feed

    def dataset(self, cfg: TrainConfig, shuffle: bool, epoch: int = 0):
        y = one_hot(self.labels)
        return array_dataset(
            self.store, y, cfg.batch_size, shuffle, cfg.seed, None, self.index, epoch, self.weights
        )

    def score(self, cfg: TrainConfig, spec: PreprocessSpec, forward_model) -> Scores:
        fwd_tail = make_forward(self.tail)
        rows, bs = self.index, cfg.batch_size
        parts = [
            fwd_tail(np.asarray(self.store[rows[i : i + bs]])) for i in range(0, len(rows), bs)
        ]
        probs = np.concatenate(parts)
        return Scores(probs[:, FAKE_INDEX], self.labels[rows], rows)


@dataclass
class DecodedSplit(SplitData):
    spec: PreprocessSpec | None = None
    images: np.ndarray | None = None  # uint8, one per usable file
    labels: np.ndarray | None = None

    def dataset(self, cfg: TrainConfig, shuffle: bool, epoch: int = 0):
        y = one_hot(self.labels)
        w = None if self.weights is None else self.weights[self.index]
        return array_dataset(
            self.images, y, cfg.batch_size, shuffle, cfg.seed, self.spec, None, epoch, w
        )

    def score(self, cfg: TrainConfig, spec: PreprocessSpec, forward_model) -> Scores:
        probs = forward_images(forward_model, self.images, spec, cfg.batch_size)
        return Scores(probs[:, FAKE_INDEX], self.labels, self.index)


@dataclass
class StreamedSplit(SplitData):
    spec: PreprocessSpec | None = None
    failed: FailedFiles | None = None  # files that failed while streaming, with the reason
    augment: tuple[str, ...] = ()
    harmonize: Harmonize | None = None  # training images only

    def dataset(self, cfg: TrainConfig, shuffle: bool, epoch: int = 0):
        h = self.harmonize or Harmonize(0)
        loader = training_loader(
            h, self.spec, cfg.seed, epoch, self.augment, cfg.random_crop_fraction
        )
        return file_dataset(
            self.files,
            self.spec,
            cfg.batch_size,
            shuffle,
            cfg.seed,
            self.failed,
            loader,
            epoch,
            self.weights,
        )

    def score(self, cfg: TrainConfig, spec: PreprocessSpec, forward_model) -> Scores:
        probs, labels, idx, bad = forward_files(forward_model, self.files, spec, cfg.batch_size)
        self.skipped += [b for b in bad if b.path not in self.failed.reasons]
        self.index = idx
        return Scores(probs[:, FAKE_INDEX], labels, idx)


def feature_store(
    n: int, shape: tuple[int, ...], cfg: TrainConfig, out: Path, name: str
) -> np.ndarray:
    """RAM when the cache fits in --memory-gb, else a float32 np.memmap in the run folder."""
    nbytes = n * int(np.prod(shape)) * 4
    if nbytes <= cfg.memory_gb * 1e9:
        return np.empty((n, *shape), dtype=np.float32)
    cache_dir = out / FEATURE_CACHE_DIR
    cache_dir.mkdir(exist_ok=True)
    log(f"feature cache for {name}: {nbytes / 1e9:.1f} GB on disk in {cache_dir}")
    return np.lib.format.open_memmap(
        cache_dir / f"{name}.npy", mode="w+", dtype=np.float32, shape=(n, *shape)
    )


def _fixed_loader(cfg: TrainConfig, spec: PreprocessSpec, name: str):
    """The one-draw-per-file harmonised loader of the training split (None: runtime's own)."""
    h = cfg.harmonize()
    return harmonized_loader(h, spec, cfg.seed) if name == "train" and h.on else None


def _cached(files: dict[str, SplitFiles], cfg, spec, split, out: Path, timing) -> dict:
    t0 = time.perf_counter()
    fwd_prefix = make_forward(split.prefix)
    splits = {}
    for name in ("train", "valid"):
        store = feature_store(len(files[name].samples), split.feature_shape, cfg, out, name)
        store, _, idx, bad = forward_files(
            fwd_prefix,
            files[name],
            spec,
            cfg.batch_size,
            out=store,
            what="caching features of",
            loader=_fixed_loader(cfg, spec, name),
        )
        labels = np.array([s.label for s in files[name].samples], dtype=np.int64)
        splits[name] = CachedSplit(files[name], bad, idx, None, store, labels, split.tail)
    timing["feature_cache_seconds"] = round(time.perf_counter() - t0, 3)
    n = sum(len(s.index) for s in splits.values())
    log(f"cached features of {n} images in {timing['feature_cache_seconds']:.1f}s")
    return splits


def _images(files: dict[str, SplitFiles], cfg, spec, failed, timing) -> dict:
    per_image = spec.height * spec.width * 3
    n = len(files["train"].samples) + len(files["valid"].samples)
    fits = n * per_image <= cfg.memory_gb * 1e9
    in_memory = cfg.in_memory == "on" or (cfg.in_memory == "auto" and fits)
    t0 = time.perf_counter()
    splits: dict[str, SplitData] = {}
    for name in ("train", "valid"):
        augment = cfg.augment if name == "train" else ()
        random = cfg.random_each_epoch() and name == "train"
        if in_memory and not random:
            dec = decode_files(files[name], spec, loader=_fixed_loader(cfg, spec, name))
            splits[name] = DecodedSplit(
                files[name], dec.skipped, dec.index, None, spec, dec.images, dec.labels
            )
        else:
            h = cfg.harmonize() if name == "train" else None
            splits[name] = StreamedSplit(files[name], [], None, None, spec, failed, augment, h)
    timing["decode_seconds"] = round(time.perf_counter() - t0, 3)
    how = "decoded images in memory" if isinstance(splits["train"], DecodedSplit) else None
    log(
        "training on "
        + (how or "images streamed from files")
        + (f" with augmentation {','.join(cfg.augment)}" if cfg.augment else "")
    )
    return splits


def prepare_splits(
    files: dict[str, SplitFiles],
    cfg: TrainConfig,
    spec: PreprocessSpec,
    model,
    split,
    out: Path,
    failed: FailedFiles,
    timing: dict,
    where: str,
    weights: dict[str, np.ndarray | None] | None = None,
) -> tuple[dict[str, SplitData], object]:
    """train and valid on their data path, and the model to fit (the tail when cached).

    weights: per split, a sample weight per listed file (None: every file 1)."""
    if split is not None:
        splits = _cached(files, cfg, spec, split, out, timing)
        trained = split.tail
    else:
        splits = _images(files, cfg, spec, failed, timing)
        trained = model
    for name, s in splits.items():
        s.weights = (weights or {}).get(name)
    for s in splits.values():
        if s.index is not None:
            require_both_classes(s.usable(failed), where)
    return splits, trained


__all__ = ["CachedSplit", "DecodedSplit", "Scores", "SplitData", "StreamedSplit", "prepare_splits"]
