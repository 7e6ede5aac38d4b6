"""
Where a logged decision is: the line number of a line in a JSONL decision log.

DuckDB reads a log without numbering its lines, so a finding's line is found
afterwards, by its decision id: the file is mapped into memory, searched for
``"decision_id":"ID"``, and its newlines are counted up to the line found.

A decision log is written in time order, so the search starts where the
line's timestamp falls (the file is bisected on ``"timestamp"``) and widens
from there, doubling, until it has covered the whole file. Order is only a
guess: a file out of order, or a line whose time is off, costs a search of
the whole file, never a wrong answer. Each occurrence of the id is read and
offered to the caller's *accept* (a line copied with its id and then altered
holds the same id twice), so the line numbered is the one sought.
"""

from __future__ import annotations

import gzip
import mmap
import os
from typing import TYPE_CHECKING, Final, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

__all__ = ["Sought", "number_lines", "unclosed_lines"]

#: Bytes searched on each side of the guessed place first; doubled each round.
FIRST_WINDOW: Final = 1 << 20
#: Bytes copied at a time to count newlines.
COUNT_CHUNK: Final = 1 << 20
#: Bytes read at a time to look for unclosed lines.
READ_CHUNK: Final = 1 << 26
#: Bisection stops when the span left is this small.
BISECT_SPAN: Final = 1 << 16
_STAMP: Final = b'"timestamp":"'


class Sought(NamedTuple):
    """
    A line to number.

    Attributes:
        decision_id: The id the line holds (``"decision_id":"ID"``).
        timestamp: Its time as logged, where to start looking (None: from the start).
        accept: Whether a line holding the id is the one sought (the line without its newline).
    """

    decision_id: str
    timestamp: str | None
    accept: Callable[[bytes], bool]


def number_lines(path: str, sought: Sequence[Sought]) -> list[int | None]:
    """
    Return the 1-based line number of each sought line of *path*, None where none is.

    A gzipped file (``.gz``) is decompressed whole; a plain one is mapped.
    """
    if not sought:
        return []
    with open(path, "rb") as stream:  # noqa: PTH123
        if path.endswith(".gz"):
            return _number(gzip.decompress(stream.read()), sought)
        if os.fstat(stream.fileno()).st_size == 0:
            return [None] * len(sought)
        with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _number(data, sought)


def _number(data: bytes | mmap.mmap, sought: Sequence[Sought]) -> list[int | None]:
    positions = [_find(data, one) for one in sought]
    found = sorted({p for p in positions if p is not None})
    lines: dict[int, int] = {}
    line, counted = 1, 0
    for position in found:
        line += _count_newlines(data, counted, position)
        counted = position
        lines[position] = line
    return [None if p is None else lines[p] for p in positions]


def _count_newlines(data: bytes | mmap.mmap, start: int, end: int) -> int:
    """Newlines in ``data[start:end]``, copied a chunk at a time (a slice of a map is a copy)."""
    total = 0
    for offset in range(start, end, COUNT_CHUNK):
        total += data[offset : min(offset + COUNT_CHUNK, end)].count(b"\n")
    return total


def _find(data: bytes | mmap.mmap, one: Sought) -> int | None:
    """The offset of the start of the line sought, or None."""
    needle = f'"decision_id":"{one.decision_id}"'.encode()
    guess = 0 if one.timestamp is None else _bisect(data, one.timestamp.encode())
    seen: set[int] = set()
    for start, end in _spans(guess, len(data), len(needle)):
        at = data.find(needle, start, end)
        while at >= 0:
            line_start = data.rfind(b"\n", 0, at) + 1
            if line_start not in seen:
                seen.add(line_start)
                line_end = data.find(b"\n", at)
                line = data[line_start : len(data) if line_end < 0 else line_end]
                if one.accept(line):
                    return line_start
            at = data.find(needle, at + 1, end)
    return None


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


def _bisect(data: bytes | mmap.mmap, target: bytes) -> int:
    """
    The offset of the first line logged at *target* or later, were the file in time order.

    Lines whose time cannot be read are stepped over; the answer is a guess.
    """
    low, high = 0, len(data)
    while high - low > BISECT_SPAN:
        middle = (low + high) // 2
        start = data.find(b"\n", middle, high) + 1
        stamp = _stamp_at(data, start, high) if start > 0 else None
        if stamp is None or stamp >= target:
            high = middle
        else:
            low = start
    return low


def _stamp_at(data: bytes | mmap.mmap, start: int, limit: int) -> bytes | None:
    """The ``timestamp`` of the line at *start*, or None when it cannot be read there."""
    end = data.find(b"\n", start, limit)
    end = limit if end < 0 else end
    at = data.find(_STAMP, start, end)
    if at < 0:
        return None
    at += len(_STAMP)
    close = data.find(b'"', at, end)
    return None if close < 0 else data[at:close]


def unclosed_lines(path: str) -> Iterator[tuple[int, bytes, bool]]:
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
