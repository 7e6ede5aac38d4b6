"""
Attacks on ``geogate logs verify``'s findings: where a finding's line is, and that it is found.

A tamperer shapes lines so that a finding has no place, the wrong place, or
so that placing it stalls; an operator rotates the log under the verifier.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
import time

import pytest

from geogate import Gate
from geogate._logs.lines import Sought, number_lines
from geogate._logs.read import find_logs
from geogate._logs.verify import verify
from helpers.decisionlogs import Request, log_lines, write_jsonl, write_parquet
from helpers.paths import POLICIES

DAY = dt.date(2026, 5, 9)


@pytest.fixture(scope="module")
def shipped():
    return Gate.from_path(POLICIES)


def _lines(gate):
    requests = [Request("llama-3.2-vision", {"country": c}, DAY) for c in ("FR", "GB", "US", "CH")]
    return [line for line, _ in log_lines(gate, requests)]


def _tamper(line, **fields):
    record = json.loads(line)
    record.update(fields)
    return json.dumps(record, separators=(",", ":"))


def _allow(line):
    return _tamper(line, allowed=True, effect="allow", rule=None, reason="DEFAULT")


def test_a_line_with_an_empty_jurisdiction_name_is_located(shipped, tmp_path):
    """A name that is empty (``[""]``) is not no name (``[]``): the line is found and named."""
    lines = _lines(shipped)
    lines[2] = _tamper(lines[2], jurisdictions=[""])
    log = write_jsonl(tmp_path / "d.jsonl", lines)

    result = verify(find_logs([str(log)]), [shipped.policy])

    assert [("jurisdictions", (f"{log}:3",))] == [(f.kind, f.where) for f in result.findings]


def test_two_altered_copies_of_one_line_are_each_located_at_their_own_line(shipped, tmp_path):
    """
    Two copies of a line (same id and timestamp), one made an allow, one given other
    jurisdictions: each finding names its own copy, not one line for both.
    """
    lines = _lines(shipped)
    allowed = _allow(lines[0])
    moved = _tamper(lines[0], jurisdictions=["WORLD"])
    log = write_jsonl(tmp_path / "d.jsonl", [lines[1], lines[2], allowed, lines[3], moved])

    result = verify(find_logs([str(log)]), [shipped.policy])

    assert {("disagreement", (f"{log}:3",)), ("jurisdictions", (f"{log}:5",))} == {
        (f.kind, f.where) for f in result.findings
    }


def test_a_line_duckdb_reads_whole_does_not_stand_in_for_the_damaged_one(shipped, tmp_path):
    """
    A whole line followed by a form feed, which DuckDB reads as whole, and a
    damaged line 3 (``"allowed": "yes"``): the damage named is line 3, never
    the whole line standing in for it.
    """
    lines = _lines(shipped)
    lines[0] += "\x0c"
    lines[2] = _tamper(lines[2], allowed="yes")
    log = write_jsonl(tmp_path / "d.jsonl", lines)

    result = verify(find_logs([str(log)]), [shipped.policy])

    (damaged,) = [f for f in result.findings if f.kind == "damaged"]
    assert [w.split(":")[1] for w in damaged.where] == ["3"]


def test_an_id_repeated_in_one_long_line_is_not_quadratic(tmp_path):
    """
    A junk line holding the id 500,000 times (9 MB) is read once, not once per
    occurrence (that took tens of seconds: quadratic in the repeats).
    """
    needle = b'"decision_id":"X"'
    log = tmp_path / "d.jsonl"
    log.write_bytes(
        b'{"junk":"' + needle * 500_000 + b'"}\n{"decision_id":"X","timestamp":"2026"}\n'
    )
    started = time.perf_counter()
    found = number_lines(str(log), [Sought("X", None, "d")], lambda line: line[2:3].decode())
    assert ([2], True) == (found, time.perf_counter() - started < 5)


def test_parquet_rows_without_a_decision_id_do_not_crash_verify(shipped, tmp_path):
    """
    A Parquet row without a decision_id, among rows of an unreviewed revision:
    the finding's groups were sorted by example, (None, None, None) against
    (file, id, ts), and TypeError escaped verify (and the CLI). A row without
    an id is now damaged, as a JSON line without one is.
    """
    lines = _lines(shipped)
    mixed = [
        _tamper(lines[0], revision="sha256:other", decision_id=None),
        _tamper(lines[1], revision="sha256:other"),
        lines[2],
    ]
    source = write_jsonl(tmp_path / "d.jsonl", mixed)
    parquet = write_parquet(source, tmp_path / "d.parquet")

    result = verify(find_logs([str(parquet)]), [shipped.policy])

    assert ["damaged", "unreviewed-revision"] == sorted(f.kind for f in result.findings)


def test_a_log_truncated_while_its_lines_are_numbered_does_not_kill_the_process(tmp_path):
    """
    ``logrotate``'s copytruncate empties the log while its lines are numbered:
    the reads come back short, where a mapped file killed the process (SIGBUS).
    """
    log = tmp_path / "d.jsonl"
    log.write_text('{"decision_id":"1","timestamp":"2026-05-09T12:00:00Z"}\n' * 200_000)
    script = textwrap.dedent(f"""
        import os
        from geogate._logs.lines import Sought, number_lines
        def key_of(line):
            os.truncate({str(log)!r}, 0)
            return None
        try:
            number_lines({str(log)!r}, [Sought("1", None, "never")], key_of)
        except Exception:
            pass
    """)
    done = subprocess.run(  # noqa: S603 (this interpreter, the test's own script)
        [sys.executable, "-c", script], check=False, capture_output=True
    )
    assert done.returncode == 0


@pytest.mark.parametrize("escaped", [False, True])
def test_a_tampered_line_written_by_json_dumps_defaults_is_located(shipped, tmp_path, escaped):
    """
    A tampered line written as ``json.dumps`` writes by default (``": "``), or
    with its id escaped (``\\u0074``), is read by DuckDB and found at its line.
    """
    lines = _lines(shipped)
    lines[1] = json.dumps(json.loads(_allow(lines[0])) | {"decision_id": "tampered"})
    if escaped:
        lines[1] = lines[1].replace('"tampered"', '"\\u0074ampered"')
    log = write_jsonl(tmp_path / "d.jsonl", lines)

    result = verify(find_logs([str(log)]), [shipped.policy])

    assert [("disagreement", (f"{log}:2",))] == [(f.kind, f.where) for f in result.findings]


def test_a_damaged_line_of_invalid_utf8_is_located(shipped, tmp_path):
    """A line with a byte that is not UTF-8 is damaged for DuckDB, and named as such."""
    lines = _lines(shipped)
    lines[1] = _tamper(lines[1], ip="IPX")
    data = "\n".join(lines).encode().replace(b"IPX", b"\xff") + b"\n"
    log = tmp_path / "d.jsonl"
    log.write_bytes(data)

    result = verify(find_logs([str(log)]), [shipped.policy])

    (damaged,) = [f for f in result.findings if f.kind == "damaged"]
    assert [w.split(":")[1] for w in damaged.where] == ["2"]


def test_a_tampered_line_with_a_trailing_comma_is_located(shipped, tmp_path):
    """
    DuckDB reads ``{...,}`` (a comma before the closing brace) as a whole
    decision and verifies it: its disagreement is found at its line (Python's
    json, which rejects the comma, left it without one).
    """
    lines = _lines(shipped)
    lines[1] = _allow(lines[0])[:-1] + ",}"
    log = write_jsonl(tmp_path / "d.jsonl", lines)

    result = verify(find_logs([str(log)]), [shipped.policy])

    assert [("disagreement", (f"{log}:2",))] == [(f.kind, f.where) for f in result.findings]


def test_a_line_duckdb_reads_whole_is_not_named_instead_of_the_damaged_one(shipped, tmp_path):
    """
    Line 1 ends ``,} `` (DuckDB: whole, verified); line 3 is ``"allowed":"yes"``
    (DuckDB: the one damaged line): the damage named is line 3, not line 1.
    """
    lines = _lines(shipped)
    lines[0] = lines[0][:-1] + ",} "
    lines[2] = _tamper(lines[2], allowed="yes")
    log = write_jsonl(tmp_path / "d.jsonl", lines)

    result = verify(find_logs([str(log)]), [shipped.policy])

    (damaged,) = [f for f in result.findings if f.kind == "damaged"]
    assert [w.split(":")[1] for w in damaged.where] == ["3"]


def test_a_deeply_nested_tampered_line_does_not_crash_verify(shipped, tmp_path):
    """
    A line holding ``[[[[...]]]]`` 5,000 deep, which DuckDB reads as whole:
    its disagreement is reported, never a RecursionError (a traceback from
    ``geogate logs verify``).
    """
    lines = _lines(shipped)
    lines[1] = _allow(lines[0])[:-1] + ',"x":' + "[" * 5000 + "]" * 5000 + "}"
    log = write_jsonl(tmp_path / "d.jsonl", lines)

    result = verify(find_logs([str(log)]), [shipped.policy])

    assert ["disagreement"] == [f.kind for f in result.findings]


@pytest.mark.parametrize("shape", ["escaped ids", "one shared id and time"])
def test_many_findings_are_located_in_linear_time(shipped, tmp_path, shape):
    """
    700 tampered lines, each its own finding (one a day), with each id
    escaped (``\\u0069d-``) or all sharing one id and one timestamp: each line
    of the file is parsed at most once, so all are placed in well under 3 s
    (looking for each line in turn was quadratic: 10 s here, about 30
    minutes for 10,000 such lines).
    """
    (line, _), *_ = log_lines(shipped, [Request("llama-3.2-vision", {"country": "FR"}, DAY)])
    written = []
    for i in range(700):
        day = dt.date(2020, 1, 1) + dt.timedelta(days=i)
        decided = shipped.evaluate("llama-3.2-vision", country="FR", at=day)
        flipped = not decided.allowed
        record = _tamper(
            line,
            decision_id="same" if shape != "escaped ids" else f"id-{i:06d}",
            timestamp="2026-01-01T00:00:00Z" if shape != "escaped ids" else f"{day}T12:00:00Z",
            as_of=day.isoformat(),
            allowed=flipped,
            effect="allow" if flipped else "deny",
            rule=None if flipped else "x",
            reason="DEFAULT" if flipped else "TARGETING_MATCH",
            jurisdictions=list(decided.jurisdictions),
        )
        written.append(record.replace('"id-', '"\\u0069d-'))
    log = write_jsonl(tmp_path / "d.jsonl", written)

    started = time.perf_counter()
    result = verify(find_logs([str(log)]), [shipped.policy])
    took = time.perf_counter() - started

    assert (700, True) == (sum(1 for f in result.findings if f.where), took < 3), took


def test_a_log_of_a_million_junk_lines_names_its_first_damage_quickly(tmp_path):
    """
    A log of 1,000,000 lines ``x`` (2 MB; DuckDB reads it in 0.4 s): its first
    20 damaged lines are named in well under 3 s, without a record for every
    damaged line (that was 8 s and 300 MB here; a 1 GB file of junk ran out
    of memory).
    """
    from geogate._logs.read import LogReader  # noqa: PLC0415

    log = tmp_path / "d.jsonl"
    log.write_bytes(b"x\n" * 1_000_000)
    reader = LogReader(find_logs([str(log)]))
    groups = reader.groups()

    started = time.perf_counter()
    shown = reader.damage(groups.damaged)
    took = time.perf_counter() - started

    assert (20, True) == (len(shown), took < 3), took


def test_a_large_gzipped_log_is_numbered_without_holding_it_whole(tmp_path):
    """
    A rotated ``.jsonl.N.gz`` of 400 MB (0.4 MB gzipped) is numbered under a
    300 MB address-space limit: it is unpacked to a temporary file, not into
    memory (that was MemoryError and a traceback).
    """
    import gzip  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415
    import textwrap  # noqa: PLC0415

    log = tmp_path / "d.jsonl.1.gz"
    with gzip.open(log, "wb", compresslevel=1) as stream:
        for _ in range(25):
            stream.write(b"\n" * (16 << 20))
        stream.write(b'{"decision_id":"X","timestamp":"2026-05-09T12:00:00Z"}\n')
    script = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (300 << 20, 300 << 20))
        from geogate._logs.lines import Sought, number_lines
        print(number_lines({str(log)!r}, [Sought("X", None, True)], lambda line: True))
    """)
    done = subprocess.run(  # noqa: S603 (this interpreter, the test's own script)
        [sys.executable, "-c", script], check=False, capture_output=True, text=True
    )
    assert (0, f"[{25 * (16 << 20) + 1}]") == (done.returncode, done.stdout.strip()), done.stderr


def test_a_tampered_line_with_an_overflowing_number_is_located(shipped, tmp_path):
    """
    ``"country":1E400``: DuckDB reads the text ``1E400``, and so does geogate
    (not ``Infinity``), so the disagreement is found at its line.
    """
    lines = _lines(shipped)
    lines[1] = _allow(lines[0]).replace('"country":"FR"', '"country":1E400')
    log = write_jsonl(tmp_path / "d.jsonl", lines)

    result = verify(find_logs([str(log)]), [shipped.policy])

    assert [("disagreement", (f"{log}:2",))] == [
        (f.kind, f.where) for f in result.findings if f.kind == "disagreement"
    ]
