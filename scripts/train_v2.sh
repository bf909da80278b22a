#!/usr/bin/env bash
# The v2 candidate of issue 10 from the data, seeded, resumable, one step after the other
# (MODEL_CARD.md "v2"; train/README.md "The v2 candidate"):
#   1. every layer on the full mix, harmonised at 128 px (broad recipe, 8 epochs)
#   2. continued from 1 with the broad-v2 recipe (harmonised at 256 px, 140k sources x2)
#   3. int8 calibrated and every variant verified on the mix (train mix-layout -> convert)
#   4. issue 10's ship rule against the packaged int8 (train ship-check; exit 1 = keep v1)
# Run folders go to $EDGE_RUNS (default ~/edge-runs); progress in <run>/train.log.
# Start in the background:   nohup nice -n 10 scripts/train_v2.sh &
# A stopped training step is resumed, a finished one skipped, so rerunning the script continues.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
RUNS=${EDGE_RUNS:-$HOME/edge-runs}
mkdir -p "$RUNS"

fit() {  # fit NAME ARGS...: train into $RUNS/NAME unless done; resume a stopped run
  local name=$1 out="$RUNS/$1"
  shift
  if [ -f "$out/test_metrics.json" ]; then
    echo "$name: done, skipped"
    return 0
  elif [ -f "$out/checkpoint.npz" ]; then
    "$PY" -m train fit --resume "$out" 2>>"$out.err"
  else
    "$PY" -m train fit "$@" --out "$out" --overwrite 2>>"$out.err"
  fi
}

fit broad-full-all --sources --recipe broad --trainable-layers all --no-freeze-batchnorm \
  --harmonize-per-epoch --epochs 8 || exit 1
fit broad-v2 --sources --recipe broad-v2 --init-from "$RUNS/broad-full-all/model.keras" || exit 1

rm -rf "$RUNS/mix-layout"
"$PY" -m train mix-layout "$RUNS/mix-layout" || exit 1
"$PY" -m convert "$RUNS/broad-v2" --out "$RUNS/broad-v2/tflite" \
  --calibration-dir "$RUNS/mix-layout" --calibration-images 1000 --valid-limit 600 --qat off \
  --threads 2 || exit 1
# the float reference: the fp32 .tflite (verified equal to the Keras model, and faster to run)
"$PY" -m train ship-check "$RUNS/broad-v2/tflite/edge_detect_mobilenet_int8.tflite" \
  "$RUNS/broad-v2/tflite/edge_detect_mobilenet_fp32.tflite" --json "$RUNS/broad-v2/ship_check.json"
