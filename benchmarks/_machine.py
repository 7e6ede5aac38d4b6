"""The machine a benchmark ran on, to print beside its figures."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import geogate


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo, or what platform knows."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine() or "unknown"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in {"model name", "Model", "cpu model"}:
            return value.strip()
    return platform.machine() or "unknown"


def machine_info() -> dict[str, object]:
    """Return the CPU, core count, OS, Python and geogate versions."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 0
    return {
        "cpu": cpu_model(),
        "cores": usable,
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "geogate": geogate.__version__,
    }


def markdown_machine(info: dict[str, object]) -> str:
    """Return one Markdown line naming the machine."""
    return (
        f"Machine: {info['cpu']} ({info['cores']} usable cores), {info['os']}; "
        f"{info['python']}; geogate {info['geogate']}"
    )
