"""
Declarative policy tests: cases run against a gate, with coverage.

The cases come from test files (`geogate._policytests.files` finds and reads them,
`geogate._policytests.cases` describes them). `run_case` evaluates one with a gate and,
when it fails, says what differs and shows the explanation chain.

Coverage is by decision, not by line: which rules decided at least one case,
which fallbacks did (the default, the ``partial`` setting of a split place,
the setting for unknown locations), and which jurisdictions and places of the
rules' targets were exercised, subdivisions included. A case naming only
``US`` where ``US-IL`` is decided differently is decided by the ``partial``
setting, not by a rule; a rule that decides only ``US-IL`` is covered by a
case naming ``US-IL``. For each rule no case decided, the report suggests a
case that it would decide (a place, a subdivision where that is where the
rule decides, and a date), checked with the gate.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import attrs

from geogate._engine.decide import (
    CompiledRule,
    Location,
    OutcomeKind,
    change_days,
    decide,
    inner_places,
    place_of,
    places_inside,
    resolve_location,
)
from geogate._engine.decision import Decision
from geogate._gate.gate import Gate
from geogate._policy.model import Basis, Effect, TargetKind
from geogate._review.audit import CountryClasses, FeatureRules
from geogate._review.walkthrough import walk_through
from geogate._world.countries import (
    LocationSource,
    LocationStatus,
    subdivision_chain,
    subdivisions_of,
)

from .cases import Case

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from geogate._policy.model import Feature, PolicySet, Rule
    from geogate._world.jurisdictions import JurisdictionTable

__all__ = [
    "CaseResult",
    "Coverage",
    "FeatureCoverage",
    "Suggestion",
    "coverage",
    "run_case",
    "run_cases",
]


@attrs.frozen(kw_only=True)
class CaseResult:
    """
    What a case gave.

    Attributes:
        case: The case run.
        passed: Whether the effect (and the pinned rule, if any) matched.
        decision: The gate's decision.
        message: Empty when passed; else what differs, then the explanation chain.
    """

    case: Case
    passed: bool
    decision: Decision
    message: str

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data: the case, the outcome and the decision."""
        return {
            **self.case.to_dict(),
            "passed": self.passed,
            "got": str(self.decision.effect),
            "got_rule": self.decision.rule,
            "message": self.message,
            "decision": self.decision.to_dict(),
        }


# Running.


def run_case(gate: Gate, case: Case) -> CaseResult:
    """Evaluate *case* with *gate*; on failure, say what differs and show the chain."""
    decision = gate.evaluate(
        case.feature,
        country=case.country,
        subdivision=case.subdivision,
        domicile=case.domicile,
        ip=case.ip,
        at=case.at,
    )
    got = str(decision.effect)
    effect_ok = got == case.expect
    rule_ok = case.rule is None or decision.rule == case.rule
    if effect_ok and rule_ok:
        return CaseResult(case=case, passed=True, decision=decision, message="")
    expected = case.expect + (f" by rule {case.rule}" if case.rule else "")
    by = f"rule {decision.rule}" if decision.rule else _fallback(decision)
    lines = [f"expected {expected}, got {got} by {by}"]
    if effect_ok:
        lines = [f"expected {expected}, got {got} by {by}: the right effect from the wrong rule"]
    lines.extend(_chain(gate, case, decision))
    return CaseResult(case=case, passed=False, decision=decision, message="\n".join(lines))


def run_cases(gate: Gate, cases: Sequence[Case]) -> list[CaseResult]:
    """Run every case, in order."""
    return [run_case(gate, case) for case in cases]


def _fallback(decision: Decision) -> str:
    if decision.location is LocationStatus.INVALID:
        return "an invalid location"
    if decision.error_code is not None:
        return "an error"
    if decision.location is LocationStatus.KNOWN:
        return "the feature's default"
    return "the feature's setting for unknown locations"


def _chain(gate: Gate, case: Case, decision: Decision) -> list[str]:
    """The explanation chain, numbered; for an IP, the chain of the place it was located in."""
    country, subdivision = case.country, case.subdivision
    if case.ip is not None:
        if decision.location_source != LocationSource.GEOIP or decision.error_code is not None:
            return [f"  {decision.explanation}"]
        country, subdivision = decision.country, decision.subdivision
    steps = walk_through(
        gate.policy,
        case.feature,
        country=country,
        subdivision=subdivision,
        domicile=case.domicile,
        at=decision.as_of,
    ).steps
    return [f"  {number}. {step}" for number, step in enumerate(steps, 1)]


# Coverage by decision.


@attrs.frozen(kw_only=True)
class Suggestion:
    """
    A case that a rule no case decided would decide, checked with the gate.

    Attributes:
        feature: The feature id.
        rule: The rule's id.
        expect: ``allow`` or ``deny``, the rule's effect.
        at: A date on which the rule decides the case.
        country: The case's country, or None.
        subdivision: The case's subdivision (where the rule decides only
            inside a country), or None.
        domicile: The case's domicile, for a feature decided on it, or None.
    """

    feature: str
    rule: str
    expect: str
    at: dt.date
    country: str | None = None
    subdivision: str | None = None
    domicile: str | None = None

    @property
    def case(self) -> str:
        """The case as one line of a test file's ``cases:`` list, in YAML flow style."""
        fields = [f"feature: {self.feature}"]
        fields.extend(
            f"{name}: {value}"
            for name, value in (
                ("country", self.country),
                ("subdivision", self.subdivision),
                ("domicile", self.domicile),
            )
            if value is not None
        )
        fields += [f"at: {self.at.isoformat()}", f"expect: {self.expect}", f"rule: {self.rule}"]
        return "- {" + ", ".join(fields) + "}"

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data: the case's fields, and the case as a line of YAML."""
        return {
            "feature": self.feature,
            "rule": self.rule,
            "country": self.country,
            "subdivision": self.subdivision,
            "domicile": self.domicile,
            "at": self.at.isoformat(),
            "expect": self.expect,
            "case": self.case,
        }


@attrs.frozen(kw_only=True)
class FeatureCoverage:
    """
    How well one feature's rules are pinned by the cases run.

    Attributes:
        feature: The feature id.
        cases: How many cases ran for it.
        rules: Its rule ids, in file order.
        decided: The rules that decided at least one case, in file order.
        fallbacks: ``default``, ``partial`` and ``unknown`` when the feature's
            default, its ``partial`` setting (a request naming only a split
            place) or its setting for unknown locations decided a case.
        jurisdictions: The jurisdictions named in its rules' targets.
        jurisdictions_exercised: Those that contained a case's place on its date.
        places: The countries and subdivisions of its rules' targets
            (jurisdictions expanded to every place ever a member).
        places_exercised: Those that a case's place was, or was within.
        suggestions: For each rule no case decided, a case it would decide
            (none for a rule that decides no place on any date).
    """

    feature: str
    cases: int
    rules: tuple[str, ...]
    decided: tuple[str, ...]
    fallbacks: tuple[str, ...] = ()
    jurisdictions: tuple[str, ...] = ()
    jurisdictions_exercised: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    places_exercised: tuple[str, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()

    @property
    def undecided(self) -> tuple[str, ...]:
        """The rules no case was decided by."""
        return tuple(rule for rule in self.rules if rule not in self.decided)

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data."""
        return {
            "feature": self.feature,
            "cases": self.cases,
            "rules": list(self.rules),
            "decided": list(self.decided),
            "undecided": list(self.undecided),
            "fallbacks": list(self.fallbacks),
            "jurisdictions": list(self.jurisdictions),
            "jurisdictions_exercised": list(self.jurisdictions_exercised),
            "places": list(self.places),
            "places_exercised": list(self.places_exercised),
            "suggestions": [suggestion.to_dict() for suggestion in self.suggestions],
        }


@attrs.frozen(kw_only=True)
class Coverage:
    """
    Rule coverage of a run, by decision: a rule is covered when it decided a case.

    Attributes:
        features: One entry per feature of the policy set, sorted by id.
    """

    features: tuple[FeatureCoverage, ...]

    @property
    def rules(self) -> int:
        """How many rules the policy set has."""
        return sum(len(f.rules) for f in self.features)

    @property
    def decided(self) -> int:
        """How many rules decided at least one case."""
        return sum(len(f.decided) for f in self.features)

    @property
    def percent(self) -> float:
        """Percent of rules covered (100 when there are none)."""
        return 100.0 if not self.rules else 100.0 * self.decided / self.rules

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data."""
        return {
            "rules": self.rules,
            "decided": self.decided,
            "percent": round(self.percent, 2),
            "features": [f.to_dict() for f in self.features],
        }


def coverage(
    policy: PolicySet, results: Sequence[CaseResult], *, today: dt.date | None = None
) -> Coverage:
    """
    Say, per feature, which rules, fallbacks, jurisdictions and places the *results* exercised.

    Suggested cases for the rules no case decided are dated *today* (by
    default the day it runs, UTC) where the rule decides then, else on the
    nearest date on which it does.
    """
    by_feature: dict[str, list[CaseResult]] = {}
    for result in results:
        by_feature.setdefault(result.case.feature, []).append(result)
    table = policy.jurisdictions
    day = today or dt.datetime.now(dt.UTC).date()
    finder: _Finder | None = None
    features = []
    for feature in policy.features.values():
        mine = by_feature.get(feature.id, [])
        compiled = tuple(CompiledRule.from_rule(rule) for rule in feature.rules)
        inside = inner_places(compiled, table)
        decided = {r.decision.rule for r in mine if r.decision.rule is not None}
        fallbacks = {
            _fallback_name(feature, compiled, inside, table, r.decision)
            for r in mine
            if r.decision.rule is None and r.decision.error_code is None
        }
        named = {t.code for rule in feature.rules for t in rule.targets}
        jurisdictions = sorted(code for code in named if code in table)
        places = {code for code in named if code not in table}
        for name in jurisdictions:
            places.update(table.jurisdictions[name].members)
        touched_places: set[str] = set()
        touched_jurisdictions: set[str] = set()
        for result in mine:
            for country, subdivision in _signals(feature, result.decision):
                chain = subdivision_chain(subdivision) if subdivision else ()
                touched_places.add(country)
                touched_places.update(chain)
                touched_jurisdictions.update(
                    table.containing(country, result.decision.as_of, chain)
                )
        undecided = [rule for rule in feature.rules if rule.id not in decided]
        suggestions: list[Suggestion] = []
        if undecided:
            finder = finder or _Finder(policy, day)
            suggestions = finder.suggest(feature, compiled, inside, undecided)
        features.append(
            FeatureCoverage(
                feature=feature.id,
                cases=len(mine),
                rules=tuple(rule.id for rule in feature.rules),
                decided=tuple(rule.id for rule in feature.rules if rule.id in decided),
                fallbacks=tuple(
                    name for name in ("default", "partial", "unknown") if name in fallbacks
                ),
                jurisdictions=tuple(jurisdictions),
                jurisdictions_exercised=tuple(
                    j for j in jurisdictions if j in touched_jurisdictions
                ),
                places=tuple(sorted(places)),
                places_exercised=tuple(sorted(places & touched_places)),
                suggestions=tuple(suggestions),
            )
        )
    return Coverage(features=tuple(features))


def _signals(feature: Feature, decision: Decision) -> list[tuple[str, str | None]]:
    """The known places a decision was made on: the location, the domicile or both."""
    found: list[tuple[str, str | None]] = []
    if feature.basis is not Basis.DOMICILE and decision.country is not None:
        found.append((decision.country, decision.subdivision))
    if feature.basis is not Basis.LOCATION and decision.domicile is not None:
        found.append((decision.domicile, None))
    return found


def _fallback_name(
    feature: Feature,
    rules: Sequence[CompiledRule],
    inside: frozenset[str],
    table: JurisdictionTable,
    decision: Decision,
) -> str:
    """
    Say which fallback decided a decision no rule made: ``default``, ``partial`` or ``unknown``.

    The decision does not say whether the default or the ``partial`` setting
    of a split place gave it, so the signal that decided is decided again
    with the engine, as the gate chose it.
    """
    if decision.location is not LocationStatus.KNOWN:
        return "unknown"
    location = (
        resolve_location(decision.country, decision.subdivision)
        if decision.country is not None
        else Location(LocationStatus.UNKNOWN)
    )
    home = (
        resolve_location(decision.domicile)
        if decision.domicile is not None
        else Location(LocationStatus.UNKNOWN)
    )
    day = decision.as_of
    if feature.basis is Basis.LOCATION:
        signals = [location]
    elif feature.basis is Basis.DOMICILE:
        signals = [home]
    else:  # the first signal that denies decides, else the location
        signals = [location, home]
    outcomes = [decide(feature, rules, place, day, table, inside) for place in signals]
    chosen = next((o for o in outcomes if o.effect is Effect.DENY), outcomes[0])
    if chosen.kind is OutcomeKind.PARTIAL:
        return "partial"
    return "default" if chosen.kind is OutcomeKind.DEFAULT else "unknown"


class _Finder:
    """Finds, for a rule no case decided, a place and a date where it decides a request."""

    def __init__(self, policy: PolicySet, today: dt.date) -> None:
        self.gate = Gate(policy)
        self.table = policy.jurisdictions
        self.classes = CountryClasses(self.table)
        self.today = today

    def suggest(
        self,
        feature: Feature,
        compiled: tuple[CompiledRule, ...],
        inside: frozenset[str],
        undecided: Sequence[Rule],
    ) -> list[Suggestion]:
        """Return a suggested case for each rule of *undecided* that decides somewhere."""
        found: dict[str, Suggestion] = {}
        wanted = {rule.id for rule in undecided}
        rules = FeatureRules.of(feature)
        days = change_days(compiled, self.table)
        for day in self._dates(days):
            for location in self._probes(feature, rules, inside, day):
                outcome = decide(feature, compiled, location, day, self.table, inside)
                rule = outcome.rule
                if rule is None or rule.id not in wanted or rule.id in found:
                    continue
                suggestion = self._checked(feature, rule, location, day)
                if suggestion is not None:
                    found[rule.id] = suggestion
            if len(found) == len(wanted):
                break
        return [found[rule.id] for rule in undecided if rule.id in found]

    def _dates(self, days: Sequence[dt.date]) -> Iterator[dt.date]:
        """One date per segment: today's first, then later ones, then earlier ones."""
        index = max(i for i, day in enumerate(days) if day <= self.today)
        yield self.today
        yield from days[index + 1 :]
        for earlier in range(index - 1, -1, -1):
            start, following = days[earlier], days[earlier + 1]
            yield start if start != dt.date.min else following - dt.timedelta(days=1)

    def _probes(
        self, feature: Feature, rules: FeatureRules, inside: frozenset[str], day: dt.date
    ) -> Iterator[Location]:
        """The places to try, the ones the rules name first; countries only for a domicile."""
        domicile = feature.basis is Basis.DOMICILE
        named = sorted(
            t.code
            for c in rules.rules
            for t in c.rule.targets
            if t.kind is not TargetKind.JURISDICTION
        )
        for code in named:
            if not domicile or "-" not in code:
                yield place_of(code)
        if not domicile:
            yield from (place_of(code) for code in sorted(inside))
            yield from (place_of(code) for code in _rest_samples(inside))
        for codes in self.classes.groups(day).values():
            yield Location(LocationStatus.KNOWN, codes[0])

    def _checked(
        self, feature: Feature, rule: Rule, location: Location, day: dt.date
    ) -> Suggestion | None:
        """The case for *location* on *day*, if the gate decides it by *rule*."""
        code = location.subdivision or location.country
        assert code is not None  # noqa: S101 (probes are known places)
        country = None if "-" in code else code
        subdivision = code if "-" in code else None
        domicile = None
        if feature.basis is Basis.DOMICILE:
            country, domicile = None, code
        elif feature.basis is Basis.LOCATION_AND_DOMICILE:
            domicile = code.partition("-")[0]
        decision = self.gate.evaluate(
            feature.id, country=country, subdivision=subdivision, domicile=domicile, at=day
        )
        if decision.rule != rule.id:
            return None
        return Suggestion(
            feature=feature.id,
            rule=rule.id,
            expect=str(rule.effect),
            at=day,
            country=country,
            subdivision=subdivision,
            domicile=domicile,
        )


def _rest_samples(inside: frozenset[str]) -> list[str]:
    """
    For each place with named places inside, one subdivision of it that holds none of them.

    A request naming only ``US`` is split when ``US-IL`` is decided
    differently; one naming ``US-AK`` gets what the rest of the US gets.
    """
    holders = {code.partition("-")[0] for code in inside} | {
        code for code in inside if places_inside(place_of(code), inside)
    }
    found = []
    for holder in sorted(holders):
        for code in subdivisions_of(holder.partition("-")[0]):
            chain = subdivision_chain(code)
            if "-" in holder and holder not in chain[1:]:
                continue
            if any(c in inside and c != holder for c in chain):
                continue
            if places_inside(place_of(code), inside):
                continue
            found.append(code)
            break
    return found
