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
        "_source.py",
        "_fields.py",
        "_policy.py",
        "_loader.py",
        "_analysis.py",
        "_lints.py",
        "_testfiles.py",
        "_testcases.py",
        "_testplaces.py",
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
