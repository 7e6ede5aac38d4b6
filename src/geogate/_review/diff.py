"""
Diff: what a policy change does to who gets which feature.

Each side is loaded by `geogate._load.sources.load_side`: a path, or a revision
of the current git repository.

The places compared are every ISO 3166-1 country and XK, every subdivision
that either side's rules name, directly or through a jurisdiction, with its
parents (`geogate._engine.decide.inner_places`, each side with its own
jurisdictions), and, for a place that rules name places inside, *the rest*
of it: a request naming a subdivision there that no rule names. Each place
is decided on both sides by the engine, as `geogate.Gate.evaluate` decides
a request naming it (a request naming only a country of a split one gets
the feature's ``partial`` setting; for features decided on domicile, the
account is domiciled in the place's country), on the first day and on
every day either side's decisions can change. A place gains access where
the old side denies and the new side allows. A feature that a side does
not define denies everywhere, as `Gate.evaluate` does.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

import attrs

from geogate._load.sources import Side
from geogate._policy.model import Feature, Rule, TargetKind

from .audit import CountryClasses
from .diffcells import ABSENT, Cause, Cell, FeatureSide, Place, Places, same_as_container

if TYPE_CHECKING:
    from collections.abc import Iterable

    from geogate._policy.model import PolicySet

__all__ = [
    "Change",
    "CountryGroup",
    "DiffStatus",
    "FeatureDiff",
    "PlaceGroup",
    "PolicyDiff",
    "RuleChange",
    "Scope",
    "diff_policies",
]

#: A first and last day, both inclusive.
Period = tuple[dt.date, dt.date]
_ALLOW, _DENY = "allow", "deny"
_UNLABELLED = frozenset({"countries", "elsewhere"})
#: The causes that mean "this place is split inside".
_SPLIT = frozenset({Cause.PARTIAL, Cause.HARD_INSIDE})


class Scope(enum.StrEnum):
    """What a changed place is, in the order they are shown within a country."""

    #: A request naming only the country.
    COUNTRY = "country"
    SUBDIVISION = "subdivision"
    #: The rest of a place: a request naming a subdivision there that no rule names.
    REST = "rest"
    #: The unknown location.
    UNKNOWN = "unknown"


_SCOPE_ORDER = {scope: index for index, scope in enumerate(Scope)}


class DiffStatus(enum.StrEnum):
    """Whether a feature is new, gone, or on both sides."""

    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


# -- the result ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Change:
    """
    One cell whose effect differs: a place (or the unknown location) of one feature.

    Attributes:
        location: The country or subdivision code, or ``unknown``.
        rest: True for the rest of *location*: a request naming a subdivision
            inside it that no rule of either side names.
        old: The old effect (``deny`` where the old side lacks the feature).
        new: The new effect.
        old_rule: The old deciding rule on the first day it differs, or None.
        new_rule: The new deciding rule on that day, or None.
        old_by: What decided the old effect on that day: ``rule``,
            ``default``, ``partial`` (a place split inside, by the feature's
            partial setting), ``hard-inside`` (split, with a hard-deny rule
            inside), ``ambiguous``, ``unknown`` or ``undefined`` (no feature).
        new_by: What decides the new effect on that day.
        label: The jurisdiction to show it under, as the audit groups countries.
        periods: The days (first and last, inclusive) on which it differs so.
    """

    location: str
    rest: bool = False
    old: str
    new: str
    old_rule: str | None
    new_rule: str | None
    old_by: Cause
    new_by: Cause
    label: str
    periods: tuple[Period, ...]

    @property
    def since(self) -> dt.date:
        """The first day it differs."""
        return self.periods[0][0]

    @property
    def country(self) -> str | None:
        """The country of the place, None for the unknown location."""
        return None if self.location == "unknown" else self.location.partition("-")[0]

    @property
    def subdivision(self) -> str | None:
        """The subdivision the place is or lies in, if any."""
        return self.location if "-" in self.location else None

    @property
    def scope(self) -> Scope:
        """A country (a request naming only it), a subdivision, a rest, or the unknown location."""
        if self.rest:
            return Scope.REST
        if self.location == "unknown":
            return Scope.UNKNOWN
        return Scope.SUBDIVISION if "-" in self.location else Scope.COUNTRY

    @property
    def split(self) -> bool:
        """Tell whether a side finds the place split inside (its partial setting decides)."""
        return self.old_by in _SPLIT or self.new_by in _SPLIT

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data."""
        return {
            "location": self.location,
            "country": self.country,
            "subdivision": self.subdivision,
            "rest": self.rest,
            "jurisdiction": self.label,
            "old": {"effect": self.old, "rule": self.old_rule, "by": str(self.old_by)},
            "new": {"effect": self.new, "rule": self.new_rule, "by": str(self.new_by)},
            "since": self.since.isoformat(),
            "periods": [[a.isoformat(), b.isoformat()] for a, b in self.periods],
        }


@attrs.frozen
class CountryGroup:
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
class PlaceGroup:
    """
    Places in one country whose access changes alike: same causes, same days.

    Attributes:
        country: The country.
        scope: ``country`` (a request naming only the country),
            ``subdivision``, or ``rest`` (the rest of each place in *places*).
        places: The codes, sorted.
        old: The old effect.
        new: The new effect.
        old_by: What decided the old effect (see `Change`).
        new_by: What decides the new effect.
        old_rule: The old deciding rule, or None.
        new_rule: The new deciding rule, or None.
        periods: The days on which they differ so.
    """

    country: str
    scope: Scope
    places: tuple[str, ...]
    old: str
    new: str
    old_by: Cause
    new_by: Cause
    old_rule: str | None
    new_rule: str | None
    periods: tuple[Period, ...]


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
        gained: Places that gain access (deny -> allow): by country, the
            country itself, then its subdivisions, then the rest of it.
        lost: Places that lose access (allow -> deny), in the same order.
        unknown: The unknown location, when its effect differs.
        settings: (field, old, new) for ``default``, ``unknown``, ``partial`` and ``basis``.
        rules_added: Rules only the new side has.
        rules_removed: Rules only the old side has.
        rules_changed: Rules on both sides that differ.
    """

    feature: str
    status: DiffStatus
    gained: tuple[Change, ...] = ()
    lost: tuple[Change, ...] = ()
    unknown: tuple[Change, ...] = ()
    settings: tuple[tuple[str, str, str], ...] = ()
    rules_added: tuple[Rule, ...] = ()
    rules_removed: tuple[Rule, ...] = ()
    rules_changed: tuple[RuleChange, ...] = ()

    @property
    def new_access(self) -> bool:
        """Tell whether a place or the unknown location gains access on some day."""
        return bool(self.gained) or any(c.new == _ALLOW for c in self.unknown)

    @property
    def gained_groups(self) -> tuple[CountryGroup, ...]:
        """The whole countries that gain access, by jurisdiction and days (see `gained_places`)."""
        return _group(self.gained)

    @property
    def lost_groups(self) -> tuple[CountryGroup, ...]:
        """The whole countries that lose access, by jurisdiction and days."""
        return _group(self.lost)

    @property
    def gained_places(self) -> tuple[PlaceGroup, ...]:
        """
        The places that gain access in countries divided by rules, by country.

        A country is divided when some subdivision, or the rest of some
        place, in it gains access, or when the country is split on a side;
        every other country that gains access is in `gained_groups`.
        """
        return _by_country(self.gained)

    @property
    def lost_places(self) -> tuple[PlaceGroup, ...]:
        """The places that lose access in countries divided by rules, by country."""
        return _by_country(self.lost)

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data."""
        return {
            "status": str(self.status),
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
        """Tell whether any place or the unknown location gains access anywhere."""
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

    Over a range, both sides are decided on *start* and on every day either
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
    classes = (CountryClasses(old.jurisdictions), CountryClasses(new.jurisdictions))
    result: dict[str, FeatureDiff] = {}
    for fid in ids:
        if _unchanged(old, new, fid):
            continue
        sides = (FeatureSide(old, fid, classes[0]), FeatureSide(new, fid, classes[1]))
        found = _feature_diff(fid, sides, start, end)
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


def _unchanged(old: PolicySet, new: PolicySet, fid: str) -> bool:
    """
    Tell whether *fid* is the same on both sides, rules and the jurisdictions they name.

    Then every place is decided alike on every day and no rule or setting
    differs: there is nothing to compare (the usual case in a pull request).
    """
    before, after = old.features.get(fid), new.features.get(fid)
    if before is None or before != after:
        return False
    names = {
        t.code for rule in before.rules for t in rule.targets if t.kind is TargetKind.JURISDICTION
    }
    tables = old.jurisdictions.jurisdictions, new.jurisdictions.jurisdictions
    return all(tables[0][name].members == tables[1][name].members for name in names)


def _feature_diff(
    fid: str, sides: tuple[FeatureSide, FeatureSide], start: dt.date, end: dt.date
) -> FeatureDiff | None:
    before_side, after_side = sides
    old, new = before_side.feature, after_side.feature
    places = Places.of(before_side.inside | after_side.inside)
    days = sorted(
        {start} | before_side.change_days(start, end) | after_side.change_days(start, end)
    )
    # (place, old effect, new effect) -> (label, old cell, new cell, [periods]) in day order.
    found: dict[tuple[Place, str, str], tuple[str, Cell, Cell, list[Period]]] = {}
    for index, day in enumerate(days):
        last = days[index + 1] - dt.timedelta(days=1) if index + 1 < len(days) else end
        before = before_side.cells(day, places)
        after = after_side.cells(day, places)
        unknown = (
            (old.unknown.value, Cause.UNKNOWN, None, False) if old else ABSENT,
            (new.unknown.value, Cause.UNKNOWN, None, False) if new else ABSENT,
        )
        differing = [
            (place, was, now)
            for place, was in before.items()
            if was[0] != (now := after[place])[0]
            and not same_as_container(place, was, now, before, after)
        ]
        if unknown[0][0] != unknown[1][0]:
            differing.append((("unknown", False), *unknown))
        for place, was, now in differing:
            key = (place, was[0], now[0])
            if key not in found:
                label = (
                    "unknown"
                    if place[0] == "unknown"
                    else _label(place, was, now, sides, day, places)
                )
                found[key] = (label, was, now, [])
            periods = found[key][3]
            if periods and periods[-1][1] + dt.timedelta(days=1) == day:
                periods[-1] = (periods[-1][0], last)
            else:
                periods.append((day, last))
    changes = sorted(
        (
            Change(
                location=code,
                rest=rest,
                old=old_effect,
                new=new_effect,
                old_rule=was[2],
                new_rule=now[2],
                old_by=was[1],
                new_by=now[1],
                label=label,
                periods=tuple(periods),
            )
            for ((code, rest), old_effect, new_effect), (label, was, now, periods) in found.items()
        ),
        key=_order,
    )
    located = [c for c in changes if c.location != "unknown"]
    old_rules = before_side.by_id
    new_rules = after_side.by_id
    diff = FeatureDiff(
        feature=fid,
        status=DiffStatus.ADDED
        if old is None
        else DiffStatus.REMOVED
        if new is None
        else DiffStatus.CHANGED,
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
    if (
        old is not None
        and new is not None
        and diff == FeatureDiff(feature=fid, status=DiffStatus.CHANGED)
    ):
        return None
    return diff


def _order(change: Change) -> tuple[str, int, str, str, str]:
    """By country; in a country, the country itself, its subdivisions, then rests."""
    return (
        change.country or "~",
        _SCOPE_ORDER[change.scope],
        change.location,
        change.old,
        change.new,
    )


def _label(
    place: Place,
    was: Cell,
    now: Cell,
    sides: tuple[FeatureSide, FeatureSide],
    day: dt.date,
    places: Places,
) -> str:
    """
    Name the jurisdiction to show a place under, as the audit does.

    The most specific jurisdiction that a deciding rule (new, else old) names
    and that contains the place; ``countries`` when the deciding rules name
    the place itself; else the most specific jurisdiction containing it.
    """
    present, table = (
        (now, sides[1].table) if now[1] is not Cause.UNDEFINED else (was, sides[0].table)
    )
    code = place[0]
    # The location decided on: the place, or its country when the domicile decided.
    location = places.locations[code.partition("-")[0] if present[3] else code]
    assert location.country is not None  # noqa: S101 (a known place)
    jurisdictions = table.containing(location.country, day, location.chain)
    named: set[str] = set()
    ruled = False
    for cell, side in ((now, sides[1]), (was, sides[0])):
        rule = side.by_id.get(cell[2]) if cell[2] else None
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
        ("partial", old.partial, new.partial),
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


def _divided(changes: Iterable[Change]) -> frozenset[str]:
    """The countries of *changes* shown place by place: split, or with places inside changing."""
    return frozenset(
        change.country
        for change in changes
        if change.country is not None and (change.scope is not Scope.COUNTRY or change.split)
    )


def _group(changes: tuple[Change, ...]) -> tuple[CountryGroup, ...]:
    """Group whole countries by label and days; named jurisdictions first, larger groups first."""
    divided = _divided(changes)
    buckets: dict[tuple[str, tuple[Period, ...]], list[str]] = {}
    for change in changes:
        if change.scope is Scope.COUNTRY and change.location not in divided:
            buckets.setdefault((change.label, change.periods), []).append(change.location)
    groups = [
        CountryGroup(label, periods, tuple(sorted(codes)))
        for (label, periods), codes in buckets.items()
    ]
    groups.sort(key=lambda g: (g.label in _UNLABELLED, g.periods, -len(g.countries), g.label))
    return tuple(groups)


def _by_country(changes: tuple[Change, ...]) -> tuple[PlaceGroup, ...]:
    """Group the places of divided countries: by country, scope, causes and days."""
    divided = _divided(changes)
    buckets: dict[PlaceGroup, list[str]] = {}
    for change in changes:  # already by country, then scope, then code
        if change.country in divided:
            key = PlaceGroup(
                country=change.country,
                scope=change.scope,
                places=(),
                old=change.old,
                new=change.new,
                old_by=change.old_by,
                new_by=change.new_by,
                old_rule=change.old_rule,
                new_rule=change.new_rule,
                periods=change.periods,
            )
            buckets.setdefault(key, []).append(change.location)
    return tuple(attrs.evolve(key, places=tuple(codes)) for key, codes in buckets.items())
