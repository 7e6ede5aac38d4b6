"""
libyaml's events -> geogate nodes, in one pass.

PyYAML's usual way builds a tree of its own nodes (libyaml's composer), which
geogate then walks to build its nodes: two trees, one thrown away. Here the
parse events of PyYAML's libyaml binding are turned into geogate nodes
directly, with PyYAML's tag resolution and constructors for the values, and
the same checks and limits as every builder (`geogate._policy.nodes.NodeBuilder`).
For 10,000 features (12 MB of YAML) that takes half the time.

Anything this does not build the way PyYAML's composer would (a syntax
error, an alias to an anchor not yet defined, a repeated anchor, a second
document, a forbidden tag around an anchor) raises `Fallback`: the file is
then read again by PyYAML's own parser and composer (`geogate._policy.source`),
whose messages and marks the diagnostics are written for. A test builds
every YAML file in the repository both ways and requires equal trees and
equal diagnostics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from .nodes import (
    MAP,
    MAX_DEPTH,
    MAX_NODES,
    SEQ,
    STR,
    MappingNode,
    Node,
    NodeBuilder,
    ScalarNode,
    SequenceNode,
    TooLarge,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from .diagnostics import Diagnostic

__all__ = ["LIBYAML", "Fallback", "compose"]

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

_resolve: Callable[[yaml.SafeLoader, type[yaml.Node], str, object], str]
_resolve = yaml.resolver.Resolver.resolve


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
            return STR
        tag = _RESOLVED.get(value)
        if tag is None:
            tag = _resolve(self, kind, value, implicit)
            if len(value) <= 64 and len(_RESOLVED) < _RESOLVED_MAX:  # noqa: PLR2004
                _RESOLVED[value] = tag
        return tag
    return _resolve(self, kind, value, implicit)


def _libyaml_loader() -> type[yaml.SafeLoader] | None:
    """PyYAML's safe loader on libyaml, when PyYAML was built with it (its wheels are)."""
    base: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)
    if base is None or not _QUICK:
        return base
    return type("_Loader", (base,), {"resolve": _quick_resolve})


#: The loader whose events `compose` reads, or None without libyaml.
LIBYAML = _libyaml_loader()

_new = tuple.__new__
#: PyYAML's events and marks, which its type stubs describe only loosely.
_Event = Any
_Mark = Any
#: An anchored node: the node, the values it counts for, the levels it holds
#: and where it starts.
_Anchor = tuple[Node, int, int, _Mark]


class Fallback(Exception):  # noqa: N818 (control flow: parse_text catches it)
    """Read this document with PyYAML's own parser and composer instead."""


def compose(text: str, path: str, report: Callable[[Diagnostic], None]) -> Node | None:
    """
    Build the nodes of *text*, a single YAML document, from libyaml's events.

    Returns None for an empty document, or after reporting a passed limit.
    Diagnostics go to *report* only when the document was built here.

    Raises:
        Fallback: when PyYAML's own composer must read the document.
    """
    if LIBYAML is None:
        raise Fallback
    found: list[Diagnostic] = []
    loader = LIBYAML(text)
    try:
        root = _EventComposer(path, loader, found.append).document()
    except (yaml.YAMLError, RecursionError) as exc:
        raise Fallback from exc
    finally:
        loader.dispose()
    for diagnostic in found:
        report(diagnostic)
    return root


def _at(mark: _Mark) -> yaml.Node:
    """A stand-in node that starts at *mark*, for the builder's messages."""
    return yaml.Node("", "", mark, mark)


@attrs.define
class _EventComposer(NodeBuilder):
    #: Anchors seen: the anchored node once built (`_Anchor`), its start
    #: while it is being built, or None when it was only read past.
    anchors: dict[str, _Anchor | _Mark] = attrs.Factory(dict)
    #: The deepest level reached so far (for the height of anchored nodes).
    deepest: int = 0

    def document(self) -> Node | None:
        next_event: Callable[[], _Event] = self.loader.get_event
        next_event()  # the stream starts
        if isinstance(next_event(), StreamEndEvent):  # no document at all
            return None
        try:
            root = self._node(next_event(), 0)
        except TooLarge as exc:
            self._drain()
            self.report(exc.diagnostic)
            return None
        next_event()  # the document ends
        if not isinstance(next_event(), StreamEndEvent):
            raise Fallback  # a second document: PyYAML's message names both
        return root

    def _drain(self) -> None:
        """Read the rest of the stream, for the problems PyYAML's composer would see first."""
        next_event: Callable[[], _Event] = self.loader.get_event
        while not isinstance(event := next_event(), StreamEndEvent):
            if isinstance(event, DocumentStartEvent):
                raise Fallback  # a second document
            anchor = getattr(event, "anchor", None)
            if anchor is None:
                continue
            if isinstance(event, AliasEvent):
                if anchor not in self.anchors:
                    raise Fallback  # an undefined alias
            elif anchor in self.anchors:
                raise Fallback  # a repeated anchor
            else:
                self.anchors[anchor] = None

    def _plain(self, event: _Event, depth: int) -> ScalarNode:
        """Count and build an unanchored scalar: most of a policy's nodes."""
        self.visited += 1
        if self.visited > MAX_NODES or depth > MAX_DEPTH:
            self.refuse(event, depth)
        if depth > self.deepest:  # noqa: PLR1730 (max() is a call per node)
            self.deepest = depth
        return self._scalar(event)

    def _node(self, event: _Event, depth: int) -> Node:
        kind = type(event)
        if kind is AliasEvent:
            return self._alias(event, depth)
        if kind is ScalarEvent and event.anchor is None:
            return self._plain(event, depth)
        self.visited += 1
        if self.visited > MAX_NODES or depth > MAX_DEPTH:
            self.refuse(event, depth)
        if depth > self.deepest:  # noqa: PLR1730 (max() is a call per node)
            self.deepest = depth
        anchor = event.anchor
        if anchor is None:
            return self._build(event, depth)
        if anchor in self.anchors:
            raise Fallback  # a repeated anchor: PyYAML's message names both
        self.anchors[anchor] = event.start_mark
        before, deepest = self.visited - 1, self.deepest
        self.deepest = depth
        node = self._build(event, depth)
        self.anchors[anchor] = (node, self.visited - before, self.deepest - depth, event.start_mark)
        self.deepest = max(deepest, self.deepest)
        return node

    def _alias(self, event: _Event, depth: int) -> Node:
        """Return the node an alias names, counting its values again."""
        if event.anchor not in self.anchors:
            raise Fallback  # an undefined alias: PyYAML's message names it
        known = self.anchors[event.anchor]
        if not isinstance(known, tuple):
            # Inside its own anchor: endless nesting, which PyYAML's composer
            # builds and the conversion refuses at the exact level.
            raise Fallback
        node: Node
        node, values, height, mark = known
        self.visited += values
        if self.visited > MAX_NODES or depth + height > MAX_DEPTH:
            self.refuse(_at(mark), depth + height)
        self.deepest = max(self.deepest, depth + height)
        return node

    def _build(self, event: _Event, depth: int) -> Node:
        if isinstance(event, ScalarEvent):
            return self._scalar(event)
        if isinstance(event, SequenceStartEvent):
            if event.tag not in (None, "!", SEQ):
                return self._skip(event)
            return self._sequence(event, depth)
        if isinstance(event, MappingStartEvent):
            if event.tag not in (None, "!", MAP):
                return self._skip(event)
            return self._mapping(event, depth)
        raise Fallback  # pragma: no cover (no other event starts a node)

    def _scalar(self, event: _Event) -> ScalarNode:
        tag, value = event.tag, event.value
        if tag is None or tag == "!":
            resolve: Callable[..., str] = self.loader.resolve
            tag = resolve(yaml.ScalarNode, value, event.implicit)
        if tag == STR:
            mark = event.start_mark
            return _new(ScalarNode, (value, value, not event.style, self.path, mark.line + 1,
                                 mark.column + 1, False))  # fmt: skip
        return self.scalar(yaml.ScalarNode(tag, value, event.start_mark, event.end_mark,
                                           event.style))  # fmt: skip

    def _sequence(self, start: _Event, depth: int) -> SequenceNode:
        next_event: Callable[[], _Event] = self.loader.get_event
        inner = depth + 1
        items: list[Node] = []
        while not isinstance(event := next_event(), SequenceEndEvent):
            items.append(self._node(event, inner))
        mark = start.start_mark
        return _new(SequenceNode, (tuple(items), self.path, mark.line + 1, mark.column + 1))

    def _mapping(self, start: _Event, depth: int) -> MappingNode:
        next_event: Callable[[], _Event] = self.loader.get_event
        inner = depth + 1
        entries: list[tuple[ScalarNode, Node]] = []
        seen: dict[str, ScalarNode] = {}
        complete = True
        while not isinstance(event := next_event(), MappingEndEvent):
            key: ScalarNode | None
            if type(event) is ScalarEvent and event.anchor is None:  # nearly every key
                key, where = self._plain(event, inner), event
            else:
                key, where = self._key(event, inner)
            value = self._node(next_event(), inner)
            if key is not None and not key.broken and key.text not in seen:
                seen[key.text] = key
                entries.append((key, value))
            else:
                complete &= self.add(key, where, value, entries, seen)
        mark = start.start_mark
        return _new(
            MappingNode, (tuple(entries), self.path, mark.line + 1, mark.column + 1, complete)
        )

    def _key(self, event: _Event, depth: int) -> tuple[ScalarNode | None, _Event]:
        """
        Build a key that is not a plain scalar without an anchor.

        Returns the key, or None for one that cannot be a key, and what
        diagnostics about it point at (for an alias, the node it names, as
        PyYAML's composer gives that node as the key).
        """
        if isinstance(event, ScalarEvent):
            node = self._node(event, depth)  # counts it, and keeps its anchor
            return (node if isinstance(node, ScalarNode) else None), event
        if isinstance(event, AliasEvent):
            if event.anchor not in self.anchors:
                raise Fallback  # an undefined alias
            known = self.anchors[event.anchor]
            if not isinstance(known, tuple):
                raise Fallback  # a key inside its own anchor
            mark = known[3]
            if isinstance(known[0], ScalarNode):
                self.visited += 1
                if self.visited > MAX_NODES or depth > MAX_DEPTH:
                    self.refuse(_at(mark), depth)
                return known[0], _at(mark)
            self.complex_key(_at(mark))
            return None, _at(mark)
        if event.anchor is not None:
            raise Fallback  # an anchored key that is not built: PyYAML's composer keeps it
        self.complex_key(event)
        self._skip_contents()
        return None, event

    def _skip(self, start: _Event) -> ScalarNode:
        """Report a forbidden tag on a sequence or mapping, and read past its contents."""
        broken = self.bad_tag(start)
        self._skip_contents()
        return broken

    def _skip_contents(self) -> None:
        """Read past the contents of a sequence or mapping that is not built."""
        next_event: Callable[[], _Event] = self.loader.get_event
        level = 1
        while level:
            event: _Event = next_event()
            if getattr(event, "anchor", None) is not None:
                raise Fallback  # an anchor in what is not built: PyYAML's composer would keep it
            if isinstance(event, SequenceStartEvent | MappingStartEvent):
                level += 1
            elif isinstance(event, SequenceEndEvent | MappingEndEvent):
                level -= 1
