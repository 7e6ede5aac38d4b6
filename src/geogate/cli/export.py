"""``geogate export``: the policies in another engine's format (flagd flag definitions)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

import click

from geogate._export.flagd import export_flagd, render_flagd

from ._common import (
    ExitCode,
    expect_revision_option,
    features_option,
    load_or_exit,
    policies_option,
    require_features,
)

__all__ = ["export_command"]


def _cannot_write(where: str, error: OSError) -> NoReturn:
    click.echo(f"geogate: cannot write {where}: {error.strerror or error}", err=True)
    sys.exit(ExitCode.ENVIRONMENT)


def _write_whole(target: Path, text: str) -> None:
    """
    Replace *target* with *text* so that a reader sees the old file or the new one, whole.

    The temporary file is new (``O_EXCL``, a random name: no symbolic link is
    followed and two exports never share one), synced before the rename, and
    removed whatever stops the write (an error, Ctrl-C, SIGTERM through
    SystemExit). It takes the mode a new file gets (umask), not mkstemp's 0600.
    """
    try:
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        _cannot_write(repr(str(target)), error)
    temporary = Path(name)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(handle, 0o666 & ~umask)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        temporary.replace(target)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, OSError):
            _cannot_write(repr(str(target)), error)
        raise


@click.command("export")
@policies_option
@expect_revision_option
@features_option
@click.option(
    "--format",
    "output",
    type=click.Choice(["flagd"]),
    required=True,
    help="The format: flagd, a flag-definition document (https://flagd.dev/schema/v0/flags.json).",
)
@click.option(
    "--output",
    "destination",
    metavar="FILE",
    default=None,
    help="Write to FILE instead of standard output (replaced whole, never half-written).",
)
def export_command(
    policies: str | None,
    expect_revision: str | None,
    features: tuple[str, ...],
    output: str,  # noqa: ARG001 (one format so far; the option names it)
    destination: str | None,
) -> None:
    """
    Write the policies as flagd flag definitions: one boolean flag per feature.

    Each flag's targeting reproduces geogate's decision for every place and
    date from the evaluation context's `country`, `subdivision` and
    `domicile`; its variants name the deciding rule (`deny:RULE`,
    `allow:default`, `deny:partial`, `deny:unknown`). Input the document
    cannot read (an IP to locate, a lower-case subdivision) is denied:
    docs/flagd.md lists what is kept and what is lost. Exit 1 when the
    policies have errors, 2 for a usage error, 3 when FILE cannot be written.
    """
    policy = load_or_exit(policies, expect_revision=expect_revision)
    require_features(features, list(policy.features), param_hint="'--feature'")
    text = render_flagd(export_flagd(policy, features or None))
    if destination is None:
        try:
            click.echo(text, nl=False)
            sys.stdout.flush()
        except OSError as error:  # a full disk behind "> flags.json", a closed pipe
            _cannot_write("standard output", error)
        return
    target = Path(destination)
    if not target.name or target.name in {".", ".."}:
        raise click.BadParameter("FILE must name a file", param_hint="'--output'")
    _write_whole(target, text)
    click.echo(
        f"wrote {len(set(features) or policy.features)} flag(s) "
        f"({len(text.encode())} bytes, revision {policy.revision}) to {destination}",
        err=True,
    )
