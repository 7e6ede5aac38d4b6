"""
Policy test files: finding them, and reading them into cases with diagnostics.

Test files are YAML in a ``tests/`` folder of a policy directory (the policy
loader skips those folders); `geogate._policytests.cases` describes what they hold.
`load_cases` reads files (or folders of them) into `Case` values, checked
against the policy set, and returns every diagnostic found, sorted: a caller
runs no case when any of them is an error. `geogate._policytests.runner` runs the
cases.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from geogate._load.loader import display_path, read_file
from geogate._policy.codes import Code
from geogate._policy.diagnostics import Diagnostic, Position
from geogate._policy.fields import Reader
from geogate._policy.source import parse_text

from .cases import FileParser

if TYPE_CHECKING:
    import datetime as dt
    import os
    from collections.abc import Iterable, Sequence

    from geogate._policy.model import PolicySet

    from .cases import Case

__all__ = ["find_test_files", "load_cases"]

SUFFIXES = (".yaml", ".yml")


def find_test_files(policy_paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """
    Return the test files of the policy directories in *policy_paths*, sorted.

    Every ``*.yaml`` and ``*.yml`` file below a folder named ``tests`` inside a
    policy directory (the folders the policy loader skips), hidden files and
    folders excepted. A policy file given on its own has no tests.
    """
    found: dict[Path, None] = {}
    for raw in policy_paths:
        root = Path(raw)
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            parts = path.relative_to(root).parts
            if (
                path.suffix.lower() in SUFFIXES
                and "tests" in parts[:-1]
                and not any(part.startswith(".") for part in parts)
                and path.is_file()
            ):
                found[path] = None
    return list(found)


def _expand(paths: Iterable[str | os.PathLike[str]], reader: Reader) -> list[Path]:
    """Files stay files; a directory gives its ``*.yaml`` and ``*.yml`` files, recursively."""
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            reader.diagnose(
                Position(str(path), 1, 1),
                Code.PATH_NOT_FOUND,
                f"no such file or directory: {str(path)!r}",
                hint="pass test files or folders, or none to run the policy directory's tests/",
            )
        elif path.is_dir():
            found.update(
                dict.fromkeys(
                    sorted(
                        p
                        for p in path.rglob("*")
                        if p.suffix.lower() in SUFFIXES
                        and p.is_file()
                        and not any(part.startswith(".") for part in p.relative_to(path).parts)
                    )
                )
            )
        else:
            found[path] = None
    return list(found)


def load_cases(
    files: Sequence[str | os.PathLike[str]],
    policy: PolicySet,
    *,
    at: dt.date | None = None,
) -> tuple[list[Case], tuple[Diagnostic, ...]]:
    """
    Read test files (or folders of them) into cases, checked against *policy*.

    *at* is the date for cases that give none (their ``at`` stays None when
    *at* is None: they run on the day they run); a jurisdiction named in a case
    without a date expands to its members on *at*, else today (UTC).

    Returns the cases and every diagnostic, sorted by position. A caller must
    run no case when any diagnostic is an error: a case with an error is left
    out (or read without its bad key), and a run without it would pass where
    it should not. Never raises for problems in the files.
    """
    diagnostics: list[Diagnostic] = []
    reader = Reader(diagnostics.append)
    cases: list[Case] = []
    seen: dict[str, tuple[Case, bool]] = {}
    for path in _expand(files, reader):
        data = read_file(path, reader)
        if data is None:
            continue
        display = display_path(path)
        reported = len(diagnostics)
        root = parse_text(data, display, is_json=False, report=reader.report)
        if root is None:
            if len(diagnostics) == reported:
                reader.diagnose(
                    Position(display),
                    Code.EMPTY_FILE,
                    "the file is empty (it holds no document, only white space or comments)",
                    hint="delete it, or add 'cases:'",
                )
            continue
        parser = FileParser(display, policy, reader, at)
        for case, written in parser.parse(root):
            known = seen.get(case.id)
            if known is None:
                seen[case.id] = (case, written is not None)
                cases.append(case)
                continue
            first, first_written = known
            if written is not None and first_written:
                # A member of a jurisdiction listed again on its own is no mistake.
                reader.diagnose(
                    Position(case.path, case.line, written.column),
                    Code.DUPLICATE_CASE,
                    f"the case {case.id!r} is written twice "
                    f"(first at {first.path}:{first.line}); the second is skipped",
                    hint="remove one of them",
                )
    diagnostics.sort(key=lambda d: (d.position, d.code))
    return cases, tuple(diagnostics)
