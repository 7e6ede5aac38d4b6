"""``geogate jurisdictions``: who is in EU, EEA, ... on a date."""

from __future__ import annotations

import datetime as dt
import difflib
import textwrap
from pathlib import Path

import click

from geogate._world.countries import country_name, subdivision_name
from geogate._world.jurisdictions import Jurisdiction, JurisdictionTable, Span

from ._common import (
    DATE,
    default_policies,
    echo_json,
    format_option,
    load_or_exit,
    policies_option,
)

__all__ = ["jurisdictions"]


@click.command()
@click.argument("name", required=False)
@click.option(
    "--at", type=DATE, default=None, help="Membership on this date [default: today, UTC]."
)
@policies_option
@format_option(
    "text", "json", help="Output format; json is {NAME: [CODE, ...]}, subdivisions included."
)
def jurisdictions(name: str | None, at: dt.date | None, policies: str | None, output: str) -> None:
    """
    List the built-in and custom jurisdictions and their members on a date.

    Custom jurisdictions come from the loaded policies; when --policies is not
    given and ./policies does not exist, only the built-in ones are listed. A
    jurisdiction that holds subdivisions (OFAC-COMPREHENSIVE holds UA-43,
    Crimea) lists each member on its own line, with its name and the dates of
    its membership, then the members of other dates.
    """
    day = at or dt.datetime.now(dt.UTC).date()
    if policies is None and not Path(default_policies()).exists():
        table = JurisdictionTable.with_custom(())
    else:
        table = load_or_exit(policies).jurisdictions
    names = list(table.jurisdictions)
    if name is not None:
        wanted = name.upper()
        if wanted not in table:
            close = difflib.get_close_matches(wanted, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(names)}"
            msg = f"no jurisdiction {name!r}{hint}"
            raise click.BadParameter(msg, param_hint="NAME")
        names = [wanted]
    if output == "json":
        echo_json({n: sorted(table.members_at(n, day)) for n in names})
        return
    for n in names:
        jurisdiction = table.jurisdictions[n]
        members = sorted(table.members_at(n, day))
        kind = "built-in" if jurisdiction.builtin else "custom"
        click.echo(click.style(f"{n}", bold=True) + f"  ({kind}, {len(members)} on {day})")
        click.echo(textwrap.fill(jurisdiction.description, 96, initial_indent="  ",
                                 subsequent_indent="  "))  # fmt: skip
        if jurisdiction.subdivisions:
            _echo_members(jurisdiction, members, day)
            continue
        click.echo(textwrap.fill(" ".join(members) or "(none)", 96, initial_indent="  ",
                                 subsequent_indent="  "))  # fmt: skip


def _echo_members(jurisdiction: Jurisdiction, members: list[str], day: dt.date) -> None:
    """One line per member on *day*: code, name and membership dates; then other dates' members."""
    width = max((len(code) for code in jurisdiction.members), default=2)
    for code in members:
        spans = jurisdiction.members[code]
        current = next((span for span in spans if span.contains(day)), spans[0])
        dates = _dates(current)
        click.echo(f"  {code.ljust(width)}  {_name(code)}" + (f" ({dates})" if dates else ""))
    others = [
        f"{code} ({'; '.join(_dates(span) for span in jurisdiction.members[code])})"
        for code in sorted(jurisdiction.members)
        if code not in members
    ]
    if others:
        text = f"Members on other dates: {', '.join(others)}"
        click.echo(textwrap.fill(text, 96, initial_indent="  ", subsequent_indent="    "))


def _name(code: str) -> str:
    """``Cuba``, or ``Avtonomna Respublika Krym, Ukraine`` for a subdivision."""
    if "-" not in code:
        return country_name(code)
    return f"{subdivision_name(code)}, {country_name(code.partition('-')[0])}"


def _dates(span: Span) -> str:
    """``from 2022-02-21``, ``until 2025-06-30``, both, or nothing for an open span."""
    parts = ([f"from {span.start}"] if span.start else []) + (
        [f"until {span.end}"] if span.end else []
    )
    return " ".join(parts)
