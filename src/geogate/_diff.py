"""
Diff: what a policy change does to who gets which feature.

Each side is loaded by `geogate._sources.load_side`: a path, or a revision
of the current git repository.

The comparison is the audit of both sides, cell by cell: a country gains
access where the old side denies and the new side allows. A feature that a
side does not define denies everywhere, as `geogate.Gate.evaluate` does.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import attrs

from ._audit import FeatureAudit, audit, change_dates
from ._countries import all_countries
from ._policy import Feature, Rule, TargetKind
from ._sources import Side

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ._decision import Decision
    from ._policy import PolicySet

__all__ = [
    "ChangeGroup",
    "FeatureDiff",
    "PolicyDiff",
    "RuleChange",
    "diff_policies",
]

#: A first and last day, both inclusive.
Period = tuple[dt.date, dt.date]
_ALLOW, _DENY = "allow", "deny"
_UNLABELLED = frozenset({"countries", "elsewhere"})


# -- the result ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Change:
    """
    One cell whose effect differs: a country (or the unknown location) of one feature.

    Attributes:
        location: The country code, or ``unknown``.
        old: The old effect (``deny`` where the old side lacks the feature).
        new: The new effect.
        old_rule: The old deciding rule on the first day it differs, or None.
        new_rule: The new deciding rule on that day, or None.
        label: The jurisdiction to show it under, as the audit groups countries.
        periods: The days (first and last, inclusive) on which it differs so.
    """

    location: str
    old: str
    new: str
    old_rule: str | None
    new_rule: str | None
    label: str
    periods: tuple[Period, ...]

    @property
    def since(self) -> dt.date:
        """The first day it differs."""
        return self.periods[0][0]

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data."""
        return {
            "location": self.location,
            "jurisdiction": self.label,
            "old": {"effect": self.old, "rule": self.old_rule},
            "new": {"effect": self.new, "rule": self.new_rule},
            "since": self.since.isoformat(),
            "periods": [[a.isoformat(), b.isoformat()] for a, b in self.periods],
        }


@attrs.frozen
class ChangeGroup:
    """
    Countries shown together: one jurisdiction and the same days.

    Attributes:
        label: A jurisdiction, ``countries`` (named one by one) or ``elsewhere``.
        periods: The days on which they differ.
        countries: Country codes, sorted.
    """

    label: str
    periods: tuple[Period, ...]
    countries: tuple[str, ...]


@attrs.frozen(kw_only=True)
class RuleChange:
    """
    A rule with the same id on both sides whose content differs.

    Attributes:
        old: The rule as it was.
        new: The rule as it is.
        fields: Which of targets, kind, window, reason, source, overrides changed.
        targets_added: Targets only the new rule names.
        targets_removed: Targets only the old rule names.
    """

    old: Rule
    new: Rule
    fields: tuple[str, ...]
    targets_added: tuple[str, ...] = ()
    targets_removed: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """The rule id."""
        return self.new.id


@attrs.frozen(kw_only=True)
class FeatureDiff:
    """
    What changes for one feature.

    Attributes:
        feature: The feature id.
        status: ``added``, ``removed`` or ``changed``.
        gained: Countries that gain access (deny -> allow), sorted.
        lost: Countries that lose access (allow -> deny), sorted.
        unknown: The unknown location, when its effect differs.
        settings: (field, old, new) for ``default``, ``unknown`` and ``basis``.
        rules_added: Rules only the new side has.
        rules_removed: Rules only the old side has.
        rules_changed: Rules on both sides that differ.
    """

    feature: str
    status: str
    gained: tuple[Change, ...] = ()
    lost: tuple[Change, ...] = ()
    unknown: tuple[Change, ...] = ()
    settings: tuple[tuple[str, str, str], ...] = ()
    rules_added: tuple[Rule, ...] = ()
    rules_removed: tuple[Rule, ...] = ()
    rules_changed: tuple[RuleChange, ...] = ()

    @property
    def new_access(self) -> bool:
        """Tell whether a country or the unknown location gains access on some day."""
        return bool(self.gained) or any(c.new == _ALLOW for c in self.unknown)

    @property
    def gained_groups(self) -> tuple[ChangeGroup, ...]:
        """The countries that gain access, by jurisdiction and days."""
        return _group(self.gained)

    @property
    def lost_groups(self) -> tuple[ChangeGroup, ...]:
        """The countries that lose access, by jurisdiction and days."""
        return _group(self.lost)

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data."""
        return {
            "status": self.status,
            "new_access": self.new_access,
            "gained": [c.to_dict() for c in self.gained],
            "lost": [c.to_dict() for c in self.lost],
            "unknown": [c.to_dict() for c in self.unknown],
            "settings": {name: {"old": old, "new": new} for name, old, new in self.settings},
            "rules": {
                "added": [r.id for r in self.rules_added],
                "removed": [r.id for r in self.rules_removed],
                "changed": {
                    c.id: {
                        "fields": list(c.fields),
                        "targets_added": list(c.targets_added),
                        "targets_removed": list(c.targets_removed),
                    }
                    for c in self.rules_changed
                },
            },
        }


@attrs.frozen(kw_only=True)
class PolicyDiff:
    """
    Everything that differs between two policy sets.

    Attributes:
        old: The old side.
        new: The new side.
        start: The first day compared.
        end: The last day compared (``start`` for a single day).
        ranged: True for ``--from/--to``, False for one day (``--at``).
        features: Feature id -> its diff, only for features that differ.
    """

    old: Side
    new: Side
    start: dt.date
    end: dt.date
    ranged: bool
    features: dict[str, FeatureDiff]

    @property
    def empty(self) -> bool:
        """Tell whether nothing differs."""
        return not self.features

    @property
    def new_access(self) -> bool:
        """Tell whether any country or the unknown location gains access anywhere."""
        return any(f.new_access for f in self.features.values())

    def to_dict(self) -> dict[str, object]:
        """Return the JSON of ``geogate diff --format json``."""
        dates: dict[str, object] = (
            {"from": self.start.isoformat(), "to": self.end.isoformat()}
            if self.ranged
            else {"as_of": self.start.isoformat()}
        )
        return {
            "old": self.old.to_dict(),
            "new": self.new.to_dict(),
            **dates,
            "new_access": self.new_access,
            "features": {fid: f.to_dict() for fid, f in self.features.items()},
        }


# -- computing it --------------------------------------------------------------------------------


def diff_policies(
    old: PolicySet,
    new: PolicySet,
    *,
    at: dt.date | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    features: Iterable[str] | None = None,
    old_side: Side | None = None,
    new_side: Side | None = None,
) -> PolicyDiff:
    """
    Compare two policy sets on one day (*at*, default today) or every day from *start* to *end*.

    Over a range, both sides are audited on *start* and on every day either
    side's decisions can change, so every day in the range is covered.

    Raises:
        ValueError: for *at* together with a range, half a range, or a range that ends first.
        KeyError: naming a feature neither side defines.
    """
    ranged = start is not None or end is not None
    if ranged and (start is None or end is None or at is not None):
        msg = "give either at= or both start= and end="
        raise ValueError(msg)
    if start is None or end is None:
        start = end = at or dt.datetime.now(dt.UTC).date()
    if end < start:
        msg = f"the range ends ({end}) before it starts ({start})"
        raise ValueError(msg)
    ids = sorted(set(old.features) | set(new.features)) if features is None else list(features)
    missing = [f for f in ids if f not in old.features and f not in new.features]
    if missing:
        raise KeyError(missing[0])
    days = {fid: _days(old, new, fid, start, end) for fid in ids}
    audits = _audits(old, new, days)
    result: dict[str, FeatureDiff] = {}
    for fid in ids:
        found = _feature_diff(
            old.features.get(fid), new.features.get(fid), days[fid], end, audits, fid
        )
        if found is not None:
            result[fid] = found
    return PolicyDiff(
        old=old_side or Side(spec="old", revision=old.revision, files=old.files),
        new=new_side or Side(spec="new", revision=new.revision, files=new.files),
        start=start,
        end=end,
        ranged=ranged,
        features=result,
    )


def _days(old: PolicySet, new: PolicySet, fid: str, start: dt.date, end: dt.date) -> list[dt.date]:
    days = {start}
    for policy in (old, new):
        if fid in policy.features:
            days.update(change_dates(policy, fid, start, end))
    return sorted(days)


_Audits = dict[tuple[int, dt.date], dict[str, FeatureAudit]]


def _audits(old: PolicySet, new: PolicySet, days: Mapping[str, list[dt.date]]) -> _Audits:
    """Audit each side once per day, for the features that need that day."""
    by_day: dict[dt.date, list[str]] = {}
    for fid, fid_days in days.items():
        for day in fid_days:
            by_day.setdefault(day, []).append(fid)
    audits: _Audits = {}
    for day, fids in by_day.items():
        for index, policy in enumerate((old, new)):
            present = [f for f in fids if f in policy.features]
            audits[index, day] = audit(policy, at=day, features=present).features
    return audits


def _feature_diff(
    old: Feature | None,
    new: Feature | None,
    days: list[dt.date],
    end: dt.date,
    audits: _Audits,
    fid: str,
) -> FeatureDiff | None:
    old_rules = {r.id: r for r in old.rules} if old else {}
    new_rules = {r.id: r for r in new.rules} if new else {}
    # (location, old effect, new effect) -> (label, old rule, new rule, [periods]) in day order.
    found: dict[tuple[str, str, str], tuple[str, str | None, str | None, list[Period]]] = {}
    countries = sorted(all_countries())
    for index, day in enumerate(days):
        last = days[index + 1] - dt.timedelta(days=1) if index + 1 < len(days) else end
        before = audits[0, day].get(fid)
        after = audits[1, day].get(fid)
        # Decisions are only read for the cells that differ.
        cells = [(code, _effect(before, code), _effect(after, code)) for code in countries]
        unknown = (
            before.unknown if before is not None else _DENY,
            after.unknown if after is not None else _DENY,
        )
        cells.append(("unknown", *unknown))
        for code, old_effect, new_effect in cells:
            if old_effect == new_effect:
                continue
            key = (code, old_effect, new_effect)
            if key not in found:
                was = _decision(before, code) if code != "unknown" else None
                now = _decision(after, code) if code != "unknown" else None
                label = "unknown" if code == "unknown" else _label(was, now, old_rules, new_rules)
                old_rule = was.rule if was is not None else None
                new_rule = now.rule if now is not None else None
                found[key] = (label, old_rule, new_rule, [])
            periods = found[key][3]
            if periods and periods[-1][1] + dt.timedelta(days=1) == day:
                periods[-1] = (periods[-1][0], last)
            else:
                periods.append((day, last))
    changes = [
        Change(
            location=code,
            old=o,
            new=n,
            old_rule=orule,
            new_rule=nrule,
            label=label,
            periods=tuple(periods),
        )
        for (code, o, n), (label, orule, nrule, periods) in sorted(found.items())
    ]
    located = [c for c in changes if c.location != "unknown"]
    diff = FeatureDiff(
        feature=fid,
        status="added" if old is None else "removed" if new is None else "changed",
        gained=tuple(c for c in located if c.new == _ALLOW),
        lost=tuple(c for c in located if c.new == _DENY),
        unknown=tuple(c for c in changes if c.location == "unknown"),
        settings=_settings(old, new),
        rules_added=tuple(r for i, r in new_rules.items() if i not in old_rules),
        rules_removed=tuple(r for i, r in old_rules.items() if i not in new_rules),
        rules_changed=tuple(
            change
            for i, rule in new_rules.items()
            if i in old_rules and (change := _rule_change(old_rules[i], rule)) is not None
        ),
    )
    if old is not None and new is not None and diff == FeatureDiff(feature=fid, status="changed"):
        return None
    return diff


def _decision(fa: FeatureAudit | None, code: str) -> Decision | None:
    return fa.decisions[code] if fa is not None else None


def _effect(fa: FeatureAudit | None, code: str) -> str:
    return str(fa.decisions[code].effect) if fa is not None else _DENY


def _label(
    was: Decision | None,
    now: Decision | None,
    old_rules: Mapping[str, Rule],
    new_rules: Mapping[str, Rule],
) -> str:
    """
    Name the jurisdiction to show a country under, as the audit does.

    The most specific jurisdiction that a deciding rule (new, else old) names
    and that contains the country; ``countries`` when the deciding rules name
    the country itself; else the most specific jurisdiction containing it.
    """
    # Not `now or was`: a denying Decision is falsy.
    present = now if now is not None else was
    jurisdictions = present.jurisdictions if present is not None else ()
    named: set[str] = set()
    ruled = False
    for decision, rules in ((now, new_rules), (was, old_rules)):
        rule = rules.get(decision.rule) if decision is not None and decision.rule else None
        if rule is not None:
            ruled = True
            named.update(t.code for t in rule.targets if t.kind is TargetKind.JURISDICTION)
    label = next((j for j in jurisdictions if j in named), None)
    if label is not None:
        return label
    if ruled:
        return "countries"
    return next((j for j in jurisdictions if j != "WORLD"), "elsewhere")


def _settings(old: Feature | None, new: Feature | None) -> tuple[tuple[str, str, str], ...]:
    if old is None or new is None:
        return ()
    pairs = (
        ("default", old.default, new.default),
        ("unknown", old.unknown, new.unknown),
        ("basis", old.basis, new.basis),
    )
    return tuple((name, str(a), str(b)) for name, a, b in pairs if a != b)


def _rule_change(old: Rule, new: Rule) -> RuleChange | None:
    before = {t.code for t in old.targets}
    after = {t.code for t in new.targets}
    fields = [
        name
        for name, changed in (
            ("targets", before != after),
            ("kind", old.kind != new.kind),
            ("window", (old.start, old.end) != (new.start, new.end)),
            ("reason", old.reason != new.reason),
            ("source", old.source != new.source),
            ("overrides", set(old.overrides) != set(new.overrides)),
        )
        if changed
    ]
    if not fields:
        return None
    return RuleChange(
        old=old,
        new=new,
        fields=tuple(fields),
        targets_added=tuple(t.code for t in new.targets if t.code not in before),
        targets_removed=tuple(t.code for t in old.targets if t.code not in after),
    )


def _group(changes: Iterable[Change]) -> tuple[ChangeGroup, ...]:
    """Group countries by label and days; named jurisdictions first, larger groups first."""
    buckets: dict[tuple[str, tuple[Period, ...]], list[str]] = {}
    for change in changes:
        buckets.setdefault((change.label, change.periods), []).append(change.location)
    groups = [
        ChangeGroup(label, periods, tuple(sorted(codes)))
        for (label, periods), codes in buckets.items()
    ]
    groups.sort(key=lambda g: (g.label in _UNLABELLED, g.periods, -len(g.countries), g.label))
    return tuple(groups)
