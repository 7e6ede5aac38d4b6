"""
Lints: warnings about a policy set that loads but is probably not what was meant.

`geogate check` runs them after loading; loading itself (`load_policies`,
`Gate.from_path`) does not, so a gate starts as fast as before and a lint
that depends on the clock (``expired-rule``) never changes what a program
sees from one day to the next.

The rule lints are exact, like the load-time analysis in `geogate._load.analysis`:
decisions only change on the days a rule window or a jurisdiction's
membership starts or stops, and on one such day every country that no rule
names and that lies in the same named jurisdictions is decided alike. So one
probe per (segment of dates, class of countries), per country a rule names
and per subdivision a rule names, directly or through a jurisdiction that
holds it (with its parents), covers every place and date, and each warning
names one of them as its evidence. A rule decides a place when it decides a
request naming that place, before the place's insides are looked at (a rule
on ``US-IL`` decides ``US-IL``; a request naming only ``US`` may get the
feature's ``partial`` setting instead, see `geogate._engine.splits`): removing a
rule also counts as changing an outcome when it changes what a request
naming only a split place gets.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

from geogate._engine.decide import (
    CompiledRule,
    Location,
    OutcomeKind,
    change_days,
    decide,
    decide_place,
    inner_places,
    place_of,
    places_inside,
)
from geogate._engine.decision import describe_place
from geogate._engine.splits import feature_splits
from geogate._load.analysis import describe_segments
from geogate._policy.codes import Code
from geogate._policy.fields import Reader
from geogate._policy.model import Effect, RuleKind, TargetKind
from geogate._world.countries import LocationStatus
from geogate._world.jurisdictions import describe_window

from .audit import CountryClasses, FeatureRules

if TYPE_CHECKING:
    from geogate._policy.diagnostics import Diagnostic
    from geogate._policy.model import Feature, PolicySet, Rule, Target
    from geogate._world.jurisdictions import JurisdictionTable

__all__ = ["PLACEHOLDERS", "default_since", "is_placeholder", "lint_policy"]

#: Reasons that say nothing, compared in lower case without punctuation.
PLACEHOLDERS = frozenset(
    [
        "",
        "todo",
        "to do",
        "tbd",
        "tbc",
        "tba",
        "fixme",
        "xxx",
        "x",
        "na",
        "n a",
        "none",
        "null",
        "reason",
        "placeholder",
        "wip",
        "test",
        "foo",
        "lorem ipsum",
    ]
)
_PLACEHOLDER_START = ("todo ", "tbd ", "tbc ", "fixme ", "xxx ")
_NOT_WORDS = re.compile(r"[\W_]+")

#: A probe: where the rules decide, and the index of the segment of dates.
_Evidence = tuple[Location, int]


def lint_policy(
    policy: PolicySet, *, since: dt.date | None = None, expired_before: dt.date | None = None
) -> tuple[Diagnostic, ...]:
    """
    Return the lint warnings of *policy*, sorted by position.

    ``shadowed-rule`` and ``redundant-rule`` consider every date from *since*
    on; by default from the earliest ``from`` or ``until`` of any rule in the
    set (so every dated rule's window is considered), or from today when no
    rule has a date. Without that horizon, every rule without ``from`` would
    reach back before the EU existed, and ``deny: [FR]`` beside ``deny: [EU]``
    would count as needed because of 1957.

    ``expired-rule`` is only looked for when *expired_before* is given: a
    policy set that records history (a rule that ended on the day a feature
    launched somewhere) is right to keep rules whose window has ended.
    """
    found: list[Diagnostic] = []
    reader = Reader(found.append)
    classes = CountryClasses(policy.jurisdictions)
    horizon = since or default_since(policy)
    for feature in policy.features.values():
        _lint_texts(feature, reader)
        _lint_rules(feature, classes, reader, horizon, expired_before)
    found.sort(key=lambda d: (d.position, d.code))
    return tuple(found)


def default_since(policy: PolicySet) -> dt.date:
    """Return the earliest ``from`` or ``until`` of any rule, else today (UTC)."""
    dates = [
        day
        for feature in policy.features.values()
        for rule in feature.rules
        for day in (rule.start, rule.end)
        if day is not None
    ]
    return min(dates) if dates else dt.datetime.now(dt.UTC).date()


def _where(rule: Rule) -> str:
    return f"features.{rule.feature}.rules[{rule.id}]"


def is_placeholder(reason: str) -> bool:
    """Tell whether *reason* says nothing: ``TODO``, ``tbd``, ``x``, ``...``."""
    words = _NOT_WORDS.sub(" ", reason.lower()).strip()
    return words in PLACEHOLDERS or (words + " ").startswith(_PLACEHOLDER_START)


def _lint_texts(feature: Feature, reader: Reader) -> None:
    if feature.owner is None:
        reader.diagnose(
            feature.position,
            Code.MISSING_OWNER,
            f"the feature {feature.id!r} has no 'owner'",
            hint="add 'owner:' with the team that answers for it; audits and reports show it",
        )
    for rule in feature.rules:
        if is_placeholder(rule.reason):
            reader.diagnose(
                rule.position,
                Code.MISSING_REASON,
                f"{_where(rule)} has the placeholder reason {rule.reason!r}",
                hint="say why, in words a non-engineer can read: the law, decision or contract "
                "behind the rule",
            )
        if rule.source is None:
            reader.diagnose(
                rule.position,
                Code.MISSING_SOURCE,
                f"{_where(rule)} has no 'source' for its reason",
                hint="add 'source:' with a URL or a citation, so a reviewer can check the reason",
            )


def _probes(
    rules: FeatureRules, day: dt.date, classes: CountryClasses, inside: frozenset[str]
) -> list[Location]:
    """One location per class of countries, per named country and per place inside a country."""
    seen: set[tuple[str, ...]] = set()
    probes: list[Location] = []
    for names, codes in classes.groups(day).items():
        key = tuple(j for j in names if j in rules.jurisdictions)
        sample = next((code for code in codes if code not in rules.countries), None)
        if sample is not None and key not in seen:
            seen.add(key)
            probes.append(Location(LocationStatus.KNOWN, sample))
    probes.extend(Location(LocationStatus.KNOWN, code) for code in sorted(rules.countries))
    probes.extend(place_of(code) for code in sorted(inside))
    return probes


def _lint_rules(feature: Feature, classes: CountryClasses, reader: Reader, since: dt.date,
                expired_before: dt.date | None) -> None:  # fmt: skip
    table = classes.table
    rules = FeatureRules.of(feature)
    inside = inner_places(rules.rules, table)
    days = change_days(rules.rules, table)
    # Evidence is the last probe found: the most recent dates read best.
    decided: dict[str, _Evidence] = {}  # rule id -> where it decides
    beaten: dict[str, tuple[Location, int, str]] = {}  # rule id -> where another rule wins
    needed: set[str] = set()  # rules whose removal changes an effect, or leaves the default
    alike: dict[str, tuple[Location, int, str]] = {}  # rule id -> where another decides alike
    for index, day in enumerate(days):
        if index + 1 < len(days) and days[index + 1] <= since:
            continue  # the segment ends before the horizon
        for location in _probes(rules, day, classes, inside):
            matched = [c for c in rules.rules if c.matches(location, day, table)]
            if not matched:
                continue
            outcome = decide_place(feature, matched, location, day, table)
            winner = outcome.rule
            if winner is None:  # pragma: no cover (ambiguity is a load error)
                continue
            decided[winner.id] = (location, index)
            for compiled in matched:
                if compiled.rule.id != winner.id:
                    beaten[compiled.rule.id] = (location, index, winner.id)
            if winner.id in needed:
                continue
            rest = [c for c in matched if c.rule.id != winner.id]
            instead = decide_place(feature, rest, location, day, table)
            if instead.kind is not OutcomeKind.RULE or instead.effect is not outcome.effect:
                needed.add(winner.id)
            elif instead.rule is not None:
                alike[winner.id] = (location, index, instead.rule.id)
        _needed_for_splits(feature, rules.rules, inside, day, table, needed, alike)
    for compiled in rules.rules:
        rule = compiled.rule
        _empty_targets(compiled, table, reader)
        if rule.end is not None and rule.end < since:
            continue  # outside the period considered
        if rule.id not in decided:
            if rule.id in beaten:
                location, index, other = beaten[rule.id]
                reader.diagnose(
                    rule.position,
                    Code.SHADOWED_RULE,
                    f"{_where(rule)} decides no location on any date from {since.isoformat()}: "
                    f"where it applies, other rules win (for {describe_place(location)} "
                    f"{describe_segments([index], days)}, {other!r} decides)",
                    hint="remove it, or make it more specific than the rules that win "
                    "(a subdivision beats a country, a country beats a jurisdiction); nothing "
                    "overrides a hard_deny",
                )
            continue
        if rule.id not in needed:
            location, index, other = alike[rule.id]
            effect = "allows" if rule.effect is Effect.ALLOW else "denies"
            reader.diagnose(
                rule.position,
                Code.REDUNDANT_RULE,
                f"{_where(rule)} never changes an outcome from {since.isoformat()}: wherever it "
                f"decides, another rule {effect} too (for {describe_place(location)} "
                f"{describe_segments([index], days)}, {other!r} would decide)",
                hint="remove it; a rule that only restates the feature's default is not "
                "reported, because it gives those decisions a reason and a source",
            )
        if expired_before is not None and rule.end is not None and rule.end < expired_before:
            location, index = decided[rule.id]
            reader.diagnose(
                rule.position,
                Code.EXPIRED_RULE,
                f"{_where(rule)} ended on {rule.end.isoformat()}, before "
                f"{expired_before.isoformat()}: it last decided for {describe_place(location)} "
                f"{describe_segments([index], days)}",
                hint="delete it once audits of earlier dates no longer need it, or move 'until' "
                "if it should still apply",
            )
    _partial_without_effect(feature, rules.rules, table, reader, since)


def _needed_for_splits(
    feature: Feature,
    rules: tuple[CompiledRule, ...],
    inside: frozenset[str],
    day: dt.date,
    table: JurisdictionTable,
    needed: set[str],
    alike: dict[str, tuple[Location, int, str]],
) -> None:
    """
    Mark as needed the hard_deny rules that decide what a request naming a split place gets.

    Where every place keeps its effect without a rule, only one thing about a
    split place can change: whether a hard_deny rule decides inside it (then
    the request is denied whatever ``partial`` says), which also depends on
    whether one decides the place itself. So only the hard_deny rules in
    force, not yet needed, are taken out to see, at each split place.
    """
    if not inside or feature.partial is Effect.DENY:
        return  # without 'partial: allow', a split place is denied either way
    hard = [
        c.rule.id
        for c in rules
        if c.rule.kind is RuleKind.HARD_DENY and c.rule.id not in needed and c.rule.active(day)
    ]
    if not hard:
        return
    holders = {code.partition("-")[0] for code in inside} | set(inside)
    for code in sorted(holders):
        location = place_of(code)
        if not places_inside(location, inside):
            continue
        outcome = decide(feature, rules, location, day, table, inside)
        if outcome.kind is not OutcomeKind.PARTIAL:
            continue  # only a change of effect somewhere could split it: needed already
        for rule_id in hard:
            if rule_id in needed:
                continue
            rest = [c for c in rules if c.rule.id != rule_id]
            if decide(feature, rest, location, day, table, inside).effect is not outcome.effect:
                needed.add(rule_id)
                alike.pop(rule_id, None)


def _partial_without_effect(
    feature: Feature,
    rules: tuple[CompiledRule, ...],
    table: JurisdictionTable,
    reader: Reader,
    since: dt.date,
) -> None:
    """Report ``partial: allow`` on a feature where it never decides from *since* on."""
    if feature.partial is not Effect.ALLOW:
        return
    splits = feature_splits(feature, table, rules)
    if any(not s.hard_deny and (s.end is None or s.end >= since) for s in splits):
        return
    hard = sorted({rule for s in splits for rule in s.hard_deny})
    why = (
        f"wherever a place is split, a hard_deny rule decides inside it ({', '.join(hard)}), "
        "so the request is denied whatever 'partial' says"
        if hard
        else "no rule decides differently inside a country (or a subdivision)"
    )
    reader.diagnose(
        feature.position,
        Code.PARTIAL_WITHOUT_EFFECT,
        f"the feature {feature.id!r} says 'partial: allow', but it never decides a request on "
        f"any date from {since.isoformat()}: {why}",
        hint="remove 'partial: allow'; it only decides a request that names a place the rules "
        "split, such as 'US' when a rule denies 'US-IL'",
    )


def _empty_targets(compiled: CompiledRule, table: JurisdictionTable, reader: Reader) -> None:
    """Report each jurisdiction target with no member while the rule is in force."""
    rule = compiled.rule
    start, end = rule.start or dt.date.min, rule.end or dt.date.max
    for target in rule.targets:
        if target.kind is not TargetKind.JURISDICTION:
            continue
        boundaries = table.boundaries(target.code)
        probes = [start, *(day for day in boundaries if start < day <= end)]
        if any(table.members_at(target.code, day) for day in probes):
            continue
        _report_empty(rule, target, boundaries, table, reader)


def _report_empty(rule: Rule, target: Target, boundaries: tuple[dt.date, ...],
                  table: JurisdictionTable, reader: Reader) -> None:  # fmt: skip
    window = f"{describe_window(rule.start, rule.end)}, while the rule is in force"
    populated = [day for day in (dt.date.min, *boundaries) if table.members_at(target.code, day)]
    later = [day for day in populated if rule.end is not None and day > rule.end]
    earlier = [day for day in populated if rule.start is not None and day < rule.start]
    if later:
        when = f"; its first member joined on {later[0].isoformat()}"
    elif earlier:
        last = next(day for day in boundaries if day > earlier[-1])
        when = f"; its last member left on {(last - dt.timedelta(days=1)).isoformat()}"
    else:
        when = "; it never has a member"
    reader.diagnose(
        target.position,
        Code.EMPTY_JURISDICTION,
        f"{_where(rule)} names the jurisdiction {target.code!r}, which has no member "
        f"{window}{when}",
        hint="fix the rule's 'from'/'until', or name the countries or subdivisions meant",
    )
