"""
Typed reading of positioned nodes, with a diagnostic for every mismatch.

The policy models (`geogate._policy.model`) build themselves from nodes through a
`Reader`, which knows the file, collects diagnostics instead of raising, and
names the place of a value the way a reviewer would
(``features.llama-3.2-vision.rules[0].deny``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from .codes import Code, DiagnosticCode
from .diagnostics import Diagnostic, Position
from .nodes import MappingNode, Node, ScalarNode, SequenceNode

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["ID_PATTERN", "Reader"]

#: Feature and rule ids: letters, digits, '.', '_' and '-', starting with a
#: letter or digit; at most 128 characters.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

_KIND = {ScalarNode: "a scalar", SequenceNode: "a list", MappingNode: "a mapping"}
MAX_TEXT = 4096


def kind_of(node: Node) -> str:
    """Describe a node's kind in words."""
    if isinstance(node, ScalarNode):
        value = node.value
        if isinstance(value, bool):
            return f"the boolean {node.text!r}"
        if value is None:
            return "null"
        if isinstance(value, dt.date):
            return f"the date {node.text!r}"
        if isinstance(value, int | float):
            return f"the number {node.text!r}"
        return f"the string {node.text!r}"
    return _KIND[type(node)]


@attrs.define
class Reader:
    """Reads values from nodes and reports what does not fit."""

    report: Callable[[Diagnostic], None]

    def diagnose(
        self, position: Position, code: DiagnosticCode, message: str, hint: str | None = None
    ) -> None:
        """Report one diagnostic; its severity is *code*'s."""
        self.report(Diagnostic.of(code, position, message, hint))

    def wrong_type(self, node: Node, where: str, expected: str) -> None:
        """Report that *node* is not what *where* needs."""
        if isinstance(node, ScalarNode) and node.broken:
            return
        self.diagnose(
            node.position, Code.WRONG_TYPE, f"{where} must be {expected}, not {kind_of(node)}"
        )

    def mapping(
        self,
        node: Node,
        where: str,
        *,
        required: Iterable[str] = (),
        optional: Iterable[str] = (),
    ) -> MappingNode | None:
        """Check that *node* is a mapping with only the given keys, and the required ones."""
        if not isinstance(node, MappingNode):
            self.wrong_type(node, where, "a mapping")
            return None
        required = tuple(required)
        allowed = (*required, *optional)
        present = {key.text for key, _ in node.entries}
        if present.issubset(allowed) and (not node.complete or present.issuperset(required)):
            return node  # the common case, checked without a loop in Python
        for key, _ in node.entries:
            if key.text not in allowed:
                close = difflib.get_close_matches(key.text, allowed, n=1)
                hint = (
                    f"did you mean {close[0]!r}?"
                    if close
                    else f"allowed keys here: {', '.join(allowed)}"
                )
                self.diagnose(
                    key.position, Code.UNKNOWN_KEY, f"unknown key {key.text!r} in {where}", hint
                )
        for name in required if node.complete else ():
            if name not in present:
                self.diagnose(
                    node.position,
                    Code.MISSING_KEY,
                    f"{where} has no {name!r}",
                    hint=f"add '{name}:'",
                )
        return node

    def sequence(self, node: Node, where: str) -> tuple[Node, ...] | None:
        """Return the items of a list; a lone scalar is an error, not a list of one."""
        if not isinstance(node, SequenceNode):
            self.wrong_type(node, where, "a list")
            return None
        return node.items

    def text(self, node: Node | None, where: str, *, required: bool = False) -> str | None:
        """Return a non-empty string of at most `MAX_TEXT` characters."""
        if node is None:
            return None
        if not isinstance(node, ScalarNode) or not isinstance(node.value, str):
            self.wrong_type(node, where, "a string")
            return None
        if not node.value.strip():
            if required:
                self.diagnose(node.position, Code.EMPTY_VALUE, f"{where} is empty")
            return None
        if len(node.value) > MAX_TEXT:
            self.diagnose(
                node.position,
                Code.TOO_LONG,
                f"{where} is {len(node.value):,} characters long; the limit is {MAX_TEXT:,}",
            )
            return None
        return node.value

    def identifier(self, node: ScalarNode, where: str) -> str | None:
        """Return *node*'s text if it is a valid feature or rule id."""
        if ID_PATTERN.fullmatch(node.text) is None:
            self.diagnose(
                node.position,
                Code.INVALID_ID,
                f"{node.text!r} is not a valid id for {where}",
                hint="use letters, digits, '.', '_' and '-', starting with a letter or digit "
                "(at most 128 characters)",
            )
            return None
        return node.text

    def choice(
        self, node: Node | None, where: str, choices: Iterable[str], code: DiagnosticCode
    ) -> str | None:
        """Return one of *choices* (as written: no YAML booleans), else report *code*."""
        if node is None:
            return None
        choices = tuple(choices)
        if isinstance(node, ScalarNode) and isinstance(node.value, str) and node.value in choices:
            return node.value
        if isinstance(node, ScalarNode) and node.broken:
            return None
        hint = None
        if isinstance(node, ScalarNode) and isinstance(node.value, bool):
            hint = (
                f"YAML reads an unquoted {node.text!r} as a boolean; "
                f"write one of {', '.join(choices)}"
            )
        elif isinstance(node, ScalarNode):
            close = difflib.get_close_matches(node.text.lower(), choices, n=1)
            if close:
                hint = f"did you mean {close[0]!r}?"
        self.diagnose(
            node.position,
            code,
            f"{where} must be one of {', '.join(choices)}; got {kind_of(node)}",
            hint,
        )
        return None

    def date(self, node: Node | None, where: str) -> dt.date | None:
        """Return a calendar date written ``YYYY-MM-DD`` (a YAML date or a string)."""
        if node is None:
            return None
        if isinstance(node, ScalarNode):
            value = node.value
            if isinstance(value, dt.datetime):
                self.diagnose(
                    node.position,
                    Code.INVALID_DATE,
                    f"{where} must be a date without a time; got {node.text!r}",
                    hint="write YYYY-MM-DD; windows start and end on whole days (UTC)",
                )
                return None
            if isinstance(value, dt.date):
                return value
            if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                try:
                    return dt.date.fromisoformat(value)
                except ValueError as exc:
                    self.diagnose(
                        node.position,
                        Code.INVALID_DATE,
                        f"{where} is not a day of the calendar: {value!r} ({exc})",
                        hint="check the month and the day",
                    )
                    return None
            if node.broken:
                return None
        self.diagnose(
            node.position,
            Code.INVALID_DATE,
            f"{where} must be a date written YYYY-MM-DD; got {kind_of(node)}",
        )
        return None
