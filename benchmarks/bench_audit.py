"""
How long geogate takes to audit a large policy set over time.

Generates the policy set of ``bench_load.py`` (1,000 features, 5 rules each),
loads it, checks that the audit agrees with ``Gate.evaluate`` for a sample of
features on every change date, then times ``geogate._audit.timeline``: every
feature decided for every country (250) on the first day of the range and on
every change date in it, keeping the days on which a decision changes. It also
times ``audit`` on one date, as ``geogate audit --format json`` runs it.

Target (issue 4, section 6): auditing 1,000 features over every country and
every change date in under 2 s.

Usage::

    python benchmarks/bench_audit.py [--quick] [--json] [--features N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _machine import machine_info, markdown_machine
from bench_load import generate

import geogate
from geogate._audit import audit, change_dates, timeline

TARGET_SECONDS = 2.0
START = dt.date(2024, 1, 1)
END = dt.date(2027, 12, 31)
SAMPLE = 8  # features checked cell by cell against Gate.evaluate


def _check(policy: geogate.PolicySet) -> int:
    """Compare the audit with Gate.evaluate on every change date of a few features."""
    gate = geogate.Gate(policy)
    checked = 0
    for fid in list(policy.features)[:SAMPLE]:
        for day in [START, *change_dates(policy, fid, START, END)]:
            cells = audit(policy, at=day, features=[fid]).features[fid].cells
            for code, cell in cells.items():
                decision = gate.evaluate(fid, country=code, domicile=code, at=day)
                if (str(decision.effect), decision.rule) != tuple(cell):
                    msg = f"audit and eval disagree: {fid} {code} {day}: {cell} != {decision}"
                    raise AssertionError(msg)
                checked += 1
    return checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--quick", action="store_true", help="one timed run each (for CI)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--features", type=int, default=1000, help="features to generate")
    args = parser.parse_args(argv)
    runs = 1 if args.quick else 5

    with tempfile.TemporaryDirectory(prefix="geogate-bench-") as tmp:
        generate(Path(tmp), args.features)
        policy = geogate.load_policies(tmp)
    checked = _check(policy)
    days = sum(1 + len(change_dates(policy, fid, START, END)) for fid in policy.features)
    first = next(iter(policy.features))
    countries = len(audit(policy, at=START, features=[first]).features[first].cells)

    over_time: list[float] = []
    one_day: list[float] = []
    changes = 0
    for _ in range(runs):
        start = time.perf_counter()
        found = timeline(policy, START, END)
        over_time.append(time.perf_counter() - start)
        changes = sum(len(ft.changes) for ft in found.features.values())
        start = time.perf_counter()
        audit(policy, at=END)
        one_day.append(time.perf_counter() - start)

    median = statistics.median(over_time)
    result = {
        "machine": machine_info(),
        "features": args.features,
        "range": [START.isoformat(), END.isoformat()],
        "feature_days": days,
        "cells": days * countries,
        "changes": changes,
        "checked_against_eval": checked,
        "runs": runs,
        "timeline_s": {"median": median, "all": over_time},
        "audit_one_date_s": {"median": statistics.median(one_day), "all": one_day},
        "targets": {
            "timeline_under_2s": {
                "value": median,
                "limit": TARGET_SECONDS,
                "pass": median < TARGET_SECONDS,
            },
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0

    print(markdown_machine(result["machine"]))  # type: ignore[arg-type]
    print()
    print(
        f"Policy set: {args.features:,} features; {days:,} feature-days (the first day and every "
        f"change date from {START} to {END}), {days * countries:,} decisions, {changes:,} days "
        f"with a change; {checked:,} cells checked against Gate.evaluate; median of {runs} "
        "run(s).\n"
    )
    print("| operation | median | runs |")
    print("|---|---:|---|")
    for name, values in (
        ("timeline(policy, 2024-01-01, 2027-12-31)", over_time),
        ("audit(policy, at=2027-12-31)", one_day),
    ):
        shown = ", ".join(f"{v:.3f}" for v in values)
        print(f"| `{name}` | {statistics.median(values):.3f} s | {shown} |")
    print()
    verdict = "PASS" if median < TARGET_SECONDS else "FAIL"
    print(
        f"{verdict}: {args.features:,} features over every country and change date in "
        f"{median:.3f} s (target < {TARGET_SECONDS:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
