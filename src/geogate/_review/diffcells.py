"""
The cells a diff compares: every place of one feature, decided on one side.

The places are every ISO 3166-1 country and XK, the subdivisions either
side's rules name with their parents, and the rest of each place with some
of those inside (`Places`). A `FeatureSide` decides each of them as
`geogate.Gate.evaluate` decides a request naming it: with the engine, on
that side's jurisdictions, the country as the domicile too.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

from geogate._engine.decide import (
    CompiledRule,
    Location,
    OutcomeKind,
    change_days,
    decide,
    decide_place,
    inner_places,
    place_of,
)
from geogate._policy.model import Basis, Effect, Feature
from geogate._world.countries import LocationStatus, all_countries, subdivision_chain

if TYPE_CHECKING:
    import datetime as dt

    from geogate._engine.decide import Outcome
    from geogate._policy.model import PolicySet

    from .audit import CountryClasses

__all__ = [
    "ABSENT",
    "Cause",
    "Cell",
    "FeatureSide",
    "Place",
    "Places",
    "country_locations",
    "same_as_container",
]


class Cause(enum.StrEnum):
    """
    What decided a cell: an outcome kind of the engine, or one of two more.

    The first six are `geogate._engine.decide.OutcomeKind`'s values; a diff
    adds a hard-deny rule inside a split place (whatever the partial setting
    says) and a side that does not define the feature.
    """

    RULE = "rule"
    DEFAULT = "default"
    UNKNOWN = "unknown"
    INVALID = "invalid"
    AMBIGUOUS = "ambiguous"
    PARTIAL = "partial"
    HARD_INSIDE = "hard-inside"
    UNDEFINED = "undefined"


#: The cause of each outcome kind.
_CAUSE_OF = {kind: Cause(kind.value) for kind in OutcomeKind}

#: A place compared: a country or subdivision code, and True for the rest of it.
Place = tuple[str, bool]
#: A place decided on one side: effect, what decided (`geogate._review.diff.Change.old_by`),
#: the deciding rule id, and whether the domicile (the place's country) decided.
Cell = tuple[str, Cause, str | None, bool]
ABSENT: Cell = ("deny", Cause.UNDEFINED, None, False)


@functools.cache
def country_locations() -> dict[str, Location]:
    """Every country, as the location a request naming only it has."""
    return {code: Location(LocationStatus.KNOWN, code) for code in sorted(all_countries())}


@attrs.frozen
class Places:
    """
    The places compared for one feature.

    Attributes:
        subdivisions: The subdivisions either side's rules name, with parents, sorted.
        rests: The countries and subdivisions with some of those strictly inside, sorted.
        locations: Code -> its location, for every country and those subdivisions.
    """

    subdivisions: tuple[str, ...]
    rests: tuple[str, ...]
    locations: Mapping[str, Location]

    @classmethod
    def of(cls, inside: frozenset[str]) -> Places:
        subdivisions = sorted(inside)
        # *inside* holds the parents of its members: every place with one
        # strictly inside is its country or a parent in some member's chain.
        rests = {code.partition("-")[0] for code in subdivisions}
        rests.update(parent for code in subdivisions for parent in subdivision_chain(code)[1:])
        locations = dict(country_locations())
        locations.update((code, place_of(code)) for code in subdivisions)
        return cls(tuple(subdivisions), tuple(sorted(rests)), locations)


class FeatureSide:
    """One side's feature, compiled against that side's jurisdictions."""

    def __init__(self, policy: PolicySet, fid: str, classes: CountryClasses) -> None:
        self.feature: Feature | None = policy.features.get(fid)
        self.table = policy.jurisdictions
        self.classes = classes
        self.rules = tuple(
            CompiledRule.from_rule(rule) for rule in (self.feature.rules if self.feature else ())
        )
        self.by_id = {compiled.rule.id: compiled.rule for compiled in self.rules}
        self.inside = inner_places(self.rules, self.table)
        self._named = frozenset(code for c in self.rules for code in c.countries)
        self._divided = frozenset(code.partition("-")[0] for code in self.inside)
        self._wanted = frozenset(name for c in self.rules for name in c.jurisdictions)

    def change_days(self, start: dt.date, end: dt.date) -> set[dt.date]:
        """The days in ``(start, end]`` on which a decision of this side can change."""
        return {day for day in change_days(self.rules, self.table) if start < day <= end}

    def cells(self, day: dt.date, places: Places) -> dict[Place, Cell]:
        """Decide every place on *day*, as `Gate.evaluate` decides a request naming it."""
        feature = self.feature
        keys = [
            *((code, False) for code in country_locations()),
            *((code, False) for code in places.subdivisions),
            *((code, True) for code in places.rests),
        ]
        if feature is None:
            return dict.fromkeys(keys, ABSENT)
        countries = self._decide_countries(feature, day)
        table, rules, inside = self.table, self.rules, self.inside
        locations = places.locations
        basis = feature.basis
        both = basis is Basis.LOCATION_AND_DOMICILE
        # Outcome id (doubled, plus 1 when the domicile decided) -> the outcome and its
        # cell: countries of one class share an outcome. Holding the outcome keeps its id
        # from being reused within the call.
        made: dict[int, tuple[Outcome, Cell]] = {}
        cells: dict[Place, Cell] = {}
        for key in keys:
            code, rest = key
            country = code.partition("-")[0]
            outcome = home = countries[country]
            on_domicile = basis is Basis.DOMICILE
            if not on_domicile:
                place = locations[code]
                if rest:
                    # A subdivision no rule names gets what its place gets by itself.
                    outcome = decide_place(feature, rules, place, day, table)
                elif place.chain:
                    outcome = decide(feature, rules, place, day, table, inside)
                if both and outcome.effect is Effect.ALLOW and home.effect is Effect.DENY:
                    outcome, on_domicile = home, True
            index = 2 * id(outcome) + on_domicile
            found = made.get(index)
            if found is None:
                found = made[index] = (outcome, _cell(outcome, on_domicile=on_domicile))
            cells[key] = found[1]
        return cells

    def _decide_countries(self, feature: Feature, day: dt.date) -> dict[str, Outcome]:
        """
        Decide a request naming only each country, once per class where that is enough.

        Two countries that no rule names, that have no named place inside and
        that are in the same jurisdictions of those the rules name are
        matched by the same rules through the same targets: one decision
        serves both.
        """
        table, rules, inside = self.table, self.rules, self.inside
        locations = country_locations()
        single = self._named | self._divided
        wanted = self._wanted
        found: dict[str, Outcome] = {}
        by_class: dict[tuple[str, ...], Outcome] = {}
        for names, codes in self.classes.groups(day).items():
            key = tuple(name for name in names if name in wanted)
            for code in codes:
                if code in single:
                    found[code] = decide(feature, rules, locations[code], day, table, inside)
                    continue
                outcome = by_class.get(key)
                if outcome is None:
                    outcome = decide(feature, rules, locations[code], day, table, inside)
                    by_class[key] = outcome
                found[code] = outcome
        return found


def _cell(outcome: Outcome, *, on_domicile: bool) -> Cell:
    cause = _CAUSE_OF[outcome.kind]
    if outcome.kind is OutcomeKind.PARTIAL and outcome.hard_inside:
        cause = Cause.HARD_INSIDE
    rule = None if outcome.rule is None else outcome.rule.id
    return (outcome.effect.value, cause, rule, on_domicile)


def _container(place: Place) -> Place | None:
    """
    The place whose change covers *place* when both sides decide them alike.

    The rest of a place: the place itself; a subdivision: its parent, else
    its country; a country: None.
    """
    code, rest = place
    if rest:
        return (code, False)
    chain = subdivision_chain(code) if "-" in code else ()
    if not chain:
        return None
    return (chain[1] if len(chain) > 1 else code.partition("-")[0], False)


def same_as_container(
    place: Place, was: Cell, now: Cell, before: Mapping[Place, Cell], after: Mapping[Place, Cell]
) -> bool:
    """
    Tell whether both sides decide *place* as its container (same effect, cause and rule).

    Then the container's change says all there is: listing the place adds
    nothing (the rest of a place that is split on neither side, a
    subdivision of a feature decided on domicile).
    """
    outer = _container(place)
    return outer is not None and was[:3] == before[outer][:3] and now[:3] == after[outer][:3]
