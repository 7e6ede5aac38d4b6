"""
The node tree of `geogate._source`: values, the text as written, and 1-based positions.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from geogate import _source
from geogate._diagnostics import Diagnostic, Position
from geogate._source import Mapping, Node, Scalar, Sequence, parse_text

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
            assert isinstance(node, Sequence)
            node = node.items[step]
        else:
            assert isinstance(node, Mapping)
            node = node.get(step)
    assert node is not None
    return node


def test_positions_are_one_based() -> None:
    """Line and column count from 1, as editors show them (PyYAML counts from 0)."""
    root, diagnostics = _parse(POLICY)

    assert diagnostics == []
    assert isinstance(root, Mapping)
    assert root.position == Position("p.yaml", 1, 1)
    assert _get(root, "features", "chat").position == Position("p.yaml", 3, 5)
    rule = _get(root, "features", "chat", "rules", 0)
    assert rule.position == Position("p.yaml", 5, 9)
    assert _get(rule, "deny").position == Position("p.yaml", 6, 15)
    assert _get(rule, "deny", 1).position == Position("p.yaml", 6, 20)
    assert isinstance(rule, Mapping)
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
    assert isinstance(items, Sequence)
    scalars = [item for item in items.items if isinstance(item, Scalar)]
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
    assert isinstance(start, Scalar)
    assert start.value == dt.date(2026, 1, 1)
    assert start.text == "2026-01-01"
    until = _get(rule, "until")
    assert isinstance(until, Scalar)
    assert until.value == "2026-06-30"  # quoted: a string, which a date field also accepts
    note = _get(rule, "note")
    assert isinstance(note, Scalar)
    assert (note.value, note.text) == (1.5, "1.5")


def test_keys_keep_file_order() -> None:
    root, _ = _parse(b"b: 1\na: 2\nc: 3\n")

    assert isinstance(root, Mapping)
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
    assert isinstance(default, Scalar)
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
    assert isinstance(node, Scalar)
    assert node.value == ".nan"


def test_a_tag_gives_a_broken_scalar_and_one_diagnostic() -> None:
    root, diagnostics = _parse(b"a: !!binary aGVsbG8=\nb: ok\n")

    node = _get(root, "a")
    assert isinstance(node, Scalar)
    assert node.broken
    assert [str(d.position) for d in diagnostics] == ["p.yaml:1:4"]
    assert _get(root, "b") == Scalar("ok", "ok", plain=True, path="p.yaml", line=2, column=4)


REPOSITORY = Path(__file__).parent.parent
YAML_FILES = sorted(
    path
    for folder in ("policies", "examples", "tests/data", "docs")
    for path in (REPOSITORY / folder).rglob("*.y*ml")
)
EXTRA_DOCUMENTS = [
    "a: {b: [1, 2.5, true, ~, 2026-01-01, 2026-02-30, NO, 'NO', .nan, 0x1F, '']}\n",
    "a: !!binary aGVsbG8=\nb: !!python/object:os.system x\nc: [!!set {a}]\n",
    "a: 1\na: 2\n[x]: 3\n? {y: 1}\n: 4\n<<: {z: 1}\n",
    "x: !!int ''\ny: !!timestamp x\nz: !!bool x\nw: !!map [a]\nv: !!seq {a: 1}\n",
    "- - - - - [deep]\n- {k: v, k2: [a, b, {c: d}]}\n",
]


def _documents() -> list[tuple[str, str]]:
    files = [(path.relative_to(REPOSITORY).as_posix(), path.read_text("utf-8", "replace"))
             for path in YAML_FILES]  # fmt: skip
    return files + [(f"extra-{i}", text) for i, text in enumerate(EXTRA_DOCUMENTS)]


def _compose(loader_class: type[yaml.SafeLoader], text: str) -> tuple[yaml.SafeLoader, yaml.Node]:
    loader = loader_class(text)
    try:
        return loader, loader.get_single_node()
    finally:
        loader.dispose()


def test_repository_has_yaml_to_compare() -> None:
    assert len(YAML_FILES) > 50


@pytest.mark.parametrize(("name", "text"), _documents(), ids=[n for n, _ in _documents()])
def test_fast_conversion_equals_the_alias_safe_one(name: str, text: str) -> None:
    """
    Documents without anchors take `_Converter._tree`; it must build exactly
    the tree, and report exactly the diagnostics, that the alias-safe
    `_Converter._node` does.
    """
    if _source._LIBYAML is None:
        pytest.skip("PyYAML without libyaml")
    try:
        loader, root = _compose(_source._LIBYAML, text)
    except yaml.YAMLError:
        pytest.skip("not a single valid YAML document (the corpus of bad files has some)")
    if root is None:
        pytest.skip("empty document")
    if _shared_nodes(root):
        pytest.skip("has aliases: parse_text never takes the fast path for it")
    fast: list[Diagnostic] = []
    safe: list[Diagnostic] = []
    fast_tree = _source._Converter(name, loader, fast.append).convert(root, aliases=False)
    safe_tree = _source._Converter(name, loader, safe.append).convert(root, aliases=True)
    assert fast_tree == safe_tree
    assert fast == safe


def _shared_nodes(root: yaml.Node) -> bool:
    """Tell whether a node appears twice in the tree (an alias)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return True
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(item for pair in node.value for item in pair)
    return False


@pytest.mark.parametrize(
    "text", [text for _, text in _documents()], ids=[n for n, _ in _documents()]
)
def test_quick_tag_resolution_equals_pyyaml(text: str) -> None:
    """geogate's libyaml loader resolves every scalar to the tag PyYAML's own loader gives."""
    if _source._LIBYAML is None:
        pytest.skip("PyYAML without libyaml")
    try:
        _, ours = _compose(_source._LIBYAML, text)
        _, theirs = _compose(yaml.SafeLoader, text)
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
    _source._RESOLVED.pop("2031-07-04", None)
    _compose(_source._LIBYAML or yaml.SafeLoader, "a: 2031-07-04\n")
    if _source._LIBYAML is not None:
        assert _source._RESOLVED["2031-07-04"] == "tag:yaml.org,2002:timestamp"


@settings(max_examples=300, deadline=None)
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
