"""
How fast geogate decides, against the CPython floor and against GrowthBook.

In one process, on the same data, measures the nanoseconds per decision of:

- ``gate.is_allowed(feature, country=c)`` and ``gate.evaluate(feature, country=c)``
  for today's date (no ``at=``), the memoised fast path;
- the CPython floor for such a call: a plain function with the same signature,
  ``floor(feature, *, country=None)``, returning a precomputed dict entry;
- GrowthBook's local evaluation of the same rule (a force rule under the
  condition ``{"country": {"$in": EU_CODES}}`` -> False, default True), the
  fastest documented way in the installed version: one ``GrowthBook`` object
  with the features set once, then ``set_attributes({"country": c})`` and
  ``is_on(feature)`` per decision;
- for information, ``gate.evaluate(..., at=today)`` (the memo for any date,
  off the fast path for today) and the full decision procedure with nothing
  memoised (the private ``geogate._gate.slowpath.decide_compiled``), what a first
  request costs;
- what an attacker who sends a new bad value each time costs: a cold decision
  for a valid country through the public path (``evaluate`` with a new date
  each call, so no memo answers) against ``evaluate`` with a new invalid
  country each call (typos, names, pseudo-codes with a digit, strings of 64
  characters to 64 KiB). The target is that a distinct invalid input costs no
  more than a cold decision for a valid one.

The feature is the shipped ``policies/`` feature ``llama-3.2-vision``: denied
in the EU (members and territories) from 2024-09-25, allowed in the UK and,
by default, elsewhere. The countries cycle through every ISO 3166-1 code plus
``XK``. Before timing, all three must give the same answer for every country.

Each timed statement is the list of calls unrolled (one call per country, as
constants), so the loop of the harness adds almost nothing; the candidates are
measured in turn, round after round, and the best round of each is compared.

Targets: is_allowed <= 3x the floor, evaluate <= 5x the
floor, GrowthBook / is_allowed >= 10x; a distinct invalid country <= 1.0x a cold
valid decision.

Usage::

    python benchmarks/bench_decisions.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import statistics
import sys
import timeit
from pathlib import Path
from typing import TYPE_CHECKING

import growthbook
import pycountry
from _machine import machine_info, markdown_machine

import geogate
from geogate._gate.slowpath import decide_compiled

if TYPE_CHECKING:
    from collections.abc import Iterator

POLICIES = Path(__file__).resolve().parent.parent / "policies"
FEATURE = "llama-3.2-vision"

#: The EU on any date since 2020-02-01: the 27 members, and the outermost
#: regions with their own ISO 3166-1 code (written out here, independently of
#: geogate's data, so the agreement check also checks that data).
EU_CODES = (
    *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"),
    *("IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"),
    *("AX", "GF", "GP", "MF", "MQ", "RE", "YT"),
)
COUNTRIES = (*sorted(c.alpha_2 for c in pycountry.countries), "XK")

TARGETS = {
    "is_allowed_vs_floor": ("is_allowed / floor", "<=", 3.0),
    "evaluate_vs_floor": ("evaluate / floor", "<=", 5.0),
    "growthbook_vs_is_allowed": ("GrowthBook / is_allowed", ">=", 10.0),
    "invalid_vs_cold": ("distinct invalid country / cold valid decision", "<=", 1.0),
}

#: Tails of bad country values; a counter in front makes each one new. Together:
#: a pseudo-code-like value, a typo, a name, longer than any name, a kilobyte.
_BAD_TAILS = ("Q", "-FR", "Germany", "0" * 64, "x" * 1024)


def distinct_invalid_countries() -> Iterator[str]:
    """
    Yield a country value never given before, of every bad shape in turn.

    Built by C-level iterators (a number, then a tail), so the harness adds
    little to what it measures. (Hashing a string costs time in proportion to
    its length wherever it is looked up, as reading it from a request does; a
    kilobyte is the longest shape here.)
    """
    return map(str.__add__, map(str, itertools.count()), itertools.cycle(_BAD_TAILS))


def distinct_days() -> Iterator[dt.date]:
    """Yield a date never asked for before (so no memo answers), from 1900 on."""
    return map(dt.date(1900, 1, 1).__add__, map(dt.timedelta, itertools.count()))


def build() -> dict[str, tuple[str, dict[str, object]]]:
    """
    Return the candidates: name -> (one call, with ``{c}`` for the country; names it uses).

    Checks first that geogate, the floor and GrowthBook agree on every country.
    """
    gate = geogate.Gate.from_path(POLICIES)
    today = dt.datetime.now(dt.UTC).date()
    table = {(FEATURE, c): c not in EU_CODES for c in COUNTRIES}

    nested = {FEATURE: {c: table[(FEATURE, c)] for c in COUNTRIES}}

    def floor(feature, *, country=None):
        return table[(feature, country)]

    def floor_nested(feature, *, country=None):
        return nested[feature][country]

    features = {
        FEATURE: {
            "defaultValue": True,
            "rules": [{"condition": {"country": {"$in": list(EU_CODES)}}, "force": False}],
        }
    }
    book = growthbook.GrowthBook(features=features)

    def growthbook_is_on(feature, *, country=None):
        book.set_attributes({"country": country})
        return book.is_on(feature)

    disagree = [
        (c, answers)
        for c in COUNTRIES
        if len(
            set(
                answers := (
                    gate.is_allowed(FEATURE, country=c),
                    gate.evaluate(FEATURE, country=c).allowed,
                    gate.evaluate(FEATURE, country=c, at=today).allowed,
                    floor(FEATURE, country=c),
                    floor_nested(FEATURE, country=c),
                    growthbook_is_on(FEATURE, country=c),
                )
            )
        )
        != 1
    ]
    if disagree:
        for country, answers in disagree:
            print(
                f"disagreement for {country}: is_allowed, evaluate, evaluate(at=), floor, "
                f"nested floor, GrowthBook = {answers}",
                file=sys.stderr,
            )
        msg = f"geogate, the floor and GrowthBook disagree on {len(disagree)} countries"
        raise SystemExit(msg)

    names = {"feature": FEATURE, "today": today}
    return {
        "floor": ("floor(feature, country={c!r})", {**names, "floor": floor}),
        "floor_nested": ("floor(feature, country={c!r})", {**names, "floor": floor_nested}),
        "is_allowed": (
            "is_allowed(feature, country={c!r})",
            {**names, "is_allowed": gate.is_allowed},
        ),
        "evaluate": ("evaluate(feature, country={c!r})", {**names, "evaluate": gate.evaluate}),
        "evaluate_at": (
            "evaluate(feature, country={c!r}, at=today)",
            {**names, "evaluate": gate.evaluate},
        ),
        "cold": (
            "decide(compiled, {c!r}, None, None, today)",
            {**names, "decide": decide_compiled, "compiled": gate._features[FEATURE]},  # noqa: SLF001
        ),
        "growthbook": (
            "set_attributes({{'country': {c!r}}}); is_on(feature)",
            {**names, "set_attributes": book.set_attributes, "is_on": book.is_on},
        ),
        "cold_valid": (
            "evaluate(feature, country={c!r}, at=next(days))",
            {**names, "evaluate": gate.evaluate, "days": distinct_days()},
        ),
        "distinct_invalid": (
            "evaluate(feature, country=next(bad))",
            {**names, "evaluate": gate.evaluate, "bad": distinct_invalid_countries()},
        ),
    }


def timer(call: str, names: dict[str, object]) -> timeit.Timer:
    """Return a timer of one call per country, with *names* bound as fast locals."""
    setup = "; ".join(f"{name} = _names[{name!r}]" for name in names)
    stmt = "\n".join(call.format(c=c) for c in COUNTRIES)
    return timeit.Timer(stmt, setup, globals={"_names": names})


def measure(quick: bool) -> dict[str, dict[str, object]]:
    """Time every candidate, interleaved, and return ns per decision for each round."""
    candidates = build()
    return interleave(
        {name: timer(call, names) for name, (call, names) in candidates.items()}, quick
    )


def interleave(timers: dict[str, timeit.Timer], quick: bool) -> dict[str, dict[str, object]]:
    """
    Run *timers* (one call per country each) in rotating order, round after round.

    Returns ns per decision for each: the best and median round, and every round.
    """
    budget = 0.005 if quick else 0.05  # seconds per measurement
    rounds = 5 if quick else 21
    numbers = {}
    for name, t in timers.items():
        t.timeit(1)  # warm up: fills the memo of today's decisions
        once = min(t.repeat(repeat=3, number=1))
        numbers[name] = max(1, round(budget / once))
    samples: dict[str, list[float]] = {name: [] for name in timers}
    order = list(timers)
    for index in range(rounds):
        # Rotate the order so no candidate always runs first (or after the slowest).
        # (timeit pauses the garbage collector while it times.)
        shift = index % len(order)
        for name in order[shift:] + order[:shift]:
            seconds = timers[name].timeit(numbers[name])
            samples[name].append(seconds * 1e9 / (numbers[name] * len(COUNTRIES)))
    return {
        name: {
            "best_ns": min(values),
            "median_ns": statistics.median(values),
            "calls_per_round": numbers[name] * len(COUNTRIES),
            "rounds_ns": values,
        }
        for name, values in samples.items()
    }


def reference_floor(results: dict[str, dict[str, object]]) -> str:
    """Return the faster of the two floors (tuple key, nested dicts): the stricter reference."""
    return min(("floor", "floor_nested"), key=lambda name: results[name]["best_ns"])


def analyse(results: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    """Return the target ratios, from the best rounds and as the median of paired rounds."""

    def ratio(a: str, b: str) -> tuple[float, float]:
        best = results[a]["best_ns"] / results[b]["best_ns"]
        paired = statistics.median(
            x / y for x, y in zip(results[a]["rounds_ns"], results[b]["rounds_ns"], strict=True)
        )
        return best, paired

    floor = reference_floor(results)
    pairs = {
        "is_allowed_vs_floor": ("is_allowed", floor),
        "evaluate_vs_floor": ("evaluate", floor),
        "growthbook_vs_is_allowed": ("growthbook", "is_allowed"),
        "invalid_vs_cold": ("distinct_invalid", "cold_valid"),
    }
    targets = {}
    for key, (a, b) in pairs.items():
        label, op, limit = TARGETS[key]
        best, paired = ratio(a, b)
        passed = best <= limit if op == "<=" else best >= limit
        targets[key] = {
            "label": label,
            "op": op,
            "limit": limit,
            "ratio_best": best,
            "ratio_paired_median": paired,
            "pass": passed,
        }
    return targets


ROWS = (
    ("floor", "CPython floor: `floor(feature, country=c)`, `TABLE[(feature, country)]`"),
    ("floor_nested", "CPython floor, nested: `TABLE[feature][country]`"),
    ("is_allowed", "`gate.is_allowed(feature, country=c)`"),
    ("evaluate", "`gate.evaluate(feature, country=c)`"),
    ("evaluate_at", "`gate.evaluate(feature, country=c, at=today)` (memo for any date)"),
    ("cold", "full decision procedure, nothing memoised (first request; for information)"),
    ("growthbook", "GrowthBook: `set_attributes({'country': c}); is_on(feature)`"),
    ("cold_valid", "`gate.evaluate(feature, country=c, at=<a new date>)`: cold, valid"),
    ("distinct_invalid", "`gate.evaluate(feature, country=<a new bad value>)`: invalid"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (for CI)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)

    results = measure(args.quick)
    targets = analyse(results)
    machine = {**machine_info(), "growthbook": growthbook.__version__}
    if args.json:
        document = {
            "machine": machine,
            "feature": FEATURE,
            "countries": len(COUNTRIES),
            "quick": args.quick,
            "reference_floor": reference_floor(results),
            "results": results,
            "targets": targets,
        }
        print(json.dumps(document, indent=2))
        return 0

    reference = reference_floor(results)
    floor = results[reference]["best_ns"]
    print(markdown_machine(machine) + f"; growthbook {machine['growthbook']}")
    print()
    rounds = len(results["floor"]["rounds_ns"])
    print(
        f"Feature `{FEATURE}` (shipped policies, dated rules), today's date; "
        f"{len(COUNTRIES)} countries (every ISO 3166-1 code and XK, "
        f"{len(EU_CODES)} of them in the EU); all answers agree. "
        f"Best of {rounds} interleaved rounds; ratios are to the faster floor "
        f"(`{reference}`).\n"
    )
    print("| call | ns per decision (best) | median | x floor |")
    print("|---|---:|---:|---:|")
    for name, label in ROWS:
        row = results[name]
        print(
            f"| {label} | {row['best_ns']:,.0f} | {row['median_ns']:,.0f} | "
            f"{row['best_ns'] / floor:,.1f}x |"
        )
    print()
    speedup = targets["growthbook_vs_is_allowed"]["ratio_best"]
    print(f"geogate is {speedup:,.0f}x faster than GrowthBook (is_allowed vs is_on).\n")
    for target in targets.values():
        verdict = "PASS" if target["pass"] else "FAIL"
        print(
            f"{verdict}: {target['label']} = {target['ratio_best']:.2f} "
            f"(target {target['op']} {target['limit']:g}; "
            f"median of paired rounds {target['ratio_paired_median']:.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
