#!/usr/bin/env bash
# The full broad mix and the three leave-one-out runs of issue 10, one after the other
# (train/README.md, "Broad training"). Run folders go to $EDGE_RUNS (default ~/edge-runs,
# outside the git work tree); each run's progress is in <run>/train.log, errors in <run>.err.
# Start in the background:   nohup nice -n 10 scripts/train_broad_runs.sh &
# A run that was stopped is resumed, a finished one skipped, so rerunning the script continues.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
RUNS=${EDGE_RUNS:-$HOME/edge-runs}
mkdir -p "$RUNS"
for spec in "broad-full:" "broad-no-stylegan2:stylegan2" "broad-no-sd21:sd21" \
    "broad-no-stylegan1:stylegan1"; do
  name=${spec%%:*}
  hold=${spec#*:}
  out="$RUNS/$name"
  if [ -f "$out/test_metrics.json" ]; then
    echo "$name: done, skipped"
    continue
  elif [ -f "$out/checkpoint.npz" ]; then
    args=(--resume "$out")
  else
    args=(--sources --recipe broad --out "$out" --overwrite)
    [ -n "$hold" ] && args+=(--hold-out "$hold")
  fi
  echo "$name: $PY -m train fit ${args[*]}"
  "$PY" -m train fit "${args[@]}" 2>>"$out.err" || echo "$name: failed (see $out.err)"
done
