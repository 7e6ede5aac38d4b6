"""
Decision log: one JSON line per decision, written off the caller's thread.

A `DecisionLog` takes each decision a gate makes (with the caller's ``ip``
and the time of the call) into a bounded in-memory queue; a background
thread turns batches of them into JSON lines and hands them to a sink: a file
rotated by size (`FileSink`), a `logging.Logger` (`LoggerSink`), or any
callable that takes one line. The caller pays one clock read and one append.

Nothing is lost: `DecisionLog.close` (called by `geogate.Gate.close` and at
interpreter exit) writes everything queued before returning. When the queue
is full the caller waits for the writer (back-pressure, the default), or,
with ``on_full="drop"``, the record is dropped and counted (`dropped`, and a
log line at close).

Decision logs are personal data: the IP address is truncated to its /24
(IPv4) or /48 (IPv6) network unless configured otherwise, or left out.

A line::

    {
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
        "jurisdictions": ["EU", ...],
        "location_source": "explicit",
        "ip": "81.2.69.0/24",
    }
"""

from __future__ import annotations

import atexit
import collections
import datetime as dt
import ipaddress
import json
import logging
import os
import random
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ._decision import Decision

__all__ = ["DecisionLog", "DecisionSink", "FileSink", "LoggerSink"]

logger = logging.getLogger("geogate")

#: One queued decision: (decision, the caller's ip argument, seconds since the epoch).
_Item = tuple["Decision", object, float]
#: How long the writer sleeps when nothing wakes it (seconds).
_IDLE = 0.05
#: Most records formatted and written in one batch.
_BATCH = 4096


@runtime_checkable
class DecisionSink(Protocol):
    """Where a `DecisionLog` writes: batches of JSON lines (without newlines)."""

    def write(self, lines: Sequence[str]) -> None:
        """Write *lines*, in order."""

    def close(self) -> None:
        """Flush and release what the sink holds."""


class FileSink:
    """
    Append JSON lines to a file, rotating it by size.

    When writing a batch would make the file larger than *max_bytes*, it is
    renamed ``NAME.1`` (``NAME.1`` becomes ``NAME.2``, and so on, up to
    *backups* files; the oldest is deleted) and a new file is started. A
    batch is flushed to the operating system once written.

    Attributes:
        path: The file written to.
        max_bytes: Size at which the file is rotated (0: never).
        backups: How many rotated files are kept.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, max_bytes: int = 100 * 2**20, backups: int = 5
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._file = self.path.open("a", encoding="utf-8")
        self._size = self._file.tell()

    def __repr__(self) -> str:
        return f"FileSink({str(self.path)!r}, max_bytes={self.max_bytes}, backups={self.backups})"

    def write(self, lines: Sequence[str]) -> None:
        """Append *lines*, rotating first if they would not fit."""
        text = "".join(line + "\n" for line in lines)
        size = len(text.encode("utf-8"))
        if self.max_bytes and self._size and self._size + size > self.max_bytes:
            self._rotate()
        self._file.write(text)
        self._file.flush()
        self._size += size

    def _rotate(self) -> None:
        self._file.close()
        if self.backups > 0:
            for number in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{number}")
                if older.exists():
                    older.replace(self.path.with_name(f"{self.path.name}.{number + 1}"))
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        self._size = 0

    def close(self) -> None:
        """Close the file."""
        self._file.close()


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
        written: How many lines the sink accepted.
        failed: How many lines were lost because the sink raised (each such
            failure is logged).
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
        #: The room a caller checks before appending: ``max_queue``, 0 once closed.
        self._limit = max_queue
        self.on_full = on_full
        self.ip_prefix = ip_prefix
        self._new_id = new_id
        self.written = 0
        self.failed = 0
        self._fragments: dict[int, tuple[Decision, str]] = {}
        self._addresses: dict[str, str] = {}
        self._second = -1
        self._second_text = ""
        self._dropped = 0
        self._queue: collections.deque[_Item] = collections.deque()
        self._wake = threading.Event()
        #: Held by callers waiting for room, notified by the writer after each batch.
        self._room = threading.Condition()
        self._closing = False
        self._closed = False
        self._close_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="geogate-decision-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)

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
        if self._closing or self.on_full == "drop":
            with self._room:
                self._dropped += 1
            return
        self._wait_for_room(item)

    def _wait_for_room(self, item: _Item) -> None:
        """Back-pressure: wait until the writer makes room, then queue *item*."""
        self._wake.set()
        with self._room:
            while len(self._queue) >= self.max_queue and not self._closing:
                self._room.wait(_IDLE)
            if not self._closing:
                self._queue.append(item)
                return
            self._dropped += 1  # the log closed while the caller waited

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is written; return False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._queue and self._thread.is_alive():
            self._wake.set()
            with self._room:
                self._room.wait(_IDLE)
            if deadline is not None and time.monotonic() >= deadline:
                return not self._queue
        return not self._queue

    def close(self) -> None:
        """Write everything queued, stop the writer, close the sink; closing twice is harmless."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._closing = True
        self._limit = 0
        self._wake.set()
        self._thread.join()
        self._drain()  # anything a caller appended while the writer was stopping
        try:
            self.sink.close()
        except Exception:
            logger.exception("geogate: closing the decision log sink %r failed", self.sink)
        atexit.unregister(self.close)
        if self._dropped:
            logger.warning(
                "geogate: the decision log dropped %d decision(s): its queue of %d was full",
                self._dropped,
                self.max_queue,
            )

    def _run(self) -> None:
        while True:
            self._wake.wait(_IDLE)
            self._wake.clear()
            self._drain()
            if self._closing:
                self._drain()
                return

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            batch: list[_Item] = []
            with_room = len(queue) >= self.max_queue
            try:
                while len(batch) < _BATCH:
                    batch.append(queue.popleft())
            except IndexError:
                pass
            self._write(batch)
            if with_room or self.on_full == "block":
                with self._room:
                    self._room.notify_all()

    def _write(self, batch: Sequence[_Item]) -> None:
        try:
            lines = [self._line(decision, ip, when) for decision, ip, when in batch]
            self.sink.write(lines)
        except Exception:
            self.failed += len(batch)
            logger.exception(
                "geogate: the decision log sink %r failed; %d decision(s) lost",
                self.sink,
                len(batch),
            )
        else:
            self.written += len(lines)

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
            f'{{"decision_id":"{self._new_id()}","timestamp":"{self._second_text}.{micro:06d}Z",'
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
        "jurisdictions": list(decision.jurisdictions),
        "location_source": decision.location_source,
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))[1:-1]


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
