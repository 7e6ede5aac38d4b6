"""
Policy files -> trees of nodes that remember where they came from.

YAML is read through PyYAML's *safe* machinery only (never a loader that
constructs objects): usually as libyaml's events, built straight into nodes
(`geogate._policy.compose`); a document that needs more than that, and every
document with a syntax error, is read by PyYAML's own parser and composer,
whose messages and marks the syntax diagnostics are written for, and then
converted here. JSON is checked with the standard library's parser first, for
its exact error positions, and then read the same way, since JSON is YAML as
far as PyYAML is concerned. The nodes and their checks: `geogate._policy.nodes`.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import attrs
import yaml

from .codes import Code
from .compose import Fallback, compose
from .diagnostics import Diagnostic, Position
from .nodes import (
    MAP,
    SEQ,
    MappingNode,
    Node,
    NodeBuilder,
    ScalarNode,
    SequenceNode,
    TooLarge,
    position_of,
    too_deep,
)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["hidden_line_breaks", "parse_text"]


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
            Diagnostic.of(
                position=Position(path, line, column),
                code=Code.FILE_ENCODING,
                message=f"the file is not valid UTF-8: byte {data[exc.start]:#04x} "
                f"cannot start or continue a character",
                hint="save the file as UTF-8",
            )
        )
        return None


#: Line breaks YAML reads that git diff, grep and review tools do not show as
#: one: a carriage return with no line feed after it, NEL, LINE SEPARATOR and
#: PARAGRAPH SEPARATOR. LF and CRLF are the line breaks a reviewer sees.
_HIDDEN_BREAK = re.compile("\r(?!\n)|[\x85\u2028\u2029]")
_BREAK_NAMES = {
    "\r": "a carriage return (U+000D) with no line feed after it",
    "\x85": "a NEXT LINE character (U+0085)",
    "\u2028": "a LINE SEPARATOR (U+2028)",
    "\u2029": "a PARAGRAPH SEPARATOR (U+2029)",
}


def hidden_line_breaks(text: str, path: str) -> list[Diagnostic]:
    r"""
    Return an ``invisible-line-break`` error for each line break a reviewer cannot see.

    YAML ends a line (and so a comment) at any of them, so text that a diff
    shows inside a comment or a string can be a key of its own:
    ``deny: [EU]  # reviewed\r  until: 2000-01-01`` expires the rule. Lines and
    columns are counted as an editor counts them, by line feeds.
    """
    found: list[Diagnostic] = []
    for match in _HIDDEN_BREAK.finditer(text):
        start = match.start()
        line_start = text.rfind("\n", 0, start) + 1
        after = text[match.end() : match.end() + 200].split("\n", 1)[0]
        after = _HIDDEN_BREAK.split(after, maxsplit=1)[0].strip()
        then = f"; YAML reads what follows it as a new line: {after[:60]!r}" if after else ""
        found.append(
            Diagnostic.of(
                position=Position(path, text.count("\n", 0, start) + 1, start - line_start + 1),
                code=Code.INVISIBLE_LINE_BREAK,
                message=f"the file holds {_BREAK_NAMES[match.group()]}, a line break to YAML "
                f"that git diff, grep and review tools do not show{then}",
                hint="save the file with LF (or CRLF) line endings, and remove the character; "
                "in a JSON or quoted string, write it as an escape (\\u2028)",
            )
        )
    return found


#: What Python's ``json`` says at the end of an object or array after a comma,
#: before 3.13 (which says "Illegal trailing comma before end of ...").
_AFTER_COMMA = {
    ("Expecting property name enclosed in double quotes", "}"): "object",
    ("Expecting value", "]"): "array",
}


def _json_error(text: str, error: json.JSONDecodeError) -> tuple[int, int, str]:
    """
    Return the line, column and message of a JSON syntax error, the same on every Python.

    A trailing comma is reported at the comma, as Python 3.13 does, on every version.
    """
    at = error.pos
    closing = text[at] if at < len(text) else ""
    kind = _AFTER_COMMA.get((error.msg, closing))
    if kind is not None:
        comma = len(text[:at].rstrip()) - 1
        if comma >= 0 and text[comma] == ",":
            line = text.count("\n", 0, comma) + 1
            column = comma - text.rfind("\n", 0, comma)
            return line, column, f"Illegal trailing comma before end of {kind}"
    return error.lineno, error.colno, error.msg


def parse_text(
    data: bytes, path: str, *, is_json: bool, report: Callable[[Diagnostic], None]
) -> Node | None:
    """
    Parse one policy file's bytes into a node tree.

    Returns None when the file cannot be read as a document; the reasons went
    to *report*. An empty document gives None without a diagnostic from here.
    A line break a reviewer cannot see (`hidden_line_breaks`) is an error.
    """
    text = _decode(data, path, report)
    if text is None:
        return None
    hidden = hidden_line_breaks(text, path)
    if hidden:
        for diagnostic in hidden:
            report(diagnostic)
        return None
    if is_json:
        try:
            json.loads(text, object_pairs_hook=_discard)
        except json.JSONDecodeError as exc:
            line, column, message = _json_error(text, exc)
            report(
                Diagnostic.of(
                    position=Position(path, line, column),
                    code=Code.JSON_SYNTAX,
                    message=f"invalid JSON: {message}",
                )
            )
            return None
        except RecursionError:
            report(too_deep(Position(path)))
            return None
        # JSON forbids raw tabs inside strings, so every tab is white space and
        # one space keeps every column where it was.
        text = text.replace("\t", " ")
    try:
        return compose(text, path, report)
    except Fallback:
        pass
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
            Diagnostic.of(
                position=position_of(path, mark),
                code=Code.YAML_SYNTAX,
                message=f"invalid YAML: {problem}",
                hint=_syntax_hint(problem),
            )
        )
        return None
    except yaml.YAMLError as exc:
        report(
            Diagnostic.of(
                position=Position(path),
                code=Code.YAML_SYNTAX,
                message=f"invalid YAML: {exc}",
            )
        )
        return None
    except RecursionError:
        report(too_deep(Position(path)))
        return None
    finally:
        loader.dispose()
    if root is None:
        return None
    return _TreeConverter(path, loader, report).convert(root)


def _discard(_pairs: object) -> None:
    """Build nothing: the standard parser only checks the syntax."""


def _unprintable(text: str, exc: yaml.reader.ReaderError, path: str) -> Diagnostic:
    before = text[: exc.position]
    line = before.count("\n") + 1
    column = exc.position - (before.rfind("\n") + 1) + 1
    code = exc.character if isinstance(exc.character, int) else ord(text[exc.position])
    return Diagnostic.of(
        position=Position(path, line, column),
        code=Code.FILE_ENCODING,
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


@attrs.define
class _TreeConverter(NodeBuilder):
    """
    PyYAML's node tree -> geogate nodes.

    For the documents libyaml's events are not built from (see
    `geogate._policy.compose`). An aliased node is converted once and only counted
    again, so an alias bomb is refused in linear time.
    """

    #: Converted nodes by the identity of their YAML node, with the number of
    #: values and the levels each holds.
    done: dict[int, tuple[Node, int, int]] = attrs.Factory(dict)

    def key(self, node: yaml.Node, depth: int) -> ScalarNode | None:
        """A key, converted once like any node (an alias may name it: ``&k k: *k``)."""
        known = self.done.get(id(node))
        if known is not None and isinstance(known[0], ScalarNode):
            self.count(node, 1, depth)
            return known[0]
        key = super().key(node, depth)
        if key is not None:
            self.done[id(node)] = (key, 1, 0)
        return key

    def convert(self, root: yaml.Node) -> Node | None:
        try:
            return self._node(root, 0)[0]
        except TooLarge as exc:
            self.report(exc.diagnostic)
            return None

    def _node(self, node: yaml.Node, depth: int) -> tuple[Node, int]:
        """Convert any node; return it and how many levels it holds."""
        known = self.done.get(id(node))
        if known is not None:
            converted, values, height = known
            self.count(node, values, depth + height)
            return converted, height
        self.count(node, 1, depth)
        before = self.visited - 1
        height = 0
        mark = node.start_mark
        result: Node
        if isinstance(node, yaml.ScalarNode):
            result = self.scalar(node)
        elif isinstance(node, yaml.SequenceNode) and node.tag == SEQ:
            items: list[Node] = []
            for item in node.value:
                converted, inner = self._node(item, depth + 1)
                items.append(converted)
                height = max(height, inner + 1)
            result = SequenceNode(tuple(items), self.path, mark.line + 1, mark.column + 1)
        elif isinstance(node, yaml.MappingNode) and node.tag == MAP:
            entries: list[tuple[ScalarNode, Node]] = []
            seen: dict[str, ScalarNode] = {}
            complete = True
            for key_node, value_node in node.value:
                key = self.key(key_node, depth + 1)
                value, inner = self._node(value_node, depth + 1)
                height = max(height, inner + 1)
                complete &= self.add(key, key_node, value, entries, seen)
            result = MappingNode(
                tuple(entries), self.path, mark.line + 1, mark.column + 1, complete
            )
        else:
            result = self.bad_tag(node)
        self.done[id(node)] = (result, self.visited - before, height)
        return result, height
