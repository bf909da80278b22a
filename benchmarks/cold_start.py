"""Cold start of `edge-detect one.jpg`: a fresh process each time, the way a user runs it.

    python -m benchmarks.cold_start                       # default model (int8), a sample face
    python -m benchmarks.cold_start --model path/to.tflite --repeat 20 --json-out cold.json

Prints the median and minimum wall time of N fresh `edge-detect IMAGE` processes (after one
unmeasured warm-up run, so the OS file cache is warm as on any second use), the bare Python
start-up and a minimal ai_edge_litert + Pillow script classifying the same image with the same
model (the reference for edge-detect's overhead), the in-process phases (imports, model load,
first image), and the top-level imports by cumulative time from `python -X importtime`.
A benchmark, not a test: wall times depend on the machine and its load; the CPU time
(user + system) of each process is printed too, because it moves much less when other jobs
share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The public-domain 256x256 face that ships with the package, like one user photo.
PACKAGED_SAMPLE = REPO / "edge_runtime" / "samples" / "astronaut_face.jpg"

# Runs inside a fresh interpreter: the same work as `edge-detect IMAGE`, timed by phase.
_PHASES_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import edge_runtime.cli  # noqa: F401  (argparse; numpy and Pillow come in here)
from edge_runtime import Detector, DetectorOptions
t1 = time.perf_counter()
det = Detector(DetectorOptions(model=sys.argv[1], num_threads=int(sys.argv[3])))
t2 = time.perf_counter()
det.detect(sys.argv[2])
t3 = time.perf_counter()
print(json.dumps({"imports_s": t1 - t0, "model_load_s": t2 - t1, "first_image_s": t3 - t2,
                  "backend": det.backend.describe(), "model_path": str(det.bundle.path)}))
"""


# Runs inside a fresh interpreter: the least a script can do to classify one image with the same
# model (issue 11's reference: ai_edge_litert + Pillow, no edge_runtime). argv: model, image,
# threads, input side, crop fraction, mean, std.
_MINIMAL_SCRIPT = r"""
import sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image
model, image, threads, side, frac, mean, std = sys.argv[1:8]
it = Interpreter(model_path=model, num_threads=int(threads))
it.allocate_tensors()
inp, out = it.get_input_details()[0], it.get_output_details()[0]
img = Image.open(image).convert("RGB")
w, h = img.size
c = round(min(w, h) * float(frac))
img = img.crop(((w - c) // 2, (h - c) // 2, (w - c) // 2 + c, (h - c) // 2 + c))
x = (np.asarray(img.resize((int(side), int(side))), np.float32) - float(mean)) / float(std)
scale, zero = inp["quantization"]
if scale:
    x = np.clip(np.round(x / scale + zero), -128, 127)
it.set_tensor(inp["index"], x.astype(inp["dtype"])[None])
it.invoke()
print(it.get_tensor(out["index"]))
"""


def minimal_command(python: str, model: str, image: Path, threads: str) -> list[str]:
    """The minimal script's command line for the same model file and input as edge-detect."""
    sys.path.insert(0, str(REPO))
    from edge_runtime.bundle import load_bundle

    bundle = load_bundle(model)
    spec = bundle.info.preprocess
    frac = spec.crop_fraction if spec.crop == "center" else 1.0
    args = [str(bundle.path), str(image), threads, str(spec.height), str(frac)]
    return [python, "-c", _MINIMAL_SCRIPT, *args, str(spec.mean), str(spec.std)]


def default_threads() -> int:
    """What edge-detect uses by default: the cores this process may run on."""
    from edge_runtime.types import usable_cores

    return usable_cores()


def machine_line() -> str:
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip().lower(), value.strip())
    except OSError:
        pass
    # x86: "model name"; Raspberry Pi: "Model" (the board); other ARM: "Hardware".
    cpu = (
        fields.get("model name")
        or fields.get("model")
        or fields.get("hardware")
        or platform.processor()
    )
    cores = default_threads()
    return (
        f"{platform.machine()}, {cores} cores ({cpu or 'unknown CPU'}), "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def find_image(given: str | None, tmp: Path) -> Path:
    if given:
        return Path(given)
    if PACKAGED_SAMPLE.is_file():
        return PACKAGED_SAMPLE
    from workbench.evaluation import default_sample_dir

    faces = sorted((default_sample_dir() / "test" / "real").glob("*.jpg"))
    if faces:
        return faces[0]
    # No shared data: a generated 256x256 JPEG costs the same to decode as a sample face.
    import numpy as np
    from PIL import Image

    path = tmp / "one.jpg"
    pixels = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    return path


def cli_command(python: str) -> tuple[list[str], str]:
    """The installed console script when this environment has one, else `python -m`."""
    script = Path(python).with_name("edge-detect")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)], str(script.name)
    return [python, "-m", "edge_runtime"], "python -m edge_runtime"


def cold_env() -> dict[str, str]:
    """The environment of the timed processes: this one's, but allowed to cache bytecode."""
    env = dict(os.environ)
    # A user's second run finds the .pyc files that pip (or the first run) wrote; with this set
    # (as on our dev machines) every run would compile edge_runtime's sources again (~11 ms).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_runs(cmd: list[str], repeat: int, env: dict[str, str]) -> tuple[list[float], list[float]]:
    """(wall seconds, CPU seconds) per fresh process. CPU time (user + system) hardly moves when
    other jobs share the machine; wall time does."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu0 = _children_cpu_s()
        start = time.perf_counter()
        proc = subprocess.run(cmd, check=False, cwd=REPO, env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        cpus.append(_children_cpu_s() - cpu0)
        if proc.returncode != 0:
            raise SystemExit(
                f"cold_start: {' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr.strip()}"
            )
    return walls, cpus


def top_imports(cmd_args: list[str], python: str, env: dict[str, str], n: int) -> list[dict]:
    """Top-level imports (and their whole subtree) by cumulative microseconds."""
    proc = subprocess.run(
        [python, "-X", "importtime", "-m", "edge_runtime", *cmd_args],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m and len(m.group(3)) == 1:  # one space: imported at top level, not by another module
            rows.append({"module": m.group(4), "cumulative_ms": int(m.group(2)) / 1000.0})
    rows.sort(key=lambda r: r["cumulative_ms"], reverse=True)
    if any(r["module"].split(".")[0] == "tensorflow" for r in rows):
        print("WARNING: tensorflow was imported", file=sys.stderr)
    return rows[:n]


def build_parser() -> argparse.ArgumentParser:
    from edge_runtime.registry import DEFAULT_MODEL

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"model name or .tflite path (default: {DEFAULT_MODEL})",
    )
    ap.add_argument(
        "--image",
        help="one image (default: edge_runtime/samples/astronaut_face.jpg, else a face from "
        "../shared/data, else a generated 256x256 JPEG)",
    )
    ap.add_argument("--repeat", type=int, default=10, help="fresh processes to time (default 10)")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="--threads for edge-detect (default: its own default, all cores)",
    )
    ap.add_argument("--python", default=sys.executable, help="interpreter whose environment to use")
    ap.add_argument("--top", type=int, default=8, help="how many top-level imports to list")
    ap.add_argument("--json-out", help="also write the figures to this JSON file")
    return ap


@dataclass
class ProcessTimes:
    """Seconds per fresh process of each command timed (CPU = user + system)."""

    cli: list[float] = field(default_factory=list)
    cli_cpu: list[float] = field(default_factory=list)
    no_faces: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    bare_cpu: list[float] = field(default_factory=list)
    minimal: list[float] = field(default_factory=list)


def measure_processes(
    cmd: list[str], minimal: list[str], python: str, repeat: int, env: dict[str, str]
) -> ProcessTimes:
    """edge-detect, edge-detect --faces none, bare Python and the minimal script, each `repeat`
    times in fresh processes."""
    time_runs(cmd, 1, env)  # warm-up: page cache, .pyc files
    time_runs(minimal, 1, env)
    times = ProcessTimes()
    # The minimal script finds no faces: edge-detect --faces none is its like-for-like.
    no_faces_cmd = [*cmd, "--faces", "none"]
    for _ in range(repeat):  # interleaved, so all see the same machine load
        wall, cpu = time_runs(cmd, 1, env)
        times.cli += wall
        times.cli_cpu += cpu
        times.no_faces += time_runs(no_faces_cmd, 1, env)[0]
        wall, cpu = time_runs([python, "-c", "pass"], 1, env)
        times.bare += wall
        times.bare_cpu += cpu
        times.minimal += time_runs(minimal, 1, env)[0]
    return times


def measure_phases(
    python: str, model: str, image: Path, threads: str, env: dict[str, str], n: int
) -> list[dict]:
    """The in-process phases (imports, model load, first image) of n fresh interpreters."""
    phases = []
    for _ in range(n):
        out = subprocess.run(
            [python, "-c", _PHASES_SCRIPT, model, str(image), threads],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        phases.append(json.loads(out.strip().splitlines()[-1]))
    return phases


def _load_average() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def build_result(
    command: str,
    repeat: int,
    load_before: float | None,
    times: ProcessTimes,
    phases: list[dict],
    imports: list[dict],
) -> dict:
    """The figures as --json-out writes them (and the report prints them)."""
    median = statistics.median
    return {
        "command": command,
        "machine": machine_line(),
        "backend": phases[0]["backend"],
        "model": phases[0]["model_path"],
        "repeat": repeat,
        "load_average_1min": [load_before, _load_average()],
        "cold_start_median_s": median(times.cli),
        "cold_start_min_s": min(times.cli),
        "python_startup_median_s": median(times.bare),
        "python_startup_min_s": min(times.bare),
        "cold_start_cpu_median_s": median(times.cli_cpu),
        "python_startup_cpu_median_s": median(times.bare_cpu),
        "minimal_script_median_s": median(times.minimal),
        "vs_minimal_script": median(times.cli) / median(times.minimal),
        "faces_none_median_s": median(times.no_faces),
        "faces_none_vs_minimal_script": median(times.no_faces) / median(times.minimal),
        "phases_median_s": {
            k: median(p[k] for p in phases) for k in ("imports_s", "model_load_s", "first_image_s")
        },
        "top_imports_ms": imports,
        "runs_s": times.cli,
    }


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.0f} ms median  {min(values) * 1000:7.0f} ms min"


def print_report(result: dict, times: ProcessTimes) -> None:
    print(f"cold start of `{result['command']}` ({result['repeat']} fresh processes)")
    print(f"machine: {result['machine']}")
    load = result["load_average_1min"]
    if load[0] is not None:
        print(f"load average (1 min) before/after: {load[0]:.2f} / {load[1]:.2f}")
    print(f"backend: {result['backend']}   model: {result['model']}")
    cli_cpu_ms = statistics.median(times.cli_cpu) * 1000
    bare_cpu_ms = statistics.median(times.bare_cpu) * 1000
    print(f"  edge-detect one image   {_ms(times.cli)}   CPU {cli_cpu_ms:4.0f} ms median")
    print(
        f"  ... --faces none        {_ms(times.no_faces)}   "
        f"({result['faces_none_vs_minimal_script']:.2f}x the minimal script)"
    )
    print(
        f"  minimal LiteRT script   {_ms(times.minimal)}   "
        f"(edge-detect with the face stage = {result['vs_minimal_script']:.2f}x)"
    )
    print(f"  python -c pass          {_ms(times.bare)}   CPU {bare_cpu_ms:4.0f} ms median")
    for k, v in result["phases_median_s"].items():
        print(f"  phase {k[:-2]:<17} {v * 1000:7.0f} ms median")
    print("top-level imports (python -X importtime, cumulative, one run):")
    for row in result["top_imports_ms"]:
        print(f"  {row['module']:<32} {row['cumulative_ms']:7.1f} ms")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    load_before = _load_average()
    # cwd=REPO puts the checkout on sys.path for `-m`/`-c`; an installed console script uses
    # its own environment's copy.
    env = cold_env()
    with tempfile.TemporaryDirectory(prefix="cold_start_") as tmp:
        image = find_image(args.image, Path(tmp))
        cli_args = [str(image), "--model", args.model]
        if args.threads:
            cli_args += ["--threads", str(args.threads)]
        base, how = cli_command(args.python)
        threads = str(args.threads or default_threads())
        minimal = minimal_command(args.python, args.model, image, threads)
        times = measure_processes(base + cli_args, minimal, args.python, args.repeat, env)
        n_phases = max(3, args.repeat // 2)
        phases = measure_phases(args.python, args.model, image, threads, env, n_phases)
        imports = top_imports(cli_args, args.python, env, args.top)

    command = " ".join([how, *cli_args])
    result = build_result(command, args.repeat, load_before, times, phases, imports)
    print_report(result, times)
    if args.json_out:
        sys.path.insert(0, str(REPO))
        from edge_runtime.fileio import atomic_write_json

        atomic_write_json(args.json_out, result)
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
