"""Reading decision logs: which files, and which lines are damaged (and where)."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geogate import Gate
from geogate._logs import read
from geogate._logs.read import LogInputError, LogReader, find_logs, line_problem
from helpers.decisionlogs import Request, log_lines, write_jsonl
from helpers.paths import POLICIES
from helpers.properties import examples

DAY = dt.date(2026, 5, 9)


@pytest.fixture(scope="module")
def lines():
    gate = Gate.from_path(POLICIES)
    calls = [Request("llama-3.2-vision", {"country": c}, DAY) for c in ("FR", "GB", "US", "XX")]
    return [line for line, _ in log_lines(gate, calls)]


def _tampered(line, **fields):
    record = json.loads(line)
    record.update(fields)
    return json.dumps(record)


def test_damaged_lines_are_skipped_and_located(lines, tmp_path):
    """Torn, not JSON, not an object, wrong types, a contradiction: each named at file:line:col."""
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            lines[0],
            _tampered(lines[1], allowed="yes"),
            "not json",
            "[1, 2]",
            _tampered(lines[2], effect="allow", allowed=False),
            "",
            lines[3],
            _tampered(lines[2], v=2),
            lines[3][:-1] + ',"allowed":true}',
        ],
        torn=lines[1][:70],
    )
    reader = LogReader(find_logs([str(path)]))
    groups = reader.groups()

    assert (9, 3) == (groups.lines, sum(g.lines for g in groups.rows))
    assert [
        (2, 1, "field 'allowed' is \"yes\", not true or false; the line is skipped"),
        (3, 1, "not JSON: Expecting value; the line is skipped"),
        (4, 1, "not a JSON object; the line is skipped"),
        (5, 1, "field 'effect' is \"allow\", not what allowed=false says; the line is skipped"),
        (8, 1, "field 'v' is 2, not 1 (this geogate reads schema version 1); the line is skipped"),
        (10, 61, ("a torn line (it ends before its JSON does): Unterminated string starting "
                 "at column 61; the line is skipped")),
    ] == [(d.line, d.column, d.message) for d in reader.damage(groups.damaged)]  # fmt: skip
    assert {str(path): 6} == groups.damaged
    # A key written twice is read as its first value (XX: denied), as DuckDB reads it.
    assert [(False, 2)] == [(g.allowed, g.lines) for g in groups.rows if g.country is None]


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 3),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["allow", "deny", "known", "unknown", "TARGETING_MATCH", "ERROR", "FR"]),
    st.sampled_from(["2026-05-09", "2026-13-09", "2026-05-09T12:00:00.250000Z", "2026-05-09T12"]),
    st.text(max_size=8),
    st.lists(st.sampled_from(["EU", 1, None]), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_FIELDS = st.sampled_from(
    ["v", "decision_id", "timestamp", "feature", "allowed", "effect", "rule", "reason",
     "error_code", "revision", "as_of", "country", "subdivision", "domicile", "location",
     "jurisdictions", "location_source"]
)  # fmt: skip


@examples(100)
@given(changes=st.lists(st.tuples(_FIELDS, _VALUES | st.just(...)), min_size=1, max_size=3))
def test_duckdb_and_python_agree_on_which_lines_are_whole(lines, tmp_path_factory, changes):
    """
    The DuckDB view counts a line damaged exactly when the Python check names a problem.

    (DuckDB reads the logs; Python only locates the damage it counted.)
    """
    record = json.loads(lines[0])
    for field, value in changes:
        if value is ...:
            record.pop(field, None)
        else:
            record[field] = value
    text = json.dumps(record)
    path = write_jsonl(tmp_path_factory.mktemp("one") / "d.jsonl", [text])

    groups = LogReader(find_logs([str(path)])).groups()

    assert (line_problem(text) is None) == (not groups.damaged), (text, line_problem(text))


def test_find_logs_says_what_is_missing(tmp_path):
    """A missing file, an empty folder, a pattern matching nothing: each said plainly."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x", encoding="utf-8")
    cases = {
        str(tmp_path / "nope.jsonl"): "nope.jsonl: no such file or folder",
        str(tmp_path / "empty"): "no decision log in this folder",
        str(tmp_path / "*.jsonl"): "the pattern matches no file",
    }
    for spec, expected in cases.items():
        with pytest.raises(LogInputError, match=expected.replace("*", r"\*")):
            find_logs([spec])


def test_a_folder_gives_its_logs_and_nothing_else(tmp_path):
    """Logs, rotated logs (gzipped or not) and Parquet; not locks, notes or subfolders."""
    for name in ("d.jsonl", "d.jsonl.1", "d.jsonl.2.gz", "d.7.jsonl", "x.parquet"):
        (tmp_path / name).write_text("", encoding="utf-8")
    for name in ("d.jsonl.lock", "notes.txt", "d.jsonl.tmp", "x.parquet.gz"):
        (tmp_path / name).write_text("", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "e.jsonl").write_text("", encoding="utf-8")

    assert ["d.7.jsonl", "d.jsonl", "d.jsonl.1", "d.jsonl.2.gz", "x.parquet"] == [
        p.name for p in find_logs([str(tmp_path)])
    ]


def test_a_corrupt_parquet_file_is_an_input_error(tmp_path):
    """DuckDB cannot read it: a LogInputError that names the problem, not a traceback."""
    path = tmp_path / "x.parquet"
    path.write_bytes(b"PAR1 not really")

    with pytest.raises(LogInputError, match="cannot read the decision logs: "):
        LogReader(find_logs([str(path)])).groups()


@pytest.mark.parametrize("gzipped", [False, True])
def test_torn_lines_are_found_without_reading_every_line(lines, tmp_path, gzipped, monkeypatch):
    """
    Lines torn by a crash (they do not end in ``}``) are found among the lines
    that do not end so; every line is read only when those do not account for
    all the damage DuckDB counted, and both ways give the same answer.
    """
    torn = lines[2][:50]
    body = [lines[0], torn, lines[1], "", lines[2], torn + " ", *lines]
    path = write_jsonl(tmp_path / "d.jsonl", body, torn=lines[3][:30])
    if gzipped:
        gz = tmp_path / "d.jsonl.gz"
        gz.write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
        path = gz
    reader = LogReader(find_logs([str(path)]))
    groups = reader.groups()
    read_every_line = []
    real_open_lines = read._open_lines
    monkeypatch.setattr(
        read, "_open_lines", lambda p: read_every_line.append(p) or real_open_lines(p)
    )

    fast = reader.damage(groups.damaged)

    assert ([], {str(path): 3}) == (read_every_line, groups.damaged)
    assert [2, 6, 11] == [d.line for d in fast]
    slow = read._locate_damage(str(path), 20, 10**9)
    assert (fast, [str(path)]) == (slow, read_every_line)


_ODD = {
    "form feed after": lambda line: line + b"\x0c",
    "vertical tab before": lambda line: b"\x0b" + line,
    "spaces and form feeds after": lambda line: line + b" \x0c ",
    "NUL after": lambda line: line + b"\x00",
    "no-break space after": lambda line: line + "\u00a0".encode(),
    "next-line after": lambda line: line + "\u0085".encode(),
    "byte-order mark before": lambda line: b"\xef\xbb\xbf" + line,
    "not UTF-8 in a value": lambda line: line.replace(b'"FR"', b'"F\xffR"'),
    "overlong UTF-8": lambda line: line.replace(b'"FR"', b'"\xc0\xc6R"'),
    "unpaired surrogate": lambda line: line.replace(b'"FR"', b'"\\ud800"'),
    "paired surrogates": lambda line: line.replace(b'"FR"', b'"\\ud83d\\ude00"'),
    "raw control character": lambda line: line.replace(b'"FR"', b'"F\x01R"'),
    "escaped NUL": lambda line: line.replace(b'"FR"', b'"F\\u0000R"'),
    "form feed between tokens": lambda line: line.replace(b',"decision_id"', b',\x0c"decision_id"'),
    "comma before the closing brace": lambda line: line[:-1] + b",}",
    "comma and space before the brace": lambda line: line[:-1] + b", }",
    "comma closing the list": lambda line: line.replace(b'"EU"]', b'"EU",]'),
    "two commas before the brace": lambda line: line[:-1] + b",,}",
    "number too large in a text field": lambda line: line.replace(b'"FR"', b"1E400"),
    "number too large as the version": lambda line: line.replace(b'"v":1', b'"v":1E400'),
    "nested 5,000 deep": lambda line: line[:-1] + b',"x":' + b"[" * 5000 + b"]" * 5000 + b"}",
}


@pytest.mark.parametrize("position", ["first", "second"])
@pytest.mark.parametrize("odd", sorted(_ODD))
def test_duckdb_and_python_agree_on_odd_bytes(lines, tmp_path, odd, position):
    """
    Bytes around and inside a line (form feeds, a byte-order mark, bytes that
    are not UTF-8, unpaired surrogates): DuckDB counts the line damaged exactly
    when `bytes_problem` names a problem, on the file's first line and after it.
    """
    line = _ODD[odd](lines[0].encode())
    whole = lines[1].encode()
    data = line + b"\n" + whole + b"\n" if position == "first" else whole + b"\n" + line + b"\n"
    path = tmp_path / "d.jsonl"
    path.write_bytes(data)

    groups = LogReader(find_logs([str(path)])).groups()

    problem = read.bytes_problem(line, first=position == "first")
    assert (problem is None) == (not groups.damaged), (odd, problem, groups.damaged)
