"""
Decision logs with known answers, written as `geogate.DecisionLog` writes them.

`log_lines` asks a gate each request on its day and formats the decision with
the log's own `DecisionLog.line`, so a test knows what every line says;
`write_jsonl` writes them (gzipped for a ``.gz`` name, the last line torn on
request); `write_parquet` converts a JSONL file with DuckDB, as a pipeline
moving logs to Parquet would.
"""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
from typing import NamedTuple

from geogate import DecisionLog

__all__ = ["Request", "log_lines", "write_jsonl", "write_parquet"]

#: Decision ids, unique across every log a test run writes (as random UUIDs are).
_ids = itertools.count()


class Request(NamedTuple):
    """One call to the gate: the feature, where from, on which day, and the caller's IP."""

    feature: str
    attributes: dict[str, object]
    day: dt.date
    ip: str | None = None
    second: int = 43_200  # noon, UTC


def log_lines(gate, requests):
    """Return (line, decision) for each request, as the gate's decision log would write it."""
    counter = _ids
    log = DecisionLog(
        lambda _line: None, new_id=lambda: f"00000000-0000-4000-8000-{next(counter):012d}"
    )
    found = []
    try:
        for request in requests:
            decision = gate.evaluate(request.feature, at=request.day, **request.attributes)
            midnight = dt.datetime(
                request.day.year, request.day.month, request.day.day, tzinfo=dt.UTC
            )
            when = midnight.timestamp() + request.second
            found.append((log.line(decision, request.ip, when), decision))
    finally:
        log.close()
    return found


def write_jsonl(path, lines, *, torn=None):
    """Write *lines* (and *torn*, a last line cut short, without its newline)."""
    data = "".join(line + "\n" for line in lines) + (torn or "")
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as stream:
            stream.write(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def write_parquet(source, target):
    """Convert a JSONL decision log to Parquet with DuckDB (types from the JSON)."""
    import duckdb  # noqa: PLC0415 (the logs extra)

    with duckdb.connect() as connection:
        connection.execute(
            f"COPY (SELECT * FROM read_json('{source}', format = 'newline_delimited')) "  # noqa: S608
            f"TO '{target}' (FORMAT parquet)"
        )
    return target
