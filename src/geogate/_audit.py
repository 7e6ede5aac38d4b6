"""
Audit and timeline: the decision of every feature for every country, on a date or over time.

Countries are decided per equivalence class: on one date, two countries that
no rule of a feature names directly and that are in the same jurisdictions
(of those its rules name) are matched by the same rules through the same
targets, so the engine's `decide` gives them the same outcome. One call per
class and per named country replaces one per country, which is what makes a
timeline of 1,000 features over every change date fast. The `Decision` of a
cell is made by `Gate.evaluate` itself, on demand, so it is what ``geogate
eval`` says by construction; the tests check that every cell agrees with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, NamedTuple

import attrs

from ._countries import LocationStatus, all_countries
from ._decision import Decision
from ._engine import CompiledRule, Location, change_days, decide
from ._gate import Gate
from ._policy import Effect, Feature, Rule, TargetKind

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ._engine import Outcome
    from ._jurisdictions import JurisdictionTable
    from ._policy import PolicySet

__all__ = [
    "Audit",
    "Cell",
    "DayChange",
    "FeatureAudit",
    "FeatureTimeline",
    "Group",
    "Timeline",
    "audit",
    "change_dates",
    "timeline",
]


class Cell(NamedTuple):
    """The effect (``allow`` or ``deny``) and the deciding rule id (None: the default)."""

    effect: str
    rule: str | None

    def to_dict(self) -> dict[str, str | None]:
        """Return ``{"effect", "rule"}``, as in the audit's JSON."""
        return {"effect": self.effect, "rule": self.rule}


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


class _Decisions(Mapping[str, "Decision"]):
    """Country code -> the `Decision` of ``Gate.evaluate``, made on first access."""

    def __init__(self, evaluator: _Evaluator, feature: str, day: dt.date,
                 codes: tuple[str, ...]) -> None:  # fmt: skip
        self._evaluator = evaluator
        self._feature = feature
        self._day = day
        self._codes = codes
        self._known = frozenset(codes)
        self._made: dict[str, Decision] = {}

    def __getitem__(self, code: str) -> Decision:
        made = self._made.get(code)
        if made is None:
            if code not in self._known:
                raise KeyError(code)
            # The same country as location and as domicile: "a request from X by
            # an account domiciled in X", so domicile-based features are audited too.
            made = self._evaluator.gate.evaluate(
                self._feature, country=code, domicile=code, at=self._day
            )
            self._made[code] = made
        return made

    def __iter__(self) -> Iterator[str]:
        return iter(self._codes)

    def __len__(self) -> int:
        return len(self._codes)


class _Evaluator:
    """A gate for the policy set, built when a `Decision` is first asked for."""

    def __init__(self, policy: PolicySet) -> None:
        self._policy = policy
        self._gate: Gate | None = None

    @property
    def gate(self) -> Gate:
        if self._gate is None:
            self._gate = Gate(self._policy)
        return self._gate


@attrs.frozen
class FeatureAudit:
    """
    One feature's decisions for every country.

    Attributes:
        feature: The feature.
        decisions: Country code -> decision (made by `Gate.evaluate` when read).
        unknown: The effect for an unknown location.
        groups: The decisions grouped by effect and rule, denials first.
        cells: Country code -> effect and deciding rule id (cheap to read).
    """

    feature: Feature
    decisions: Mapping[str, Decision]
    unknown: str
    groups: tuple[Group, ...]
    cells: Mapping[str, Cell] = attrs.field(factory=dict)

    @property
    def allowed(self) -> int:
        """How many countries are allowed."""
        return sum(cell.effect == "allow" for cell in self.cells.values())


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
                    "countries": {code: cell.to_dict() for code, cell in sorted(fa.cells.items())},
                    "unknown": fa.unknown,
                }
                for fid, fa in self.features.items()
            },
        }


@attrs.frozen
class _Rules:
    """A feature's rules, compiled, with the countries and jurisdictions they name."""

    feature: Feature
    rules: tuple[CompiledRule, ...]
    countries: frozenset[str]
    jurisdictions: frozenset[str]

    @classmethod
    def of(cls, feature: Feature) -> _Rules:
        rules = tuple(CompiledRule.from_rule(rule) for rule in feature.rules)
        return cls(
            feature,
            rules,
            frozenset(code for c in rules for code in c.countries),
            frozenset(name for c in rules for name in c.jurisdictions),
        )


class _Classes:
    """Per date, the countries grouped by the jurisdictions containing them, for every feature."""

    def __init__(self, table: JurisdictionTable) -> None:
        self.table = table
        self.countries = tuple(sorted(all_countries()))
        self._by_day: dict[dt.date, dict[str, tuple[str, ...]]] = {}
        self._groups: dict[dt.date, dict[tuple[str, ...], tuple[str, ...]]] = {}

    def containing(self, day: dt.date) -> dict[str, tuple[str, ...]]:
        """Country code -> the names of the jurisdictions containing it on *day*."""
        found = self._by_day.get(day)
        if found is None:
            table = self.table
            found = {code: table.containing(code, day) for code in self.countries}
            self._by_day[day] = found
        return found

    def groups(self, day: dt.date) -> dict[tuple[str, ...], tuple[str, ...]]:
        """Jurisdiction names -> the countries contained in exactly those, on *day*."""
        found = self._groups.get(day)
        if found is None:
            lists: dict[tuple[str, ...], list[str]] = {}
            for code, names in self.containing(day).items():
                lists.setdefault(names, []).append(code)
            found = self._groups[day] = {names: tuple(codes) for names, codes in lists.items()}
        return found

    def cells(self, rules: _Rules, day: dt.date) -> dict[str, Cell]:
        """Decide *rules* for every country on *day*, once per equivalence class."""
        named = rules.countries
        wanted = rules.jurisdictions
        by_class: dict[tuple[str, ...], Cell] = {}
        result: dict[str, Cell | None] = dict.fromkeys(self.countries)  # sorted order
        for names, codes in self.groups(day).items():
            key = tuple(j for j in names if j in wanted)
            cell = by_class.get(key)
            if cell is None:
                sample = next((code for code in codes if code not in named), None)
                if sample is None:
                    continue
                cell = by_class[key] = self._decide(rules, sample, day)
            result.update(dict.fromkeys(codes, cell))
        for code in named:
            if code in result:
                result[code] = self._decide(rules, code, day)
        return result  # type: ignore[return-value]  # every country has a cell now

    def _decide(self, rules: _Rules, code: str, day: dt.date) -> Cell:
        location = Location(LocationStatus.KNOWN, code)
        return _cell(decide(rules.feature, rules.rules, location, day, self.table))


def _cell(outcome: Outcome) -> Cell:
    return Cell(str(outcome.effect), None if outcome.rule is None else outcome.rule.id)


def _select(policy: PolicySet, features: Iterable[str] | None) -> list[str]:
    selected = list(policy.features) if features is None else list(features)
    missing = [f for f in selected if f not in policy.features]
    if missing:
        raise KeyError(missing[0])
    return selected


def audit(policy: PolicySet, *, at: dt.date | None = None,
          features: Iterable[str] | None = None) -> Audit:  # fmt: skip
    """
    Decide every feature (or those named) for every ISO 3166-1 country and XK.

    Raises:
        KeyError: naming a feature the policy set does not define.
    """
    day = at or dt.datetime.now(dt.UTC).date()
    classes = _Classes(policy.jurisdictions)
    evaluator = _Evaluator(policy)
    result: dict[str, FeatureAudit] = {}
    for fid in _select(policy, features):
        feature = policy.features[fid]
        cells = classes.cells(_Rules.of(feature), day)
        result[fid] = FeatureAudit(
            feature=feature,
            decisions=_Decisions(evaluator, fid, day, classes.countries),
            unknown=str(feature.unknown),
            groups=_groups(feature, cells, classes.containing(day)),
            cells=cells,
        )
    return Audit(policy.revision, day, result)


def _label(rule: Rule | None, containing: tuple[str, ...]) -> str | None:
    """The jurisdiction through which *rule* matches a country (smallest first), if any."""
    if rule is None:
        return None
    named = {t.code for t in rule.targets if t.kind is TargetKind.JURISDICTION}
    return next((j for j in containing if j in named), None)


def _groups(feature: Feature, cells: Mapping[str, Cell],
            containing: Mapping[str, tuple[str, ...]]) -> tuple[Group, ...]:  # fmt: skip
    rules = {rule.id: rule for rule in feature.rules}
    # Countries with the same decision and jurisdictions share a label: find it once.
    alike: dict[tuple[Cell, tuple[str, ...]], list[str]] = {}
    for code, cell in cells.items():
        alike.setdefault((cell, containing[code]), []).append(code)
    buckets: dict[Cell, dict[str, list[str]]] = {}
    for (cell, names), codes in alike.items():
        rule = rules.get(cell.rule) if cell.rule else None
        if rule is not None:
            label = _label(rule, names) or "countries"
        else:
            label = next((j for j in names if j != "WORLD"), "elsewhere")
        buckets.setdefault(cell, {}).setdefault(label, []).extend(codes)
    groups = [
        Group(
            effect,
            rule_id,
            rules[rule_id].reason if rule_id in rules else None,
            _ordered(by_label),
        )
        for (effect, rule_id), by_label in buckets.items()
    ]
    groups.sort(key=lambda g: (g.effect != "deny", g.rule is None, -len(g.countries)))
    return tuple(groups)


def _ordered(by_label: dict[str, list[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Named jurisdictions first, the largest first; ``countries`` and ``elsewhere`` last."""
    return tuple(
        sorted(
            ((label, tuple(sorted(codes))) for label, codes in by_label.items()),
            key=lambda pair: (pair[0] in {"countries", "elsewhere"}, -len(pair[1])),
        )
    )


def change_dates(policy: PolicySet, feature: str, start: dt.date, end: dt.date) -> list[dt.date]:
    """
    Return the days in ``(start, end]`` on which some decision of *feature* can change.

    A rule window opening or closing, or a change in the membership of a
    jurisdiction the feature's rules name (the UK leaving the EU), counts.
    Auditing *start* and each returned day covers every date in the range.
    """
    rules = [CompiledRule.from_rule(rule) for rule in policy.features[feature].rules]
    return [day for day in change_days(rules, policy.jurisdictions) if start < day <= end]


# The timeline: what changes, day by day.


@attrs.frozen
class ChangeGroup:
    """
    Countries whose decision changed the same way on one day.

    Attributes:
        change: ``gained`` (deny to allow), ``lost`` (allow to deny) or
            ``rule`` (the same effect, another deciding rule).
        before: The decision the day before.
        after: The decision from that day.
        by_jurisdiction: Label -> country codes, as in `Group`.
    """

    change: str
    before: Cell
    after: Cell
    by_jurisdiction: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def countries(self) -> tuple[str, ...]:
        """Every country in the group."""
        return tuple(code for _, codes in self.by_jurisdiction for code in codes)


@attrs.frozen
class DayChange:
    """
    Everything that changed for one feature on one day, and why.

    Attributes:
        day: The first day of the new decisions.
        cells: Country code -> (before, after), for the countries that changed.
        groups: The same, grouped: access gained, access lost, rule changes.
        started: Ids of the feature's rules whose window opens that day.
        ended: Ids of its rules whose window closed the day before.
        membership: (jurisdiction, joined, left) for each jurisdiction its
            rules name whose members change that day.
    """

    day: dt.date
    cells: Mapping[str, tuple[Cell, Cell]]
    groups: tuple[ChangeGroup, ...]
    started: tuple[str, ...] = ()
    ended: tuple[str, ...] = ()
    membership: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data."""
        return {
            "date": self.day.isoformat(),
            "rules_started": list(self.started),
            "rules_ended": list(self.ended),
            "membership": [
                {"jurisdiction": name, "joined": list(joined), "left": list(left)}
                for name, joined, left in self.membership
            ],
            "countries": {
                code: {"before": before.to_dict(), "after": after.to_dict()}
                for code, (before, after) in self.cells.items()
            },
            "groups": [
                {
                    "change": group.change,
                    "before": group.before.to_dict(),
                    "after": group.after.to_dict(),
                    "countries": {label: list(codes) for label, codes in group.by_jurisdiction},
                }
                for group in self.groups
            ],
        }


@attrs.frozen
class FeatureTimeline:
    """
    One feature's decisions over a range of dates.

    Attributes:
        feature: The feature.
        allowed_at_start: How many countries are allowed on the first day.
        changes: The days on which some country's decision changes, in order.
    """

    feature: Feature
    allowed_at_start: int
    changes: tuple[DayChange, ...]


@attrs.frozen
class Timeline:
    """
    Every selected feature's changes in ``(start, end]``.

    Attributes:
        revision: The policy revision.
        start: The first day (its decisions are the starting point).
        end: The last day.
        countries: How many countries each feature is decided for.
        features: Feature id -> its timeline.
    """

    revision: str
    start: dt.date
    end: dt.date
    countries: int
    features: dict[str, FeatureTimeline]

    def to_dict(self) -> dict[str, object]:
        """Return the JSON of ``geogate audit --timeline --format json``."""
        return {
            "revision": self.revision,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "features": {
                fid: {
                    "allowed_at_start": ft.allowed_at_start,
                    "changes": [change.to_dict() for change in ft.changes],
                }
                for fid, ft in self.features.items()
            },
        }


def timeline(policy: PolicySet, start: dt.date, end: dt.date, *,
             features: Iterable[str] | None = None) -> Timeline:  # fmt: skip
    """
    Find, for each feature, the days in ``(start, end]`` on which a decision changes.

    A decision is a country's effect and deciding rule. Candidate days come
    from `change_dates`; a day is reported only when some decision really
    changes on it.

    Raises:
        KeyError: naming a feature the policy set does not define.
    """
    table = policy.jurisdictions
    classes = _Classes(table)
    result: dict[str, FeatureTimeline] = {}
    for fid in _select(policy, features):
        rules = _Rules.of(policy.features[fid])
        before = classes.cells(rules, start)
        allowed = sum(cell.effect == "allow" for cell in before.values())
        changes: list[DayChange] = []
        for day in change_days(rules.rules, table):
            if not start < day <= end:
                continue
            after = classes.cells(rules, day)
            if after != before:
                changed = {
                    code: (cell, after[code])
                    for code, cell in before.items()
                    if cell != after[code]
                }
                changes.append(_day_change(rules, day, changed, classes))
            before = after
        result[fid] = FeatureTimeline(rules.feature, allowed, tuple(changes))
    return Timeline(policy.revision, start, end, len(classes.countries), result)


def _day_change(rules: _Rules, day: dt.date, changed: dict[str, tuple[Cell, Cell]],
                classes: _Classes) -> DayChange:  # fmt: skip
    previous = day - dt.timedelta(days=1)
    table = classes.table
    by_id = {rule.id: rule for rule in rules.feature.rules}
    now, then = classes.containing(day), classes.containing(previous)
    buckets: dict[tuple[Cell, Cell], dict[str, list[str]]] = {}
    for code, (before, after) in changed.items():
        # The smaller of the jurisdictions the two rules match through: the EU
        # rule that ended, rather than the WORLD rule that decides from now on.
        sides = [
            (name, len(table.members_at(name, when)))
            for name, when in (
                (_label(by_id.get(after.rule or ""), now[code]), day),
                (_label(by_id.get(before.rule or ""), then[code]), previous),
            )
            if name is not None
        ]
        label = (
            min(sides, key=lambda side: side[1])[0]
            if sides
            else ("countries" if before.rule or after.rule else "elsewhere")
        )
        buckets.setdefault((before, after), {}).setdefault(label, []).append(code)
    order = {"gained": 0, "lost": 1, "rule": 2}
    groups = sorted(
        (
            ChangeGroup(_kind(before, after), before, after, _ordered(by_label))
            for (before, after), by_label in buckets.items()
        ),
        key=lambda g: (order[g.change], -len(g.countries), g.after.rule or "", g.before.rule or ""),
    )
    membership = []
    for name in sorted(rules.jurisdictions):
        old, new = table.members_at(name, previous), table.members_at(name, day)
        if old != new:
            membership.append((name, tuple(sorted(new - old)), tuple(sorted(old - new))))
    return DayChange(
        day=day,
        cells=changed,
        groups=tuple(groups),
        started=tuple(r.id for r in rules.feature.rules if r.start == day),
        ended=tuple(r.id for r in rules.feature.rules if r.end == previous),
        membership=tuple(membership),
    )


def _kind(before: Cell, after: Cell) -> str:
    if before.effect == after.effect:
        return "rule"
    return "gained" if after.effect == Effect.ALLOW else "lost"
