"""
The documentation site: every page is in the navigation, and no example escapes the test run.

The examples themselves run through Sybil (conftest.py at the top of the repository); the site
is built by ``mkdocs build --strict`` in .ci/run.
"""

from __future__ import annotations

import importlib.util
import re
import unittest
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
#: The README and the pages, where examples run.
EXAMPLE_PAGES = [ROOT / "README.md", *PAGES]


def _nav_pages(entries) -> list[str]:
    found: list[str] = []
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        found.extend(_nav_pages(value) if isinstance(value, list) else [value])
    return found


def _conftest():
    """The root conftest.py, where the examples' parsers live (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("_docs_conftest", ROOT / "conftest.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(document) -> None:
    for example in document:
        example.evaluate()


def test_the_navigation_lists_every_page_once():
    """A page under docs/ that the navigation forgets is orphaned; a listed one must exist."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    listed = _nav_pages(config["nav"])

    assert len(listed) == len(set(listed))
    assert sorted(page.name for page in PAGES) == sorted(listed)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_stays_in_the_site(page):
    """A page links to pages of the site (a link out of docs/ would not work on it)."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    relative = [target.split("#")[0] for target in targets if not re.match(r"[a-z]+:|#", target)]

    assert [] == [target for target in relative if not (DOCS / target).is_file()]


@pytest.mark.parametrize("page", EXAMPLE_PAGES, ids=lambda page: page.name)
def test_every_python_and_console_block_is_an_example(page):
    """Sybil finds as many Python and console examples as the page has such blocks."""
    conftest = _conftest()
    fences = re.findall(r"^ *```(python|console)$", page.read_text("utf-8"), flags=re.MULTILINE)
    examples = [
        example
        for example in conftest.SYBIL.parse(page)
        if example.region.evaluator in (conftest.evaluate_python, conftest.evaluate_console)
    ]

    assert len(fences) == len(examples)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("```pycon\n>>> 1\n```\n", "a ```pycon block: name its language"),
        ("```\n$ geogate audit\n```\n", "a ``` block: name its language"),
        ("```text\n$ geogate audit\n```\n", "a ```text block holds a '$ ' command"),
        ("```sh\ngeogate check policies\n```\n", "a ```sh block runs geogate"),
        ("<!-- skip: next -->\n```python\n1/0\n```\n", "a skip says `skip: next"),
        ("```console\n$ pip install geogate\n```\n", "only geogate commands run here"),
        ("```python\nprint(1)\n```\n", "the block prints, but shows no"),
        ("```python\nprint(1)\n# 2\n```\n", "the block prints something else"),
        ("```console\n$ geogate --version\nnot this\n```\n", "$ geogate --version (exit 0) prints"),
    ],
)
def test_an_example_that_would_not_run_fails(tmp_path, monkeypatch, block, message):
    """A block that looks like an example but would not run, or shows the wrong output, fails."""
    conftest = _conftest()
    page = tmp_path / "page.md"
    page.write_text(f"# A page\n\n{block}", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    document = conftest.SYBIL.parse(page)

    with pytest.raises((AssertionError, ValueError)) as raised:
        _run(document)

    assert str(raised.value).startswith(message), str(raised.value)


def test_a_skip_with_a_reason_skips():
    """``<!-- skip: next "reason" -->`` skips the next example and says why."""
    conftest = _conftest()
    page = ROOT / "tests" / "data" / "docs" / "skipped.md"
    document = conftest.SYBIL.parse(page)

    with pytest.raises(unittest.SkipTest, match="needs a server"):
        _run(document)


def test_the_fastapi_example_says_what_to_install():
    """geogate[asgi] installs Starlette only; the install line names what else the FastAPI
    example imports, and a server to run it, both from an index and from a checkout."""
    text = (DOCS / "web-frameworks.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(from typing import Annotated\n.*?)\n```", text, re.DOTALL)
    assert block is not None
    lines = re.findall(r"^(?:from|import) (\S+)", block[1], flags=re.MULTILINE)
    imported = {name.split(".")[0] for name in lines}

    assert {"fastapi", "geogate", "typing"} == imported
    assert "`pip install 'geogate[asgi]' fastapi uvicorn`" in text
    assert "`pip install -e '.[asgi]' fastapi uvicorn`" in text


@pytest.mark.parametrize("page", EXAMPLE_PAGES, ids=lambda page: page.name)
def test_install_lines_naming_extras_say_both_ways(page):
    """Every `pip install 'geogate[...]'` is followed by its form for a checkout."""
    text = page.read_text(encoding="utf-8")
    for extra in re.findall(r"pip install 'geogate\[(\w+)\]'", text):
        assert f"pip install -e '.[{extra}]" in text, extra
