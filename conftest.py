"""
Run the examples of README.md and docs/*.md as tests, with Sybil.

Each page runs in order, in a fresh working directory that holds a copy of the shipped
``policies/`` and two small GeoIP databases built like the tests' own (``GeoLite2-City.mmdb``,
``GeoLite2-Country.mmdb``; see `DATABASE_RECORDS`):

- A ``python`` block runs; the blocks of one page share their names. What a block prints is
  compared with the ``#`` comment lines right after its ``print(...)`` lines,
  white space collapsed and each revision ``sha256:<hex>`` read as ``sha256:…``; a block that
  prints without showing what fails.
- A ``console`` block is a list of ``$ geogate ...`` commands, each followed by its output. Each
  command runs through click's CliRunner, with no ``GEOGATE_*`` variable set, and its output
  must be the one shown, each revision read as ``sha256:…``.
- A ``yaml`` or ``json`` block with ``title="NAME"`` is written to NAME in the working
  directory, so that the examples after it can load it.
- ``<!-- skip: next "reason" -->`` skips the next example and says why.

Any other fenced block must name one of `DATA_LANGUAGES`; a block that looks like a console
session or calls ``geogate`` without being a ``console`` block, and a skip without a reason,
are failing examples themselves, so no example is left out of the run by accident.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.util
import io
import os
import re
import shlex
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from click.testing import CliRunner
from sybil import Region, Sybil
from sybil.parsers.markdown import SkipParser
from sybil.parsers.markdown.lexers import FencedCodeBlockLexer

from geogate.cli import main

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sybil import Document, Example

ROOT = Path(__file__).resolve().parent

#: Where the examples' GeoIP databases place addresses: MaxMind's test ranges.
DATABASE_RECORDS = {
    "81.2.69.0/24": ("GB", ("GB-ENG",)),
    "2.125.160.0/24": ("FR", ("FR-IDF",)),
    "89.160.20.0/24": ("SE", ("SE-E",)),
}

#: Fenced blocks that are data, shown and never run.
DATA_LANGUAGES = frozenset({"yaml", "json", "toml", "http", "text", "sh"})

_REVISION = re.compile(r"sha256:[0-9a-f]{12,64}")
_TITLED = re.compile(r'(?P<language>yaml|json) title="(?P<name>[^"]+)"')
_ENVIRONMENT = ("GEOGATE_POLICIES", "GEOGATE_GEOIP_DB", "GEOGATE_EXPECT_REVISION")


def _mmdb() -> Any:  # noqa: ANN401 (a module loaded by path)
    """Return ``tests/helpers/mmdb.py``, the tests' own database builder, loaded by path."""
    spec = importlib.util.spec_from_file_location(
        "_docs_mmdb", ROOT / "tests" / "helpers" / "mmdb.py"
    )
    if spec is None or spec.loader is None:
        msg = f"cannot load {ROOT / 'tests' / 'helpers' / 'mmdb.py'}"
        raise ImportError(msg)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _normalise(text: str) -> str:
    return _REVISION.sub("sha256:…", text)


def setup(namespace: dict[str, Any]) -> None:
    """Give a page its own working directory: the shipped policies and two GeoIP databases."""
    directory = Path(tempfile.mkdtemp(prefix="geogate-docs-"))
    shutil.copytree(ROOT / "policies", directory / "policies")
    mmdb = _mmdb()
    mmdb.write_city_db(
        directory / "GeoLite2-City.mmdb",
        {net: mmdb.city_record(cc, subs) for net, (cc, subs) in DATABASE_RECORDS.items()},
        database_type="GeoLite2-City",
    )
    mmdb.write_country_db(
        directory / "GeoLite2-Country.mmdb",
        {net: mmdb.country_record(cc) for net, (cc, _) in DATABASE_RECORDS.items()},
        database_type="GeoLite2-Country",
    )
    namespace["__name__"] = "__main__"  # as a script runs: Flask(__name__) finds its root
    namespace["__docs_cwd__"] = (Path.cwd(), directory)
    namespace["__threads__"] = frozenset(threading.enumerate())
    os.chdir(directory)


def teardown(namespace: dict[str, Any]) -> None:
    """Close what a page opened, go back and remove its working directory."""
    for value in namespace.values():
        if type(value).__name__ == "Gate" and type(value).__module__.startswith("geogate"):
            value.close()
    with contextlib.suppress(ImportError):
        from openfeature import api  # noqa: PLC0415 (only when a page used OpenFeature)

        api.clear_providers()
    # flagd's file watcher reads its file once more after shutdown (it sleeps, then reads,
    # then looks at its flag), from this directory: let the page's own watchers do so
    # before leaving it.
    for thread in threading.enumerate():
        if thread.name == "FlagdFileWatcherWorkerThread" and thread not in namespace["__threads__"]:
            thread.join(timeout=2)
    previous, directory = namespace["__docs_cwd__"]
    os.chdir(previous)
    shutil.rmtree(directory, ignore_errors=True)


def _expected_prints(source: str) -> list[str]:
    """The ``#`` lines right after each ``print(`` line of *source*."""
    expected: list[str] = []
    after_print = False
    for line in source.splitlines():
        if line.lstrip().startswith("print("):
            after_print = True
        elif after_print and line.lstrip().startswith("#"):
            expected.append(line.lstrip()[1:].strip())
        else:
            after_print = False
    return expected


def evaluate_python(example: Example) -> None:
    """Run a ``python`` block and compare what it prints with the comments that show it."""
    __tracebackhide__ = True
    source = str(example.parsed)
    padded = "\n" * (example.line + example.parsed.line_offset) + source
    code = compile(padded, example.path, "exec", dont_inherit=True)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code, example.namespace)  # noqa: S102 (our own documentation)
    example.namespace.pop("__builtins__", None)
    expected = " ".join(_expected_prints(source))
    actual = " ".join(_normalise(printed.getvalue()).split())
    if actual and not expected:
        msg = f"the block prints, but shows no `# ` output after its print():\n{printed.getvalue()}"
        raise AssertionError(msg)
    if expected != actual:
        msg = f"the block prints something else:\nshown:   {expected}\nprinted: {actual}"
        raise AssertionError(msg)


def _commands(source: str) -> list[tuple[str, list[str]]]:
    """Split a console block into (command, expected output lines)."""
    commands: list[tuple[str, list[str]]] = []
    for line in source.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        elif commands:
            commands[-1][1].append(line.rstrip())
        else:
            msg = f"a console block starts with a command ('$ ...'), not {line!r}"
            raise ValueError(msg)
    return commands


def evaluate_console(example: Example) -> None:
    """Run each ``$ geogate ...`` command of a console block and compare its output."""
    __tracebackhide__ = True
    for command, shown in _commands(str(example.parsed)):
        argv = shlex.split(command)
        if argv[0] != "geogate":
            msg = f"only geogate commands run here, not {command!r}: mark the block skipped"
            raise ValueError(msg)
        result = CliRunner().invoke(
            main, argv[1:], env=dict.fromkeys(_ENVIRONMENT), catch_exceptions=False
        )
        actual = [line.rstrip() for line in _normalise(result.output).rstrip("\n").splitlines()]
        expected = "\n".join(shown).rstrip("\n").splitlines()
        if expected != actual:
            diff = "\n".join(
                difflib.unified_diff(expected, actual, "shown", "printed", lineterm="")
            )
            msg = f"$ {command} (exit {result.exit_code}) prints something else:\n{diff}"
            raise AssertionError(msg)


def write_file(example: Example) -> None:
    """Write a titled data block to the page's working directory."""
    name, content = example.parsed
    path = Path(name)
    if path.is_absolute() or ".." in path.parts:
        msg = f"a titled block names a file inside the working directory, not {name!r}"
        raise ValueError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")


def _fail(message: str) -> Any:  # noqa: ANN401 (an evaluator)
    def evaluate(_example: Example) -> None:
        raise AssertionError(message)

    return evaluate


def parse_blocks(document: Document) -> Iterable[Region]:
    """Every fenced block: run it, write it, or check that it is data that needs no run."""
    lexer = FencedCodeBlockLexer(language=r".*", mapping={"language": "info", "source": "source"})
    for region in lexer(document):
        info = region.lexemes["info"].strip()
        source = region.lexemes["source"]
        language = info.split(" ", 1)[0]
        if info == "python":
            region.parsed, region.evaluator = source, evaluate_python
        elif info == "console":
            region.parsed, region.evaluator = source, evaluate_console
        elif titled := _TITLED.fullmatch(info):
            region.parsed, region.evaluator = (titled["name"], str(source)), write_file
        elif language not in DATA_LANGUAGES:
            region.evaluator = _fail(
                f"a ```{info} block: name its language, one of python, console (both run) "
                f"or {', '.join(sorted(DATA_LANGUAGES))} (shown only)"
            )
        elif re.search(r"^\$ ", source, flags=re.MULTILINE):
            region.evaluator = _fail(f"a ```{info} block holds a '$ ' command: make it ```console")
        elif language == "sh" and not _is_quick_start(document, region):
            if re.search(r"(^|[\s/])geogate [a-z]", source, flags=re.MULTILINE):
                region.evaluator = _fail("a ```sh block runs geogate: make it ```console")
            else:
                continue
        else:
            continue
        yield region


def _is_quick_start(document: Document, region: Region) -> bool:
    """The Quick start commands (.ci/run runs README's as written; a test keeps the two alike)."""
    if Path(document.path) not in (ROOT / "README.md", ROOT / "docs" / "getting-started.md"):
        return False
    before = document.text[: region.start]
    return before.rfind("\n## ") == before.rfind("\n## Quick start")


def parse_skips(document: Document) -> Iterable[Region]:
    """Sybil's skips, where each must be ``skip: next "reason"``."""
    for region in SkipParser()(document):
        action, reason = region.parsed
        if action != "next" or not re.fullmatch(r'"[^"]+"', (reason or "").strip()):
            region.evaluator = _fail('a skip says `skip: next "why it cannot run"`')
        yield region


#: The pages' examples; tests/project/test_docs.py parses pages with it too.
SYBIL = Sybil(
    parsers=[parse_skips, parse_blocks],
    path=str(ROOT),
    patterns=["*.md"],
    setup=setup,
    teardown=teardown,
)
_collect = SYBIL.pytest()


def pytest_collect_file(file_path: Path, parent: Any) -> Any:  # noqa: ANN401 (pytest's types)
    """Collect README.md and the pages of docs/, and no other Markdown file."""
    if file_path == ROOT / "README.md" or file_path.parent == ROOT / "docs":
        return _collect(file_path, parent)
    return None
