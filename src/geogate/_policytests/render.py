"""
Test results for people and CI: what ``geogate test`` prints.

A table with each failure's chain, the rule coverage by decision, and JUnit XML.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import click

from geogate._engine.decision import short_revision

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .runner import CaseResult, Coverage

__all__ = ["coverage_text", "junit_xml", "results_summary", "results_table"]


def results_summary(results: Sequence[CaseResult]) -> dict[str, int]:
    """Return how many cases ran, passed and failed (JSON-ready)."""
    passed = sum(result.passed for result in results)
    return {"total": len(results), "passed": passed, "failed": len(results) - passed}


def _by(result: CaseResult) -> str:
    return result.decision.rule or ("(error)" if result.decision.error_code else "(fallback)")


def results_table(results: Sequence[CaseResult], revision: str, *, quiet: bool = False) -> str:
    """
    Return ``RESULT CASE EXPECTED GOT RULE`` rows; failures get their chain below.

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

    lines = [click.style(line(header), bold=True)] if rows else []
    for row, result in zip(rows, shown, strict=True):
        text = line(row)
        colour = "green" if result.passed else "red"
        lines.append(click.style(text[:4], fg=colour, bold=True) + text[4:])
        if not result.passed:
            lines.append(f"      at {result.case.path}:{result.case.line}")
            lines += [f"    {message_line}" for message_line in result.message.splitlines()]
    summary = results_summary(results)
    verdict = "FAILED" if summary["failed"] else "OK"
    gap = "\n" if rows else ""
    lines.append(
        f"{gap}{verdict}: {summary['passed']} passed, {summary['failed']} failed, "
        f"{summary['total']} case(s), policy {short_revision(revision)}"
    )
    return "\n".join(lines)


def coverage_text(report: Coverage) -> str:
    """Return the rule coverage by decision, feature by feature, with what was never exercised."""
    lines = [
        click.style("\nCoverage by decision", bold=True)
        + f": {report.decided} of {report.rules} rules decided a case ({report.percent:.1f}%)"
    ]
    for feature in report.features:
        lines.append(
            f"  {feature.feature}: {len(feature.decided)}/{len(feature.rules)} rules, "
            f"{feature.cases} case(s)"
        )
        if feature.undecided:
            lines.append(f"    never decided: {', '.join(feature.undecided)}")
        if feature.suggestions:
            lines.append("    cases that they would decide:")
            lines += [f"      {suggestion.case}" for suggestion in feature.suggestions]
        if feature.fallbacks:
            lines.append(f"    fallbacks exercised: {', '.join(feature.fallbacks)}")
        if feature.jurisdictions:
            lines.append(
                f"    jurisdictions exercised: {len(feature.jurisdictions_exercised)}/"
                f"{len(feature.jurisdictions)} "
                f"({', '.join(feature.jurisdictions_exercised) or 'none'})"
            )
            missed = [j for j in feature.jurisdictions if j not in feature.jurisdictions_exercised]
            if missed:
                lines.append(f"    jurisdictions never exercised: {', '.join(missed)}")
        if feature.places:
            lines.append(
                f"    target places exercised: {len(feature.places_exercised)}/"
                f"{len(feature.places)}"
            )
            missed_places = [p for p in feature.places if p not in feature.places_exercised]
            below = [p for p in missed_places if "-" in p]
            if below:
                lines.append(f"    target subdivisions never exercised: {', '.join(below)}")
    return "\n".join(lines)


def junit_xml(results: Sequence[CaseResult], revision: str) -> str:
    """Return a JUnit XML report: one ``testsuite`` per test file, one ``testcase`` per case."""
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
