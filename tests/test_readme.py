"""
The README's promises: it stays short, the Quick start has two commands, the links reach pages.

Its Python and console examples run through Sybil, as the pages' do (conftest.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
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
