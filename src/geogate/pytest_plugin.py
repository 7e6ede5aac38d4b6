"""
The geogate pytest plugin: policy tests as pytest items, and fixtures.

Installed with geogate (the ``pytest11`` entry point ``geogate``) and inert
until configured. With the ini option::

    [tool.pytest.ini_options]
    geogate_policies = ["policies"]

pytest collects the declarative test cases of those policy directories (the
YAML files in their ``tests/`` folders, as ``geogate test`` runs them) as one
item per case, named ``policies/tests/meta.yaml::llama-3.2-vision deny FR
@2026-01-01``. A run over the default paths (no paths on the command line)
adds the test files even when ``testpaths`` does not reach them; naming paths
on the command line runs only what they contain. A problem in a test file or
a policy is a collection error with the diagnostics, never a traceback.

Fixtures:

- ``geogate_gate``: a strict `geogate.Gate` on the configured policies, one
  per session.
- ``geogate_today``: a function ``pin(day, gate=None)`` that makes the gate
  (``geogate_gate`` by default) decide calls without ``at=`` as of *day* until
  the test ends (`geogate.testing.pinned_date`).

``-p no:geogate`` turns the plugin off.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterator

    from ._gate.gate import Gate
    from ._policytests.cases import Case

__all__ = ["PolicyCase", "PolicyTestFile", "PolicyTestWarning"]

INI = "geogate_policies"
_HOW = 'set it in the pytest configuration, e.g. geogate_policies = ["policies"] in pyproject.toml'


class PolicyTestWarning(UserWarning):
    """A warning about a policy test file (a duplicate case, an empty file)."""


class _CaseFailedError(Exception):
    """A policy case gave another decision than the one it pins."""


class _State:
    """The configured policy directories, their test files, and the gate, once per session."""

    def __init__(self, paths: list[Path]) -> None:
        from ._policytests.files import find_test_files  # noqa: PLC0415 (only when configured)

        self.paths = paths
        self.files = {path.resolve() for path in find_test_files(paths)}
        self._gate: Gate | None = None
        self._problem: str | None = None

    def gate(self) -> Gate:
        """Return the strict gate on the policies; raise `_PoliciesError` if they do not load."""
        if self._gate is None and self._problem is None:
            from ._gate.gate import Gate  # noqa: PLC0415
            from .exceptions import GeogateError  # noqa: PLC0415

            try:
                self._gate = Gate.from_path(*self.paths, strict=True)
            except GeogateError as error:
                where = " ".join(_shown(path) for path in self.paths)
                self._problem = f"{INI} = {where}: the policies do not load.\n{error}"
        if self._gate is None:
            raise _PoliciesError(self._problem or "")
        return self._gate


class _PoliciesError(Exception):
    """The configured policies do not load; the message holds the diagnostics."""


_STATE = pytest.StashKey[_State]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``geogate_policies`` ini option."""
    parser.addini(
        INI,
        "geogate: policy directories whose tests/ cases pytest collects (relative to the "
        "configuration file); the geogate_gate fixture loads them",
        type="paths",
        default=[],
    )


def pytest_configure(config: pytest.Config) -> None:
    """Read ``geogate_policies``; nothing happens without it."""
    paths: list[Path] = config.getini(INI)
    if not paths:
        return
    missing = [path for path in paths if not path.exists()]
    if missing:
        msg = (
            f"{INI}: no such policy directory {_shown(missing[0])!r}; give the folder that "
            "holds the policy files (and their tests/ folder), relative to the configuration "
            "file"
        )
        raise pytest.UsageError(msg)
    config.stash[_STATE] = _State(paths)


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    """In a run over the default paths, add the test files those paths do not reach."""
    config = session.config
    state = config.stash.get(_STATE, None)
    if state is None:
        return
    if not state.files:
        where = ", ".join(f"{_shown(path)}/tests/" for path in state.paths)
        msg = (
            f"{INI}: no policy test files (*.yaml, *.yml) in {where}; add cases there "
            f"(`geogate test` runs the same files), or remove {INI}"
        )
        raise pytest.UsageError(msg)
    if config.args_source is pytest.Config.ArgsSource.ARGS:
        return
    base = config.invocation_params.dir
    reached = [(base / arg.split("::", 1)[0]).resolve() for arg in config.args]
    extra = [
        str(path)
        for path in sorted(state.files)
        if not any(path == root or root in path.parents for root in reached)
    ]
    config.args = [*config.args, *extra]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> PolicyTestFile | None:
    """Collect a policy test file of the configured directories."""
    state = parent.config.stash.get(_STATE, None)
    if state is None or file_path.resolve() not in state.files:
        return None
    return PolicyTestFile.from_parent(parent, path=file_path)


class PolicyTestFile(pytest.File):
    """A policy test file: one item per case."""

    def collect(self) -> Iterator[PolicyCase]:
        """Read the cases, checked against the policies; diagnostics fail the collection."""
        from ._policytests.files import load_cases  # noqa: PLC0415

        state = self.config.stash[_STATE]
        try:
            gate = state.gate()
        except _PoliciesError as error:
            raise self.CollectError(str(error)) from None
        cases, diagnostics = load_cases([self.path], gate.policy)
        errors = [d for d in diagnostics if d.severity == "error"]
        if errors:
            lines = [f"{len(errors)} error(s) in the policy tests; no case was run:"]
            lines.extend(str(d) for d in diagnostics)
            raise self.CollectError("\n".join(lines))
        for diagnostic in diagnostics:
            self.warn(PolicyTestWarning(str(diagnostic)))
        for case in cases:
            name = case.id.removeprefix(f"{case.path}::")
            yield PolicyCase.from_parent(self, name=name, case=case)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: str | None = None,  # noqa: ARG002 (pytest's signature)
    ) -> str:
        """Show a warning turned error (``filterwarnings = error``) as its text."""
        if isinstance(excinfo.value, PolicyTestWarning):
            return f"{type(excinfo.value).__name__}: {excinfo.value}"
        return str(super().repr_failure(excinfo))


class PolicyCase(pytest.Item):
    """One declarative policy case, run with the session's strict gate."""

    def __init__(self, *, case: Case, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.case = case

    def runtest(self) -> None:
        """Run the case; a different decision fails with the explanation chain."""
        from ._policytests.runner import run_case  # noqa: PLC0415

        result = run_case(self.config.stash[_STATE].gate(), self.case)
        if not result.passed:
            raise _CaseFailedError(result.message)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: str | None = None,  # noqa: ARG002 (pytest's signature)
    ) -> str:
        """Show what differs and the chain, not a traceback."""
        if isinstance(excinfo.value, _CaseFailedError):
            return f"{excinfo.value}\n(the case is at {self.case.path}:{self.case.line})"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        """Point at the case's line in its file."""
        return self.path, self.case.line - 1, f"policy case {self.case.id}"


@pytest.fixture(scope="session")
def geogate_gate(pytestconfig: pytest.Config) -> Gate:
    """A strict `geogate.Gate` on the policies of ``geogate_policies``, one per session."""
    from ._gate.gate import Gate  # noqa: PLC0415

    state = pytestconfig.stash.get(_STATE, None)
    if state is None:
        pytest.fail(f"the geogate_gate fixture needs the ini option {INI}; {_HOW}", pytrace=False)
    try:
        shared = state.gate()
    except _PoliciesError as error:
        pytest.fail(str(error), pytrace=False)
    # A gate of its own: the cases' gate is never touched by application tests.
    return Gate(shared.policy, strict=True, geoip=shared.geoip)


@pytest.fixture
def geogate_today(request: pytest.FixtureRequest) -> Iterator[Callable[..., dt.date]]:
    """
    Pin the evaluation date until the test ends: ``geogate_today("2025-03-30")``.

    Calls without ``at=`` on the gate (``geogate_gate`` unless ``gate=`` is
    given) decide as of that date; returns the date.
    """
    from .testing import pinned_date  # noqa: PLC0415

    with ExitStack() as stack:

        def pin(day: object, gate: Gate | None = None) -> dt.date:
            chosen: Gate = request.getfixturevalue("geogate_gate") if gate is None else gate
            return stack.enter_context(pinned_date(chosen, day))

        yield pin


def _shown(path: Path) -> str:
    """Show *path* relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return os.fspath(path)
