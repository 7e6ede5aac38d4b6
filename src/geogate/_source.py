"""
Policy files -> trees of nodes that remember where they came from.

YAML goes through PyYAML's *safe* composer (never a loader that constructs
objects); JSON is checked with the standard library's parser first, for its
exact error positions, and then composed the same way, since JSON is YAML as
far as PyYAML is concerned. Every value keeps its file, line and column, so
each later diagnostic can point at the exact place.

Only the plain YAML types are accepted: strings, integers, floats, booleans,
null, dates, sequences and mappings. Any other tag, a merge key, a duplicate key
or a key that is not a plain scalar is a diagnostic, never an object.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable
from typing import NamedTuple, NoReturn

import attrs
import yaml

from ._diagnostics import Diagnostic, Position

__all__ = ["Mapping", "Node", "Scalar", "Sequence", "parse_text"]

_TAG = "tag:yaml.org,2002:"
_STR = _TAG + "str"
_TIMESTAMP = _TAG + "timestamp"
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SCALAR_TAGS = frozenset(
    _TAG + name for name in ("str", "int", "float", "bool", "null", "timestamp")
)

#: Upper bound on the nodes one file may expand to (aliases included): a
#: defence against "billion laughs" documents.
MAX_NODES = 2_000_000
#: Upper bound on nesting: policy files are four or five levels deep.
MAX_DEPTH = 64

ScalarValue = str | int | float | bool | dt.date | None


class Scalar(NamedTuple):
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


class Sequence(NamedTuple):
    """A sequence of nodes with its place in a file (see `Scalar`)."""

    items: tuple[Node, ...]
    path: str
    line: int
    column: int

    @property
    def position(self) -> Position:
        """Where the sequence starts."""
        return Position(self.path, self.line, self.column)


class Mapping(NamedTuple):
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

    entries: tuple[tuple[Scalar, Node], ...]
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


Node = Scalar | Sequence | Mapping


def _position(path: str, mark: yaml.Mark | None) -> Position:
    if mark is None:
        return Position(path)
    return Position(path, mark.line + 1, mark.column + 1)


def _decode(data: bytes, path: str, report: Callable[[Diagnostic], None]) -> str | None:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        report(
            Diagnostic(
                position=Position(path, line, column),
                severity="error",
                code="file-encoding",
                message=f"the file is not valid UTF-8: byte {data[exc.start]:#04x} "
                f"cannot start or continue a character",
                hint="save the file as UTF-8",
            )
        )
        return None


def parse_text(
    data: bytes, path: str, *, is_json: bool, report: Callable[[Diagnostic], None]
) -> Node | None:
    """
    Parse one policy file's bytes into a node tree.

    Returns None when the file cannot be read as a document; the reasons went
    to *report*. An empty document gives None without a diagnostic from here.
    """
    text = _decode(data, path, report)
    if text is None:
        return None
    if is_json:
        try:
            json.loads(text, object_pairs_hook=_discard)
        except json.JSONDecodeError as exc:
            report(
                Diagnostic(
                    position=Position(path, exc.lineno, exc.colno),
                    severity="error",
                    code="json-syntax",
                    message=f"invalid JSON: {exc.msg}",
                )
            )
            return None
        except RecursionError:
            report(_too_deep(Position(path)))
            return None
        # JSON forbids raw tabs inside strings, so every tab is white space and
        # one space keeps every column where it was.
        text = text.replace("\t", " ")
    fast = _compose_with_libyaml(text)
    if fast is not None:
        loader, root = fast
        if root is None:
            return None
        return _Converter(path, loader, report).convert(root, aliases="&" in text)
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        report(_unprintable(text, exc, path))
        return None
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "unreadable YAML"
        if problem.startswith("but ") and exc.context:
            # "expected a single document in the stream, but found another document"
            problem = f"{exc.context}, {problem}"
        elif exc.context and exc.context_mark and mark and exc.context_mark.line != mark.line:
            # Where the unfinished thing started is where to look (an open quote).
            start = exc.context_mark
            problem += f" ({exc.context} that starts at line {start.line + 1}, "
            problem += f"column {start.column + 1})"
        report(
            Diagnostic(
                position=_position(path, mark),
                severity="error",
                code="yaml-syntax",
                message=f"invalid YAML: {problem}",
                hint=_syntax_hint(problem),
            )
        )
        return None
    except yaml.YAMLError as exc:
        report(
            Diagnostic(
                position=Position(path),
                severity="error",
                code="yaml-syntax",
                message=f"invalid YAML: {exc}",
            )
        )
        return None
    except RecursionError:
        report(_too_deep(Position(path)))
        return None
    finally:
        loader.dispose()
    if root is None:
        return None
    return _Converter(path, loader, report).convert(root)


#: First characters of the plain scalars that YAML's implicit typing may turn
#: into something other than a string (digits, signs, ``~``, ``y``, ``N``...).
_TYPED_FIRST = frozenset(yaml.SafeLoader.yaml_implicit_resolvers)
#: The shortcut in `_quick_resolve` holds while PyYAML has no implicit
#: resolver for any first character and no path resolvers (true of every
#: PyYAML release; checked here so a future one cannot change tags silently).
_QUICK = None not in _TYPED_FIRST and not yaml.SafeLoader.yaml_path_resolvers


#: Tags of plain scalars that start like a typed value (``from``, ``FR``,
#: dates), by their text; bounded, and short texts only.
_RESOLVED: dict[str, str] = {}
_RESOLVED_MAX = 4096


def _quick_resolve(
    self: yaml.SafeLoader, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]
) -> str:
    """
    PyYAML's tag resolution, with the common cases answered first.

    A quoted scalar, or a plain one whose first character starts no implicit
    type, is a string: PyYAML would try path resolvers (there are none) and
    reach the same answer more slowly. A plain scalar's tag depends only on
    its text, so the answers for the others are remembered. Everything else
    is PyYAML's own code.
    """
    if kind is yaml.ScalarNode:
        if not implicit[0] or value[:1] not in _TYPED_FIRST:
            return _STR
        tag = _RESOLVED.get(value)
        if tag is None:
            tag = _resolve(self, kind, value, implicit)
            if len(value) <= 64 and len(_RESOLVED) < _RESOLVED_MAX:  # noqa: PLR2004
                _RESOLVED[value] = tag
        return tag
    return _resolve(self, kind, value, implicit)


_resolve: Callable[[yaml.SafeLoader, type[yaml.Node], str, object], str]
_resolve = yaml.resolver.Resolver.resolve


def _libyaml_loader() -> type[yaml.SafeLoader] | None:
    """PyYAML's safe loader on libyaml, when PyYAML was built with it (its wheels are)."""
    base: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)
    if base is None or not _QUICK:
        return base
    return type("_Loader", (base,), {"resolve": _quick_resolve})


_LIBYAML = _libyaml_loader()


def _compose_with_libyaml(text: str) -> tuple[yaml.SafeLoader, yaml.Node | None] | None:
    """
    Compose with libyaml, about twice as fast as PyYAML's own parser.

    Returns None when libyaml is missing or finds a problem: the file is then
    parsed again by PyYAML's parser, whose messages and marks the diagnostics
    are written for. The nodes, tags and marks of a valid document are the same.
    """
    if _LIBYAML is None:
        return None
    loader = _LIBYAML(text)
    try:
        return loader, loader.get_single_node()
    except (yaml.YAMLError, RecursionError):
        return None
    finally:
        loader.dispose()


def _discard(_pairs: object) -> None:
    """Build nothing: the standard parser only checks the syntax."""


def _unprintable(text: str, exc: yaml.reader.ReaderError, path: str) -> Diagnostic:
    before = text[: exc.position]
    line = before.count("\n") + 1
    column = exc.position - (before.rfind("\n") + 1) + 1
    code = exc.character if isinstance(exc.character, int) else ord(text[exc.position])
    return Diagnostic(
        position=Position(path, line, column),
        severity="error",
        code="file-encoding",
        message=f"the file holds the character U+{code:04X} ({chr(code)!r}), "
        "which YAML does not allow",
        hint="remove it: control characters are invisible in a review",
    )


def _syntax_hint(problem: str) -> str | None:
    if "'\\t'" in problem:
        return "indent with spaces, not tabs"
    if "single document" in problem:
        return "put one document in each file (no '---' between documents)"
    return None


def _too_deep(position: Position) -> Diagnostic:
    return Diagnostic(
        position=position,
        severity="error",
        code="too-deep",
        message=f"the document nests deeper than {MAX_DEPTH} levels",
        hint="policy files need only a few levels: features, rules, targets",
    )


_new = tuple.__new__
_ScalarNode = yaml.ScalarNode
_SEQ = _TAG + "seq"
_MAP = _TAG + "map"


@attrs.define
class _Converter:
    """
    YAML nodes -> geogate nodes, with the limits on size and depth.

    A document with no anchor (no ``&`` anywhere in its text, so no alias
    either) is converted by `_tree`, which builds each node directly. Any
    other document goes through `_node`, which converts an aliased node once
    and only counts it again, so an alias bomb is refused in linear time. The
    two give the same tree for the same document (tested on every policy file
    in the repository).
    """

    path: str
    loader: yaml.SafeLoader
    report: Callable[[Diagnostic], None]
    visited: int = 0
    #: Converted nodes by the identity of their YAML node, with the number of
    #: values and the levels each holds (`_node` only).
    done: dict[int, tuple[Node, int, int]] = attrs.Factory(dict)

    def convert(self, root: yaml.Node, *, aliases: bool = True) -> Node | None:
        try:
            return self._node(root, 0)[0] if aliases else self._tree(root, 0)
        except _TooLarge as exc:
            self.report(exc.diagnostic)
            return None

    def _error(self, node: yaml.Node, code: str, message: str, hint: str | None = None) -> None:
        self.report(
            Diagnostic(
                position=_position(self.path, node.start_mark),
                severity="error",
                code=code,
                message=message,
                hint=hint,
            )
        )

    def _count(self, node: yaml.Node, values: int, depth: int) -> None:
        self.visited += values
        if self.visited > MAX_NODES or depth > MAX_DEPTH:
            self._refuse(node, depth)

    def _refuse(self, node: yaml.Node, depth: int) -> NoReturn:
        if depth > MAX_DEPTH:
            raise _TooLarge(_too_deep(_position(self.path, node.start_mark)))
        raise _TooLarge(
            Diagnostic(
                position=_position(self.path, node.start_mark),
                severity="error",
                code="too-large",
                message=f"the document expands to more than {MAX_NODES:,} values "
                "(aliases included)",
                hint="split the policies into several files, and do not nest aliases",
            )
        )

    def _tree(self, node: yaml.Node, depth: int) -> Node:
        """
        Convert a node of a document without aliases.

        Plain strings, most of a policy's values and nearly all its keys, are
        built in the loops here without a call each; everything else goes
        through the same methods as in `_node`. Counting is the same as there:
        one per node and one per key.
        """
        self.visited += 1
        if self.visited > MAX_NODES or depth > MAX_DEPTH:
            self._refuse(node, depth)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        path = self.path
        mark = node.start_mark
        inner = depth + 1
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP:
            entries: list[tuple[Scalar, Node]] = []
            seen: dict[str, Scalar] = {}
            complete = True
            for key_node, value_node in node.value:
                key: Scalar | None
                self.visited += 2
                if self.visited > MAX_NODES or inner > MAX_DEPTH:
                    self.visited -= 2  # count them where the reference path does
                    self._count(key_node, 1, inner)
                    self._count(value_node, 1, inner)
                if key_node.__class__ is _ScalarNode and key_node.tag == _STR:
                    text, at = key_node.value, key_node.start_mark
                    key = _new(Scalar, (text, text, not key_node.style, path, at.line + 1,
                                        at.column + 1, False))  # fmt: skip
                else:
                    self.visited -= 1  # counted by `_key`
                    key = self._key(key_node, inner)
                value: Node
                if value_node.__class__ is _ScalarNode and value_node.tag == _STR:
                    text, at = value_node.value, value_node.start_mark
                    value = _new(Scalar, (text, text, not value_node.style, path, at.line + 1,
                                          at.column + 1, False))  # fmt: skip
                else:
                    self.visited -= 1  # counted by `_tree`
                    value = self._tree(value_node, inner)
                if key is not None and not key.broken and key.text not in seen:
                    seen[key.text] = key
                    entries.append((key, value))
                else:
                    complete &= self._add(key, key_node, value, entries, seen)
            return _new(Mapping, (tuple(entries), path, mark.line + 1, mark.column + 1, complete))
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
            items = tuple([self._tree(item, inner) for item in node.value])
            return _new(Sequence, (items, path, mark.line + 1, mark.column + 1))
        return self._bad_tag(node)

    def _node(self, node: yaml.Node, depth: int) -> tuple[Node, int]:
        """Convert any node; return it and how many levels it holds."""
        known = self.done.get(id(node))
        if known is not None:
            converted, values, height = known
            self._count(node, values, depth + height)
            return converted, height
        self._count(node, 1, depth)
        before = self.visited - 1
        height = 0
        mark = node.start_mark
        result: Node
        if isinstance(node, yaml.ScalarNode):
            result = self._scalar(node)
        elif isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
            items: list[Node] = []
            for item in node.value:
                converted, inner = self._node(item, depth + 1)
                items.append(converted)
                height = max(height, inner + 1)
            result = Sequence(tuple(items), self.path, mark.line + 1, mark.column + 1)
        elif isinstance(node, yaml.MappingNode) and node.tag == _MAP:
            entries: list[tuple[Scalar, Node]] = []
            seen: dict[str, Scalar] = {}
            complete = True
            for key_node, value_node in node.value:
                key = self._key(key_node, depth + 1)
                value, inner = self._node(value_node, depth + 1)
                height = max(height, inner + 1)
                complete &= self._add(key, key_node, value, entries, seen)
            result = Mapping(tuple(entries), self.path, mark.line + 1, mark.column + 1, complete)
        else:
            result = self._bad_tag(node)
        self.done[id(node)] = (result, self.visited - before, height)
        return result, height

    def _key(self, node: yaml.Node, depth: int) -> Scalar | None:
        """Return a mapping key as a scalar, or None for one that cannot be a key."""
        if not isinstance(node, yaml.ScalarNode):
            self._error(
                node,
                "complex-key",
                "a mapping key must be a plain string, not a list or a mapping",
                hint="write the key as a string",
            )
            return None
        self._count(node, 1, depth)
        return self._scalar(node)

    def _add(
        self,
        key: Scalar | None,
        key_node: yaml.Node,
        value: Node,
        entries: list[tuple[Scalar, Node]],
        seen: dict[str, Scalar],
    ) -> bool:
        """Add one entry unless its key is broken or repeated; False if a key was left out."""
        if key is None or key.broken:
            return False
        first = seen.get(key.text)
        if first is not None:
            self._error(
                key_node,
                "duplicate-key",
                f"duplicate key {key.text!r} (first defined at line {first.line})",
                hint="YAML keeps only the last of duplicate keys; remove one or merge them",
            )
            return True
        seen[key.text] = key
        entries.append((key, value))
        return True

    def _broken(self, node: yaml.Node) -> Scalar:
        text = node.value if isinstance(node, yaml.ScalarNode) else ""
        mark = node.start_mark
        return Scalar(None, text, plain=False, path=self.path, line=mark.line + 1,
                      column=mark.column + 1, broken=True)  # fmt: skip

    def _bad_tag(self, node: yaml.Node) -> Scalar:
        tag = node.tag
        if tag.startswith(_TAG):  # as written: `!!binary`, not `tag:yaml.org,2002:binary`
            tag = "!!" + tag.removeprefix(_TAG)
        self._error(
            node,
            "yaml-tag",
            f"the YAML tag {tag!r} is not allowed in policy files",
            hint="use plain strings, numbers, dates, lists and mappings; "
            "tags that construct objects are never loaded",
        )
        return self._broken(node)

    def _scalar(self, node: yaml.ScalarNode) -> Scalar:
        if node.tag not in _SCALAR_TAGS:
            if node.tag != _TAG + "merge":
                return self._bad_tag(node)
            self._error(
                node,
                "yaml-merge-key",
                "merge keys ('<<') are not supported in policy files",
                hint="write the keys out, so a reviewer sees every value",
            )
            return self._broken(node)
        value: ScalarValue
        if node.tag == _STR:
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
        return Scalar(value, node.value, not node.style, self.path, mark.line + 1, mark.column + 1)


class _TooLarge(Exception):  # noqa: N818 (control flow, never leaves this module)
    def __init__(self, diagnostic: Diagnostic) -> None:
        self.diagnostic = diagnostic
