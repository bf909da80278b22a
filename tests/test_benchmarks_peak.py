"""The measured compute peak (benchmarks/peaks.py) and the cold-start median (harness)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import cold_start, peaks
from benchmarks.harness import BenchmarkOptions, Row, measure_cold_start
from benchmarks.peaks import compute_floor, describe_peak, gemm_model, measure_peak

pytest.importorskip("ai_edge_litert", reason="needs ai-edge-litert (its flatbuffer schema)")


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_gemm_kernel_computes_the_product(precision):
    """The calibration model really is x @ w.T (so its MAC count is the work done)."""
    from ai_edge_litert import schema_py_generated as s
    from ai_edge_litert.interpreter import Interpreter

    content = gemm_model(8, 32, 4, precision)
    model = s.ModelT.InitFromObj(s.Model.GetRootAs(content, 0))
    w = np.asarray(model.buffers[1].data, np.uint8).view(
        np.int8 if precision == "int8" else np.float32
    )
    w = w.reshape(4, 32).astype(np.float64)
    it = Interpreter(model_content=content, num_threads=1)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    rng = np.random.default_rng(1)
    if precision == "fp32":
        x = rng.standard_normal((8, 32)).astype(np.float32)
        it.set_tensor(inp["index"], x)
        it.invoke()
        np.testing.assert_allclose(it.get_tensor(out["index"]), x @ w.T, rtol=1e-4, atol=1e-4)
    else:
        x = rng.integers(-3, 4, (8, 32), dtype=np.int8)
        it.set_tensor(inp["index"], x)
        it.invoke()
        s_in, s_w, s_out = 0.02, 0.01, 0.5
        expected = np.clip(np.round(x.astype(np.float64) @ w.T * s_in * s_w / s_out), -128, 127)
        assert np.abs(it.get_tensor(out["index"]).astype(np.float64) - expected).max() <= 1


def test_measure_peak_gives_rates_for_both_precisions():
    peak = measure_peak(1, runs=2, budget_s=0.0)
    assert "error" not in peak, peak.get("error")
    assert peak["threads"] == 1 and peak["int8_gmacs"] > 0 and peak["fp32_gmacs"] > 0


def test_compute_floor_prefers_the_measured_peak():
    machine = {"arch": "x86_64", "cpu_flags": ["avx2", "fma"], "cur_mhz": 2596.0}
    measured = {"threads": 2, "gemm": "g", "int8_gmacs": 500.0, "fp32_gmacs": 100.0}
    floor = compute_floor({"int8": 500_000_000, "float32": 100_000_000}, 4.0, 2, machine, measured)
    # 0.5 G int8 MACs at 500 GMAC/s + 0.1 G fp32 MACs at 100 GMAC/s = 1 ms + 1 ms
    assert floor["floor_ms"] == pytest.approx(2.0)
    assert floor["floor_pct"] == pytest.approx(50.0)
    assert "measured" in floor["peak_basis"]
    # Two measurements: the higher rate per precision (load only ever slows a run down).
    machine["measured_peak"] = {**measured, "int8_gmacs": 1000.0, "fp32_gmacs": 50.0}
    both = compute_floor({"int8": 500_000_000, "float32": 100_000_000}, 4.0, 2, machine, measured)
    assert both["floor_ms"] == pytest.approx(0.5 + 1.0)
    del machine["measured_peak"]
    # A measurement at another thread count does not apply: the table x clock is used instead.
    other = compute_floor({"int8": 500_000_000}, 4.0, 1, machine, measured)
    assert "2596 MHz" in other["peak_basis"]


def test_describe_peak_prints_the_clock_it_implies():
    machine = {
        "arch": "x86_64",
        "cpu_flags": ["avx2", "fma"],
        "cur_mhz": 2596.0,
        "usable_cores": 2,
        "measured_peak": {"threads": 2, "gemm": "g", "int8_gmacs": 512.0, "fp32_gmacs": 128.0},
    }
    machine["cur_mhz"] = 2000.0
    line = describe_peak(machine, 2)
    # 128 GMAC/s / (2000 MHz x 2 cores) = 32 MAC/cycle/core; 512 / (2000 x 2) = 128
    assert "measured on this machine" in line and "clock used: none" in line
    assert "2000 MHz it would take 32 fp32 / 128 int8 MAC/cycle/core" in line


def test_cold_start_is_the_median_of_the_walls_only(monkeypatch):
    """time_runs returns (walls, cpus); the column is the median of the N walls."""
    calls = []

    def fake_time_runs(cmd, repeat, env):
        calls.append(repeat)
        walls = [0.30, 0.10, 0.20][:repeat]
        return walls, [5.0, 6.0, 7.0][:repeat]

    monkeypatch.setattr(cold_start, "time_runs", fake_time_runs)
    row = Row(model="m", path="m.tflite", threads=1)
    measure_cold_start(row, BenchmarkOptions(latency_image="x.jpg", cold_start_runs=3))
    assert calls == [1, 3]  # one unmeasured, then the measured runs
    assert row.cold_start_s == pytest.approx(0.20)
    assert row.extra["cold_start"].startswith("median of 3 ")
    assert row.extra["cold_start_cpu_s"] == pytest.approx(6.0)


def test_contender_row_without_the_package_says_how_to_install(monkeypatch):
    from benchmarks import contenders
    from benchmarks.cold_start import PACKAGED_SAMPLE

    monkeypatch.setattr(contenders, "_missing", lambda modules: list(modules))
    rows = contenders.contender_rows("int8", 1, 2, 1, [str(PACKAGED_SAMPLE)])
    assert [r["runtime"] for r in rows] == ["ONNX Runtime", "OpenVINO"]
    assert rows[0]["status"].startswith("not installed: pip install '.[contenders,train]'")
    assert rows[1]["status"].startswith("not installed: pip install '.[contenders]'")
    assert all("model_ms" not in r for r in rows)


def test_openvino_row_is_checked_against_litert_before_timing():
    """OpenVINO on the shipped int8 model (opt-in: only where '.[contenders]' is installed)."""
    from benchmarks import contenders
    from benchmarks.cold_start import PACKAGED_SAMPLE

    if contenders._missing(("openvino",)):
        pytest.skip("OpenVINO not installed (pip install '.[contenders]')")
    images = [str(PACKAGED_SAMPLE)]
    (row,) = contenders.contender_rows("int8", 1, 2, 1, images, runtimes=("openvino",))
    assert row["status"] == "ok", row["status"]
    assert row["check"]["max_abs_dp_vs_litert"] <= contenders.TOLERANCE
    assert row["model_ms"]["runs"] == 2


def test_best_measured_peak_over_rows():
    from benchmarks.peaks import best_measured_peak

    a = {"threads": 2, "gemm": "g", "int8_gmacs": 400.0, "fp32_gmacs": 150.0}
    b = {"threads": 2, "gemm": "g", "int8_gmacs": 900.0, "fp32_gmacs": 90.0}
    c = {"threads": 1, "gemm": "g", "int8_gmacs": 9999.0, "fp32_gmacs": 9999.0}
    best = best_measured_peak([a, None, b, {"threads": 2, "error": "x"}, c])
    assert (best["threads"], best["int8_gmacs"], best["fp32_gmacs"]) == (2, 900.0, 150.0)
    assert best["measurements"] == 2
    assert best_measured_peak([None, {"error": "no schema"}]) is None


def test_module_prints_the_table_and_the_measured_rates(capsys, monkeypatch):
    """`python -m benchmarks.peaks` once printed nothing and exited 0."""
    measured = {
        "threads": 1,
        "gemm": "8x8x8 FULLY_CONNECTED",
        "int8_gmacs": 40.0,
        "fp32_gmacs": 20.0,
    }
    monkeypatch.setattr(peaks, "measure_peak", lambda threads: dict(measured, threads=threads))
    assert peaks.main(["--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "| Cortex-A72 | 4 | 8 | 1500 |" in out
    assert "- 1 thread(s): measured on this machine: 40 int8 / 20 fp32 GMAC/s" in out
    assert peaks.main(["--table-only", "--threads", "2"]) == 0
    table_only = capsys.readouterr().out
    assert "| Cortex-A53 | 2 | 4 | 1400 |" in table_only and "measured" not in table_only
