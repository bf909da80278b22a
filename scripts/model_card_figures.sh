#!/usr/bin/env bash
# Every figure in MODEL_CARD.md, from the installed bundles (scripts/reproduce_default_model.sh)
# and the training runs. Writes benchmarks/results/ and model_card/ JSON + Markdown tables.
# Usage: scripts/model_card_figures.sh [RUN_DIR] [REPORT_RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUN=${1:-runs/edge_detect_v1}
REPORT_RUN=${2:-runs/report-recipe}
D=${DATA_ROOT:-../shared/data}
SETS=("$D/faces140k_sample/test" "$D/ciplab_real_and_fake" "$D/sd21_faces" "$D/lfw_faceswap")
mkdir -p model_card

# Every variant on faces140k_sample/test: accuracy, agreement, size, latency (+ Keras baseline).
"$PY" -m benchmarks run --keras-baseline "$RUN/model.keras" --machine-label x86-dev \
    --out benchmarks/results/x86-dev

# Generalisation tables (one row per set), shipped int8 and float32, and the report's recipe.
for v in int8 fp32; do
    "$PY" -m train evaluate "$v" "${SETS[@]}" --json "model_card/ood_$v.json" > "model_card/ood_$v.md"
done
if [ -f "$REPORT_RUN/model.keras" ]; then
    "$PY" -m train evaluate "$REPORT_RUN/model.keras" "${SETS[@]}" \
        --json model_card/ood_report_recipe.json > model_card/ood_report_recipe.md
fi
cat model_card/ood_*.md

# The v2 candidate's section (issue 10), from scripts/train_v2.sh's run folders ($EDGE_RUNS):
# the per-source table (v2 float first: the reference of the int8 drop), stability of both
# int8 models and the shortcut checks of both broad recipes.
RUNS=${EDGE_RUNS:-$HOME/edge-runs}
V2_FP32="$RUNS/broad-v2/tflite/edge_detect_mobilenet_fp32.tflite"
if [ -f "$V2_FP32" ]; then
    "$PY" -m benchmarks sources "$V2_FP32" v2-int8 fp32 int8 --threads 2 \
        --json model_card/v2_sources.json > model_card/v2_sources.md
    "$PY" -m train ship-check v2-int8 "$V2_FP32" --json model_card/v2_ship_check.json \
        > model_card/v2_ship_check.md || true  # exit 1 = keep the current model
fi
for m in int8 v2-int8; do
    "$PY" -m train stability "$m" --sources --limit-per-class 40 \
        --json "model_card/stability_$m.json" > "model_card/stability_$m.md"
done
for r in broad broad-v2; do
    "$PY" -m train shortcut-check --recipe "$r" --json "model_card/shortcut_$r.json" \
        > "model_card/shortcut_$r.md"
done

# "A published peer: MesoNet": v1 int8 beside MesoNet's bundles (models/peers/, made by
# python -m train.mesonet + python -m convert: models/peers/README.md), every source.
"$PY" -m benchmarks sources v1-int8 mesonet_meso4_df_fp32 mesonet_meso4_df_int8 \
    mesonet_mesoinception4_df_fp32 mesonet_mesoinception4_df_int8 \
    --json model_card/peers_sources.json > model_card/peers_sources.md

# Issue 18: every figure through the face stage. The crop tree (the crops edge-detect would
# judge, `train prepare-crops`), v1 and v2 per source, and each one's operating point for 3 %
# of validation reals called fake with its temperature (model_card/face_stage/).
CROPS="$RUNS/crops"
"$PY" -m train prepare-crops "$CROPS" --json model_card/face_stage/crops_summary.json
"$PY" -m benchmarks sources v1-int8 v2-int8 --data "$CROPS" \
    --json model_card/face_stage/v1_v2_sources.json > model_card/face_stage/v1_v2_sources.md
for m in v1-int8 v2-int8; do
    "$PY" -m train calibrate "$m" --data "$CROPS" --target-fpr 0.03 --overwrite \
        --out "model_card/face_stage/calibration_${m/-/_}"
done
"$PY" -m train shortcut-check --data "$CROPS" --recipe broad-v2 \
    --json model_card/face_stage/shortcut_crops.json > model_card/face_stage/shortcut_crops.md

# The v3 candidate (scripts/train_v3.sh's run folder) through the same crops: calibration of its
# float and int8, the ship rule, and every model side by side (MesoNet included).
V3="$RUNS/v3"
if [ -f "$V3/calibrated/edge_detect_mobilenet_v3_fp32.tflite" ]; then
    for v in fp32 int8; do
        "$PY" -m train calibrate "$V3/tflite/edge_detect_mobilenet_$v.tflite" --data "$CROPS" \
            --target-fpr 0.03 --overwrite --out "model_card/face_stage/calibration_v3_$v"
    done
    "$PY" -m train ship-check v3-int8 "$V3/calibrated/edge_detect_mobilenet_v3_fp32.tflite" \
        --data "$CROPS" --json model_card/face_stage/v3_ship_check.json \
        > model_card/face_stage/v3_ship_check.md || true  # exit 1 = keep the current model
    "$PY" -m benchmarks sources v1-int8 v2-int8 "$V3/calibrated/edge_detect_mobilenet_v3_fp32.tflite" \
        v3-int8 mesonet_meso4_df_fp32 mesonet_meso4_df_int8 mesonet_mesoinception4_df_fp32 \
        mesonet_mesoinception4_df_int8 --data "$CROPS" --threads 1 \
        --json model_card/face_stage/all_models_sources.json \
        > model_card/face_stage/all_models_sources.md
    "$PY" scripts/face_stage_table.py \
        v1=model_card/face_stage/calibration_v1_int8/calibration.json \
        v2=model_card/face_stage/calibration_v2_int8/calibration.json \
        v3=model_card/face_stage/calibration_v3_int8/calibration.json
fi
