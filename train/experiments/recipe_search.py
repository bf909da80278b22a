"""Recipe search on the validation split (Keras 3, JAX backend, for a lent GPU; not CI).

How the shipped recipe was chosen (MODEL_CARD.md). It mirrors train/'s model and
edge_runtime's preprocessing in a few lines so it runs where only JAX + Keras exist:

    KERAS_BACKEND=jax python train/experiments/recipe_search.py \
        train/experiments/recipe_search_configs.json \
        [DATA_ROOT (default ../shared/data/faces140k_sample)] [WEIGHTS.h5]

Prints one JSON line per config: per-epoch (val_loss, val_accuracy, val_auc) and the best
epoch by validation loss. Results of the 2026-11-26 run on one H100: recipe_search_h100.jsonl.
"""

import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, ".")
from pathlib import Path

import keras
import numpy as np

from edge_runtime.preprocess import load_resized, normalize
from edge_runtime.types import PreprocessSpec
from workbench.evaluation import default_sample_dir, predict_labels, roc_auc  # numpy only

D = Path(sys.argv[2]) if len(sys.argv) > 2 else default_sample_dir()
WEIGHTS = sys.argv[3] if len(sys.argv) > 3 else "../shared/weights/mobilenet_1_0_224_tf_no_top.h5"


def load(split, spec):
    X, y = [], []
    for lab, idx in (("fake", 0), ("real", 1)):
        for p in sorted((D / split / lab).glob("*.jpg"))[: int(os.environ.get("LIMIT", "100000"))]:
            X.append(load_resized(p, spec))
            y.append(idx)
    return np.stack(X), np.array(y)


native = PreprocessSpec(256, 256)
squash = PreprocessSpec(224, 224)
data = {}
t = time.time()
for name, spec in (("native", native), ("squash", squash)):
    data[name] = (load("train", spec), load("valid", spec))
print("loaded", time.time() - t, flush=True)


def build(size, dropout, trainable):
    base = keras.applications.MobileNet(
        input_shape=(size, size, 3), include_top=False, weights=None
    )
    base.load_weights(WEIGHTS)
    if trainable != "all":
        for layer in base.layers[: len(base.layers) - int(trainable)]:
            layer.trainable = False
    inp = keras.Input((size, size, 3), name="image")
    x = base(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(1024, activation="relu")(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    out = keras.layers.Dense(2, activation="softmax")(x)
    return keras.Model(inp, out)


def run(cfg):
    keras.utils.set_random_seed(cfg.get("seed", 0))
    (Xtr, ytr), (Xva, yva) = data[cfg["data"]]
    size = cfg["size"]
    rng = np.random.default_rng(cfg.get("seed", 0))

    def center(X):
        o = (X.shape[1] - size) // 2
        return X[:, o : o + size, o : o + size]

    def norm(X):
        return normalize(X, PreprocessSpec())

    Xva_in = norm(center(Xva))
    m = build(size, cfg.get("dropout", 0), cfg.get("trainable", "all"))
    if cfg.get("wd"):
        opt = keras.optimizers.AdamW(cfg["lr"], weight_decay=cfg["wd"])
    else:
        opt = keras.optimizers.Adam(cfg["lr"])
    ls = cfg.get("ls", 0)
    m.compile(opt, keras.losses.CategoricalCrossentropy(label_smoothing=ls), metrics=["accuracy"])
    best = (9, None)
    hist = []
    t = time.time()
    for ep in range(cfg["epochs"]):
        X = Xtr
        if "crop" in cfg.get("aug", ""):
            n = len(X)
            off = X.shape[1] - size
            ox = rng.integers(0, off + 1, n)
            oy = rng.integers(0, off + 1, n)
            X = np.stack([X[i, oy[i] : oy[i] + size, ox[i] : ox[i] + size] for i in range(n)])
        else:
            X = center(X)
        if "flip" in cfg.get("aug", ""):
            f = rng.random(len(X)) < 0.5
            X = X.copy()
            X[f] = X[f, :, ::-1]
        m.fit(
            norm(X),
            keras.utils.to_categorical(ytr, 2),
            batch_size=cfg.get("bs", 32),
            epochs=1,
            verbose=0,
            shuffle=True,
        )
        p = m.predict(Xva_in, batch_size=128, verbose=0)
        vl = float(keras.losses.CategoricalCrossentropy()(keras.utils.to_categorical(yva, 2), p))
        va = float((predict_labels(p[:, 0]) == yva).mean())  # the runtime's decision rule
        a = roc_auc(yva, p[:, 1])
        hist.append((round(vl, 3), round(va, 3), round(a, 3)))
        if vl < best[0]:
            best = (vl, (va, a, ep))
    print(
        json.dumps({"cfg": cfg, "best_by_vloss": best, "hist": hist, "s": round(time.time() - t)}),
        flush=True,
    )


CFGS = json.loads(Path(sys.argv[1]).read_text() if sys.argv[1].endswith(".json") else sys.argv[1])
for c in CFGS:
    try:
        run(c)
    except Exception as e:  # noqa: BLE001 - one failed config must not stop the search
        print("FAIL", c, e, flush=True)
