"""
Declarative policy tests: cases run against a gate, with coverage.

The cases come from test files (`geogate._testfiles` finds and reads them,
`geogate._testcases` describes them). `run_case` evaluates one with a gate and,
when it fails, says what differs and shows the explanation chain.

Coverage is by decision, not by line: which rules decided at least one case,
and which jurisdictions and countries of the rules' targets were exercised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ._countries import LocationStatus, subdivision_chain
from ._decision import Decision
from ._explain import explain
from ._policy import Basis
from ._testcases import Case

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._gate import Gate
    from ._policy import Feature, PolicySet

__all__ = [
    "CaseResult",
    "Coverage",
    "FeatureCoverage",
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
        if decision.location_source != "geoip" or decision.error_code is not None:
            return [f"  {decision.explanation}"]
        country, subdivision = decision.country, decision.subdivision
    steps = explain(
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
class FeatureCoverage:
    """
    How well one feature's rules are pinned by the cases run.

    Attributes:
        feature: The feature id.
        cases: How many cases ran for it.
        rules: Its rule ids, in file order.
        decided: The rules that decided at least one case, in file order.
        fallbacks: ``default`` and ``unknown`` when the feature's fallback
            settings decided a case.
        jurisdictions: The jurisdictions named in its rules' targets.
        jurisdictions_exercised: Those that contained a case's place on its date.
        places: The countries and subdivisions of its rules' targets
            (jurisdictions expanded to every country ever a member).
        places_exercised: Those that a case's place was, or was within.
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


def coverage(policy: PolicySet, results: Sequence[CaseResult]) -> Coverage:
    """Say, per feature, which rules, jurisdictions and places the *results* exercised."""
    by_feature: dict[str, list[CaseResult]] = {}
    for result in results:
        by_feature.setdefault(result.case.feature, []).append(result)
    table = policy.jurisdictions
    features = []
    for feature in policy.features.values():
        mine = by_feature.get(feature.id, [])
        decided = {r.decision.rule for r in mine if r.decision.rule is not None}
        fallbacks = {
            "default" if r.decision.location is LocationStatus.KNOWN else "unknown"
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
                touched_places.add(country)
                touched_places.update(subdivision_chain(subdivision) if subdivision else ())
                touched_jurisdictions.update(table.containing(country, result.decision.as_of))
        features.append(
            FeatureCoverage(
                feature=feature.id,
                cases=len(mine),
                rules=tuple(rule.id for rule in feature.rules),
                decided=tuple(rule.id for rule in feature.rules if rule.id in decided),
                fallbacks=tuple(name for name in ("default", "unknown") if name in fallbacks),
                jurisdictions=tuple(jurisdictions),
                jurisdictions_exercised=tuple(
                    j for j in jurisdictions if j in touched_jurisdictions
                ),
                places=tuple(sorted(places)),
                places_exercised=tuple(sorted(places & touched_places)),
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
