"""``geogate diff``: what a policy change does to who gets which feature."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from geogate._load.sources import load_side
from geogate._review.diff import diff_policies
from geogate._review.render_diff import diff_markdown, diff_text
from geogate.exceptions import PolicySourceError

from ._common import (
    DATE,
    ExitCode,
    echo_json,
    exit_code_for,
    features_option,
    format_option,
    print_diagnostics,
)

if TYPE_CHECKING:
    import datetime as dt

    from geogate._load.sources import Side
    from geogate._policy.model import PolicySet

__all__ = ["diff_command"]


@click.command("diff")
@click.argument("old", metavar="OLD")
@click.argument("new", metavar="NEW")
@click.option("--at", type=DATE, default=None, help="Compare on this date [default: today, UTC].")
@click.option("--from", "start", type=DATE, default=None, help="Compare every day from this date…")
@click.option("--to", "end", type=DATE, default=None, help="…to this date (both inclusive).")
@features_option
@click.option(
    "--fail-on-new-access",
    is_flag=True,
    help="Exit 1 when a country, a subdivision or the unknown location gains access (a CI gate).",
)
@format_option(
    "text",
    "json",
    "markdown",
    help="text for people; json for tools; markdown for a pull-request comment.",
)
def diff_command(
    old: str,
    new: str,
    at: dt.date | None,
    start: dt.date | None,
    end: dt.date | None,
    features: tuple[str, ...],
    fail_on_new_access: bool,
    output: str,
) -> None:
    """
    Show which countries and subdivisions gain or lose access between two policy sets.

    OLD and NEW are each a policy file or directory, or git:REV[:PATH]: the
    policies at a revision of the git repository around the current directory
    (PATH defaults to `policies`), e.g. `geogate diff git:origin/main policies`.
    Places compared: every country (a request naming only it), every
    subdivision either side's rules name, and the rest of a country that
    rules name places inside; those are listed by country. Also lists
    features and rules added, removed or changed. Exit 0; 1 with
    --fail-on-new-access when any place (or the unknown location) gains
    access for any feature on any date compared, or when a side does not
    load; 3 when git, the repository, a revision or a path is missing.
    """
    if at is not None and (start is not None or end is not None):
        msg = "give either --at or --from/--to, not both"
        raise click.UsageError(msg)
    if (start is None) != (end is None):
        msg = "--from and --to go together: give both, or neither (and --at)"
        raise click.UsageError(msg)
    if start is not None and end is not None and end < start:
        msg = f"--to {end} is before --from {start}"
        raise click.UsageError(msg)
    old_policy, old_side = _load("OLD", old)
    new_policy, new_side = _load("NEW", new)
    unknown = [f for f in features if f not in old_policy.features and f not in new_policy.features]
    if unknown:
        known = ", ".join(sorted(set(old_policy.features) | set(new_policy.features))) or "(none)"
        msg = f"no feature {unknown[0]!r} on either side; known features: {known}"
        raise click.BadParameter(msg, param_hint="--feature")
    result = diff_policies(
        old_policy,
        new_policy,
        at=at,
        start=start,
        end=end,
        features=features or None,
        old_side=old_side,
        new_side=new_side,
    )
    if output == "json":
        echo_json(result.to_dict())
    elif output == "markdown":
        click.echo(diff_markdown(result), nl=False)
    else:
        click.echo(diff_text(result))
    if fail_on_new_access and result.new_access:
        sys.exit(ExitCode.FINDINGS)


def _load(which: str, spec: str) -> tuple[PolicySet, Side]:
    """Load one side, or print why not and exit (3 for git or a missing path, else 1)."""
    try:
        policy, diagnostics, side = load_side(spec)
    except PolicySourceError as error:
        click.echo(f"geogate: {which}: {error}", err=True)
        sys.exit(ExitCode.ENVIRONMENT)
    if policy is None or side is None:
        print_diagnostics(diagnostics, err=True)
        errors = sum(d.severity == "error" for d in diagnostics)
        click.echo(
            f"geogate: the {which} policies {spec!r} did not load ({errors} error(s))", err=True
        )
        sys.exit(exit_code_for(diagnostics))
    return policy, side
