"""
How long the ``geogate`` command takes to answer one question.

Times ``geogate eval llama-3.2-vision --country FR`` on the shipped policies
(a fresh process each run: interpreter start, imports, loading, one
decision) against ``python -c pass`` and ``python -c "import geogate"``,
best and median of N runs each with `time.perf_counter`.

Target: under 300 ms wall time.

Usage::

    python benchmarks/bench_startup.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _machine import machine_info, markdown_machine

TARGET_S = 0.300
POLICIES = Path(__file__).resolve().parent.parent / "policies"
CLI = ("-c", "import sys; from geogate.cli import main; sys.exit(main())")


def _time(argv: list[str], runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)  # noqa: S603 (our interpreter)
        seconds.append(time.perf_counter() - start)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--runs", type=int, default=10, help="runs of each command [10]")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)
    python = sys.executable
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "python -c 'import geogate'": [python, "-c", "import geogate"],
        "geogate --version": [python, *CLI, "--version"],
        "geogate eval llama-3.2-vision --country FR": [
            python,
            *CLI,
            "eval",
            "llama-3.2-vision",
            "--country",
            "FR",
            "--policies",
            str(POLICIES),
        ],
    }
    _time(commands["python -c pass"], 1)  # warm the file cache
    timings = {name: _time(command, args.runs) for name, command in commands.items()}
    medians = {name: statistics.median(values) for name, values in timings.items()}
    evaluate = medians["geogate eval llama-3.2-vision --country FR"]
    result = {
        "machine": machine_info(),
        "runs": args.runs,
        "seconds": {
            name: {"median": medians[name], "best": min(values), "all": values}
            for name, values in timings.items()
        },
        "targets": {
            "eval_under_300ms": {"value": evaluate, "limit": TARGET_S, "pass": evaluate < TARGET_S}
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(markdown_machine(result["machine"]))
    print()
    print(f"Wall time of a fresh process, {args.runs} runs each.\n")
    print("| command | median | best | minus `python -c pass` |")
    print("|---|---:|---:|---:|")
    base = medians["python -c pass"]
    for name, values in timings.items():
        print(
            f"| `{name}` | {medians[name] * 1000:.0f} ms | {min(values) * 1000:.0f} ms "
            f"| {(medians[name] - base) * 1000:+.0f} ms |"
        )
    print()
    verdict = "PASS" if evaluate < TARGET_S else "FAIL"
    print(f"{verdict}: geogate eval {evaluate * 1000:.0f} ms (target < {TARGET_S * 1000:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
