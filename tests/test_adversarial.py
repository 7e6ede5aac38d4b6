"""
Adversarial input: crafted policy files and run-time garbage.

The corpus in ``tests/data/bad`` pins one diagnostic per ordinary mistake;
these tests cover what an attacker or a broken tool would write instead:
files past the size limit, deep nesting, alias bombs, other encodings, tags
that construct objects, huge lists and strings, absurd dates. Each must give
diagnostics with a position, never a traceback, a hang or a partially loaded
gate. At run time every public entry point is given garbage and must deny
(``allowed is False``) or refuse cleanly; none may fail open. Inputs the
fuzzers in ``fuzz/`` found are kept here as regression tests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING

import pycountry
import pytest
from click.testing import CliRunner

import geogate._load.loader
from geogate import Gate, PolicyError, check_paths
from geogate._policy.nodes import MAX_DEPTH
from geogate._policy.source import parse_text
from geogate.asgi import GeogateMiddleware as AsgiMiddleware
from geogate.cli import main
from geogate.wsgi import GeogateMiddleware as WsgiMiddleware

if TYPE_CHECKING:
    from geogate._policy.diagnostics import Diagnostic

HERE = Path(__file__).parent
POLICIES = HERE.parent / "policies"
FEATURE = "llama-3.2-vision"  # allowed in the US, denied in the EU, unknown: deny
LICENCE = "llama-3.2-vision-license"  # decided on domicile
#: Generous wall-clock bound for work that must not blow up; the real cost is
#: a fraction of this, and a blow-up would take minutes.
BOUND_SECONDS = 20

GOOD = (HERE / "data" / "good" / "policy.yaml").read_bytes()
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


# Run-time garbage: the Python API


@pytest.fixture(scope="module")
def gate() -> Gate:
    return Gate.from_path(POLICIES)


GARBAGE_LOCATIONS: list[object] = [
    123,
    1.5,
    True,
    b"US",
    ["US"],
    {"US": 1},
    object(),
    "",
    "US\x00",
    "US\n",
    " US",
    "\x1b[31mUS",
    "\ud800",
    "U\udcffS",
    "U" * 1_000_000,
    "US-CA-XX",
    "XX",
    "T1",
]

GARBAGE_IPS: list[object] = [
    "[2001:db8::1]",
    "[2001:db8::1]:443",
    "81.2.69.1:80",
    "fe80::1%eth0",
    "::1%1",
    "fe80::1%25eth0",
    " 81.2.69.1",
    "81.2.69.1\n",
    "81.2.69.1\x00",
    "\x00",
    "\ud800",
    "1" * 1_000_000,
    "081.2.69.1",
    "81.2.69",
    "0x51.2.69.1",
    12345,
    b"81.2.69.1",
    bytearray(b"81.2.69.1"),
    ["81.2.69.1"],
    None,
]


@pytest.mark.parametrize("value", GARBAGE_LOCATIONS, ids=lambda v: repr(v)[:20])
def test_garbage_country_and_subdivision_deny(gate: Gate, value: object) -> None:
    """A country or subdivision of the wrong type or shape denies; it never allows."""
    for call in (gate.evaluate, gate.is_allowed):
        for field in ("country", "subdivision"):
            result = call(FEATURE, **{field: value})  # type: ignore[arg-type]
            allowed = result if isinstance(result, bool) else result.allowed
            assert allowed is False, (field, value, result)


@pytest.mark.parametrize("value", GARBAGE_LOCATIONS, ids=lambda v: repr(v)[:20])
def test_garbage_domicile_denies(gate: Gate, value: object) -> None:
    """A domicile of the wrong type or shape denies a feature decided on domicile."""
    assert gate.evaluate(LICENCE, domicile="US").allowed is True  # the control
    assert gate.evaluate(LICENCE, domicile=value).allowed is False
    assert gate.is_allowed(LICENCE, domicile=value) is False


@pytest.mark.parametrize("value", GARBAGE_IPS, ids=lambda v: repr(v)[:20])
def test_garbage_ips_deny(gate: Gate, value: object) -> None:
    """Brackets, ports, zone ids, white space, wrong types: the IP path denies."""
    decision = gate.evaluate(FEATURE, ip=value)

    assert decision.allowed is False
    assert gate.is_allowed(FEATURE, ip=value) is False


@pytest.mark.parametrize(
    "feature",
    [None, 123, b"llama-3.2-vision", "llama-3.2-vision\x00", "\ud800", "x" * 1_000_000, ["a"]],
    ids=repr,
)
def test_garbage_feature_ids_deny(gate: Gate, feature: object) -> None:
    """An unknown or mistyped feature id denies with FLAG_NOT_FOUND or INVALID_CONTEXT."""
    decision = gate.evaluate(feature, country="US")  # type: ignore[arg-type]

    assert decision.allowed is False
    assert decision.error_code is not None
    assert gate.is_allowed(feature, country="US") is False  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "at",
    ["9999-99-99", "0000-01-01", "10000-01-01", "\ud800", "", 10**20, -1, 1.5, b"2026-01-01",
     dt.datetime(2026, 1, 1), "2026-01-01T00:00:00", object()],  # noqa: DTZ001 (naive on purpose)
    ids=repr,
)  # fmt: skip
def test_garbage_dates_deny(gate: Gate, at: object) -> None:
    """An unreadable or naive date denies instead of guessing a day."""
    assert gate.evaluate(FEATURE, country="US", at=at).allowed is False
    assert gate.is_allowed(FEATURE, country="US", at=at) is False


def test_the_controls_allow(gate: Gate) -> None:
    """The garbage tests mean something: the same feature is allowed for a clean US request."""
    assert gate.evaluate(FEATURE, country="US").allowed is True
    assert gate.is_allowed(FEATURE, country="us") is True


# Run-time garbage: middleware and CLI


BAD_HEADERS: list[tuple[bytes, bytes]] = [
    (b"cf-ipcountry", b"\xff\xfe"),
    (b"cf-ipcountry", b"U\x00S"),
    (b"cf-ipcountry", b"US\r\nX-Injected: 1"),
    (b"cf-ipcountry", b"\xc3\x28"),
    (b"cf-ipcountry", b"U" * 100_000),
    (b"\xff\xfe", b"US"),
    (b"x-forwarded-for", b"\xed\xa0\x80"),
    (b"x-forwarded-for", b"[2001:db8::1]:443, \xff"),
    (b"x-forwarded-for", b"fe80::1%eth0"),
]


def _asgi_call(gate: Gate, headers: list[tuple[bytes, bytes]], client: object) -> list[object]:
    seen: list[object] = []

    async def app(scope, _receive, send) -> None:
        seen.append(scope["state"]["geogate_location"])
        seen.append(gate.evaluate(FEATURE))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = AsgiMiddleware(
        app, gate=gate, providers=["cloudflare"], trusted_proxies=["10.0.0.0/8"]
    )
    sent: list[object] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    async def send(message: object) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers, "client": client}
    asyncio.run(middleware(scope, receive, send))
    return seen


@pytest.mark.parametrize("header", BAD_HEADERS, ids=repr)
@pytest.mark.parametrize("client", [("10.0.0.2", 4000), ("203.0.113.9", 4000), None, ("\xff", 1)])
def test_asgi_middleware_denies_on_invalid_header_bytes(gate: Gate, header, client) -> None:
    """Raw ASGI headers with invalid UTF-8, injections and odd peers deny, never allow."""
    location, decision = _asgi_call(gate, [header], client)

    assert location.country is None
    assert decision.allowed is False


def test_asgi_middleware_control_allows(gate: Gate) -> None:
    """The control: a clean header from a trusted proxy locates the request and allows."""
    location, decision = _asgi_call(gate, [(b"cf-ipcountry", b"US")], ("10.0.0.2", 4000))

    assert "US" == location.country
    assert decision.allowed is True


@pytest.mark.parametrize(
    "environ",
    [
        {"HTTP_CF_IPCOUNTRY": "\xff\xfe", "REMOTE_ADDR": "10.0.0.2"},
        {"HTTP_CF_IPCOUNTRY": "U\x00S", "REMOTE_ADDR": "10.0.0.2"},
        {"HTTP_CF_IPCOUNTRY": "US", "REMOTE_ADDR": "10.0.0.2:80"},
        {"HTTP_CF_IPCOUNTRY": "US", "REMOTE_ADDR": "[::1]"},
        {"HTTP_CF_IPCOUNTRY": "US", "REMOTE_ADDR": "\ud800"},
        {"HTTP_CF_IPCOUNTRY": "US", "REMOTE_ADDR": None},
        {"HTTP_CF_IPCOUNTRY": "US"},
        {"HTTP_CF_IPCOUNTRY": "US" * 10_000, "REMOTE_ADDR": "10.0.0.2"},
        {"HTTP_X_FORWARDED_FOR": "\xff, 10.0.0.3", "REMOTE_ADDR": "10.0.0.2"},
        {"HTTP_CF_IPCOUNTRY": b"US", "REMOTE_ADDR": "10.0.0.2"},
        {"HTTP_CF_IPCOUNTRY": 7, "REMOTE_ADDR": "10.0.0.2"},
    ],
    ids=repr,
)
def test_wsgi_middleware_denies_on_garbage(gate: Gate, environ: dict[str, object]) -> None:
    """WSGI environ garbage (odd peers, bytes, control characters) denies, never allows."""
    seen: list[object] = []

    def app(_environ, start_response):
        seen.append(gate.evaluate(FEATURE))
        start_response("200 OK", [])
        return [b""]

    middleware = WsgiMiddleware(
        app, gate=gate, providers=["cloudflare"], trusted_proxies=["10.0.0.0/8"]
    )
    base = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "wsgi.url_scheme": "http"}

    list(middleware({**base, **environ}, lambda *_: None))

    assert [False] == [decision.allowed for decision in seen]


@pytest.mark.parametrize(
    "args",
    [
        ["eval", FEATURE, "--country", "U\x01S"],
        ["eval", FEATURE, "--country", "U" * 100_000],
        ["eval", FEATURE, "--ip", "[2001:db8::1]:443"],
        ["eval", FEATURE, "--ip", "fe80::1%eth0"],
        ["eval", FEATURE, "--country", "US", "--at", "99999-01-01"],
        ["eval", FEATURE, "--country", "US", "--at", "\x00"],
        ["eval", "\x00", "--country", "US"],
        ["eval", "x" * 100_000, "--country", "US"],
        ["eval"],
        ["eval", FEATURE, "--format", "\x00"],
        ["\x00"],
        ["--\x00"],
        ["check", "\x00"],
        ["check", "/nonexistent/\x00/x"],
        ["explain", FEATURE, "--country", "\x7f"],
        ["resolve", "--header", "\x00"],
        ["resolve", "--header", "cf-ipcountry: US", "--peer", "[::1]:80"],
    ],
    ids=lambda args: repr(args)[:40],
)
def test_cli_rejects_garbage_without_a_traceback(args: list[str], monkeypatch) -> None:
    """Garbage arguments give a usage error or a denial with a documented exit code."""
    monkeypatch.setenv("GEOGATE_POLICIES", str(POLICIES))

    result = CliRunner().invoke(main, args)

    assert result.exit_code in {0, 1, 2, 3}, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    if args[:2] == ["eval", FEATURE] and result.exit_code == 0:
        assert result.output.startswith("DENIED"), result.output
