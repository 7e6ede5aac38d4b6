"""``geogate audit``: which regions get which model, on a date."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import click

from geogate._audit import Audit, audit
from geogate._countries import all_countries
from geogate._decision import short_revision

from ._common import DATE, echo_json, format_option, load_or_exit, policies_option

if TYPE_CHECKING:
    import datetime as dt

__all__ = ["audit_command"]

_WIDTH = 100


@click.command("audit")
@policies_option
@click.option(
    "--feature",
    "features",
    multiple=True,
    metavar="ID",
    help="Only this feature (repeatable) [default: all].",
)
@click.option("--at", type=DATE, default=None, help="Decide for this date [default: today, UTC].")
@format_option("table", "json", help="table for people; json for tools.")
def audit_command(
    policies: str | None, features: tuple[str, ...], at: dt.date | None, output: str
) -> None:
    """
    Show which countries get which feature, and by which rule.

    Decides every feature for every ISO 3166-1 country (and XK) on the date,
    with the same evaluation as `geogate eval`.
    """
    policy = load_or_exit(policies)
    unknown = [f for f in features if f not in policy.features]
    if unknown:
        known = ", ".join(policy.features) or "(none)"
        msg = f"no feature {unknown[0]!r} in the policies; known features: {known}"
        raise click.BadParameter(msg, param_hint="--feature")
    report = audit(policy, at=at, features=features or None)
    if output == "json":
        echo_json(report.to_dict())
        return
    _print_table(report, len(policy.files))


def _print_table(report: Audit, files: int) -> None:
    click.echo(
        click.style("Which regions get which model", bold=True)
        + f" — as of {report.as_of}, policy {short_revision(report.revision)}"
        + f" ({files} file(s), {len(report.features)} feature(s))"
    )
    for fid, fa in report.features.items():
        total = len(fa.decisions)
        allowed = sum(d.allowed for d in fa.decisions.values())
        click.echo()
        title = click.style(fid, bold=True)
        if fa.feature.description:
            title += "  " + textwrap.shorten(fa.feature.description, _WIDTH - len(fid) - 2)
        click.echo(title)
        summary = (
            f"allowed in {allowed} of {total} countries and territories, denied in "
            f"{total - allowed}; unknown locations: {fa.unknown}; decided on {fa.feature.basis}"
        )
        click.echo(_fill(summary, "  ", "  "))
        shown: set[str] = set()
        for group in fa.groups:
            colour = "green" if group.effect == "allow" else "red"
            verdict = click.style("ALLOWED" if group.effect == "allow" else "DENIED", fg=colour)
            how = f"by rule {group.rule}" if group.rule else "by default (no rule applies)"
            click.echo(f"  {verdict} {how}: {len(group.countries)}")
            if group.reason:
                click.echo(
                    textwrap.fill(
                        group.reason, _WIDTH, initial_indent="    ", subsequent_indent="    "
                    )
                )
            for label, codes in group.by_jurisdiction:
                head = f"    {label} ({len(codes)}): "
                click.echo(
                    textwrap.fill(
                        _list(codes, total, shown),
                        _WIDTH,
                        initial_indent=head,
                        subsequent_indent=" " * 6,
                    )
                )
                shown.update(codes)


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
