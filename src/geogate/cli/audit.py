"""``geogate audit``: which regions get which model, on a date or over time."""

from __future__ import annotations

import datetime as dt

import click

from geogate._review.audit import audit, timeline
from geogate._review.render_audit import render_audit, render_timeline

from ._common import (
    DATE,
    expect_revision_option,
    features_option,
    format_option,
    load_or_exit,
    policies_option,
    require_features,
)
from ._output import output_option, write_output

__all__ = ["audit_command"]

_TIMELINE_FORMATS = ("table", "json", "csv", "markdown")


@click.command("audit")
@policies_option
@expect_revision_option
@features_option
@click.option("--at", type=DATE, default=None, help="Decide for this date [default: today, UTC].")
@click.option(
    "--timeline",
    "show_timeline",
    is_flag=True,
    help="Show the dates in (--from, --to] on which some decision changes, and what changed.",
)
@click.option(
    "--from",
    "start",
    type=DATE,
    default=None,
    help="With --timeline: the starting date [default: one year before --to].",
)
@click.option(
    "--to",
    "end",
    type=DATE,
    default=None,
    help="With --timeline: the last date [default: today, UTC].",
)
@format_option(
    "table",
    "json",
    "csv",
    "markdown",
    "html",
    help="table for people; json and csv for tools; markdown for reviews; html: a report "
    "with a map.",
)
@output_option
def audit_command(
    policies: str | None,
    expect_revision: str | None,
    features: tuple[str, ...],
    at: dt.date | None,
    show_timeline: bool,
    start: dt.date | None,
    end: dt.date | None,
    output: str,
    destination: str | None,
) -> None:
    """
    Show which countries get which feature, and by which rule.

    Decides every feature for every ISO 3166-1 country (and XK), and every
    subdivision its rules name, on the date, with the same evaluation as
    `geogate eval`. A country the rules decide differently inside is split: a
    request naming only that country gets the feature's partial setting, and
    the audit says so and what the rest of the country gets. With --timeline,
    lists the days on which any place's decision (its effect, deciding rule,
    or whether it is split) changes, including changes of membership such as
    the UK leaving the EU.
    """
    if not show_timeline and (start is not None or end is not None):
        msg = "--from and --to need --timeline (use --at for one date)"
        raise click.UsageError(msg)
    if show_timeline and at is not None:
        msg = "--at and --timeline exclude each other; give --from and --to"
        raise click.UsageError(msg)
    if show_timeline and output not in _TIMELINE_FORMATS:
        msg = f"--timeline has no {output} format; use one of {', '.join(_TIMELINE_FORMATS)}"
        raise click.UsageError(msg)
    policy = load_or_exit(policies, expect_revision=expect_revision)
    require_features(features, policy.features, param_hint="--feature")
    if show_timeline:
        end = end or dt.datetime.now(dt.UTC).date()
        start = start or _year_before(end)
        if start >= end:
            msg = f"--from ({start}) must be before --to ({end})"
            raise click.UsageError(msg)
        found = timeline(policy, start, end, features=features or None)
        _emit(render_timeline(found, output), destination)
        return
    report = audit(policy, at=at, features=features or None)
    _emit(render_audit(report, policy, output), destination)


def _year_before(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _emit(text: str, destination: str | None) -> None:
    write_output(text if text.endswith("\n") else text + "\n", destination)
