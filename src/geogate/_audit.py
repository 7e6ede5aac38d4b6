"""
Audit: the decision of every feature for every country on one date.

The audit is computed with the same `Gate.evaluate` that serves requests, so
it agrees with ``geogate eval`` cell by cell by construction.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import attrs

from ._countries import all_countries
from ._decision import Decision
from ._engine import CompiledRule, change_days
from ._gate import Gate
from ._policy import Feature, TargetKind

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ._policy import PolicySet

__all__ = ["Audit", "FeatureAudit", "Group", "audit", "change_dates"]


@attrs.frozen
class Group:
    """
    Countries that share an effect and a deciding rule.

    Attributes:
        effect: ``allow`` or ``deny``.
        rule: The deciding rule id, or None for the feature's default.
        reason: The rule's reason, or None.
        by_jurisdiction: Label (a jurisdiction, ``countries`` or ``elsewhere``)
            -> country codes, in the order they should be shown.
    """

    effect: str
    rule: str | None
    reason: str | None
    by_jurisdiction: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def countries(self) -> tuple[str, ...]:
        """Every country in the group."""
        return tuple(code for _, codes in self.by_jurisdiction for code in codes)


@attrs.frozen
class FeatureAudit:
    """
    One feature's decisions for every country.

    Attributes:
        feature: The feature.
        decisions: Country code -> decision.
        unknown: The effect for an unknown location.
        groups: The decisions grouped by effect and rule, denials first.
    """

    feature: Feature
    decisions: dict[str, Decision]
    unknown: str
    groups: tuple[Group, ...]


@attrs.frozen
class Audit:
    """
    Every selected feature, every country, one date.

    Attributes:
        revision: The policy revision.
        as_of: The date.
        features: Feature id -> its audit.
    """

    revision: str
    as_of: dt.date
    features: dict[str, FeatureAudit]

    def to_dict(self) -> dict[str, object]:
        """Return the JSON contract of ``geogate audit --format json``."""
        return {
            "revision": self.revision,
            "as_of": self.as_of.isoformat(),
            "features": {
                fid: {
                    "countries": {
                        code: {"effect": str(d.effect), "rule": d.rule}
                        for code, d in sorted(fa.decisions.items())
                    },
                    "unknown": fa.unknown,
                }
                for fid, fa in self.features.items()
            },
        }


def audit(policy: PolicySet, *, at: dt.date | None = None,
          features: Iterable[str] | None = None) -> Audit:  # fmt: skip
    """
    Decide every feature (or those named) for every ISO 3166-1 country and XK.

    Raises:
        KeyError: naming a feature the policy set does not define.
    """
    gate = Gate(policy)
    day = at or dt.datetime.now(dt.UTC).date()
    selected = list(policy.features) if features is None else list(features)
    missing = [f for f in selected if f not in policy.features]
    if missing:
        raise KeyError(missing[0])
    countries = sorted(all_countries())
    result: dict[str, FeatureAudit] = {}
    for fid in selected:
        feature = policy.features[fid]
        # The same country as location and as domicile: "a request from X by an
        # account domiciled in X", so domicile-based features are audited too.
        decisions = {
            code: gate.evaluate(fid, country=code, domicile=code, at=day) for code in countries
        }
        unknown = gate.evaluate(fid, country=None, at=day)
        result[fid] = FeatureAudit(feature, decisions, str(unknown.effect),
                                   _groups(feature, decisions))  # fmt: skip
    return Audit(policy.revision, day, result)


def _groups(feature: Feature, decisions: dict[str, Decision]) -> tuple[Group, ...]:
    rules = {rule.id: rule for rule in feature.rules}
    buckets: dict[tuple[str, str | None], dict[str, list[str]]] = {}
    for code, decision in decisions.items():
        rule = rules.get(decision.rule) if decision.rule else None
        if rule is not None:
            named = {t.code for t in rule.targets if t.kind is TargetKind.JURISDICTION}
            label = next((j for j in decision.jurisdictions if j in named), "countries")
        else:
            label = next((j for j in decision.jurisdictions if j != "WORLD"), "elsewhere")
        key = (str(decision.effect), decision.rule)
        buckets.setdefault(key, {}).setdefault(label, []).append(code)
    groups = [
        Group(
            effect,
            rule_id,
            rules[rule_id].reason if rule_id in rules else None,
            tuple(
                sorted(
                    ((label, tuple(codes)) for label, codes in by_label.items()),
                    key=lambda pair: (pair[0] in {"countries", "elsewhere"}, -len(pair[1])),
                )
            ),
        )
        for (effect, rule_id), by_label in buckets.items()
    ]
    groups.sort(key=lambda g: (g.effect != "deny", g.rule is None, -len(g.countries)))
    return tuple(groups)


def change_dates(policy: PolicySet, feature: str, start: dt.date, end: dt.date) -> list[dt.date]:
    """
    Return the days in ``(start, end]`` on which some decision of *feature* can change.

    A rule window opening or closing, or a change in the membership of a
    jurisdiction the feature's rules name (the UK leaving the EU), counts.
    Auditing *start* and each returned day covers every date in the range.
    """
    rules = [CompiledRule.from_rule(rule) for rule in policy.features[feature].rules]
    return [day for day in change_days(rules, policy.jurisdictions) if start < day <= end]
