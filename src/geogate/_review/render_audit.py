"""
The audit and its timeline for people and tools: what ``geogate audit`` prints.

A table for a terminal, CSV, Markdown for a review, JSON, and (through
`geogate._review.html`) the HTML report; for a timeline, the same but HTML.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from typing import TYPE_CHECKING

import click

from geogate._engine.decide import place_of
from geogate._engine.decision import short_revision
from geogate._world.countries import all_countries, country_name, subdivision_name

from .audit import ChangeKind, country_of

if TYPE_CHECKING:
    from geogate._policy.model import Feature, PolicySet
    from geogate._world.jurisdictions import JurisdictionTable

    from .audit import Audit, Cell, ChangedPlaces, DayChange, FeatureAudit, Group, Timeline

__all__ = [
    "audit_csv",
    "audit_markdown",
    "audit_table",
    "render_audit",
    "render_timeline",
    "timeline_csv",
    "timeline_markdown",
    "timeline_table",
]

_WIDTH = 100


def render_audit(report: Audit, policy: PolicySet, output: str) -> str:
    """Return the audit in *output*: ``table``, ``json``, ``csv``, ``markdown`` or ``html``."""
    if output == "json":
        return json.dumps(report.to_dict(), indent=2, ensure_ascii=False)
    if output == "csv":
        return audit_csv(report, policy.jurisdictions)
    if output == "markdown":
        return audit_markdown(report, len(policy.files))
    if output == "html":
        from .html import render_html  # noqa: PLC0415 (the map data loads only here)

        return render_html(report, policy)
    return audit_table(report, len(policy.files))


# One date.


def audit_table(report: Audit, files: int) -> str:
    """Return the terminal table: per feature, groups by rule and jurisdiction, subdivisions."""
    lines = [
        click.style("Which regions get which model", bold=True)
        + f" — as of {report.as_of}, policy {short_revision(report.revision)}"
        + f" ({files} file(s), {len(report.features)} feature(s))"
    ]
    for fid, fa in report.features.items():
        total = len(fa.cells)
        allowed = fa.allowed
        lines.append("")
        title = click.style(fid, bold=True)
        if fa.feature.description:
            title += "  " + textwrap.shorten(fa.feature.description, _WIDTH - len(fid) - 2)
        lines.append(title)
        summary = (
            f"allowed in {allowed} of {total} countries and territories, denied in "
            f"{total - allowed}; unknown locations: {fa.unknown}; decided on {fa.feature.basis}"
        )
        lines.append(_fill(summary, "  ", "  "))
        if fa.split:
            lines.append(_fill(_split_summary(fa), "  ", "  "))
        shown: set[str] = set()
        for group in fa.groups:
            colour = "green" if group.effect == "allow" else "red"
            verdict = click.style("ALLOWED" if group.effect == "allow" else "DENIED", fg=colour)
            lines.append(f"  {verdict} {_group_how(group)}: {_count(group)}")
            if group.reason:
                lines.append(_fill(group.reason, "    ", "    "))
            for label, codes in group.by_jurisdiction:
                head = f"    {label} ({len(codes)}): "
                lines.append(_fill(_list(codes, total, shown), head, " " * 6))
                shown.update(codes)
            for label, codes in group.subdivisions:
                lines.append(_fill(" ".join(codes), f"    {label} ({len(codes)}): ", " " * 6))
        if fa.subdivisions:
            lines.append("  Subdivisions, under their country:")
            for country, inside in _by_country(fa).items():
                cell = fa.cells[country]
                head = f"    {country} {country_name(country)}: "
                lines.append(_fill(_country_only(country, cell, fa.feature, report), head, " " * 6))
                for code, sub in inside.items():
                    text = f"{_past(sub.effect)} {_by(sub)}"
                    if sub.partial and sub.rest is not None:
                        text = (
                            f"split: a request naming only {code} is {_past(sub.effect)} "
                            f"({_why_split(sub, fa.feature)}); the rest of {code} is "
                            f"{_past(sub.rest.effect)} {_by(sub.rest)}"
                        )
                    lines.append(_fill(text, f"      {code} {subdivision_name(code)}: ", " " * 8))
    return "\n".join(lines)


def _past(effect: str) -> str:
    return "allowed" if effect == "allow" else "denied"


def _by(cell: Cell) -> str:
    """How a cell is decided: ``by rule X``, ``by default``, ``as split``."""
    if cell.partial:
        return "as split"
    return f"by rule {cell.rule}" if cell.rule else "by default"


def _count(group: Group) -> str:
    """``34``, ``2 subdivisions``, or ``212 + 2 subdivisions``."""
    subdivisions = sum(len(codes) for _, codes in group.subdivisions)
    if not subdivisions:
        return str(len(group.countries))
    counted = f"{subdivisions} subdivision" + ("" if subdivisions == 1 else "s")
    return f"{len(group.countries)} + {counted}" if group.countries else counted


def _group_how(group: Group) -> str:
    if group.rule:
        return f"by rule {group.rule}"
    if group.partial:
        return "as split (a request naming only the place)"
    return "by default (no rule applies)"


def _why_split(cell: Cell, feature: Feature) -> str:
    if cell.effect != str(feature.partial):
        return "a hard-deny rule decides inside it, whatever the partial setting says"
    return f"the feature's partial setting: {feature.partial}"


def _split_summary(fa: FeatureAudit) -> str:
    text = (
        f"split ({len(fa.split)}): {' '.join(fa.split)}; a request naming only one of them "
        f"gets the feature's partial setting ({fa.feature.partial})"
    )
    if str(fa.feature.partial) == "allow":
        text += ", or deny where a hard-deny rule decides inside"
    return text


def _country_only(code: str, cell: Cell, feature: Feature, report: Audit) -> str:
    """What a request naming only the country gets, and, when split, what the rest gets."""
    if not cell.partial or cell.rest is None:
        return f"not split; a request naming only {code} is {_past(cell.effect)} {_by(cell)}"
    return (
        f"split on {report.as_of}; a request naming only {code} is {_past(cell.effect)} "
        f"({_why_split(cell, feature)}); the rest of {code} is {_past(cell.rest.effect)} "
        f"{_by(cell.rest)}"
    )


def _by_country(fa: FeatureAudit) -> dict[str, dict[str, Cell]]:
    """Country -> its subdivisions in the place space, with their cells, sorted."""
    found: dict[str, dict[str, Cell]] = {}
    for code, cell in fa.subdivisions.items():
        found.setdefault(country_of(code), {})[code] = cell
    return dict(sorted(found.items()))


def _fill(text: str, first: str, rest: str) -> str:
    return textwrap.fill(text, _WIDTH, initial_indent=first, subsequent_indent=rest)


def _list(codes: tuple[str, ...], total: int, shown: set[str]) -> str:
    """List codes; more than half of all countries are named by what they leave out."""
    if len(codes) * 2 <= total:
        return " ".join(codes)
    others = all_countries() - set(codes)
    if others <= shown:
        return "every other country and territory (all not listed above)"
    return "every country and territory except " + " ".join(sorted(others))


def audit_csv(report: Audit, table: JurisdictionTable) -> str:
    """
    Return one row per feature and place: its name, effect, rule and jurisdictions.

    Each country's row (a request naming only it) is followed by the rows of
    its subdivisions in the place space; ``partial`` says whether a place is
    split, and ``rest_effect`` and ``rest_rule`` what the rest of it gets.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["feature", "country", "name", "effect", "rule", "jurisdictions",
                     "subdivision", "subdivision_name", "partial", "rest_effect",
                     "rest_rule"])  # fmt: skip
    day = report.as_of
    for fid, fa in report.features.items():
        inside = _by_country(fa)
        for code, cell in fa.cells.items():
            names = table.containing(code, day)  # as in the code's Decision
            writer.writerow([fid, code, country_name(code), cell.effect, cell.rule or "",
                             " ".join(names), "", "", *_split_columns(cell)])  # fmt: skip
            for sub, found in inside.get(code, {}).items():
                place = place_of(sub)
                names = table.containing(code, day, place.chain)
                writer.writerow([fid, code, country_name(code), found.effect, found.rule or "",
                                 " ".join(names), sub, subdivision_name(sub),
                                 *_split_columns(found)])  # fmt: skip
    return buffer.getvalue()


def _split_columns(cell: Cell) -> list[str]:
    if not cell.partial or cell.rest is None:
        return ["false", "", ""]
    return ["true", cell.rest.effect, cell.rest.rule or ""]


def _md(text: str) -> str:
    """Escape text for a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def audit_markdown(report: Audit, files: int) -> str:
    """Return the audit as Markdown: a table of groups per feature, its subdivisions, its rules."""
    out = [
        "# Which regions get which model",
        "",
        (
            f"As of {report.as_of}, policy `{short_revision(report.revision)}` "
            f"({files} file(s), {len(report.features)} feature(s))."
        ),
    ]
    for fid, fa in report.features.items():
        total = len(fa.cells)
        allowed = fa.allowed
        out += ["", f"## {fid}", ""]
        if fa.feature.description:
            out += [fa.feature.description, ""]
        summary = (
            f"Allowed in {allowed} of {total} countries and territories, denied in "
            f"{total - allowed}; unknown locations: {fa.unknown}; decided on "
            f"{fa.feature.basis}."
        )
        if fa.split:
            summary += " " + _split_summary(fa)[0].upper() + _split_summary(fa)[1:] + "."
        out += [
            summary,
            "",
            "| Decision | Rule | Where | Places |",
            "|---|---|---|---|",
        ]
        shown: set[str] = set()
        for group in fa.groups:
            verdict = "**denied**" if group.effect == "deny" else "allowed"
            rule = f"`{group.rule}`" if group.rule else "split" if group.partial else "default"
            for label, codes in group.by_jurisdiction:
                out.append(
                    f"| {verdict} | {rule} | {label} ({len(codes)}) | "
                    f"{_list(codes, total, shown)} |"
                )
                shown.update(codes)
            for label, codes in group.subdivisions:
                out.append(f"| {verdict} | {rule} | {label} ({len(codes)}) | {' '.join(codes)} |")
        if fa.subdivisions:
            out += _markdown_subdivisions(fa, report)
        if fa.feature.rules:
            out += ["", "Rules:", ""]
            for item in fa.feature.rules:
                line = f"- `{item.id}` ({item.kind}): {_md(item.reason)}"
                if item.source and "://" in item.source:
                    line += f" [source]({item.source})"
                elif item.source:
                    line += f" Source: {_md(item.source)}"
                out.append(line)
    return "\n".join(out) + "\n"


def _markdown_subdivisions(fa: FeatureAudit, report: Audit) -> list[str]:
    out = [
        "",
        "Subdivisions, under their country (a country's row is a request naming only it):",
        "",
        "| Country | Subdivision | Decision | How |",
        "|---|---|---|---|",
    ]
    for country, inside in _by_country(fa).items():
        cell = fa.cells[country]
        verdict = "**denied**" if cell.effect == "deny" else "allowed"
        how = _md(_country_only(country, cell, fa.feature, report))
        out.append(f"| {country} ({_md(country_name(country))}) | — | {verdict} | {how} |")
        for code, sub in inside.items():
            verdict = "**denied**" if sub.effect == "deny" else "allowed"
            how = f"rule `{sub.rule}`" if sub.rule else "default"
            if sub.partial:
                how = f"split ({_md(_why_split(sub, fa.feature))})"
            if sub.partial and sub.rest is not None:
                how += f"; the rest of {code} is {_past(sub.rest.effect)} {_by(sub.rest)}"
            out.append(f"|  | {code} ({_md(subdivision_name(code))}) | {verdict} | {how} |")
    return out


# Over time.


def render_timeline(found: Timeline, output: str) -> str:
    """Return the timeline in *output*: ``table``, ``json``, ``csv`` or ``markdown``."""
    if output == "json":
        return json.dumps(found.to_dict(), indent=2, ensure_ascii=False)
    if output == "csv":
        return timeline_csv(found)
    if output == "markdown":
        return timeline_markdown(found)
    return timeline_table(found)


_VERBS = {
    ChangeKind.GAINED: "gain access",
    ChangeKind.LOST: "lose access",
    ChangeKind.SPLIT: "become split",
    ChangeKind.UNSPLIT: "stop being split",
    ChangeKind.RULE: "change rule",
}


def _how(cell: Cell) -> str:
    """``deny by rule X``, ``allow by the default``, ``deny as split (the rest: ...)``."""
    if cell.partial and cell.rest is not None:
        return f"{cell.effect} as split (the rest: {_how(cell.rest)})"
    return f"{cell.effect} by " + (f"rule {cell.rule}" if cell.rule else "the default")


def _causes(change: DayChange) -> list[str]:
    causes = [f"rule {r} starts" for r in change.started]
    causes += [f"rule {r} ended the day before" for r in change.ended]
    for name, joined, left in change.membership:
        if joined:
            causes.append(f"{' '.join(joined)} joined {name}")
        if left:
            causes.append(f"{' '.join(left)} left {name}")
    return causes


def _describe_group(group: ChangedPlaces) -> str:
    return (
        f"{len(group.places)} {_VERBS[group.change]} ({_how(group.before)} -> {_how(group.after)})"
    )


def _start(allowed: int, split: tuple[str, ...], countries: int) -> str:
    text = f"allowed in {allowed} of {countries} countries and territories"
    return text + (f"; split: {' '.join(split)}" if split else "")


def timeline_table(found: Timeline) -> str:
    """Return the timeline for a terminal."""
    lines = [
        click.style("When decisions change", bold=True)
        + f" — after {found.start} until {found.end}, policy {short_revision(found.revision)}"
        + f" ({len(found.features)} feature(s))"
    ]
    for fid, ft in found.features.items():
        lines += ["", click.style(fid, bold=True)]
        start = _start(ft.allowed_at_start, ft.split_at_start, found.countries)
        lines.append(_fill(f"on {found.start}: {start}", "  ", "    "))
        if ft.subdivisions:
            lines.append(_fill(f"subdivisions: {' '.join(ft.subdivisions)}", "  ", "    "))
        if not ft.changes:
            lines.append(f"  no change after {found.start} until {found.end}")
        for change in ft.changes:
            causes = _causes(change)
            head = f"  {change.day}" + (f": {'; '.join(causes)}" if causes else "")
            lines.append(_fill(head, "", "    "))
            for group in change.groups:
                colour = {ChangeKind.GAINED: "green", ChangeKind.LOST: "red"}.get(group.change)
                lines.append(
                    _fill(click.style(_describe_group(group), fg=colour), "    ", "      ")
                )
                shown: set[str] = set()
                for label, codes in group.by_jurisdiction:
                    head = f"      {label} ({len(codes)}): "
                    lines.append(_fill(_list(codes, found.countries, shown), head, " " * 8))
                for label, codes in group.subdivisions:
                    head = f"      {label} ({len(codes)}): "
                    lines.append(_fill(" ".join(codes), head, " " * 8))
    return "\n".join(lines)


def timeline_markdown(found: Timeline) -> str:
    """Return the timeline as Markdown, one list item per day."""
    out = [
        "# When decisions change",
        "",
        (
            f"After {found.start} until {found.end}, policy "
            f"`{short_revision(found.revision)}` ({len(found.features)} feature(s))."
        ),
    ]
    for fid, ft in found.features.items():
        start = _start(ft.allowed_at_start, ft.split_at_start, found.countries)
        out += ["", f"## {fid}", "", f"On {found.start}: {start}."]
        if ft.subdivisions:
            out.append(f"Subdivisions: {' '.join(ft.subdivisions)}.")
        out.append("")
        if not ft.changes:
            out.append(f"No change after {found.start} until {found.end}.")
        for change in ft.changes:
            causes = _causes(change)
            out.append(f"- **{change.day}**" + (f" ({'; '.join(causes)})" if causes else ""))
            for group in change.groups:
                where = [
                    f"{label} ({len(codes)}): {_list(codes, found.countries, set())}"
                    for label, codes in group.by_jurisdiction
                ]
                where += [
                    f"{label} ({len(codes)}): {' '.join(codes)}"
                    for label, codes in group.subdivisions
                ]
                out.append(f"  - {_describe_group(group)}: {'; '.join(where)}")
    return "\n".join(out) + "\n"


def timeline_csv(found: Timeline) -> str:
    """Return one row per feature, day and place whose decision changed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["feature", "date", "country", "name", "change", "before_effect",
                     "before_rule", "after_effect", "after_rule", "subdivision",
                     "before_partial", "after_partial"])  # fmt: skip
    for fid, ft in found.features.items():
        for change in ft.changes:
            for group in change.groups:
                before, after = group.before, group.after
                flags = [str(before.partial).lower(), str(after.partial).lower()]
                for code in sorted(group.places):
                    country = country_of(code)
                    writer.writerow([fid, change.day.isoformat(), country, country_name(country),
                                     group.change, before.effect, before.rule or "",
                                     after.effect, after.rule or "",
                                     code if code != country else "", *flags])  # fmt: skip
    return buffer.getvalue()
