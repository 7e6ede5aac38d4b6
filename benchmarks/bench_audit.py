"""
How long geogate takes to audit a large policy set over time, subdivisions included.

Generates the policy set of ``bench_load.py`` (1,000 features, 5 rules each),
with places below the country added by `generate`: every feature's hard_deny
also names OCCUPIED-UA, a custom jurisdiction of four Ukrainian regions, two
of them members from 2024-06-01 (a dated change inside the range); the
allow-list features also deny US-IL and US-TX beside CA-QC, and the
export-control features (location+domicile) deny US-TX. With the bench_load
set's own subdivision rules (GB-NIR, CA-QC, DE-BY and others), every feature
has subdivisions in its place space and split countries on some dates.

It loads the set, checks that the audit agrees with ``Gate.evaluate`` for a
sample of features on every change date, every country and every
subdivision cell, then times ``geogate._review.audit.timeline``: every feature
decided for every country (250) and every subdivision in its place space on
the first day of the range and on every change date in it, keeping the days
on which a decision changes. It also times ``audit`` on one date, as
``geogate audit --format json`` runs it.

Target: auditing 1,000 features that include
subdivision rules over every place and every change date in under 2 s.

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
from bench_load import generate as generate_countries

import geogate
from geogate._review.audit import audit, change_dates, timeline

TARGET_SECONDS = 2.0
START = dt.date(2024, 1, 1)
END = dt.date(2027, 12, 31)
SAMPLE = 8  # features checked cell by cell against Gate.evaluate (two of each template)

#: A custom jurisdiction of regions, two of them members from a date inside the range.
REGIONS = """\
  OCCUPIED-UA:
    - UA-43
    - UA-40
    - {code: UA-14, from: 2024-06-01}
    - {code: UA-09, from: 2024-06-01}
"""


def generate(directory: Path, features: int) -> None:
    """Write bench_load's set of *features* features, with the places below the country above."""
    generate_countries(directory, features)
    jurisdictions = directory / "jurisdictions.yaml"
    jurisdictions.write_text(jurisdictions.read_text(encoding="utf-8") + REGIONS, encoding="utf-8")
    for path in sorted(directory.glob("features-*.yaml")):
        text = path.read_text(encoding="utf-8")
        text = text.replace("hard_deny: [SANCTIONED]", "hard_deny: [SANCTIONED, OCCUPIED-UA]")
        text = text.replace("deny: [CA-QC]", "deny: [CA-QC, US-IL, US-TX]")
        text = text.replace("deny: [CN, HK, MO]", "deny: [CN, HK, MO, US-TX]")
        path.write_text(text, encoding="utf-8")


def _check(policy: geogate.PolicySet) -> tuple[int, int]:
    """
    Compare the audit with Gate.evaluate on every change date of a few features.

    Returns how many country cells and how many subdivision cells were checked.
    """
    gate = geogate.Gate(policy)
    countries = subdivisions = 0
    for fid in list(policy.features)[:SAMPLE]:
        for day in [START, *change_dates(policy, fid, START, END)]:
            found = audit(policy, at=day, features=[fid]).features[fid]
            places = [(code, None, cell) for code, cell in found.cells.items()]
            places += [(code.partition("-")[0], code, c) for code, c in found.subdivisions.items()]
            for country, subdivision, cell in places:
                decision = gate.evaluate(
                    fid, country=country, subdivision=subdivision, domicile=country, at=day
                )
                if (str(decision.effect), decision.rule) != (cell.effect, cell.rule):
                    where = subdivision or country
                    msg = f"audit and eval disagree: {fid} {where} {day}: {cell} != {decision}"
                    raise AssertionError(msg)
                if subdivision is None:
                    countries += 1
                else:
                    subdivisions += 1
    if not subdivisions:
        msg = "the generated set has no subdivision cell to check"
        raise AssertionError(msg)
    return countries, subdivisions


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
    checked, checked_inside = _check(policy)
    days = sum(1 + len(change_dates(policy, fid, START, END)) for fid in policy.features)
    one = audit(policy, at=END)
    countries = len(next(iter(one.features.values())).cells)
    cells = sum(
        (1 + len(change_dates(policy, fid, START, END))) * (countries + len(fa.subdivisions))
        for fid, fa in one.features.items()
    )
    inside = sum(len(fa.subdivisions) for fa in one.features.values())
    split = sum(len(fa.split) for fa in one.features.values())

    over_time: list[float] = []
    cpu: list[float] = []  # the process's own CPU time: what a busy machine does not inflate
    one_day: list[float] = []
    changes = 0
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        found = timeline(policy, START, END)
        over_time.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
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
        "cells": cells,
        "subdivision_cells_per_day": inside,
        "split_countries_on_last_day": split,
        "changes": changes,
        "checked_against_eval": {"countries": checked, "subdivisions": checked_inside},
        "runs": runs,
        "timeline_s": {"median": median, "all": over_time},
        "timeline_cpu_s": {"median": statistics.median(cpu), "all": cpu},
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
        f"change date from {START} to {END}), {cells:,} decisions ({countries} countries and "
        f"{inside:,} subdivision cells a day over all features; {split:,} split countries on "
        f"{END}), {changes:,} days with a change; {checked:,} country and {checked_inside:,} "
        f"subdivision cells checked against Gate.evaluate; median of {runs} run(s).\n"
    )
    print("| operation | median | runs |")
    print("|---|---:|---|")
    for name, values in (
        ("timeline(policy, 2024-01-01, 2027-12-31)", over_time),
        ("timeline(...), CPU time of the process", cpu),
        ("audit(policy, at=2027-12-31)", one_day),
    ):
        shown = ", ".join(f"{v:.3f}" for v in values)
        print(f"| `{name}` | {statistics.median(values):.3f} s | {shown} |")
    print()
    verdict = "PASS" if median < TARGET_SECONDS else "FAIL"
    print(
        f"{verdict}: {args.features:,} features over every place and change date in "
        f"{median:.3f} s (target < {TARGET_SECONDS:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
