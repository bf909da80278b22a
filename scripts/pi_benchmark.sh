#!/usr/bin/env bash
# Benchmark the model variants on a Raspberry Pi (or any Linux box) and print the merged table
# next to the other machines' results. Needs only the runtime install (no TensorFlow):
#
#   git clone <this repository> edge-detect && cd edge-detect
#   python3 -m venv .venv && .venv/bin/pip install .        # numpy, pillow, typer, ai-edge-litert
#   # models: edge_runtime/models/*_int8.tflite ships in the package; put the fp32, fp16 and
#   # dynamic bundles (.tflite + .bundle.json) in models/ (see benchmarks/README.md)
#   scripts/pi_benchmark.sh [--label pi4] [--data DIR] [--runs 50] [--threads auto] [OTHER.json ...]
#
#   --label L    machine label (default: pi4 / pi5 / pi from the board model, else the hostname)
#   --data DIR   labelled folder with real/ and fake/ (default: ../shared/data/... when present;
#                without one the table has latency and size only)
#   OTHER.json   results of other machines to merge with (default: benchmarks/results/*.json)
# Writes results/<label>.{json,csv,md} and results/merged.{json,csv,md}; prints the merged table.
#
# For steady numbers: a heatsink or fan, no other load, and the performance governor
#   echo performance | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor
# The script records governor, temperature and `vcgencmd get_throttled` before and after.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-}
if [[ -z "$PY" ]]; then
  if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
LABEL=""
RUNS=50
THREADS=auto
DATA_ARGS=()
OTHERS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --label) LABEL=$2; shift ;;
    --data) DATA_ARGS=(--data "$2"); shift ;;
    --runs) RUNS=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) OTHERS+=("$1") ;;
  esac
  shift
done

if [[ -z "$LABEL" ]]; then
  board=$(tr -d '\0' < /proc/device-tree/model 2>/dev/null || true)
  case "$board" in
    "Raspberry Pi 5"*) LABEL=pi5 ;;
    "Raspberry Pi 4"*) LABEL=pi4 ;;
    "Raspberry Pi"*) LABEL=pi ;;
    *) LABEL=$(hostname -s 2>/dev/null || echo machine) ;;
  esac
fi

echo "[pi-benchmark] $LABEL: governor $(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null || echo unknown)," \
     "temperature $(awk '{printf "%.1f C", $1/1000}' /sys/class/thermal/thermal_zone0/temp 2>/dev/null || echo unknown)," \
     "throttled $(vcgencmd get_throttled 2>/dev/null || echo n/a)" >&2
if ! "$PY" -c 'import edge_runtime, numpy, PIL, typer' 2>/dev/null; then
  echo "[pi-benchmark] edge_runtime is not importable with $PY: python3 -m venv .venv && .venv/bin/pip install ." >&2
  exit 2
fi

mkdir -p results
rc=0
"$PY" -m benchmarks run "${DATA_ARGS[@]}" --runs "$RUNS" --threads "$THREADS" \
  --machine-label "$LABEL" --out "results/$LABEL" || rc=$?
[[ $rc -le 1 ]] || exit "$rc"   # 1 = some model failed: its row says why, the others are there

if [[ ${#OTHERS[@]} -eq 0 ]]; then
  shopt -s nullglob
  OTHERS=(benchmarks/results/*.json)
fi
MERGE=()
for f in "${OTHERS[@]}"; do
  [[ "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" == "$(pwd)/results/$LABEL.json" ]] || MERGE+=("$f")
done
echo >&2
echo "[pi-benchmark] merged with: ${MERGE[*]:-(nothing else)}" >&2
"$PY" -m benchmarks merge "${MERGE[@]}" "results/$LABEL.json" --out results/merged
exit "$rc"
