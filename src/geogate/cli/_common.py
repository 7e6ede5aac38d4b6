"""Pieces every command shares: exit codes, the --policies option, loading, output."""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import json
import os
import sys
from typing import TYPE_CHECKING, Any, TypeVar

import click

from geogate._load.loader import ENVIRONMENT_CODES, check_paths

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Sequence

    from geogate._policy.diagnostics import Diagnostic
    from geogate._policy.model import PolicySet

__all__ = [
    "DATE",
    "ExitCode",
    "default_policies",
    "echo_json",
    "expect_revision_option",
    "features_option",
    "format_option",
    "load_or_exit",
    "policies_option",
    "print_diagnostics",
    "require_features",
    "revision_findings",
]


class ExitCode(enum.IntEnum):
    """What the process tells its caller."""

    OK = 0
    #: Findings: policy errors, failed tests, new access in a diff.
    FINDINGS = 1
    #: The command line itself is wrong (click's own code for usage errors).
    USAGE = 2
    #: The environment is wrong: a missing path, an unreadable file.
    ENVIRONMENT = 3


class _Date(click.ParamType):  # type: ignore[type-arg]
    """A calendar date written YYYY-MM-DD."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:  # noqa: ANN401
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date; write YYYY-MM-DD, e.g. 2026-01-31", param, ctx)


DATE = _Date()


class _Revision(click.ParamType):  # type: ignore[type-arg]
    """A policy revision: ``sha256:`` and 64 hex digits."""

    name = "sha256:HEX"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:  # noqa: ANN401
        from geogate._gate.reload import checked_revision  # noqa: PLC0415 (start-up time)

        try:
            return checked_revision(value)
        except ValueError as exc:
            self.fail(str(exc).replace("expect_revision", "--expect-revision", 1), param, ctx)


REVISION = _Revision()


def default_policies() -> str:
    """Return ``$GEOGATE_POLICIES``, or ``policies`` in the current directory."""
    return os.environ.get("GEOGATE_POLICIES") or "policies"


F = TypeVar("F", bound="Callable[..., Any]")


def policies_option(function: F) -> F:
    """Add ``--policies PATH`` (default ``$GEOGATE_POLICIES``, else ``./policies``)."""
    return click.option(
        "--policies",
        "policies",
        metavar="PATH",
        default=None,
        help="Policy file or directory [default: $GEOGATE_POLICIES, else ./policies].",
    )(function)


def expect_revision_option(function: F) -> F:
    """Add ``--expect-revision sha256:...`` (default ``$GEOGATE_EXPECT_REVISION``)."""
    return click.option(
        "--expect-revision",
        "expect_revision",
        type=_Revision(),
        metavar="sha256:HEX",
        envvar="GEOGATE_EXPECT_REVISION",
        default=None,
        help=(
            "Refuse policy files of any other revision (exit 1), so only the reviewed set "
            "is used; `geogate check` prints the revision [default: $GEOGATE_EXPECT_REVISION]."
        ),
    )(function)


def features_option(function: F) -> F:
    """Add ``--feature ID`` (repeatable; default: every feature)."""
    return click.option(
        "--feature",
        "features",
        multiple=True,
        metavar="ID",
        help="Only this feature (repeatable) [default: all].",
    )(function)


def format_option(*choices: str, help: str) -> Callable[[F], F]:  # noqa: A002 (click's name)
    """Add ``--format`` with *choices*, the first being the default."""

    def decorate(function: F) -> F:
        return click.option(
            "--format",
            "output",
            type=click.Choice(choices),
            default=choices[0],
            show_default=True,
            help=help,
        )(function)

    return decorate


def print_diagnostics(diagnostics: Sequence[Diagnostic], *, err: bool = False) -> None:
    """Print diagnostics as ``path:line:col: severity: message [code]`` lines."""
    for diagnostic in diagnostics:
        colour = "red" if diagnostic.severity == "error" else "yellow"
        head, _, hint = str(diagnostic).partition("\n")
        click.echo(click.style(head, fg=colour), err=err)
        if hint:
            click.echo(hint, err=err)


def exit_code_for(diagnostics: Sequence[Diagnostic]) -> ExitCode:
    """Return 3 when a file could not be read, 1 for other errors, else 0."""
    errors = [d for d in diagnostics if d.severity == "error"]
    if any(d.code in ENVIRONMENT_CODES for d in errors):
        return ExitCode.ENVIRONMENT
    return ExitCode.FINDINGS if errors else ExitCode.OK


def load_or_exit(policies: str | None, *, expect_revision: str | None = None) -> PolicySet:
    """
    Load the policy set, or print why not and exit with 1 (or 3 for a missing path).

    With *expect_revision*, policies of any other revision are refused (exit 1).
    """
    path = policies or default_policies()
    policy, diagnostics = check_paths([path])
    mismatch = () if policy is None else revision_findings(path, policy, expect_revision)
    if mismatch:
        policy, diagnostics = None, (*diagnostics, *mismatch)
    if policy is None:
        print_diagnostics(diagnostics, err=True)
        errors = sum(d.severity == "error" for d in diagnostics)
        click.echo(f"geogate: the policies at {path!r} did not load ({errors} error(s))", err=True)
        sys.exit(exit_code_for(diagnostics))
    return policy


def require_features(
    features: Iterable[str],
    known: Collection[str],
    *,
    param_hint: str,
    where: str = "in the policies",
) -> None:
    """
    Refuse (a usage error, exit 2) a feature id that is not one of *known*.

    The message suggests the closest id, else lists the known ones.
    """
    for feature in features:
        if feature not in known:
            close = difflib.get_close_matches(feature, list(known), n=1)
            names = ", ".join(known) or "(none)"
            hint = f"did you mean {close[0]!r}?" if close else f"known features: {names}"
            msg = f"no feature {feature!r} {where}; {hint}"
            raise click.BadParameter(msg, param_hint=param_hint)


def revision_findings(
    path: str, policy: PolicySet, expect_revision: str | None
) -> tuple[Diagnostic, ...]:
    """Return the ``revision-mismatch`` error when *policy* is not of *expect_revision*."""
    if expect_revision is None or policy.revision == expect_revision:
        return ()
    from geogate._gate.reload import mismatch_diagnostic  # noqa: PLC0415 (start-up time)

    return (mismatch_diagnostic(path, expect_revision, policy.revision),)


def echo_json(data: object) -> None:
    """Print *data* as indented JSON."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))
