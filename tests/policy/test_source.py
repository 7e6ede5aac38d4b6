"""
The node tree of `geogate._policy.source`: values, the text as written, and 1-based positions.
"""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from hypothesis import event, given
from hypothesis import strategies as st

from geogate._policy import compose as _compose_module
from geogate._policy import source as _source
from geogate._policy.diagnostics import Diagnostic, Position
from geogate._policy.nodes import MappingNode, Node, ScalarNode, SequenceNode
from geogate._policy.source import parse_text
from helpers.paths import ROOT
from helpers.properties import examples

POLICY = b"""\
features:
  chat:
    default: allow
    rules:
      - id: nordics
        deny: [NO, 'SE', "DK", no]
        from: 2026-01-01
        until: "2026-06-30"
        note: 1.5
"""


def _parse(data: bytes, *, is_json: bool = False) -> tuple[Node | None, list[Diagnostic]]:
    diagnostics: list[Diagnostic] = []
    root = parse_text(data, "p.yaml", is_json=is_json, report=diagnostics.append)
    return root, diagnostics


def _get(node: Node | None, *path: str | int) -> Node:
    for step in path:
        if isinstance(step, int):
            assert isinstance(node, SequenceNode)
            node = node.items[step]
        else:
            assert isinstance(node, MappingNode)
            node = node.get(step)
    assert node is not None
    return node


def test_positions_are_one_based() -> None:
    """Line and column count from 1, as editors show them (PyYAML counts from 0)."""
    root, diagnostics = _parse(POLICY)

    assert diagnostics == []
    assert isinstance(root, MappingNode)
    assert root.position == Position("p.yaml", 1, 1)
    assert _get(root, "features", "chat").position == Position("p.yaml", 3, 5)
    rule = _get(root, "features", "chat", "rules", 0)
    assert rule.position == Position("p.yaml", 5, 9)
    assert _get(rule, "deny").position == Position("p.yaml", 6, 15)
    assert _get(rule, "deny", 1).position == Position("p.yaml", 6, 20)
    assert isinstance(rule, MappingNode)
    assert [str(key.position) for key, _ in rule.entries] == [
        "p.yaml:5:9",
        "p.yaml:6:9",
        "p.yaml:7:9",
        "p.yaml:8:9",
        "p.yaml:9:9",
    ]


def test_plain_scalars_keep_their_text() -> None:
    """`NO` is YAML's False, but the text as written stays available: Norway."""
    root, _ = _parse(POLICY)

    items = _get(root, "features", "chat", "rules", 0, "deny")
    assert isinstance(items, SequenceNode)
    scalars = [item for item in items.items if isinstance(item, ScalarNode)]
    assert [(s.value, s.text, s.plain) for s in scalars] == [
        (False, "NO", True),
        ("SE", "SE", False),
        ("DK", "DK", False),
        (False, "no", True),
    ]


def test_values_are_typed() -> None:
    root, _ = _parse(POLICY)

    rule = _get(root, "features", "chat", "rules", 0)
    start = _get(rule, "from")
    assert isinstance(start, ScalarNode)
    assert start.value == dt.date(2026, 1, 1)
    assert start.text == "2026-01-01"
    until = _get(rule, "until")
    assert isinstance(until, ScalarNode)
    assert until.value == "2026-06-30"  # quoted: a string, which a date field also accepts
    note = _get(rule, "note")
    assert isinstance(note, ScalarNode)
    assert (note.value, note.text) == (1.5, "1.5")


def test_keys_keep_file_order() -> None:
    root, _ = _parse(b"b: 1\na: 2\nc: 3\n")

    assert isinstance(root, MappingNode)
    assert [k.text for k, _ in root.entries] == ["b", "a", "c"]
    assert root.get("missing") is None


def test_json_positions_match_the_file() -> None:
    """JSON goes through the same composer; a tab counts as one column, as in JSON's own errors."""
    root, diagnostics = _parse(
        b'{\n\t"features": {\n\t\t"chat": {"default": "allow"}\n\t}\n}\n', is_json=True
    )

    assert diagnostics == []
    chat = _get(root, "features", "chat")
    assert chat.position == Position("p.yaml", 3, 11)
    default = _get(chat, "default")
    assert isinstance(default, ScalarNode)
    assert (default.value, default.plain) == ("allow", False)


def test_bom_is_ignored() -> None:
    root, diagnostics = _parse(b"\xef\xbb\xbfa: 1\n")

    assert diagnostics == []
    assert _get(root, "a").position == Position("p.yaml", 1, 4)


@pytest.mark.parametrize("data", [b"", b"   \n", b"# only a comment\n", b"\xef\xbb\xbf"])
def test_empty_documents_give_none_without_diagnostics(data: bytes) -> None:
    assert _parse(data) == (None, [])


def test_aliases_give_equal_nodes() -> None:
    """An alias stands for its anchor's value, positioned at the anchor."""
    root, diagnostics = _parse(b"a: &x [FR, DE]\nb: *x\n")

    assert diagnostics == []
    assert _get(root, "a") == _get(root, "b")


def test_nan_is_kept_as_text() -> None:
    """NaN is never a policy value: it stays the string as written, so checks name it."""
    root, _ = _parse(b"a: .nan\n")

    node = _get(root, "a")
    assert isinstance(node, ScalarNode)
    assert node.value == ".nan"


def test_a_tag_gives_a_broken_scalar_and_one_diagnostic() -> None:
    root, diagnostics = _parse(b"a: !!binary aGVsbG8=\nb: ok\n")

    node = _get(root, "a")
    assert isinstance(node, ScalarNode)
    assert node.broken
    assert [str(d.position) for d in diagnostics] == ["p.yaml:1:4"]
    assert _get(root, "b") == ScalarNode("ok", "ok", plain=True, path="p.yaml", line=2, column=4)


YAML_FILES = sorted(
    path
    for folder in ("policies", "examples", "tests/data", "docs")
    for path in (ROOT / folder).rglob("*.y*ml")
)
EXTRA_DOCUMENTS = [
    "a: {b: [1, 2.5, true, ~, 2026-01-01, 2026-02-30, NO, 'NO', .nan, 0x1F, '']}\n",
    "a: !!binary aGVsbG8=\nb: !!python/object:os.system x\nc: [!!set {a}]\n",
    "a: 1\na: 2\n[x]: 3\n? {y: 1}\n: 4\n<<: {z: 1}\n",
    "x: !!int ''\ny: !!timestamp x\nz: !!bool x\nw: !!map [a]\nv: !!seq {a: 1}\n",
    "- - - - - [deep]\n- {k: v, k2: [a, b, {c: d}]}\n",
    # Anchors and aliases, which the events build with their own bookkeeping.
    "a: &x {b: 1, c: [d, e]}\nc: *x\nd: [*x, *x]\ne: &y [1, *x]\nf: *y\n",
    "&k key: 1\nother: *k\n",
    "a: &s str\n*s : 2\nstr: 3\n",
    "a: &m {b: 1}\n*m : c\n",
    "? [1, 2]\n: x\n? {a: b}\n: y\nz: 1\n",
    "a: !!set {x, y}\nb: !!omap [a: 1]\nc: &t !!set {z}\nd: *t\n",
    "features: &a [*a]\n",
    "features: &a {chat: *a}\n",
    "a: &d " + "[" * 36 + "x" + "]" * 36 + "\nb: [[*d, *d]]\n",
    "a: &d " + "[" * 62 + "x" + "]" * 62 + "\nb: [*d]\n",
    "x: &a1 1\ny: &a1 2\n",
    "x: *nowhere\n",
    "a: 1\n---\nb: 2\n",
    "a: [&e 1, *e, *e]\nb: {&f k: *f}\n",
    "a: " + "[" * 70 + "]" * 70 + "\n---\nb: 1\n",
    "a: " + "[" * 70 + "]" * 70 + "\nb: *undefined\n",
    # Found by the fuzzer: where libyaml's and PyYAML's parsers differ.
    "a:\n  ! : foo allow\n",
    " - ch" + "\t" * 17 + " chath - atat\n",
]


def _documents() -> list[tuple[str, str]]:
    files = [(path.relative_to(ROOT).as_posix(), path.read_text("utf-8", "replace"))
             for path in YAML_FILES]  # fmt: skip
    return files + [(f"extra-{i}", text) for i, text in enumerate(EXTRA_DOCUMENTS)]


#: The loader every document was read with before the events: PyYAML's safe
#: loader on libyaml, unchanged.
REFERENCE: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(loader_class: type[yaml.SafeLoader], text: str) -> tuple[yaml.SafeLoader, yaml.Node]:
    loader = loader_class(text)
    try:
        return loader, loader.get_single_node()
    finally:
        loader.dispose()


def test_repository_has_yaml_to_compare() -> None:
    assert len(YAML_FILES) > 50


@pytest.mark.parametrize(("name", "text"), _documents(), ids=[n for n, _ in _documents()])
def test_events_build_what_pyyaml_composer_and_conversion_build(name: str, text: str) -> None:
    """
    `geogate._policy.compose` builds nodes straight from libyaml's events; for every
    document it builds, the tree and the diagnostics must be exactly those of
    libyaml's own composer (unchanged PyYAML) followed by the alias-safe
    conversion in `geogate._policy.source`, the way every document was read before.
    (The two parsers, libyaml's and PyYAML's, differ on a few inputs; that is
    not this test's business.)
    """
    if _compose_module.LIBYAML is None:
        pytest.skip("PyYAML without libyaml")
    fast: list[Diagnostic] = []
    try:
        fast_tree = _compose_module.compose(text, name, fast.append)
    except _compose_module.Fallback:
        event_built = False
    else:
        event_built = True
    try:
        loader, root = _compose(REFERENCE, text)
    except yaml.composer.ComposerError:
        assert not event_built, "PyYAML's composer refuses it, so the events must fall back"
        return
    except yaml.YAMLError:
        assert not event_built, "both parsers refuse the corpus's bad files"
        return
    if not event_built:
        pytest.skip("falls back to PyYAML's composer (repeated anchor, ...)")
    safe: list[Diagnostic] = []
    converter = _source._TreeConverter(name, loader, safe.append)
    safe_tree = None if root is None else converter.convert(root)
    assert fast_tree == safe_tree
    assert fast == safe


@pytest.mark.parametrize(
    "text", [text for _, text in _documents()], ids=[n for n, _ in _documents()]
)
def test_quick_tag_resolution_equals_pyyaml(text: str) -> None:
    """geogate's libyaml loader resolves every scalar to the tag PyYAML's unchanged one gives."""
    if _compose_module.LIBYAML is None:
        pytest.skip("PyYAML without libyaml")
    try:
        _, ours = _compose(_compose_module.LIBYAML, text)
        _, theirs = _compose(REFERENCE, text)
    except yaml.YAMLError:
        pytest.skip("not a single valid YAML document (the corpus of bad files has some)")
    assert _tags(ours) == _tags(theirs)


def _tags(node: yaml.Node | None) -> list[tuple[str, object]]:
    """Every node's tag, each node once (aliases are not expanded)."""
    found: list[tuple[str, object]] = []
    stack = [node] if node is not None else []
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.ScalarNode):
            found.append((current.tag, current.value))
        elif isinstance(current, yaml.SequenceNode):
            found.append((current.tag, None))
            stack.extend(current.value)
        elif isinstance(current, yaml.MappingNode):
            found.append((current.tag, None))
            for key, value in current.value:
                stack.extend((key, value))
    return found


def test_quick_tag_resolution_remembers_typed_plain_scalars() -> None:
    """A plain scalar that starts like a typed value is resolved once, then remembered."""
    _compose_module._RESOLVED.pop("2031-07-04", None)
    _compose(_compose_module.LIBYAML or yaml.SafeLoader, "a: 2031-07-04\n")
    if _compose_module.LIBYAML is not None:
        assert _compose_module._RESOLVED["2031-07-04"] == "tag:yaml.org,2002:timestamp"


@examples(300)
@given(
    year=st.integers(0, 9999),
    month=st.integers(0, 19),
    day=st.integers(0, 39),
    quoted=st.booleans(),
)
def test_days_read_as_pyyaml_reads_them(year: int, month: int, day: int, quoted: bool) -> None:
    """A day is the date PyYAML's constructor gives; an impossible one stays text."""
    text = f"{year:04d}-{month:02d}-{day:02d}"
    written = f"'{text}'" if quoted else text
    root, diagnostics = _parse(f"a: {written}\n".encode())
    try:
        expected = yaml.safe_load(f"a: {written}\n")["a"]
    except (ValueError, yaml.YAMLError):
        expected = text
    assert diagnostics == []
    assert _get(root, "a").value == expected  # type: ignore[union-attr]


# Random documents: the events build exactly what PyYAML's composer and the conversion build.

_SCALARS = st.sampled_from(
    ["a", "NO", "'NO'", "1", "1.5", "~", "null", "2026-01-01", "2026-02-30", "''", '"x y"',
     "!!str 1", "!!binary aGk=", "!custom x", "<<", ".nan", "true", "0x1F", "! 12"]
)  # fmt: skip


@st.composite
def _yaml_documents(draw: st.DrawFn) -> str:
    """Flow-style YAML with random anchors, aliases (defined or not), tags and keys."""
    anchors: list[str] = []

    def node(depth: int) -> str:
        choice = draw(st.integers(0, 9 if depth < 4 else 5))
        prefix = ""
        if draw(st.integers(0, 7)) == 0:
            name = f"a{draw(st.integers(0, 3))}"
            anchors.append(name)
            prefix = f"&{name} "
        if choice <= 3:
            return prefix + draw(_SCALARS)
        if choice == 4:
            pool = anchors or ["undefined"]
            return f"*{draw(st.sampled_from(pool))}"
        if choice == 5:
            return prefix + "[]"
        if choice <= 7:
            tag = draw(st.sampled_from(["", "", "!!seq ", "!!set ", "!!map "]))
            items = [node(depth + 1) for _ in range(draw(st.integers(1, 3)))]
            return f"{prefix}{tag}[{', '.join(items)}]"
        tag = draw(st.sampled_from(["", "", "", "!!map ", "!!omap "]))
        pairs = []
        for _ in range(draw(st.integers(1, 4))):
            key = node(depth + 1) if draw(st.integers(0, 5)) == 0 else draw(st.sampled_from(
                ["k", "k", "j", "'k'", "1", "<<", "? [x]"]))  # fmt: skip
            pairs.append(f"{key} : {node(depth + 1)}")
        return f"{prefix}{tag}{{{', '.join(pairs)}}}"

    return "root: " + node(0) + "\n"


@examples(400)
@given(text=_yaml_documents())
def test_events_and_pyyaml_composer_agree_on_random_documents(text: str) -> None:
    """Whatever the anchors, aliases, tags and keys: equal trees and diagnostics, or a fallback."""
    if _compose_module.LIBYAML is None:
        pytest.skip("PyYAML without libyaml")
    fast: list[Diagnostic] = []
    try:
        fast_tree = _compose_module.compose(text, "p", fast.append)
    except _compose_module.Fallback:
        event("fallback")
        return
    event("built, with diagnostics" if fast else "built")
    loader, root = _compose(REFERENCE, text)  # events built it, so libyaml's composer must too
    safe: list[Diagnostic] = []
    converter = _source._TreeConverter("p", loader, safe.append)
    assert fast_tree == (None if root is None else converter.convert(root))
    assert fast == safe
