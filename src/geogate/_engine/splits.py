"""
Split places: where rules decide differently inside a place, on which dates.

A place is *split* on a date when some place inside it (a subdivision a rule
names, directly or through a jurisdiction) is decided differently from the
place itself; a request that names only the place then gets the feature's
``partial`` setting, or deny when a ``hard_deny`` rule decides inside
(`geogate._engine.decide.decide`, step 5). `feature_splits` finds every split place
of a feature on every date: decisions change only on the days
`geogate._engine.decide.change_days` gives, and only places with a named place
inside can be split, so one `decide` per such place and segment of dates is
exact (with only the rules that can match a place of that country, and their
change days). Consecutive segments on which a place is split alike are merged.

`geogate check` reports them; the ``partial-without-effect`` lint reads them.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import attrs

from geogate._policy.model import Basis, Effect, RuleKind
from geogate._world.jurisdictions import describe_window

from .decide import (
    CompiledRule,
    Outcome,
    OutcomeKind,
    change_days,
    decide,
    inner_places,
    place_of,
    places_inside,
)
from .decision import describe_inside

if TYPE_CHECKING:
    from collections.abc import Iterable

    from geogate._policy.model import Feature, PolicySet
    from geogate._world.jurisdictions import JurisdictionTable

__all__ = ["SplitPlace", "feature_splits", "find_splits"]


@attrs.frozen(kw_only=True)
class SplitPlace:
    """
    A place that a feature's rules decide differently inside, for a run of dates.

    Attributes:
        feature: The feature id.
        basis: What the feature is decided on (a domicile is a country).
        place: The country (or subdivision) code that is split.
        start: The first day it is split so, or None (since ever).
        end: The last day it is split so, or None (from *start* on).
        partial: The feature's ``partial`` setting.
        outcome: The ``PARTIAL`` outcome of a request naming only *place*, on
            *start* (the same on every day of the run).
    """

    feature: str
    basis: Basis
    place: str
    start: dt.date | None
    end: dt.date | None
    partial: Effect
    outcome: Outcome

    @property
    def effect(self) -> Effect:
        """What a request naming only the place gets."""
        return self.outcome.effect

    @property
    def hard_deny(self) -> tuple[str, ...]:
        """The ``hard_deny`` rules deciding inside, sorted (then the request is denied)."""
        return tuple(
            sorted(
                {
                    found.rule.id
                    for _, found in self.outcome.inside
                    if found.rule is not None and found.rule.kind is RuleKind.HARD_DENY
                }
            )
        )

    @property
    def when(self) -> str:
        """The run of dates in words: ``on every date``, ``from 2026-06-01 until 2026-09-30``."""
        return describe_window(self.start, self.end)

    def describe(self) -> str:
        """
        Say it in one line.

        ``face-match: US is split on every date: US-IL, US-TX are denied by
        rule face-bipa; the rest of US is allowed by the feature's default; a
        request naming only US is denied (partial: deny)``
        """
        parts = describe_inside(self.outcome, self.place)
        if self.basis is Basis.DOMICILE:
            request = f"a request domiciled in {self.place}"
        elif "-" in self.place:
            request = f"a request naming {self.place} and no place inside it"
        else:
            request = f"a request naming only {self.place}"
        hard = self.hard_deny
        if hard:
            why = f"hard_deny {', '.join(hard)} inside, whatever partial says"
        else:
            why = f"partial: {self.partial}"
        return (
            f"{self.feature}: {self.place} is split {self.when}: {'; '.join(parts)}; "
            f"{request} is {_past(self.effect)} ({why})"
        )

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data; dates as ``YYYY-MM-DD`` or None for an open end."""
        rest = self.outcome.rest
        return {
            "feature": self.feature,
            "place": self.place,
            "from": None if self.start is None else self.start.isoformat(),
            "until": None if self.end is None else self.end.isoformat(),
            "effect": str(self.effect),
            "by": "hard_deny" if self.hard_deny else "partial",
            "partial": str(self.partial),
            "hard_deny": list(self.hard_deny),
            "inside": [
                {
                    "code": code,
                    "effect": str(found.effect),
                    "rule": None if found.rule is None else found.rule.id,
                }
                for code, found in self.outcome.inside
            ],
            "rest": None
            if rest is None
            else {"effect": str(rest.effect), "rule": None if rest.rule is None else rest.rule.id},
            "message": self.describe(),
        }


def find_splits(policy: PolicySet) -> list[SplitPlace]:
    """Return every split place of every feature of *policy*, by feature, place and date."""
    table = policy.jurisdictions
    return [
        split for feature in policy.features.values() for split in feature_splits(feature, table)
    ]


def feature_splits(
    feature: Feature, table: JurisdictionTable, rules: Iterable[CompiledRule] | None = None
) -> list[SplitPlace]:
    """
    Return the places *feature*'s rules split, each with its run of dates, by place then date.

    *rules* are the feature's rules compiled, when the caller has them.
    """
    compiled = (
        tuple(CompiledRule.from_rule(r) for r in feature.rules) if rules is None else tuple(rules)
    )
    inside = inner_places(compiled, table)
    if not inside:
        return []
    holders = sorted(
        {code.partition("-")[0] for code in inside}
        | {code for code in inside if places_inside(place_of(code), inside)}
    )
    found: list[SplitPlace] = []
    relevant: dict[str, tuple[tuple[CompiledRule, ...], list[dt.date]]] = {}
    for code in holders:
        country = code.partition("-")[0]
        if country not in relevant:
            mine = _relevant(compiled, country, table)
            relevant[country] = (mine, change_days(mine, table))
        rules, days = relevant[country]
        location = place_of(code)
        runs: list[tuple[int, int, Outcome, tuple[object, ...]]] = []
        for index, day in enumerate(days):
            outcome = decide(feature, rules, location, day, table, inside)
            if outcome.kind is not OutcomeKind.PARTIAL:
                continue
            key = _signature(outcome)
            if runs and runs[-1][1] == index - 1 and runs[-1][3] == key:
                first, _, kept, _ = runs[-1]
                runs[-1] = (first, index, kept, key)
            else:
                runs.append((index, index, outcome, key))
        for first, last, outcome, _ in runs:
            start = days[first]
            end = days[last + 1] - dt.timedelta(days=1) if last + 1 < len(days) else None
            found.append(
                SplitPlace(
                    feature=feature.id,
                    basis=feature.basis,
                    place=code,
                    start=None if start == dt.date.min else start,
                    end=end,
                    partial=feature.partial,
                    outcome=outcome,
                )
            )
    return found


def _relevant(
    rules: tuple[CompiledRule, ...], country: str, table: JurisdictionTable
) -> tuple[CompiledRule, ...]:
    """
    The rules that can match *country* or a place in it, on some date.

    Only they decide the places of that country, and only their windows and
    their jurisdictions' memberships can change those decisions: the others
    are left out, and so are their change days (an EU enlargement does not
    change what the US gets).
    """
    prefix = country + "-"
    jurisdictions = table.jurisdictions

    def holds(name: str) -> bool:
        members = jurisdictions[name].members
        return country in members or any(code.startswith(prefix) for code in members)

    return tuple(
        c
        for c in rules
        if country in c.countries
        or any(code.startswith(prefix) for code in c.subdivisions)
        or any(holds(name) for name in c.jurisdictions)
    )


def _signature(outcome: Outcome) -> tuple[object, ...]:
    """What a report says about a split outcome: equal signatures merge."""

    def brief(found: Outcome) -> tuple[object, ...]:
        return (found.kind, found.effect, None if found.rule is None else found.rule.id)

    rest = () if outcome.rest is None else brief(outcome.rest)
    return (outcome.effect, rest, tuple((code, brief(found)) for code, found in outcome.inside))


def _past(effect: Effect) -> str:
    return "allowed" if effect is Effect.ALLOW else "denied"
