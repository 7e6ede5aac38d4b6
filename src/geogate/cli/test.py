"""``geogate test``: run the declarative policy tests, with coverage by decision."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, NoReturn

import click

from geogate._engine.decision import short_revision
from geogate._gate.gate import Gate
from geogate._load.loader import ENVIRONMENT_CODES, check_paths
from geogate._policytests.files import find_test_files, load_cases
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
    from geogate._policytests.runner import CaseResult, Coverage

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
            "summary": _summary(results),
            "cases": [result.to_dict() for result in results],
        }
        if show_coverage or coverage_threshold is not None:
            data["coverage"] = report.to_dict()
        echo_json(data)
    elif output == "junit":
        click.echo(_junit(results, policy.revision))
    else:
        _table(results, policy.revision, quiet=quiet)
        if show_coverage:
            _coverage_table(report)
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


def _summary(results: Sequence[CaseResult]) -> dict[str, int]:
    passed = sum(result.passed for result in results)
    return {"total": len(results), "passed": passed, "failed": len(results) - passed}


def _by(result: CaseResult) -> str:
    return result.decision.rule or ("(error)" if result.decision.error_code else "(fallback)")


def _table(results: Sequence[CaseResult], revision: str, *, quiet: bool = False) -> None:
    """
    Print ``RESULT CASE EXPECTED GOT RULE`` rows; failures get their chain below.

    With *quiet*, passing cases get no row (and, when every case passed, no header).
    """
    shown = [r for r in results if not (quiet and r.passed)]
    rows = [
        (
            "PASS" if r.passed else "FAIL",
            r.case.id,
            r.case.expect + (f" by {r.case.rule}" if r.case.rule else ""),
            str(r.decision.effect),
            _by(r),
        )
        for r in shown
    ]
    header = ("RESULT", "CASE", "EXPECTED", "GOT", "RULE")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]

    def line(row: tuple[str, ...]) -> str:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        return "  ".join([*cells, row[-1]])

    if rows:
        click.echo(click.style(line(header), bold=True))
    for row, result in zip(rows, shown, strict=True):
        text = line(row)
        colour = "green" if result.passed else "red"
        click.echo(click.style(text[:4], fg=colour, bold=True) + text[4:])
        if not result.passed:
            click.echo(f"      at {result.case.path}:{result.case.line}")
            for message_line in result.message.splitlines():
                click.echo(f"    {message_line}")
    summary = _summary(results)
    verdict = "FAILED" if summary["failed"] else "OK"
    gap = "\n" if rows else ""
    click.echo(
        f"{gap}{verdict}: {summary['passed']} passed, {summary['failed']} failed, "
        f"{summary['total']} case(s), policy {short_revision(revision)}"
    )


def _coverage_table(report: Coverage) -> None:
    click.echo(
        click.style("\nCoverage by decision", bold=True)
        + f": {report.decided} of {report.rules} rules decided a case ({report.percent:.1f}%)"
    )
    for feature in report.features:
        click.echo(
            f"  {feature.feature}: {len(feature.decided)}/{len(feature.rules)} rules, "
            f"{feature.cases} case(s)"
        )
        if feature.undecided:
            click.echo(f"    never decided: {', '.join(feature.undecided)}")
        if feature.suggestions:
            click.echo("    cases that they would decide:")
            for suggestion in feature.suggestions:
                click.echo(f"      {suggestion.case}")
        if feature.fallbacks:
            click.echo(f"    fallbacks exercised: {', '.join(feature.fallbacks)}")
        if feature.jurisdictions:
            click.echo(
                f"    jurisdictions exercised: {len(feature.jurisdictions_exercised)}/"
                f"{len(feature.jurisdictions)} "
                f"({', '.join(feature.jurisdictions_exercised) or 'none'})"
            )
            missed = [j for j in feature.jurisdictions if j not in feature.jurisdictions_exercised]
            if missed:
                click.echo(f"    jurisdictions never exercised: {', '.join(missed)}")
        if feature.places:
            click.echo(
                f"    target places exercised: {len(feature.places_exercised)}/"
                f"{len(feature.places)}"
            )
            missed_places = [p for p in feature.places if p not in feature.places_exercised]
            below = [p for p in missed_places if "-" in p]
            if below:
                click.echo(f"    target subdivisions never exercised: {', '.join(below)}")


def _junit(results: Sequence[CaseResult], revision: str) -> str:
    """One ``testsuite`` per test file, one ``testcase`` per case."""
    suites = ET.Element("testsuites", name="geogate test")
    by_path: dict[str, list[CaseResult]] = {}
    for result in results:
        by_path.setdefault(result.case.path, []).append(result)
    for path, mine in by_path.items():
        failures = sum(not r.passed for r in mine)
        suite = ET.SubElement(
            suites, "testsuite", name=path, tests=str(len(mine)), failures=str(failures)
        )
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="policy-revision", value=revision)
        for result in mine:
            case = result.case
            element = ET.SubElement(
                suite,
                "testcase",
                classname=path,
                name=case.id.split("::", 1)[1],
                file=case.path,
                line=str(case.line),
            )
            if not result.passed:
                failure = ET.SubElement(
                    element, "failure", message=result.message.splitlines()[0], type="mismatch"
                )
                failure.text = result.message
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)
