"""
``geogate logs summary`` and ``verify`` on ten million lines, against DuckDB's own scan.

The logs: the shipped policies' five features asked from every ISO 3166-1
code, XK, an unknown and an invalid location, on 90 days, by callers in 500
networks; each distinct decision is formatted once by `geogate.DecisionLog`'s
own ``line`` and the lines are written with fresh decision ids, in time order
as a decision log is (a decision of each day's time, asked on that day), in
files of one million lines named as a rotated log (``decisions.jsonl``,
``decisions.jsonl.1``, ...). One line in 100,000 is tampered (an allow turned
into a deny), so verify has findings to report, in every file.

The floor is DuckDB reading the same files: ``read_json`` with the columns
typed, every column summary and verify read, counted (no validation, no
grouping). Summary (``summarise``) and verify (``verify`` with the shipped
policies) are timed against it in the same run, in turn, round after round;
the best of each is compared. Target: within 3x of the floor.

Usage::

    python benchmarks/bench_logs.py [--quick] [--lines N] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pycountry
from _machine import machine_info, markdown_machine

import geogate
from geogate._logs.read import connect, find_logs
from geogate._logs.summary import summarise
from geogate._logs.verify import verify

if TYPE_CHECKING:
    from collections.abc import Callable

POLICIES = Path(__file__).resolve().parent.parent / "policies"
COUNTRIES = (*sorted(c.alpha_2 for c in pycountry.countries), "XK", "XX", "GER")
FIRST_DAY = dt.date(2026, 3, 1)
DAYS = 90
LINES_PER_FILE = 1_000_000
TAMPER_EVERY = 100_000
TARGET = 3.0
#: The columns the floor reads, typed as the schema says.
COLUMNS = (
    "{'decision_id': 'VARCHAR', 'timestamp': 'VARCHAR', 'feature': 'VARCHAR', "
    "'allowed': 'BOOLEAN', 'effect': 'VARCHAR', 'rule': 'VARCHAR', 'reason': 'VARCHAR', "
    "'error_code': 'VARCHAR', 'revision': 'VARCHAR', 'as_of': 'DATE', 'country': 'VARCHAR', "
    "'subdivision': 'VARCHAR', 'domicile': 'VARCHAR', 'location': 'VARCHAR', "
    "'jurisdictions': 'VARCHAR[]', 'location_source': 'VARCHAR', 'ip': 'VARCHAR'}"
)


def fragments(gate: geogate.Gate) -> list[tuple[dt.date, str, bool]]:
    """Every distinct decision's line after its id and time: (day, the rest, allowed)."""
    log = geogate.DecisionLog(lambda _line: None, new_id=lambda: "x", ip_prefix=None)
    found = []
    for feature in sorted(gate.policy.features):
        domicile = gate.policy.features[feature].basis.value == "domicile"
        for offset, country in itertools.product(range(DAYS), COUNTRIES):
            day = FIRST_DAY + dt.timedelta(days=offset)
            where = {"domicile" if domicile else "country": country}
            decision = gate.evaluate(feature, at=day, **where)
            line = log.line(decision, None, 0.0)
            rest = line[line.index('"feature"') : -1]
            found.append((day, rest, decision.allowed))
    log.close()
    return found


#: An allow and the deny it is tampered into: the same length, so a file is changed in place.
ALLOW: Final = b'"allowed":true,"effect":"allow"'
DENY: Final = b'"allowed":false,"effect":"deny"'


def write_logs(
    folder: Path, lines: int, gate: geogate.Gate, rng: random.Random
) -> list[tuple[Path, int]]:
    """Write *lines* faithful lines in rotated files; return where the lines to tamper are."""
    by_day: dict[dt.date, list[tuple[str, bool]]] = {}
    for day, rest, allowed in fragments(gate):
        by_day.setdefault(day, []).append((rest, allowed))
    networks = [f"10.{n // 256}.{n % 256}.0/24" for n in range(500)]
    targets: list[tuple[Path, int]] = []
    files = (lines + LINES_PER_FILE - 1) // LINES_PER_FILE
    step = DAYS * 86_400_000_000 // lines  # microseconds between two lines
    written = 0
    for index in range(files):
        path = folder / ("decisions.jsonl" if index == 0 else f"decisions.jsonl.{index}")
        count = min(LINES_PER_FILE, lines - written)
        chunk: list[str] = []
        offset = 0
        with path.open("w", encoding="utf-8") as stream:
            for number in range(written, written + count):
                days, micro = divmod(number * step, 86_400_000_000)
                day = FIRST_DAY + dt.timedelta(days=days)
                choices = by_day[day]
                rest, allowed = choices[rng.randrange(len(choices))]
                second, micro = divmod(micro, 1_000_000)
                line = (
                    f'{{"v":1,"decision_id":"{number:08x}-0000-4000-8000-000000000000",'
                    f'"timestamp":"{day.isoformat()}T{second // 3600:02d}:{second // 60 % 60:02d}:'
                    f'{second % 60:02d}.{micro:06d}Z",{rest},'
                    f'"ip":"{networks[number % len(networks)]}"}}\n'
                )
                if number % TAMPER_EVERY == TAMPER_EVERY - 1 and allowed:
                    targets.append((path, offset + line.encode().index(ALLOW)))
                offset += len(line.encode())
                chunk.append(line)
                if len(chunk) >= 50_000:
                    stream.write("".join(chunk))
                    chunk.clear()
            stream.write("".join(chunk))
        written += count
    return targets


def tamper(targets: list[tuple[Path, int]]) -> None:
    """Turn each target line's allow into a deny, in place."""
    for path, position in targets:
        with path.open("r+b") as stream:
            stream.seek(position)
            assert stream.read(len(ALLOW)) == ALLOW
            stream.seek(position)
            stream.write(DENY)


def floor(paths: list[Path]) -> int:
    """DuckDB's own scan of the files: every column read, typed, counted."""
    listed = "[" + ", ".join(f"'{p}'" for p in paths) + "]"
    connection = connect()
    row = connection.execute(
        f"""
        SELECT count(*), count(decision_id), count("timestamp"), count(feature), count(allowed),
               count(effect), count(rule), count(reason), count(error_code), count(revision),
               count(as_of), count(country), count(subdivision), count(domicile),
               count(location), count(jurisdictions), count(location_source), count(ip)
        FROM read_json({listed}, format = 'newline_delimited', columns = {COLUMNS})
        """  # noqa: S608 (the benchmark's own paths)
    ).fetchone()
    connection.close()
    assert row is not None
    return int(row[0])


def interleave(steps: dict[str, Callable[[], object]], rounds: int) -> tuple[dict, dict]:
    """Run *steps* in turn, round after round, the order rotated; return times and answers."""
    samples: dict[str, list[float]] = {name: [] for name in steps}
    answers: dict[str, object] = {}
    order = list(steps)
    for index in range(rounds):
        shift = index % len(order)
        for name in order[shift:] + order[:shift]:
            began = time.perf_counter()
            answers[name] = steps[name]()
            samples[name].append(time.perf_counter() - began)
    return samples, answers


def run(lines: int, rounds: int) -> dict[str, object]:
    rng = random.Random(20261207)
    gate = geogate.Gate.from_path(POLICIES)
    with tempfile.TemporaryDirectory(prefix="geogate-bench-logs-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        targets = write_logs(folder, lines, gate, rng)
        generated = time.perf_counter() - start
        paths = list(find_logs([str(folder)]))
        size = sum(p.stat().st_size for p in paths)
        clean, answers = interleave(
            {
                "floor": lambda: floor(paths),
                "summary": lambda: summarise(paths).decisions,
                "verify": lambda: verify(paths, [gate.policy]),
            },
            rounds,
        )
        tamper(targets)
        tampered, found = interleave(
            {
                "floor": lambda: floor(paths),
                "verify": lambda: verify(paths, [gate.policy]),
            },
            rounds,
        )
    gate.close()
    faithful, result = answers["verify"], found["verify"]
    findings = [(f.kind, f.lines) for f in result.findings]  # type: ignore[attr-defined]
    if answers["floor"] != lines or answers["summary"] != lines:
        msg = f"read {answers['floor']} and summarised {answers['summary']} of {lines} lines"
        raise SystemExit(msg)
    if not faithful.clean:  # type: ignore[attr-defined]
        msg = f"verify found {faithful.findings} in faithful logs"  # type: ignore[attr-defined]
        raise SystemExit(msg)
    if findings != [("disagreement", 1)] * len(targets):
        msg = f"verify found {findings}, but {len(targets)} lines were tampered"
        raise SystemExit(msg)
    best = {name: min(values) for name, values in clean.items()}
    best_tampered = {name: min(values) for name, values in tampered.items()}
    return {
        "machine": machine_info(),
        "lines": lines,
        "files": len(paths),
        "bytes": size,
        "generated_seconds": generated,
        "tampered": len(targets),
        "inputs": result.inputs,  # type: ignore[attr-defined]
        "rounds": rounds,
        "seconds": clean,
        "seconds_tampered": tampered,
        "best_seconds": best,
        "best_seconds_tampered": best_tampered,
        "summary_x_floor": best["summary"] / best["floor"],
        "verify_x_floor": best["verify"] / best["floor"],
        "verify_findings_x_floor": best_tampered["verify"] / best_tampered["floor"],
        "target": TARGET,
    }


def markdown(result: dict[str, object]) -> str:
    best, found = result["best_seconds"], result["best_seconds_tampered"]
    return "\n".join(
        [
            markdown_machine(result["machine"]),
            "",
            (
                f"{result['lines']:,} lines in {result['files']} files "
                f"({result['bytes'] / 2**30:.2f} GiB of JSON Lines); "
                f"{result['inputs']:,} distinct inputs re-decided. Best of {result['rounds']} "
                "interleaved rounds, on the faithful logs, then again after tampering "
                f"{result['tampered']} lines spread over the files (all found by verify)."
            ),
            "",
            "| step | seconds (best) | x DuckDB's scan |",
            "| --- | ---: | ---: |",
            (
                "| DuckDB `read_json`, every column typed and counted (the floor) | "
                f"{best['floor']:.2f} | 1.00 |"
            ),
            f"| `geogate logs summary` | {best['summary']:.2f} | {result['summary_x_floor']:.2f} |",
            (
                f"| `geogate logs verify`, faithful logs | {best['verify']:.2f} | "
                f"{result['verify_x_floor']:.2f} |"
            ),
            (
                f"| `geogate logs verify`, {result['tampered']} tampered lines located "
                f"| {found['verify']:.2f} | {result['verify_findings_x_floor']:.2f} |"
            ),
            "",
            f"Target: within {result['target']:.0f}x of the scan.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200,000 lines, 2 rounds (CI)")
    parser.add_argument("--lines", type=int, default=None, help="lines to generate")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args()
    lines = args.lines or (200_000 if args.quick else 10_000_000)
    result = run(lines, 2 if args.quick else 3)
    print(json.dumps(result, indent=2) if args.json else markdown(result))
    over = [
        k
        for k in ("summary_x_floor", "verify_x_floor", "verify_findings_x_floor")
        if result[k] > TARGET  # type: ignore[operator]
    ]  # type: ignore[operator]
    if over and not args.quick:
        print(f"over the target ({TARGET}x): {', '.join(over)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
