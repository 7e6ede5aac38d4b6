"""Jurisdictions and their members on a date: what ``geogate jurisdictions`` prints."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import click

from geogate._world.countries import country_name, subdivision_name

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable

    from geogate._world.jurisdictions import Jurisdiction, JurisdictionTable, Span

__all__ = ["jurisdictions_text"]

_WIDTH = 96


def jurisdictions_text(table: JurisdictionTable, names: Iterable[str], day: dt.date) -> str:
    """
    Return each jurisdiction of *names*: its kind, description and members on *day*.

    A jurisdiction that holds subdivisions lists each member on its own line,
    with its name and the dates of its membership, then the members of other dates.
    """
    lines: list[str] = []
    for name in names:
        jurisdiction = table.jurisdictions[name]
        members = sorted(table.members_at(name, day))
        kind = "built-in" if jurisdiction.builtin else "custom"
        lines.append(click.style(f"{name}", bold=True) + f"  ({kind}, {len(members)} on {day})")
        lines.append(textwrap.fill(jurisdiction.description, _WIDTH, initial_indent="  ",
                                   subsequent_indent="  "))  # fmt: skip
        if jurisdiction.subdivisions:
            lines += _member_lines(jurisdiction, members, day)
            continue
        lines.append(textwrap.fill(" ".join(members) or "(none)", _WIDTH, initial_indent="  ",
                                   subsequent_indent="  "))  # fmt: skip
    return "\n".join(lines)


def _member_lines(jurisdiction: Jurisdiction, members: list[str], day: dt.date) -> list[str]:
    """One line per member on *day*: code, name and membership dates; then other dates' members."""
    width = max((len(code) for code in jurisdiction.members), default=2)
    lines = []
    for code in members:
        spans = jurisdiction.members[code]
        current = next((span for span in spans if span.contains(day)), spans[0])
        dates = _dates(current)
        lines.append(f"  {code.ljust(width)}  {_name(code)}" + (f" ({dates})" if dates else ""))
    others = [
        f"{code} ({'; '.join(_dates(span) for span in jurisdiction.members[code])})"
        for code in sorted(jurisdiction.members)
        if code not in members
    ]
    if others:
        text = f"Members on other dates: {', '.join(others)}"
        lines.append(textwrap.fill(text, _WIDTH, initial_indent="  ", subsequent_indent="    "))
    return lines


def _name(code: str) -> str:
    """``Cuba``, or ``Avtonomna Respublika Krym, Ukraine`` for a subdivision."""
    if "-" not in code:
        return country_name(code)
    return f"{subdivision_name(code)}, {country_name(code.partition('-')[0])}"


def _dates(span: Span) -> str:
    """``from 2022-02-21``, ``until 2025-06-30``, both, or nothing for an open span."""
    return "" if span.start is None and span.end is None else span.describe()
