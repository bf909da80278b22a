"""Share of the compute floor: how close a model's latency comes to the CPU's arithmetic peak.

    floor_ms   = MACs / (peak MACs per cycle per core x clock x threads)
    floor_pct  = floor_ms / measured model-only p50 x 100

Peak MACs per cycle per core are assumptions from the cores' published SIMD widths, stated here
so a reader can redo the sums (a MAC = one multiply-accumulate; an FMA lane does one per cycle):

  Cortex-A53 (Pi 3, Zero 2)  fp32  2  one 64-bit NEON FMA datapath (128-bit FMLA every 2 cycles)
                             int8  4  SMLAL widening multiply-accumulate, no dot-product instruction
  Cortex-A72 (Pi 4, 400)     fp32  4  one 128-bit FMLA (4 lanes) per cycle
                             int8  8  SMULL/SMLAL 8 int8 products per cycle, no dot product
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

Measured peak (preferred): the table's clock is a guess on x86 (/proc/cpuinfo's "cpu MHz" is the
nominal 2.6 GHz on the EPYC dev machine while its cores run at about 3.7 GHz, which once printed
fp32 at 119 % of "peak"). `measure_peak` times the runtime's own GEMM kernel instead: a
FULLY_CONNECTED layer of GEMM_SHAPE (int8 and fp32, written with LiteRT's flatbuffer schema, run
by XNNPACK like the model's 1x1 convolutions) at the benchmark's thread count, best of several
runs. That attainable rate is the peak; the clock it implies (rate / (table MAC/cycle x
threads)) is printed beside it. Where no measurement was recorded (older result files, a backend
without the schema) the table x clock above is used and says so.
"""

from __future__ import annotations

import sys
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


# M x K x N of the calibration GEMM: 1.07 G MACs, a few ms per run; int8 weights (1 MiB) stay in
# L2/L3 like MobileNet's largest pointwise layers.
GEMM_SHAPE = (1024, 1024, 1024)


def gemm_model(m: int, k: int, n: int, precision: str) -> bytes:
    """A .tflite whose only op is FULLY_CONNECTED: [m, k] x [n, k]^T -> [m, n], int8 or fp32."""
    import flatbuffers
    import numpy as np
    from ai_edge_litert import schema_py_generated as s

    rng = np.random.default_rng(0)
    int8 = precision == "int8"

    def tensor(shape, ttype, name, buffer, scale=None, zero=0):
        t = s.TensorT()
        t.shape, t.type, t.name, t.buffer = list(shape), ttype, name, buffer
        if scale is not None:
            t.quantization = s.QuantizationParametersT()
            t.quantization.scale, t.quantization.zeroPoint = [scale], [zero]
        return t

    if int8:
        weights = rng.integers(-127, 128, (n, k), dtype=np.int8)
        bias = np.zeros(n, np.int32)
        tensors = [
            tensor((m, k), s.TensorType.INT8, b"x", 0, 0.02, 0),
            tensor((n, k), s.TensorType.INT8, b"w", 1, 0.01, 0),
            tensor((n,), s.TensorType.INT32, b"b", 2, 0.0002, 0),
            tensor((m, n), s.TensorType.INT8, b"y", 0, 0.5, 0),
        ]
    else:
        weights = rng.standard_normal((n, k)).astype(np.float32)
        bias = np.zeros(n, np.float32)
        tensors = [
            tensor((m, k), s.TensorType.FLOAT32, b"x", 0),
            tensor((n, k), s.TensorType.FLOAT32, b"w", 1),
            tensor((n,), s.TensorType.FLOAT32, b"b", 2),
            tensor((m, n), s.TensorType.FLOAT32, b"y", 0),
        ]
    buffers = [s.BufferT(), s.BufferT(), s.BufferT()]
    buffers[1].data = np.frombuffer(weights.tobytes(), np.uint8)  # numpy: packed in one copy
    buffers[2].data = np.frombuffer(bias.tobytes(), np.uint8)
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.FULLY_CONNECTED
    code.version = 4 if int8 else 1
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1, 2], [3]
    op.builtinOptionsType = s.BuiltinOptions.FullyConnectedOptions
    op.builtinOptions = s.FullyConnectedOptionsT()
    graph = s.SubGraphT()
    graph.tensors, graph.inputs, graph.outputs, graph.operators = tensors, [0], [3], [op]
    model = s.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, [code], [graph], buffers
    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def measure_peak(
    threads: int, backend_name: str | None = None, runs: int = 15, budget_s: float = 0.6
) -> dict[str, Any]:
    """Attainable int8 and fp32 MAC rates of the runtime's GEMM kernel at `threads` threads.

    {"threads", "gemm", "int8_gmacs", "fp32_gmacs"}, or {"error": reason} when the kernel
    cannot be built or run here (the table x clock is used then).
    """
    import time

    import numpy as np

    from edge_runtime.interpreter import load_backend, make_interpreter

    m, k, n = GEMM_SHAPE
    out: dict[str, Any] = {"threads": threads, "gemm": f"{m}x{k}x{n} FULLY_CONNECTED"}
    try:
        backend = load_backend(backend_name)
        for precision in ("int8", "fp32"):
            it = make_interpreter(gemm_model(m, k, n, precision), threads, backend, "peak kernel")
            detail = it.get_input_details()[0]
            x = np.ones(detail["shape"], dtype=detail["dtype"])
            it.set_tensor(detail["index"], x)
            for _ in range(3):
                it.invoke()
            # Best of at least `runs`, and of as many as fit in budget_s: other processes on
            # the cores only ever slow a run down, so the fastest is the closest to the peak.
            samples = [_timed(it.invoke, time.perf_counter) for _ in range(runs)]
            deadline = time.perf_counter() + budget_s
            while time.perf_counter() < deadline:
                samples.append(_timed(it.invoke, time.perf_counter))
            best = min(samples)
            out[f"{precision}_gmacs"] = m * k * n / best / 1e9
    except Exception as e:  # noqa: BLE001 - any failure falls back to the table, with its reason
        return {"threads": threads, "error": f"{type(e).__name__}: {e}"}
    return out


def _timed(fn, clock) -> float:
    start = clock()
    fn()
    return clock() - start


def _measured(*peaks: dict[str, Any] | None, threads: int) -> dict[str, Any] | None:
    """The highest rate per precision among the measurements at this thread count: each one is
    a lower bound of what the cores can do (load only slows a run down)."""
    usable = [
        p
        for p in peaks
        if p and p.get("threads") == threads and p.get("int8_gmacs") and p.get("fp32_gmacs")
    ]
    if not usable:
        return None
    best = dict(usable[0])
    for p in usable[1:]:
        for key in ("int8_gmacs", "fp32_gmacs"):
            best[key] = max(best[key], p[key])
    return best


def best_measured_peak(peaks: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Of several measure_peak results, the best rate per precision at the most common thread
    count (the benchmark's main setting), with how many measurements it is the best of."""
    usable = [p for p in peaks if p and p.get("int8_gmacs") and p.get("fp32_gmacs")]
    if not usable:
        return None
    counts = [p["threads"] for p in usable]
    threads = max(set(counts), key=counts.count)
    best = _measured(*usable, threads=threads)
    if best is not None:
        best["measurements"] = counts.count(threads)
    return best


def precision_of(weight_type: str) -> str:
    """int8 arithmetic for int8 weights (int8 and dynamic-range models), else fp32."""
    return "int8" if weight_type in ("int8", "uint8") else "fp32"


def compute_floor(
    macs_by_weight_type: dict[str, int],
    latency_ms: float | None,
    threads: int,
    machine: dict[str, Any],
    measured_peak: dict[str, Any] | None = None,
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
    if not sum(macs_by_weight_type.values()):
        return out
    # The row's own measurement (taken in its worker, right after its timing) and the
    # machine-level one: the higher rate of the two.
    measured = _measured(measured_peak, machine.get("measured_peak"), threads=threads)
    if measured is not None:
        seconds = sum(
            macs / (measured[f"{precision_of(w)}_gmacs"] * 1e9)
            for w, macs in macs_by_weight_type.items()
        )
        out["floor_ms"] = seconds * 1000.0
        used = sorted({precision_of(w) for w in macs_by_weight_type})
        out["peak_basis"] = (
            "measured GEMM kernel: "
            + " + ".join(f"{p} {measured[p + '_gmacs']:.0f} GMAC/s" for p in used)
            + f" at {threads} thread(s)"
        )
        if latency_ms and latency_ms > 0:
            out["floor_pct"] = out["floor_ms"] / latency_ms * 100.0
        return out
    peak = core_peak(machine)
    if peak is None:
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
    measured = _measured(machine.get("measured_peak"), threads=threads)
    if measured is not None:
        line = (
            f"measured on this machine: {measured['int8_gmacs']:.0f} int8 / "
            f"{measured['fp32_gmacs']:.0f} fp32 GMAC/s at {threads} thread(s) (best of the "
            f"runtime's {measured['gemm']} kernel"
            + (
                f", over {measured['measurements']} measurements"
                if measured.get("measurements")
                else ""
            )
            + ", benchmarks/peaks.py)"
        )
        line += "; clock used: none (the rate is measured, not clock x MAC/cycle)"
        cpuinfo_mhz = machine.get("cur_mhz")
        if cpuinfo_mhz:
            cores = max(1, min(threads, machine.get("usable_cores") or threads))
            per_cycle = [
                measured[f"{p}_gmacs"] * 1e9 / (float(cpuinfo_mhz) * 1e6 * cores)
                for p in ("fp32", "int8")
            ]
            line += (
                f"; at /proc/cpuinfo's {float(cpuinfo_mhz):.0f} MHz it would take "
                f"{per_cycle[0]:.0f} fp32 / {per_cycle[1]:.0f} int8 MAC/cycle/core"
            )
            if peak is not None:
                line += (
                    f" (the table assumes {peak.fp32_macs_per_cycle} / "
                    f"{peak.int8_macs_per_cycle} for {peak.name})"
                )
        return line
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


PROG = "python -m benchmarks.peaks"


def print_table(machine: dict[str, Any], thread_counts: list[int], measure: bool) -> None:
    """The assumed peaks, this machine's entry and (measure) the kernel's rates per thread count."""
    print("| core | fp32 MAC/cycle/core | int8 MAC/cycle/core | nominal MHz |")
    print("|---|---|---|---|")
    for peak in PEAKS.values():
        mhz = f"{peak.nominal_mhz:.0f}" if peak.nominal_mhz else "-"
        print(f"| {peak.name} | {peak.fp32_macs_per_cycle} | {peak.int8_macs_per_cycle} | {mhz} |")
    print()
    print(f"This machine: {machine.get('cpu_model') or machine.get('arch')}")
    for threads in thread_counts:
        if measure:
            machine = dict(machine, measured_peak=measure_peak(threads))
            error = machine["measured_peak"].get("error")
            if error:
                print(f"- {threads} thread(s): kernel not measured ({error})")
        print(f"- {threads} thread(s): {describe_peak(machine, threads)}")


def main(argv: list[str] | None = None) -> int:
    from edge_runtime.console import ArgumentParser, at_least

    from .machine import machine_record

    p = ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=at_least(1), nargs="+", default=[1, 2], help="[default: 1 2]")
    p.add_argument(
        "--table-only", action="store_true", help="no kernel measurement: the assumed peaks only"
    )
    args = p.parse_args(argv)
    print_table(machine_record(), args.threads, measure=not args.table_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
