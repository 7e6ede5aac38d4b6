"""The README's promises: the Python example runs, the Quick start has two commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_python_example_runs(monkeypatch, capsys):
    """The README's Python block runs as written, from the repository root."""
    block = re.search(r"```python\n(.*?)\n```", README, flags=re.DOTALL)
    assert block is not None
    monkeypatch.chdir(ROOT)

    exec(compile(block.group(1), "README.md", "exec"), {})  # noqa: S102 (our own README)

    out = capsys.readouterr().out
    assert out.startswith("llama-3.2-vision is denied in FR (France, in the EU) by rule ")


def test_quick_start_has_exactly_two_commands():
    """Quick start: one command runs the audit, one runs the test suite."""
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", section, flags=re.DOTALL)

    assert 2 == len(commands)
    assert commands[0].endswith("geogate audit")
    assert commands[1].endswith("-m pytest")


def _diagnostic_codes() -> list[str]:
    """Every kebab-case code literal in the loader's modules, plus the `choice` ones."""
    found: set[str] = {"invalid-default", "invalid-unknown", "invalid-basis"}
    modules = (
        "_policy/source.py",
        "_policy/fields.py",
        "_policy/model.py",
        "_load/loader.py",
        "_load/analysis.py",
        "_review/lints.py",
        "_policytests/files.py",
        "_policytests/cases.py",
        "_policytests/places.py",
    )
    for name in modules:
        text = (ROOT / "src" / "geogate" / name).read_text(encoding="utf-8")
        found.update(re.findall(r'"([a-z]+(?:-[a-z]+)+)"', text))
    return sorted(found)


@pytest.mark.parametrize("code", _diagnostic_codes())
def test_every_diagnostic_code_is_documented(code):
    """Each diagnostic code has a section in docs/diagnostics.md (STYLE: bad and fixed example)."""
    docs = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    assert f"`{code}`" in docs


def test_fastapi_example_says_what_to_install():
    """geogate[asgi] installs Starlette only; the install line names what else the FastAPI
    example imports, and a server to run it, both from an index and from a checkout."""
    block = re.search(r"```python\n(from typing import Annotated\n.*?)\n```", README, re.DOTALL)
    assert block is not None
    lines = re.findall(r"^(?:from|import) (\S+)", block[1], flags=re.MULTILINE)
    imported = {name.split(".")[0] for name in lines}

    assert {"fastapi", "geogate", "typing"} == imported
    assert "`pip install 'geogate[asgi]' fastapi uvicorn`" in README
    assert "`pip install -e '.[asgi]' fastapi uvicorn`" in README


def test_install_lines_naming_extras_say_both_ways():
    """Every `pip install 'geogate[...]'` is followed by its form for a checkout."""
    for extra in re.findall(r"pip install 'geogate\[(\w+)\]'", README):
        assert f"pip install -e '.[{extra}]" in README, extra
