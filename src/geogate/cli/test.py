"""``geogate test``: run the declarative policy tests, with coverage by decision."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

import click

from geogate._gate.gate import Gate
from geogate._load.loader import ENVIRONMENT_CODES, check_paths
from geogate._policytests.files import find_test_files, load_cases
from geogate._policytests.render import coverage_text, junit_xml, results_summary, results_table
from geogate._policytests.runner import coverage, run_cases

from ._common import (
    DATE,
    ExitCode,
    default_policies,
    echo_json,
    expect_revision_option,
    format_option,
    policies_option,
    print_diagnostics,
    revision_findings,
)
from .resolve import open_geoip

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

    from geogate._policy.diagnostics import Diagnostic

__all__ = ["test_command"]


@click.command("test")
@click.argument("files", nargs=-1, metavar="[FILES]...")
@policies_option
@expect_revision_option
@format_option("table", "json", "junit", help="Output format; junit is one testcase per case.")
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Table format: print only failing cases and the summary line (and --coverage).",
)
@click.option("--coverage", "show_coverage", is_flag=True, help="Report rule coverage by decision.")
@click.option(
    "--coverage-threshold",
    type=click.FloatRange(0, 100),
    metavar="N",
    default=None,
    help="Fail (exit 1) when fewer than N percent of the rules decided a case.",
)
@click.option(
    "--at", type=DATE, default=None, help="Date for cases without 'at:' [default: today, UTC]."
)
@click.option(
    "--geoip-db", metavar="PATH", help="GeoIP database for cases with 'ip:' [$GEOGATE_GEOIP_DB]."
)
def test_command(
    files: tuple[str, ...],
    policies: str | None,
    expect_revision: str | None,
    output: str,
    quiet: bool,
    show_coverage: bool,
    coverage_threshold: float | None,
    at: dt.date | None,
    geoip_db: str | None,
) -> None:
    """
    Run policy tests: FILES (files or folders), else the policy directory's tests/.

    Each case pins the decision for a feature at a place on a date, and
    optionally the rule that decides it; failures show the explanation chain.

    Exit 0 when every case passes; 1 when a case fails, the rule coverage is
    below --coverage-threshold or the policies are not --expect-revision; 2
    when the policies or the test files do not load (a misnamed feature,
    country or rule included), or when no case runs;
    3 when a path cannot be read.
    """
    path = policies or default_policies()
    policy, diagnostics = check_paths([path])
    mismatch = () if policy is None else revision_findings(path, policy, expect_revision)
    if mismatch:
        print_diagnostics(mismatch, err=True)
        click.echo(f"geogate: the policies at {path!r} are not the expected revision", err=True)
        sys.exit(ExitCode.FINDINGS)
    if policy is None:
        _fail_load(diagnostics, f"the policies at {path!r} did not load")
    selected: Sequence[str] = files or [str(p) for p in find_test_files([path])]
    if not selected:
        click.echo(
            f"geogate: no test files: {path!r} has no tests/ folder with *.yaml files; "
            "pass test files, or add some (see `geogate test --help`)",
            err=True,
        )
        sys.exit(ExitCode.USAGE)
    cases, problems = load_cases(selected, policy, at=at)
    if any(d.severity == "error" for d in problems):
        _fail_load(problems, "the test files did not load")
    print_diagnostics(problems, err=True)
    if not cases:
        click.echo(
            f"geogate: no test cases in {', '.join(selected)}: a run that tests nothing fails",
            err=True,
        )
        sys.exit(ExitCode.USAGE)
    gate = Gate(policy, geoip=open_geoip(geoip_db))
    results = run_cases(gate, cases)
    report = coverage(policy, results, today=at)
    if output == "json":
        data: dict[str, object] = {
            "revision": policy.revision,
            "summary": results_summary(results),
            "cases": [result.to_dict() for result in results],
        }
        if show_coverage or coverage_threshold is not None:
            data["coverage"] = report.to_dict()
        echo_json(data)
    elif output == "junit":
        click.echo(junit_xml(results, policy.revision))
    else:
        click.echo(results_table(results, policy.revision, quiet=quiet))
        if show_coverage:
            click.echo(coverage_text(report))
    failed = sum(not result.passed for result in results)
    below = coverage_threshold is not None and report.percent < coverage_threshold
    if below:
        click.echo(
            f"geogate: rule coverage {report.percent:.1f}% is below the threshold "
            f"{coverage_threshold:g}% ({report.decided} of {report.rules} rules decided a case)",
            err=True,
        )
    sys.exit(ExitCode.FINDINGS if failed or below else ExitCode.OK)


def _fail_load(diagnostics: Sequence[Diagnostic], what: str) -> NoReturn:
    print_diagnostics(diagnostics, err=True)
    errors = [d for d in diagnostics if d.severity == "error"]
    click.echo(f"geogate: {what} ({len(errors)} error(s))", err=True)
    environment = any(d.code in ENVIRONMENT_CODES for d in errors)
    sys.exit(ExitCode.ENVIRONMENT if environment else ExitCode.USAGE)
