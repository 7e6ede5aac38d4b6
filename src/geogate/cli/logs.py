"""``geogate logs``: what decision logs say was served where (DuckDB, the ``logs`` extra)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ._common import DATE, REVISION, ExitCode, features_option, format_option, print_diagnostics
from ._output import output_option, write_output

if TYPE_CHECKING:
    import datetime as dt

__all__ = ["logs_command"]


@click.group("logs")
def logs_command() -> None:
    """
    Read decision logs: what was served where.

    LOG is a file, a glob or a folder of what DecisionLog writes: JSON Lines,
    gzipped or not, rotated files included, or Parquet. Needs DuckDB: pip
    install 'geogate[logs]'.
    """


@logs_command.command("summary")
@click.argument("logs", metavar="LOG...", nargs=-1, required=True)
@click.option("--from", "start", type=DATE, default=None, help="Decisions made on or after DATE.")
@click.option("--to", "end", type=DATE, default=None, help="Decisions made on or before DATE.")
@features_option
@click.option(
    "--by",
    type=click.Choice(["day", "week", "month"]),
    default="day",
    show_default=True,
    help="The period decisions are counted in (UTC days; ISO weeks).",
)
@format_option(
    "table",
    "json",
    "csv",
    "markdown",
    "html",
    help=(
        "table for people; json and csv for tools and spreadsheets; markdown for reviews; html "
        "for one self-contained page with charts and a world map per feature."
    ),
)
@output_option
@click.option(
    "--show-ip",
    is_flag=True,
    help="List each feature's busiest IP networks, as logged (truncated). Off: personal data.",
)
def summary_command(
    logs: tuple[str, ...],
    start: dt.date | None,
    end: dt.date | None,
    features: tuple[str, ...],
    by: str,
    output: str,
    destination: str | None,
    show_ip: bool,
) -> None:
    """
    Count decisions per feature and period: what was served where.

    Allowed and denied, by jurisdiction, country and subdivision, effect,
    reason and rule, and location source, with the unknown-location rate and
    the first and last day each place was allowed.

    Damaged lines (torn, not JSON, or with fields of the wrong type) are
    skipped and reported with their file:line:col. Exit 0, 2 for a usage
    error, 3 when a log cannot be read.
    """
    from geogate._logs.read import LogInputError, find_logs  # noqa: PLC0415 (run time only)
    from geogate._logs.render import (  # noqa: PLC0415
        render_csv,
        render_json,
        render_markdown,
        render_text,
    )
    from geogate._logs.render_html import render_html  # noqa: PLC0415
    from geogate._logs.summary import summarise  # noqa: PLC0415

    if start is not None and end is not None and start > end:
        msg = f"--from ({start}) is after --to ({end})"
        raise click.UsageError(msg)
    try:
        summary = summarise(
            find_logs(logs),
            start=start,
            end=end,
            features=features,
            by=by,  # type: ignore[arg-type]
            show_ip=show_ip,
        )
    except LogInputError as error:
        click.echo(f"geogate: {error}", err=True)
        sys.exit(ExitCode.ENVIRONMENT)
    render = {
        "table": render_text,
        "json": render_json,
        "csv": render_csv,
        "markdown": render_markdown,
        "html": render_html,
    }[output]
    write_output(render(summary), destination)
    if summary.damaged:
        click.echo(
            f"geogate: {summary.damaged:,} damaged line(s) skipped; the first: {summary.damage[0]}",
            err=True,
        )


@logs_command.command("verify")
@click.argument("logs", metavar="LOG...", nargs=-1, required=True)
@click.option(
    "--policies",
    "sources",
    metavar="PATH|git:REV[:PATH]",
    multiple=True,
    help="A policy set the logs may name, from a path or a git revision (repeatable).",
)
@click.option(
    "--history",
    "histories",
    metavar="PATH",
    multiple=True,
    help=(
        "Every committed revision of PATH, from the git history of the current repository "
        "(repeatable); revisions that do not load are skipped, as no gate served them."
    ),
)
@click.option(
    "--expect-revision",
    "expected",
    type=REVISION,
    multiple=True,
    help="A reviewed revision whose decisions are accepted without its policies (repeatable).",
)
@format_option("table", "json", help="table for people; json for tools.")
@output_option
def verify_command(
    logs: tuple[str, ...],
    sources: tuple[str, ...],
    histories: tuple[str, ...],
    expected: tuple[str, ...],
    output: str,
    destination: str | None,
) -> None:
    """
    Re-decide every logged decision with the policy revision it names.

    Reports each line that says allowed where that revision denies (or the
    reverse, or names another rule), every decision made under a revision
    that is neither given nor expected, every line whose jurisdictions are not
    those of its place on its date, and every damaged line, with file:line.
    Identical inputs are decided once. Exit 0 when clean, 1 on any finding, 2
    for a usage error, 3 when a log or a revision cannot be read.
    """
    from geogate._load.sources import git_history, load_side  # noqa: PLC0415 (run time only)
    from geogate._logs.read import LogInputError, find_logs  # noqa: PLC0415
    from geogate._logs.render import render_verification  # noqa: PLC0415
    from geogate._logs.verify import verify  # noqa: PLC0415
    from geogate.exceptions import PolicySourceError  # noqa: PLC0415

    if not sources and not histories:
        msg = "give the policies the logs name: --policies PATH|git:REV[:PATH], or --history PATH"
        raise click.UsageError(msg)
    policies = []
    try:
        past = [spec for path in histories for spec in git_history(path)]
        for spec in (*sources, *past):
            policy, diagnostics, _ = load_side(spec)
            if policy is not None:
                policies.append(policy)
            elif spec in sources:
                print_diagnostics(diagnostics, err=True)
                click.echo(f"geogate: the policies of {spec!r} do not load", err=True)
                sys.exit(ExitCode.ENVIRONMENT)
    except PolicySourceError as error:
        click.echo(f"geogate: {error}", err=True)
        sys.exit(ExitCode.ENVIRONMENT)
    try:
        result = verify(find_logs(logs), policies, expected=expected)
    except LogInputError as error:
        click.echo(f"geogate: {error}", err=True)
        sys.exit(ExitCode.ENVIRONMENT)
    write_output(render_verification(result, output), destination)
    sys.exit(ExitCode.OK if result.clean else ExitCode.FINDINGS)
