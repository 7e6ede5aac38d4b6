"""
Decision logs as DuckDB reads them: files, globs and folders of JSONL, gzipped JSONL and Parquet.

`find_logs` turns what the user wrote into files (rotated ``decisions.jsonl.1``
and ``decisions.jsonl.2.gz`` included). `LogReader` reads them in one DuckDB
pass into `Groups`: identical decisions (file, day, feature, place, outcome,
revision) counted once, so ten million lines become thousands of rows.

A line is *damaged* when it is not a JSON object whose fields have the types of
the decision log's schema (``geogate/data/decision-log.schema.json``): a torn
line (a process killed mid-write), a tampered one (``"allowed": "yes"``), an
``effect`` that contradicts ``allowed``. Damaged lines are counted apart,
never guessed at; `LogReader.damage` finds where they are (``file:line:col``),
reading only the files that hold some.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import gzip
import json
import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Final, NamedTuple

import attrs

from .lines import Sought, number_files, unclosed_lines

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence

    import duckdb

__all__ = [
    "Damage",
    "Group",
    "Groups",
    "LogInputError",
    "LogReader",
    "bytes_problem",
    "connect",
    "find_logs",
    "line_problem",
    "line_values",
]

#: The fields a line of the decision log (schema version 1) holds, in order.
FIELDS: Final = (
    "v",
    "decision_id",
    "timestamp",
    "feature",
    "allowed",
    "effect",
    "rule",
    "reason",
    "error_code",
    "revision",
    "as_of",
    "country",
    "subdivision",
    "domicile",
    "location",
    "jurisdictions",
    "location_source",
    "ip",
)
#: What a grouped row holds besides its count, in order.
GROUP_FIELDS: Final = (
    "day",
    "feature",
    "as_of",
    "country",
    "subdivision",
    "domicile",
    "location",
    "revision",
    "allowed",
    "effect",
    "rule",
    "reason",
    "error_code",
    "jurisdictions",
    "location_source",
)
_JURISDICTIONS: Final = GROUP_FIELDS.index("jurisdictions")
_PARQUET: Final = (".parquet", ".pq")
_DATE: Final = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_TIMESTAMP: Final = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z$"
#: Most damaged lines located per file (the rest are counted).
MAX_DAMAGE_SHOWN: Final = 20


class LogInputError(Exception):
    """What the user named holds no decision log, or cannot be read: exit 3."""


@attrs.frozen
class Damage:
    """A damaged line: where it is, and what is wrong with it."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


class Group(NamedTuple):
    """
    Identical decisions, in any file, and how many lines hold them.

    A field the lines were not grouped by (`LogReader.groups`'s *keys*) is None.
    """

    day: str
    feature: str
    as_of: dt.date
    country: str | None
    subdivision: str | None
    domicile: str | None
    location: str | None
    revision: str
    allowed: bool
    effect: str
    rule: str | None
    reason: str
    error_code: str | None
    jurisdictions: tuple[str, ...]
    location_source: str
    #: One of the group's lines, the first logged: (file, its timestamp), when asked for.
    example: tuple[str, str] | tuple[None, None]
    lines: int


@attrs.frozen
class Groups:
    """
    The logs, grouped: each row is identical decisions and how many lines hold them.

    Attributes:
        rows: The groups of whole lines.
        lines: Every line read, damaged ones included.
        damaged: Damaged lines per file.
    """

    rows: tuple[Group, ...]
    lines: int
    damaged: dict[str, int]


def find_logs(specs: Iterable[str]) -> tuple[Path, ...]:
    """
    Return the files that *specs* name: files, globs and folders, sorted and without repeats.

    A folder gives the decision logs in it (not below it): ``*.jsonl``,
    ``*.jsonl.N`` (rotated), either gzipped (``.gz``), and ``*.parquet``; a
    glob or a file is taken as written.

    Raises:
        LogInputError: A spec names nothing, or a file that is not readable.
    """
    found: dict[Path, None] = {}
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            matches = sorted(p for p in path.iterdir() if p.is_file() and _is_log_name(p.name))
            if not matches:
                msg = (
                    f"{spec}: no decision log in this folder (looked for *.jsonl, *.jsonl.N, "
                    "their .gz, and *.parquet)"
                )
                raise LogInputError(msg)
        elif glob.has_magic(spec):
            # An absolute pattern or one with .. is the user's: Path.glob takes neither.
            matches = sorted(Path(p) for p in glob.glob(spec) if Path(p).is_file())  # noqa: PTH207
            if not matches:
                msg = f"{spec}: the pattern matches no file"
                raise LogInputError(msg)
        elif path.is_file():
            matches = [path]
        else:
            msg = f"{spec}: no such file or folder"
            raise LogInputError(msg)
        for match in matches:
            if not os.access(match, os.R_OK):
                msg = f"{match}: not readable (permission denied)"
                raise LogInputError(msg)
            found.setdefault(match, None)
    return tuple(found)


def _is_log_name(name: str) -> bool:
    stem = name.removesuffix(".gz")
    if stem.endswith(_PARQUET):
        return not name.endswith(".gz")
    base, _, number = stem.rpartition(".")
    return stem.endswith(".jsonl") or (number.isdigit() and base.endswith(".jsonl"))


def connect() -> duckdb.DuckDBPyConnection:
    """
    Return an in-memory DuckDB connection.

    Raises:
        LogInputError: DuckDB is not installed (the ``logs`` extra).
    """
    try:
        import duckdb  # noqa: PLC0415 (an optional extra)
    except ImportError:
        msg = (
            "reading decision logs needs DuckDB: pip install 'geogate[logs]' "
            "(from a checkout: pip install -e '.[logs]')"
        )
        raise LogInputError(msg) from None
    connection = duckdb.connect(":memory:")
    # Parquet written by other tools may hold TIMESTAMPTZ: read it as the UTC day it is.
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def _sql_list(paths: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _json_select(paths: Sequence[Path]) -> str:
    """
    SQL: every JSONL line as the schema's columns, with ``ok`` saying it is whole and typed.

    The text fields are read as text, as DuckDB reads JSON into ``VARCHAR``
    (``42`` as ``"42"``); ``allowed`` and ``v`` as raw JSON, so that only
    ``true`` and ``false`` are booleans: a typed read would take ``"yes"`` or
    ``1`` for true. A key written twice is read as its first value.
    `line_problem` applies the same checks in Python.
    """
    types = dict.fromkeys(FIELDS, "VARCHAR")
    types.update(v="JSON", allowed="JSON", jurisdictions="VARCHAR[]")
    columns = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in types.items()) + "}"
    ok = ") AND (".join(
        [
            "v IS NULL OR v::VARCHAR = '1'",
            *(f"{name} IS NOT NULL" for name in _STRINGS),
            f"regexp_full_match(\"timestamp\", '{_TIMESTAMP}')",
            'try_cast("timestamp"[1:10] AS DATE) IS NOT NULL',
            "allowed::VARCHAR IN ('true', 'false')",
            "effect IN ('allow', 'deny')",
            "(allowed::VARCHAR = 'true') = (effect = 'allow')",
            f"reason IN {_sql_tuple(_REASONS)}",
            f"regexp_full_match(as_of, '{_DATE}')",
            "try_cast(as_of AS DATE) IS NOT NULL",
            f"location IS NULL OR location IN {_sql_tuple(_LOCATIONS)}",
            "jurisdictions IS NOT NULL",
            "list_aggregate(jurisdictions, 'count') = len(jurisdictions)",
        ]
    )
    return f"""
        SELECT
            filename AS file,
            coalesce(({ok}), false) AS ok,
            decision_id,
            "timestamp",
            "timestamp"[1:10] AS day,
            feature,
            try_cast(as_of AS DATE) AS as_of,
            country,
            subdivision,
            domicile,
            location,
            revision,
            allowed::VARCHAR = 'true' AS allowed,
            effect,
            rule,
            reason,
            error_code,
            jurisdictions,
            location_source,
            ip
        FROM read_json({_sql_list(paths)}, format = 'newline_delimited', columns = {columns},
                       ignore_errors = true, filename = true, maximum_object_size = 1048576)
    """  # noqa: S608 (constants, and paths quoted by _sql_list)


def _sql_tuple(values: Iterable[str]) -> str:
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


def _parquet_select(paths: Sequence[Path]) -> str:
    """SQL: Parquet rows as the schema's columns (their types are the file's own)."""
    return f"""
        SELECT
            filename AS file,
            coalesce(
                decision_id IS NOT NULL AND feature IS NOT NULL AND allowed IS NOT NULL
                AND revision IS NOT NULL
                AND effect IN ('allow', 'deny') AND allowed = (effect = 'allow')
                AND reason IN ('TARGETING_MATCH', 'DEFAULT', 'ERROR')
                AND try_cast(as_of AS DATE) IS NOT NULL
                AND jurisdictions IS NOT NULL AND location_source IS NOT NULL,
                false
            ) AS ok,
            decision_id::VARCHAR AS decision_id,
            CAST("timestamp" AS VARCHAR) AS "timestamp",
            CAST("timestamp" AS VARCHAR)[1:10] AS day,
            feature::VARCHAR AS feature,
            try_cast(as_of AS DATE) AS as_of,
            country::VARCHAR AS country,
            subdivision::VARCHAR AS subdivision,
            domicile::VARCHAR AS domicile,
            location::VARCHAR AS location,
            revision::VARCHAR AS revision,
            allowed::BOOLEAN AS allowed,
            effect::VARCHAR AS effect,
            rule::VARCHAR AS rule,
            reason::VARCHAR AS reason,
            error_code::VARCHAR AS error_code,
            jurisdictions::VARCHAR[] AS jurisdictions,
            location_source::VARCHAR AS location_source,
            ip::VARCHAR AS ip
        FROM read_parquet({_sql_list(paths)}, filename = true, union_by_name = true)
    """  # noqa: S608 (constants, and paths quoted by _sql_list)


class LogReader:
    """
    Decision logs opened in DuckDB as one view, ``decisions``.

    Args:
        paths: Files, as `find_logs` returns them.
        connection: A DuckDB connection (`connect` by default).
    """

    def __init__(
        self, paths: Sequence[Path], connection: duckdb.DuckDBPyConnection | None = None
    ) -> None:
        self.paths = tuple(paths)
        self.connection = connect() if connection is None else connection
        parquet = [p for p in self.paths if p.name.endswith(_PARQUET)]
        jsonl = [p for p in self.paths if p not in set(parquet)]
        parts = [_json_select(jsonl)] if jsonl else []
        parts += [_parquet_select(parquet)] if parquet else []
        if not parts:
            raise LogInputError("no decision log given")
        import duckdb  # noqa: PLC0415 (connect checked it is there)

        try:
            self.connection.execute(
                "CREATE OR REPLACE TEMP VIEW decisions AS " + " UNION ALL ".join(parts)
            )
        except duckdb.Error as error:
            msg = f"cannot read the decision logs: {_first_line(error)}"
            raise LogInputError(msg) from None

    def groups(
        self,
        where: str = "",
        parameters: Sequence[object] = (),
        *,
        keys: Sequence[str] = GROUP_FIELDS,
        examples: bool = False,
    ) -> Groups:
        """
        Read every line once and group identical decisions (damaged lines apart).

        Args:
            where: An SQL condition on the view's columns (``day >= ?``), or empty.
            parameters: The condition's parameters.
            keys: The fields lines are grouped by (the others are None in each `Group`):
                fewer keys, fewer groups and a faster pass.
            examples: Give each group one of its lines (`Group.example`).

        Raises:
            LogInputError: DuckDB cannot read a file (not JSON Lines, not Parquet, unreadable).
        """
        import duckdb  # noqa: PLC0415 (connect checked it is there)

        condition = f"WHERE NOT ok OR ({where})" if where else ""
        # The jurisdictions group as the list they are: joined into one string
        # (a cheaper key), [""] and [] or names holding the separator would meet.
        fields = ", ".join(keys)
        example = 'arg_min(file, "timestamp"), min("timestamp")' if examples else "NULL, NULL"
        query = f"""
            SELECT CASE WHEN ok THEN NULL ELSE file END, ok, {fields}, {example}, count(*)
            FROM decisions {condition}
            GROUP BY ALL
        """  # noqa: S608 (constants; *where* is the callers' own, with parameters)
        try:
            rows = self.connection.execute(query, list(parameters)).fetchall()
        except duckdb.Error as error:
            msg = f"cannot read the decision logs: {_first_line(error)}"
            raise LogInputError(msg) from None
        kept: list[Group] = []
        damaged: dict[str, int] = {}
        lines = 0
        # Where each of a Group's fields is in a row (after the file and ok), or None.
        column = [keys.index(name) + 2 if name in keys else None for name in GROUP_FIELDS]
        listed = keys.index("jurisdictions") + 2 if "jurisdictions" in keys else None
        make = Group._make
        for row in rows:
            count = row[-1]
            lines += count
            if not row[1]:
                damaged[row[0]] = damaged.get(row[0], 0) + count
                continue
            values = [None if at is None else row[at] for at in column]
            values[_JURISDICTIONS] = () if listed is None else tuple(row[listed] or ())
            kept.append(make((*values, row[-3:-1], count)))
        return Groups(rows=tuple(kept), lines=lines, damaged=damaged)

    def locate(
        self, files: Sequence[tuple[str, Sequence[Sought]]], key_of: Callable[[bytes], Hashable]
    ) -> list[list[str | None]]:
        """
        ``file:line`` of each sought line of each file (`geogate._logs.lines.number_files`).

        A Parquet file has no lines: its rows are named by their time. None
        where the line is not in the file (it changed since it was read).

        Raises:
            LogInputError: A file cannot be read again.
        """
        lines = [(f, s) for f, s in files if not f.endswith(_PARQUET)]
        try:
            numbered = iter(number_files(lines, key_of))
        except OSError as error:
            msg = f"cannot read the logs again to number their lines: {error.strerror or error}"
            raise LogInputError(msg) from None
        return [
            [f"{file} (the row logged at {one.text})" for one in sought]
            if file.endswith(_PARQUET)
            else [None if n is None else f"{file}:{n}" for n in next(numbered)]
            for file, sought in files
        ]

    def damage(self, damaged: dict[str, int], limit: int = MAX_DAMAGE_SHOWN) -> list[Damage]:
        """Locate up to *limit* damaged lines in each file of *damaged* (``file:line:col``)."""
        found: list[Damage] = []
        for file in sorted(damaged):
            found.extend(_locate_damage(file, limit, damaged[file]))
        return found


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _open_lines(path: str) -> Iterator[bytes]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as stream:
        yield from stream


def _locate_damage(path: str, limit: int, count: int) -> list[Damage]:
    """
    The first *limit* of the *count* damaged lines of one JSONL file (Parquet: none).

    The lines that do not end in ``}`` are read first (`unclosed_lines`):
    where a process was killed mid-write, the usual damage. When they are
    exactly the *count* DuckDB found, they are the answer; otherwise the
    lines are read one by one from the start until *limit* are found, which
    the first pass bounds when it found *limit* (a file of junk).
    """
    if path.endswith(_PARQUET):
        return [Damage(path, 0, 0, "rows with missing or contradictory fields")]
    found: list[Damage] = []
    with contextlib.closing(unclosed_lines(path)) as unclosed:
        for number, line, ended in unclosed:
            problem = bytes_problem(line, torn=not ended, first=number == 1)
            if problem is not None:
                found.append(Damage(path, number, problem[0], problem[1]))
                if len(found) >= limit and len(found) < count:
                    break  # enough: the slow pass below stops by this line
        else:
            if len(found) == count:
                return found[:limit]
    found = []
    for number, line in enumerate(_open_lines(path), start=1):
        ended = line.endswith(b"\n")
        problem = bytes_problem(line[:-1] if ended else line, torn=not ended, first=number == 1)
        if problem is not None:
            found.append(Damage(path, number, problem[0], problem[1]))
            if len(found) >= limit:
                break
    return found


def bytes_problem(
    line: bytes, *, torn: bool = False, first: bool = False
) -> tuple[int, str] | None:
    """
    `line_problem` for a line as it is in the file (without its newline); None for a blank line.

    A line that is not UTF-8 is damaged, as DuckDB reads it; a byte-order mark
    starting the file (*first*) is skipped, as DuckDB skips it.
    """
    if first:
        line = line.removeprefix(b"\xef\xbb\xbf")
    if not line.strip(_BLANK.encode()):
        return None
    try:
        text = line.decode()
    except UnicodeDecodeError as error:
        column = len(line[: error.start].decode(errors="replace")) + 1
        return column, (
            f"not UTF-8 text (byte 0x{line[error.start]:02x} at column {column}); "
            "the line is skipped"
        )
    return line_problem(text, torn=torn)


def line_problem(text: str, *, torn: bool = False) -> tuple[int, str] | None:
    """
    Return (column, what is wrong) for one line of a decision log, or None when it is whole.

    The checks are those of the DuckDB view (`_json_select`), in words. The
    line is read as DuckDB reads it (`_read_json`). A line nested deeper than
    Python's parser goes is taken as whole: DuckDB reads it, and its fields
    cannot be checked here.
    """
    try:
        record = _read_json(text)
    except json.JSONDecodeError as error:
        column = error.colno + len(text) - len(text.lstrip(_BLANK))
        what = "a torn line (it ends before its JSON does)" if torn else "not JSON"
        said = error.msg
        if said.endswith(" at"):  # "Unterminated string starting at"
            said += f" column {column}"
        return column, f"{what}: {said}; the line is skipped"
    except RecursionError:
        return None
    if not isinstance(record, dict):
        return 1, "not a JSON object; the line is skipped"
    try:
        json.dumps(record, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return 1, "a string holds an unpaired surrogate (\\ud800 to \\udfff); the line is skipped"
    return _field_problem(record)


def line_values(line: bytes) -> dict[str, object] | None:
    """
    The fields of one whole line as the DuckDB view reads them, or None when it is not whole.

    Text fields are text (`_as_text`), ``allowed`` is the boolean, ``as_of``
    the date and ``jurisdictions`` a tuple of names. None too for a line
    nested deeper than Python's parser goes.
    """
    if not line.strip(_BLANK.encode()) or bytes_problem(line) is not None:
        return None
    try:
        record = _read_json(line.decode())
    except RecursionError:
        return None
    assert isinstance(record, dict)  # noqa: S101 (bytes_problem checked it)
    values: dict[str, object] = {name: _as_text(record.get(name)) for name in FIELDS}
    values["allowed"] = record["allowed"]
    values["as_of"] = dt.date.fromisoformat(str(values["as_of"]))
    values["jurisdictions"] = tuple(_as_text(item) for item in record["jurisdictions"])
    return values


#: Most commas before a closing bracket taken out of one line (DuckDB allows them).
_MAX_TRAILING_COMMAS: Final = 64


def _read_json(text: str) -> object:
    """
    One line's JSON as DuckDB reads it (``yyjson``), in Python's ``json``.

    Blank characters around it are dropped (`_BLANK`); a comma before a
    closing bracket (``{"a": 1,}``) is allowed; a key written twice keeps its
    first value; a number no float or int holds (``1E400``) stays the text
    it was written as.

    Raises:
        json.JSONDecodeError: The line is not JSON.
        RecursionError: It is nested deeper than Python's parser goes.
    """
    text = text.strip(_BLANK)
    for _ in range(_MAX_TRAILING_COMMAS):
        try:
            return json.loads(
                text, object_pairs_hook=_first_keys, parse_float=_float, parse_int=_int
            )
        except json.JSONDecodeError as error:
            fixed = _without_trailing_comma(text, error)
            if fixed is None:
                raise
            text = fixed
    return json.loads(text, object_pairs_hook=_first_keys, parse_float=_float, parse_int=_int)


def _without_trailing_comma(text: str, error: json.JSONDecodeError) -> str | None:
    """
    *text* without the comma before a closing bracket that ``json`` stopped at, or None.

    Python 3.13 stops at the comma ("Illegal trailing comma"), earlier
    versions at the bracket after it.
    """
    at = error.pos
    if error.msg.startswith("Illegal trailing comma"):
        return text[:at] + text[at + 1 :] if text[at : at + 1] == "," else None
    if at >= len(text) or text[at] not in "}]":
        return None
    before = len(text[:at].rstrip(" \t\r\n")) - 1
    return text[:before] + text[before + 1 :] if before >= 0 and text[before] == "," else None


class _Verbatim(str):
    """A number no float or int holds, kept as the text it was written as (as DuckDB keeps it)."""

    __slots__ = ()


def _float(text: str) -> object:
    number = float(text)
    return number if math.isfinite(number) else _Verbatim(text)


def _int(text: str) -> object:
    try:
        return int(text)
    except ValueError:  # more digits than int() converts (sys.set_int_max_str_digits)
        return _Verbatim(text)


def _first_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object whose repeated keys keep their first value, as DuckDB reads them."""
    found: dict[str, object] = {}
    for key, value in pairs:
        found.setdefault(key, value)
    return found


_STRINGS: Final = ("decision_id", "feature", "revision", "location_source")
#: What DuckDB takes as blank around a line (and a line of nothing else as no line).
_BLANK: Final = " \t\r\n\x0b\x0c"
_REASONS: Final = ("TARGETING_MATCH", "DEFAULT", "ERROR")
_LOCATIONS: Final = ("known", "unknown", "invalid")


def _as_text(value: object) -> str | None:
    """A JSON value as DuckDB reads it into text: strings as they are, the rest as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _field_problem(record: dict[str, object]) -> tuple[int, str] | None:
    def bad(field: str, expected: str) -> tuple[int, str]:
        shown = json.dumps(record.get(field))[:60]
        return 1, f"field {field!r} is {shown}, not {expected}; the line is skipped"

    version = record.get("v")
    if version is not None and (type(version) is not int or version != 1):
        return bad("v", "1 (this geogate reads schema version 1)")
    text = {name: _as_text(record.get(name)) for name in FIELDS if name != "jurisdictions"}
    checks: list[tuple[bool, str, str]] = [
        *((text[f] is not None, f, "given") for f in _STRINGS),
        (_matches(_TIMESTAMP, text["timestamp"]), "timestamp", "a UTC timestamp ending in Z"),
        (isinstance(record.get("allowed"), bool), "allowed", "true or false"),
        (text["effect"] in ("allow", "deny"), "effect", '"allow" or "deny"'),
        (text["reason"] in _REASONS, "reason", ", ".join(_REASONS)),
        (_matches(_DATE, text["as_of"]), "as_of", "a date"),
        (text["location"] in (None, *_LOCATIONS), "location",
         '"known", "unknown", "invalid" or null'),
        (_is_list(record.get("jurisdictions")), "jurisdictions", "a list of names"),
    ]  # fmt: skip
    for ok, field, expected in checks:
        if not ok:
            return bad(field, expected)
    if (text["effect"] == "allow") is not record["allowed"]:
        return bad("effect", f"what allowed={json.dumps(record['allowed'])} says")
    return None


def _is_list(value: object) -> bool:
    return isinstance(value, list) and all(item is not None for item in value)


def _matches(pattern: str, value: str | None) -> bool:
    if value is None or not re.fullmatch(pattern, value):
        return False
    try:
        dt.date.fromisoformat(value[:10])
    except ValueError:
        return False
    return True
