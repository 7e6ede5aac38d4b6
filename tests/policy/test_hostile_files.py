"""
Adversarial input: crafted policy files.

The corpus in ``tests/data/bad`` pins one diagnostic per ordinary mistake;
these tests cover what an attacker or a broken tool would write instead:
files past the size limit, deep nesting, alias bombs, other encodings, tags
that construct objects, huge lists and strings, absurd dates. Each must give
diagnostics with a position, never a traceback, a hang or a partially loaded
gate. Inputs the fuzzers in ``fuzz/`` found are kept here as regression tests;
run-time garbage is in ``tests/gate/test_garbage_input.py``.
"""

from __future__ import annotations

import datetime as dt
import time
import tracemalloc
from typing import TYPE_CHECKING

import pycountry
import pytest

import geogate._load.loader
from geogate import Gate, PolicyError, check_paths
from geogate._policy.nodes import MAX_DEPTH
from geogate._policy.source import parse_text
from helpers.paths import GOOD_POLICY

if TYPE_CHECKING:
    from pathlib import Path

    from geogate._policy.diagnostics import Diagnostic

FEATURE = "llama-3.2-vision"  # allowed in the US, denied in the EU, unknown: deny
LICENCE = "llama-3.2-vision-license"  # decided on domicile
#: Generous wall-clock bound for work that must not blow up; the real cost is
#: a fraction of this, and a blow-up would take minutes.
BOUND_SECONDS = 20

GOOD = GOOD_POLICY.read_bytes()
RULE = b"""\
features:
  chat:
    default: allow
    rules:
      - id: r
        deny: [FR]
        reason: x
"""


def _load(tmp_path: Path, name: str, data: bytes) -> tuple[Diagnostic, ...]:
    """
    Load *data* as the file *name*, expecting it to be refused.

    Checks what every refusal must have: no policy set, at least one error,
    every diagnostic with a 1-based position in the file, and `Gate.from_path`
    raising PolicyError (so no gate is ever built from part of the file).
    """
    path = tmp_path / name
    path.write_bytes(data)
    policy, diagnostics = check_paths([path])
    assert policy is None
    assert any(d.severity == "error" for d in diagnostics)
    for diagnostic in diagnostics:
        assert diagnostic.position.path.endswith(name)
        assert diagnostic.position.line >= 1
        assert diagnostic.position.column >= 1
        str(diagnostic)
    with pytest.raises(PolicyError):
        Gate.from_path(path)
    return diagnostics


def _codes(diagnostics: tuple[Diagnostic, ...]) -> list[str]:
    return [d.code for d in diagnostics]


# Size


def test_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    """A (sparse) file one byte over MAX_FILE_BYTES gives file-too-large at once."""
    path = tmp_path / "huge.yaml"
    with path.open("wb") as file:
        file.truncate(geogate._load.loader.MAX_FILE_BYTES + 1)
    start = time.perf_counter()

    policy, diagnostics = check_paths([path])

    assert time.perf_counter() - start < BOUND_SECONDS
    assert policy is None
    assert ["file-too-large"] == _codes(diagnostics)
    assert (1, 1) == (diagnostics[0].position.line, diagnostics[0].position.column)
    limit = f"{geogate._load.loader.MAX_FILE_BYTES:,}"
    assert f"policy files may be at most {limit}" in diagnostics[0].message


def test_file_at_the_size_limit_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The limit is inclusive: a file of exactly MAX_FILE_BYTES is read."""
    monkeypatch.setattr(geogate._load.loader, "MAX_FILE_BYTES", len(GOOD))
    (tmp_path / "policy.yaml").write_bytes(GOOD)

    policy, diagnostics = check_paths([tmp_path / "policy.yaml"])

    assert policy is not None
    assert () == diagnostics


# Nesting and aliases


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "block-mappings.yaml",
            "features:\n"
            + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(300))
            + "  " * 301
            + "x\n",
        ),
        (
            "block-sequences.yaml",
            "features:\n" + "".join("  " * i + "- \n" for i in range(300)) + "  " * 300 + "- x\n",
        ),
        ("json-objects.json", '{"features": ' + '{"a": ' * 5000 + "1" + "}" * 5001),
        ("recursive-sequence.yaml", "features: &a [*a]\n"),
        ("recursive-mapping.yaml", "features: &a {chat: *a}\n"),
        (
            "deep-through-aliases.yaml",
            "a: &a [x]\n"
            + "".join(f"a{i}: &a{i} [*{'a' if i == 0 else f'a{i - 1}'}]\n" for i in range(80))
            + "features: *a79\n",
        ),
    ],
)
def test_deep_documents_give_too_deep(name: str, text: str, tmp_path: Path) -> None:
    """Block-style, JSON, recursive and alias-built nesting all give too-deep."""
    diagnostics = _load(tmp_path, name, text.encode())

    assert "too-deep" in _codes(diagnostics)
    assert f"the document nests deeper than {MAX_DEPTH} levels" in str(diagnostics)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "laughs-sequences.yaml",
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n"
                for i in range(9)
            )
            + "features: *j\n",
        ),
        (
            "laughs-pairs.yaml",
            "a0: &a0 [x, x]\n"
            + "".join(f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n" for i in range(1, 60))
            + "features: *a59\n",
        ),
        (
            "laughs-mappings.yaml",
            "a0: &a0 {k: x, l: x}\n"
            + "".join(f"a{i}: &a{i} {{k: *a{i - 1}, l: *a{i - 1}}}\n" for i in range(1, 40))
            + "features: *a39\n",
        ),
    ],
)
def test_alias_bombs_are_bounded_in_time_and_memory(name: str, text: str, tmp_path: Path) -> None:
    """Billion-laughs shapes give too-large (or too-deep) without being expanded."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        diagnostics = _load(tmp_path, name, text.encode())
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert {"too-large", "too-deep"} & set(_codes(diagnostics))
    assert elapsed < BOUND_SECONDS  # about 0.1 s; expanding would never finish
    assert peak < 200 * 1024 * 1024  # a few MB; expanding would exhaust memory


# Encodings


@pytest.mark.parametrize(
    ("name", "data", "where", "message"),
    [
        (
            "latin-1.yaml",
            "features:\n  caf\xe9:\n    default: allow\n".encode("latin-1"),
            (2, 6),
            "the file is not valid UTF-8: byte 0xe9 cannot start or continue a character",
        ),
        (
            "latin-1.json",
            '{"features": {"caf\xe9": {}}}'.encode("latin-1"),
            (1, 19),
            "the file is not valid UTF-8: byte 0xe9 cannot start or continue a character",
        ),
        (
            "surrogate.yaml",
            b"features:\n  chat:\n    default: \xed\xa0\x80\n",
            (3, 14),
            "the file is not valid UTF-8: byte 0xed cannot start or continue a character",
        ),
        (
            "truncated.yaml",
            b"features:\n  chat:\n    default: allow\n# \xe2\x82",
            (4, 3),
            "the file is not valid UTF-8: byte 0xe2 cannot start or continue a character",
        ),
        (
            "utf-16-le.yaml",
            "\ufeff".encode("utf-16-le") + GOOD.decode().encode("utf-16-le"),
            (1, 1),
            "the file is not valid UTF-8: byte 0xff cannot start or continue a character",
        ),
        (
            "utf-16-be.yaml",
            "\ufeff".encode("utf-16-be") + GOOD.decode().encode("utf-16-be"),
            (1, 1),
            "the file is not valid UTF-8: byte 0xfe cannot start or continue a character",
        ),
        (
            "utf-32.json",
            "\ufeff".encode("utf-32-le") + b'{"features": {}}'.decode().encode("utf-32-le"),
            (1, 1),
            "the file is not valid UTF-8: byte 0xff cannot start or continue a character",
        ),
    ],
)
def test_bytes_that_are_not_utf8_give_file_encoding(
    name: str, data: bytes, where: tuple[int, int], message: str, tmp_path: Path
) -> None:
    """Other encodings and broken UTF-8 give file-encoding at the first bad byte."""
    diagnostics = _load(tmp_path, name, data)

    assert ["file-encoding"] == _codes(diagnostics)
    assert where == (diagnostics[0].position.line, diagnostics[0].position.column)
    assert message == diagnostics[0].message
    assert "save the file as UTF-8" == diagnostics[0].hint


@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x7f", "\ufffe", "\ud800"])
def test_forbidden_characters_give_file_encoding(character: str, tmp_path: Path) -> None:
    """Characters YAML forbids (and a lone surrogate) give file-encoding with a position."""
    data = f"features:\n  chat:\n    default: a{character}\n".encode("utf-8", "surrogatepass")

    diagnostics = _load(tmp_path, "character.yaml", data)

    assert ["file-encoding"] == _codes(diagnostics)
    assert (3, 15) == (diagnostics[0].position.line, diagnostics[0].position.column)


# Tabs


@pytest.mark.parametrize(
    ("data", "code", "where"),
    [
        (b"features:\n\tchat:\n    default: allow\n", "yaml-syntax", (2, 1)),
        (b"features:\n  chat:\n\t  default: allow\n", "yaml-syntax", (3, 1)),
        (b"features:\n  chat:\n    default: allow\n    rules:\n\t- id: r\n", "yaml-syntax", (5, 1)),
    ],
)
def test_tab_indentation_gives_a_hint(
    data: bytes, code: str, where: tuple[int, int], tmp_path: Path
) -> None:
    """A tab where indentation belongs says to indent with spaces."""
    diagnostics = _load(tmp_path, "tabs.yaml", data)

    assert [code] == _codes(diagnostics)
    assert where == (diagnostics[0].position.line, diagnostics[0].position.column)
    assert "indent with spaces, not tabs" == diagnostics[0].hint


def test_tab_inside_a_json_string_is_a_json_error(tmp_path: Path) -> None:
    """JSON forbids a raw tab inside a string; the position is the tab's."""
    diagnostics = _load(tmp_path, "tab.json", b'{"features": {"ch\tat": {}}}')

    assert ["json-syntax"] == _codes(diagnostics)
    assert (1, 18) == (diagnostics[0].position.line, diagnostics[0].position.column)


# Duplicate keys


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("top.yaml", "features: {}\njurisdictions: {}\njurisdictions: {}\n", 3),
        ("features.yaml", "features:\n  chat: {default: allow}\n  chat: {default: deny}\n", 3),
        ("quoted.yaml", "features:\n  chat:\n    default: allow\n    'default': deny\n", 4),
        ("rule.yaml", RULE.decode() + "        reason: y\n", 8),
        ("jurisdiction.yaml", RULE.decode() + "jurisdictions:\n  J: [FR]\n  J: [DE]\n", 10),
        ("json-rule.json", ('{"features": {"chat": {"default": "allow", "rules": [\n'
            '  {"id": "r", "deny": ["FR"], "reason": "x",\n'
            '   "reason": "y"}]}}}\n'), 3),
        ("json-top.json", '{"features": {},\n "features": {}}\n', 2),
    ],
)  # fmt: skip
def test_duplicate_keys_at_every_level(name: str, text: str, line: int, tmp_path: Path) -> None:
    """A key written twice is an error wherever it is, in YAML and JSON."""
    diagnostics = _load(tmp_path, name, text.encode())

    duplicates = [d for d in diagnostics if d.code == "duplicate-key"]
    assert [line] == [d.position.line for d in duplicates]


# Huge lists and strings


@pytest.mark.slow
def test_a_hundred_thousand_targets_load_in_bounded_time(tmp_path: Path) -> None:
    """100,000 targets in one rule load (with a warning per repeat) in bounded time."""
    codes = [country.alpha_2 for country in pycountry.countries]
    targets = ", ".join(codes[i % len(codes)] for i in range(100_000))
    path = tmp_path / "huge.yaml"
    path.write_text(RULE.decode().replace("[FR]", f"[{targets}]"), encoding="utf-8")
    start = time.perf_counter()

    policy, diagnostics = check_paths([path])

    assert time.perf_counter() - start < BOUND_SECONDS
    assert policy is not None
    assert {"duplicate-target"} == set(_codes(diagnostics))
    assert 100_000 - len(codes) == len(diagnostics)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("field", "code"),
    [
        ("reason: " + "x" * 5_000_000, "too-long"),
        ("reason: '" + "x" * 5_000_000 + "'", "too-long"),
        ("id: " + "r" * 1_000_000, "invalid-id"),
        ("source: https://example.com/" + "a" * 1_000_000, "too-long"),
    ],
)
def test_very_long_strings_are_refused(field: str, code: str, tmp_path: Path) -> None:
    """Megabyte strings in a field give a diagnostic quickly, not a slow load."""
    key = field.split(":", 1)[0]
    lines = [line for line in RULE.decode().splitlines() if not line.strip().startswith(key)]
    lines.insert(5 if key == "id" else 6, "        " + field if key != "id" else "      - " + field)
    if key == "id":
        lines.remove("      - id: r")
    start = time.perf_counter()

    diagnostics = _load(tmp_path, "long.yaml", ("\n".join(lines) + "\n").encode())

    assert time.perf_counter() - start < BOUND_SECONDS
    assert code in _codes(diagnostics)


def test_a_very_long_key_is_a_syntax_error(tmp_path: Path) -> None:
    """YAML limits implicit keys to 1024 characters: a longer one is a syntax error."""
    diagnostics = _load(tmp_path, "key.yaml", b"features:\n  " + b"k" * 100_000 + b":\n    x: 1\n")

    assert ["yaml-syntax"] == _codes(diagnostics)
    assert 2 == diagnostics[0].position.line


# Dates


def test_extreme_valid_dates_load_and_decide(tmp_path: Path) -> None:
    """Years 0001 and 9999 are dates: they load, and deciding at the edges does not overflow."""
    path = tmp_path / "dates.yaml"
    text = RULE.decode() + "        from: 0001-01-01\n        until: 9999-12-31\n"
    path.write_text(text, encoding="utf-8")

    gate = Gate.from_path(path)

    for at in (dt.date.min, dt.date.max, "0001-01-01", "9999-12-31"):
        assert gate.evaluate("chat", country="FR", at=at).allowed is False
        assert gate.evaluate("chat", country="US", at=at).allowed is True


@pytest.mark.parametrize(
    "value",
    [
        "10000-01-01",
        "0000-01-01",
        "2026-02-30",
        "2026-13-01",
        "2025-01-01T25:99:99Z",
        "9999-12-31T23:59:59-23:59",
        "1e400",
        "!!timestamp x",
        "!!timestamp ''",
        "!!timestamp 2026-02-30",
        "!!int ''",
        "!!bool maybe",
        "!!float ''",
        "[2026-01-01]",
        "{year: 2026}",
    ],
)
def test_absurd_dates_give_a_diagnostic(value: str, tmp_path: Path) -> None:
    """Out-of-range dates, odd timestamps and explicitly tagged junk give diagnostics."""
    diagnostics = _load(tmp_path, "date.yaml", RULE + f"        from: {value}\n".encode())

    assert _codes(diagnostics)
    assert {8} == {d.position.line for d in diagnostics}


@pytest.mark.parametrize(
    "text",
    [
        "!!timestamp x",
        "!!timestamp ''",
        "!!bool x",
        "!!bool ''",
        "!!int ''",
        "!!int '-'",
        "!!float '+'",
    ],
)
def test_regression_tagged_scalars_of_the_wrong_shape(text: str) -> None:
    """
    Regression: PyYAML's constructors raise AttributeError, KeyError or IndexError here.

    Found by hand while writing the tag corpus; `parse_text` now keeps the
    text, as for a date that does not exist, so the field reports it.
    """
    found: list[Diagnostic] = []

    node = parse_text(f"default: {text}\n".encode(), "x.yaml", is_json=False, report=found.append)

    assert [] == found
    assert node is not None


# Tags


OBJECT_TAGS = [
    "!!python/object:os.system",
    "!!python/object/apply:os.system",
    "!!python/object/new:os.system",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!python/tuple",
    "!!python/list",
    "!!python/dict",
    "!!python/str",
    "!!python/bytes",
    "!!binary",
    "!!set",
    "!!omap",
    "!!pairs",
    "!!value",
    "!!yaml",
    "!custom",
    "!<tag:yaml.org,2002:python/object/apply:os.system>",
]


@pytest.mark.parametrize("form", ["scalar", "sequence", "mapping"])
@pytest.mark.parametrize("tag", OBJECT_TAGS)
def test_tags_that_construct_objects_are_refused(tag: str, form: str, tmp_path: Path) -> None:
    """Every object-constructing tag is a yaml-tag error at its position, and runs nothing."""
    marker = tmp_path / "ran"
    value = {
        "scalar": f"'touch {marker}'",
        "sequence": f"['touch {marker}']",
        "mapping": f"{{args: ['touch {marker}']}}",
    }[form]
    text = RULE.decode().replace("reason: x", f"reason: {tag} {value}")

    diagnostics = _load(tmp_path, "tag.yaml", text.encode())

    assert not marker.exists()
    tagged = [d for d in diagnostics if d.code == "yaml-tag"]
    assert 1 == len(tagged)
    assert (7, 17) == (tagged[0].position.line, tagged[0].position.column)
    assert "is not allowed in policy files" in tagged[0].message
