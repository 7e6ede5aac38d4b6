"""
Decision: the answer for one feature and one request, and its explanation.

The vocabulary of `Reason` and `ErrorCode` is OpenFeature's, so a decision
maps onto a flag evaluation without translation.
"""

from __future__ import annotations

import datetime as dt
import enum

import attrs

from geogate._policy.model import Effect, TargetKind
from geogate._world.countries import (
    LocationSource,
    LocationStatus,
    country_name,
    describe_value,
    subdivision_name,
)

from .decide import Location, Outcome, OutcomeKind

__all__ = [
    "Decision",
    "ErrorCode",
    "Reason",
    "describe_feature",
    "describe_inside",
    "describe_place",
    "describe_split",
    "error_explanation",
    "explanation",
    "outcome_error",
    "rule_reason",
    "short_revision",
]


class Reason(enum.StrEnum):
    """Why a decision came out as it did (OpenFeature resolution reasons)."""

    TARGETING_MATCH = "TARGETING_MATCH"
    DEFAULT = "DEFAULT"
    ERROR = "ERROR"


class ErrorCode(enum.StrEnum):
    """What went wrong, for decisions with reason ``ERROR`` (OpenFeature error codes)."""

    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    INVALID_CONTEXT = "INVALID_CONTEXT"
    GENERAL = "GENERAL"


@attrs.frozen(kw_only=True)
class Decision:
    """
    Whether one feature may be offered to one request, and why.

    Attributes:
        feature: The feature id asked about.
        allowed: True only when the feature may be offered.
        effect: ``allow`` or ``deny``.
        country: The normalised country decided on (None when unknown).
        subdivision: The normalised ISO 3166-2 subdivision, if any.
        domicile: The normalised domicile country, if one was given.
        jurisdictions: Names of the built-in and custom jurisdictions that
            contain the decided country on ``as_of``, most specific first.
        rule: Id of the deciding rule, or None (default, unknown, error).
        source: ``path:line`` of the deciding rule, or None.
        citation: The deciding rule's ``source:`` (a URL or a citation), or None.
        reason: ``TARGETING_MATCH`` (a rule), ``DEFAULT`` (the feature's default
            or unknown setting) or ``ERROR``.
        error_code: None, ``FLAG_NOT_FOUND`` or ``INVALID_CONTEXT``.
        location: ``known``, ``unknown`` or ``invalid``.
        explanation: One plain sentence that names the rule, the place, the
            policy revision, the date and the reason.
        revision: ``sha256:`` digest of the policy set's content.
        as_of: The date the decision holds for.
        location_source: Where the location came from, never None: a
            `LocationSource` as written (a ``str``): ``explicit`` (the caller
            gave a country or subdivision, whatever its type or value),
            ``geoip`` (the caller gave an ``ip``, or the middleware located
            the request's client address, found or not),
            ``header:<provider>`` (a trusted CDN header, e.g.
            ``header:cloudflare``), or ``unknown`` (no location was given and
            none was found; also when the request's location could not be
            resolved at all).
    """

    feature: str
    allowed: bool
    effect: Effect
    country: str | None
    subdivision: str | None = None
    domicile: str | None = None
    jurisdictions: tuple[str, ...] = ()
    rule: str | None = None
    source: str | None = None
    citation: str | None = None
    reason: Reason
    error_code: ErrorCode | None = None
    location: LocationStatus
    explanation: str
    revision: str
    as_of: dt.date
    location_source: str = LocationSource.UNKNOWN

    def __bool__(self) -> bool:
        """A decision is truthy when it allows: ``if gate.evaluate(...):``."""
        return self.allowed

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data; keys as the attributes, dates as ``YYYY-MM-DD``."""
        return {
            "feature": self.feature,
            "allowed": self.allowed,
            "effect": str(self.effect),
            "country": self.country,
            "subdivision": self.subdivision,
            "domicile": self.domicile,
            "jurisdictions": list(self.jurisdictions),
            "rule": self.rule,
            "source": self.source,
            "citation": self.citation,
            "reason": str(self.reason),
            "error_code": None if self.error_code is None else str(self.error_code),
            "location": str(self.location),
            "explanation": self.explanation,
            "revision": self.revision,
            "as_of": self.as_of.isoformat(),
            "location_source": str(self.location_source),
        }


def short_revision(revision: str) -> str:
    """Shorten ``sha256:<64 hex>`` to 12 hex digits, as people quote it."""
    algorithm, _, digest = revision.partition(":")
    return f"{algorithm}:{digest[:12]}"


def _past(effect: Effect) -> str:
    return "allowed" if effect is Effect.ALLOW else "denied"


#: Jurisdictions that English names with "the".
_WITH_ARTICLE = frozenset({"EU", "EEA", "EFTA", "UK"})


def describe_place(location: Location, jurisdiction: str | None = None) -> str:
    """Name a known location for people: ``FR (France, in the EU)``."""
    assert location.country is not None  # noqa: S101 (only called for known locations)
    if location.subdivision is not None:
        code = location.subdivision
        name = f"{subdivision_name(code)}, {country_name(location.country)}"
    else:
        code, name = location.country, country_name(location.country)
    if jurisdiction in _WITH_ARTICLE:
        name += f", in the {jurisdiction}"
    elif jurisdiction is not None and jurisdiction != "WORLD":
        name += f", in {jurisdiction}"
    return f"{code} ({name})"


def explanation(
    feature: str,
    outcome: Outcome,
    location: Location,
    *,
    revision: str,
    at: dt.date,
    signal: str = "location",
) -> str:
    """Write `Decision.explanation`: the one sentence that says why an outcome came out so."""
    policy = f"(policy {short_revision(revision)}, as of {at.isoformat()})"
    effect = _past(outcome.effect)
    where = "in" if signal == "location" else "for an account domiciled in"
    if outcome.kind is OutcomeKind.RULE:
        assert outcome.rule is not None  # noqa: S101
        assert outcome.target is not None  # noqa: S101
        via = outcome.target.code if outcome.target.kind is TargetKind.JURISDICTION else None
        kind = "hard-deny rule" if outcome.rule.kind == "hard_deny" else "rule"
        return (
            f"{feature} is {effect} {where} {describe_place(location, via)} by {kind} "
            f"{outcome.rule.id} {policy}: {_with_note(outcome.rule.reason, location)}"
        )
    if outcome.kind is OutcomeKind.DEFAULT:
        return (
            f"{feature} is {effect} {where} {describe_place(location)} by the feature's default "
            f"{policy}: {_with_note('no rule applies there.', location)}"
        )
    if outcome.kind is OutcomeKind.PARTIAL:
        return (
            f"{feature} is {effect} {where} {describe_place(location)} {policy}: "
            f"{_with_note(describe_split(outcome, location, at, signal=signal), location)}"
        )
    if outcome.kind is OutcomeKind.AMBIGUOUS:
        ids = ", ".join(rule.id for rule in outcome.tied)
        return (
            f"{feature} is denied {where} {describe_place(location)} {policy}: the rules {ids} "
            "disagree and none is more specific, so the gate fails closed."
        )
    what = "location" if signal == "location" else "domicile"
    if outcome.kind is OutcomeKind.INVALID:
        problem = location.problem or f"the {what} is invalid"
        return (
            f"{feature} is denied because the {what} is invalid {policy}, whatever the "
            f"feature's setting for unknown locations says: {_sentence(problem)}"
        )
    problem = location.problem or f"the {what} is unknown"
    return (
        f"{feature} is {effect} by the feature's setting for unknown locations {policy}: "
        f"{_sentence(problem)}"
    )


#: How many places inside a split place an explanation names before "and N more".
_MAX_NAMED = 8


def describe_split(
    outcome: Outcome, location: Location, at: dt.date, *, signal: str = "location"
) -> str:
    """
    Say why a split place gets the ``partial`` setting, in one clause chain.

    ``US is split on 2026-06-01: US-IL, US-TX are denied by rule face-bipa
    and the rest of US is allowed by the feature's default; the request named
    no subdivision, so the feature's partial setting (deny) applies.``
    """
    code = location.subdivision or location.country
    assert code is not None  # noqa: S101 (a split place is known)
    parts = describe_inside(outcome, code)
    if signal == "domicile":
        named = "a domicile names a country, not a subdivision"
    elif location.chain:
        named = f"the request named no subdivision inside {code}"
    else:
        named = "the request named no subdivision"
    if outcome.hard_inside:
        setting = (
            " and a hard-deny rule decides inside, so it is denied whatever the feature's "
            "partial setting says"
        )
    else:
        setting = f", so the feature's partial setting ({outcome.effect}) applies"
    return f"{code} is split on {at.isoformat()}: {'; '.join(parts)}; {named}{setting}."


def describe_inside(outcome: Outcome, code: str) -> list[str]:
    """
    Say how a split place *code* is decided inside and elsewhere, one clause each.

    ``["US-IL, US-TX are denied by rule face-bipa", "the rest of US is
    allowed by the feature's default"]``
    """
    groups: dict[tuple[Effect, str], list[str]] = {}
    for inner, found in outcome.inside:
        groups.setdefault((found.effect, _by(found)), []).append(inner)
    parts = []
    for (effect, by), codes in groups.items():
        named = ", ".join(codes[:_MAX_NAMED])
        if len(codes) > _MAX_NAMED:
            named += f" and {len(codes) - _MAX_NAMED} more"
        verb = "is" if len(codes) == 1 else "are"
        parts.append(f"{named} {verb} {_past(effect)} by {by}")
    rest = outcome.rest
    if rest is not None:
        parts.append(f"the rest of {code} is {_past(rest.effect)} by {_by(rest)}")
    return parts


def _by(outcome: Outcome) -> str:
    if outcome.kind is OutcomeKind.RULE and outcome.rule is not None:
        kind = "hard-deny rule" if outcome.rule.kind == "hard_deny" else "rule"
        return f"{kind} {outcome.rule.id}"
    if outcome.kind is OutcomeKind.AMBIGUOUS:
        return "rules that disagree (" + ", ".join(r.id for r in outcome.tied) + ")"
    if outcome.kind is OutcomeKind.PARTIAL:
        return "the feature's partial setting"
    return "the feature's default"


def _with_note(text: str, location: Location) -> str:
    """Close *text* with a known location's note (a subdivision not recognised), if any."""
    if location.status is not LocationStatus.KNOWN or not location.problem:
        return text
    return f"{text.rstrip('.')} ({location.problem})."


def _sentence(text: str) -> str:
    text = text[0].upper() + text[1:] if text else text
    return text if text.endswith((".", "?", "!")) else text + "."


def error_explanation(feature: str, problem: str, *, revision: str, at: dt.date) -> str:
    """Write `Decision.explanation` for a decision that could not be made normally."""
    policy = f"(policy {short_revision(revision)}, as of {at.isoformat()})"
    return f"{feature} is denied {policy}: {_sentence(problem)}"


def describe_feature(name: object) -> str:
    """Quote a feature id for an explanation, whatever the caller passed."""
    return describe_value(name, limit=80)


def rule_reason(outcome: Outcome) -> Reason:
    """Map an outcome to an OpenFeature reason."""
    kind = outcome.kind  # compared by identity: an Enum member hashes in Python
    if kind is OutcomeKind.RULE:
        return Reason.TARGETING_MATCH
    if kind is OutcomeKind.AMBIGUOUS or kind is OutcomeKind.INVALID:
        return Reason.ERROR
    return Reason.DEFAULT


def outcome_error(outcome: Outcome) -> ErrorCode | None:
    """Map an outcome to an OpenFeature error code (None when it decided normally)."""
    kind = outcome.kind
    if kind is OutcomeKind.INVALID:
        return ErrorCode.INVALID_CONTEXT
    if kind is OutcomeKind.AMBIGUOUS:
        return ErrorCode.GENERAL
    return None
