"""``geogate jurisdictions``: who is in EU, EEA, ... on a date."""

from __future__ import annotations

import datetime as dt
import difflib
import textwrap
from pathlib import Path

import click

from geogate._jurisdictions import JurisdictionTable

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
@format_option("text", "json", help="Output format; json is {NAME: [CC, ...]}.")
def jurisdictions(name: str | None, at: dt.date | None, policies: str | None, output: str) -> None:
    """
    List the built-in and custom jurisdictions and their members on a date.

    Custom jurisdictions come from the loaded policies; when --policies is not
    given and ./policies does not exist, only the built-in ones are listed.
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
        click.echo(textwrap.fill(" ".join(members) or "(none)", 96, initial_indent="  ",
                                 subsequent_indent="  "))  # fmt: skip
