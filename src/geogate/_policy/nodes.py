"""
The nodes a policy file becomes, and the checks every way of building them shares.

A node is a scalar, a sequence or a mapping that remembers its file, line
and column, so that each later diagnostic can point at the exact place.
Only the plain YAML types are accepted: strings, integers, floats, booleans,
null, dates, sequences and mappings. Any other tag, a merge key, a duplicate
key or a key that is not a plain scalar is a diagnostic, never an object.
`NodeBuilder` holds those checks and the limits on size and depth; the two
builders are `geogate._policy.compose` (libyaml's events, the usual way) and
`geogate._policy.source` (PyYAML's own composer, for everything else).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Any, NamedTuple, NoReturn, Protocol

import attrs
import yaml

from .codes import Code, DiagnosticCode
from .diagnostics import Diagnostic, Position

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MappingNode",
    "Node",
    "NodeBuilder",
    "ScalarNode",
    "ScalarValue",
    "SequenceNode",
    "TooLarge",
    "too_deep",
]

TAG = "tag:yaml.org,2002:"
STR = TAG + "str"
SEQ = TAG + "seq"
MAP = TAG + "map"
_TIMESTAMP = TAG + "timestamp"
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SCALAR_TAGS = frozenset(
    TAG + name for name in ("str", "int", "float", "bool", "null", "timestamp")
)

#: Upper bound on the nodes one file may expand to (aliases included): a
#: defence against "billion laughs" documents.
MAX_NODES = 2_000_000
#: Upper bound on nesting: policy files are four or five levels deep.
MAX_DEPTH = 64

ScalarValue = str | int | float | bool | dt.date | None


class ScalarNode(NamedTuple):
    """
    A scalar with its place in a file.

    Nodes are named tuples rather than attrs classes: a large policy set has
    hundreds of thousands of them, and a tuple is built by one C call. Their
    `Position` is made only when asked for (by a diagnostic or a model).

    Attributes:
        value: The value PyYAML's safe constructor gives (``NO`` becomes False).
        text: The characters as written, for fields where YAML's implicit
            typing must not apply (country codes: the "Norway problem").
        plain: Whether the scalar was written without quotes.
        path: The file.
        line: 1-based line where it starts.
        column: 1-based column where it starts.
        broken: True for a value that was already reported (a forbidden tag);
            later checks pass over it instead of piling on more diagnostics.
    """

    value: ScalarValue
    text: str
    plain: bool
    path: str
    line: int
    column: int
    broken: bool = False

    @property
    def position(self) -> Position:
        """Where the scalar starts."""
        return Position(self.path, self.line, self.column)


class SequenceNode(NamedTuple):
    """A sequence of nodes with its place in a file (see `ScalarNode`)."""

    items: tuple[Node, ...]
    path: str
    line: int
    column: int

    @property
    def position(self) -> Position:
        """Where the sequence starts."""
        return Position(self.path, self.line, self.column)


class MappingNode(NamedTuple):
    """
    A mapping with its place in a file; keys are scalars, kept in file order.

    Attributes:
        entries: ``(key, value)`` pairs; keys are unique by their text.
        path: The file.
        line: 1-based line where it starts.
        column: 1-based column where it starts.
        complete: False when a key was left out because it was already
            reported (a merge key, a forbidden tag, a list as a key), so that
            a missing key is not reported on top of it.
    """

    entries: tuple[tuple[ScalarNode, Node], ...]
    path: str
    line: int
    column: int
    complete: bool = True

    @property
    def position(self) -> Position:
        """Where the mapping starts."""
        return Position(self.path, self.line, self.column)

    def get(self, key: str) -> Node | None:
        """Return the value of *key*, or None."""
        for k, v in self.entries:
            if k.text == key:
                return v
        return None

    def fields(self) -> dict[str, Node]:
        """Return the values by key, for reading several of them."""
        return {k.text: v for k, v in self.entries}


Node = ScalarNode | SequenceNode | MappingNode


def position_of(path: str, mark: yaml.Mark | None) -> Position:
    if mark is None:
        return Position(path)
    return Position(path, mark.line + 1, mark.column + 1)


def too_deep(position: Position) -> Diagnostic:
    return Diagnostic.of(
        position=position,
        code=Code.TOO_DEEP,
        message=f"the document nests deeper than {MAX_DEPTH} levels",
        hint="policy files need only a few levels: features, rules, targets",
    )


class Marked(Protocol):
    """Where a YAML node or parse event starts (PyYAML's nodes and events have it)."""

    @property
    def start_mark(self) -> Any: ...  # noqa: ANN401 (PyYAML's marks are loosely typed)


class Tagged(Marked, Protocol):
    """A YAML node or parse event with its tag."""

    @property
    def tag(self) -> Any: ...  # noqa: ANN401 (a str, or None on some events)


@attrs.define
class NodeBuilder:
    """
    What building nodes from YAML needs, whatever the source.

    The checks on tags, keys and scalar values, and the count of values
    against the limits.

    Methods take PyYAML nodes (or stand-ins with a tag, a value, a style and a
    start mark) and report through *report*.
    """

    path: str
    loader: yaml.SafeLoader
    report: Callable[[Diagnostic], None]
    visited: int = 0

    def error(
        self, node: Marked, code: DiagnosticCode, message: str, hint: str | None = None
    ) -> None:
        self.report(Diagnostic.of(code, position_of(self.path, node.start_mark), message, hint))

    def count(self, node: Marked, values: int, depth: int) -> None:
        self.visited += values
        if self.visited > MAX_NODES or depth > MAX_DEPTH:
            self.refuse(node, depth)

    def refuse(self, node: Marked, depth: int) -> NoReturn:
        if depth > MAX_DEPTH:
            raise TooLarge(too_deep(position_of(self.path, node.start_mark)))
        raise TooLarge(
            Diagnostic.of(
                position=position_of(self.path, node.start_mark),
                code=Code.TOO_LARGE,
                message=f"the document expands to more than {MAX_NODES:,} values "
                "(aliases included)",
                hint="split the policies into several files, and do not nest aliases",
            )
        )

    def key(self, node: yaml.Node, depth: int) -> ScalarNode | None:
        """Return a mapping key as a scalar, or None for one that cannot be a key."""
        if not isinstance(node, yaml.ScalarNode):
            self.complex_key(node)
            return None
        self.count(node, 1, depth)
        return self.scalar(node)

    def complex_key(self, node: Marked) -> None:
        """Report a list or a mapping used as a key."""
        self.error(
            node,
            Code.COMPLEX_KEY,
            "a mapping key must be a plain string, not a list or a mapping",
            hint="write the key as a string",
        )

    def add(
        self,
        key: ScalarNode | None,
        key_node: Marked,
        value: Node,
        entries: list[tuple[ScalarNode, Node]],
        seen: dict[str, ScalarNode],
    ) -> bool:
        """Add one entry unless its key is broken or repeated; False if a key was left out."""
        if key is None or key.broken:
            return False
        first = seen.get(key.text)
        if first is not None:
            self.error(
                key_node,
                Code.DUPLICATE_KEY,
                f"duplicate key {key.text!r} (first defined at line {first.line})",
                hint="YAML keeps only the last of duplicate keys; remove one or merge them",
            )
            return True
        seen[key.text] = key
        entries.append((key, value))
        return True

    def broken(self, node: Tagged) -> ScalarNode:
        text = node.value if isinstance(node, yaml.ScalarNode) else ""
        mark = node.start_mark
        return ScalarNode(None, text, plain=False, path=self.path, line=mark.line + 1,
                      column=mark.column + 1, broken=True)  # fmt: skip

    def bad_tag(self, node: Tagged) -> ScalarNode:
        tag = node.tag
        if tag.startswith(TAG):  # as written: `!!binary`, not `tag:yaml.org,2002:binary`
            tag = "!!" + tag.removeprefix(TAG)
        self.error(
            node,
            Code.YAML_TAG,
            f"the YAML tag {tag!r} is not allowed in policy files",
            hint="use plain strings, numbers, dates, lists and mappings; "
            "tags that construct objects are never loaded",
        )
        return self.broken(node)

    def scalar(self, node: yaml.ScalarNode) -> ScalarNode:
        if node.tag not in _SCALAR_TAGS:
            if node.tag != TAG + "merge":
                return self.bad_tag(node)
            self.error(
                node,
                Code.YAML_MERGE_KEY,
                "merge keys ('<<') are not supported in policy files",
                hint="write the keys out, so a reviewer sees every value",
            )
            return self.broken(node)
        value: ScalarValue
        if node.tag == STR:
            value = node.value
        elif node.tag == _TIMESTAMP and _DAY.fullmatch(node.value):
            # Most non-strings in a policy are days; PyYAML's constructor gives
            # the same date (and fails on the same impossible ones), slowly.
            try:
                value = dt.date.fromisoformat(node.value)
            except ValueError:
                value = node.value
        else:
            try:
                value = self.loader.construct_object(node, deep=True)
            except (yaml.YAMLError, ValueError, OverflowError, LookupError, AttributeError):
                # Looks like a date but is none (2026-02-30): keep the text, and
                # let the field that wants a date say so, with its name. An
                # explicit tag on text of another shape fails inside PyYAML's
                # constructors (`!!timestamp x`: AttributeError, `!!bool x`:
                # KeyError, `!!int ''`: IndexError); the text is kept the same way.
                value = node.value
            if isinstance(value, float) and math.isnan(value):  # NaN is never a policy value
                value = node.value
        mark = node.start_mark
        # PyYAML marks a plain scalar with style None, libyaml with "".
        return ScalarNode(
            value, node.value, not node.style, self.path, mark.line + 1, mark.column + 1
        )


class TooLarge(Exception):  # noqa: N818 (control flow: caught by the builders)
    """The document passed a limit; *diagnostic* says which and where."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        self.diagnostic = diagnostic
