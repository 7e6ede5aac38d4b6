"""``geogate check``: validate policy files, and lint them."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any

import click

from geogate._engine.splits import find_splits
from geogate._load.loader import check_paths
from geogate._review.lints import lint_policy
from geogate._review.render_check import github_annotation, sarif, split_places_text

from ._common import (
    DATE,
    ExitCode,
    default_policies,
    echo_json,
    exit_code_for,
    expect_revision_option,
    format_option,
    policies_option,
    print_diagnostics,
    revision_findings,
)

if TYPE_CHECKING:
    from geogate._engine.splits import SplitPlace

__all__ = ["check_command"]


class _Day(click.ParamType):  # type: ignore[type-arg]
    """A date written YYYY-MM-DD, or ``today`` (UTC)."""

    name = "YYYY-MM-DD|today"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:  # noqa: ANN401
        if value == "today":
            return dt.datetime.now(dt.UTC).date()
        return DATE.convert(value, param, ctx)


@click.command("check")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@policies_option
@format_option(
    "text",
    "json",
    "github",
    "sarif",
    help="text for people; json for tools; github for workflow annotations; sarif 2.1.0.",
)
@expect_revision_option
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@click.option(
    "--since",
    type=DATE,
    default=None,
    help="Lint rules over dates from this one on [default: the earliest rule date].",
)
@click.option(
    "--expired-before",
    "expired_before",
    type=_Day(),
    default=None,
    help="Warn about rules whose window ended before this date (expired-rule).",
)
def check_command(
    paths: tuple[str, ...],
    policies: str | None,
    output: str,
    expect_revision: str | None,
    strict: bool,
    since: dt.date | None,
    expired_before: dt.date | None,
) -> None:
    """
    Validate policy files and directories, and lint what loads.

    Prints one line per problem, `path:line:col: error|warning: message [code]`,
    with a hint where one helps. Give the policies as PATH arguments or with
    --policies PATH, as other commands take them (not both); the default is
    $GEOGATE_POLICIES, else ./policies. Exit 0 when clean, 1 when errors were
    found (or warnings, with --strict, or a revision other than
    --expect-revision), 3 when a path cannot be read. docs/diagnostics.md explains every code.

    It also lists each split place of each feature, with its dates: a country
    (or subdivision) that rules decide differently inside, where a request
    naming only that place gets the feature's `partial` setting (or deny, when
    a hard_deny rule decides inside). That is information, not a finding: it
    never changes the exit code.
    """
    if paths and policies is not None:
        msg = (
            f"give the policies either as PATH arguments ({' '.join(paths)}) or with "
            f"--policies {policies}, not both"
        )
        raise click.UsageError(msg)
    given = list(paths) or [policies or default_policies()]
    policy, diagnostics = check_paths(given)
    splits: list[SplitPlace] = []
    if policy is not None:
        splits = find_splits(policy)
        mismatch = revision_findings(", ".join(given), policy, expect_revision)
        lints = (*mismatch, *lint_policy(policy, since=since, expired_before=expired_before))
        diagnostics = tuple(sorted((*diagnostics, *lints), key=lambda d: (d.position, d.code)))
    code = exit_code_for(diagnostics)
    warnings = sum(d.severity == "warning" for d in diagnostics)
    errors = len(diagnostics) - warnings
    if code is ExitCode.OK and strict and warnings:
        code = ExitCode.FINDINGS
    if output == "json":
        echo_json(
            {
                "ok": code is ExitCode.OK,
                "revision": None if policy is None else policy.revision,
                "files": [] if policy is None else list(policy.files),
                "features": [] if policy is None else list(policy.features),
                "errors": errors,
                "warnings": warnings,
                "diagnostics": [d.to_dict() for d in diagnostics],
                "splits": [split.to_dict() for split in splits],
            }
        )
        sys.exit(code)
    if output == "sarif":
        click.echo(json.dumps(sarif(diagnostics), indent=2, ensure_ascii=False))
        sys.exit(code)
    if output == "github":
        for diagnostic in diagnostics:
            click.echo(github_annotation(diagnostic))
    else:
        print_diagnostics(diagnostics)
    text = split_places_text(splits)
    if text is not None:
        click.echo(text)
    if policy is not None:
        click.echo(
            f"{len(policy.files)} file(s), {len(policy.features)} feature(s), "
            f"{sum(len(f.rules) for f in policy.features.values())} rule(s): "
            f"{errors} error(s), {warnings} warning(s); revision {policy.revision}"
        )
    else:
        click.echo(f"{errors} error(s), {warnings} warning(s); nothing was loaded")
    sys.exit(code)
