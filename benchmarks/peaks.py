"""Share of the compute floor: how close a model's latency comes to the CPU's arithmetic peak.

    floor_ms   = MACs / (peak MACs per cycle per core x clock x threads)
    floor_pct  = floor_ms / measured model-only p50 x 100

Peak MACs per cycle per core are assumptions from the cores' published SIMD widths, stated here
so a reader can redo the sums (a MAC = one multiply-accumulate; an FMA lane does one per cycle):

  Cortex-A53 (Pi 3, Zero 2)  fp32  2  one 64-bit-wide NEON FMA datapath (a 128-bit FMLA every 2 cycles)
                             int8  4  SMLAL widening multiply-accumulate, no dot-product instruction
  Cortex-A72 (Pi 4, 400)     fp32  4  one 128-bit FMLA (4 lanes) per cycle
                             int8  8  SMULL/SMLAL 8 int8 products per cycle, no dot-product (ARMv8.0)
  Cortex-A76 (Pi 5)          fp32  8  two 128-bit FMA pipes
                             int8 32  two SDOT (ARMv8.2 dot product, 16 int8 MACs each) per cycle
  x86-64 AVX2 + FMA          fp32 16  two 256-bit FMA units x 8 lanes (Haswell+, Zen 2+; AVX-512
                                      parts are counted the same: Zen 4 runs 512-bit as 2x256)
                             int8 64  two VPMADDUBSW (32 u8 x s8 products each) per cycle
Which peak applies: fp32 and fp16 models (fp16 weights are expanded to fp32 at load) use fp32;
int8 and dynamic-range models (int8 weights, int8 arithmetic) use int8. The clock is the CPU's
maximum from cpufreq when /sys has it, else the board's nominal clock (ARM) or /proc/cpuinfo MHz
(x86, where turbo may run higher). Memory traffic, im2col, depthwise layers and thread start-up
keep real models far from 100%: the figure says how much headroom is left, not a target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CorePeak:
    name: str
    fp32_macs_per_cycle: int
    int8_macs_per_cycle: int
    nominal_mhz: float | None  # used when cpufreq gives no maximum

    def macs_per_cycle(self, precision: str) -> int:
        return self.int8_macs_per_cycle if precision == "int8" else self.fp32_macs_per_cycle


PEAKS: dict[str, CorePeak] = {
    "Cortex-A53": CorePeak("Cortex-A53", 2, 4, 1400.0),
    "Cortex-A72": CorePeak("Cortex-A72", 4, 8, 1500.0),
    "Cortex-A76": CorePeak("Cortex-A76", 8, 32, 2400.0),
    "x86-avx2-fma": CorePeak("x86-64 AVX2+FMA", 16, 64, None),
}


def core_peak(machine: dict[str, Any]) -> CorePeak | None:
    """The peak table entry for a machine record, or None where the CPU is not in the table."""
    core = machine.get("arm_core")
    if core in PEAKS:
        return PEAKS[core]
    flags = set(machine.get("cpu_flags") or [])
    if machine.get("arch") in ("x86_64", "AMD64") and {"avx2", "fma"} <= flags:
        return PEAKS["x86-avx2-fma"]
    return None


def peak_clock_mhz(machine: dict[str, Any], peak: CorePeak) -> tuple[float | None, str]:
    if machine.get("max_mhz"):
        return float(machine["max_mhz"]), "cpufreq cpuinfo_max_freq"
    if peak.nominal_mhz:
        return peak.nominal_mhz, f"nominal {peak.name} clock"
    if machine.get("cur_mhz"):
        return float(machine["cur_mhz"]), "/proc/cpuinfo cpu MHz"
    return None, "unknown"


def precision_of(weight_type: str) -> str:
    """int8 arithmetic for int8 weights (int8 and dynamic-range models), else fp32."""
    return "int8" if weight_type in ("int8", "uint8") else "fp32"


def compute_floor(
    macs_by_weight_type: dict[str, int],
    latency_ms: float | None,
    threads: int,
    machine: dict[str, Any],
) -> dict[str, Any]:
    """floor_ms (latency at peak) and floor_pct (its share of the measured latency).

    Layers are charged at the peak of their own arithmetic: a dynamic-range model whose small
    layers kept float weights mixes int8 and fp32 MACs.
    """
    out: dict[str, Any] = {
        "floor_ms": None,
        "floor_pct": None,
        "peak_basis": "CPU not in the peak table",
    }
    peak = core_peak(machine)
    if peak is None or not sum(macs_by_weight_type.values()):
        return out
    mhz, clock_source = peak_clock_mhz(machine, peak)
    if mhz is None:
        out["peak_basis"] = f"{peak.name}: clock unknown"
        return out
    cores = max(1, min(threads, machine.get("usable_cores") or threads))
    seconds = 0.0
    used = set()
    for wtype, macs in macs_by_weight_type.items():
        precision = precision_of(wtype)
        used.add(f"{precision} {peak.macs_per_cycle(precision)}")
        seconds += macs / (peak.macs_per_cycle(precision) * mhz * 1e6 * cores)
    out["floor_ms"] = seconds * 1000.0
    out["peak_basis"] = (
        f"{peak.name}: {' + '.join(sorted(used))} MAC/cycle/core x {mhz:.0f} MHz "
        f"({clock_source}) x {cores} thread(s)"
    )
    if latency_ms and latency_ms > 0:
        out["floor_pct"] = out["floor_ms"] / latency_ms * 100.0
    return out


def describe_peak(machine: dict[str, Any], threads: int) -> str:
    """One line for a table footer: which peak the % column is measured against."""
    peak = core_peak(machine)
    if peak is None:
        return (
            f"unknown for this CPU ({machine.get('cpu_model') or machine.get('arch')}); no % shown"
        )
    mhz, source = peak_clock_mhz(machine, peak)
    cores = max(1, min(threads, machine.get("usable_cores") or threads))
    clock = f"{mhz:.0f} MHz ({source})" if mhz else "clock unknown"
    return (
        f"{peak.name}, {peak.fp32_macs_per_cycle} fp32 / {peak.int8_macs_per_cycle} int8 "
        f"MAC/cycle/core (assumed, see benchmarks/peaks.py) x {clock} x {cores} thread(s)"
        + (
            f" = {peak.fp32_macs_per_cycle * mhz * 1e6 * cores / 1e9:.0f} fp32 / "
            f"{peak.int8_macs_per_cycle * mhz * 1e6 * cores / 1e9:.0f} int8 GMAC/s"
            if mhz
            else ""
        )
    )
