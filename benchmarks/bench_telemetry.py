"""
What tracing and metrics cost a decision, measured against a plain gate in the same run.

In one process, on the shipped ``policies/`` feature ``llama-3.2-vision``,
with the countries cycling through every ISO 3166-1 code (memoised
decisions: the fast path, where any extra work shows most), measured in
turn, round after round, the best round of each compared:

- ``plain``: ``Gate.from_path(POLICIES)``, the gate everyone gets by default;
- ``traced, no span``: ``tracing=True`` with no current span (the
  OpenTelemetry API's non-recording span: what an application without an
  SDK, or outside any request, pays);
- ``traced, sampled out``: ``tracing=True`` inside a span of the SDK whose
  sampler drops it (non-recording);
- ``traced, recording``: ``tracing=True`` inside a recording SDK span (one
  ``feature_flag.evaluation`` event per decision; the span is opened before
  the timed loop and has room for every event);
- ``metrics hook``: ``on_decision=Metrics.decided`` (``geogate serve --metrics``).

Nothing here fails: the figures are printed for the docs (docs/telemetry.md).

Usage::

    python benchmarks/bench_telemetry.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pycountry
from _machine import machine_info, markdown_machine
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import geogate
from geogate._web.metrics import Metrics

POLICIES = Path(__file__).resolve().parent.parent / "policies"
FEATURE = "llama-3.2-vision"
COUNTRIES = (*sorted(c.alpha_2 for c in pycountry.countries), "XK")


def per_call(evaluate, calls: int) -> float:
    """Return nanoseconds per call of ``evaluate(FEATURE, country=c)`` over *calls* calls."""
    countries = (COUNTRIES * (calls // len(COUNTRIES) + 1))[:calls]
    start = time.perf_counter_ns()
    for country in countries:
        evaluate(FEATURE, country=country)
    return (time.perf_counter_ns() - start) / calls


def measure(rounds: int, burst: int) -> dict[str, float]:
    plain = geogate.Gate.from_path(POLICIES)
    traced = geogate.Gate.from_path(POLICIES, tracing=True)
    counted = geogate.Gate.from_path(POLICIES, on_decision=Metrics().decided)
    recording = TracerProvider(span_limits=SpanLimits(max_events=burst + 1)).get_tracer("bench")
    dropped = TracerProvider(sampler=ALWAYS_OFF).get_tracer("bench")
    for gate in (plain, traced, counted):  # warm the memo
        per_call(gate.evaluate, len(COUNTRIES))

    def in_span(tracer):
        def run() -> float:
            with tracer.start_as_current_span("request"):
                return per_call(traced.evaluate, burst)

        return run

    cases = {
        "plain": lambda: per_call(plain.evaluate, burst),
        "traced, no span": lambda: per_call(traced.evaluate, burst),
        "traced, sampled out": in_span(dropped),
        "traced, recording": in_span(recording),
        "metrics hook": lambda: per_call(counted.evaluate, burst),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, run in cases.items():
            times[name].append(run())
    return {name: min(found) for name, found in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (CI)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    rounds, burst = (5, 5_000) if args.quick else (15, 20_000)
    figures = measure(rounds, burst)
    plain = figures["plain"]
    if args.json:
        ratios = {name: ns / plain for name, ns in figures.items()}
        print(json.dumps({"machine": machine_info(), "ns": figures, "ratio": ratios}, indent=2))
        return
    print(markdown_machine(machine_info()))
    print()
    print("| `gate.evaluate`, memoised | ns per call | / plain |")
    print("| --- | ---: | ---: |")
    for name, ns in figures.items():
        print(f"| {name} | {ns:,.0f} | {ns / plain:.2f}x |")


if __name__ == "__main__":
    main()
