"""The machine record written with every result: what ran the numbers.

Reads /proc and /sys directly (no psutil) so it works on a Pi with only edge_runtime installed.
`root` lets tests point it at a fake filesystem.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from edge_runtime.types import usable_cores

# ARM "CPU part" (implementer 0x41) -> core name, for the cores a Pi-class board has.
ARM_PARTS = {
    "0xd03": "Cortex-A53",
    "0xd04": "Cortex-A35",
    "0xd05": "Cortex-A55",
    "0xd07": "Cortex-A57",
    "0xd08": "Cortex-A72",
    "0xd09": "Cortex-A73",
    "0xd0a": "Cortex-A75",
    "0xd0b": "Cortex-A76",
    "0xd0c": "Neoverse-N1",
    "0xd0d": "Cortex-A77",
    "0xd41": "Cortex-A78",
}
# CPU features that decide which kernels a TFLite backend can use.
INTERESTING_FLAGS = (
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",  # x86
    "asimd",
    "asimddp",
    "asimdhp",
    "fphp",
    "i8mm",
    "sve",
    "sme",  # aarch64
)
# vcgencmd get_throttled bits (Raspberry Pi firmware).
THROTTLE_BITS = {
    0: "under-voltage now",
    1: "ARM frequency capped now",
    2: "throttled now",
    3: "soft temperature limit now",
    16: "under-voltage has occurred",
    17: "ARM frequency capping has occurred",
    18: "throttling has occurred",
    19: "soft temperature limit has occurred",
}


def _read(root: Path, rel: str) -> str | None:
    try:
        return (root / rel.lstrip("/")).read_text(errors="replace").replace("\0", "").strip()
    except OSError:
        return None


def parse_cpuinfo(text: str) -> dict[str, Any]:
    """CPU model name, ARM core name, flags and cpuinfo MHz from /proc/cpuinfo text."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            fields.setdefault(key.strip().lower(), value.strip())
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    core = None
    part = fields.get("cpu part", "").lower()
    if fields.get("cpu implementer", "").lower() == "0x41" and part in ARM_PARTS:
        core = ARM_PARTS[part]
    model = fields.get("model name") or core or fields.get("hardware") or fields.get("model")
    mhz = fields.get("cpu mhz")
    return {
        "cpu_model": model,
        "arm_core": core,
        "flags": sorted(f for f in flags if f in INTERESTING_FLAGS),
        "cpuinfo_mhz": float(mhz) if mhz and re.fullmatch(r"[\d.]+", mhz) else None,
        "board_from_cpuinfo": fields.get("model"),
    }


def decode_throttled(value: int) -> list[str]:
    return [text for bit, text in THROTTLE_BITS.items() if value & (1 << bit)]


def read_throttled() -> dict[str, Any] | None:
    """`vcgencmd get_throttled` on a Raspberry Pi; None where the tool is absent."""
    tool = shutil.which("vcgencmd")
    if not tool:
        return None
    try:
        out = subprocess.run(
            [tool, "get_throttled"], check=False, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError) as e:
        return {"raw": f"vcgencmd failed: {e}"}
    m = re.search(r"0x[0-9a-fA-F]+", out.stdout)
    if not m:
        return {"raw": out.stdout.strip() or out.stderr.strip()}
    value = int(m.group(0), 16)
    return {"raw": m.group(0), "flags": decode_throttled(value)}


def read_temperature_c(root: Path = Path("/")) -> float | None:
    """The CPU (or first) thermal zone in degrees Celsius."""
    zones = sorted((root / "sys/class/thermal").glob("thermal_zone*"))
    best = None
    for zone in zones:
        raw = _read(root, str(zone.relative_to(root) / "temp"))
        if raw is None or not raw.lstrip("-").isdigit():
            continue
        kind = (_read(root, str(zone.relative_to(root) / "type")) or "").lower()
        temp = int(raw) / 1000.0
        if "cpu" in kind or "soc" in kind:
            return temp
        best = temp if best is None else best
    return best


def _cpufreq(root: Path) -> dict[str, Any]:
    base = "sys/devices/system/cpu/cpu0/cpufreq"

    def khz(name: str) -> float | None:
        raw = _read(root, f"{base}/{name}")
        return int(raw) / 1000.0 if raw and raw.isdigit() else None

    return {
        "governor": _read(root, f"{base}/scaling_governor"),
        "max_mhz": khz("cpuinfo_max_freq"),
        "cur_mhz": khz("scaling_cur_freq"),
    }


def read_load_average(root: Path = Path("/")) -> list[float] | None:
    """1, 5 and 15 minute load averages: other work on the machine skews latency."""
    parts = (_read(root, "proc/loadavg") or "").split()
    try:
        return [float(x) for x in parts[:3]] if len(parts) >= 3 else None
    except ValueError:
        return None


def _memory_mb(root: Path) -> float | None:
    text = _read(root, "proc/meminfo") or ""
    m = re.search(r"MemTotal:\s+(\d+)\s+kB", text)
    return round(int(m.group(1)) / 1024, 1) if m else None


def _versions() -> dict[str, str | None]:
    import numpy

    out: dict[str, str | None] = {"python": platform.python_version(), "numpy": numpy.__version__}
    try:
        import PIL

        out["pillow"] = PIL.__version__
    except ImportError:
        out["pillow"] = None
    import edge_runtime

    out["edge_runtime"] = edge_runtime.__version__
    return out


def _git_commit() -> str | None:
    repo = Path(__file__).resolve().parent.parent
    if not (repo / ".git").exists() or not shutil.which("git"):
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            check=False,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine_record(
    label: str | None = None, backend: str | None = None, root: Path = Path("/")
) -> dict[str, Any]:
    """Everything needed to read a result later: CPU, clocks, board, heat, software versions."""
    cpu = parse_cpuinfo(_read(root, "proc/cpuinfo") or "")
    board = _read(root, "proc/device-tree/model") or None
    freq = _cpufreq(root)
    usable = usable_cores()
    record: dict[str, Any] = {
        "label": label or board or cpu["cpu_model"] or platform.node() or "unknown",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "os": platform.platform(),
        "arch": platform.machine(),
        "cpu_model": cpu["cpu_model"] or platform.processor() or None,
        "arm_core": cpu["arm_core"],
        "cpu_flags": cpu["flags"],
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "governor": freq["governor"] or "unknown (no cpufreq in /sys)",
        "max_mhz": freq["max_mhz"],
        "cur_mhz": freq["cur_mhz"] or cpu["cpuinfo_mhz"],
        "board": board,
        "memory_mb": _memory_mb(root),
        "temperature_c": read_temperature_c(root),
        "load_average": read_load_average(root),
        "throttled": read_throttled(),
        "backend": backend,
        "git_commit": _git_commit(),
    }
    record.update(_versions())
    return record
