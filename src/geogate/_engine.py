"""
The decision procedure: which rule decides for a location on a date.

For a feature, a location and a date:

1. the candidates are the rules whose window contains the date and whose
   targets contain the location on that date;
2. a ``hard_deny`` candidate decides (deny), whatever else matches;
3. otherwise the most specific candidate decides: a subdivision beats its
   parent, any subdivision beats a country, a country beats a jurisdiction,
   and one jurisdiction beats another only when its membership on that date
   is a strict subset of the other's;
4. no candidate: the feature's default; an unknown location: its ``unknown``;
   an invalid location (not a code, a contradiction): deny, always.

Rule order never matters: ties between equally specific candidates that agree
are broken by rule id, and candidates that disagree without being ordered are
refused at load time (`geogate._analysis`). Should one reach run time anyway,
the decision fails closed.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

import attrs

from ._countries import LocationStatus, resolve_place, subdivision_chain
from ._policy import Effect, Rule, RuleKind, Target, TargetKind

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ._jurisdictions import JurisdictionTable
    from ._policy import Feature

__all__ = [
    "CompiledRule",
    "Location",
    "Outcome",
    "OutcomeKind",
    "change_days",
    "decide",
    "resolve_location",
]


@attrs.frozen
class Location:
    """
    A normalised location.

    Attributes:
        status: Known, unknown or invalid.
        country: ISO 3166-1 alpha-2 code when known.
        chain: The subdivision and its parents, innermost first (may be empty).
        problem: Why the location is unknown or invalid, completing "because ...".
    """

    status: LocationStatus
    country: str | None = None
    chain: tuple[str, ...] = ()
    problem: str | None = None

    @property
    def subdivision(self) -> str | None:
        """The innermost subdivision, if any."""
        return self.chain[0] if self.chain else None


def resolve_location(country: object, subdivision: object = None) -> Location:
    """
    Normalise a country and an optional subdivision into a `Location`.

    The rules are `geogate._countries.resolve_place`'s (shared with the
    request resolver); the location adds the subdivision's parents.
    """
    place = resolve_place(country, subdivision)
    chain = () if place.subdivision is None else subdivision_chain(place.subdivision)
    return Location(place.status, place.code, chain, place.problem)


@attrs.frozen
class CompiledRule:
    """
    A rule with its targets split by kind, for fast matching.

    Attributes:
        rule: The rule.
        countries: Country targets.
        subdivisions: Subdivision targets.
        jurisdictions: Jurisdiction targets.
        effect: The rule's effect (allow or deny), read once.
    """

    rule: Rule
    countries: frozenset[str]
    subdivisions: frozenset[str]
    jurisdictions: tuple[str, ...]
    effect: Effect

    @classmethod
    def from_rule(cls, rule: Rule) -> CompiledRule:
        """Split *rule*'s targets by kind."""
        targets = rule.targets
        return cls(
            rule,
            frozenset([t.code for t in targets if t.kind is TargetKind.COUNTRY]),
            frozenset([t.code for t in targets if t.kind is TargetKind.SUBDIVISION]),
            tuple([t.code for t in targets if t.kind is TargetKind.JURISDICTION]),
            rule.effect,
        )

    def matches(self, location: Location, at: dt.date, table: JurisdictionTable) -> bool:
        """Tell whether the rule is a candidate for *location* on *at*."""
        if not self.rule.active(at) or location.country is None:
            return False
        if location.country in self.countries:
            return True
        if self.subdivisions and not self.subdivisions.isdisjoint(location.chain):
            return True
        return any(location.country in table.members_at(j, at) for j in self.jurisdictions)

    def matching_targets(
        self, location: Location, at: dt.date, table: JurisdictionTable
    ) -> list[Target]:
        """Return the targets through which the rule matches *location*."""
        country = location.country
        return [
            t
            for t in self.rule.targets
            if (t.kind is TargetKind.COUNTRY and t.code == country)
            or (t.kind is TargetKind.SUBDIVISION and t.code in location.chain)
            or (
                t.kind is TargetKind.JURISDICTION
                and country is not None
                and country in table.members_at(t.code, at)
            )
        ]


def change_days(rules: Iterable[CompiledRule], table: JurisdictionTable) -> list[dt.date]:
    """
    Return the days on which a decision under *rules* can change, sorted.

    Decisions change only where a rule window opens or closes, or where the
    membership of a jurisdiction the rules name changes; the list starts with
    `datetime.date.min`, so every date falls in the segment of the last day
    not after it.
    """
    days = {dt.date.min}
    for compiled in rules:
        rule = compiled.rule
        if rule.start is not None:
            days.add(rule.start)
        if rule.end is not None and rule.end < dt.date.max:
            days.add(rule.end + dt.timedelta(days=1))
        for name in compiled.jurisdictions:
            days.update(table.boundaries(name))
    return sorted(days)


def target_beats(
    a: Target, b: Target, location: Location, at: dt.date, table: JurisdictionTable
) -> bool:
    """Tell whether target *a* is strictly more specific than *b* at *location* on *at*."""
    if a.kind != b.kind:
        return a.kind > b.kind
    if a.kind is TargetKind.SUBDIVISION:
        # Both are in the location's chain, innermost first.
        return location.chain.index(a.code) < location.chain.index(b.code)
    if a.kind is TargetKind.JURISDICTION:
        return table.members_at(a.code, at) < table.members_at(b.code, at)
    return False


def rule_beats(a: Sequence[Target], b: Sequence[Target], location: Location, at: dt.date,
               table: JurisdictionTable) -> bool:  # fmt: skip
    """Tell whether a rule matching through *a* is more specific than one matching through *b*."""
    return any(all(target_beats(x, y, location, at, table) for y in b) for x in a)


def most_specific(
    matched: Sequence[tuple[CompiledRule, list[Target]]],
    location: Location,
    at: dt.date,
    table: JurisdictionTable,
) -> list[tuple[CompiledRule, list[Target]]]:
    """Return the candidates that no other candidate beats, ordered by rule id."""
    if len(matched) == 1:
        return list(matched)
    top = [
        (rule, targets)
        for rule, targets in matched
        if not any(
            rule_beats(other, targets, location, at, table) for o, other in matched if o is not rule
        )
    ]
    top.sort(key=lambda pair: pair[0].rule.id)
    return top


def best_target(targets: Sequence[Target], location: Location, at: dt.date,
                table: JurisdictionTable) -> Target:  # fmt: skip
    """Return the most specific of a rule's matching targets (ties: by code)."""
    ordered = sorted(targets, key=lambda t: t.code)
    for candidate in ordered:
        if not any(target_beats(o, candidate, location, at, table) for o in ordered):
            return candidate
    return ordered[0]  # pragma: no cover (a strict order always has a maximal element)


class OutcomeKind(enum.Enum):
    """What decided."""

    RULE = "rule"
    DEFAULT = "default"
    UNKNOWN = "unknown"
    INVALID = "invalid"
    AMBIGUOUS = "ambiguous"


@attrs.frozen
class Outcome:
    """
    The result of the decision procedure, before it is dressed as a Decision.

    Attributes:
        kind: A rule, the default, the unknown setting, or an ambiguity.
        effect: Allow or deny.
        rule: The deciding rule, for ``RULE``.
        target: The deciding rule's most specific target that matched.
        tied: For ``AMBIGUOUS``, the rules that disagreed.
    """

    kind: OutcomeKind
    effect: Effect
    rule: Rule | None = None
    target: Target | None = None
    tied: tuple[Rule, ...] = ()


#: The outcomes that need no rule, built once (a bad request is decided often).
_INVALID = Outcome(OutcomeKind.INVALID, Effect.DENY)
_UNKNOWN = {effect: Outcome(OutcomeKind.UNKNOWN, effect) for effect in Effect}


def decide(
    feature: Feature,
    rules: Iterable[CompiledRule],
    location: Location,
    at: dt.date,
    table: JurisdictionTable,
) -> Outcome:
    """
    Run the decision procedure for one location.

    An unknown location gets the feature's ``unknown`` effect; an invalid one
    (not a code, a contradiction, a wrong type) is denied whatever that says.
    """
    status = location.status
    if status is not LocationStatus.KNOWN:
        return _INVALID if status is LocationStatus.INVALID else _UNKNOWN[feature.unknown]
    matched = [
        (rule, rule.matching_targets(location, at, table))
        for rule in rules
        if rule.matches(location, at, table)
    ]
    if not matched:
        return Outcome(OutcomeKind.DEFAULT, feature.default)
    hard = [pair for pair in matched if pair[0].rule.kind is RuleKind.HARD_DENY]
    top = most_specific(hard or matched, location, at, table)
    effects = {rule.rule.effect for rule, _ in top}
    if len(effects) > 1:
        return Outcome(OutcomeKind.AMBIGUOUS, Effect.DENY, tied=tuple(rule.rule for rule, _ in top))
    winner, targets = top[0]
    return Outcome(
        OutcomeKind.RULE,
        winner.rule.effect,
        winner.rule,
        best_target(targets, location, at, table),
    )
