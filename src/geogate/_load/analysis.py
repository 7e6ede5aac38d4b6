"""
Load-time analysis of each feature's rules.

Finds, before any request arrives:

- rules that disagree for some location and date without one being more
  specific than the other (an error: the ambiguity never reaches run time);
- rules that flip a broader rule without declaring ``overrides:`` (a warning);
- ``overrides:`` declarations that never take effect (a warning);
- references to rules that do not exist, to the rule itself, or to a
  ``hard_deny`` rule, which nothing overrides (errors).

The check is exact and finite: decisions only change on the days a rule
window or a jurisdiction's membership starts or stops, so one probe per such
segment and per place a rule names covers every date and location.
"""

from __future__ import annotations

import datetime as dt
import difflib
from typing import TYPE_CHECKING

import attrs

from geogate._engine.decide import CompiledRule, Location, change_days, most_specific, place_of
from geogate._engine.decision import describe_place
from geogate._policy.codes import Code
from geogate._policy.model import Basis, Rule, RuleKind, TargetKind
from geogate._world.countries import LocationStatus
from geogate._world.jurisdictions import describe_window

if TYPE_CHECKING:
    from collections.abc import Iterable

    from geogate._policy.fields import Reader
    from geogate._policy.model import Feature
    from geogate._world.jurisdictions import JurisdictionTable

__all__ = ["analyse_features", "describe_segments"]


def analyse_features(features: Iterable[Feature], table: JurisdictionTable, reader: Reader) -> None:
    """Check every feature's rules; report problems through *reader*."""
    for feature in features:
        if _check_references(feature, reader):
            _check_specificity(feature, table, reader)


def _check_references(feature: Feature, reader: Reader) -> bool:
    ok = True
    by_id = {rule.id: rule for rule in feature.rules}
    for rule in feature.rules:
        where = f"features.{feature.id}.rules[{rule.id}]"
        for other in rule.overrides:
            if other == rule.id:
                reader.diagnose(
                    rule.position,
                    Code.SELF_OVERRIDE,
                    f"{where} declares that it overrides itself",
                    hint="name the broader rule it overrides, or remove 'overrides:'",
                )
                ok = False
            elif other not in by_id:
                close = difflib.get_close_matches(other, list(by_id), n=1)
                reader.diagnose(
                    rule.position,
                    Code.UNKNOWN_RULE,
                    f"{where} overrides {other!r}, which is not a rule of {feature.id!r}",
                    hint=f"did you mean {close[0]!r}?"
                    if close
                    else "a rule can only override rules of its own feature",
                )
                ok = False
            elif by_id[other].kind is RuleKind.HARD_DENY:
                reader.diagnose(
                    rule.position,
                    Code.OVERRIDE_HARD_DENY,
                    f"{where} overrides the hard_deny rule {other!r}; nothing overrides a "
                    "hard_deny",
                    hint="make the broader rule a plain 'deny' if exceptions are allowed",
                )
                ok = False
        if feature.basis is Basis.DOMICILE:
            for target in rule.targets:
                if target.kind is TargetKind.SUBDIVISION:
                    reader.diagnose(
                        target.position,
                        Code.SUBDIVISION_DOMICILE,
                        f"{where} targets the subdivision {target.code!r}, but "
                        f"{feature.id!r} is decided on domicile, which is a country",
                        hint="use country codes and jurisdictions, or 'basis: location'",
                    )
                    ok = False
    return ok


def _describe_segment(start: dt.date, following: dt.date | None) -> str:
    end = None if following is None else following - dt.timedelta(days=1)
    return describe_window(None if start == dt.date.min else start, end)


def _probes(active: list[CompiledRule], day: dt.date, table: JurisdictionTable) -> list[Location]:
    """Return the locations where an allow and a deny rule both apply on *day*."""
    allow: set[str] = set()
    deny: set[str] = set()
    subdivisions: set[str] = set()
    for compiled in active:
        covered = set(compiled.countries)
        for name in compiled.jurisdictions:
            members = table.members_at(name, day)
            covered |= members
            subdivisions.update(code for code in members if "-" in code)
        (allow if compiled.rule.kind is RuleKind.ALLOW else deny).update(covered)
        subdivisions |= compiled.subdivisions
    # Countries where rules of both effects apply, and every subdivision a
    # rule names (directly or through a jurisdiction that holds it): the
    # places where the most specific rules can change.
    countries = {code for code in allow & deny if "-" not in code}
    return [
        *(Location(LocationStatus.KNOWN, code) for code in sorted(countries)),
        *(place_of(code) for code in sorted(subdivisions)),
    ]


@attrs.define
class _Finding:
    """One problem between rules, with every probe (place, segment) where it shows."""

    rules: tuple[Rule, ...]
    places: dict[str, tuple[Location, list[int]]] = attrs.Factory(dict)

    def add(self, location: Location, segment: int) -> None:
        key = location.subdivision or location.country or ""
        self.places.setdefault(key, (location, []))[1].append(segment)

    def example(self, days: list[dt.date]) -> tuple[Location, str]:
        """
        A place a reader recognises today, and all the dates on which it shows there.

        The place where the problem lasts into the last segment (so still holds
        today, whatever today is after the last change), then the one where it
        shows on most segments, then the first found: for ``allow: [EEA]`` and
        ``deny: [EFTA]``, Iceland on every date rather than Austria in 1994.
        """
        last = len(days) - 1

        def rank(item: tuple[int, tuple[Location, list[int]]]) -> tuple[bool, int, int]:
            order, (_, segments) = item
            return (last not in segments, -len(set(segments)), order)

        _, (location, segments) = min(enumerate(self.places.values()), key=rank)
        return location, describe_segments(sorted(set(segments)), days)


def describe_segments(segments: list[int], days: list[dt.date]) -> str:
    """Describe a set of segments (indices into *days*) as date ranges."""
    runs: list[list[int]] = []
    for index in segments:
        if runs and runs[-1][1] == index - 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    parts = [
        _describe_segment(days[first], days[last + 1] if last + 1 < len(days) else None)
        for first, last in runs
    ]
    return " and ".join(parts)


#: What one probe found: two or more rules deciding with different effects
#: (``ambiguous``, with their sorted ids), or a winner overriding a rule it
#: does not declare (``undeclared``, with the pair's ids).
_Event = tuple[str, tuple[str, ...], tuple[Rule, ...], Location]


def _check_specificity(
    feature: Feature, table: JurisdictionTable, reader: Reader, *, reuse: bool = True
) -> None:
    """
    Report ambiguous rules, undeclared overrides and overrides without effect.

    *reuse* False analyses every change day afresh (tests compare the two).
    """
    compiled = [CompiledRule.from_rule(rule) for rule in feature.rules]
    flips: set[tuple[str, str]] = set()
    ambiguous: dict[tuple[str, ...], _Finding] = {}
    undeclared: dict[tuple[str, ...], _Finding] = {}
    soft_effects = {c.effect for c in compiled if c.rule.kind is not RuleKind.HARD_DENY}
    days = change_days(compiled, table) if len(soft_effects) > 1 else []
    # Which rules are active changes only where a window opens or closes.
    turns = {c.rule.start for c in compiled} | {
        c.rule.end + dt.timedelta(days=1)
        for c in compiled
        if c.rule.end is not None and c.rule.end < dt.date.max
    }
    # A day's findings depend only on which rules are active and on the
    # members of the jurisdictions those rules name, so a configuration seen
    # on an earlier day is not analysed again: its findings are recorded for
    # this day too. (A rule that starts in 2024 makes every EU enlargement
    # before it a change day, with nothing else changing.)
    analysed: dict[tuple[object, ...], list[_Event]] = {}
    active: list[CompiledRule] = []
    active_soft: list[CompiledRule] = []
    for index, day in enumerate(days):
        if index == 0 or day in turns:
            active = [c for c in compiled if c.rule.active(day)]
            active_soft = [c for c in active if c.rule.kind is not RuleKind.HARD_DENY]
        if len({c.effect for c in active_soft}) < 2:  # noqa: PLR2004
            continue
        key = (
            tuple(map(id, active)),
            tuple([table.members_at(name, day) for c in active for name in c.jurisdictions]),
        )
        events = analysed.get(key) if reuse else None
        if events is None:
            events = analysed[key] = _analyse_day(active, active_soft, day, table, flips)
        for kind, ids, involved, location in events:
            found = ambiguous if kind == "ambiguous" else undeclared
            found.setdefault(ids, _Finding(involved)).add(location, index)
    for finding in ambiguous.values():
        _report_ambiguity(feature, finding, days, reader)
    for finding in undeclared.values():
        _report_undeclared(feature, finding, days, reader)
    for rule in feature.rules:
        for other in rule.overrides:
            if (rule.id, other) not in flips:
                reader.diagnose(
                    rule.position,
                    Code.OVERRIDE_WITHOUT_EFFECT,
                    f"features.{feature.id}.rules[{rule.id}] declares 'overrides: {other}', but "
                    f"there is no place and date where it decides against {other!r}",
                    hint="remove the declaration, or check the targets and dates of both rules",
                )


def _analyse_day(
    active: list[CompiledRule],
    active_soft: list[CompiledRule],
    day: dt.date,
    table: JurisdictionTable,
    flips: set[tuple[str, str]],
) -> list[_Event]:
    """Probe every place where rules of both effects apply on *day*; add to *flips*."""
    events: list[_Event] = []
    for location in _probes(active_soft, day, table):
        # Every rule here is active on *day*: it matches where one of its
        # targets does (what `CompiledRule.matches` would tell, in one pass).
        matched = [
            (c, targets) for c in active if (targets := c.matching_targets(location, day, table))
        ]
        if any(c.rule.kind is RuleKind.HARD_DENY for c, _ in matched):
            continue
        top = most_specific(matched, location, day, table)
        deciding = tuple(c.rule for c, _ in top)
        if len({c.effect for c, _ in top}) > 1:
            events.append(("ambiguous", tuple(sorted(r.id for r in deciding)), deciding, location))
            continue
        winner = deciding[0]
        # The rules that would decide without the winners: only those are
        # flipped directly, so only those need an 'overrides:' (a chain
        # EU deny < FR allow < FR-IDF deny declares one step at a time).
        below = [pair for pair in matched if pair[0].rule not in deciding]
        next_up = {c.rule.id for c, _ in most_specific(below, location, day, table)}
        declared = {other for rule in deciding for other in rule.overrides}
        for loser, _ in matched:
            if loser.effect is not winner.effect:
                flips.update((rule.id, loser.rule.id) for rule in deciding)
                if loser.rule.id in next_up and loser.rule.id not in declared:
                    pair = (winner, loser.rule)
                    events.append(("undeclared", (winner.id, loser.rule.id), pair, location))
    return events


def _report_ambiguity(
    feature: Feature, finding: _Finding, days: list[dt.date], reader: Reader
) -> None:
    rules = finding.rules
    location, when = finding.example(days)
    later = max(rules, key=lambda rule: rule.position)
    names = " and ".join(repr(rule.id) for rule in sorted(rules, key=lambda r: r.id))
    reader.diagnose(
        later.position,
        Code.AMBIGUOUS_RULES,
        f"rules {names} of {feature.id!r} disagree for {describe_place(location)} {when}, "
        "and neither is more specific than the other",
        hint="add a rule for the overlap (a country beats any jurisdiction), or narrow one "
        "rule so that its jurisdiction is a strict subset of the other's",
    )


def _report_undeclared(
    feature: Feature, finding: _Finding, days: list[dt.date], reader: Reader
) -> None:
    winner, broader = finding.rules
    location, when = finding.example(days)
    reader.diagnose(
        winner.position,
        Code.UNDECLARED_OVERRIDE,
        f"features.{feature.id}.rules[{winner.id}] ({winner.kind}) overrides the broader rule "
        f"{broader.id!r} ({broader.kind}) for {describe_place(location)} {when} without "
        "declaring it",
        hint=f"add 'overrides: {broader.id}' to make the exception explicit for reviewers",
    )
