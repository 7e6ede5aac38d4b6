"""
The README's promises: it stays short, the Quick start has two commands, the links reach pages.

Its Python and console examples run through Sybil, as the pages' do (conftest.py).
"""

from __future__ import annotations

import re

import pytest

from geogate._policy.codes import CODES, Code, DiagnosticCode
from helpers.paths import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
#: What the README may weigh, in bytes: the reference lives in docs/.
MAX_README_BYTES = 10_000


def _quick_start(text: str) -> list[str]:
    """The ```sh commands of a page's Quick start section, as .ci/run extracts them."""
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, flags=re.DOTALL)


def test_readme_is_short():
    """The README says what geogate is and where to read on; the reference is in docs/."""
    size = len((ROOT / "README.md").read_bytes())

    assert size <= MAX_README_BYTES, f"README.md is {size} bytes; move reference to docs/"


def test_quick_start_has_exactly_two_commands():
    """Quick start: one command runs the audit, one runs the test suite."""
    commands = _quick_start(README)

    assert 2 == len(commands)
    assert commands[0].endswith("geogate audit")
    assert commands[1].endswith("-m pytest")


def test_getting_started_shows_the_quick_start_ci_runs():
    """docs/getting-started.md repeats the README's two commands exactly, so both are run."""
    page = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")

    assert _quick_start(README) == _quick_start(page)


def test_every_relative_link_reaches_a_file():
    """A link from the README (docs/xxx.md, SECURITY.md, ...) reaches a file on GitHub too."""
    text = re.sub(r"```.*?```", "", README, flags=re.DOTALL)
    targets = re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", text)
    relative = [target for target in targets if not re.match(r"[a-z]+:|#", target)]

    assert relative
    assert [] == [target for target in relative if not (ROOT / target.split("#")[0]).exists()]


def test_readme_links_every_page_of_the_site():
    """Each page of docs/ is one link away from the README."""
    pages = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")} - {"docs/index.md"}
    linked = set(re.findall(r"\]\((docs/[^)#\s]+\.md)", README))

    assert set() == pages - linked


DIAGNOSTICS = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: ``shadowed-rule-lint`` for "`shadowed-rule` (lint)"."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.lower()).replace(" ", "-")


def _documented() -> dict[str, list[tuple[str, str]]]:
    """Code -> (anchor, severity) of each of its sections: the severity is the first word."""
    found: dict[str, list[tuple[str, str]]] = {}
    sections = re.finditer(r"^### (`([a-z-]+)`[^\n]*)\n+(\w+)", DIAGNOSTICS, flags=re.MULTILINE)
    for heading, code, first in (match.groups() for match in sections):
        found.setdefault(code, []).append((_anchor(heading), first.lower()))
    return found


@pytest.mark.parametrize("entry", sorted(CODES.values(), key=lambda e: e.code), ids=str)
def test_every_diagnostic_code_is_documented(entry):
    """Each registered code has one section in docs/diagnostics.md, under its anchor and level."""
    assert [(entry.anchor, entry.severity)] == _documented().get(entry.code)


def test_every_documented_code_is_registered():
    """docs/diagnostics.md documents no code the registry lacks, and links only to sections."""
    documented = _documented()
    assert set() == set(documented) - set(CODES)
    headings = re.findall(r"^##+ (.*)$", DIAGNOSTICS, flags=re.MULTILINE)
    linked = set(re.findall(r"\]\(#([a-z0-9-]+)\)", DIAGNOSTICS))
    assert set() == linked - {_anchor(heading) for heading in headings}


def test_the_registry_names_each_code_once():
    """``Code.UNKNOWN_KEY`` is ``unknown-key``: each attribute is its code, in upper case."""
    for name, entry in vars(Code).items():
        if isinstance(entry, DiagnosticCode):
            assert name == entry.code.upper().replace("-", "_")
