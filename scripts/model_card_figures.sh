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
