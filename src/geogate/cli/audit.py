"""``geogate audit``: which regions get which model, on a date or over time."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import textwrap
from typing import TYPE_CHECKING

import click

from geogate._audit import Audit, Cell, Timeline, audit, timeline
from geogate._countries import all_countries, country_name
from geogate._decision import short_revision

from ._common import (
    DATE,
    expect_revision_option,
    features_option,
    format_option,
    load_or_exit,
    policies_option,
)

if TYPE_CHECKING:
    from geogate._audit import ChangeGroup, DayChange
    from geogate._jurisdictions import JurisdictionTable
    from geogate._policy import PolicySet

__all__ = ["audit_command"]

_WIDTH = 100
_TIMELINE_FORMATS = ("table", "json", "csv", "markdown")


@click.command("audit")
@policies_option
@expect_revision_option
@features_option
@click.option("--at", type=DATE, default=None, help="Decide for this date [default: today, UTC].")
@click.option(
    "--timeline",
    "show_timeline",
    is_flag=True,
    help="Show the dates in (--from, --to] on which some decision changes, and what changed.",
)
@click.option(
    "--from",
    "start",
    type=DATE,
    default=None,
    help="With --timeline: the starting date [default: one year before --to].",
)
@click.option(
    "--to",
    "end",
    type=DATE,
    default=None,
    help="With --timeline: the last date [default: today, UTC].",
)
@format_option(
    "table",
    "json",
    "csv",
    "markdown",
    "html",
    help="table for people; json and csv for tools; markdown for reviews; html: a report "
    "with a map.",
)
@click.option(
    "--output",
    "destination",
    metavar="FILE",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write to FILE instead of standard output.",
)
def audit_command(
    policies: str | None,
    expect_revision: str | None,
    features: tuple[str, ...],
    at: dt.date | None,
    show_timeline: bool,
    start: dt.date | None,
    end: dt.date | None,
    output: str,
    destination: str | None,
) -> None:
    """
    Show which countries get which feature, and by which rule.

    Decides every feature for every ISO 3166-1 country (and XK) on the date,
    with the same evaluation as `geogate eval`. With --timeline, lists the
    days on which any country's decision (its effect or deciding rule)
    changes, including changes of membership such as the UK leaving the EU.
    """
    if not show_timeline and (start is not None or end is not None):
        msg = "--from and --to need --timeline (use --at for one date)"
        raise click.UsageError(msg)
    if show_timeline and at is not None:
        msg = "--at and --timeline exclude each other; give --from and --to"
        raise click.UsageError(msg)
    if show_timeline and output not in _TIMELINE_FORMATS:
        msg = f"--timeline has no {output} format; use one of {', '.join(_TIMELINE_FORMATS)}"
        raise click.UsageError(msg)
    policy = load_or_exit(policies, expect_revision=expect_revision)
    unknown = [f for f in features if f not in policy.features]
    if unknown:
        known = ", ".join(policy.features) or "(none)"
        msg = f"no feature {unknown[0]!r} in the policies; known features: {known}"
        raise click.BadParameter(msg, param_hint="--feature")
    if show_timeline:
        end = end or dt.datetime.now(dt.UTC).date()
        start = start or _year_before(end)
        if start >= end:
            msg = f"--from ({start}) must be before --to ({end})"
            raise click.UsageError(msg)
        found = timeline(policy, start, end, features=features or None)
        _emit(_render_timeline(found, output), destination)
        return
    report = audit(policy, at=at, features=features or None)
    _emit(_render(report, policy, output), destination)


def _year_before(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _emit(text: str, destination: str | None) -> None:
    if destination is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    with open(destination, "w", encoding="utf-8", newline="") as file:  # noqa: PTH123
        click.echo(text, file=file, nl=not text.endswith("\n"))  # no colour in files


def _render(report: Audit, policy: PolicySet, output: str) -> str:
    if output == "json":
        return json.dumps(report.to_dict(), indent=2, ensure_ascii=False)
    if output == "csv":
        return audit_csv(report, policy.jurisdictions)
    if output == "markdown":
        return audit_markdown(report, len(policy.files))
    if output == "html":
        from geogate._html import render_html  # noqa: PLC0415 (the map data loads only here)

        return render_html(report, policy)
    return audit_table(report, len(policy.files))


# One date.


def audit_table(report: Audit, files: int) -> str:
    """Return the terminal table: per feature, groups by rule and jurisdiction."""
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
        shown: set[str] = set()
        for group in fa.groups:
            colour = "green" if group.effect == "allow" else "red"
            verdict = click.style("ALLOWED" if group.effect == "allow" else "DENIED", fg=colour)
            how = f"by rule {group.rule}" if group.rule else "by default (no rule applies)"
            lines.append(f"  {verdict} {how}: {len(group.countries)}")
            if group.reason:
                lines.append(_fill(group.reason, "    ", "    "))
            for label, codes in group.by_jurisdiction:
                head = f"    {label} ({len(codes)}): "
                lines.append(_fill(_list(codes, total, shown), head, " " * 6))
                shown.update(codes)
    return "\n".join(lines)


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
    """Return one row per feature and country: its name, effect, rule and jurisdictions."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["feature", "country", "name", "effect", "rule", "jurisdictions"])
    for fid, fa in report.features.items():
        for code, cell in fa.cells.items():
            names = table.containing(code, report.as_of)  # as in the code's Decision
            writer.writerow([fid, code, country_name(code), cell.effect, cell.rule or "",
                             " ".join(names)])  # fmt: skip
    return buffer.getvalue()


def _md(text: str) -> str:
    """Escape text for a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def audit_markdown(report: Audit, files: int) -> str:
    """Return the audit as Markdown: a table of groups per feature, then its rules."""
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
        out += [
            (
                f"Allowed in {allowed} of {total} countries and territories, denied in "
                f"{total - allowed}; unknown locations: {fa.unknown}; decided on "
                f"{fa.feature.basis}."
            ),
            "",
            "| Decision | Rule | Where | Countries |",
            "|---|---|---|---|",
        ]
        shown: set[str] = set()
        for group in fa.groups:
            verdict = "**denied**" if group.effect == "deny" else "allowed"
            rule = f"`{group.rule}`" if group.rule else "default"
            for label, codes in group.by_jurisdiction:
                out.append(
                    f"| {verdict} | {rule} | {label} ({len(codes)}) | "
                    f"{_list(codes, total, shown)} |"
                )
                shown.update(codes)
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


# Over time.


def _render_timeline(found: Timeline, output: str) -> str:
    if output == "json":
        return json.dumps(found.to_dict(), indent=2, ensure_ascii=False)
    if output == "csv":
        return timeline_csv(found)
    if output == "markdown":
        return timeline_markdown(found)
    return timeline_table(found)


_VERBS = {"gained": "gain access", "lost": "lose access", "rule": "change rule"}


def _rule(cell: Cell) -> str:
    return f"rule {cell.rule}" if cell.rule else "the default"


def _causes(change: DayChange) -> list[str]:
    causes = [f"rule {r} starts" for r in change.started]
    causes += [f"rule {r} ended the day before" for r in change.ended]
    for name, joined, left in change.membership:
        if joined:
            causes.append(f"{' '.join(joined)} joined {name}")
        if left:
            causes.append(f"{' '.join(left)} left {name}")
    return causes


def _describe_group(group: ChangeGroup) -> str:
    return (
        f"{len(group.countries)} {_VERBS[group.change]} ({group.before.effect} by "
        f"{_rule(group.before)} -> {group.after.effect} by {_rule(group.after)})"
    )


def timeline_table(found: Timeline) -> str:
    """Return the timeline for a terminal."""
    lines = [
        click.style("When decisions change", bold=True)
        + f" — after {found.start} until {found.end}, policy {short_revision(found.revision)}"
        + f" ({len(found.features)} feature(s))"
    ]
    for fid, ft in found.features.items():
        lines += ["", click.style(fid, bold=True)]
        lines.append(
            f"  on {found.start}: allowed in {ft.allowed_at_start} of {found.countries} "
            "countries and territories"
        )
        if not ft.changes:
            lines.append(f"  no change after {found.start} until {found.end}")
        for change in ft.changes:
            causes = _causes(change)
            head = f"  {change.day}" + (f": {'; '.join(causes)}" if causes else "")
            lines.append(_fill(head, "", "    "))
            for group in change.groups:
                colour = {"gained": "green", "lost": "red"}.get(group.change)
                lines.append("    " + click.style(_describe_group(group), fg=colour))
                shown: set[str] = set()
                for label, codes in group.by_jurisdiction:
                    head = f"      {label} ({len(codes)}): "
                    lines.append(_fill(_list(codes, found.countries, shown), head, " " * 8))
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
        out += [
            "",
            f"## {fid}",
            "",
            (
                f"On {found.start}: allowed in {ft.allowed_at_start} of {found.countries} "
                "countries and territories."
            ),
            "",
        ]
        if not ft.changes:
            out.append(f"No change after {found.start} until {found.end}.")
        for change in ft.changes:
            causes = _causes(change)
            out.append(f"- **{change.day}**" + (f" ({'; '.join(causes)})" if causes else ""))
            for group in change.groups:
                where = "; ".join(
                    f"{label} ({len(codes)}): {_list(codes, found.countries, set())}"
                    for label, codes in group.by_jurisdiction
                )
                out.append(f"  - {_describe_group(group)}: {where}")
    return "\n".join(out) + "\n"


def timeline_csv(found: Timeline) -> str:
    """Return one row per feature, day and country whose decision changed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["feature", "date", "country", "name", "change", "before_effect",
                     "before_rule", "after_effect", "after_rule"])  # fmt: skip
    for fid, ft in found.features.items():
        for change in ft.changes:
            for group in change.groups:
                for code in sorted(group.countries):
                    writer.writerow([fid, change.day.isoformat(), code, country_name(code),
                                     group.change, group.before.effect, group.before.rule or "",
                                     group.after.effect, group.after.rule or ""])  # fmt: skip
    return buffer.getvalue()
