"""
The walk-through of a decision: the whole chain from the location to the deciding rule.

What ``geogate explain`` prints. (The one sentence in `Decision.explanation` is
the engine's: `geogate._engine.decision.explanation`.) `walk_through` walks the
decision procedure of `geogate._engine.decide` step by step with
the engine's own functions (`CompiledRule.matches`, `most_specific`,
`rule_beats`, `target_beats`, `best_target`, `decide`), so it says why every
rule of a feature won, lost or was not a candidate, and which fallback
applied. For a place that rules decide differently inside (``US`` when
``US-IL`` is denied), it also names each place inside that is decided
differently, by which rule, what the rest of the place gets, and why the
request gets the feature's ``partial`` setting (or deny, for a ``hard_deny``
inside). The final decision is the gate's own (`Gate.evaluate`), never a
second implementation of it; a test checks that the chain and the decision
agree for every shipped feature and every country, split places included.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

import attrs

from geogate._engine.decide import (
    CompiledRule,
    Location,
    Outcome,
    OutcomeKind,
    best_target,
    decide,
    inner_places,
    most_specific,
    place_of,
    resolve_domicile,
    resolve_location,
    target_beats,
)
from geogate._engine.decision import Decision, ErrorCode, describe_place
from geogate._gate.gate import Gate
from geogate._gate.slowpath import as_date
from geogate._policy.model import Basis, Effect, RuleKind, Target, TargetKind
from geogate._world.countries import LocationStatus, describe_value, subdivision_chain
from geogate._world.jurisdictions import covers, describe_window

if TYPE_CHECKING:
    from collections.abc import Sequence

    from geogate._policy.model import Feature, PolicySet, Rule
    from geogate._world.jurisdictions import JurisdictionTable

__all__ = [
    "InsidePlace",
    "RuleVerdict",
    "SignalChain",
    "Split",
    "Verdict",
    "WalkThrough",
    "walk_through",
]


class Verdict(enum.StrEnum):
    """What became of one rule in a decision."""

    WON = "won"
    LOST = "lost"
    #: Disagreed with another equally specific candidate: the gate failed closed.
    AMBIGUOUS = "ambiguous"
    NOT_CANDIDATE = "not a candidate"
    #: Decides the place itself, but the place is split: only its rest.
    REST = "decides the rest"
    #: Not a candidate for the place, but decides places inside it differently.
    INSIDE = "decides inside"


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
        inside: The places inside the one asked about that the rule decides
            differently from it (the rule splits the place), sorted.
    """

    rule: str
    kind: RuleKind
    targets: tuple[str, ...]
    start: dt.date | None = None
    end: dt.date | None = None
    verdict: Verdict
    why: str
    matched: tuple[str, ...] = ()
    inside: tuple[str, ...] = ()

    @property
    def heading(self) -> str:
        """The rule as a person reads it: ``eu-withheld (deny EU, from 2024-09-25)``."""
        kind = "hard deny" if self.kind is RuleKind.HARD_DENY else str(self.kind)
        window = (
            ""
            if self.start is None and self.end is None
            else ", " + describe_window(self.start, self.end)
        )
        return f"{self.rule} ({kind} {', '.join(self.targets)}{window})"

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
            "inside": list(self.inside),
        }


@attrs.frozen(kw_only=True)
class InsidePlace:
    """
    A place inside a split place, or the split place's rest, and what decides it.

    Attributes:
        code: The country or subdivision code (for the rest: the place asked about).
        place: The place for people (``US-IL (Illinois, United States)``).
        effect: What a request naming this place gets.
        rule: The deciding rule's id, or None (the feature's default).
        hard: Whether the deciding rule is a ``hard_deny``.
        target: The deciding rule's most specific target that contains the place.
    """

    code: str
    place: str
    effect: Effect
    rule: str | None = None
    hard: bool = False
    target: str | None = None

    @classmethod
    def of(cls, location: Location, outcome: Outcome) -> InsidePlace:
        """Describe *outcome*, decided for the known *location* by steps 1 to 4."""
        rule = outcome.rule
        return cls(
            code=location.subdivision or location.country or "",
            place=describe_place(location),
            effect=outcome.effect,
            rule=None if rule is None else rule.id,
            hard=rule is not None and rule.kind is RuleKind.HARD_DENY,
            target=None if outcome.target is None else outcome.target.code,
        )

    @property
    def by(self) -> str:
        """What decides, in words: ``rule face-bipa``, ``the feature's default``."""
        if self.rule is None:
            return "the feature's default"
        kind = "hard-deny rule" if self.hard else "rule"
        return f"{kind} {self.rule}"

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data."""
        return {
            "code": self.code,
            "place": self.place,
            "effect": str(self.effect),
            "rule": self.rule,
            "target": self.target,
        }


@attrs.frozen(kw_only=True)
class Split:
    """
    Why a request naming a split place gets the ``partial`` setting, or deny.

    Attributes:
        inside: Each place inside that is decided differently from the place
            itself, or denied by a hard_deny rule where the rest is denied by
            a plain rule or the default, sorted by code.
        rest: What the place itself gets where nothing inside differs.
        partial: The feature's ``partial`` setting.
        hard_deny: The ``hard_deny`` rules that decide a place inside (then
            the request is denied, whatever ``partial`` says), sorted.
        effect: What the request gets.
    """

    inside: tuple[InsidePlace, ...]
    rest: InsidePlace
    partial: Effect
    hard_deny: tuple[str, ...] = ()
    effect: Effect

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data."""
        return {
            "inside": [place.to_dict() for place in self.inside],
            "rest": self.rest.to_dict(),
            "partial": str(self.partial),
            "hard_deny": list(self.hard_deny),
            "effect": str(self.effect),
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
        jurisdictions: The jurisdictions containing the place on the date,
            most specific first.
        rules: A verdict for every rule of the feature, in file order.
        fallback: ``default``, ``unknown`` or ``invalid`` (always deny) when
            no rule decided, ``partial`` when the place is split; else None.
        effect: What this signal alone decides.
        rule: The deciding rule's id, or None.
        split: For a split place, what is decided inside it and why the
            request gets what it gets; else None.
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
    split: Split | None = None

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
            "split": None if self.split is None else self.split.to_dict(),
        }


@attrs.frozen(kw_only=True)
class WalkThrough:
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


def walk_through(
    policy: PolicySet,
    feature: str,
    *,
    country: object = None,
    subdivision: object = None,
    domicile: object = None,
    at: object = None,
) -> WalkThrough:
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
        return WalkThrough(
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
        resolve_domicile(domicile)
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
    return WalkThrough(
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
    outcome = decide(feature, rules, location, day, table, inner_places(rules, table))
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
        OutcomeKind.PARTIAL: "partial",
    }.get(outcome.kind)
    return SignalChain(
        signal=signal,
        given=given,
        status=location.status,
        country=location.country,
        subdivisions=location.chain,
        place=place,
        problem=location.problem or (None if known else f"the {signal} is {location.status}"),
        jurisdictions=table.containing(location.country, day, location.chain)
        if location.country is not None
        else (),
        rules=verdicts,
        fallback=fallback,
        effect=outcome.effect,
        rule=None if outcome.rule is None else outcome.rule.id,
        split=_split(feature, outcome, location),
    )


def _split(feature: Feature, outcome: Outcome, location: Location) -> Split | None:
    """Describe a ``PARTIAL`` outcome: the places inside that differ, the rest, the setting."""
    if outcome.kind is not OutcomeKind.PARTIAL or outcome.rest is None:
        return None
    inside = tuple(InsidePlace.of(place_of(code), found) for code, found in outcome.inside)
    hard = sorted({place.rule for place in inside if place.hard and place.rule is not None})
    return Split(
        inside=inside,
        rest=InsidePlace.of(location, outcome.rest),
        partial=feature.partial,
        hard_deny=tuple(hard),
        effect=outcome.effect,
    )


def _verdicts(
    rules: Sequence[CompiledRule],
    outcome: Outcome,
    location: Location,
    place: str,
    day: dt.date,
    table: JurisdictionTable,
) -> tuple[RuleVerdict, ...]:
    """
    Say what became of each rule, with the engine's own ordering functions.

    The verdicts are about the place itself (steps 1 to 4); for a split
    place, the rule that decides the place itself decides only its rest, and
    the rules that decide places inside it differently say so.
    """
    split = outcome.kind is OutcomeKind.PARTIAL
    at_place = outcome.rest if split and outcome.rest is not None else outcome
    inside: dict[str, list[str]] = {}
    for code, found in outcome.inside:
        if found.rule is not None:
            inside.setdefault(found.rule.id, []).append(code)
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
    winner = at_place.rule.id if at_place.rule is not None else None
    verdicts: list[RuleVerdict] = []
    for compiled in rules:
        rule = compiled.rule
        codes_inside = tuple(sorted(inside.get(rule.id, ())))
        if not rule.active(day):
            why = f"outside its window ({describe_window(rule.start, rule.end)}) on {day}"
            verdicts.append(_verdict(compiled, Verdict.NOT_CANDIDATE, why))
            continue
        if rule.id not in matched:
            written = ", ".join(t.code for t in rule.targets)
            if codes_inside:
                rest = (
                    f"where the rest is {_past(at_place.effect)} too, but not by a hard_deny"
                    if rule.effect is at_place.effect
                    else f"where the rest is {_past(at_place.effect)}"
                )
                why = (
                    f"its targets ({written}) do not contain {place} itself on {day}, but it "
                    f"{_past(rule.effect, present=True)} {_names(codes_inside)} inside it, {rest}"
                )
                verdicts.append(_verdict(compiled, Verdict.INSIDE, why, inside=codes_inside))
                continue
            why = f"its targets ({written}) do not contain {place} on {day}"
            verdicts.append(_verdict(compiled, Verdict.NOT_CANDIDATE, why))
            continue
        targets = matched[rule.id][1]
        codes = tuple(t.code for t in targets)
        contains = f"{_list(codes)} {'contains' if len(codes) == 1 else 'contain'} {place}"
        also = (
            f"; inside it, it {_past(rule.effect, present=True)} {_names(codes_inside)}"
            if codes_inside
            else ""
        )
        if at_place.kind is OutcomeKind.AMBIGUOUS and rule.id in top_ids:
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
            if split:
                why += (
                    f"; but places inside {location.subdivision or location.country} are "
                    "decided differently, so it decides only the rest"
                )
            verdict = Verdict.REST if split else Verdict.WON
            verdicts.append(_verdict(compiled, verdict, why + also, codes, codes_inside))
        elif rule.id not in pool_ids:
            hard_ids = ", ".join(sorted(r.rule.id for r, _ in hard))
            why = f"a hard_deny rule decides ({hard_ids})"
            verdicts.append(_verdict(compiled, Verdict.LOST, why + also, codes, codes_inside))
        elif rule.id in top_ids:
            why = f"as specific as {winner} and with the same effect: the tie is broken by rule id"
            verdicts.append(_verdict(compiled, Verdict.LOST, why + also, codes, codes_inside))
        else:
            why = _beaten(targets, rule.id, pool, winner, location, day, table)
            verdicts.append(_verdict(compiled, Verdict.LOST, why + also, codes, codes_inside))
    return tuple(verdicts)


def _past(effect: Effect, *, present: bool = False) -> str:
    if present:
        return "allows" if effect is Effect.ALLOW else "denies"
    return "allowed" if effect is Effect.ALLOW else "denied"


def _names(codes: Sequence[str]) -> str:
    """``US-IL (Illinois, United States) and US-TX (Texas, United States)``."""
    named = [describe_place(place_of(code)) for code in codes]
    if len(named) == 1:
        return named[0]
    return f"{', '.join(named[:-1])} and {named[-1]}"


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
    """
    Say in words why target *a* is more specific than target *b*.

    The engine (`geogate._engine.decide.target_beats`) has decided that it is; this
    says which of its reasons holds: fewer places (counting each place with
    everything inside it), or the same places named by a more specific kind.
    """
    jurisdiction = TargetKind.JURISDICTION
    held = bool(table.held(a.code) or table.held(b.code))
    if a.kind is jurisdiction and b.kind is jurisdiction and not held:
        small, large = len(table.members_at(a.code, day)), len(table.members_at(b.code, day))
        return (
            f"{a.code} ⊊ {b.code} on {day}: all {small} countries and territories of "
            f"{a.code} are in {b.code}, which has {large}"
        )
    if a.kind is TargetKind.SUBDIVISION and b.kind is TargetKind.SUBDIVISION:
        return f"{a.code} lies within {b.code}: a subdivision beats its parent"
    if (a.kind is not jurisdiction and b.kind is not jurisdiction) or not held:
        stronger, weaker = _KIND_NAMES[a.kind], _KIND_NAMES[b.kind]
        return f"{a.code} is a {stronger}, {b.code} a {weaker}: {stronger} beats {weaker}"
    # A jurisdiction that holds subdivisions: compare the places each holds.
    mine, theirs = _held_places(a, day, table), _held_places(b, day, table)
    if covers(mine, theirs):  # the same places: the kind decides
        stronger, weaker = _KIND_NAMES[a.kind], _KIND_NAMES[b.kind]
        return (
            f"{_holds(a, mine, day)} and {_holds(b, theirs, day)}, the same places: "
            f"a {stronger} beats a {weaker} of the same places"
        )
    if a.kind is not jurisdiction:
        others = len(theirs) - 1
        more = f"and {others} other place{'s' if others != 1 else ''}" if others else "and more"
        return f"{b.code} holds {a.code} {more} on {day}, so {a.code} is more specific"
    if b.kind is not jurisdiction:
        listed = ", ".join(_clip(sorted(mine)))
        return (
            f"{a.code} holds only places inside {b.code} on {day} ({listed}), so {a.code} is "
            "more specific"
        )
    where = f"is in {b.code}" if mine <= theirs else f"is in {b.code} or inside a place it holds"
    return (
        f"{a.code} ⊊ {b.code} on {day}: every place {a.code} holds {where} "
        f"({_within(mine, theirs)}), and {b.code} holds more, so {a.code} is more specific"
    )


def _held_places(target: Target, day: dt.date, table: JurisdictionTable) -> frozenset[str]:
    if target.kind is TargetKind.JURISDICTION:
        return table.members_at(target.code, day)
    return frozenset((target.code,))


def _holds(target: Target, places: frozenset[str], day: dt.date) -> str:
    if target.kind is not TargetKind.JURISDICTION:
        return f"{target.code} is {_KIND_NAMES[target.kind]}"
    return f"{target.code} holds only {', '.join(sorted(places))} on {day}"


def _within(inner: frozenset[str], outer: frozenset[str]) -> str:
    """
    Say where the places of *inner* lie among those of *outer*: ``CU, IR; UA-09, UA-43 in UA``.

    Each place of *inner* is in *outer* itself, or lies in a country or a
    subdivision *outer* holds (`geogate._world.jurisdictions.covers` says it does).
    """
    groups: dict[str, list[str]] = {}
    for code in sorted(inner):
        parents = (code, *subdivision_chain(code)[1:], code.partition("-")[0])
        holder = next((p for p in parents if p in outer), code)
        groups.setdefault(holder, []).append(code)
    members = [holder for holder, codes in groups.items() if holder in codes]
    parts = [", ".join(_clip(members))] if members else []
    for holder, codes in groups.items():
        below = [code for code in codes if code != holder]
        if below:
            parts.append(f"{', '.join(_clip(below))} in {holder}")
    return "; ".join(parts)


def _clip(codes: Sequence[str]) -> list[str]:
    if len(codes) <= _MAX_NAMED:
        return list(codes)
    return [*codes[:_MAX_NAMED], f"{len(codes) - _MAX_NAMED} more"]


#: How many places a specificity reason names before "N more".
_MAX_NAMED = 8


_KIND_NAMES = {
    TargetKind.SUBDIVISION: "subdivision",
    TargetKind.COUNTRY: "country",
    TargetKind.JURISDICTION: "jurisdiction",
}


def _verdict(
    compiled: CompiledRule,
    verdict: Verdict,
    why: str,
    matched: tuple[str, ...] = (),
    inside: tuple[str, ...] = (),
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
        inside=inside,
    )


def _list(codes: Sequence[str]) -> str:
    return f"its target {codes[0]}" if len(codes) == 1 else f"its targets {', '.join(codes)}"


_VERBS = {
    Verdict.WON: "won",
    Verdict.LOST: "lost",
    Verdict.AMBIGUOUS: "is ambiguous",
    Verdict.NOT_CANDIDATE: "is not a candidate",
    Verdict.REST: "decides the rest",
    Verdict.INSIDE: "decides inside",
}


def _chain_steps(chain: SignalChain, day: dt.date, *, several: bool) -> list[str]:
    """Write the steps of one signal's chain."""
    name = chain.signal.capitalize()
    if chain.place is None:
        steps = [f"{name}: {chain.status}, because {chain.problem}."]
    else:
        steps = [f"{name}: {chain.place}, from {chain.given}."]
        names = ", ".join(chain.jurisdictions) or "none"
        code = chain.subdivisions[0] if chain.subdivisions else chain.country
        steps.append(f"Jurisdictions: on {day}, {code} is in {names}.")
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
    elif chain.split is not None:
        steps.extend(_split_steps(chain.split, chain, day))
    if several:
        if chain.rule:
            by = f"rule {chain.rule}"
        elif chain.split is not None and chain.split.hard_deny:
            by = "a hard_deny rule inside"
        else:
            by = f"the {chain.fallback} setting"
        steps.append(f"The {chain.signal} alone gives: {effect} (by {by}).")
    return steps


def _split_steps(split: Split, chain: SignalChain, day: dt.date) -> list[str]:
    """Write what is decided inside a split place, what its rest gets, and the setting."""
    code = split.rest.code
    groups: dict[tuple[Effect, str], list[InsidePlace]] = {}
    for place in split.inside:
        groups.setdefault((place.effect, place.by), []).append(place)
    steps = []
    for (effect, by), places in groups.items():
        named = [place.place for place in places]
        listed = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"
        verb = "is" if len(named) == 1 else "are"
        steps.append(f"Inside {code} on {day}: {listed} {verb} {_past(effect)} by {by}.")
    rest = "allow" if split.rest.effect is Effect.ALLOW else "deny"
    if split.rest.rule is None:
        steps.append(
            f"Rest: no rule applies to {code} itself, so elsewhere in {code} the feature's "
            f"default decides: {rest}."
        )
    else:
        steps.append(f"Rest: elsewhere in {code}, {split.rest.by} decides: {rest}.")
    where = f"no subdivision inside {code}" if chain.subdivisions else "no subdivision"
    if chain.signal == "domicile":
        request = "a domicile names a country, not a subdivision"
        denied = f"a domicile of {code}"
    else:
        request = f"the request named {where}"
        denied = f"a request naming {where}"
    if split.hard_deny:
        rules = ", ".join(split.hard_deny)
        kind = "rule" if len(split.hard_deny) == 1 else "rules"
        steps.append(
            f"Split: {code} is decided differently inside, and the hard-deny {kind} {rules} "
            f"{'decides' if len(split.hard_deny) == 1 else 'decide'} inside it, so {denied} is "
            f"denied whatever the feature's partial setting ({split.partial}) says: deny."
        )
    else:
        setting = "allow" if split.effect is Effect.ALLOW else "deny"
        steps.append(
            f"Split: {code} is decided differently inside, and {request}, so the feature's "
            f"partial setting decides: {setting}."
        )
    return steps
