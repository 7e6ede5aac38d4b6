"""
`ParquetSink`: the decision log written as Parquet files, rotated by rows or time.

A Parquet file is written whole, so lines wait in a *spill*, a hidden JSON
Lines file beside the Parquet files, appended (and locked) by a `FileSink`;
at rotation DuckDB converts the spill to a hidden temporary file, which is
renamed into place: a reader sees a whole Parquet file or none. DuckDB is
imported only then, and only by a sink that was made (the ``logs`` extra).
"""

from __future__ import annotations

import glob
import itertools
import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from geogate.exceptions import DecisionLogError

from .decisionlog import FileSink, PartialWriteError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import ModuleType

__all__ = ["ParquetSink"]

logger = logging.getLogger("geogate")

#: The Parquet columns: the decision log schema's fields, typed as `geogate logs` reads them.
COLUMNS = {
    "v": "INTEGER",
    "decision_id": "VARCHAR",
    "timestamp": "TIMESTAMPTZ",
    "feature": "VARCHAR",
    "allowed": "BOOLEAN",
    "effect": "VARCHAR",
    "rule": "VARCHAR",
    "reason": "VARCHAR",
    "error_code": "VARCHAR",
    "revision": "VARCHAR",
    "as_of": "DATE",
    "country": "VARCHAR",
    "subdivision": "VARCHAR",
    "domicile": "VARCHAR",
    "location": "VARCHAR",
    "jurisdictions": "VARCHAR[]",
    "location_source": "VARCHAR",
    "ip": "VARCHAR",
}
_SPILL_SUFFIX = ".jsonl.part"
#: The clock of file names and ages (a test replaces it).
_now = time.time
#: Numbers the files of this process, across its sinks (`next` is atomic).
_sequence = itertools.count(1)


def _renumber() -> None:
    """In a forked child: number its files from 1 (its pid is in their names)."""
    global _sequence  # noqa: PLW0603 (the process's counter)
    _sequence = itertools.count(1)


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_renumber)


class ParquetSink:
    """
    Write decision log lines as Parquet files in *directory*, one file per rotation.

    Files are named ``PREFIX-20260509T120000Z-PID-SEQ.parquet`` (the UTC
    second the file's first line came, the writing process, a counter), so
    they sort by time; `geogate logs summary` and `geogate logs verify`
    read the folder. Their columns are the decision log schema's fields
    (`geogate.decision_log_schema`), typed: ``allowed`` BOOLEAN, ``as_of``
    DATE, ``timestamp`` TIMESTAMP WITH TIME ZONE (UTC), ``jurisdictions``
    VARCHAR[], ``v`` INTEGER, the rest VARCHAR. Needs DuckDB:
    ``pip install 'geogate[logs]'``.

    Lines wait in a hidden spill, ``.NAME.jsonl.part`` beside the file they
    will become (on disk, not in memory; a `FileSink` appends it, so a failed
    write leaves whole lines and raises `PartialWriteError`). A file is
    finished when it holds *max_rows* lines or its first line is
    *max_seconds* old, whichever comes first, and at `close`: DuckDB writes
    it to a hidden temporary file, which is synced and renamed to its name,
    so a reader never sees part of a Parquet file. The age is checked at
    each `write`, at `close`, and, under a `geogate.DecisionLog`, about
    every 50 ms by its writer thread (`tick`), so a quiet log's last lines
    are not held back longer than *max_seconds*. Conversion runs on the
    decision log's writer thread: callers wait for it only if the log's
    queue fills meanwhile.

    Crashes: a process that dies leaves its spill. A new ParquetSink with the
    same *directory* and *prefix* converts every spill no live sink holds
    (each is locked by its writer) when it starts, under the spill's own
    name, so converting one twice writes the same file. A torn last line
    becomes a row of nulls, which `geogate logs` counts as damaged.

    Failures: a spill that cannot be converted (a full disk, a DuckDB error)
    is logged as an error and kept, whole: it is tried again at the next
    rotation and at `close`, and failing that by the next ParquetSink to
    start on the folder; its lines are not lost, so the decision log counts
    them written. Lines that cannot be appended to the spill are lost, and
    counted ``failed`` by the log, as with `FileSink`.

    Processes: each process writes its own files (the pid is in the names).
    In a child made by `os.fork` the sink drops the parent's spill (the
    parent converts it) and starts its own at its first line; the child
    never converts its parent's spill. Fork while a conversion runs on
    another thread is unsafe, as for any DuckDB use.

    Args:
        directory: Where the Parquet files go (created if missing).
        prefix: The start of each file's name.
        max_rows: Most lines in one file.
        max_seconds: Most seconds between a file's first line and its conversion.

    Attributes:
        directory: Where the Parquet files go.
        prefix: The start of each file's name.
        max_rows: Most lines in one file.
        max_seconds: Most seconds a line waits in the spill (0: no time limit).
        files: The Parquet files this sink wrote, recovered spills included, oldest first.
        unconverted: Spills kept after a failed conversion, still to convert.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        prefix: str = "decisions",
        max_rows: int = 1_000_000,
        max_seconds: float = 3600,
    ) -> None:
        _duckdb()  # fail now, with the install hint, not at the first rotation
        if max_rows < 1:
            msg = f"max_rows must be at least 1, not {max_rows!r}"
            raise ValueError(msg)
        if max_seconds < 0:
            msg = f"max_seconds must be 0 (no limit) or more, not {max_seconds!r}"
            raise ValueError(msg)
        if not prefix or "/" in prefix or prefix.startswith("."):
            msg = f"prefix must be a plain file name start, not {prefix!r}"
            raise ValueError(msg)
        self.directory = Path(directory)
        self.prefix = prefix
        self.max_rows = max_rows
        self.max_seconds = max_seconds
        self.files: list[Path] = []
        self.unconverted: list[Path] = []
        self.directory.mkdir(parents=True, exist_ok=True)
        self._pid = os.getpid()
        self._spill: FileSink | None = None
        self._rows = 0
        self._started = 0.0
        self._closed = False
        for spill in sorted(self.directory.glob(f".{glob.escape(prefix)}-*{_SPILL_SUFFIX}")):
            self._recover(spill)

    def __repr__(self) -> str:
        return (
            f"ParquetSink({str(self.directory)!r}, prefix={self.prefix!r}, "
            f"max_rows={self.max_rows}, max_seconds={self.max_seconds})"
        )

    def write(self, lines: Sequence[str]) -> None:
        """
        Append *lines* to the spill, finishing files as they fill up or age.

        Raises:
            PartialWriteError: Appending failed; the first ``written`` lines are kept.
            ValueError: The sink is closed.
        """
        if self._closed:
            msg = f"the ParquetSink of {str(self.directory)!r} is closed; it takes no lines"
            raise ValueError(msg)
        self._mind_fork()
        self.tick()
        done = 0
        while done < len(lines):
            try:
                spill = self._spill or self._start()
                room = self.max_rows - self._rows
                chunk = [_readable(line) for line in lines[done : done + room]]
                spill.write(chunk)
            except PartialWriteError as error:
                self._rows += error.written
                error.written += done
                raise
            except OSError as error:  # the spill could not be made (a full disk, no permission)
                raise PartialWriteError(error.errno, str(error), written=done) from error
            self._rows += len(chunk)
            done += len(chunk)
            if self._rows >= self.max_rows:
                self._finish()

    def tick(self) -> None:
        """Finish the current file if its first line is *max_seconds* old (a log calls it)."""
        if self._closed or self._spill is None:
            return
        if self._pid != os.getpid():
            self._mind_fork()
        elif self.max_seconds and _now() - self._started >= self.max_seconds:
            self._finish()

    def close(self) -> None:
        """Convert the spill, and spills kept after failures; closing twice is harmless."""
        if self._closed:
            return
        self._mind_fork()
        self._closed = True
        if self._spill is not None:
            self._finish()
        self._retry()

    def _mind_fork(self) -> None:
        """In a forked child: forget the parent's spill and failures; the next line starts anew."""
        pid = os.getpid()
        if pid == self._pid:
            return
        if self._spill is not None:
            self._spill.close()  # its descriptors are already let go: the parent's lock stays
        self._spill = None
        self._rows = 0
        self.files = []
        self.unconverted = []
        self._pid = pid

    def _start(self) -> FileSink:
        """Start a spill, named for now, this process and the next number."""
        now = _now()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        name = f"{self.prefix}-{stamp}-{self._pid}-{next(_sequence):06d}"
        self._spill = FileSink(self.directory / f".{name}{_SPILL_SUFFIX}", max_bytes=0)
        self._started = now
        self._rows = 0
        return self._spill

    def _finish(self) -> None:
        """Convert the current spill; on failure keep it for later (and log why)."""
        spill, rows = self._spill, self._rows
        assert spill is not None  # noqa: S101 (callers check)
        self._spill = None
        self._rows = 0
        if not rows:  # every append failed: nothing to convert
            _remove(spill)
            return
        if not self._convert(spill, rows):
            spill.close()  # unlocked: the next sink on the folder may recover it
            self.unconverted.append(spill.path)
            return
        self._retry()

    def _retry(self) -> None:
        """Try the spills kept after failed conversions again, oldest first."""
        kept, self.unconverted = self.unconverted, []
        for path in kept:
            self._recover(path)

    def _recover(self, path: Path) -> None:
        """Convert a spill no live sink holds (a crash's, or one kept after a failure)."""
        try:
            spill = FileSink(path, max_bytes=0)
        except DecisionLogError:
            return  # a live sink's, in this process or another
        except OSError:
            logger.exception("geogate: cannot open the decision log spill %s", path)
            return
        if not path.stat().st_size:  # converted meanwhile, or nothing was written
            _remove(spill)
            return
        logger.warning(
            "geogate: converting the decision log spill %s (left by a stopped writer, "
            "or kept after a failed conversion)",
            path,
        )
        if not self._convert(spill, None):
            spill.close()
            self.unconverted.append(path)

    def _convert(self, spill: FileSink, rows: int | None) -> bool:
        """
        Write *spill* as its Parquet file (temporary, synced, renamed), then remove it.

        Returns:
            False when it failed (logged); the spill is then as it was.
        """
        name = spill.path.name.removeprefix(".").removesuffix(_SPILL_SUFFIX) + ".parquet"
        target = spill.path.with_name(name)
        temporary = spill.path.with_name(f".{name}.tmp")
        try:
            _to_parquet(spill.path, temporary)
            _sync(temporary)
            temporary.replace(target)
            _sync(target.parent)
        except Exception:
            temporary.unlink(missing_ok=True)
            count = "its" if rows is None else f"its {rows}"
            logger.exception(
                "geogate: cannot convert the decision log spill %s to Parquet; %s line(s) "
                "are kept in it, and converted at the next rotation, at close, or by the "
                "next ParquetSink on %s",
                spill.path,
                count,
                spill.path.parent,
            )
            return False
        self.files.append(target)
        _remove(spill)
        return True


def _to_parquet(source: Path, target: Path) -> None:
    duckdb = _duckdb()
    columns = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in COLUMNS.items()) + "}"
    with duckdb.connect(":memory:") as connection:
        connection.execute("SET TimeZone = 'UTC'")
        query = (
            f"COPY (SELECT * FROM read_json(?, columns = {columns},"  # noqa: S608 (constants)
            " format = 'newline_delimited', ignore_errors = true, maximum_object_size = 1048576))"
            f" TO '{_quoted(target)}' (FORMAT parquet, COMPRESSION zstd)"
        )
        connection.execute(query, [str(source)])


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(spill: FileSink) -> None:
    """Delete a spill and its lock file, then let go of the lock."""
    spill.path.unlink(missing_ok=True)
    spill.path.with_name(spill.path.name + ".lock").unlink(missing_ok=True)
    spill.close()


def _readable(line: str) -> str:
    r"""
    Return *line* with lone surrogates (``\\ud800``) replaced by U+FFFD.

    DuckDB refuses a string holding one, and would turn the line into a row
    of nulls; a feature id asked for may hold one.
    """
    if "\\ud" not in line:
        return line
    record = json.loads(line)
    for key, value in record.items():
        if isinstance(value, str):
            record[key] = _whole(value)
        elif isinstance(value, list):
            record[key] = [_whole(item) if isinstance(item, str) else item for item in value]
    return json.dumps(record, separators=(",", ":"))


def _whole(text: str) -> str:
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _duckdb() -> ModuleType:
    try:
        import duckdb  # noqa: PLC0415 (the logs extra)
    except ImportError as exc:
        msg = (
            "ParquetSink needs DuckDB; install the extra: pip install 'geogate[logs]' "
            "(from a checkout: pip install -e '.[logs]')"
        )
        raise ImportError(msg) from exc
    return duckdb
