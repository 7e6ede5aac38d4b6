"""``geogate jurisdictions``: who is in EU, EEA, ... on a date."""

from __future__ import annotations

import datetime as dt
import difflib
from pathlib import Path

import click

from geogate._review.render_jurisdictions import jurisdictions_text
from geogate._world.jurisdictions import JurisdictionTable

from ._common import (
    DATE,
    default_policies,
    echo_json,
    format_option,
    load_or_exit,
    policies_option,
)

__all__ = ["jurisdictions_command"]


@click.command("jurisdictions")
@click.argument("name", required=False)
@click.option(
    "--at", type=DATE, default=None, help="Membership on this date [default: today, UTC]."
)
@policies_option
@format_option(
    "text", "json", help="Output format; json is {NAME: [CODE, ...]}, subdivisions included."
)
def jurisdictions_command(
    name: str | None, at: dt.date | None, policies: str | None, output: str
) -> None:
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
    click.echo(jurisdictions_text(table, names, day))
