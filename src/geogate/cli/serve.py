"""``geogate serve``: the OFREP server under uvicorn."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from geogate._gate import Gate
from geogate._request import RequestResolver

from ._common import (
    ExitCode,
    default_policies,
    expect_revision_option,
    load_or_exit,
    policies_option,
)
from .resolve import open_geoip

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["serve", "worker_app"]

#: How ``geogate serve --workers N`` hands its options to the worker processes.
CONFIG_VARIABLE = "GEOGATE_SERVE_CONFIG"
_INSTALL_HINT = "geogate serve needs the serve extra: pip install 'geogate[serve]'"


def worker_app() -> Starlette:
    """
    Build one worker's application from ``$GEOGATE_SERVE_CONFIG`` (``--workers`` > 1).

    Each worker loads the policies itself, in the background: its ``/readyz``
    answers 503 until they are loaded.
    """
    from geogate.ofrep import create_app  # noqa: PLC0415 (optional extra)

    config: dict[str, Any] = json.loads(os.environ[CONFIG_VARIABLE])

    def load() -> Gate:
        return Gate.from_path(
            config["policies"],
            geoip_db=config["geoip_db"],
            expect_revision=config.get("expect_revision"),
        )

    return create_app(
        load,
        providers=config["providers"],
        trusted_proxies=config["trust"],
        forwarded=config["forwarded"],
    )


@click.command()
@policies_option
@expect_revision_option
@click.option(
    "--geoip-db", metavar="PATH", help="GeoIP2/DB-IP database [default: $GEOGATE_GEOIP_DB]."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8016, show_default=True, help="Port."
)
@click.option(
    "--provider",
    "providers",
    multiple=True,
    metavar="NAME",
    help="A CDN whose country headers to honour (repeatable).",
)
@click.option(
    "--trust",
    multiple=True,
    metavar="CIDR",
    help="A trusted proxy or CDN network (repeatable); headers count only from these.",
)
@click.option(
    "--forwarded",
    type=click.Choice(["x-forwarded-for", "forwarded", "none"]),
    default="x-forwarded-for",
    show_default=True,
    help="The forwarding header the trusted proxies append to.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Processes."
)
def serve(
    policies: str | None,
    expect_revision: str | None,
    geoip_db: str | None,
    host: str,
    port: int,
    providers: tuple[str, ...],
    trust: tuple[str, ...],
    forwarded: str,
    workers: int,
) -> None:
    """
    Serve the OpenFeature Remote Evaluation Protocol (OFREP) for the policies.

    POST /ofrep/v1/evaluate/flags/{feature} and /ofrep/v1/evaluate/flags with
    {"context": {"country": "FR"}}; without a location in the context, the
    request's own is used (--provider headers from --trust peers, else GeoIP).
    GET /healthz and /readyz. Exit 1 when the policies have errors, 2 for a
    usage error, 3 for an unusable database, a port in use or a missing
    serve extra.
    """
    try:
        import uvicorn  # noqa: PLC0415 (optional extra)

        from geogate.ofrep import create_app  # noqa: PLC0415 (optional extra)
    except ImportError:
        click.echo(f"geogate: {_INSTALL_HINT}", err=True)
        sys.exit(ExitCode.ENVIRONMENT)
    try:
        RequestResolver(providers=providers, trusted_proxies=trust, forwarded=forwarded)  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    policy = load_or_exit(policies, expect_revision=expect_revision)
    geoip = open_geoip(geoip_db)
    if workers == 1:
        app = create_app(
            Gate(policy, geoip=geoip),
            providers=providers,
            trusted_proxies=trust,
            forwarded=forwarded,  # type: ignore[arg-type]
        )
        uvicorn.run(app, host=host, port=port, ws="none", server_header=False)
        return
    # Workers are separate processes: they rebuild the application from the
    # environment, from the same files the policies were just checked in.
    database = geoip_db or os.environ.get("GEOGATE_GEOIP_DB") or None
    config: dict[str, object] = {
        "policies": str(Path(policies or default_policies()).resolve()),
        "geoip_db": None if database is None else str(Path(database).resolve()),
        "providers": list(providers),
        "trust": list(trust),
        "forwarded": forwarded,
    }
    if expect_revision is not None:
        # Each worker loads the files again: it too refuses any other content.
        config["expect_revision"] = expect_revision
    os.environ[CONFIG_VARIABLE] = json.dumps(config)
    uvicorn.run(
        "geogate.cli.serve:worker_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ws="none",
        server_header=False,
    )
