"""
What evaluating a geogate feature through the OpenFeature SDK costs, against the SDK's own provider.

In one process, through the same client API (``client.get_boolean_details(key,
False, context)``), with the same evaluation contexts, measures the
microseconds per evaluation of:

- ``GeogateProvider(gate)`` for the shipped feature ``llama-3.2-vision``, the
  context's ``country`` cycling through every ISO 3166-1 code plus ``XK``
  (today's date: the gate's memoised fast path);
- the SDK's ``InMemoryProvider`` with one static boolean flag (it ignores the
  context), the cheapest provider the SDK ships: the SDK's own overhead;
- for information, ``gate.evaluate(feature, country=c)`` alone.

Each provider is registered under its own domain and has its own client. The
candidates run in turn, round after round (rotating which goes first), each
round making the same number of calls; the best round of each is compared.
Before timing, the provider's answers are checked against ``gate.evaluate``.

Target: GeogateProvider / InMemoryProvider <= 1.2.

Usage::

    python benchmarks/bench_openfeature.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import timeit
from importlib.metadata import version
from pathlib import Path

import pycountry
from _machine import machine_info, markdown_machine
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

import geogate
from geogate.openfeature import GeogateProvider

POLICIES = Path(__file__).resolve().parent.parent / "policies"
FEATURE = "llama-3.2-vision"
STATIC = "static-flag"
COUNTRIES = (*sorted(c.alpha_2 for c in pycountry.countries), "XK")
LIMIT = 1.2


def build() -> dict[str, timeit.Timer]:
    """Register both providers, check the answers, and return one timer per candidate."""
    gate = geogate.Gate.from_path(POLICIES)
    api.set_provider_and_wait(GeogateProvider(gate), domain="geogate")
    flags = {STATIC: InMemoryFlag("on", {"on": True, "off": False})}
    api.set_provider_and_wait(InMemoryProvider(flags), domain="in-memory")
    geogate_client = api.get_client(domain="geogate")
    memory_client = api.get_client(domain="in-memory")
    contexts = [EvaluationContext(attributes={"country": c}) for c in COUNTRIES]

    wrong = [
        c
        for c, context in zip(COUNTRIES, contexts, strict=True)
        if geogate_client.get_boolean_details(
            FEATURE, default_value=False, evaluation_context=context
        ).value
        is not gate.evaluate(FEATURE, country=c).allowed
    ]
    if wrong:
        msg = f"GeogateProvider and gate.evaluate disagree for {', '.join(wrong)}"
        raise SystemExit(msg)
    if not all(
        memory_client.get_boolean_details(STATIC, default_value=False, evaluation_context=x).value
        for x in contexts
    ):
        msg = "InMemoryProvider did not answer its static flag"
        raise SystemExit(msg)

    def loop(call: str, **names: object) -> timeit.Timer:
        return timeit.Timer(
            f"for context in contexts:\n    {call}", globals={"contexts": contexts, **names}
        )

    return {
        "geogate": loop(
            "details(feature, False, context)",
            details=geogate_client.get_boolean_details,
            feature=FEATURE,
        ),
        "in_memory": loop(
            "details(feature, False, context)",
            details=memory_client.get_boolean_details,
            feature=STATIC,
        ),
        "evaluate": loop(
            "evaluate(feature, country=context.attributes['country'])",
            evaluate=gate.evaluate,
            feature=FEATURE,
        ),
    }


def measure(quick: bool) -> dict[str, dict[str, object]]:
    """Time every candidate, interleaved, the same number of calls each; µs per evaluation."""
    timers = build()
    rounds = 5 if quick else 21
    budget = 0.01 if quick else 0.1  # seconds per round for the in-memory provider
    for t in timers.values():
        t.timeit(1)  # warm up: fills the gate's memo and the provider's cache
    once = min(timers["in_memory"].repeat(repeat=3, number=1))
    number = max(1, round(budget / once))
    samples: dict[str, list[float]] = {name: [] for name in timers}
    order = list(timers)
    for index in range(rounds):
        shift = index % len(order)
        for name in order[shift:] + order[:shift]:
            seconds = timers[name].timeit(number)
            samples[name].append(seconds * 1e6 / (number * len(COUNTRIES)))
    return {
        name: {
            "best_us": min(values),
            "median_us": statistics.median(values),
            "calls_per_round": number * len(COUNTRIES),
            "rounds_us": values,
        }
        for name, values in samples.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (for CI)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)

    results = measure(args.quick)
    ratio = results["geogate"]["best_us"] / results["in_memory"]["best_us"]
    paired = statistics.median(
        g / m
        for g, m in zip(
            results["geogate"]["rounds_us"], results["in_memory"]["rounds_us"], strict=True
        )
    )
    passed = ratio <= LIMIT
    machine = {**machine_info(), "openfeature-sdk": version("openfeature-sdk")}
    api.clear_providers()
    if args.json:
        document = {
            "machine": machine,
            "feature": FEATURE,
            "countries": len(COUNTRIES),
            "quick": args.quick,
            "results": results,
            "ratio_best": ratio,
            "ratio_paired_median": paired,
            "limit": LIMIT,
            "pass": passed,
        }
        print(json.dumps(document, indent=2))
        return 0

    print(markdown_machine(machine) + f"; openfeature-sdk {machine['openfeature-sdk']}")
    print()
    rounds = len(results["geogate"]["rounds_us"])
    calls = results["geogate"]["calls_per_round"]
    print(
        f"`client.get_boolean_details(key, False, context)`, {len(COUNTRIES)} contexts "
        f"(one per ISO 3166-1 code and XK); best of {rounds} interleaved rounds of "
        f"{calls:,} calls each.\n"
    )
    print("| provider | µs per evaluation (best) | median | x InMemoryProvider |")
    print("|---|---:|---:|---:|")
    rows = (
        ("in_memory", "SDK `InMemoryProvider`, one static flag"),
        ("geogate", f"`GeogateProvider(gate)`, `{FEATURE}`"),
        ("evaluate", "`gate.evaluate(feature, country=c)` alone (no SDK; for information)"),
    )
    floor = results["in_memory"]["best_us"]
    for name, label in rows:
        row = results[name]
        print(
            f"| {label} | {row['best_us']:.2f} | {row['median_us']:.2f} | "
            f"{row['best_us'] / floor:.2f}x |"
        )
    print()
    verdict = "PASS" if passed else "FAIL"
    print(
        f"{verdict}: GeogateProvider / InMemoryProvider = {ratio:.2f} "
        f"(target <= {LIMIT:g}; median of paired rounds {paired:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
