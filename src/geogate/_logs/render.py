"""
A `Summary` as text, JSON, CSV or Markdown.

All four say the same things: the text for a terminal (long lists cut to their
largest entries, with how many more there are), JSON and CSV whole, for
scripts and spreadsheets, Markdown for a pull request or a ticket.
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from .summary import Count, FeatureSummary, Summary
    from .verify import Verification

__all__ = [
    "render_csv",
    "render_json",
    "render_markdown",
    "render_text",
    "render_verification",
    "rows",
]

#: The JSON document's kind and version.
JSON_SCHEMA: Final = "geogate.logs.summary/1"
#: Most entries a text or Markdown list shows (JSON and CSV show all).
SHOWN: Final = 15
CSV_HEADER: Final = (
    "feature",
    "dimension",
    "key",
    "decisions",
    "allowed",
    "denied",
    "unknown_location",
    "invalid_location",
    "unknown_rate",
    "first_allowed",
    "last_allowed",
)


def _place(country: str | None, subdivision: str | None) -> str:
    if subdivision is not None:
        return f"{country or '-'} {subdivision}"
    return country or "(unknown)"


def _outcome(effect: str, reason: str, rule: str | None) -> str:
    return f"{effect} {reason}" + (f" {rule}" if rule else "")


def rows(feature: FeatureSummary) -> Iterator[tuple[str, str, Count | int]]:
    """(dimension, key, count) for every figure of *feature*, in a stable order."""
    yield "total", "", feature.total
    for period, count in sorted(feature.periods.items()):
        yield "period", period, count
    for name, count in _largest(feature.jurisdictions.items()):
        yield "jurisdiction", name, count
    places = [(_place(*place), count) for place, count in feature.places.items()]
    for name, count in _largest(places):
        yield "place", name, count
    for name, count in _largest(feature.sources.items()):
        yield "location_source", name, count
    for outcome, number in sorted(feature.outcomes.items(), key=lambda i: (-i[1], str(i[0]))):
        yield "outcome", _outcome(*outcome), number
    for revision, number in sorted(feature.revisions.items(), key=lambda i: (-i[1], i[0])):
        yield "revision", revision, number


def _largest(counts: Iterable[tuple[str, Count]]) -> list[tuple[str, Count]]:
    return sorted(counts, key=lambda item: (-item[1].decisions, item[0]))


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _heading(summary: Summary) -> str:
    window = ""
    if summary.start or summary.end:
        window = f", {summary.start or '…'} to {summary.end or '…'}"
    damaged = f", {summary.damaged:,} damaged (skipped)" if summary.damaged else ""
    return (
        f"{len(summary.files)} file(s), {summary.lines:,} line(s){damaged}{window}, "
        f"{summary.decisions:,} decision(s), by {summary.by}"
    )


def _feature_line(feature: FeatureSummary) -> str:
    total = feature.total
    return (
        f"{feature.feature}: {total.decisions:,} decisions, {total.allowed:,} allowed "
        f"({_percent(total.allowed, total.decisions)}), {total.denied:,} denied; "
        f"unknown location {_percent(total.unknown, total.decisions)}"
        + (f", invalid {_percent(total.invalid, total.decisions)}" if total.invalid else "")
    )


def render_text(summary: Summary) -> str:
    """The summary for a terminal."""
    lines = [_heading(summary)]
    if not summary.features:
        lines.append("No decisions in these logs for what was asked.")
    for feature in summary.features:
        lines += ["", _feature_line(feature)]
        sections: dict[str, list[tuple[str, Count | int]]] = {}
        for dimension, key, count in rows(feature):
            if dimension != "total":
                sections.setdefault(dimension, []).append((key, count))
        for dimension, entries in sections.items():
            lines.append(f"  by {dimension.replace('_', ' ')}:")
            width = max(len(key) for key, _ in entries[:SHOWN])
            for key, count in entries[:SHOWN]:
                lines.append(f"    {key:<{width}}  {_figures(count)}")
            if len(entries) > SHOWN:
                lines.append(f"    … and {len(entries) - SHOWN} more (--format json or csv)")
        if feature.networks:
            lines.append("  busiest IP networks (as logged):")
            for network, count, allowed in feature.networks:
                lines.append(f"    {network:<20}  {count:>12,}  allowed {allowed:,}")
    lines += _damage_text(summary)
    return "\n".join(lines) + "\n"


def _figures(count: Count | int) -> str:
    if isinstance(count, int):
        return f"{count:>12,}"
    text = (
        f"{count.decisions:>12,}  allowed {count.allowed:>10,}  denied {count.denied:>10,}"
        f"  unknown {_percent(count.unknown, count.decisions):>6}"
    )
    if count.first_allowed is not None:
        text += f"  allowed {count.first_allowed} to {count.last_allowed}"
    return text


def _damage_text(summary: Summary) -> list[str]:
    if not summary.damaged:
        return []
    lines = ["", f"Damaged lines, skipped ({summary.damaged:,}):"]
    lines += [f"  {damage}" for damage in summary.damage]
    shown = len(summary.damage)
    if summary.damaged > shown:
        lines.append(f"  … and {summary.damaged - shown:,} more")
    return lines


def _count_json(count: Count | int) -> dict[str, object]:
    return {"decisions": count} if isinstance(count, int) else count.as_dict()


def render_json(summary: Summary) -> str:
    """The whole summary as one JSON document."""
    features = {}
    for feature in summary.features:
        entry: dict[str, object] = {"total": feature.total.as_dict()}
        listed: dict[str, list[dict[str, object]]] = {}
        for dimension, key, count in rows(feature):
            if dimension != "total":
                listed.setdefault(dimension, []).append({"key": key, **_count_json(count)})
        entry.update(listed)
        if feature.networks:
            entry["ip_networks"] = [
                {"network": n, "decisions": c, "allowed": a} for n, c, a in feature.networks
            ]
        features[feature.feature] = entry
    document = {
        "schema": JSON_SCHEMA,
        "files": list(summary.files),
        "lines": summary.lines,
        "decisions": summary.decisions,
        "damaged": summary.damaged,
        "damage": [
            {"file": d.path, "line": d.line, "column": d.column, "message": d.message}
            for d in summary.damage
        ],
        "from": None if summary.start is None else summary.start.isoformat(),
        "to": None if summary.end is None else summary.end.isoformat(),
        "by": summary.by,
        "features": features,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_csv(summary: Summary) -> str:
    """One row per feature and figure: ``feature,dimension,key,decisions,...``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for feature in summary.features:
        for dimension, key, count in rows(feature):
            figures = _count_json(count)
            writer.writerow(
                [feature.feature, dimension, key, *(figures.get(k, "") for k in CSV_HEADER[3:])]
            )
    return out.getvalue()


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(summary: Summary) -> str:
    """The summary as Markdown: a section and tables per feature."""
    lines = ["# Decisions served", "", _heading(summary) + "."]
    for feature in summary.features:
        lines += ["", f"## `{_cell(feature.feature)}`", "", _feature_line(feature) + "."]
        sections: dict[str, list[tuple[str, Count | int]]] = {}
        for dimension, key, count in rows(feature):
            if dimension != "total":
                sections.setdefault(dimension, []).append((key, count))
        for dimension, entries in sections.items():
            lines += ["", f"By {dimension.replace('_', ' ')}:", ""]
            lines += ["| | decisions | allowed | denied | unknown | allowed from | to |"]
            lines += ["| --- | ---: | ---: | ---: | ---: | --- | --- |"]
            for key, count in entries[:SHOWN]:
                if isinstance(count, int):
                    lines.append(f"| {_cell(key)} | {count:,} | | | | | |")
                    continue
                lines.append(
                    f"| {_cell(key)} | {count.decisions:,} | {count.allowed:,} | "
                    f"{count.denied:,} | {_percent(count.unknown, count.decisions)} | "
                    f"{count.first_allowed or ''} | {count.last_allowed or ''} |"
                )
            if len(entries) > SHOWN:
                lines.append(f"\n… and {len(entries) - SHOWN} more (`--format json` or `csv`).")
    if summary.damaged:
        lines += ["", f"Damaged lines, skipped: {summary.damaged:,}.", ""]
        lines += [f"- `{_cell(str(damage))}`" for damage in summary.damage]
    return "\n".join(lines) + "\n"


#: The JSON document of ``geogate logs verify``: its kind and version.
VERIFY_SCHEMA: Final = "geogate.logs.verify/1"


def render_verification(result: Verification, output: str) -> str:
    """``geogate logs verify``'s report: ``table`` or ``json``."""
    if output == "json":
        document = {
            "schema": VERIFY_SCHEMA,
            "clean": result.clean,
            "lines": result.lines,
            "decisions": result.decisions,
            "inputs": result.inputs,
            "revisions": result.revisions,
            "verified": list(result.verified),
            "expected": list(result.expected),
            "findings": [
                {"kind": f.kind, "message": f.message, "lines": f.lines, "where": list(f.where)}
                for f in result.findings
            ],
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    lines = [
        f"{result.lines:,} line(s), {result.decisions:,} decision(s), {result.inputs:,} distinct "
        f"input(s) re-decided under {len(result.verified)} revision(s)"
        + (f"; {len(result.expected)} more expected" if result.expected else "")
    ]
    for revision, count in result.revisions.items():
        status = (
            "re-decided"
            if revision in result.verified
            else "expected"
            if revision in result.expected
            else "NOT REVIEWED"
        )
        lines.append(f"  {revision}  {count:>12,}  {status}")
    if result.clean:
        lines.append("Clean: every decision is what its revision decides.")
    for finding in result.findings:
        lines += ["", f"{finding.kind.upper()} ({finding.lines:,} line(s)): {finding.message}"]
        lines += [f"  {where}" for where in finding.where]
        if finding.lines > len(finding.where):
            lines.append(f"  … and {finding.lines - len(finding.where):,} more")
    if result.findings:
        lines += ["", f"{len(result.findings)} finding(s)."]
    return "\n".join(lines) + "\n"
