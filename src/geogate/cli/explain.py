"""``geogate explain``: the whole chain behind one decision, in plain words."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from geogate._review.render_walkthrough import walk_through_text
from geogate._review.walkthrough import walk_through

from ._common import (
    DATE,
    echo_json,
    expect_revision_option,
    format_option,
    load_or_exit,
    policies_option,
    require_features,
)

if TYPE_CHECKING:
    import datetime as dt

__all__ = ["explain_command"]


@click.command("explain")
@click.argument("feature")
@click.option("--country", metavar="CC", help="ISO 3166-1 alpha-2 code of the request's location.")
@click.option("--subdivision", metavar="CODE", help="ISO 3166-2 code, e.g. GB-NIR.")
@click.option("--domicile", metavar="CC", help="Country of the account's or company's domicile.")
@click.option("--at", type=DATE, default=None, help="Decide for this date [default: today, UTC].")
@policies_option
@expect_revision_option
@format_option("text", "json", help="Output format; json has the chain and Decision.to_dict().")
def explain_command(
    feature: str,
    country: str | None,
    subdivision: str | None,
    domicile: str | None,
    at: dt.date | None,
    policies: str | None,
    expect_revision: str | None,
    output: str,
) -> None:
    """
    Explain step by step why FEATURE is allowed or denied.

    Shows the normalised location, the jurisdictions containing it on the
    date, every rule of the feature with why it won, lost or was not a
    candidate, the fallback used, and the decision `geogate eval` gives.

    Exit 0 whenever a decision was made, allowed or denied; 1 when the policies
    do not load; 2 for a usage error, including an unknown FEATURE; 3 when the
    policy path cannot be read.
    """
    policy = load_or_exit(policies, expect_revision=expect_revision)
    require_features([feature], policy.features, param_hint="FEATURE")
    result = walk_through(
        policy, feature, country=country, subdivision=subdivision, domicile=domicile, at=at
    )
    if output == "json":
        echo_json(result.to_dict())
        return
    click.echo(walk_through_text(result, feature))
