#!/usr/bin/env bash
# Benchmark the model variants on a Raspberry Pi (or any Linux box) and print the merged table
# next to the other machines' results. Needs only the runtime install (no TensorFlow):
#
#   git clone <this repository> edge-detect && cd edge-detect
#   python3 -m venv ~/edge-venv && ~/edge-venv/bin/pip install .   # as in the README's Pi section
#   # models: all four variants are in the package (and in the clone's models/, edge_runtime/models/)
#   scripts/pi_benchmark.sh [--label pi4] [--data DIR] [--runs 50] [--threads auto] [OTHER.json ...]
#
#   Python: $PYTHON if set, else ~/edge-venv/bin/python (the README's Pi venv), else
#   .venv/bin/python, else python3.
#
#   --label L    machine label (default: pi4 / pi5 / pi from the board model, else the hostname)
#   --data DIR   labelled folder with real/ and fake/ (default: ../shared/data/... when present;
#                without one the table has latency and size only)
#   OTHER.json   results of other machines to merge with (default: the benchmark results among
#                benchmarks/results/*.json; other JSON there, e.g. cold_start_*.json, is skipped)
# Writes results/<label>.{json,csv,md} and results/merged.{json,csv,md}; prints the merged table.
#
# For steady numbers: a heatsink or fan, no other load, and the performance governor
#   echo performance | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor
# The script records governor, temperature and `vcgencmd get_throttled` before and after.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-}
if [[ -z "$PY" ]]; then
  for candidate in "$HOME/edge-venv/bin/python" .venv/bin/python; do
    if [[ -x "$candidate" ]]; then PY=$candidate; break; fi
  done
  PY=${PY:-python3}
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
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
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
if ! err=$("$PY" -c 'import edge_runtime, benchmarks.cli' 2>&1); then
  echo "[pi-benchmark] the runtime or the benchmark CLI is not importable with $PY (${err##*$'\n'});" \
       "install it: python3 -m venv ~/edge-venv && ~/edge-venv/bin/pip install ." >&2
  exit 2
fi

mkdir -p results
rc=0
"$PY" -m benchmarks run "${DATA_ARGS[@]}" --runs "$RUNS" --threads "$THREADS" \
  --machine-label "$LABEL" --out "results/$LABEL" || rc=$?
[[ $rc -le 1 ]] || exit "$rc"   # 1 = some model failed: its row says why, the others are there

if [[ ${#OTHERS[@]} -eq 0 ]]; then
  shopt -s nullglob
  candidates=(benchmarks/results/*.json)
  # Only benchmark results (benchmarks.report.load_result accepts them); the folder also holds
  # other JSON, e.g. cold_start_<machine>.json, which merge would refuse.
  if [[ ${#candidates[@]} -gt 0 ]]; then
    mapfile -t OTHERS < <("$PY" - "${candidates[@]}" <<'EOF'
import sys
from benchmarks.report import ResultFileError, load_result
for path in sys.argv[1:]:
    try:
        load_result(path)
    except ResultFileError:
        continue
    print(path)
EOF
)
  fi
fi
MERGE=()
for f in "${OTHERS[@]}"; do
  [[ "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" == "$(pwd)/results/$LABEL.json" ]] || MERGE+=("$f")
done
echo >&2
echo "[pi-benchmark] merged with: ${MERGE[*]:-(nothing else)}" >&2
"$PY" -m benchmarks merge "${MERGE[@]}" "results/$LABEL.json" --out results/merged
exit "$rc"
