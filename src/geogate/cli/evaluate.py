"""``geogate eval``: one decision, explained."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from geogate._gate.gate import Gate
from geogate._review.render_decision import decision_text

from ._common import (
    DATE,
    echo_json,
    expect_revision_option,
    format_option,
    load_or_exit,
    policies_option,
    require_features,
)
from .resolve import open_geoip

if TYPE_CHECKING:
    import datetime as dt

__all__ = ["eval_command"]


@click.command("eval")
@click.argument("feature")
@click.option("--country", metavar="CC", help="ISO 3166-1 alpha-2 code of the request's location.")
@click.option("--subdivision", metavar="CODE", help="ISO 3166-2 code, e.g. GB-NIR.")
@click.option("--domicile", metavar="CC", help="Country of the account's or company's domicile.")
@click.option("--ip", metavar="IP", help="The client's address, located with the GeoIP database.")
@click.option(
    "--geoip-db", metavar="PATH", help="GeoIP2/DB-IP database [default: $GEOGATE_GEOIP_DB]."
)
@click.option("--at", type=DATE, default=None, help="Decide for this date [default: today, UTC].")
@policies_option
@expect_revision_option
@format_option("text", "json", help="Output format; json is Decision.to_dict().")
def eval_command(
    feature: str,
    country: str | None,
    subdivision: str | None,
    domicile: str | None,
    ip: str | None,
    geoip_db: str | None,
    at: dt.date | None,
    policies: str | None,
    expect_revision: str | None,
    output: str,
) -> None:
    """
    Decide whether FEATURE may be offered, and explain why.

    Exit 0 whenever a decision was made, allowed or denied; 1 when the policies
    do not load; 2 for a usage error, including an unknown FEATURE; 3 when the
    policy path cannot be read.
    """
    policy = load_or_exit(policies, expect_revision=expect_revision)
    require_features([feature], policy.features, param_hint="FEATURE")
    geoip = open_geoip(geoip_db)
    if ip is not None and geoip is None:
        msg = "--ip needs a GeoIP database: --geoip-db PATH or $GEOGATE_GEOIP_DB"
        raise click.UsageError(msg)
    gate = Gate(policy, geoip=geoip)
    decision = gate.evaluate(
        feature, country=country, subdivision=subdivision, domicile=domicile, ip=ip, at=at
    )
    if output == "json":
        echo_json(decision.to_dict())
        return
    click.echo(decision_text(decision))
