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
from collections.abc import Callable

import attrs
import yaml

from ._diagnostics import Diagnostic, Position

__all__ = ["Mapping", "Node", "Scalar", "Sequence", "parse_text"]

_TAG = "tag:yaml.org,2002:"
_STR = _TAG + "str"
_SCALAR_TAGS = frozenset(
    _TAG + name for name in ("str", "int", "float", "bool", "null", "timestamp")
)

#: Upper bound on the nodes one file may expand to (aliases included): a
#: defence against "billion laughs" documents.
MAX_NODES = 2_000_000
#: Upper bound on nesting: policy files are four or five levels deep.
MAX_DEPTH = 64

ScalarValue = str | int | float | bool | dt.date | None


@attrs.frozen
class Scalar:
    """
    A scalar with its position.

    Attributes:
        value: The value PyYAML's safe constructor gives (``NO`` becomes False).
        text: The characters as written, for fields where YAML's implicit
            typing must not apply (country codes: the "Norway problem").
        plain: Whether the scalar was written without quotes.
        position: Where it starts.
        broken: True for a value that was already reported (a forbidden tag);
            later checks pass over it instead of piling on more diagnostics.
    """

    value: ScalarValue
    text: str
    plain: bool
    position: Position
    broken: bool = False


@attrs.frozen
class Sequence:
    """A sequence of nodes with its position."""

    items: tuple[Node, ...]
    position: Position


@attrs.frozen
class Mapping:
    """
    A mapping with its position; keys are scalars, kept in file order.

    Attributes:
        entries: ``(key, value)`` pairs; keys are unique by their text.
        position: Where the mapping starts.
        complete: False when a key was left out because it was already
            reported (a merge key, a forbidden tag, a list as a key), so that
            a missing key is not reported on top of it.
    """

    entries: tuple[tuple[Scalar, Node], ...]
    position: Position
    complete: bool = True

    def get(self, key: str) -> Node | None:
        """Return the value of *key*, or None."""
        for k, v in self.entries:
            if k.text == key:
                return v
        return None


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
        return None if root is None else _Converter(path, loader, report).convert(root)
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


#: PyYAML's binding to libyaml, when PyYAML was built with it (its wheels are).
_LIBYAML: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)


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


@attrs.define
class _Converter:
    path: str
    loader: yaml.SafeLoader
    report: Callable[[Diagnostic], None]
    visited: int = 0
    #: Converted nodes by the identity of their YAML node, with the number of
    #: values and the levels each holds: an alias is converted once and only
    #: counted again, so an alias bomb is refused in linear time.
    done: dict[int, tuple[Node, int, int]] = attrs.Factory(dict)

    def convert(self, root: yaml.Node) -> Node | None:
        try:
            return self._node(root, 0)[0]
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
        if self.visited > MAX_NODES:
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
        if depth > MAX_DEPTH:
            raise _TooLarge(_too_deep(_position(self.path, node.start_mark)))

    def _node(self, node: yaml.Node, depth: int) -> tuple[Node, int]:
        """Return the converted node and how many levels it holds."""
        known = self.done.get(id(node))
        if known is not None:
            converted, values, height = known
            self._count(node, values, depth + height)
            return converted, height
        self._count(node, 1, depth)
        before = self.visited - 1
        height = 0
        position = _position(self.path, node.start_mark)
        result: Node
        if isinstance(node, yaml.ScalarNode):
            result = self._scalar(node, position)
        elif node.tag not in {_TAG + "seq", _TAG + "map"}:
            result = self._bad_tag(node)
        elif isinstance(node, yaml.SequenceNode):
            items: list[Node] = []
            for item in node.value:
                converted, inner = self._node(item, depth + 1)
                items.append(converted)
                height = max(height, inner + 1)
            result = Sequence(tuple(items), position)
        elif isinstance(node, yaml.MappingNode):
            result, height = self._mapping(node, position, depth)
        else:  # pragma: no cover (PyYAML has no other node kind)
            result = self._bad_tag(node)
        self.done[id(node)] = (result, self.visited - before, height)
        return result, height

    def _broken(self, node: yaml.Node) -> Scalar:
        text = node.value if isinstance(node, yaml.ScalarNode) else ""
        return Scalar(
            None, text, plain=False, position=_position(self.path, node.start_mark), broken=True
        )

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

    def _scalar(self, node: yaml.ScalarNode, position: Position) -> Scalar:
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
        if node.tag == _STR:
            # Strings need no constructor; most scalars in a policy are strings.
            return Scalar(node.value, node.value, not node.style, position)
        try:
            value = self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError, LookupError, AttributeError):
            # Looks like a date but is none (2026-02-30): keep the text, and let
            # the field that wants a date say so, with its name. An explicit
            # tag on text of another shape fails inside PyYAML's constructors
            # (`!!timestamp x`: AttributeError, `!!bool x`: KeyError, `!!int ''`:
            # IndexError); the text is kept the same way.
            value = node.value
        if isinstance(value, float) and math.isnan(value):  # NaN is never a policy value
            value = node.value
        # PyYAML marks a plain scalar with style None, libyaml with "".
        return Scalar(value, node.value, not node.style, position)

    def _mapping(
        self, node: yaml.MappingNode, position: Position, depth: int
    ) -> tuple[Mapping, int]:
        entries: list[tuple[Scalar, Node]] = []
        seen: dict[str, Scalar] = {}
        complete = True
        height = 0
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self._error(
                    key_node,
                    "complex-key",
                    "a mapping key must be a plain string, not a list or a mapping",
                    hint="write the key as a string",
                )
                complete = False
                continue
            self._count(key_node, 1, depth + 1)
            key = self._scalar(key_node, _position(self.path, key_node.start_mark))
            value, inner = self._node(value_node, depth + 1)
            height = max(height, inner + 1)
            if key.broken:
                complete = False
                continue
            first = seen.get(key.text)
            if first is not None:
                self._error(
                    key_node,
                    "duplicate-key",
                    f"duplicate key {key.text!r} (first defined at line {first.position.line})",
                    hint="YAML keeps only the last of duplicate keys; remove one or merge them",
                )
                continue
            seen[key.text] = key
            entries.append((key, value))
        return Mapping(tuple(entries), position, complete=complete), height


class _TooLarge(Exception):  # noqa: N818 (control flow, never leaves this module)
    def __init__(self, diagnostic: Diagnostic) -> None:
        self.diagnostic = diagnostic
