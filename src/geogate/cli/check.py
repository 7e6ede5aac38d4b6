"""``geogate check``: validate policy files."""

from __future__ import annotations

import sys

import click

from geogate._loader import check_paths

from ._common import (
    ExitCode,
    default_policies,
    echo_json,
    exit_code_for,
    format_option,
    print_diagnostics,
)

__all__ = ["check"]


@click.command()
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@format_option("text", "json", help="Output format.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
def check(paths: tuple[str, ...], output: str, strict: bool) -> None:
    """
    Validate policy files and directories.

    Prints one line per problem, `path:line:col: error|warning: message [code]`,
    with a hint where one helps. PATH defaults to $GEOGATE_POLICIES, else
    ./policies. Exit 0 when clean, 1 when errors were found (or warnings, with
    --strict), 3 when a path cannot be read.
    """
    given = list(paths) or [default_policies()]
    policy, diagnostics = check_paths(given)
    code = exit_code_for(diagnostics)
    warnings = sum(d.severity == "warning" for d in diagnostics)
    errors = len(diagnostics) - warnings
    if code is ExitCode.OK and strict and warnings:
        code = ExitCode.FINDINGS
    if output == "json":
        echo_json(
            {
                "ok": code is ExitCode.OK,
                "revision": None if policy is None else policy.revision,
                "files": [] if policy is None else list(policy.files),
                "features": [] if policy is None else list(policy.features),
                "errors": errors,
                "warnings": warnings,
                "diagnostics": [d.to_dict() for d in diagnostics],
            }
        )
        sys.exit(code)
    print_diagnostics(diagnostics)
    if policy is not None:
        click.echo(
            f"{len(policy.files)} file(s), {len(policy.features)} feature(s), "
            f"{sum(len(f.rules) for f in policy.features.values())} rule(s): "
            f"{errors} error(s), {warnings} warning(s); revision {policy.revision}"
        )
    else:
        click.echo(f"{errors} error(s), {warnings} warning(s); nothing was loaded")
    sys.exit(code)
