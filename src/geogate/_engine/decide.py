"""
The decision procedure: which rule decides for a location on a date.

For a feature, a location and a date:

1. the candidates are the rules whose window contains the date and whose
   targets contain the location on that date;
2. a ``hard_deny`` candidate decides (deny), whatever else matches;
3. otherwise the most specific candidate decides: one target beats another
   when the places it holds on that date are a strict subset of the other's
   (places count with everything inside them: a subdivision beats its
   parent and its country, a country beats a jurisdiction holding it and
   other places, a jurisdiction of Ukrainian regions beats ``UA``); equal
   places go to the more specific kind (a country beats a jurisdiction of
   that country alone);
4. no candidate: the feature's default; an unknown location: its ``unknown``;
   an invalid location (not a code, a contradiction): deny, always;
5. a place that rules decide differently inside (``US`` when ``US-IL`` is
   denied and the rest allowed) is *split* on that date: a request naming
   only that place gets the feature's ``partial`` effect, deny unless it
   says allow, and deny whenever a ``hard_deny`` rule decides inside.

Rule order never matters: ties between equally specific candidates that agree
are broken by rule id, and candidates that disagree without being ordered are
refused at load time (`geogate._load.analysis`). Should one reach run time anyway,
the decision fails closed.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

import attrs

from geogate._policy.model import Effect, Rule, RuleKind, Target, TargetKind
from geogate._world.countries import LocationStatus, resolve_place, subdivision_chain
from geogate._world.jurisdictions import covers

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from geogate._policy.model import Feature
    from geogate._world.jurisdictions import JurisdictionTable

__all__ = [
    "CompiledRule",
    "Location",
    "Outcome",
    "OutcomeKind",
    "change_days",
    "decide",
    "inner_places",
    "place_of",
    "resolve_domicile",
    "resolve_location",
    "split_step",
]


@attrs.frozen
class Location:
    """
    A normalised location.

    Attributes:
        status: Known, unknown or invalid.
        country: ISO 3166-1 alpha-2 code when known.
        chain: The subdivision and its parents, innermost first (may be empty).
        problem: Why the location is unknown or invalid, completing "because ...";
            for a known one, a note on what was read (a subdivision geogate
            does not recognise, so the request names only its country).
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

    The rules are `geogate._world.countries.resolve_place`'s (shared with the
    request resolver); the location adds the subdivision's parents.
    """
    place = resolve_place(country, subdivision)
    chain = () if place.subdivision is None else subdivision_chain(place.subdivision)
    return Location(place.status, place.code, chain, place.problem)


def resolve_domicile(country: object) -> Location:
    """
    Normalise a domicile: a country, never a subdivision.

    A code for part of a country (``IC``) names the country (``ES``): an
    account's domicile is where it is registered, not a region.
    """
    location = resolve_location(country)
    return attrs.evolve(location, chain=()) if location.chain else location


def place_of(code: str) -> Location:
    """Return the known location a country or subdivision code names (``US-IL``)."""
    if "-" not in code:
        return Location(LocationStatus.KNOWN, code)
    return Location(LocationStatus.KNOWN, code.partition("-")[0], subdivision_chain(code))


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
        country, chain = location.country, location.chain
        return any(table.contains(j, country, chain, at) for j in self.jurisdictions)

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
                and table.contains(t.code, country, location.chain, at)
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
    """
    Tell whether target *a* is strictly more specific than *b* at *location* on *at*.

    Both match *location*. *a* is more specific when the places it holds are a
    strict subset of *b*'s, or the same places named by a more specific kind.
    """
    kind_a, kind_b = a.kind, b.kind
    if kind_a is TargetKind.JURISDICTION and kind_b is TargetKind.JURISDICTION:
        return table.narrower(a.code, b.code, at)
    if kind_a is TargetKind.SUBDIVISION and kind_b is TargetKind.SUBDIVISION:
        # Both are in the location's chain, innermost first.
        return location.chain.index(a.code) < location.chain.index(b.code)
    if kind_a is not TargetKind.JURISDICTION and kind_b is not TargetKind.JURISDICTION:
        return kind_a > kind_b  # a subdivision is inside the country both match
    places_a = _places(a, at, table)
    places_b = _places(b, at, table)
    if covers(places_b, places_a):
        return not covers(places_a, places_b) or kind_a > kind_b
    return False


def _places(target: Target, at: dt.date, table: JurisdictionTable) -> frozenset[str]:
    if target.kind is TargetKind.JURISDICTION:
        return table.members_at(target.code, at)
    return frozenset((target.code,))


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
        if not any(
            target_beats(o, candidate, location, at, table) for o in ordered if o is not candidate
        ):
            return candidate
    return ordered[0]  # pragma: no cover (a strict order always has a maximal element)


class OutcomeKind(enum.Enum):
    """What decided."""

    RULE = "rule"
    DEFAULT = "default"
    UNKNOWN = "unknown"
    INVALID = "invalid"
    AMBIGUOUS = "ambiguous"
    PARTIAL = "partial"


@attrs.frozen
class Outcome:
    """
    The result of the decision procedure, before it is dressed as a Decision.

    Attributes:
        kind: A rule, the default, the unknown setting, an ambiguity, or the
            ``partial`` setting of a place split inside.
        effect: Allow or deny.
        rule: The deciding rule, for ``RULE``.
        target: The deciding rule's most specific target that matched.
        tied: For ``AMBIGUOUS``, the rules that disagreed.
        inside: For ``PARTIAL``, the places inside the one asked about that
            are decided differently from it, and those a ``hard_deny`` rule
            denies, each with its outcome.
        rest: For ``PARTIAL``, what the place asked about gets where no
            place inside it is decided differently.
    """

    kind: OutcomeKind
    effect: Effect
    rule: Rule | None = None
    target: Target | None = None
    tied: tuple[Rule, ...] = ()
    inside: tuple[tuple[str, Outcome], ...] = ()
    rest: Outcome | None = None

    @property
    def hard_inside(self) -> bool:
        """For ``PARTIAL``, whether a hard_deny rule decides a place inside."""
        return any(o.rule is not None and o.rule.kind is RuleKind.HARD_DENY for _, o in self.inside)


#: The outcomes that need no rule, built once (a bad request is decided often).
_INVALID = Outcome(OutcomeKind.INVALID, Effect.DENY)
_UNKNOWN = {effect: Outcome(OutcomeKind.UNKNOWN, effect) for effect in Effect}


def inner_places(rules: Iterable[CompiledRule], table: JurisdictionTable) -> frozenset[str]:
    """
    Return the subdivisions *rules* name, directly or through jurisdictions, with their parents.

    With the countries, these are the places where the rules can decide
    differently: every analysis probes them, and a request naming a place
    with some of them inside may find that place split.
    """
    codes: set[str] = set()
    for compiled in rules:
        codes.update(compiled.subdivisions)
        for name in compiled.jurisdictions:
            codes.update(table.held(name))
    return frozenset(parent for code in codes for parent in subdivision_chain(code))


def places_inside(location: Location, inside: Iterable[str]) -> list[str]:
    """Return the codes of *inside* that lie strictly inside *location*, sorted."""
    if location.chain:
        innermost = location.chain[0]
        return sorted(
            code for code in inside if code != innermost and innermost in subdivision_chain(code)
        )
    country = location.country
    return sorted(code for code in inside if code.partition("-")[0] == country)


def decide(
    feature: Feature,
    rules: Sequence[CompiledRule],
    location: Location,
    at: dt.date,
    table: JurisdictionTable,
    inside: frozenset[str] | None = None,
) -> Outcome:
    """
    Run the decision procedure for one location.

    An unknown location gets the feature's ``unknown`` effect; an invalid one
    (not a code, a contradiction, a wrong type) is denied whatever that says.
    A location that rules decide differently inside gets the ``partial``
    outcome. *inside* is `inner_places` of *rules*, when the caller has it.
    """
    outcome = decide_place(feature, rules, location, at, table)
    if outcome.kind is OutcomeKind.INVALID or outcome.kind is OutcomeKind.UNKNOWN:
        return outcome
    if inside is None:
        inside = inner_places(rules, table)
    if not inside:
        return outcome
    found = [
        (code, decide_place(feature, rules, place_of(code), at, table))
        for code in places_inside(location, inside)
    ]
    return split_step(feature, outcome, found)


def split_step(
    feature: Feature, outcome: Outcome, inside: Iterable[tuple[str, Outcome]]
) -> Outcome:
    """
    Step 5 of the procedure: the outcome for a place, given its own and those inside it.

    *outcome* is `decide_place` for the place; *inside* pairs each place of
    the space inside it with its own `decide_place` outcome. Callers that
    decide many places (the audit) decide each once and call this.
    """
    effect = outcome.effect
    differing = False
    kept = []
    for code, found in inside:
        if found.effect is not effect:
            differing = True
            kept.append((code, found))
        elif _hard(found) and not _hard(outcome):
            # Denied like the rest, but by a hard_deny: once the place is split,
            # it denies a request that names only the place, whatever partial says.
            kept.append((code, found))
    if not differing:
        return outcome
    split = Outcome(OutcomeKind.PARTIAL, feature.partial, inside=tuple(kept), rest=outcome)
    return attrs.evolve(split, effect=Effect.DENY) if split.hard_inside else split


def _hard(outcome: Outcome) -> bool:
    return outcome.rule is not None and outcome.rule.kind is RuleKind.HARD_DENY


def decide_place(
    feature: Feature,
    rules: Iterable[CompiledRule],
    location: Location,
    at: dt.date,
    table: JurisdictionTable,
) -> Outcome:
    """
    Decide by the rules that hold at *location* itself, whatever lies inside it.

    This is steps 1 to 4 of the procedure; `decide` adds step 5 (split places).
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
