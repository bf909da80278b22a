"""Distribution strategies of a training run: which worker writes, and Keras 3 fixes."""

from __future__ import annotations

import json
import os

from .errors import ConfigError


def is_chief(strategy: str) -> bool:
    """With several workers only the chief writes the run folder."""
    if strategy != "multiworker":
        return True
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = tf_config.get("task", {})
    has_chief = "chief" in tf_config.get("cluster", {})
    return task.get("type") == "chief" or (
        task.get("type") == "worker" and int(task.get("index", 0)) == 0 and not has_chief
    )


def make_strategy(name: str):
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if "TF_CONFIG" not in os.environ:
        raise ConfigError(
            "--strategy multiworker needs the TF_CONFIG environment variable (see train/README.md)"
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def work_around_keras_20585(model, train_ds) -> None:
    """Keras 3 fit() under MultiWorkerMirroredStrategy with several workers fails twice.

    (keras-team/keras#20585, open in Keras 3.15.) 1) Its symbolic build all-reduces the first
    distributed batch, which the collective strategy rejects; the build only needs shapes, so
    it gets one local batch. 2) It reduces every per-step log over axis 0, which fails on the
    scalar loss and metrics; those are averaged over replicas instead.
    """
    from keras.src.backend.tensorflow import trainer as tf_trainer

    sample = next(iter(train_ds))
    build = model._maybe_symbolic_build
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: build(data_batch=sample)
    original = tf_trainer.reduce_per_replica
    if getattr(original, "edge_detect_patch", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(
            strategy
        ):
            import tensorflow as tf

            def mean(v):
                local = v.values[0] if isinstance(v, tf.distribute.DistributedValues) else v
                if len(getattr(local, "shape", ())) == 0:  # scalar log: mean over replicas
                    return strategy.reduce("MEAN", v, axis=None)
                return original(v, strategy, reduction)

            return tf.nest.map_structure(mean, values)
        return original(values, strategy, reduction)

    reduce_per_replica.edge_detect_patch = True
    tf_trainer.reduce_per_replica = reduce_per_replica
