"""
A request's headers as sent: case-insensitive, every value kept, size-capped.

`HeaderMap` reads ASGI byte pairs, text pairs or a mapping once, and never
raises for anything in them: garbage, oversize or repeated headers, bytes that
are not UTF-8. What could not be read is kept as a problem for its header, or
as *damaged* for the whole map, so whoever asks can say what was wrong.
`header_label` and `with_article` word those problems; the provider and proxy
modules use them for theirs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeAlias

from geogate._world.countries import describe_value, with_article

__all__ = [
    "MAX_HEADER_LINES",
    "MAX_VALUE_LENGTH",
    "TOKEN_CHARACTERS",
    "HeaderMap",
    "Headers",
    "header_label",
]

#: Request headers: ASGI's raw ``(name, value)`` byte pairs, text pairs, or a
#: mapping from name to value. Names are case-insensitive.
Headers: TypeAlias = Iterable[tuple[str | bytes, str | bytes]] | Mapping[str, str]

#: The longest header value read; a longer one is refused, never cut short.
MAX_VALUE_LENGTH = 1024
#: The most header lines read from one request; past that the headers are damaged.
MAX_HEADER_LINES = 512
#: RFC 9110 ``tchar``: the characters of a header name.
TOKEN_CHARACTERS = frozenset(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)


def header_label(name: str) -> str:
    """Show a header name in a message: as it is when it is a clean name, else quoted."""
    if name and len(name) <= 40 and all(char in TOKEN_CHARACTERS for char in name):  # noqa: PLR2004
        return name
    return describe_value(name)


class HeaderMap:
    """
    A request's headers, read once: case-insensitive, every value kept in order.

    Byte names and values are decoded as latin-1, as ASGI specifies, so no
    byte sequence fails to decode; a value that is not text, or that is
    longer than `MAX_VALUE_LENGTH`, is not kept, and `problem` says so for
    its header. Building a map never raises: when the headers cannot be read
    at all (not a list of pairs, more than `MAX_HEADER_LINES` lines),
    *damaged* says why, and whatever was read before stays readable.

    Attributes:
        damaged: Why the headers could not all be read, or None.
    """

    __slots__ = ("_problems", "_values", "damaged")

    def __init__(self, headers: Headers | None = None) -> None:
        self._values: dict[str, list[str]] = {}
        self._problems: dict[str, str] = {}
        self.damaged: str | None = None
        if headers is None:
            return
        try:
            self._read(headers)
        except Exception as error:  # noqa: BLE001 (any iterable may fail half-way; never raise)
            self.damaged = f"reading them failed ({type(error).__name__})"

    def _read(self, headers: object) -> None:
        if isinstance(headers, str | bytes) or not isinstance(headers, Iterable):
            self.damaged = (
                f"they are {with_article(type(headers).__name__)}, not (name, value) pairs"
            )
            return
        pairs: Iterable[object] = headers.items() if isinstance(headers, Mapping) else headers
        for count, pair in enumerate(pairs):
            if count >= MAX_HEADER_LINES:
                self.damaged = f"there are more than {MAX_HEADER_LINES} header lines"
                return
            if not isinstance(pair, tuple | list) or len(pair) != 2:  # noqa: PLR2004
                self.damaged = (
                    f"one of them is {with_article(type(pair).__name__)}, not a (name, value) pair"
                )
                return
            raw_name, raw_value = pair
            if isinstance(raw_name, bytes):
                raw_name = raw_name.decode("latin-1")
            if not isinstance(raw_name, str):
                self.damaged = f"a header name is {with_article(type(raw_name).__name__)}, not text"
                return
            # Only ASCII letters are folded: str.lower() would turn the Kelvin
            # sign into "k" and let a strange name pass for a known one.
            name = raw_name.lower() if raw_name.isascii() else raw_name
            if isinstance(raw_value, bytes):
                raw_value = raw_value.decode("latin-1")
            if not isinstance(raw_value, str):
                kind = with_article(type(raw_value).__name__)
                self._problems.setdefault(name, f"has a value that is {kind}")
                continue
            if len(raw_value) > MAX_VALUE_LENGTH:
                self._problems.setdefault(name, f"is longer than {MAX_VALUE_LENGTH} characters")
                continue
            self._values.setdefault(name, []).append(raw_value.strip(" \t"))

    def get_all(self, name: str) -> list[str]:
        """Return every usable value of the header *name*, in the order received."""
        return list(self._values.get(name.lower(), ()))

    def problem(self, name: str) -> str | None:
        """
        Say why a value of the header *name* could not be used, or return None.

        The sentence names the header as *name* spells it:
        ``X-Forwarded-For is longer than 1024 characters``.
        """
        problem = self._problems.get(name.lower())
        return None if problem is None else f"{header_label(name)} {problem}"

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.lower()
        return key in self._values or key in self._problems

    def __repr__(self) -> str:
        return f"HeaderMap({sorted(self._values)!r}, damaged={self.damaged!r})"
