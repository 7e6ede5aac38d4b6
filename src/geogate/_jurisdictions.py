"""
Jurisdictions: named sets of countries whose membership has dates.

The built-in ones (EU, EEA, EFTA, UK, UK-CROWN-DEPENDENCIES, WORLD) come from
the package data file ``data/jurisdictions.json``; a policy set may add its own.
A `JurisdictionTable` answers "who is in X on this date" and "what contains
this country on this date" by bisecting precomputed timelines, so the answer
costs the same on any date and the tables never grow at run time.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING

import attrs

from ._countries import all_countries

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "Jurisdiction",
    "JurisdictionTable",
    "Span",
    "builtin_jurisdictions",
]


@attrs.frozen(order=True)
class Span:
    """
    An inclusive date range; ``None`` at either end means open.

    Attributes:
        start: First day of membership, or ``None`` for "always".
        end: Last day of membership, or ``None`` for "still a member".
    """

    start: dt.date | None
    end: dt.date | None

    def contains(self, at: dt.date) -> bool:
        """Tell whether *at* lies within the span."""
        return (self.start is None or self.start <= at) and (self.end is None or at <= self.end)

    def boundaries(self) -> Iterable[dt.date]:
        """Yield the days on which membership starts or stops."""
        if self.start is not None:
            yield self.start
        if self.end is not None and self.end < dt.date.max:
            yield self.end + dt.timedelta(days=1)


@attrs.frozen
class Jurisdiction:
    """
    A named, dated set of countries.

    Attributes:
        name: Upper-case name used in policy files (``EU``).
        description: One or two sentences for people.
        members: Country code -> the spans during which it is a member.
        builtin: Whether geogate ships it (else a policy file defined it).
        sources: Where the membership facts come from.
        notes: Country code -> a remark on that member (a trap, a date).
    """

    name: str
    description: str
    members: Mapping[str, tuple[Span, ...]]
    builtin: bool = True
    sources: tuple[str, ...] = ()
    notes: Mapping[str, str] = attrs.field(factory=dict)

    def is_member(self, country: str, at: dt.date) -> bool:
        """Tell whether *country* is a member on *at*."""
        return any(span.contains(at) for span in self.members.get(country, ()))

    def boundaries(self) -> set[dt.date]:
        """Return every day on which some membership starts or stops."""
        return {
            day for spans in self.members.values() for span in spans for day in span.boundaries()
        }


def _parse_day(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


@functools.cache
def builtin_jurisdictions() -> Mapping[str, Jurisdiction]:
    """Return the jurisdictions geogate ships, read once from the package data."""
    raw = json.loads(
        resources.files("geogate").joinpath("data/jurisdictions.json").read_text("utf-8")
    )
    table: dict[str, Jurisdiction] = {}
    for name, entry in raw["jurisdictions"].items():
        members: dict[str, tuple[Span, ...]]
        if entry.get("all_countries"):
            members = {code: (Span(None, None),) for code in sorted(all_countries())}
        else:
            members = {
                code: tuple(Span(_parse_day(a), _parse_day(b)) for a, b in spans)
                for code, spans in entry["members"].items()
            }
        table[name] = Jurisdiction(
            name=name,
            description=entry["description"],
            members=members,
            builtin=True,
            sources=tuple(entry.get("sources", ())),
            notes=dict(entry.get("notes", {})),
        )
    return table


@attrs.frozen
class _Timeline:
    """Values that change only on given days: ``values[i]`` holds from ``days[i-1]``."""

    days: tuple[dt.date, ...]
    values: tuple[object, ...]

    def at(self, day: dt.date) -> object:
        return self.values[bisect.bisect_right(self.days, day)]


def _timeline(days: Iterable[dt.date], value_at: object) -> _Timeline:
    ordered = tuple(sorted(set(days)))
    probes = [dt.date.min, *ordered]
    return _Timeline(ordered, tuple(value_at(day) for day in probes))  # type: ignore[operator]


@attrs.frozen
class JurisdictionTable:
    """
    Built-in and custom jurisdictions, with membership answered per date.

    Attributes:
        jurisdictions: Name -> jurisdiction, built-in ones first.
    """

    jurisdictions: Mapping[str, Jurisdiction]
    _members: Mapping[str, _Timeline] = attrs.field(init=False, repr=False)
    _containing: Mapping[str, _Timeline] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        members = {
            name: _timeline(j.boundaries(), functools.partial(_members_on, j))
            for name, j in self.jurisdictions.items()
        }
        object.__setattr__(self, "_members", members)
        by_country: dict[str, list[Jurisdiction]] = {}
        for j in self.jurisdictions.values():
            for code in j.members:
                by_country.setdefault(code, []).append(j)
        # The order depends on the sizes of the containing jurisdictions, which
        # change on their own boundaries, not only on the country's.
        containing = {
            code: _timeline(
                {day for j in found for day in j.boundaries()},
                functools.partial(_names_containing, tuple(found), code, members),
            )
            for code, found in by_country.items()
        }
        object.__setattr__(self, "_containing", containing)

    @classmethod
    def with_custom(cls, custom: Iterable[Jurisdiction]) -> JurisdictionTable:
        """Return the built-in jurisdictions plus *custom* ones."""
        table = dict(builtin_jurisdictions())
        table.update((j.name, j) for j in custom)
        return cls(table)

    def __contains__(self, name: object) -> bool:
        return name in self.jurisdictions

    def members_at(self, name: str, at: dt.date) -> frozenset[str]:
        """Return the countries in *name* on *at*."""
        return self._members[name].at(at)  # type: ignore[return-value]

    def containing(self, country: str, at: dt.date) -> tuple[str, ...]:
        """
        Return the names of the jurisdictions that contain *country* on *at*.

        Smallest first (by membership on that date), then by name, so the most
        specific jurisdiction leads.
        """
        timeline = self._containing.get(country)
        if timeline is None:
            return ()
        return timeline.at(at)  # type: ignore[return-value]

    def boundaries(self, name: str) -> tuple[dt.date, ...]:
        """Return the days on which the membership of *name* changes."""
        return self._members[name].days


def _members_on(jurisdiction: Jurisdiction, day: dt.date) -> frozenset[str]:
    return frozenset(code for code in jurisdiction.members if jurisdiction.is_member(code, day))


def _names_containing(
    found: tuple[Jurisdiction, ...],
    country: str,
    members: Mapping[str, _Timeline],
    day: dt.date,
) -> tuple[str, ...]:
    names = [j.name for j in found if j.is_member(country, day)]
    names.sort(key=lambda name: (len(members[name].at(day)), name))  # type: ignore[arg-type]
    return tuple(names)
