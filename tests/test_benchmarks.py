"""The benchmark harness on tiny models: rows, failures, files, merge, MACs, floor, metrics."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.cli import parse_threads
from benchmarks.data import DataError, labelled_images, synthetic_jpeg
from benchmarks.harness import Row, _signal_reason, compare_to_reference, score_rows
from benchmarks.machine import decode_throttled, machine_record, parse_cpuinfo
from benchmarks.macs import count_macs, op_macs
from benchmarks.peaks import compute_floor, core_peak, describe_peak
from benchmarks.report import merge_documents, merged_table
from benchmarks.timing import summarize, time_calls
from tests.conftest import requires_tensorflow

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def labelled_folder(tmp_path_factory) -> Path:
    """A tiny labelled folder of generated JPEGs (3 real, 3 fake) plus one broken file."""
    root = tmp_path_factory.mktemp("labelled")
    for label, seeds in (("real", (1, 2, 3)), ("fake", (4, 5, 6))):
        (root / label).mkdir()
        for s in seeds:
            synthetic_jpeg(root / label / f"img_{s}.jpg", size=64, seed=s)
    (root / "fake" / "zz_broken.jpg").write_bytes(b"not a jpeg at all")
    return root


# --- MACs -------------------------------------------------------------------------------------


def test_op_macs_by_hand():
    # MobileNet's first depthwise layer: 112x112x32 output, 3x3 kernel.
    assert op_macs("DEPTHWISE_CONV_2D", [1, 3, 3, 32], [1, 112, 112, 32]) == 112 * 112 * 32 * 9
    # Its first pointwise conv: 112x112x64 output from 32 input channels, 1x1 kernel.
    assert op_macs("CONV_2D", [64, 1, 1, 32], [1, 112, 112, 64]) == 112 * 112 * 64 * 32
    assert op_macs("FULLY_CONNECTED", [2, 1024], [1, 2]) == 2048
    assert op_macs("AVERAGE_POOL_2D", [], [1, 1, 1, 1024]) == 0


def test_mac_count_of_tiny_model_matches_hand_computation(tiny_bundles):
    # tests/tiny_models.py: 32x32x3 -> Conv 8@3x3/2 (valid) -> 15x15x8 -> Conv 16@3x3/2 -> 7x7x16
    # -> global average pool -> Dense 16 -> Dense 2.
    conv1 = 15 * 15 * 8 * (3 * 3 * 3)
    conv2 = 7 * 7 * 16 * (3 * 3 * 8)
    dense = 16 * 16 + 16 * 2
    for variant, path in tiny_bundles.items():
        count = count_macs(path.read_bytes(), str(path))
        assert count.total == conv1 + conv2 + dense, variant
        assert count.by_op == {"CONV_2D": conv1 + conv2, "FULLY_CONNECTED": dense}
        assert count.layers == 4
    int8 = count_macs(tiny_bundles["int8"].read_bytes())
    assert set(int8.by_weight_type) == {"int8"}
    fp32 = count_macs(tiny_bundles["fp32"].read_bytes())
    assert set(fp32.by_weight_type) == {"float32"}


def test_mac_count_of_garbage_is_one_line_model_error(tmp_path):
    from edge_runtime.types import ModelError

    with pytest.raises(ModelError, match="not a TFLite model"):
        count_macs(b"hello world, not a model", "bad.tflite")


# --- compute floor ----------------------------------------------------------------------------

PI4 = {"arch": "aarch64", "arm_core": "Cortex-A72", "max_mhz": 1500.0, "usable_cores": 4}


def test_compute_floor_math_pi4():
    # 569M fp32 MACs on one A72 core at 1.5 GHz, 4 MAC/cycle: 569e6 / 6e9 s = 94.83 ms.
    f = compute_floor({"float32": 569_000_000}, latency_ms=189.67, threads=1, machine=PI4)
    assert f["floor_ms"] == pytest.approx(569e6 / (4 * 1.5e9) * 1000)
    assert f["floor_pct"] == pytest.approx(50.0, rel=1e-3)
    # int8 at 8 MAC/cycle on 4 threads: a quarter of the time again, per thread count.
    g = compute_floor({"int8": 569_000_000}, latency_ms=10.0, threads=4, machine=PI4)
    assert g["floor_ms"] == pytest.approx(569e6 / (8 * 1.5e9 * 4) * 1000)
    # Mixed layers are charged at their own peak.
    h = compute_floor({"int8": 8e8, "float32": 4e8}, latency_ms=100.0, threads=1, machine=PI4)
    assert h["floor_ms"] == pytest.approx((8e8 / 8 + 4e8 / 4) / 1.5e9 * 1000)


def test_compute_floor_threads_capped_at_cores_and_unknown_cpu():
    two = dict(PI4, usable_cores=2)
    f = compute_floor({"float32": 6e9}, 1000.0, threads=8, machine=two)
    assert f["floor_ms"] == pytest.approx(6e9 / (4 * 1.5e9 * 2) * 1000)
    unknown = {"arch": "riscv64", "cpu_flags": []}
    assert compute_floor({"float32": 1e9}, 10.0, 1, unknown)["floor_pct"] is None
    assert "unknown" in describe_peak(unknown, 1)


def test_core_peak_selection():
    x86 = {"arch": "x86_64", "cpu_flags": ["avx2", "fma"], "cur_mhz": 3000.0, "usable_cores": 2}
    assert core_peak(x86).fp32_macs_per_cycle == 16
    f = compute_floor({"float32": 4.8e9}, 100.0, 1, x86)
    assert f["floor_ms"] == pytest.approx(4.8e9 / (16 * 3e9) * 1000)
    assert core_peak({"arch": "x86_64", "cpu_flags": ["avx"]}) is None
    assert core_peak({"arch": "aarch64", "arm_core": "Cortex-A76"}).int8_macs_per_cycle == 32
    # No cpufreq on the Pi: the nominal clock is used, and said so.
    f = compute_floor({"float32": 1e9}, 100.0, 1, {"arch": "aarch64", "arm_core": "Cortex-A76"})
    assert "nominal" in f["peak_basis"]
    assert f["floor_ms"] == pytest.approx(1e9 / (8 * 2.4e9) * 1000)


# --- machine record ---------------------------------------------------------------------------

PI4_CPUINFO = (
    "".join(
        f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
        "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n"
        "CPU revision\t: 3\n\n"
        for i in range(4)
    )
    + "Revision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
)


def test_machine_record_on_a_fake_pi(tmp_path):
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "proc/cpuinfo").write_text(PI4_CPUINFO)
    (tmp_path / "proc/device-tree/model").write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\0")
    (tmp_path / "proc/meminfo").write_text("MemTotal:        3884096 kB\n")
    (tmp_path / "proc/loadavg").write_text("0.52 0.31 0.20 1/123 4567\n")
    zone = tmp_path / "sys/class/thermal/thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "type").write_text("cpu-thermal\n")
    (zone / "temp").write_text("47236\n")
    freq = tmp_path / "sys/devices/system/cpu/cpu0/cpufreq"
    freq.mkdir(parents=True)
    (freq / "scaling_governor").write_text("ondemand\n")
    (freq / "cpuinfo_max_freq").write_text("1800000\n")
    (freq / "scaling_cur_freq").write_text("600000\n")
    m = machine_record(None, "ai_edge_litert 2.3.0", root=tmp_path)
    assert m["label"] == "Raspberry Pi 4 Model B Rev 1.4"
    assert m["board"] == "Raspberry Pi 4 Model B Rev 1.4"
    assert m["arm_core"] == "Cortex-A72" and m["cpu_model"] == "Cortex-A72"
    assert m["governor"] == "ondemand"
    assert m["max_mhz"] == 1800.0 and m["cur_mhz"] == 600.0
    assert m["temperature_c"] == pytest.approx(47.236)
    assert m["memory_mb"] == pytest.approx(3793.1, abs=0.1)
    assert m["load_average"] == [0.52, 0.31, 0.20]
    assert "asimd" in m["cpu_flags"]
    assert m["backend"] == "ai_edge_litert 2.3.0"


def test_machine_record_here_has_every_field():
    m = machine_record("x86-dev", "some backend")
    for key in (
        "label",
        "date",
        "arch",
        "cpu_model",
        "cores",
        "governor",
        "board",
        "temperature_c",
        "throttled",
        "backend",
        "python",
        "numpy",
        "os",
    ):
        assert key in m, key
    assert m["label"] == "x86-dev" and m["cores"] >= 1 and m["python"].count(".") == 2


def test_cpuinfo_x86_and_throttle_bits():
    info = parse_cpuinfo(
        "model name\t: AMD EPYC\ncpu MHz\t\t: 2596.146\nflags\t\t: fpu avx2 fma sse\n"
    )
    assert info["cpu_model"] == "AMD EPYC" and info["cpuinfo_mhz"] == pytest.approx(2596.146)
    assert info["flags"] == ["avx2", "fma"]
    assert decode_throttled(0x50005) == [
        "under-voltage now",
        "throttled now",
        "under-voltage has occurred",
        "throttling has occurred",
    ]
    assert decode_throttled(0) == []


# --- statistics, threads, data ----------------------------------------------------------------


def test_summarize_percentiles():
    s = summarize(list(range(1, 101)))
    assert s["p50"] == pytest.approx(50.5) and s["p90"] == pytest.approx(90.1)
    assert s["p99"] == pytest.approx(99.01) and s["mean"] == pytest.approx(50.5)
    assert s["runs"] == 100
    calls = []
    samples = time_calls(lambda: calls.append(1), runs=7, warmup=3)
    assert len(samples) == 7 and len(calls) == 10


def test_parse_threads():
    assert parse_threads("auto", cores=4) == [1, 2, 4]
    assert parse_threads("auto", cores=6) == [1, 2, 4, 6]
    assert parse_threads("auto", cores=1) == [1]
    assert parse_threads("4, 1,2") == [1, 2, 4]
    with pytest.raises(ValueError):
        parse_threads("0")
    with pytest.raises(ValueError):
        parse_threads("two")


def test_labelled_images_balanced_limit(labelled_folder, tmp_path):
    pairs = labelled_images(labelled_folder)
    assert sum(1 for _, lab in pairs if lab == "real") == 3
    assert sum(1 for _, lab in pairs if lab == "fake") == 4  # broken file included: it must fail
    limited = labelled_images(labelled_folder, limit=4)
    assert [lab for _, lab in limited].count("real") == 2 and len(limited) == 4
    (tmp_path / "real").mkdir()
    with pytest.raises(DataError, match="missing fake"):
        labelled_images(tmp_path)


# --- metrics and comparisons against fp32 -----------------------------------------------------


def test_scores_and_comparisons_by_hand():
    images = [("a", "fake"), ("b", "fake"), ("c", "real"), ("d", "real"), ("e", "real")]
    # fp32: P(fake) -> labels fake, real, real, real, fake (threshold 0.5)
    fp32 = Row(
        model="fp32",
        variant="fp32",
        size_bytes=1000,
        p_fake=[0.9, 0.4, 0.2, 0.1, 0.6],
        extra={"threshold": 0.5},
    )
    # int8: fake, fake, real, real, real; one image failed to decode (None) is left out
    int8 = Row(
        model="int8",
        variant="int8",
        size_bytes=260,
        p_fake=[0.8, 0.7, 0.3, None, 0.4],
        extra={"threshold": 0.5},
    )
    score_rows([fp32, int8], images)
    # fp32: correct a, c, d -> 3/5. Positive = real: TP = c, d; FP = b; FN = e.
    assert fp32.accuracy == pytest.approx(0.6)
    assert fp32.precision == pytest.approx(2 / 3) and fp32.recall == pytest.approx(2 / 3)
    assert fp32.f1 == pytest.approx(2 / 3)
    # AUC with score P(real) = 1 - P(fake): reals 0.8, 0.9, 0.4 vs fakes 0.1, 0.6 -> 5 of 6 pairs.
    assert fp32.auc == pytest.approx(5 / 6)
    # int8 on 4 images (a, b, c, e): correct a, b, c, e -> 4/4.
    assert int8.images == 4 and int8.accuracy == pytest.approx(1.0)
    compare_to_reference([fp32, int8])
    assert int8.size_ratio_fp32 == pytest.approx(0.26)
    assert int8.delta_accuracy_pp == pytest.approx(40.0)
    # Same label on a, c, e? a: F/F yes, b: R/F no, c: R/R yes, e: F/R no -> 2 of 4.
    assert int8.agreement_pct == pytest.approx(50.0)
    assert fp32.agreement_pct == pytest.approx(100.0) and fp32.delta_accuracy_pp == 0.0


def test_signal_reason():
    assert _signal_reason(-11) == "worker killed by SIGSEGV"
    assert _signal_reason(3) == "worker exited with code 3"


# --- the whole command on tiny models ---------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tiny_bundles, labelled_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "tiny"
    corrupt = out.parent / "corrupt.tflite"
    good = tiny_bundles["fp32"].read_bytes()
    corrupt.write_bytes(good[:8] + bytes(200))  # TFL3 identifier, then nothing valid
    not_tflite = out.parent / "photo.tflite"
    not_tflite.write_bytes(b"\xff\xd8\xff\xe0 a jpeg, not a model")
    models = [str(tiny_bundles[v]) for v in ("fp32", "fp16", "dynamic", "int8")]
    proc = run_cli(
        "run",
        *models[:2],
        str(corrupt),
        *models[2:],
        str(not_tflite),
        "--data",
        str(labelled_folder),
        "--runs",
        "3",
        "--warmup",
        "1",
        "--threads",
        "1",
        "--cold-start",
        "1",
        "--out",
        str(out),
        "--machine-label",
        "ci-box",
    )
    return proc, out


def test_run_one_row_per_model_and_failures_do_not_stop_others(tiny_run):
    proc, _out = tiny_run
    assert proc.returncode == 1, proc.stderr  # some model failed
    table = [ln for ln in proc.stdout.splitlines() if ln.startswith("| ")]
    assert len(table) == 1 + 6  # header + one row per model
    rows = {ln.split(" | ")[0].lstrip("| "): ln for ln in table[1:]}
    for v in ("fp32", "fp16", "dynamic", "int8"):
        assert "✅" in rows[f"tiny_{v}.tflite"]
    assert "failed:" in rows["corrupt.tflite"]
    assert "failed:" in rows["photo.tflite"] and "not a TFLite model" in rows["photo.tflite"]
    assert "Traceback" not in proc.stdout + proc.stderr


def test_run_writes_json_and_csv(tiny_run):
    _, out = tiny_run
    doc = json.loads(out.with_suffix(".json").read_text())
    assert doc["machine"]["label"] == "ci-box" and doc["machine"]["backend"]
    assert [r["status"] == "ok" for r in doc["rows"]] == [True, True, False, True, True, False]
    by_name = {r["model"]: r for r in doc["rows"]}
    fp32, int8 = by_name["tiny_fp32.tflite"], by_name["tiny_int8.tflite"]
    assert fp32["size_ratio_fp32"] == 1.0 and fp32["agreement_pct"] == 100.0
    assert int8["size_ratio_fp32"] < 1.0
    assert fp32["macs"] == 105336 and fp32["images"] == 6 and fp32["image_errors"] == 1
    for key in ("model_ms", "e2e_ms"):
        assert set(fp32[key]) >= {"p50", "p90", "p99", "mean"} and fp32[key]["runs"] == 3
    assert fp32["thread_sweep_p50_ms"].keys() == {"1"}
    assert fp32["peak_rss_mb"] > 10 and fp32["throughput_ips"] > 0
    assert fp32["cold_start_s"] > 0 and "fresh" in fp32["extra"]["cold_start"]
    assert 0 <= fp32["accuracy"] <= 1 and fp32["auc"] is not None
    with open(out.with_suffix(".csv"), newline="") as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == 6 and lines[0]["machine"] == "ci-box"
    assert float(lines[0]["invoke_p50_ms_t1"]) > 0
    assert out.with_suffix(".md").read_text().count("\n| ") >= 7


def test_merge_side_by_side(tiny_run, tmp_path):
    _, out = tiny_run
    doc = json.loads(out.with_suffix(".json").read_text())
    pi = json.loads(json.dumps(doc))
    pi["machine"]["label"] = "pi4"
    pi["rows"] = [r for r in pi["rows"] if r["model"] != "tiny_fp16.tflite"]
    (tmp_path / "pi4.json").write_text(json.dumps(pi))
    proc = run_cli(
        "merge",
        str(out.with_suffix(".json")),
        str(tmp_path / "pi4.json"),
        "--out",
        str(tmp_path / "merged"),
    )
    assert proc.returncode == 0, proc.stderr
    table = [ln for ln in proc.stdout.splitlines() if ln.startswith("| ")]
    assert "ci-box: end-to-end p50 ms" in table[0] and "pi4: end-to-end p50 ms" in table[0]
    assert len(table) == 1 + 6  # every model once, machines across
    fp16 = next(ln for ln in table if ln.startswith("| tiny_fp16"))
    assert fp16.rstrip(" |").endswith("— | — | —")  # not run on pi4
    merged = json.loads((tmp_path / "merged.json").read_text())
    assert [d["machine"]["label"] for d in merged["results"]] == ["ci-box", "pi4"]
    same = merge_documents([doc, doc])
    assert [d["machine"]["label"] for d in same["results"]] == ["ci-box #1", "ci-box #2"]
    assert "ci-box #2: % peak" in merged_table(same)


def test_merge_rejects_a_non_result_file(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"hello": 1}')
    proc = run_cli("merge", str(bad))
    assert proc.returncode == 2 and "not an edge-detect benchmark result" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_plot_png(tiny_run, tmp_path):
    pytest.importorskip("matplotlib")
    from benchmarks.plot import PlotError, plot_results

    _, out = tiny_run
    doc = json.loads(out.with_suffix(".json").read_text())
    png = plot_results(doc, tmp_path / "plot.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for r in doc["rows"]:
        r["accuracy"] = None
    with pytest.raises(PlotError, match="--data"):
        plot_results(doc, tmp_path / "none.png")


def test_run_without_models_or_data_is_a_usage_error(tmp_path):
    proc = run_cli(
        "run",
        "--data",
        str(tmp_path / "nowhere"),
        "--no-data",
        str(tmp_path / "m.tflite"),
        "--threads",
        "x",
    )
    assert proc.returncode == 2 and "--threads" in proc.stderr


# --- Keras baseline ---------------------------------------------------------------------------


@requires_tensorflow
def test_keras_baseline_rows(tmp_path, labelled_folder):
    from benchmarks.data import labelled_images as li
    from benchmarks.keras_baseline import run_keras_baseline
    from edge_runtime.types import PreprocessSpec
    from tests.tiny_models import build_tiny_classifier

    path = tmp_path / "tiny.keras"
    build_tiny_classifier(32).save(path)
    images = li(labelled_folder)
    spec = PreprocessSpec(height=32, width=32).to_dict()
    rows = run_keras_baseline(str(path), spec, images[0][0], images, runs=2, warmup=1)
    assert [r.model for r in rows] == [
        "tiny.keras (Keras model.predict)",
        "tiny.keras (Keras model(x))",
    ]
    assert all(r.ok for r in rows)
    assert rows[0].cold_start_s > 0 and rows[1].cold_start_s is None
    assert rows[1].e2e_ms["runs"] == 2 and rows[0].model_ms["p50"] > 0
    assert len(rows[1].p_fake) == len(images) and rows[1].image_errors == 1


# --- the emulation script's comparison ----------------------------------------------------------


def test_emulation_compare_rules():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "check_outputs", REPO / "scripts" / "arm_emulation" / "check_outputs.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def record(machine, int8_raw, fp32_p, dyn_p):
        def model(name, variant, dtype, raw, probs):
            return {
                "name": name,
                "sha256": name,
                "variant": variant,
                "output_dtype": dtype,
                "raw_outputs": raw,
                "probabilities": probs,
            }

        return {
            "machine": machine,
            "images": ["a.jpg", "b.jpg"],
            "models": [
                model("i8", "int8", "int8", int8_raw, [[0.75, 0.25], [0.25, 0.75]]),
                model("f32", "fp32", "float32", [], fp32_p),
                model("dyn", "dynamic", "float32", [], dyn_p),
            ],
        }

    x86 = record(
        "x86_64", [[64, -64], [-64, 64]], [[0.6, 0.4], [0.2, 0.8]], [[0.6, 0.4], [0.2, 0.8]]
    )
    same = record(
        "aarch64",
        [[64, -64], [-64, 64]],
        [[0.6 + 1e-7, 0.4], [0.2, 0.8]],
        [[0.62, 0.38], [0.2, 0.8]],
    )
    ok, lines = mod.compare(x86, same, float_tol=1e-3, dynamic_tol=5e-2)
    assert ok, lines
    assert any("raw outputs identical" in ln for ln in lines)
    assert any("not measured" in ln for ln in lines)  # never a latency from emulation
    one_off = record(
        "aarch64", [[64, -64], [-63, 63]], [[0.6, 0.4], [0.2, 0.8]], [[0.6, 0.4], [0.2, 0.8]]
    )
    ok, lines = mod.compare(x86, one_off, 1e-3, 5e-2)
    assert not ok and any(ln.startswith("FAIL i8") for ln in lines)
    drift = record(
        "aarch64", [[64, -64], [-64, 64]], [[0.61, 0.39], [0.2, 0.8]], [[0.6, 0.4], [0.2, 0.8]]
    )
    ok, lines = mod.compare(x86, drift, 1e-3, 5e-2)
    assert not ok and any(ln.startswith("FAIL f32") for ln in lines)
