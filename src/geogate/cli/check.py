"""``geogate check``: validate policy files, and lint them."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any

import click

from geogate import __version__
from geogate._engine.splits import find_splits
from geogate._load.loader import check_paths
from geogate._review.lints import LINT_CODES, lint_policy

from ._common import (
    DATE,
    ExitCode,
    default_policies,
    echo_json,
    exit_code_for,
    expect_revision_option,
    format_option,
    policies_option,
    print_diagnostics,
    revision_findings,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from geogate._engine.splits import SplitPlace
    from geogate._policy.diagnostics import Diagnostic

__all__ = ["check"]

_SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


class _Day(click.ParamType):  # type: ignore[type-arg]
    """A date written YYYY-MM-DD, or ``today`` (UTC)."""

    name = "YYYY-MM-DD|today"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:  # noqa: ANN401
        if value == "today":
            return dt.datetime.now(dt.UTC).date()
        return DATE.convert(value, param, ctx)


@click.command()
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@policies_option
@format_option(
    "text",
    "json",
    "github",
    "sarif",
    help="text for people; json for tools; github for workflow annotations; sarif 2.1.0.",
)
@expect_revision_option
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@click.option(
    "--since",
    type=DATE,
    default=None,
    help="Lint rules over dates from this one on [default: the earliest rule date].",
)
@click.option(
    "--expired-before",
    "expired_before",
    type=_Day(),
    default=None,
    help="Warn about rules whose window ended before this date (expired-rule).",
)
def check(
    paths: tuple[str, ...],
    policies: str | None,
    output: str,
    expect_revision: str | None,
    strict: bool,
    since: dt.date | None,
    expired_before: dt.date | None,
) -> None:
    """
    Validate policy files and directories, and lint what loads.

    Prints one line per problem, `path:line:col: error|warning: message [code]`,
    with a hint where one helps. Give the policies as PATH arguments or with
    --policies PATH, as other commands take them (not both); the default is
    $GEOGATE_POLICIES, else ./policies. Exit 0 when clean, 1 when errors were
    found (or warnings, with --strict, or a revision other than
    --expect-revision), 3 when a path cannot be read. docs/diagnostics.md explains every code.

    It also lists each split place of each feature, with its dates: a country
    (or subdivision) that rules decide differently inside, where a request
    naming only that place gets the feature's `partial` setting (or deny, when
    a hard_deny rule decides inside). That is information, not a finding: it
    never changes the exit code.
    """
    if paths and policies is not None:
        msg = (
            f"give the policies either as PATH arguments ({' '.join(paths)}) or with "
            f"--policies {policies}, not both"
        )
        raise click.UsageError(msg)
    given = list(paths) or [policies or default_policies()]
    policy, diagnostics = check_paths(given)
    splits: list[SplitPlace] = []
    if policy is not None:
        splits = find_splits(policy)
        mismatch = revision_findings(", ".join(given), policy, expect_revision)
        lints = (*mismatch, *lint_policy(policy, since=since, expired_before=expired_before))
        diagnostics = tuple(sorted((*diagnostics, *lints), key=lambda d: (d.position, d.code)))
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
                "splits": [split.to_dict() for split in splits],
            }
        )
        sys.exit(code)
    if output == "sarif":
        click.echo(json.dumps(sarif(diagnostics), indent=2, ensure_ascii=False))
        sys.exit(code)
    if output == "github":
        for diagnostic in diagnostics:
            click.echo(github_annotation(diagnostic))
    else:
        print_diagnostics(diagnostics)
    _print_splits(splits)
    if policy is not None:
        click.echo(
            f"{len(policy.files)} file(s), {len(policy.features)} feature(s), "
            f"{sum(len(f.rules) for f in policy.features.values())} rule(s): "
            f"{errors} error(s), {warnings} warning(s); revision {policy.revision}"
        )
    else:
        click.echo(f"{errors} error(s), {warnings} warning(s); nothing was loaded")
    sys.exit(code)


def _print_splits(splits: Sequence[SplitPlace]) -> None:
    """List the split places under a heading that says what they mean (nothing when none)."""
    if not splits:
        return
    click.echo(
        click.style("Split places", bold=True)
        + ": rules decide differently inside them; a request naming only the place gets the "
        "feature's partial setting, or deny where a hard_deny rule decides inside"
    )
    for split in splits:
        click.echo(f"  {split.describe()}")


def _escape(text: str, *, property_value: bool = False) -> str:
    """Escape text for a GitHub workflow command (its data, or a property value)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def github_annotation(diagnostic: Diagnostic) -> str:
    """Return ``::warning file=...,line=...,col=...,title=code::message`` (hint on a new line)."""
    position = diagnostic.position
    message = diagnostic.message
    if diagnostic.hint:
        message += f"\nhint: {diagnostic.hint}"
    properties = ",".join(
        (
            f"file={_escape(position.path, property_value=True)}",
            f"line={position.line}",
            f"col={position.column}",
            f"title={_escape(diagnostic.code, property_value=True)}",
        )
    )
    return f"::{diagnostic.severity} {properties}::{_escape(message)}"


def sarif(diagnostics: Sequence[Diagnostic]) -> dict[str, object]:
    """Return a SARIF 2.1.0 log: one rule per code, one result per diagnostic."""
    codes = sorted({d.code for d in diagnostics})
    index = {code: i for i, code in enumerate(codes)}
    rules = [
        {
            "id": code,
            "name": code,
            "shortDescription": {"text": LINT_CODES.get(code, code)},
            "help": {"text": f"See docs/diagnostics.md#{code} in geogate."},
        }
        for code in codes
    ]
    results = [
        {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": d.severity,
            "message": {"text": d.message + (f"\nhint: {d.hint}" if d.hint else "")},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": d.position.path.replace("\\", "/")},
                        "region": {"startLine": d.position.line, "startColumn": d.position.column},
                    }
                }
            ],
        }
        for d in diagnostics
    ]
    return {
        "$schema": _SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "geogate",
                        "version": __version__,
                        "informationUri": "https://pypi.org/project/geogate/",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
