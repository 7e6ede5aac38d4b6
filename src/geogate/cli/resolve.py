"""``geogate resolve``: where a request comes from, and how geogate knows."""

from __future__ import annotations

import datetime as dt
import os
import sys

import click

from geogate._locate.geo import GeoDatabase
from geogate._locate.request import RequestResolver
from geogate._world.countries import subdivision_chain
from geogate._world.jurisdictions import JurisdictionTable
from geogate.exceptions import GeoDatabaseError

from ._common import ExitCode, echo_json, format_option

__all__ = ["open_geoip", "resolve_command"]


def open_geoip(path: str | None) -> GeoDatabase | None:
    """Open *path* (else ``$GEOGATE_GEOIP_DB``), or exit 3 saying why it cannot be used."""
    path = path or os.environ.get("GEOGATE_GEOIP_DB") or None
    if path is None:
        return None
    try:
        return GeoDatabase(path)
    except GeoDatabaseError as exc:
        click.echo(f"geogate: {exc}", err=True)
        sys.exit(ExitCode.ENVIRONMENT)


def _header(value: str) -> tuple[str, str]:
    name, sep, rest = value.partition(":")
    if not sep or not name.strip():
        msg = f"{value!r} is not a header; write 'Name: value', e.g. 'CF-IPCountry: FR'"
        raise click.BadParameter(msg, param_hint="--header")
    return name.strip(), rest.strip()


@click.command("resolve")
@click.option("--ip", metavar="IP", help="The client's address, looked up in the GeoIP database.")
@click.option(
    "--geoip-db", metavar="PATH", help="GeoIP2/DB-IP database [default: $GEOGATE_GEOIP_DB]."
)
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="A request header (repeatable).",
)
@click.option("--peer", metavar="IP", help="The address the request came from [default: --ip].")
@click.option(
    "--trust", multiple=True, metavar="CIDR", help="A trusted proxy network (repeatable)."
)
@click.option(
    "--provider",
    "providers",
    multiple=True,
    metavar="NAME",
    help="A CDN whose headers to honour (repeatable).",
)
@format_option(
    "text", "json", help='json is {"country", "subdivision", "jurisdictions", "source", "detail"}.'
)
def resolve_command(
    ip: str | None,
    geoip_db: str | None,
    headers: tuple[str, ...],
    peer: str | None,
    trust: tuple[str, ...],
    providers: tuple[str, ...],
    output: str,
) -> None:
    """
    Show where a request comes from, as the web middleware would see it.

    Headers count only from providers named with --provider and only when the
    peer is inside a --trust network. Exit 0 whenever a location (or its
    absence) was determined; 2 for a usage error; 3 for an unusable database.
    """
    if ip is None and not headers:
        msg = "give --ip, or one or more --header"
        raise click.UsageError(msg)
    pairs = [_header(h) for h in headers]
    geoip = open_geoip(geoip_db)
    if ip is not None and geoip is None:
        msg = "--ip needs a GeoIP database: --geoip-db PATH or $GEOGATE_GEOIP_DB"
        raise click.UsageError(msg)
    try:
        resolver = RequestResolver(providers=providers, trusted_proxies=trust, geoip=geoip)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    found = resolver.resolve(pairs, peer or ip)
    today = dt.datetime.now(dt.UTC).date()
    table = JurisdictionTable.with_custom(())
    chain = subdivision_chain(found.subdivision) if found.subdivision else ()
    jurisdictions = list(table.containing(found.country, today, chain)) if found.country else []
    data = {
        "country": found.country,
        "subdivision": found.subdivision,
        "jurisdictions": jurisdictions,
        "source": found.source,
        "detail": found.detail,
    }
    if output == "json":
        echo_json(data)
        return
    where = found.subdivision or found.country or "unknown"
    click.echo(f"{where}  ({found.source})")
    if jurisdictions:
        click.echo(f"  jurisdictions: {', '.join(jurisdictions)}")
    click.echo(f"  {found.detail}")
