"""The decision log: line format, IP truncation, sinks, rotation, back-pressure, no loss."""

from __future__ import annotations

import datetime as dt
import errno
import io
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import geogate._gate.gate
from geogate import DecisionLog, FileSink, Gate, LoggerSink
from geogate._gate.decisionlog import PartialWriteError, process_path, truncate_ip
from geogate.exceptions import DecisionLogError
from helpers.mmdb import country_record, write_country_db
from helpers.paths import POLICIES

FEATURE = "llama-3.2-vision"
#: 2026-05-09T12:00:00.250000Z
NOON = dt.datetime(2026, 5, 9, 12, 0, 0, 250_000, tzinfo=dt.UTC).timestamp()


class Lines:
    """A sink that keeps the lines, optionally slowly."""

    def __init__(self, delay: float = 0.0) -> None:
        self.lines: list[str] = []
        self.delay = delay
        self.closed = False

    def write(self, lines):
        if self.delay:
            time.sleep(self.delay)
        self.lines.extend(lines)

    def close(self):
        self.closed = True


def ids():
    counter = iter(range(10**9))
    return lambda: f"id-{next(counter)}"


@pytest.fixture
def _fixed_clock(monkeypatch):
    """The gate's clock (its memo's expiry, and each logged decision's timestamp) stands still."""
    monkeypatch.setattr(geogate._gate.gate, "_now", lambda: NOON)


@pytest.mark.usefixtures("_fixed_clock")
def test_line_format_is_pinned():
    """One decision: one JSON line, keys in this order, the IP truncated to its /24."""
    sink = Lines()
    with Gate.from_path(POLICIES, decision_log=DecisionLog(sink, new_id=ids())) as gate:
        gate.evaluate(FEATURE, country="FR", ip="81.2.69.160")
    revision = gate.revision
    assert [
        (
            '{"v":1,"decision_id":"id-0","timestamp":"2026-05-09T12:00:00.250000Z",'
            '"feature":"llama-3.2-vision","allowed":false,"effect":"deny",'
            '"rule":"eu-multimodal-withheld","reason":"TARGETING_MATCH","error_code":null,'
            f'"revision":"{revision}","as_of":"2026-05-09","country":"FR","subdivision":null,'
            '"domicile":null,"location":"known","jurisdictions":["EUROZONE","SCHENGEN","EU","EEA","WORLD"],"location_source":"explicit",'
            '"ip":"81.2.69.0/24"}'
        )
    ] == sink.lines
    assert sink.closed


@pytest.mark.usefixtures("_fixed_clock")
def test_every_call_is_logged_fast_path_slow_path_and_errors():
    """is_allowed and evaluate, memoised or not, errors included: one line each, in order."""
    sink = Lines()
    gate = Gate.from_path(POLICIES, decision_log=DecisionLog(sink, new_id=ids()))
    assert type(gate).__name__ == "_LoggedGate"
    plain = Gate.from_path(POLICIES)
    calls = [
        {"country": "FR"},
        {"country": "FR"},  # memoised
        {"country": "GB", "at": "2024-01-01"},
        {"country": "GER"},
        {"country": 7},
        {},
    ]
    for kwargs in calls:
        assert plain.evaluate(FEATURE, **kwargs) == gate.evaluate(FEATURE, **kwargs)
        assert plain.is_allowed(FEATURE, **kwargs) == gate.is_allowed(FEATURE, **kwargs)
    assert gate.evaluate("no-such-feature", country="FR").error_code is not None
    gate.close()
    records = [json.loads(line) for line in sink.lines]
    assert [f"id-{i}" for i in range(13)] == [r["decision_id"] for r in records]
    assert ["FR", "FR", "FR", "FR", "GB", "GB", None, None, None, None, None, None, None] == [
        r["country"] for r in records
    ]
    assert "FLAG_NOT_FOUND" == records[-1]["error_code"]
    assert "no-such-feature" == records[-1]["feature"]


@pytest.mark.parametrize(
    ("ip", "prefix", "expected"),
    [
        ("81.2.69.160", (24, 48), "81.2.69.0/24"),
        ("2a02:d500:1234:5678::1", (24, 48), "2a02:d500:1234::/48"),
        ("::ffff:81.2.69.160", (24, 48), "81.2.69.0/24"),
        ("81.2.69.160", (32, 128), "81.2.69.160/32"),
        ("81.2.69.160", (16, 32), "81.2.0.0/16"),
        ("not an ip", (24, 48), None),
        (12345, (24, 48), None),
        (None, (24, 48), None),
    ],
)
def test_ip_truncation(ip, prefix, expected):
    """IPv4 to /24, IPv6 to /48 by default; a malformed value is not logged at all."""
    assert expected == truncate_ip(ip, prefix)


@pytest.mark.usefixtures("_fixed_clock")
def test_ip_prefix_none_leaves_the_ip_out():
    sink = Lines()
    log = DecisionLog(sink, ip_prefix=None, new_id=ids())
    with Gate.from_path(POLICIES, decision_log=log) as gate:
        gate.evaluate(FEATURE, country="FR", ip="81.2.69.160")
    assert "ip" not in json.loads(sink.lines[0])
    assert "81.2" not in sink.lines[0]


def test_ip_of_a_geoip_decision_is_truncated(tmp_path):
    """ip= located through GeoIP (and then memoised by address): logged as its /24."""
    db = write_country_db(tmp_path / "c.mmdb", {"81.2.69.0/24": country_record("GB")})
    sink = Lines()
    with Gate.from_path(POLICIES, geoip_db=db, decision_log=sink) as gate:
        for _ in range(3):
            assert gate.is_allowed(FEATURE, ip="81.2.69.160")
    records = [json.loads(line) for line in sink.lines]
    assert [("GB", "geoip", "81.2.69.0/24")] * 3 == [
        (r["country"], r["location_source"], r["ip"]) for r in records
    ]


def test_file_sink_from_a_path(tmp_path):
    """A path is a FileSink: N decisions, N lines after close."""
    path = tmp_path / "decisions.jsonl"
    with Gate.from_path(POLICIES, decision_log=path) as gate:
        for country in ("FR", "GB", "US") * 100:
            gate.is_allowed(FEATURE, country=country)
        assert isinstance(gate.decision_log, DecisionLog)
        assert isinstance(gate.decision_log.sink, FileSink)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert 300 == len(lines)
    assert 300 == gate.decision_log.written


def test_file_sink_rotates_by_size(tmp_path):
    """Past max_bytes the file becomes NAME.1 (NAME.1 -> NAME.2 ...); backups bound the count."""
    path = tmp_path / "d.jsonl"
    sink = FileSink(path, max_bytes=1000, backups=2)
    for number in range(10):
        sink.write([f'{{"n":{number},"pad":"{"x" * 390}"}}'])  # ~400 bytes a line
    sink.close()
    files = sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".lock")
    assert ["d.jsonl", "d.jsonl.1", "d.jsonl.2"] == files
    assert (tmp_path / "d.jsonl.lock").exists()  # the lock file stays: it names the writer
    numbers = [
        json.loads(line)["n"]
        for name in ("d.jsonl.2", "d.jsonl.1", "d.jsonl")
        for line in (tmp_path / name).read_text(encoding="utf-8").splitlines()
    ]
    assert [4, 5, 6, 7, 8, 9] == numbers
    assert all((tmp_path / name).stat().st_size <= 1000 for name in files)


def test_file_sink_without_backups_starts_over(tmp_path):
    path = tmp_path / "d.jsonl"
    sink = FileSink(path, max_bytes=10, backups=0)
    sink.write(["0123456789"])
    sink.write(["abc"])
    sink.close()
    assert ["d.jsonl", "d.jsonl.lock"] == sorted(p.name for p in tmp_path.iterdir())
    assert "abc\n" == path.read_text(encoding="utf-8")


@pytest.mark.usefixtures("_fixed_clock")
def test_logger_sink():
    """A logging.Logger: one record per decision, at INFO, the JSON line as its message."""
    stream = io.StringIO()
    target = logging.getLogger("test.decisions")
    handler = logging.StreamHandler(stream)
    target.addHandler(handler)
    target.setLevel(logging.INFO)
    target.propagate = False
    try:
        with Gate.from_path(POLICIES, decision_log=target) as gate:
            gate.evaluate(FEATURE, country="GB")
            assert isinstance(gate.decision_log.sink, LoggerSink)
    finally:
        target.removeHandler(handler)
    (line,) = stream.getvalue().splitlines()
    assert "GB" == json.loads(line)["country"]


def test_callable_sink():
    lines: list[str] = []
    with Gate.from_path(POLICIES, decision_log=lines.append) as gate:
        gate.evaluate(FEATURE, country="GB")
    assert 1 == len(lines)
    assert "GB" == json.loads(lines[0])["country"]


def test_bad_sinks_and_options():
    with pytest.raises(TypeError, match="a decision log sink must be a path"):
        DecisionLog(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_full must be 'block' or 'drop', not 'wait'"):
        DecisionLog(Lines(), on_full="wait")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_queue must be at least 1"):
        DecisionLog(Lines(), max_queue=0)
    with pytest.raises(ValueError, match="ip_prefix"):
        DecisionLog(Lines(), ip_prefix=(33, 48))


def test_back_pressure_loses_nothing():
    """A slow sink and a queue of 4: callers wait for room, and every decision is written."""
    sink = Lines(delay=0.002)
    log = DecisionLog(sink, max_queue=4)
    with Gate.from_path(POLICIES, decision_log=log) as gate:
        for country in ("FR", "GB", "US", "DE") * 50:
            gate.is_allowed(FEATURE, country=country)
        assert log.pending <= 4 + 1
    assert 200 == len(sink.lines)
    assert 0 == log.dropped


def test_drop_and_count(caplog):
    """on_full="drop": a full queue drops the decision, counts it, and close() reports the count."""
    release = threading.Event()

    class Stuck(Lines):
        def write(self, lines):
            release.wait(10)
            super().write(lines)

    sink = Stuck()
    log = DecisionLog(sink, max_queue=10, on_full="drop")
    gate = Gate.from_path(POLICIES, decision_log=log)
    gate.evaluate(FEATURE, country="FR")
    deadline = time.monotonic() + 10
    while log.pending and time.monotonic() < deadline:  # the writer holds the first one
        time.sleep(0.005)
    for _ in range(30):
        gate.evaluate(FEATURE, country="FR")
    assert 20 == log.dropped
    release.set()
    gate.close()
    assert 11 == len(sink.lines)
    assert 20 == log.dropped
    assert any("dropped 20 decision(s)" in r.getMessage() for r in caplog.records)


def test_close_flushes_and_later_decisions_are_counted():
    """close() writes everything queued; decisions after close are not written but counted."""
    sink = Lines(delay=0.01)
    log = DecisionLog(sink)
    gate = Gate.from_path(POLICIES, decision_log=log)
    for _ in range(1000):
        gate.evaluate(FEATURE, country="GB")
    gate.close()
    assert 1000 == len(sink.lines)
    assert sink.closed
    gate.evaluate(FEATURE, country="GB")
    log.record(gate.evaluate(FEATURE, country="GB"), None)
    assert 1000 == len(sink.lines)
    assert 3 == log.dropped
    log.close()  # twice is harmless


def test_flush_waits_for_the_writer():
    sink = Lines(delay=0.005)
    log = DecisionLog(sink)
    with Gate.from_path(POLICIES, decision_log=log) as gate:
        for _ in range(50):
            gate.evaluate(FEATURE, country="GB")
        assert log.flush(timeout=10)
        assert 50 == len(sink.lines)


def test_a_failing_sink_is_logged_and_counted(caplog):
    class Broken(Lines):
        def write(self, _):
            msg = "disk full"
            raise OSError(msg)

    log = DecisionLog(Broken())
    with Gate.from_path(POLICIES, decision_log=log) as gate:
        gate.evaluate(FEATURE, country="GB")
    assert (1, 0) == (log.failed, log.written)
    assert any("decision(s) lost" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_many_threads_exactly_n_lines(tmp_path):
    """8 threads x 2,000 decisions, a small queue: exactly 16,000 lines, each valid JSON."""
    path = tmp_path / "d.jsonl"
    log = DecisionLog(path, max_queue=64)
    gate = Gate.from_path(POLICIES, decision_log=log)
    countries = ("FR", "GB", "US", "DE", "JP")

    def run(worker: int) -> int:
        for number in range(2000):
            gate.evaluate(FEATURE, country=countries[(worker + number) % len(countries)])
        return 2000

    with ThreadPoolExecutor(8) as pool:
        assert 16_000 == sum(pool.map(run, range(8)))
    gate.close()
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert 16_000 == len(records)
    assert 16_000 == len({r["decision_id"] for r in records})


def test_a_gate_subclass_cannot_take_a_log():
    class Mine(Gate):
        __slots__ = ()

    with pytest.raises(TypeError, match="not with the subclass Mine"):
        Mine.from_path(POLICIES, decision_log=Lines())
    assert type(Mine.from_path(POLICIES)) is Mine


def test_reload_revision_is_logged(tmp_path):
    """After a reload the lines name the new revision."""
    (tmp_path / "p.yaml").write_text("features:\n  f:\n    default: allow\n", encoding="utf-8")
    sink = Lines()
    with Gate.from_path(tmp_path, decision_log=sink) as gate:
        gate.evaluate("f", country="FR")
        first = gate.revision
        (tmp_path / "p.yaml").write_text("features:\n  f:\n    default: deny\n", encoding="utf-8")
        assert gate.reload().ok
        gate.evaluate("f", country="FR")
    assert [(first, True), (gate.revision, False)] == [
        (json.loads(line)["revision"], json.loads(line)["allowed"]) for line in sink.lines
    ]


@pytest.fixture(scope="module")
def decision():
    return Gate.from_path(POLICIES).evaluate(FEATURE, country="FR")


def geogate_messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "geogate"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("decisions.jsonl", "decisions.4242.jsonl"),
        ("decisions", "decisions.4242"),
        ("decisions.log.jsonl", "decisions.log.4242.jsonl"),
    ],
)
def test_process_path(tmp_path, name, expected):
    """A process's own file: its pid before the suffix, in the same folder."""
    assert tmp_path / expected == process_path(tmp_path / name, 4242)


def test_flush_waits_for_the_batch_being_written(decision):
    """flush() is True once the lines are through the sink, not once the queue is empty."""
    entered, go = threading.Event(), threading.Event()

    class Held(Lines):
        def write(self, lines):
            entered.set()
            go.wait(10)
            super().write(lines)

    sink = Held()
    log = DecisionLog(sink)
    log.record(decision, None)
    assert entered.wait(10)  # the writer took it: the queue is empty, the line not written
    assert 0 == log.pending
    assert not log.flush(timeout=0.1)
    go.set()
    assert log.flush(timeout=10)
    assert 1 == len(sink.lines)
    log.close()


@pytest.mark.slow
def test_flush_under_load_waits_only_for_what_came_before(decision):
    """
    A thread deciding flat out keeps the queue from emptying; flush() returns once its part is in.

    The queue (65,536) is larger than a batch (4,096): it never runs dry while the thread decides.
    """
    log = DecisionLog(Lines(delay=0.001))
    stop = threading.Event()

    def produce():
        while not stop.is_set():
            log.record(decision, None)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        time.sleep(0.05)
        started = time.monotonic()
        flushed = log.flush(timeout=10)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        producer.join(10)
    log.close()
    assert flushed
    assert elapsed < 5
    assert 0 == log.dropped


def test_a_second_file_sink_on_a_held_file_is_refused(tmp_path):
    """One writer per file, in this process too; close() lets the next one take it."""
    path = tmp_path / "d.jsonl"
    first = FileSink(path)
    with pytest.raises(DecisionLogError) as caught:
        DecisionLog(path)
    assert (
        f"the decision log {str(path)!r} is already written by another FileSink of this process "
        f"({os.getpid()}), which holds {str(tmp_path / 'd.jsonl.lock')!r}; a file has one writer "
        "(rotation renames it under any other). Give each process its own file, e.g. "
        "FileSink(geogate._gate.decisionlog.process_path(path, os.getpid())), "
        "or close the other FileSink first"
    ) == str(caught.value)
    assert (path, os.getpid()) == (caught.value.path, caught.value.holder)
    assert f"{os.getpid()}\n" == (tmp_path / "d.jsonl.lock").read_text(encoding="ascii")
    first.close()
    first.close()  # twice is harmless
    second = FileSink(path)
    second.write(["{}"])
    second.close()
    assert "{}\n" == path.read_text(encoding="utf-8")


def test_a_full_device_fails_every_line_and_is_logged_once(tmp_path, decision, caplog):
    """/dev/full (ENOSPC, nothing written): every line counted failed, one message, one at close."""
    path = tmp_path / "full.jsonl"
    path.symlink_to("/dev/full")
    log = DecisionLog(FileSink(path))
    for _ in range(3):
        with log._room:  # the writer takes the next batch after these: one batch of 10
            for _ in range(10):
                log.record(decision, None)
        assert not log.flush(timeout=10)  # False: nothing was written
    log.close()
    assert (0, 30, 0) == (log.written, log.failed, log.dropped)
    assert [
        (
            f"geogate: the decision log sink {log.sink!r} failed; 10 decision(s) lost (further "
            "losses are counted in `failed` and reported when it writes again)"
        ),
        (
            f"geogate: the decision log sink {log.sink!r} still failed at close; 30 decision(s) "
            "lost since it started failing"
        ),
    ] == geogate_messages(caplog)


def test_a_sink_that_recovers_is_logged_twice(decision, caplog):
    """Failing, then writing again: one message when it fails, one when it writes again."""

    class Flaky(Lines):
        failures = 2

        def write(self, lines):
            if self.failures:
                self.failures -= 1
                msg = "disk full"
                raise OSError(msg)
            super().write(lines)

    sink = Flaky()
    log = DecisionLog(sink)
    flushed = []
    for _ in range(3):
        with log._room:  # one batch of 5
            for _ in range(5):
                log.record(decision, None)
        flushed.append(log.flush(timeout=10))
    log.close()
    assert [False, False, True] == flushed
    assert (5, 10, 5) == (log.written, log.failed, len(sink.lines))
    assert [
        (
            f"geogate: the decision log sink {sink!r} failed; 5 decision(s) lost (further "
            "losses are counted in `failed` and reported when it writes again)"
        ),
        (
            f"geogate: the decision log sink {sink!r} writes again; 10 decision(s) were lost "
            "while it failed"
        ),
    ] == geogate_messages(caplog)


def test_a_sink_may_say_how_many_lines_it_wrote(decision):
    """PartialWriteError(written=n): the first n lines count as written, the rest as failed."""

    class Three(Lines):
        def write(self, lines):
            super().write(lines[:3])
            if len(lines) > 3:
                raise PartialWriteError(errno.ENOSPC, "no room", written=3)

    sink = Three()
    log = DecisionLog(sink)
    with log._room:  # one batch of 10
        for _ in range(10):
            log.record(decision, None)
    assert not log.flush(timeout=10)
    log.close()
    assert (3, 7, 3) == (log.written, log.failed, len(sink.lines))


def test_a_feature_id_no_file_can_hold_loses_no_line(tmp_path):
    """
    A lone surrogate in an asked-for feature id (from os.fsdecode, say) is written escaped.

    Before, the UTF-8 encoding of its batch failed and every line of the batch was lost.
    """
    path = tmp_path / "decisions.jsonl"
    log = DecisionLog(FileSink(path))
    gate = Gate.from_path(POLICIES, decision_log=log)
    for _ in range(100):
        gate.evaluate(FEATURE, country="FR")
    gate.evaluate("f\udcff", country="FR")
    for _ in range(100):
        gate.evaluate(FEATURE, country="FR")
    gate.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert (201, 0, 201) == (log.written, log.failed, len(lines))
    assert "f\udcff" == json.loads(lines[100])["feature"]
