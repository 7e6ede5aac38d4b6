"""
Where a logged decision is: the line number of a line in a JSONL decision log.

DuckDB reads a log without numbering its lines, so a finding's line is found
afterwards, by a JSON string it holds (its timestamp, to the microsecond):
the file is searched for it (``"2026-05-09T12:00:00.250000Z"``), and its
newlines are counted up to the line found.

A decision log is written in time order, so the search starts where the
line's timestamp falls (the file is bisected on ``"timestamp"``) and widens
from there, doubling, until it has covered the whole file. Order is only a
guess: a file out of order, or a line whose time is off, costs a search of
the whole file, never a wrong answer. Each line holding the string is keyed
by the caller's *key_of* (a line copied and then altered holds the same
time twice), so the line numbered is one whose key is the one sought; the
lines sought that no line holding their string has the key of (a time
written with escapes) are looked for in one pass over every line. Each line is keyed at
most once, so many lines sought cost no more than one pass.

The file is read with ``pread``, never mapped: a log truncated while it is
read (``logrotate``'s ``copytruncate``) reads short, where a mapped page past
the new end would kill the process (SIGBUS).
"""

from __future__ import annotations

import bisect
import concurrent.futures
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING, Final, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Hashable, Iterator, Sequence

__all__ = ["Sought", "number_files", "number_lines", "unclosed_lines"]

#: Bytes searched on each side of the guessed place first; doubled each round.
FIRST_WINDOW: Final = 1 << 20
#: Bytes read at a time to count newlines, and to find a line's ends.
COUNT_CHUNK: Final = 1 << 20
#: Most bytes read at once to search for an id.
SEARCH_CHUNK: Final = 1 << 22
#: Bytes read first to find a line's ends (doubled up to `COUNT_CHUNK`).
LINE_BLOCK: Final = 1 << 12
#: Bytes read at a time to look for unclosed lines.
READ_CHUNK: Final = 1 << 26
#: Bisection stops when the span left is this small.
BISECT_SPAN: Final = 1 << 16
#: Most bytes read to find one line's time while bisecting.
STAMP_WINDOW: Final = 1 << 14
_STAMP: Final = b'"timestamp":"'
_BOM: Final = b"\xef\xbb\xbf"


class Sought(NamedTuple):
    """
    A line to number.

    Attributes:
        text: A JSON string the line holds (its timestamp, its decision id).
        timestamp: Its time as logged, where to start looking (None: from the start).
        key: What *key_of* gives for a line sought (`number_lines`).
    """

    text: str
    timestamp: str | None
    key: Hashable


def number_lines(
    path: str, sought: Sequence[Sought], key_of: Callable[[bytes], Hashable]
) -> list[int | None]:
    """
    Return the 1-based number of a line whose key is each sought's, None where none is.

    *key_of* is given a line without its newline (and without a byte-order
    mark starting the file) and is called once per line looked at. A gzipped
    file (``.gz``) is decompressed into a temporary file first (disk, not
    memory); a plain one is read where searched.
    """
    if not sought:
        return []
    with open(path, "rb") as stream:  # noqa: PTH123
        if not path.endswith(".gz"):
            return _number(_Text(descriptor=stream.fileno()), sought, key_of)
        with tempfile.TemporaryFile() as plain:
            with gzip.open(stream) as unpacked:
                shutil.copyfileobj(unpacked, plain, COUNT_CHUNK)
            plain.flush()
            return _number(_Text(descriptor=plain.fileno()), sought, key_of)


def number_files(
    files: Sequence[tuple[str, Sequence[Sought]]], key_of: Callable[[bytes], Hashable]
) -> list[list[int | None]]:
    """
    `number_lines` for each (path, lines sought): the lines are found here, in turn.

    Counting the newlines before them is most of the work on large logs: when
    it comes to more than `PARALLEL_FROM` bytes, the files are counted at
    once, each by a process of its own (this interpreter, isolated, running
    the standard library only), as many at a time as there are cores. A
    process that cannot start or answer is replaced by counting here.
    """
    numbered: list[list[int | None]] = [[] for _ in files]
    jobs: list[tuple[int, str, list[int | None]]] = []
    for index, (path, sought) in enumerate(files):
        if path.endswith(".gz") or not sought:
            numbered[index] = number_lines(path, sought, key_of)
            continue
        with open(path, "rb") as stream:  # noqa: PTH123
            jobs.append(
                (index, path, _positions(_Text(descriptor=stream.fileno()), sought, key_of))
            )
    wanted = [(path, sorted({p for p in found if p is not None})) for _, path, found in jobs]
    workers = min(os.cpu_count() or 1, len(wanted))
    if workers > 1 and sum(o[-1] for _, o in wanted if o) >= PARALLEL_FROM:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            counted = list(pool.map(lambda job: _count_elsewhere(*job), wanted))
    else:
        counted = [_count_here(path, offsets) for path, offsets in wanted]
    for (index, _, found), lines in zip(jobs, counted, strict=True):
        numbered[index] = [None if p is None else lines[p] for p in found]
    return numbered


#: Bytes to count from which the files are counted in processes of their own.
PARALLEL_FROM: Final = 1 << 28

#: What a counting process runs: `_count_here`, in the standard library alone.
#: Reads "OFFSET OFFSET ..." (sorted) on standard input, writes their line numbers.
_COUNTER: Final = """
import os, sys
offsets = [int(word) for word in sys.stdin.read().split()]
descriptor = os.open(sys.argv[1], os.O_RDONLY)
buffer = bytearray(1 << 20)
view = memoryview(buffer)
line = 1
counted = 0
numbers = []
for offset in offsets:
    while counted < offset:
        got = os.preadv(descriptor, [view[: min(len(buffer), offset - counted)]], counted)
        if not got:
            break
        line += buffer.count(b"\\n", 0, got)
        counted += got
    numbers.append(line)
print(" ".join(map(str, numbers)))
"""


def _count_here(path: str, offsets: Sequence[int]) -> dict[int, int]:
    with open(path, "rb") as stream:  # noqa: PTH123
        return _line_numbers(_Text(descriptor=stream.fileno()), offsets)


def _count_elsewhere(path: str, offsets: Sequence[int]) -> dict[int, int]:
    """`_count_here` in a process of its own (`_COUNTER`), or here if that fails."""
    try:
        done = subprocess.run(  # noqa: S603 (this interpreter, our own code, a path as data)
            [sys.executable, "-I", "-S", "-c", _COUNTER, path],
            input=" ".join(map(str, offsets)),
            capture_output=True,
            text=True,
            timeout=3600,
            check=True,
        )
        numbers = [int(word) for word in done.stdout.split()]
    except (OSError, ValueError, subprocess.SubprocessError):
        return _count_here(path, offsets)
    if len(numbers) != len(offsets):
        return _count_here(path, offsets)
    return dict(zip(offsets, numbers, strict=True))


class _Text:
    """A file's bytes, read where asked (``pread``): short past the end, never mapped."""

    def __init__(self, *, descriptor: int) -> None:
        self._descriptor = descriptor
        self.size = os.fstat(descriptor).st_size

    def count_newlines(self, start: int, end: int) -> int:
        """Newlines in ``[start, end)``, read a chunk at a time into one buffer."""
        buffer = bytearray(min(COUNT_CHUNK, max(end - start, 0)))
        view = memoryview(buffer)
        total = 0
        while start < end:
            got = os.preadv(self._descriptor, [view[: min(len(buffer), end - start)]], start)
            if got == 0:
                break
            total += buffer.count(b"\n", 0, got)
            start += got
        view.release()
        return total

    def read(self, start: int, end: int) -> bytes:
        start = max(start, 0)
        if end <= start:
            return b""
        return os.pread(self._descriptor, end - start, start)

    def line_end(self, at: int) -> int:
        """The offset of the newline ending the line at *at* (the end of what is read, if none)."""
        size = LINE_BLOCK
        while True:
            block = self.read(at, at + size)
            found = block.find(b"\n")
            if found >= 0:
                return at + found
            if len(block) < size:
                return at + len(block)
            at, size = at + len(block), min(size * 2, COUNT_CHUNK)

    def line_start(self, at: int) -> int:
        """The offset of the first byte of the line holding *at*."""
        size = LINE_BLOCK
        while at > 0:
            begin = max(0, at - size)
            found = self.read(begin, at).rfind(b"\n")
            if found >= 0:
                return begin + found + 1
            at, size = begin, min(size * 2, COUNT_CHUNK)
        return 0


def _number(
    text: _Text, sought: Sequence[Sought], key_of: Callable[[bytes], Hashable]
) -> list[int | None]:
    positions = _positions(text, sought, key_of)
    lines = _line_numbers(text, sorted({p for p in positions if p is not None}))
    return [None if p is None else lines[p] for p in positions]


def _line_numbers(text: _Text, offsets: Sequence[int]) -> dict[int, int]:
    """The line number at each of *offsets* (sorted), counting newlines once."""
    lines: dict[int, int] = {}
    line, counted = 1, 0
    for offset in offsets:
        line += text.count_newlines(counted, offset)
        counted = offset
        lines[offset] = line
    return lines


def _positions(
    text: _Text, sought: Sequence[Sought], key_of: Callable[[bytes], Hashable]
) -> list[int | None]:
    """The offset of the start of a line with each sought's key, None where none is."""
    keys = _Keys(text, key_of)
    positions: list[int | None] = [None] * len(sought)
    searches: dict[tuple[str, str | None], dict[Hashable, list[int]]] = {}
    for index, one in enumerate(sought):
        searches.setdefault((one.text, one.timestamp), {}).setdefault(one.key, [])
        searches[one.text, one.timestamp][one.key].append(index)
    for (held, timestamp), pending in searches.items():
        for index, at in _search(text, keys, held, timestamp, pending):
            positions[index] = at
    left: dict[Hashable, list[int]] = {}
    for index, place in enumerate(positions):
        if place is None:
            left.setdefault(sought[index].key, []).append(index)
    for index, start in _every_line(text, keys, left):
        positions[index] = start
    return positions


class _Keys:
    """Each line's key, found once (``key_of`` parses the line)."""

    def __init__(self, text: _Text, key_of: Callable[[bytes], Hashable]) -> None:
        self._text = text
        self._key_of = key_of
        self._known: dict[int, Hashable] = {}

    def of(self, start: int, line: bytes | None = None, end: int = 0) -> Hashable:
        if start not in self._known:
            if line is None:
                line = self._text.read(start, end)
            if start == 0:
                line = line.removeprefix(_BOM)  # DuckDB skips a byte-order mark at the start
            self._known[start] = self._key_of(line)
        return self._known[start]


def _search(
    text: _Text,
    keys: _Keys,
    held: str,
    timestamp: str | None,
    pending: dict[Hashable, list[int]],
) -> Iterator[tuple[int, int]]:
    """(index of a sought line, its start) for lines holding *held* whose keys are *pending*."""
    needle = json.dumps(held, ensure_ascii=False).encode()
    guess = 0 if timestamp is None else _bisect(text, timestamp.encode())
    starts: list[int] = []  # the lines looked at so far, sorted by start
    ends: dict[int, int] = {}
    for start, end in _pieces(_spans(guess, text.size, len(needle)), len(needle)):
        chunk = text.read(start, end)
        at = chunk.find(needle)
        while at >= 0:
            where = start + at
            index = bisect.bisect_right(starts, where) - 1
            if index >= 0 and ends[starts[index]] >= where:
                line_end = ends[starts[index]]  # looked at already: go past it
            else:
                left, right = chunk.rfind(b"\n", 0, at), chunk.find(b"\n", at)
                line_start = start + left + 1 if left >= 0 else text.line_start(where)
                line_end = start + right if right >= 0 else text.line_end(where)
                bisect.insort(starts, line_start)
                ends[line_start] = line_end
                for sought in pending.pop(keys.of(line_start, end=line_end), ()):
                    yield sought, line_start
                if not pending:
                    return
            at = chunk.find(needle, max(at + 1, line_end + 1 - start))


def _every_line(
    text: _Text, keys: _Keys, pending: dict[Hashable, list[int]]
) -> Iterator[tuple[int, int]]:
    """Every line in turn, once, for the lines the search did not find (an id written escaped)."""
    offset, carry = 0, b""
    while pending and (block := text.read(offset, offset + COUNT_CHUNK)):
        data = carry + block
        begin = offset - len(carry)
        *whole, carry = data.split(b"\n")
        for line in whole:
            for sought in pending.pop(keys.of(begin, line), ()):
                yield sought, begin
            begin += len(line) + 1
        offset += len(block)
    if pending and carry:
        begin = offset - len(carry)
        for sought in pending.pop(keys.of(begin, carry), ()):
            yield sought, begin


def _pieces(spans: Iterator[tuple[int, int]], overlap: int) -> Iterator[tuple[int, int]]:
    """Each span in pieces of at most `SEARCH_CHUNK` bytes (and *overlap*), read one at a time."""
    for start, end in spans:
        for piece in range(start, end, SEARCH_CHUNK):
            yield piece, min(end, piece + SEARCH_CHUNK + overlap)


def _spans(guess: int, size: int, overlap: int) -> Iterator[tuple[int, int]]:
    """
    Spans that cover ``[0, size)`` from *guess* outwards, doubling.

    Each span reaches *overlap* bytes into the next, so a needle that
    straddles two is found whole in one.
    """
    low = high = guess
    width = FIRST_WINDOW
    while low > 0 or high < size:
        new_low, new_high = max(0, low - width), min(size, high + width)
        if new_low < low:
            yield new_low, min(size, low + overlap)
        if new_high > high:
            yield max(0, high - overlap), new_high
        low, high, width = new_low, new_high, width * 2


def _bisect(text: _Text, target: bytes) -> int:
    """
    The offset of the first line logged at *target* or later, were the file in time order.

    Lines whose time cannot be read are stepped over; the answer is a guess.
    """
    low, high = 0, text.size
    while high - low > BISECT_SPAN:
        middle = (low + high) // 2
        window = text.read(middle, min(high, middle + STAMP_WINDOW))
        newline = window.find(b"\n")
        stamp = _stamp_in(window[newline + 1 :]) if newline >= 0 else None
        if stamp is None or stamp >= target:
            high = middle
        else:
            low = middle + newline + 1
    return low


def _stamp_in(window: bytes) -> bytes | None:
    """The ``timestamp`` of the line *window* starts with, or None when it cannot be read."""
    end = window.find(b"\n")
    line = window if end < 0 else window[:end]
    at = line.find(_STAMP)
    if at < 0:
        return None
    at += len(_STAMP)
    close = line.find(b'"', at)
    return None if close < 0 else line[at:close]


def unclosed_lines(path: str) -> Generator[tuple[int, bytes, bool], None, None]:
    """
    Yield (line number, line, whether a newline ended it) for lines of *path* not ending in ``}``.

    A whole line of a decision log is a JSON object, so it ends in ``}``: a
    torn line (a process killed mid-write) does not. Blank lines are left
    out. The file is read a chunk at a time into one buffer; a chunk whose
    newlines all follow ``}`` is passed over (two counts, in C, no copy),
    and only the others are split into lines. A gzipped file (``.gz``) is
    decompressed as it is read.
    """
    opener = gzip.open if path.endswith(".gz") else open
    buffer = bytearray(READ_CHUNK)
    view = memoryview(buffer)
    with opener(path, "rb") as stream:
        number, carry = 1, b""
        while size := stream.readinto(view):
            end = buffer.rfind(b"\n", 0, size) + 1
            if end == 0:  # no line ends in this chunk: a line longer than it
                carry += view[:size]
                continue
            start = 0
            if carry:  # the line the last chunk began
                start = buffer.find(b"\n", 0, end) + 1
                yield from _unclosed(carry + view[:start], number)
                number += 1
            newlines = buffer.count(b"\n", start, end)
            if buffer.count(b"}\n", start, end) != newlines:
                yield from _unclosed(bytes(view[start:end]), number)
            number += newlines
            carry = bytes(view[end:size])
        view.release()
        if carry.strip() and not carry.endswith(b"}"):
            yield number, carry, False


def _unclosed(body: bytes, number: int) -> Iterator[tuple[int, bytes, bool]]:
    """The lines of *body* (whole lines, the first numbered *number*) that do not end in ``}``."""
    offset = counted = 0
    for piece in body.split(b"}\n"):
        if b"\n" in piece:
            start = offset
            for line in piece.split(b"\n")[:-1]:
                if line.strip():
                    number += body.count(b"\n", counted, start)
                    counted = start
                    yield number, line, True
                start += len(line) + 1
        offset += len(piece) + 2
