"""Numbering the line of a logged decision: found by its id, started from its time, never wrong."""

from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from geogate._logs import lines
from geogate._logs.lines import Sought, number_files, number_lines, unclosed_lines
from helpers.properties import examples

IDS = ("a", "b", "c", "d")


def _line(decision_id, second, mark):
    record = {"decision_id": decision_id, "timestamp": f"2026-05-09T00:00:{second:02d}Z"}
    return json.dumps({**record, "mark": mark}, separators=(",", ":")).encode()


def _mark(line):
    """A line's key: its mark (None when it has none)."""
    try:
        return json.loads(line).get("mark")
    except (ValueError, AttributeError):
        return None


#: A log: whole lines (id, second, mark), blank lines, CRLF ends and torn lines, in any order.
logs = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(IDS), st.integers(0, 59), st.integers(0, 3)).map(
            lambda t: _line(*t)
        ),
        st.sampled_from([b"", b"   ", b'{"decision_id":"a","times', b"\xff\xfe"]),
        st.tuples(st.sampled_from(IDS), st.integers(0, 59)).map(
            lambda t: _line(t[0], t[1], 9) + b"\r"
        ),
    ),
    max_size=60,
)


@pytest.fixture
def small_windows(monkeypatch):
    """Windows and bisection spans of a few bytes, so that small files take every path."""
    monkeypatch.setattr(lines, "FIRST_WINDOW", 16)
    monkeypatch.setattr(lines, "BISECT_SPAN", 8)
    monkeypatch.setattr(lines, "COUNT_CHUNK", 7)
    monkeypatch.setattr(lines, "SEARCH_CHUNK", 11)
    monkeypatch.setattr(lines, "LINE_BLOCK", 3)


@examples(200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    log=logs,
    sought=st.lists(
        st.tuples(
            st.sampled_from(IDS), st.none() | st.integers(0, 59), st.integers(0, 3) | st.just(9)
        ),
        max_size=5,
    ),
    gzipped=st.booleans(),
    newline_at_end=st.booleans(),
)
@pytest.mark.usefixtures("small_windows")
def test_the_line_numbered_is_a_line_sought_and_none_is_missed(
    log, sought, gzipped, newline_at_end, tmp_path_factory
):
    """
    Whatever the order, blank, torn or repeated lines: a number is that of a line
    whose key is the one sought, one holding the id when there is one, and None
    only when no line has the key.
    """
    data = b"\n".join(log) + (b"\n" if newline_at_end and log else b"")
    path = tmp_path_factory.mktemp("log") / ("decisions.jsonl" + (".gz" if gzipped else ""))
    path.write_bytes(gzip.compress(data) if gzipped else data)
    wanted = [
        Sought(i, None if s is None else f"2026-05-09T00:00:{s:02d}Z", m) for i, s, m in sought
    ]
    numbered = number_lines(str(path), wanted, _mark)
    by_number = dict(enumerate(data.split(b"\n"), start=1))
    for one, number in zip(wanted, numbered, strict=True):
        taken = [n for n, text in by_number.items() if _mark(text) == one.key]
        holding = [n for n in taken if f'"{one.text}"'.encode() in by_number[n]]
        assert number in (holding or taken or [None])


@pytest.mark.usefixtures("small_windows")
def test_a_line_is_found_where_its_time_falls(tmp_path, monkeypatch):
    """In a file in time order only the lines near the sought time are searched."""
    path = tmp_path / "decisions.jsonl"
    path.write_bytes(b"\n".join(_line(f"id{s}", s, 0) for s in range(60)) + b"\n")
    searched = []
    real = lines._spans

    def spans(*arguments):
        for span in real(*arguments):
            searched.append(span)
            yield span

    monkeypatch.setattr(lines, "_spans", spans)
    sought = Sought("id42", "2026-05-09T00:00:42Z", 0)
    assert [43] == number_lines(str(path), [sought], _mark)
    assert sum(end - start for start, end in searched) < path.stat().st_size // 4


def test_an_empty_file_and_nothing_sought(tmp_path):
    """An empty file holds no line; nothing sought reads nothing."""
    path = tmp_path / "decisions.jsonl"
    path.write_bytes(b"")
    assert [None] == number_lines(str(path), [Sought("a", None, 0)], _mark)
    assert [] == number_lines(str(tmp_path / "missing.jsonl"), [], _mark)


@examples(200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.lists(
        st.sampled_from([b"{}", b'{"a":1}', b"", b"  ", b'{"a":', b"x}", b"}\r", b"{\r", b"}}"]),
        max_size=30,
    ).map(b"\n".join)
    | st.binary(max_size=60),
    chunk=st.integers(1, 12),
    gzipped=st.booleans(),
)
def test_unclosed_lines_are_every_line_not_ending_in_a_brace(
    data, chunk, gzipped, tmp_path_factory, monkeypatch
):
    """Whatever the chunk size, line lengths and ends: the lines not ending in ``}``, numbered."""
    monkeypatch.setattr(lines, "READ_CHUNK", chunk)
    path = tmp_path_factory.mktemp("log") / ("d.jsonl" + (".gz" if gzipped else ""))
    path.write_bytes(gzip.compress(data) if gzipped else data)
    parts = data.split(b"\n")
    expected = [
        (number, part, number < len(parts))
        for number, part in enumerate(parts, start=1)
        if part.strip() and not part.endswith(b"}")
    ]
    assert expected == list(unclosed_lines(str(path)))


@pytest.mark.parametrize("processes", ["counting processes", "processes that fail", "here"])
def test_files_counted_in_processes_of_their_own_are_numbered_alike(
    tmp_path, monkeypatch, processes
):
    """
    `number_files` counts big files in processes of their own (forced here
    for small ones), falls back to counting here when those fail, and numbers
    every line as `number_lines` does, file by file.
    """
    files = []
    for index in range(3):
        path = tmp_path / f"d{index}.jsonl"
        body = [_line(f"id{s}", s, s % 3) for s in range(60)]
        body.insert(7 * index, b"")
        path.write_bytes(b"\n".join(body) + b"\n")
        files.append((str(path), [Sought(f"id{s}", None, s % 3) for s in (5, 17, 42, 59)]))
    files.append((str(tmp_path / "d0.jsonl"), []))
    expected = [number_lines(path, sought, _mark) for path, sought in files]
    monkeypatch.setattr(lines, "PARALLEL_FROM", 0 if processes != "here" else 1 << 40)
    monkeypatch.setattr(lines.os, "cpu_count", lambda: 2)
    if processes == "processes that fail":
        monkeypatch.setattr(lines.sys, "executable", str(tmp_path / "no-python"))
    started = []
    real_run = lines.subprocess.run
    monkeypatch.setattr(
        lines.subprocess, "run", lambda *a, **k: started.append(a) or real_run(*a, **k)
    )

    assert expected == number_files(files, _mark)
    assert (processes != "here") == bool(started)
