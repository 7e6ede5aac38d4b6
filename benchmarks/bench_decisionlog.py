"""
What a decision log costs the caller, how fast it writes, and that it loses nothing.

In one process, on the shipped ``policies/`` feature ``llama-3.2-vision``,
with the countries cycling through every ISO 3166-1 code:

- ``gate.evaluate(feature, country=c)`` on a gate without a log and on a gate
  with a file decision log (``FileSink`` in a temporary directory), measured
  in turn, round after round, in bursts that fit the log's queue (what a
  caller pays: one clock read and one append); the best round of each is
  compared;
- the writer: records per second from queue to file (a burst of N decisions,
  then ``close()``, which writes everything out);
- no loss: N decisions, then ``close()`` -> exactly N lines, each valid JSON,
  and the log counts N written, none failed or dropped.

Usage::

    python benchmarks/bench_decisionlog.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pycountry
from _machine import machine_info, markdown_machine

import geogate

POLICIES = Path(__file__).resolve().parent.parent / "policies"
FEATURE = "llama-3.2-vision"
COUNTRIES = (*sorted(c.alpha_2 for c in pycountry.countries), "XK")
TARGET = 2.0  # logged / plain, per call


def per_call(evaluate, calls: int) -> float:
    """Return nanoseconds per call of ``evaluate(FEATURE, country=c)`` over *calls* calls."""
    countries = COUNTRIES * (calls // len(COUNTRIES) + 1)
    countries = countries[:calls]
    start = time.perf_counter_ns()
    for country in countries:
        evaluate(FEATURE, country=country)
    return (time.perf_counter_ns() - start) / calls


def measure(rounds: int, burst: int, writer_records: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        plain = geogate.Gate.from_path(POLICIES)
        log = geogate.DecisionLog(Path(folder) / "timed.jsonl", max_queue=burst * 2)
        logged = geogate.Gate.from_path(POLICIES, decision_log=log)
        for gate in (plain, logged):  # warm the memo
            per_call(gate.evaluate, len(COUNTRIES))
        log.flush()
        plain_ns: list[float] = []
        logged_ns: list[float] = []
        for _ in range(rounds):
            plain_ns.append(per_call(plain.evaluate, burst))
            logged_ns.append(per_call(logged.evaluate, burst))
            log.flush()  # the writer catches up between rounds, off the clock
        logged.close()

        # The writer alone: a burst queued, then close() writes it all out.
        path = Path(folder) / "writer.jsonl"
        log = geogate.DecisionLog(path, max_queue=writer_records + 1)
        writer = geogate.Gate.from_path(POLICIES, decision_log=log)
        per_call(writer.evaluate, writer_records)
        start = time.perf_counter()
        writer.close()
        seconds = time.perf_counter() - start
        writer_counted = (log.written, log.failed, log.dropped)
        with path.open(encoding="utf-8") as lines:
            count = sum(1 for line in lines if json.loads(line)["feature"] == FEATURE)

        # Back-pressure under a sustained loop: a small queue, N decisions, N lines.
        path = Path(folder) / "sustained.jsonl"
        log = geogate.DecisionLog(path, max_queue=1024)
        sustained = geogate.Gate.from_path(POLICIES, decision_log=log)
        started = time.perf_counter()
        per_call(sustained.evaluate, writer_records)
        sustained.close()
        sustained_seconds = time.perf_counter() - started
        with path.open(encoding="utf-8") as lines:
            sustained_count = sum(1 for _ in lines)

    best_plain, best_logged = min(plain_ns), min(logged_ns)
    return {
        "plain_ns": best_plain,
        "logged_ns": best_logged,
        "ratio": best_logged / best_plain,
        "writer_records_per_second": writer_records / seconds,
        "writer_records": writer_records,
        "writer_lines": count,
        "writer_counted": writer_counted,
        "sustained_records_per_second": writer_records / sustained_seconds,
        "sustained_lines": sustained_count,
        "dropped": log.dropped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and records (CI)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    rounds, burst, records = (5, 5_000, 20_000) if args.quick else (15, 20_000, 200_000)
    figures = measure(rounds, burst, records)
    lost = (
        figures["writer_records"] != figures["writer_lines"]
        or figures["writer_records"] != figures["sustained_lines"]
        or figures["writer_counted"] != (figures["writer_records"], 0, 0)
    )
    if args.json:
        print(json.dumps({"machine": machine_info(), **figures}, indent=2))
    else:
        print(markdown_machine(machine_info()))
        print()
        print("| call | ns per decision (best round) |")
        print("|---|---:|")
        print(f"| `gate.evaluate(feature, country=c)`, no log | {figures['plain_ns']:,.0f} |")
        print(
            f"| `gate.evaluate(feature, country=c)`, file decision log "
            f"| {figures['logged_ns']:,.0f} |"
        )
        print()
        print(
            f"Writer: {figures['writer_records_per_second']:,.0f} records/s "
            f"({figures['writer_lines']:,} lines for {figures['writer_records']:,} decisions). "
            f"Sustained loop with a queue of 1,024 (back-pressure): "
            f"{figures['sustained_records_per_second']:,.0f} decisions/s logged, "
            f"{figures['sustained_lines']:,} lines."
        )
        verdict = "PASS" if figures["ratio"] <= TARGET else "FAIL"
        print(f"{verdict}: logged / plain = {figures['ratio']:.2f} (target <= {TARGET})")
        print("PASS: no decision lost" if not lost else "FAIL: decisions lost")
    if lost:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
