"""
Explain a decision: the whole chain from the location to the deciding rule.

`explain` walks the decision procedure of `geogate._engine` step by step with
the engine's own functions (`CompiledRule.matches`, `most_specific`,
`rule_beats`, `target_beats`, `best_target`, `decide`), so it says why every
rule of a feature won, lost or was not a candidate, and which fallback
applied. The final decision is the gate's own (`Gate.evaluate`), never a
second implementation of it; a test checks that the chain and the decision
agree for every shipped feature and every country.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

import attrs

from ._countries import LocationStatus, describe_value
from ._decision import Decision, ErrorCode, describe_place
from ._engine import (
    CompiledRule,
    Location,
    Outcome,
    OutcomeKind,
    best_target,
    decide,
    most_specific,
    resolve_location,
    target_beats,
)
from ._gate import Gate
from ._policy import Basis, Effect, RuleKind, Target, TargetKind
from ._slowpath import as_date

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._jurisdictions import JurisdictionTable
    from ._policy import Feature, PolicySet, Rule

__all__ = ["Explanation", "RuleVerdict", "SignalChain", "Verdict", "explain"]


class Verdict(enum.StrEnum):
    """What became of one rule in a decision."""

    WON = "won"
    LOST = "lost"
    #: Disagreed with another equally specific candidate: the gate failed closed.
    AMBIGUOUS = "ambiguous"
    NOT_CANDIDATE = "not a candidate"


@attrs.frozen(kw_only=True)
class RuleVerdict:
    """
    One rule of the feature, and why it decided or did not.

    Attributes:
        rule: The rule's id.
        kind: ``allow``, ``deny`` or ``hard_deny``.
        targets: Its targets as written (codes and jurisdiction names).
        start: First day of its window, or None.
        end: Last day of its window, or None.
        verdict: Won, lost, ambiguous or not a candidate.
        why: Plain words completing "<verdict>: ...".
        matched: The targets that contain the place on the date.
    """

    rule: str
    kind: RuleKind
    targets: tuple[str, ...]
    start: dt.date | None = None
    end: dt.date | None = None
    verdict: Verdict
    why: str
    matched: tuple[str, ...] = ()

    @property
    def heading(self) -> str:
        """The rule as a person reads it: ``eu-withheld (deny EU, from 2024-09-25)``."""
        kind = "hard deny" if self.kind is RuleKind.HARD_DENY else str(self.kind)
        return f"{self.rule} ({kind} {', '.join(self.targets)}{_window(self.start, self.end)})"

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data."""
        return {
            "rule": self.rule,
            "kind": str(self.kind),
            "targets": list(self.targets),
            "from": None if self.start is None else self.start.isoformat(),
            "until": None if self.end is None else self.end.isoformat(),
            "verdict": str(self.verdict),
            "why": self.why,
            "matched": list(self.matched),
        }


@attrs.frozen(kw_only=True)
class SignalChain:
    """
    The decision procedure run for one signal: the location or the domicile.

    Attributes:
        signal: ``location`` or ``domicile``.
        given: What the caller passed, quoted (``country 'uk'``), or None.
        status: ``known``, ``unknown`` or ``invalid``.
        country: The normalised country, when known.
        subdivisions: The subdivision and its parents, innermost first.
        place: The place for people (``FR (France)``), or None when unknown.
        problem: Why the signal is unknown or invalid, else None.
        jurisdictions: The jurisdictions containing the country on the date,
            most specific first.
        rules: A verdict for every rule of the feature, in file order.
        fallback: ``default``, ``unknown`` or ``invalid`` (always deny) when
            no rule decided, else None.
        effect: What this signal alone decides.
        rule: The deciding rule's id, or None.
    """

    signal: str
    given: str | None
    status: LocationStatus
    country: str | None = None
    subdivisions: tuple[str, ...] = ()
    place: str | None = None
    problem: str | None = None
    jurisdictions: tuple[str, ...] = ()
    rules: tuple[RuleVerdict, ...] = ()
    fallback: str | None = None
    effect: Effect
    rule: str | None = None

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data."""
        return {
            "signal": self.signal,
            "given": self.given,
            "status": str(self.status),
            "country": self.country,
            "subdivisions": list(self.subdivisions),
            "place": self.place,
            "problem": self.problem,
            "jurisdictions": list(self.jurisdictions),
            "rules": [verdict.to_dict() for verdict in self.rules],
            "fallback": self.fallback,
            "effect": str(self.effect),
            "rule": self.rule,
        }


@attrs.frozen(kw_only=True)
class Explanation:
    """
    Why a feature is allowed or denied for a place on a date, step by step.

    Attributes:
        feature: The feature id asked about.
        basis: The signal(s) the feature is decided on; None for an unknown feature.
        as_of: The date decided for.
        revision: ``sha256:`` digest of the policy set.
        chains: The decision procedure for each signal the basis uses (the
            location, the domicile, or both); empty when no decision could be
            made normally (an unknown feature, a bad date or a wrong type).
        decided_by: The signal whose chain gave the decision, or None.
        decision: The gate's decision, the same as `Gate.evaluate` returns.
    """

    feature: str
    basis: Basis | None
    as_of: dt.date
    revision: str
    chains: tuple[SignalChain, ...] = ()
    decided_by: str | None = None
    decision: Decision

    @property
    def steps(self) -> tuple[str, ...]:
        """The chain in plain sentences, one per step; the last is the result."""
        lines: list[str] = []
        if self.basis is Basis.DOMICILE:
            lines.append(
                "Decided on: the domicile of the account or company, not where the request "
                "comes from."
            )
        elif self.basis is Basis.LOCATION_AND_DOMICILE:
            lines.append(
                "Decided on: both the location and the domicile; the feature is allowed only "
                "when each of them is."
            )
        for chain in self.chains:
            lines.extend(_chain_steps(chain, self.as_of, several=len(self.chains) > 1))
        if len(self.chains) > 1:
            lines.append(f"Deciding signal: the {self.decided_by}.")
        verdict = "ALLOWED" if self.decision.allowed else "DENIED"
        lines.append(f"Result: {verdict}. {self.decision.explanation}")
        return tuple(lines)

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data: the chain, the steps in words, and the decision."""
        return {
            "feature": self.feature,
            "basis": None if self.basis is None else str(self.basis),
            "as_of": self.as_of.isoformat(),
            "revision": self.revision,
            "chains": [chain.to_dict() for chain in self.chains],
            "decided_by": self.decided_by,
            "steps": list(self.steps),
            "decision": self.decision.to_dict(),
        }


def explain(
    policy: PolicySet,
    feature: str,
    *,
    country: object = None,
    subdivision: object = None,
    domicile: object = None,
    at: object = None,
) -> Explanation:
    """
    Explain the decision for *feature* at a place on a date, step by step.

    Takes the same arguments as `Gate.evaluate` (without ``ip``) and never
    raises for bad input: an unknown feature, a bad date or a wrong type give
    an explanation without chains whose decision says what is wrong.
    """
    gate = _gate_for(policy)
    decision = gate.evaluate(
        feature, country=country, subdivision=subdivision, domicile=domicile, at=at
    )
    day = decision.as_of
    found = policy.features.get(feature) if isinstance(feature, str) else None
    # Inputs of the wrong type or an unreadable date leave nothing to walk through;
    # an invalid code or a contradiction does: its chain says why it is invalid.
    unreadable = decision.error_code is ErrorCode.INVALID_CONTEXT and (
        any(v is not None and not isinstance(v, str) for v in (country, subdivision, domicile))
        or (at is not None and as_date(at) is None)
    )
    if found is None or unreadable:
        return Explanation(
            feature=decision.feature,
            basis=None if found is None else found.basis,
            as_of=day,
            revision=policy.revision,
            decision=decision,
        )
    rules = tuple(CompiledRule.from_rule(rule) for rule in found.rules)
    table = policy.jurisdictions
    location = resolve_location(country, subdivision)
    where = _given(country=country, subdivision=subdivision)
    home = (
        resolve_location(domicile)
        if domicile is not None
        else Location(LocationStatus.UNKNOWN, problem="no domicile was given")
    )
    signals: list[tuple[str, Location, str | None]] = []
    if found.basis in {Basis.LOCATION, Basis.LOCATION_AND_DOMICILE}:
        signals.append(("location", location, where))
    if found.basis in {Basis.DOMICILE, Basis.LOCATION_AND_DOMICILE}:
        signals.append(("domicile", home, _given(domicile=domicile)))
    chains = tuple(
        _chain(found, rules, signal, place, given, day, table) for signal, place, given in signals
    )
    # location+domicile: the first signal that denies decides, else the location.
    decided = next((c for c in chains if c.effect is Effect.DENY), chains[0])
    return Explanation(
        feature=found.id,
        basis=found.basis,
        as_of=day,
        revision=policy.revision,
        chains=chains,
        decided_by=decided.signal,
        decision=decision,
    )


#: The gate of the last policy set explained: a command line or a test
#: explains many decisions of one policy set (a gate compiles its rules once).
_last: tuple[PolicySet, Gate] | None = None


def _gate_for(policy: PolicySet) -> Gate:
    global _last  # noqa: PLW0603 (a one-slot cache; replacing the tuple is atomic)
    last = _last
    if last is not None and last[0] is policy:
        return last[1]
    gate = Gate(policy)
    _last = (policy, gate)
    return gate


def _given(*, country: object = None, subdivision: object = None, domicile: object = None) -> str:
    parts = [
        f"{name} {describe_value(value)}"
        for name, value in (
            ("country", country),
            ("subdivision", subdivision),
            ("domicile", domicile),
        )
        if value is not None
    ]
    return ", ".join(parts) or "nothing"


def _chain(
    feature: Feature,
    rules: Sequence[CompiledRule],
    signal: str,
    location: Location,
    given: str | None,
    day: dt.date,
    table: JurisdictionTable,
) -> SignalChain:
    """Run the decision procedure for one signal and record every rule's verdict."""
    outcome = decide(feature, rules, location, day, table)
    known = location.status is LocationStatus.KNOWN and location.country is not None
    place = describe_place(location) if known else None
    verdicts = (
        _verdicts(rules, outcome, location, place or "", day, table)
        if known
        else tuple(
            _verdict(
                rule,
                Verdict.NOT_CANDIDATE,
                f"the {signal} is {location.status}, so no rule can contain it",
            )
            for rule in rules
        )
    )
    fallback = {
        OutcomeKind.DEFAULT: "default",
        OutcomeKind.UNKNOWN: "unknown",
        OutcomeKind.INVALID: "invalid",
    }.get(outcome.kind)
    return SignalChain(
        signal=signal,
        given=given,
        status=location.status,
        country=location.country,
        subdivisions=location.chain,
        place=place,
        problem=location.problem or (None if known else f"the {signal} is {location.status}"),
        jurisdictions=table.containing(location.country, day)
        if location.country is not None
        else (),
        rules=verdicts,
        fallback=fallback,
        effect=outcome.effect,
        rule=None if outcome.rule is None else outcome.rule.id,
    )


def _verdicts(
    rules: Sequence[CompiledRule],
    outcome: Outcome,
    location: Location,
    place: str,
    day: dt.date,
    table: JurisdictionTable,
) -> tuple[RuleVerdict, ...]:
    """Say what became of each rule, with the engine's own ordering functions."""
    matched = {
        rule.rule.id: (rule, rule.matching_targets(location, day, table))
        for rule in rules
        if rule.matches(location, day, table)
    }
    hard = [pair for pair in matched.values() if pair[0].rule.kind is RuleKind.HARD_DENY]
    pool = hard or list(matched.values())
    top = most_specific(pool, location, day, table) if pool else []
    top_ids = [rule.rule.id for rule, _ in top]
    pool_ids = {rule.rule.id for rule, _ in pool}
    winner = outcome.rule.id if outcome.rule is not None else None
    verdicts: list[RuleVerdict] = []
    for compiled in rules:
        rule = compiled.rule
        if not rule.active(day):
            window = _window(rule.start, rule.end).removeprefix(", ")
            why = f"outside its window ({window}) on {day}"
            verdicts.append(_verdict(compiled, Verdict.NOT_CANDIDATE, why))
            continue
        if rule.id not in matched:
            written = ", ".join(t.code for t in rule.targets)
            why = f"its targets ({written}) do not contain {place} on {day}"
            verdicts.append(_verdict(compiled, Verdict.NOT_CANDIDATE, why))
            continue
        targets = matched[rule.id][1]
        codes = tuple(t.code for t in targets)
        contains = f"{_list(codes)} {'contains' if len(codes) == 1 else 'contain'} {place}"
        if outcome.kind is OutcomeKind.AMBIGUOUS and rule.id in top_ids:
            others = ", ".join(i for i in top_ids if i != rule.id)
            why = (
                f"{contains}, but it disagrees with {others} and neither is more specific, "
                "so the gate fails closed (deny)"
            )
            verdicts.append(_verdict(compiled, Verdict.AMBIGUOUS, why, codes))
        elif rule.id == winner:
            if rule.kind is RuleKind.HARD_DENY:
                why = f"{contains}, and a hard_deny rule decides whatever else applies"
            elif len(matched) == 1:
                why = f"{contains}, and it is the only candidate"
            else:
                why = f"{contains}, and no other candidate is more specific"
            if len(top) > 1:
                tied = ", ".join(i for i in top_ids if i != rule.id)
                why += f"; {tied} is as specific and agrees: the tie is broken by rule id"
            verdicts.append(_verdict(compiled, Verdict.WON, why, codes))
        elif rule.id not in pool_ids:
            hard_ids = ", ".join(sorted(r.rule.id for r, _ in hard))
            why = f"a hard_deny rule decides ({hard_ids})"
            verdicts.append(_verdict(compiled, Verdict.LOST, why, codes))
        elif rule.id in top_ids:
            why = f"as specific as {winner} and with the same effect: the tie is broken by rule id"
            verdicts.append(_verdict(compiled, Verdict.LOST, why, codes))
        else:
            why = _beaten(targets, rule.id, pool, winner, location, day, table)
            verdicts.append(_verdict(compiled, Verdict.LOST, why, codes))
    return tuple(verdicts)


def _beaten(
    targets: Sequence[Target],
    rule_id: str,
    pool: Sequence[tuple[CompiledRule, list[Target]]],
    winner: str | None,
    location: Location,
    day: dt.date,
    table: JurisdictionTable,
) -> str:
    """Name a more specific candidate that beats *targets*, and say why."""
    # Prefer the winner; else the first by rule id, as ties are broken.
    others = sorted(
        ((r, t) for r, t in pool if r.rule.id != rule_id),
        key=lambda pair: (pair[0].rule.id != winner, pair[0].rule.id),
    )
    mine = best_target(targets, location, day, table)
    for other, theirs in others:
        for x in sorted(theirs, key=lambda t: t.code):
            if all(target_beats(x, y, location, day, table) for y in targets):
                return f"rule {other.rule.id} is more specific ({_why_beats(x, mine, day, table)})"
    # most_specific said another candidate beats it, so one of them does.
    return "another candidate is more specific"  # pragma: no cover


def _why_beats(a: Target, b: Target, day: dt.date, table: JurisdictionTable) -> str:
    """Say in words why target *a* is more specific than target *b*."""
    if a.kind is TargetKind.JURISDICTION and b.kind is TargetKind.JURISDICTION:
        small, large = len(table.members_at(a.code, day)), len(table.members_at(b.code, day))
        return (
            f"{a.code} ⊊ {b.code} on {day}: all {small} countries and territories of "
            f"{a.code} are in {b.code}, which has {large}"
        )
    if a.kind is TargetKind.SUBDIVISION and b.kind is TargetKind.SUBDIVISION:
        return f"{a.code} lies within {b.code}: a subdivision beats its parent"
    stronger, weaker = _KIND_NAMES[a.kind], _KIND_NAMES[b.kind]
    return f"{a.code} is a {stronger}, {b.code} a {weaker}: {stronger} beats {weaker}"


_KIND_NAMES = {
    TargetKind.SUBDIVISION: "subdivision",
    TargetKind.COUNTRY: "country",
    TargetKind.JURISDICTION: "jurisdiction",
}


def _verdict(
    compiled: CompiledRule, verdict: Verdict, why: str, matched: tuple[str, ...] = ()
) -> RuleVerdict:
    rule: Rule = compiled.rule
    return RuleVerdict(
        rule=rule.id,
        kind=rule.kind,
        targets=tuple(t.code for t in rule.targets),
        start=rule.start,
        end=rule.end,
        verdict=verdict,
        why=why,
        matched=matched,
    )


def _window(start: dt.date | None, end: dt.date | None) -> str:
    """``, from 2024-09-25 until 2025-03-30``, or an empty string for an open window."""
    parts = ([f"from {start}"] if start else []) + ([f"until {end}"] if end else [])
    return "".join(", " + " ".join(parts)) if parts else ""


def _list(codes: Sequence[str]) -> str:
    return f"its target {codes[0]}" if len(codes) == 1 else f"its targets {', '.join(codes)}"


_VERBS = {
    Verdict.WON: "won",
    Verdict.LOST: "lost",
    Verdict.AMBIGUOUS: "is ambiguous",
    Verdict.NOT_CANDIDATE: "is not a candidate",
}


def _chain_steps(chain: SignalChain, day: dt.date, *, several: bool) -> list[str]:
    """Write the steps of one signal's chain."""
    name = chain.signal.capitalize()
    if chain.place is None:
        steps = [f"{name}: {chain.status}, because {chain.problem}."]
    else:
        steps = [f"{name}: {chain.place}, from {chain.given}."]
        names = ", ".join(chain.jurisdictions) or "none"
        steps.append(f"Jurisdictions: on {day}, {chain.country} is in {names}.")
    if not chain.rules:
        steps.append("Rules: the feature has none.")
    for verdict in chain.rules:
        steps.append(f"Rule {verdict.heading} {_VERBS[verdict.verdict]}: {verdict.why}.")
    effect = "allow" if chain.effect is Effect.ALLOW else "deny"
    if chain.fallback == "default":
        steps.append(f"Fallback: no rule applies, so the feature's default decides: {effect}.")
    elif chain.fallback == "unknown":
        steps.append(
            f"Fallback: the {chain.signal} is {chain.status}, so the feature's setting for "
            f"unknown locations decides: {effect}."
        )
    elif chain.fallback == "invalid":
        steps.append(
            f"Fallback: the {chain.signal} is invalid, so the feature is denied whatever its "
            "setting for unknown locations says: deny."
        )
    if several:
        by = f"rule {chain.rule}" if chain.rule else f"the {chain.fallback} setting"
        steps.append(f"The {chain.signal} alone gives: {effect} (by {by}).")
    return steps
