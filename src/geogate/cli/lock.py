"""``geogate lock``: publish a policy directory at the revision its files have now."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from geogate._load.loader import check_paths
from geogate._policy.lock import LOCK_NAME, find_lock, write_lock

from ._common import ExitCode, default_policies, exit_code_for, print_diagnostics

__all__ = ["lock_command"]


@click.command("lock")
@click.argument("paths", nargs=-1, metavar="[DIR]")
def lock_command(paths: tuple[str, ...]) -> None:
    """
    Write DIR/geogate.lock: the revision and digests of the policy files in DIR.

    A gate that loads, reloads or watches DIR then answers only from files
    that match the lock, so a deployment that writes the files in place, in
    any order, and the lock last never activates a half-written set; until
    the files match, the last good policies keep answering. `geogate check`
    fails while the lock is stale. The files must load without errors (exit
    1 otherwise, with every diagnostic); a DIR that is not a directory is a
    usage error (exit 2). DIR defaults to $GEOGATE_POLICIES, else ./policies.
    """
    given = list(paths) or [default_policies()]
    where = find_lock(given)
    if where is None:
        msg = (
            f"{given[0]!r} is not a directory: the lock lives in the policy directory "
            f"({LOCK_NAME}); pass the directory"
        )
        raise click.UsageError(msg)
    policy, diagnostics = check_paths(given, lock=False)
    if policy is None:
        print_diagnostics(diagnostics, err=True)
        click.echo("geogate: nothing was locked: the files have errors", err=True)
        sys.exit(exit_code_for(diagnostics))
    try:
        write_lock(where, policy.revision, policy.digests)
    except OSError as error:
        click.echo(f"geogate: cannot write {str(where)!r}: {error.strerror or error}", err=True)
        sys.exit(ExitCode.ENVIRONMENT)
    count = len(policy.digests)
    click.echo(f"locked {Path(given[0])} at {policy.revision} ({count} file(s)) in {where}")
