"""
Decision log: one JSON line per decision, written off the caller's thread.

A `DecisionLog` takes each decision a gate makes (with the caller's ``ip``
and the time of the call) into a bounded in-memory queue; a background
thread turns batches of them into JSON lines and hands them to a sink: a file
rotated by size (`FileSink`), a `logging.Logger` (`LoggerSink`), Parquet files
(`geogate.ParquetSink`), or any callable that takes one line. The caller pays
one clock read and one append.

Nothing is lost: `DecisionLog.close` (called by `geogate.Gate.close` and at
interpreter exit) writes everything queued before returning. When the queue
is full the caller waits for the writer (back-pressure, the default), or,
with ``on_full="drop"``, the record is dropped and counted (`dropped`, and a
log line at close). Every decision queued ends up counted once, in
`DecisionLog.written`, `DecisionLog.failed` or `DecisionLog.dropped`.

Stopping: interpreter exit runs `atexit`, and so the log's close, on a
normal exit, an uncaught exception or `sys.exit`, but not when a signal's
default action ends the process. SIGTERM, the stop signal of systemd, Docker
and Kubernetes, is one: a library installs no signal handler, so an
application that logs decisions adds this one line at start-up, which turns
SIGTERM into `SystemExit` (and the queue is then written out)::

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

`DecisionLog.flush` waits until what was queued before the call is written.

Processes: a file has one writer. A `FileSink` locks its file (an advisory
`fcntl.flock` on ``NAME.lock`` beside it, which holds the writer's pid) for
as long as it is open, and a second `FileSink` on the same file, in any
process, is refused with `geogate.exceptions.DecisionLogError`: rotation
renames the file under any other writer. Give each process its own file
(`process_path`). After `os.fork` (gunicorn ``--preload``, `multiprocessing`
with the fork start method) a child's log starts empty, with its own
counters and writer thread (the parent writes what it had queued), and a
`FileSink` in the child writes ``process_path(path, os.getpid())``.

Errors: a `FileSink` never leaves part of a line in its file. When a write
fails (a full disk, a file size limit) after part of a batch, the file is
cut back to its last complete line; the complete lines count as written and
the rest as failed. A failing sink is logged once, when it starts failing,
and again when it writes again (or at close).

Decision logs are personal data: the IP address is truncated to its /24
(IPv4) or /48 (IPv6) network unless configured otherwise, or left out.

A line (version 1 of the fields, published as the JSON Schema
``geogate/data/decision-log.schema.json``; `decision_log_schema` returns it)::

    {
        "v": 1,
        "decision_id": "5f0c...",
        "timestamp": "2026-05-09T12:00:00.123456Z",
        "feature": "llama-3.2-vision",
        "allowed": false,
        "effect": "deny",
        "rule": "eu-multimodal-withheld",
        "reason": "TARGETING_MATCH",
        "error_code": null,
        "revision": "sha256:...",
        "as_of": "2026-05-09",
        "country": "FR",
        "subdivision": null,
        "domicile": null,
        "location": "known",
        "jurisdictions": ["EU", ...],
        "location_source": "explicit",
        "ip": "81.2.69.0/24",
    }
"""

from __future__ import annotations

import atexit
import collections
import datetime as dt
import errno
import ipaddress
import json
import logging
import os
import random
import sys
import threading
import time
import weakref
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from geogate.exceptions import DecisionLogError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from geogate._engine.decision import Decision

__all__ = [
    "SCHEMA_VERSION",
    "DecisionLog",
    "DecisionSink",
    "FileSink",
    "LoggerSink",
    "PartialWriteError",
    "decision_log_schema",
    "process_path",
]

logger = logging.getLogger("geogate")

#: The version of the line's fields (``geogate/data/decision-log.schema.json``), its ``v``.
SCHEMA_VERSION = 1
#: One queued decision: (decision, the caller's ip argument, seconds since the epoch).
_Item = tuple["Decision", object, float]
#: How long the writer sleeps when nothing wakes it (seconds).
_IDLE = 0.05
#: Most records formatted and written in one batch.
_BATCH = 4096
#: os.open flags of a decision log file: appends only, not inherited by exec.
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


def decision_log_schema() -> dict[str, Any]:
    """
    Return the JSON Schema (draft 2020-12) of a decision log line, parsed: a new dict each call.

    The file ships in the package, ``geogate/data/decision-log.schema.json``;
    its version is `SCHEMA_VERSION`, each line's ``v``.
    """
    text = resources.files("geogate").joinpath("data/decision-log.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def process_path(path: Path, pid: int) -> Path:
    """
    Return the file process *pid* writes instead of *path*: its pid before the suffix.

    ``decisions.jsonl`` becomes ``decisions.<pid>.jsonl``; a name without a
    suffix gets it at the end (``decisions`` becomes ``decisions.<pid>``).
    One file per process: a `FileSink` is its file's only writer.

    Args:
        path: The file a log was configured with.
        pid: The process that will write the new file.

    Returns:
        A path in the same folder.
    """
    return path.with_name(f"{path.stem}.{pid}{path.suffix}")


class PartialWriteError(OSError):
    """
    A sink wrote the first `written` lines of a batch, then failed.

    `FileSink.write` raises it; a custom sink may too. `DecisionLog` then
    counts those lines as written and the rest as failed; any other
    exception from a sink counts the whole batch as failed.

    Attributes:
        written: How many lines, from the start of the batch, are written whole.
    """

    def __init__(
        self, code: int | None, message: str, filename: str | None = None, *, written: int
    ) -> None:
        super().__init__(code, message, filename)
        self.written = written


@runtime_checkable
class DecisionSink(Protocol):
    """
    Where a `DecisionLog` writes: batches of JSON lines (without newlines).

    `write` is called from one thread at a time. When it raises, the whole
    batch counts as failed, unless it raises `PartialWriteError`, which says
    how many lines, from the first, were written.

    A sink may also have a ``tick()`` method: a `DecisionLog`'s writer calls
    it about every 50 ms, from the same thread, between batches (`ParquetSink`
    finishes a file that has aged there, when no lines come).
    """

    def write(self, lines: Sequence[str]) -> None:
        """Write *lines*, in order."""

    def close(self) -> None:
        """Flush and release what the sink holds."""


class FileSink:
    """
    Append JSON lines to a file, rotating it by size; the file's only writer.

    When writing a batch would make the file larger than *max_bytes*, it is
    renamed ``NAME.1`` (``NAME.1`` becomes ``NAME.2``, and so on, up to
    *backups* files; the oldest is deleted) and a new file is started. A
    batch is handed to the operating system (`os.write` on an ``O_APPEND``
    descriptor) before `write` returns.

    Rotation is single-process by design: the sink holds an advisory lock
    (`fcntl.flock`) on ``NAME.lock`` beside the file, which holds its pid,
    until `close`, and a second FileSink on the same file, in this process
    or another, raises `geogate.exceptions.DecisionLogError`. The lock file
    stays after close (deleting it would let two writers lock two files of
    one name). In a child made by `os.fork` the sink lets go of the parent's
    file and, at its first write, opens and locks its own,
    ``process_path(path, os.getpid())``, and logs its name.

    A write that fails part-way (a full disk, a file size limit) leaves no
    partial line: the file is cut back to its last complete line and
    `PartialWriteError` says how many lines of the batch are in it.

    Attributes:
        path: The file written to (the process's own file after a fork).
        max_bytes: Size at which the file is rotated (0: never).
        backups: How many rotated files are kept.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, max_bytes: int = 100 * 2**20, backups: int = 5
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        #: The file as configured: forked children derive their own file's name from it.
        self._configured = self.path
        self._fd = self._lock = -1
        self._closed = False
        #: A cut back failed and left part of a line: the next write starts a new line.
        self._torn = False
        self._open(self.path)
        self._pid = os.getpid()
        _file_sinks.add(self)

    def __repr__(self) -> str:
        return f"FileSink({str(self.path)!r}, max_bytes={self.max_bytes}, backups={self.backups})"

    def __del__(self) -> None:
        # Unclosed and unreachable: release the descriptors, and so the lock.
        if not getattr(self, "_closed", True):
            self.close()

    def _open(self, path: Path) -> None:
        lock = _lock(path)
        try:
            fd = os.open(path, _APPEND, 0o666)
            self._size = os.fstat(fd).st_size
        except BaseException:
            os.close(lock)
            raise
        self._fd, self._lock, self.path = fd, lock, path

    def write(self, lines: Sequence[str]) -> None:
        """
        Append *lines*, rotating first if they would not fit.

        Raises:
            PartialWriteError: Writing failed; the file ends with the lines
                it counts, complete, and nothing of the others.
            ValueError: The sink is closed.
        """
        if self._closed:
            msg = f"the FileSink of {str(self.path)!r} is closed; a closed sink takes no lines"
            raise ValueError(msg)
        if self._pid != os.getpid():
            self._take_own_file()
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        if self._torn:  # a line cut short before: end it, so the next ones stand whole
            os.write(self._fd, b"\n")
            self._torn = False
        if self.max_bytes and self._size and self._size + len(data) > self.max_bytes:
            self._rotate()
        view = memoryview(data)
        done = 0
        try:
            while done < len(data):
                count = os.write(self._fd, view[done:])  # short when the disk fills up
                if not count:  # not for a regular file, but never loop on it
                    break
                done += count
        except BaseException as error:
            failure = self._failed(lines, done, error)
            if failure is error:
                raise
            raise failure from error
        if done < len(data):
            no_room = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            raise self._failed(lines, done, no_room)
        self._size += done

    def _failed(self, lines: Sequence[str], done: int, error: BaseException) -> BaseException:
        """Cut a batch that failed after *done* bytes back to whole lines; return what to raise."""
        self._size += done
        complete = self._cut_back(lines, done)
        if not isinstance(error, OSError):
            return error  # KeyboardInterrupt, SystemExit: the file is whole, let it go on
        message = f"{error.strerror or error}; {complete} of {len(lines)} line(s) written"
        return PartialWriteError(error.errno, message, str(self.path), written=complete)

    def _cut_back(self, lines: Sequence[str], done: int) -> int:
        """
        Cut the file back to the end of the last line of the batch written whole.

        Returns:
            How many lines of the batch, from the first, are in the file.
        """
        complete = 0
        kept = 0
        for line in lines:
            size = len(line.encode("utf-8")) + 1
            if kept + size > done:
                break
            kept += size
            complete += 1
        if kept < done:
            try:
                end = os.fstat(self._fd).st_size - (done - kept)
                os.ftruncate(self._fd, end)
            except OSError:
                logger.exception(
                    "geogate: could not cut %s back to its last complete line", self.path
                )
                self._torn = True
            else:
                self._size = end
        return complete

    def _rotate(self) -> None:
        if self.backups > 0:
            for number in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{number}")
                if older.exists():
                    older.replace(self.path.with_name(f"{self.path.name}.{number + 1}"))
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        fd = os.open(self.path, _APPEND, 0o666)
        os.close(self._fd)
        self._fd = fd
        self._size = 0

    def _take_own_file(self) -> None:
        """In a forked child: let go of the parent's file, then open and lock this process's own."""
        self._let_go()
        pid = os.getpid()
        path = process_path(self._configured, pid)
        self._open(path)
        self._pid = pid
        logger.info(
            "geogate: process %d, a forked child, writes its decision log to %s "
            "(one writer per file: %s is its parent's)",
            pid,
            path,
            self._configured,
        )

    def _let_go(self) -> None:
        """
        Close the parent's descriptors in a forked child, without unlocking.

        `fcntl.flock` belongs to the open file description, which the parent
        shares: an unlock here would unlock the parent's file. Closing the
        child's copies leaves the parent's lock as it is.
        """
        for fd in (self._fd, self._lock):
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock = -1
        self._pid = -1

    def close(self) -> None:
        """Close the file and release its lock; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        _file_sinks.discard(self)
        for fd in (self._fd, self._lock):
            if fd >= 0:
                os.close(fd)  # the last descriptor of the lock file: the lock goes with it
        self._fd = self._lock = -1


def _lock(path: Path) -> int:
    """
    Lock ``NAME.lock`` beside *path* for this sink and write this process's pid in it.

    Returns:
        The lock file's descriptor: the lock lasts until it is closed.

    Raises:
        DecisionLogError: Another FileSink, in this process or another, holds it.
    """
    lock_path = path.with_name(f"{path.name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        if sys.platform != "win32":
            import fcntl  # noqa: PLC0415 (POSIX only)

            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise _held(path, lock_path, _holder(fd)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _holder(fd: int) -> int | None:
    """Return the pid written in a lock file, if there is one yet."""
    try:
        return int(os.pread(fd, 32, 0).decode("ascii").strip())
    except (OSError, ValueError):
        return None


def _held(path: Path, lock_path: Path, holder: int | None) -> DecisionLogError:
    if holder is None:
        who = "another process"
    elif holder == os.getpid():
        who = f"another FileSink of this process ({holder})"
    else:
        who = f"process {holder}"
    msg = (
        f"the decision log {str(path)!r} is already written by {who}, which holds "
        f"{str(lock_path)!r}; a file has one writer (rotation renames it under any other). "
        "Give each process its own file, e.g. "
        "FileSink(geogate._gate.decisionlog.process_path(path, os.getpid())), "
        "or close the other FileSink first"
    )
    return DecisionLogError(msg, path, holder)


class LoggerSink:
    """
    Emit each JSON line as one record of a `logging.Logger`.

    Attributes:
        logger: The logger (a name is looked up with `logging.getLogger`).
        level: The level of each record.
    """

    def __init__(self, logger: logging.Logger | str, *, level: int = logging.INFO) -> None:
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.level = level

    def __repr__(self) -> str:
        return f"LoggerSink({self.logger.name!r}, level={logging.getLevelName(self.level)})"

    def write(self, lines: Sequence[str]) -> None:
        """Log each line."""
        for line in lines:
            self.logger.log(self.level, "%s", line)

    def close(self) -> None:
        """Nothing to release: the logger's handlers belong to the application."""


class _CallableSink:
    """Call a function with each JSON line."""

    def __init__(self, function: Callable[[str], object]) -> None:
        self.function = function

    def __repr__(self) -> str:
        return f"<callable sink {self.function!r}>"

    def write(self, lines: Sequence[str]) -> None:
        for line in lines:
            self.function(line)

    def close(self) -> None:
        pass


def _rfc3339(seconds: float) -> str:
    """Return *seconds* since the epoch as ``2026-05-09T12:00:00.123456Z``."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def _new_id() -> str:
    """
    Return a random version-4 UUID, as text.

    From the `random` module (seeded from the OS, and again in a forked
    child): a decision id must be unique, not secret, and `uuid.uuid4`
    (a system call each) would cost the writer more than the rest of a line.
    """
    bits = _random_bits(128)
    text = f"{bits:032x}"
    variant = "89ab"[bits >> 62 & 3]
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{variant}{text[17:20]}-{text[20:]}"


_random_bits = random.getrandbits
#: Bound on the writer's caches (formatted decisions, truncated addresses).
_MAX_CACHE = 8192


class DecisionLog:
    """
    Write every decision of a gate as one JSON line, through a bounded queue.

    Pass it (or just a sink, a path, a `logging.Logger` or a callable taking
    one line) as ``decision_log=`` to `geogate.Gate.from_path`.

    The queue is written out by `close`, which `geogate.Gate.close` and
    interpreter exit call; SIGTERM's default action skips interpreter exit,
    so a service that logs decisions turns SIGTERM into `SystemExit` with
    one line at start-up (geogate installs no signal handler)::

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    In a child made by `os.fork` the log starts empty (what the parent had
    queued is the parent's to write), with counters at 0 and its own writer
    thread, started by the child's first decision; a `FileSink` moves to
    the child's own file (`process_path`), other sinks are kept. A child of
    `multiprocessing` (which ends without interpreter exit) closes the log
    through `multiprocessing.util.Finalize`.

    Args:
        sink: A `DecisionSink`, a path (a `FileSink`), a `logging.Logger`
            (a `LoggerSink`), or a callable that takes one line.
        max_queue: How many decisions may wait for the writer.
        on_full: ``"block"`` (the caller waits for room: nothing is lost) or
            ``"drop"`` (the decision is not logged, and counted in `dropped`).
        ip_prefix: Prefix lengths the IP is truncated to, (IPv4, IPv6);
            ``(32, 128)`` keeps whole addresses; None leaves the ``ip`` key out.
        new_id: Returns a unique ``decision_id`` (for tests; uuid4 by default).

    Attributes:
        sink: The sink written to.
        written: How many lines the sink accepted (in this process).
        failed: How many lines were lost because the sink raised (logged
            when the sink starts failing, and when it writes again or the
            log closes). After `close`, ``written + failed + dropped`` is
            the number of decisions recorded.
    """

    def __init__(
        self,
        sink: DecisionSink | str | os.PathLike[str] | logging.Logger | Callable[[str], object],
        *,
        max_queue: int = 65_536,
        on_full: Literal["block", "drop"] = "block",
        ip_prefix: tuple[int, int] | None = (24, 48),
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        if on_full not in {"block", "drop"}:
            msg = f"on_full must be 'block' or 'drop', not {on_full!r}"
            raise ValueError(msg)
        if max_queue < 1:
            msg = f"max_queue must be at least 1, not {max_queue!r}"
            raise ValueError(msg)
        if ip_prefix is not None and not (0 <= ip_prefix[0] <= 32 and 0 <= ip_prefix[1] <= 128):  # noqa: PLR2004
            msg = f"ip_prefix must be (0..32, 0..128) or None, not {ip_prefix!r}"
            raise ValueError(msg)
        self.sink = _as_sink(sink)
        self.max_queue = max_queue
        #: The room a caller checks before appending: ``max_queue``; 0 once closed,
        #: and in a forked child until its first decision starts the writer (`_full`).
        self._limit = max_queue
        self.on_full = on_full
        self.ip_prefix = ip_prefix
        self._new_id = new_id
        self._fragments: dict[int, tuple[Decision, str]] = {}
        self._addresses: dict[str, str] = {}
        self._second = -1
        self._second_text = ""
        #: The gate's hot path holds this very deque: it is cleared, never replaced.
        self._queue: collections.deque[_Item] = collections.deque()
        self._reset_counters()
        self._new_locks()
        self._closing = False
        self._closed = False
        self._cancel_finalizer: Callable[[], object] | None = None
        self._thread = self._new_thread()
        self._thread.start()
        _logs.add(self)
        atexit.register(self.close)
        self._finalize_in_multiprocessing()

    def _reset_counters(self) -> None:
        self.written = 0
        self.failed = 0
        self._dropped = 0
        #: How many items the writer took from the queue (`flush` waits on it).
        self._taken = 0
        #: The sink is failing: logged once when it starts, again when it stops.
        self._failing = False
        self._lost_while_failing = 0

    def _new_locks(self) -> None:
        self._wake = threading.Event()
        #: Held to take a batch from the queue; callers waiting for room and
        #: `flush` wait on it, and the writer notifies it after each batch.
        self._room = threading.Condition()
        self._close_lock = threading.Lock()

    def _new_thread(self) -> threading.Thread:
        return threading.Thread(target=self._run, name="geogate-decision-log", daemon=True)

    def _finalize_in_multiprocessing(self) -> None:
        """Close at the end of a `multiprocessing` child too (it skips atexit)."""
        util = sys.modules.get("multiprocessing.util")
        if util is not None:
            self._cancel_finalizer = util.Finalize(self, self.close, exitpriority=0).cancel

    def _after_fork(self) -> None:
        """
        In a forked child: fresh locks, an empty queue, counters at 0, no writer yet.

        The locks may have been held by a parent's thread that does not exist
        here; the queued items are the parent's, which writes them. The first
        decision finds ``_limit`` at 0 and starts the writer (`_full`).
        """
        self._new_locks()
        self._queue.clear()
        self._reset_counters()
        self._cancel_finalizer = None  # multiprocessing clears its registry in a child
        if not self._closed:
            self._limit = 0

    def __repr__(self) -> str:
        return f"DecisionLog({self.sink!r}, on_full={self.on_full!r}, ip_prefix={self.ip_prefix!r})"

    @classmethod
    def coerce(cls, value: object) -> DecisionLog:
        """Return *value* if it is a DecisionLog, else a DecisionLog writing to it."""
        if isinstance(value, DecisionLog):
            return value
        return cls(value)  # type: ignore[arg-type]

    @property
    def dropped(self) -> int:
        """
        How many decisions were not logged.

        With ``on_full="drop"``, those that found the queue full; in any
        mode, those made after `close`.
        """
        return self._dropped + (len(self._queue) if self._closed else 0)

    @property
    def pending(self) -> int:
        """How many decisions wait for the writer."""
        return len(self._queue)

    def record(self, decision: Decision, ip: object, when: float | None = None) -> None:
        """
        Queue *decision*, made for *ip* at *when* (seconds since the epoch; now if None).

        A logged gate does the same inline: append while ``len(queue)`` is
        below ``_limit``, else call `_full`.
        """
        item = (decision, ip, time.time() if when is None else when)
        if len(self._queue) < self._limit:
            self._queue.append(item)
        else:
            self._full(item)

    def _full(self, item: _Item) -> None:
        if (
            not self._closing
            and not self._limit
            and self._start_writer()  # a forked child's first decision
            and len(self._queue) < self._limit
        ):
            self._queue.append(item)
            return
        if self._closing or self.on_full == "drop":
            with self._room:
                self._dropped += 1
            return
        self._wait_for_room(item)

    def _start_writer(self) -> bool:
        """Start a writer thread if there is none (in a forked child); False once closed."""
        with self._close_lock:
            if self._closed:
                return False
            if not self._thread.is_alive():
                self._thread = self._new_thread()
                self._thread.start()
                if self._cancel_finalizer is None:
                    self._finalize_in_multiprocessing()
            self._limit = self.max_queue
            return True

    def _wait_for_room(self, item: _Item) -> None:
        """Back-pressure: wait until the writer makes room, then queue *item*."""
        self._wake.set()
        with self._room:
            while len(self._queue) >= self.max_queue and not self._closing:
                if not self._thread.is_alive():
                    self._start_writer()
                self._room.wait(_IDLE)
            if not self._closing:
                self._queue.append(item)
                return
            self._dropped += 1  # the log closed while the caller waited

    def flush(self, timeout: float | None = None) -> bool:
        """
        Wait until every decision queued before the call is through the sink.

        Decisions queued meanwhile are not waited for, so a busy gate does
        not keep it waiting; without a writer (the log closed, or its thread
        gone) it does not wait at all.

        Args:
            timeout: Most seconds to wait (None: as long as the sink takes).

        Returns:
            True when those decisions are written; False on timeout, without
            a writer, or when the sink failed meanwhile (see `failed`).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._room:
            target = self._taken + len(self._queue)
            failed = self.failed
        while self.written + self.failed < target:
            if not self._thread.is_alive():
                break
            wait = _IDLE
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return False
            self._wake.set()
            with self._room:
                if self.written + self.failed < target:
                    self._room.wait(wait)
        return self.written + self.failed >= target and self.failed == failed

    def close(self) -> None:
        """Write everything queued, stop the writer, close the sink; closing twice is harmless."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._closing = True
        self._limit = 0
        self._wake.set()
        if self._thread.ident is not None:
            self._thread.join()
        self._drain()  # anything a caller appended while the writer was stopping
        try:
            self.sink.close()
        except Exception:
            logger.exception("geogate: closing the decision log sink %r failed", self.sink)
        atexit.unregister(self.close)
        if self._cancel_finalizer is not None:
            self._cancel_finalizer()
        _logs.discard(self)
        if self._failing:
            logger.error(
                "geogate: the decision log sink %r still failed at close; "
                "%d decision(s) lost since it started failing",
                self.sink,
                self._lost_while_failing,
            )
        if self._dropped:
            logger.warning(
                "geogate: the decision log dropped %d decision(s): its queue of %d was full",
                self._dropped,
                self.max_queue,
            )

    def _run(self) -> None:
        tick = getattr(self.sink, "tick", None)
        while True:
            self._wake.wait(_IDLE)
            self._wake.clear()
            self._drain()
            if self._closing:
                self._drain()
                return
            if tick is not None:
                try:
                    tick()
                except Exception:
                    logger.exception("geogate: the decision log sink %r failed to tick", self.sink)
                    tick = None  # once: a sink that fails there would fill the log

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            batch: list[_Item] = []
            with self._room:
                try:
                    while len(batch) < _BATCH:
                        batch.append(queue.popleft())
                except IndexError:
                    pass
                self._taken += len(batch)
            self._write(batch)
            with self._room:
                self._room.notify_all()

    def _write(self, batch: Sequence[_Item]) -> None:
        try:
            lines = [self._line(decision, ip, when) for decision, ip, when in batch]
            self.sink.write(lines)
        except Exception as error:
            written = 0
            if isinstance(error, PartialWriteError):
                written = max(0, min(error.written, len(batch)))
            self.written += written
            self.failed += len(batch) - written
            self._lost_while_failing += len(batch) - written
            if not self._failing:
                self._failing = True
                logger.exception(
                    "geogate: the decision log sink %r failed; %d decision(s) lost "
                    "(further losses are counted in `failed` and reported when it writes again)",
                    self.sink,
                    len(batch) - written,
                )
        else:
            self.written += len(lines)
            if self._failing:
                self._failing = False
                logger.warning(
                    "geogate: the decision log sink %r writes again; "
                    "%d decision(s) were lost while it failed",
                    self.sink,
                    self._lost_while_failing,
                )
                self._lost_while_failing = 0

    def line(self, decision: Decision, ip: object, when: float) -> str:
        """Return the JSON line for *decision*, made for *ip* at *when* (seconds)."""
        return self._line(decision, ip, when)

    def _line(self, decision: Decision, ip: object, when: float) -> str:
        # The writer formats each distinct decision object once (a gate hands
        # out the same memoised object again and again), each address once,
        # and each second once; a line is then a few string joins.
        key = id(decision)
        cached = self._fragments.get(key)
        if cached is None or cached[0] is not decision:
            if len(self._fragments) >= _MAX_CACHE:
                self._fragments.clear()
            cached = self._fragments[key] = (decision, _fragment(decision))
        second = int(when)
        if second != self._second:
            self._second = second
            self._second_text = _rfc3339(second)[:19]
        micro = int((when - second) * 1_000_000)
        address = "" if self.ip_prefix is None else self._address(ip, self.ip_prefix)
        return (
            f'{{"v":{SCHEMA_VERSION},"decision_id":"{self._new_id()}",'
            f'"timestamp":"{self._second_text}.{micro:06d}Z",'
            f"{cached[1]}{address}}}"
        )

    def _address(self, ip: object, prefix: tuple[int, int]) -> str:
        """Return ``,"ip":"a.b.c.0/24"`` for *ip*, remembering it for strings."""
        if type(ip) is not str:
            return ',"ip":' + json.dumps(truncate_ip(ip, prefix))
        address = self._addresses.get(ip)
        if address is None:
            if len(self._addresses) >= _MAX_CACHE:
                self._addresses.clear()
            address = self._addresses[ip] = ',"ip":' + json.dumps(truncate_ip(ip, prefix))
        return address


def _fragment(decision: Decision) -> str:
    """Return the fields of *decision* as JSON members, without braces."""
    record = {
        "feature": decision.feature,
        "allowed": decision.allowed,
        "effect": decision.effect.value,
        "rule": decision.rule,
        "reason": decision.reason.value,
        "error_code": None if decision.error_code is None else decision.error_code.value,
        "revision": decision.revision,
        "as_of": decision.as_of.isoformat(),
        "country": decision.country,
        "subdivision": decision.subdivision,
        "domicile": decision.domicile,
        "location": decision.location.value,
        "jurisdictions": list(decision.jurisdictions),
        "location_source": decision.location_source,
    }
    # ASCII: a feature id asked for may hold anything, even a lone surrogate,
    # which no UTF-8 file can take (and one bad line must not sink a batch).
    return json.dumps(record, separators=(",", ":"))[1:-1]


def truncate_ip(ip: object, prefix: tuple[int, int]) -> str | None:
    """
    Return the network of *ip* at *prefix* (IPv4, IPv6 lengths) as ``a.b.c.0/24``.

    None for no IP or one that is not an address (a malformed value may hold
    anything, so it is not logged).
    """
    if ip is None:
        return None
    try:
        address = ipaddress.ip_address(ip if isinstance(ip, str) else str(ip))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    length = prefix[0] if address.version == 4 else prefix[1]  # noqa: PLR2004
    return str(ipaddress.ip_network(f"{address}/{length}", strict=False))


#: Live logs and file sinks, put right in a forked child (`_after_fork_in_child`).
_logs: weakref.WeakSet[DecisionLog] = weakref.WeakSet()
_file_sinks: weakref.WeakSet[FileSink] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """
    Put every live decision log and file sink right in a child made by `os.fork`.

    Cheap and without I/O (the child may be about to `exec`): file sinks
    close their copies of the parent's descriptors, logs take fresh locks
    and an empty queue; a child's own file and writer thread come with its
    first decision.
    """
    for sink in list(_file_sinks):
        sink._let_go()  # noqa: SLF001
    for log in list(_logs):
        log._after_fork()  # noqa: SLF001


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _as_sink(value: object) -> DecisionSink:
    if isinstance(value, logging.Logger):
        return LoggerSink(value)
    if isinstance(value, str | os.PathLike):
        return FileSink(value)
    if isinstance(value, DecisionSink):
        return value
    if callable(value):
        return _CallableSink(value)
    msg = (
        f"a decision log sink must be a path, a logging.Logger, a callable taking one "
        f"line, or an object with write(lines) and close(), not {type(value).__name__}"
    )
    raise TypeError(msg)
