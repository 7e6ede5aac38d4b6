"""
The decision log across processes, with real ones: SIGTERM, fork, two writers, a full disk.

Each child is a real process (a `subprocess` running Python, `os.fork`, or
`multiprocessing` with the fork start method), every wait has a timeout, and
a child that does not exit in time is killed and fails the test.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
import traceback
import warnings
from typing import TYPE_CHECKING

import pytest

from geogate import DecisionLog, FileSink, Gate
from geogate._gate.decisionlog import process_path
from helpers.paths import POLICIES

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = pytest.mark.slow  # real processes: subprocesses, fork, signals

FEATURE = "llama-3.2-vision"
#: Most seconds any child may take.
TIMEOUT = 30


def python(
    script: str, *args: object, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run *script* in a new Python process; fail the test if it does not end in time."""
    return subprocess.run(  # noqa: S603 (this interpreter, a script of this file)
        [sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def lines_of(path: Path) -> list[dict[str, object]]:
    """Return the JSON lines of *path*, failing on any line that is not whole."""
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") or not text, f"{path} ends with part of a line: {text[-80:]!r}"
    return [json.loads(line) for line in text.splitlines()]


def wait_for_exit(pid: int, timeout: float = TIMEOUT) -> int:
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


def fork(child: Callable[[], dict[str, object]], result: Path) -> int:
    """
    Fork; the child runs *child*, writes what it returns to *result* as JSON, and exits.

    The child never returns into pytest: it ends with `os._exit` whatever happens.
    """
    with warnings.catch_warnings():  # Python 3.12+ warns about forking with threads
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        result.write_text(json.dumps(child()), encoding="utf-8")
        code = 0
    except BaseException:  # noqa: BLE001 (reported through the file, then os._exit)
        result.write_text(json.dumps({"error": traceback.format_exc()}), encoding="utf-8")
    finally:
        os._exit(code)


class Messages(logging.Handler):
    """Keep the messages of the records it handles."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


SIGTERM_CHILD = """
    import atexit, signal, sys
    # Blocked before the writer thread starts (it inherits the mask), and
    # unblocked only between whole decisions, so the count below is exact.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    from pathlib import Path
    from geogate import DecisionLog, FileSink, Gate

    policies, log_path, count_path, ready_path = map(Path, sys.argv[1:])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the one line
    gate = Gate.from_path(policies, decision_log=DecisionLog(FileSink(log_path)))
    made = 0
    # Registered after the log's close, so it runs before it (atexit is LIFO).
    atexit.register(lambda: count_path.write_text(str(made)))
    countries = ("FR", "GB", "US", "DE", "JP", "BR", "IN", "CN") * 125
    while True:
        for country in countries:
            gate.evaluate("llama-3.2-vision", country=country, ip="81.2.69.160")
        made += len(countries)
        if made == 70_000:
            ready_path.touch()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # SystemExit here
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
"""


def test_sigterm_with_the_one_line_writes_every_decision(tmp_path):
    """
    SIGTERM to a process deciding flat out, with the documented one line: every decision is logged.

    The child's queue is full when the signal comes (it decides faster than
    the writer writes); SystemExit runs atexit, which closes the log.
    """
    log_path, count_path, ready_path = (tmp_path / n for n in ("d.jsonl", "count", "ready"))
    child = subprocess.Popen(  # noqa: S603 (this interpreter, a script of this file)
        [
            sys.executable,
            "-c",
            textwrap.dedent(SIGTERM_CHILD),
            *map(str, (POLICIES, log_path, count_path, ready_path)),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not ready_path.exists() and child.poll() is None:
            assert time.monotonic() < deadline, "the child made no 70,000 decisions in time"
            time.sleep(0.01)
        child.send_signal(signal.SIGTERM)
        _, errors = child.communicate(timeout=TIMEOUT)
    finally:
        child.kill()
        child.wait(TIMEOUT)
    assert (0, "") == (child.returncode, errors)
    made = int(count_path.read_text(encoding="utf-8"))
    assert made >= 70_000
    records = lines_of(log_path)
    assert made == len(records)
    assert made == len({r["decision_id"] for r in records})


def test_a_forked_child_logs_to_its_own_file_and_never_hangs(tmp_path):
    """
    os.fork with decisions queued and the log's lock held: the child starts clean, in its own file.

    The child makes more decisions than its queue holds (back-pressure needs
    a writer thread, which fork does not copy), gets fresh locks, an empty
    queue and counters at 0, and writes ``d.<pid>.jsonl``; the parent writes
    what it queued before the fork, once.
    """
    path = tmp_path / "d.jsonl"
    log = DecisionLog(FileSink(path), max_queue=16)
    gate = Gate.from_path(POLICIES, decision_log=log)

    def child() -> dict[str, object]:
        handler = Messages()
        logging.getLogger("geogate").addHandler(handler)
        logging.getLogger("geogate").setLevel(logging.INFO)
        at_fork = [log.written, log.failed, log.dropped, log.pending]
        for _ in range(100):
            gate.evaluate(FEATURE, country="GB")
        assert log.flush(timeout=10)
        gate.close()
        after = [log.written, log.failed, log.dropped]
        return {"at_fork": at_fork, "after": after, "messages": handler.messages}

    with log._room:  # the writer cannot take a batch: all 10 are queued at the fork
        for _ in range(10):
            gate.evaluate(FEATURE, country="FR")
        assert 10 == log.pending
        pid = fork(child, tmp_path / "result.json")
    assert 0 == wait_for_exit(pid)
    gate.close()
    result = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert {
        "at_fork": [0, 0, 0, 0],
        "after": [100, 0, 0],
        "messages": [
            (
                f"geogate: process {pid}, a forked child, writes its decision log to "
                f"{tmp_path / f'd.{pid}.jsonl'} (one writer per file: {path} is its parent's)"
            )
        ],
    } == result
    assert ["GB"] * 100 == [r["country"] for r in lines_of(tmp_path / f"d.{pid}.jsonl")]
    assert ["FR"] * 10 == [r["country"] for r in lines_of(path)]
    assert (10, 0, 0) == (log.written, log.failed, log.dropped)


def decide(gate: Gate, count: int) -> None:
    """A multiprocessing target: *count* decisions, and no close (the child's exit closes)."""
    for _ in range(count):
        gate.evaluate(FEATURE, country="GB")


def test_a_multiprocessing_fork_child_logs_everything_without_closing(tmp_path):
    """
    multiprocessing, fork start method: the child ends with os._exit, yet its decisions are written.

    No explicit close: multiprocessing runs its finalizers, not atexit, in a child.
    """
    path = tmp_path / "d.jsonl"
    log = DecisionLog(path, max_queue=16)
    gate = Gate.from_path(POLICIES, decision_log=log)
    for _ in range(5):
        gate.evaluate(FEATURE, country="FR")
    with warnings.catch_warnings():  # Python 3.12+ warns about forking with threads
        warnings.simplefilter("ignore", DeprecationWarning)
        process = multiprocessing.get_context("fork").Process(target=decide, args=(gate, 100))
        process.start()
    process.join(TIMEOUT)
    if process.is_alive():
        process.kill()
        process.join(TIMEOUT)
        pytest.fail(f"the multiprocessing child did not exit within {TIMEOUT} s: it hung")
    gate.close()
    assert 0 == process.exitcode
    assert process.pid is not None
    assert 100 == len(lines_of(process_path(path, process.pid)))
    assert 5 == len(lines_of(path))


LOCKING_CHILD = """
    import sys
    from geogate import FileSink
    from geogate.exceptions import DecisionLogError

    try:
        sink = FileSink(sys.argv[1], max_bytes=1000)
    except DecisionLogError as error:
        print(error.holder)
        print(error.path)
        print(error)
    else:
        for number in range(20):
            sink.write([f'{{"child":{number},"pad":"{"x" * 80}"}}'])
        sink.close()
        print("wrote")
"""


def test_a_second_process_cannot_write_a_held_file(tmp_path):
    """
    While a FileSink holds a file, a FileSink in another process is refused, naming the holder.

    Two writers of one file lose lines: each rotates the file under the
    other. Once the first closes, the other process may take the file.
    """
    path = tmp_path / "d.jsonl"
    sink = FileSink(path, max_bytes=1000)
    sink.write(['{"parent":0}'])
    refused = python(LOCKING_CHILD, path)
    assert ("", 0) == (refused.stderr, refused.returncode)
    assert [
        str(os.getpid()),
        str(path),
        (
            f"the decision log {str(path)!r} is already written by process {os.getpid()}, which "
            f"holds {str(tmp_path / 'd.jsonl.lock')!r}; a file has one writer (rotation renames it "
            "under any other). Give each process its own file, e.g. "
            "FileSink(geogate._gate.decisionlog.process_path(path, os.getpid())), "
            "or close the other FileSink first"
        ),
    ] == refused.stdout.splitlines()
    sink.write(['{"parent":1}'])
    sink.close()
    taken = python(LOCKING_CHILD, path)
    assert ("wrote\n", "", 0) == (taken.stdout, taken.stderr, taken.returncode)
    rotated = sorted(tmp_path.glob("d.jsonl.[0-9]"), key=lambda p: -int(p.suffix[1:]))
    records = [record for file in (*rotated, path) for record in lines_of(file)]
    assert [0, 1, *range(20)] == [r.get("parent", r.get("child")) for r in records]


FULL_DISK_CHILD = """
    import json, resource, signal, sys
    from geogate import DecisionLog, FileSink, Gate

    policies, path, limit, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit: a short write, then EFBIG
    gate = Gate.from_path(policies)
    decisions = [gate.evaluate("llama-3.2-vision", country=c) for c in ("FR", "GB", "US", "JP")]
    log = DecisionLog(FileSink(path, max_bytes=0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    for number in range(count):
        log.record(decisions[number % len(decisions)], "81.2.69.160")
        if number % 97 == 0:
            log.flush(timeout=10)  # many batches: many partial writes
    log.close()
    print(json.dumps({"written": log.written, "failed": log.failed, "dropped": log.dropped}))
"""


def test_a_full_disk_leaves_only_whole_lines_and_exact_counts(tmp_path):
    """
    A file size limit (RLIMIT_FSIZE) cuts writes short: only whole lines stay, each one `written`.

    The kernel writes up to the limit (part of a line), then refuses with
    EFBIG; the sink cuts the file back to its last complete line. Every
    decision is counted once, written or failed, and the failure is logged
    once, not once a batch.
    """
    path = tmp_path / "d.jsonl"
    limit, count = 100_003, 2_000  # about 320 lines of about 380 bytes fit
    child = python(FULL_DISK_CHILD, POLICIES, path, limit, count)
    assert 0 == child.returncode, child.stderr
    counters = json.loads(child.stdout)
    records = lines_of(path)
    assert path.stat().st_size <= limit
    assert len(records) == counters["written"]
    assert count == counters["written"] + counters["failed"] + counters["dropped"]
    assert 0 == counters["dropped"]
    assert 200 < counters["written"] < 400
    assert 1 == child.stderr.count(" failed; ")
    assert 1 == child.stderr.count("still failed at close")
