#!/usr/bin/env bash
# Reproduce the shipped detector from the data, seeded, in one command:
#   train (improved recipe) -> convert to fp32/fp16/dynamic/int8, verified against Keras
#   -> install the bundles (int8 into the package, the rest into models/) -> Android assets.
# Needs the train extra (pip install -e '.[train,dev]') and ../shared/data + ../shared/weights.
# Usage: scripts/reproduce_default_model.sh [RUN_DIR]   (default runs/edge_detect_v1)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUN=${1:-runs/edge_detect_v1}
DATA=${DATA:-$("$PY" -c "from workbench.evaluation import default_sample_dir; print(default_sample_dir())")}
start=$(date +%s)

# The recipe, chosen on the validation split only (README "The shipped detector"):
# train/recipes/default.json, the default of `python -m train fit`.
"$PY" -m train fit --recipe default --data "$DATA" --out "$RUN" --overwrite

"$PY" -m convert "$RUN" --out "$RUN/tflite" --calibration-dir "$DATA" --qat auto --threads 2

mkdir -p edge_runtime/models models
for v in int8 fp32 fp16 dynamic; do
    dest=models; [ "$v" = int8 ] && dest=edge_runtime/models
    cp "$RUN/tflite/edge_detect_mobilenet_$v.tflite" "$RUN/tflite/edge_detect_mobilenet_$v.bundle.json" "$dest/"
done
cp "$RUN/tflite/conversion_report.md" models/conversion_report.md

"$PY" -m convert.android_assets \
    --int8 edge_runtime/models/edge_detect_mobilenet_int8.tflite \
    --float models/edge_detect_mobilenet_fp32.tflite --out android_demo_assets/

echo "reproduce_default_model: done in $(( $(date +%s) - start )) s" >&2
