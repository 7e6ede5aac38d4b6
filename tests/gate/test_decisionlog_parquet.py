"""
`ParquetSink`: rotation by rows and time, whole files only, crash recovery, failures, fork.

Lines come from `helpers.decisionlogs.log_lines` (the log's own format, known
answers); files are read back with DuckDB and with `geogate logs summary`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
import warnings

import pytest

duckdb = pytest.importorskip("duckdb", reason="ParquetSink needs DuckDB: the logs extra")

from geogate import DecisionLog, Gate, ParquetSink  # noqa: E402
from geogate._gate import parquetsink  # noqa: E402 (after the skip)
from geogate._logs.read import LogInputError, find_logs  # noqa: E402
from geogate._logs.summary import summarise  # noqa: E402
from helpers.decisionlogs import Request, log_lines, write_jsonl  # noqa: E402
from helpers.paths import POLICIES  # noqa: E402

VISION = "llama-3.2-vision"
LICENCE = "llama-3.2-vision-license"
DAY = dt.date(2026, 5, 9)
#: 2026-05-09T12:00:00Z
NOON = dt.datetime(2026, 5, 9, 12, tzinfo=dt.UTC).timestamp()


@pytest.fixture(scope="module")
def gate():
    return Gate.from_path(POLICIES)


@pytest.fixture(scope="module")
def lines(gate):
    """25 varied lines: rules, defaults, unknown, invalid, unknown feature, domicile, regions."""
    places = [
        {"country": "FR"},
        {"country": "GB"},
        {"country": "US", "subdivision": "US-IL"},
        {"country": "XX"},
        {"country": "GER"},
        {"domicile": "DE"},
    ]
    requests = [
        Request(LICENCE if n % 7 == 0 else VISION, places[n % len(places)], DAY, "81.2.69.160")
        for n in range(24)
    ]
    requests.append(Request("no-such-feature", {"country": "FR"}, DAY))
    return [line for line, _ in log_lines(gate, requests)]


@pytest.fixture
def clock(monkeypatch):
    """The sink's clock, standing at noon until a test moves it; files numbered from 1."""
    now = [NOON]
    monkeypatch.setattr(parquetsink, "_now", lambda: now[0])
    monkeypatch.setattr(parquetsink, "_sequence", itertools.count(1))
    return now


def rows(path):
    """The decision ids of a Parquet file, in order."""
    with duckdb.connect() as connection:
        return [
            row[0]
            for row in connection.execute(
                "SELECT decision_id FROM read_parquet(?)", [str(path)]
            ).fetchall()
        ]


def ids(lines):
    return [json.loads(line)["decision_id"] for line in lines]


def listing(directory):
    return sorted(path.name for path in directory.iterdir())


@pytest.mark.usefixtures("clock")
def test_rotation_by_rows(tmp_path, lines):
    """max_rows=10: 25 lines in batches of 7 make files of 10, 10 and 5 (the last at close)."""
    sink = ParquetSink(tmp_path, max_rows=10)
    for start in range(0, 25, 7):
        sink.write(lines[start : start + 7])
    assert 2 == len(sink.files)
    sink.close()
    pid = os.getpid()
    assert [
        f"decisions-20260509T120000Z-{pid}-000001.parquet",
        f"decisions-20260509T120000Z-{pid}-000002.parquet",
        f"decisions-20260509T120000Z-{pid}-000003.parquet",
    ] == listing(tmp_path)
    assert [tmp_path / name for name in listing(tmp_path)] == sink.files
    assert [ids(lines[:10]), ids(lines[10:20]), ids(lines[20:])] == [rows(f) for f in sink.files]


def test_rotation_by_time(tmp_path, lines, clock):
    """A file is finished when its first line is max_seconds old: at a write, or at a tick."""
    sink = ParquetSink(tmp_path, prefix="d", max_seconds=60)
    sink.write(lines[:3])
    clock[0] += 59
    sink.tick()
    assert [] == sink.files
    clock[0] += 1
    sink.tick()  # no line came, yet the file is finished
    assert ["d-20260509T120000Z"] == [f.name[:18] for f in sink.files]
    clock[0] += 3600  # a quiet hour: nothing to finish, no empty file
    sink.tick()
    sink.write(lines[3:5])  # starts a file at 13:01:00
    clock[0] += 61
    sink.write(lines[5:6])  # finishes it first, then starts one at 13:02:01
    sink.close()
    assert ["d-20260509T120000Z", "d-20260509T130100Z", "d-20260509T130201Z"] == [
        f.name[:18] for f in sink.files
    ]
    assert [ids(lines[:3]), ids(lines[3:5]), ids(lines[5:6])] == [rows(f) for f in sink.files]


def test_a_decision_log_ticks_its_sink(tmp_path, clock):
    """Under a DecisionLog the file is finished on time though no decision comes after."""
    sink = ParquetSink(tmp_path, max_seconds=60)
    with Gate.from_path(POLICIES, decision_log=DecisionLog(sink)) as logged:
        logged.evaluate(VISION, country="FR")
        assert logged.flush(timeout=10)
        clock[0] += 60
        deadline = time.monotonic() + 10
        while not sink.files and time.monotonic() < deadline:
            time.sleep(0.01)
        assert 1 == len(sink.files)
    assert 1 == len(sink.files)  # close had nothing left


@pytest.mark.usefixtures("clock")
def test_files_appear_whole(tmp_path, lines, monkeypatch):
    """While DuckDB writes, only a hidden temporary file exists, which `geogate logs` ignores."""
    seen = []
    convert = parquetsink._to_parquet

    def watched(source, target):
        convert(source, target)
        try:
            logs = [path.name for path in find_logs([str(tmp_path)])]
        except LogInputError:
            logs = []
        seen.append((listing(tmp_path), target.name, logs))

    monkeypatch.setattr(parquetsink, "_to_parquet", watched)
    sink = ParquetSink(tmp_path, max_rows=10)
    sink.write(lines[:10])  # the first file is there when the second is written
    sink.write(lines[10:20])
    pid = os.getpid()
    first, second = (f"decisions-20260509T120000Z-{pid}-00000{n}" for n in (1, 2))
    assert [
        (
            [f".{first}.jsonl.part", f".{first}.jsonl.part.lock", f".{first}.parquet.tmp"],
            f".{first}.parquet.tmp",
            [],
        ),
        (
            [
                f".{second}.jsonl.part",
                f".{second}.jsonl.part.lock",
                f".{second}.parquet.tmp",
                f"{first}.parquet",
            ],
            f".{second}.parquet.tmp",
            [f"{first}.parquet"],
        ),
    ] == [(names, target, logs) for names, target, logs in seen]
    assert [f"{first}.parquet", f"{second}.parquet"] == listing(tmp_path)


def test_close_converts_what_is_buffered(tmp_path, lines, caplog):
    """close writes the last file; closing twice is harmless; a closed sink takes no lines."""
    sink = ParquetSink(tmp_path)
    sink.write(lines[:4])
    assert [] == [name for name in listing(tmp_path) if not name.startswith(".")]
    sink.close()
    sink.close()
    assert [ids(lines[:4])] == [rows(f) for f in sink.files]
    assert [f.name for f in sink.files] == listing(tmp_path)
    with pytest.raises(ValueError, match=r"^") as raised:
        sink.write(lines[:1])
    assert f"the ParquetSink of {str(tmp_path)!r} is closed; it takes no lines" == str(raised.value)
    assert [] == caplog.records


def test_an_empty_sink_writes_no_file(tmp_path):
    ParquetSink(tmp_path).close()
    assert [] == listing(tmp_path)


def test_a_stopped_writers_spill_is_converted_by_the_next_sink(tmp_path, lines, caplog):
    """
    A crash leaves the spill (and a torn line); the next sink on the folder converts it at start.

    The spill's lock goes with the dead process: here its descriptors are
    closed without converting, as the kernel would. The Parquet file keeps
    the spill's name, and the torn line is one damaged row.
    """
    live = ParquetSink(tmp_path)  # another process's, still writing: never taken
    live.write(lines[6:8])
    crashed = ParquetSink(tmp_path)
    crashed.write(lines[:5])
    spill = crashed._spill.path
    with spill.open("a", encoding="utf-8") as stream:
        stream.write(lines[5][:40])  # killed mid-write
    crashed._spill.close()  # the process is gone: its lock with it
    assert 4 == len(listing(tmp_path))  # two spills, two lock files

    caplog.set_level(logging.WARNING, "geogate")
    recovered = ParquetSink(tmp_path)
    name = spill.name.removeprefix(".").removesuffix(".jsonl.part") + ".parquet"
    assert [tmp_path / name] == recovered.files
    assert [*ids(lines[:5]), None] == rows(tmp_path / name)
    assert [
        (
            f"geogate: converting the decision log spill {spill} (left by a stopped writer, "
            "or kept after a failed conversion)"
        )
    ] == [r.getMessage() for r in caplog.records]
    assert live._spill.path.exists()  # held by its live writer
    live.close()
    recovered.close()
    summary = summarise(find_logs([str(tmp_path)]))
    assert (8, 1) == (summary.lines, summary.damaged)
    assert not [n for n in listing(tmp_path) if n.startswith(".")]


def test_summary_reads_the_same_as_from_jsonl(tmp_path, lines):
    """`geogate logs summary` counts the Parquet files exactly as the same lines in JSONL."""
    jsonl = write_jsonl(tmp_path / "decisions.jsonl", lines)
    folder = tmp_path / "parquet"
    sink = ParquetSink(folder, max_rows=4)
    sink.write(lines)
    sink.close()
    assert 7 == len(find_logs([str(folder)]))
    expected = summarise(find_logs([str(jsonl)]))
    actual = summarise(find_logs([str(folder)]))
    assert (25, 0) == (expected.lines, expected.damaged)
    assert (expected.lines, expected.damaged) == (actual.lines, actual.damaged)
    assert expected.features == actual.features
    assert expected.features[0].places  # not vacuous
    shown = summarise(find_logs([str(jsonl)]), show_ip=True).features
    assert shown == summarise(find_logs([str(folder)]), show_ip=True).features


@pytest.mark.usefixtures("clock")
def test_column_types(tmp_path, lines):
    """The columns are typed as `geogate logs` reads them, for every tool that reads Parquet."""
    sink = ParquetSink(tmp_path)
    sink.write(lines[:1])
    sink.close()
    with duckdb.connect() as connection:
        described = connection.execute(
            "DESCRIBE SELECT * FROM read_parquet(?)", [str(sink.files[0])]
        ).fetchall()
        connection.execute("SET TimeZone = 'UTC'")
        (timestamp,) = connection.execute(
            'SELECT "timestamp" FROM read_parquet(?)', [str(sink.files[0])]
        ).fetchone()
    assert [
        ("v", "INTEGER"),
        ("decision_id", "VARCHAR"),
        ("timestamp", "TIMESTAMP WITH TIME ZONE"),
        ("feature", "VARCHAR"),
        ("allowed", "BOOLEAN"),
        ("effect", "VARCHAR"),
        ("rule", "VARCHAR"),
        ("reason", "VARCHAR"),
        ("error_code", "VARCHAR"),
        ("revision", "VARCHAR"),
        ("as_of", "DATE"),
        ("country", "VARCHAR"),
        ("subdivision", "VARCHAR"),
        ("domicile", "VARCHAR"),
        ("location", "VARCHAR"),
        ("jurisdictions", "VARCHAR[]"),
        ("location_source", "VARCHAR"),
        ("ip", "VARCHAR"),
    ] == [row[:2] for row in described]
    assert dt.datetime(2026, 5, 9, 12, tzinfo=dt.UTC) == timestamp


def test_a_feature_id_duckdb_cannot_hold_is_kept(tmp_path):
    """A lone surrogate (which DuckDB refuses) becomes U+FFFD; the line is not lost."""
    sink = ParquetSink(tmp_path)
    with Gate.from_path(POLICIES, decision_log=DecisionLog(sink)) as logged:
        logged.evaluate("x\ud800y", country="FR")
    with duckdb.connect() as connection:
        assert [("x\ufffdy", "FLAG_NOT_FOUND")] == connection.execute(
            "SELECT feature, error_code FROM read_parquet(?)", [str(sink.files[0])]
        ).fetchall()


def test_a_failed_conversion_keeps_the_lines_and_is_logged(tmp_path, lines, monkeypatch, caplog):
    """
    DuckDB failing (a full disk) loses nothing: the spill is kept, logged, and converted later.

    Its lines are on disk, so the decision log counts them written.
    """
    convert = parquetsink._to_parquet
    failures = [1]

    def flaky(source, target):
        if failures[0]:
            failures[0] -= 1
            target.write_bytes(b"PAR1 half")  # as far as it got
            msg = "IO Error: No space left on device"
            raise duckdb.IOException(msg)
        convert(source, target)

    monkeypatch.setattr(parquetsink, "_to_parquet", flaky)
    sink = ParquetSink(tmp_path, max_rows=10)
    log = DecisionLog(sink)
    for line in lines[:10]:
        log.sink.write([line])  # the log's writer thread does this; here in order, by hand
    spill = sink.unconverted[0]
    assert ([spill], []) == (sink.unconverted, sink.files)
    assert spill.exists()
    for line in lines[10:20]:
        log.sink.write([line])
    assert [] == sink.unconverted
    assert 2 == len(sink.files)  # the second file, then the kept spill, at its rotation
    name = spill.name.removeprefix(".").removesuffix(".jsonl.part") + ".parquet"
    assert [tmp_path / name] == sink.files[1:]
    assert [ids(lines[10:20]), ids(lines[:10])] == [rows(f) for f in sink.files]
    log.close()
    assert [
        (
            f"geogate: cannot convert the decision log spill {spill} to Parquet; its 10 "
            "line(s) are kept in it, and converted at the next rotation, at close, or by "
            f"the next ParquetSink on {tmp_path}"
        ),
        (
            f"geogate: converting the decision log spill {spill} (left by a stopped writer, "
            "or kept after a failed conversion)"
        ),
    ] == [r.getMessage() for r in caplog.records if r.name == "geogate"]
    assert "IO Error: No space left on device" in caplog.records[0].exc_text
    assert not [n for n in listing(tmp_path) if n.startswith(".")]


def test_a_spill_that_cannot_be_written_counts_failed(tmp_path, clock, caplog):
    """/dev/full as the spill (ENOSPC): every line counted failed by the log, as with FileSink."""
    spill = tmp_path / f".decisions-20260509T120000Z-{os.getpid()}-000001.jsonl.part"
    clock[0] = NOON
    sink = ParquetSink(tmp_path)
    spill.symlink_to("/dev/full")
    with Gate.from_path(POLICIES, decision_log=DecisionLog(sink)) as logged:
        for _ in range(5):
            logged.evaluate(VISION, country="FR")
        assert not logged.flush(timeout=10)
        log = logged.decision_log
    assert (0, 5, 0) == (log.written, log.failed, log.dropped)
    assert 1 == sum(" failed; " in r.getMessage() for r in caplog.records)
    assert [] == sink.files
    assert [] == listing(tmp_path)  # the empty spill is removed, never converted


def test_without_duckdb(monkeypatch, tmp_path):
    """The logs extra is missing: the install hint, when a sink is made (importing is fine)."""
    monkeypatch.setitem(sys.modules, "duckdb", None)
    with pytest.raises(ImportError, match=r"^") as raised:
        ParquetSink(tmp_path)
    assert (
        "ParquetSink needs DuckDB; install the extra: pip install 'geogate[logs]' "
        "(from a checkout: pip install -e '.[logs]')"
    ) == str(raised.value)
    assert [] == listing(tmp_path)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_rows": 0}, "max_rows must be at least 1, not 0"),
        ({"max_seconds": -1}, "max_seconds must be 0 (no limit) or more, not -1"),
        ({"prefix": ".d"}, "prefix must be a plain file name start, not '.d'"),
        ({"prefix": "a/b"}, "prefix must be a plain file name start, not 'a/b'"),
    ],
)
def test_bad_options(tmp_path, options, message):
    with pytest.raises(ValueError, match=r"^") as raised:
        ParquetSink(tmp_path, **options)
    assert message == str(raised.value)


def wait_for_exit(pid, timeout=30):
    """Wait for the forked child *pid*; kill it and fail the test if it hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child {pid} did not exit within {timeout} s: it hung")


@pytest.mark.slow
@pytest.mark.usefixtures("clock")
def test_a_forked_child_writes_its_own_files(tmp_path, lines):
    """
    After os.fork the child writes files named with its pid, and never converts its parent's spill.

    The parent's spill is live (lines waiting) at the fork; the child's lines
    go to its own spill and files; the parent's close converts its own.
    """
    sink = ParquetSink(tmp_path, max_rows=10)
    sink.write(lines[:5])
    parent_spill = sink._spill.path
    result = tmp_path / "result.json"
    with warnings.catch_warnings():  # Python 3.12+ warns about forking with threads
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if not pid:
        code = 1
        try:
            sink.write(lines[5:17])
            alive = parent_spill.exists()
            sink.close()
            result.write_text(
                json.dumps({"files": [str(f) for f in sink.files], "parent_spill": alive}),
                encoding="utf-8",
            )
            code = 0
        except BaseException:  # noqa: BLE001 (reported through the file, then os._exit)
            result.write_text(json.dumps({"error": traceback.format_exc()}), encoding="utf-8")
        finally:
            os._exit(code)
    assert 0 == wait_for_exit(pid)
    child = json.loads(result.read_text(encoding="utf-8"))
    result.unlink()
    assert {"files", "parent_spill"} == set(child), child.get("error")
    assert child["parent_spill"]
    assert parent_spill.exists()
    files = [tmp_path / f for f in child["files"]]
    assert [f"-{pid}-000001.parquet", f"-{pid}-000002.parquet"] == [
        f.name[f.name.rindex(f"-{pid}-") :] for f in files
    ]
    assert [ids(lines[5:15]), ids(lines[15:17])] == [rows(f) for f in files]
    sink.write(lines[17:20])
    sink.close()
    assert [ids(lines[:5]) + ids(lines[17:20])] == [rows(f) for f in sink.files]
    assert sink.files[0].name.endswith(f"-{os.getpid()}-000001.parquet")
    assert not [n for n in listing(tmp_path) if n.startswith(".")]


def test_importing_geogate_imports_no_duckdb():
    """DuckDB is the logs extra: `import geogate` (ParquetSink included) does not load it."""
    script = "import sys, geogate; print(geogate.ParquetSink.__name__, 'duckdb' in sys.modules)"
    child = subprocess.run(  # noqa: S603 (this interpreter)
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert ("ParquetSink False\n", "") == (child.stdout, child.stderr)
