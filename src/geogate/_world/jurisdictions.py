"""
Jurisdictions: named sets of places whose membership has dates.

A member is an ISO 3166-1 country or an ISO 3166-2 subdivision (``UA-43``,
Crimea): a jurisdiction holding a subdivision contains requests that name
that subdivision or one inside it, not requests that name only its country.

The built-in ones (EU, EEA, EFTA, EUROZONE, SCHENGEN, UK, UK-CROWN-DEPENDENCIES,
OFAC-COMPREHENSIVE, WORLD) come from ``data/jurisdictions.json``; a policy set may add its own.
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

from .countries import all_countries, subdivision_chain

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "Jurisdiction",
    "JurisdictionTable",
    "Span",
    "builtin_jurisdictions",
    "covers",
    "describe_window",
]


def describe_window(start: dt.date | None, end: dt.date | None) -> str:
    """
    Say an inclusive run of days in words: a rule's window, a membership, a segment of dates.

    ``from 2024-09-25 until 2025-03-30``, ``from 2024-09-25``, ``until
    2025-03-30``, ``on 2026-06-01`` (one day), or ``on every date`` when both
    ends are open. The one wording of a window everywhere geogate shows one.
    """
    if start is None:
        return "on every date" if end is None else f"until {end.isoformat()}"
    if end is None:
        return f"from {start.isoformat()}"
    if end == start:
        return f"on {start.isoformat()}"
    return f"from {start.isoformat()} until {end.isoformat()}"


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

    def describe(self) -> str:
        """Say the span in words (`describe_window`): ``from 2022-02-21``, ``on every date``."""
        return describe_window(self.start, self.end)


@attrs.frozen
class Jurisdiction:
    """
    A named, dated set of places: countries and subdivisions.

    Attributes:
        name: Upper-case name used in policy files (``EU``).
        description: One or two sentences for people.
        members: Country or subdivision code -> the spans during which it
            is a member.
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

    def is_member(self, code: str, at: dt.date) -> bool:
        """Tell whether the country or subdivision *code* is itself a member on *at*."""
        return any(span.contains(at) for span in self.members.get(code, ()))

    @property
    def subdivisions(self) -> frozenset[str]:
        """The subdivisions it holds on some date (most jurisdictions hold none)."""
        return frozenset(code for code in self.members if "-" in code)

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
    #: Jurisdiction name -> the subdivisions it holds on some date (only non-empty ones).
    _held: Mapping[str, frozenset[str]] = attrs.field(init=False, repr=False)
    #: Subdivision code -> the names of the jurisdictions holding it on some date.
    _holding: Mapping[str, tuple[str, ...]] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        held = {name: j.subdivisions for name, j in self.jurisdictions.items() if j.subdivisions}
        object.__setattr__(self, "_held", held)
        holding: dict[str, list[str]] = {}
        for name, codes in held.items():
            for code in codes:
                holding.setdefault(code, []).append(name)
        object.__setattr__(self, "_holding", {c: tuple(n) for c, n in holding.items()})
        members = {
            name: _timeline(j.boundaries(), functools.partial(_members_on, j))
            for name, j in self.jurisdictions.items()
        }
        object.__setattr__(self, "_members", members)
        by_country: dict[str, list[Jurisdiction]] = {}
        for j in self.jurisdictions.values():
            for code in j.members:
                if "-" not in code:
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
        """
        Return the built-in jurisdictions plus *custom* ones.

        Without custom ones, the one table of the built-ins is returned: a
        table never changes once built, and building one works out every
        membership timeline (tens of milliseconds).
        """
        extra = tuple(custom)
        if not extra and cls is JurisdictionTable:
            return _builtin_table()
        table = dict(builtin_jurisdictions())
        table.update((j.name, j) for j in extra)
        return cls(table)

    def __contains__(self, name: object) -> bool:
        return name in self.jurisdictions

    def members_at(self, name: str, at: dt.date) -> frozenset[str]:
        """Return the countries in *name* on *at*."""
        return self._members[name].at(at)  # type: ignore[return-value]

    def contains(self, name: str, country: str, chain: tuple[str, ...], at: dt.date) -> bool:
        """
        Tell whether *name* contains the place *country* (with *chain*) on *at*.

        *chain* is the subdivision the place names and its parents, innermost
        first; a member subdivision contains the places inside it.
        """
        members = self.members_at(name, at)
        return country in members or (bool(chain) and not members.isdisjoint(chain))

    def containing(self, country: str, at: dt.date, chain: tuple[str, ...] = ()) -> tuple[str, ...]:
        """
        Return the names of the jurisdictions that contain a place on *at*.

        The place is *country*, or the subdivision *chain* names (innermost
        first) in it. Smallest first (a jurisdiction inside another leads),
        then by name, so the most specific jurisdiction leads.
        """
        timeline = self._containing.get(country)
        names: tuple[str, ...] = () if timeline is None else timeline.at(at)  # type: ignore[assignment]
        if not chain or not self._holding:
            return names
        extra = [
            name
            for code in chain
            if code in self._holding
            for name in self._holding[code]
            if name not in names and self.is_member_at(name, code, at)
        ]
        if not extra:
            return names
        found: list[str] = list(dict.fromkeys((*names, *extra)))
        found.sort(key=functools.cmp_to_key(functools.partial(self._order, at=at)))
        return tuple(found)

    def is_member_at(self, name: str, code: str, at: dt.date) -> bool:
        """Tell whether the country or subdivision *code* is itself a member of *name* on *at*."""
        return code in self.members_at(name, at)

    def _order(self, a: str, b: str, at: dt.date) -> int:
        if self.narrower(a, b, at):
            return -1
        if self.narrower(b, a, at):
            return 1
        size = len(self.members_at(a, at)) - len(self.members_at(b, at))
        return size or (a > b) - (a < b)

    def held(self, name: str) -> frozenset[str]:
        """Return the subdivisions *name* holds on some date."""
        return self._held.get(name, frozenset())

    def narrower(self, a: str, b: str, at: dt.date) -> bool:
        """
        Tell whether *a* holds a strict subset of the places *b* holds on *at*.

        Places count with everything inside them: ``UA`` holds ``UA-43``, so a
        jurisdiction of Ukrainian regions is narrower than one holding ``UA``.
        """
        first, second = self.members_at(a, at), self.members_at(b, at)
        if not self._held.get(a) and not self._held.get(b):
            return first < second
        return covers(second, first) and not covers(first, second)

    def boundaries(self, name: str) -> tuple[dt.date, ...]:
        """Return the days on which the membership of *name* changes."""
        return self._members[name].days

    def all_boundaries(self) -> frozenset[dt.date]:
        """Return the days on which the membership of any jurisdiction changes."""
        return frozenset(day for timeline in self._members.values() for day in timeline.days)


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


def covers(outer: frozenset[str], inner: frozenset[str]) -> bool:
    """
    Tell whether the places *outer* holds include every place *inner* holds.

    A code covers itself and everything inside it: a country its
    subdivisions, a subdivision the ones ISO 3166-2 places under it.
    """
    if inner <= outer:
        return True
    return all(_inside(code, outer) for code in inner - outer)


def _inside(code: str, outer: frozenset[str]) -> bool:
    """Tell whether the subdivision *code* lies inside a place *outer* holds."""
    if "-" not in code:
        return False
    return code.partition("-")[0] in outer or not outer.isdisjoint(subdivision_chain(code))


@functools.cache
def _builtin_table() -> JurisdictionTable:
    """The table of the built-in jurisdictions alone, built once."""
    return JurisdictionTable(dict(builtin_jurisdictions()))
