"""
Fuzz the policy loader: bytes -> nodes (as YAML and as JSON) -> a policy set or diagnostics.

The only acceptable outcomes are a node tree, a policy set or diagnostics:
any exception is a crash. Every document that libyaml's events build
(`geogate._policy.compose`) must also be built, with equal nodes and diagnostics,
by libyaml's own composer (PyYAML's unchanged safe loader, which read every
file before the events) and geogate's conversion (`geogate._policy.source`): a
difference is a crash too.
Every input is parsed as YAML and as JSON; inputs
that parse to a mapping, and one in eight of the others, also go through a
full `geogate.check_paths` on a temporary file, so that every later stage
(fields, countries, jurisdictions, rules, analysis) sees fuzzed trees too.

Usage::

    python fuzz/fuzz_policy_loader.py [-runs=N] [-max_total_time=S]
"""

from __future__ import annotations

import tempfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import atheris
import yaml
from _common import run

with atheris.instrument_imports():
    from geogate import check_paths
    from geogate._policy import compose as _compose
    from geogate._policy import source as _source
    from geogate._policy.nodes import MappingNode
    from geogate._policy.source import parse_text

if TYPE_CHECKING:
    from geogate._policy.diagnostics import Diagnostic

#: PyYAML's safe loader on libyaml, unchanged: the reference for the events.
_REFERENCE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FOLDER = Path(tempfile.mkdtemp(prefix="geogate-fuzz-policy-"))
_EVERY = 8


def _check(diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]) -> None:
    for diagnostic in diagnostics:
        text = str(diagnostic)  # rendering must not fail either
        position = diagnostic.position
        if position.line < 1:
            msg = f"a diagnostic has line {position.line}: {text}"
            raise AssertionError(msg)
        if position.column < 1:
            msg = f"a diagnostic has column {position.column}: {text}"
            raise AssertionError(msg)


def _differential(data: bytes) -> None:
    """Events and libyaml's composer must agree on every document the events build."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    fast: list[Diagnostic] = []
    try:
        built = _compose.compose(text, "fuzz", fast.append)
    except _compose.Fallback:
        return
    loader = _REFERENCE(text)
    try:
        root = loader.get_single_node()
    except yaml.composer.ComposerError as exc:
        msg = f"PyYAML's composer refuses {text!r} ({exc}), but the events built it"
        raise AssertionError(msg) from exc
    finally:
        loader.dispose()
    safe: list[Diagnostic] = []
    converter = _source._TreeConverter("fuzz", loader, safe.append)  # noqa: SLF001
    expected = None if root is None else converter.convert(root)
    if built != expected or fast != safe:
        msg = f"events and PyYAML's composer disagree on {text!r}: {fast} vs {safe}"
        raise AssertionError(msg)


def test_one_input(data: bytes) -> None:
    """Parse *data* as YAML and as JSON, and sometimes load it as a policy set."""
    _differential(data)
    tree = None
    for is_json in (False, True):
        found: list[Diagnostic] = []
        node = parse_text(data, "fuzz", is_json=is_json, report=found.append)
        _check(found)
        if not is_json:
            tree = node
    if not isinstance(tree, MappingNode) and zlib.crc32(data) % _EVERY:
        return
    suffix = ".json" if zlib.crc32(data) % 2 else ".yaml"
    path = _FOLDER / f"policy{suffix}"
    path.write_bytes(data)
    policy, diagnostics = check_paths([path])
    _check(diagnostics)
    errors = [d for d in diagnostics if d.severity == "error"]
    if (policy is None) != bool(errors):
        msg = f"policy set {policy!r} with {len(errors)} errors: {[str(e) for e in errors]}"
        raise AssertionError(msg)


if __name__ == "__main__":
    run("policy_loader", test_one_input)
