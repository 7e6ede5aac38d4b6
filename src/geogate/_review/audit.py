"""
Audit and timeline: the decision of every feature for every place, on a date or over time.

The places of a feature are every ISO 3166-1 country and XK, plus every
subdivision its rules name, directly or through jurisdictions, with their
ISO parents (`geogate._engine.decide.inner_places`). A country's cell is what a
request naming only that country gets: for a country the rules decide
differently inside on that date (a *split* country: ``US`` when ``US-IL`` is
denied), that is the feature's ``partial`` setting, and the cell says so and
what the rest of the country gets. Each subdivision in the space has a cell
of its own. Features decided on domicile are audited on countries only: a
domicile is a country.

Countries with no place of the space inside them are decided per
equivalence class: on one date, two such countries that no rule of a feature
names directly and that are in the same jurisdictions (of those its rules
name) are matched by the same rules through the same targets, so the
engine's `decide` gives them the same outcome. One call per class, per named
country and per country with subdivisions in the space replaces one per
country, which is what makes a timeline of 1,000 features over every change
date fast. The places of the space and the countries holding them are each
decided on their own once (the engine's `decide_place`), and the engine's
split step (`_split`, step 5 of `decide`) compares those decisions, rather
than deciding every place inside again for each place around it. The
`Decision` of a cell is made by `Gate.evaluate` itself, on demand, so it is
what ``geogate eval`` says by construction; the tests check that every cell,
subdivisions included, agrees with it.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, NamedTuple

import attrs

from geogate._engine.decide import (
    CompiledRule,
    Location,
    Outcome,
    OutcomeKind,
    change_days,
    decide_place,
    inner_places,
    place_of,
    places_inside,
    split_step,
)
from geogate._engine.decision import Decision
from geogate._gate.gate import Gate
from geogate._policy.model import Basis, Effect, Feature, Rule, TargetKind
from geogate._world.countries import LocationStatus, all_countries

if TYPE_CHECKING:
    from collections.abc import Iterable

    from geogate._policy.model import PolicySet
    from geogate._world.jurisdictions import JurisdictionTable

__all__ = [
    "Audit",
    "Cell",
    "ChangeKind",
    "ChangedPlaces",
    "CountryClasses",
    "DayChange",
    "FeatureAudit",
    "FeatureRules",
    "FeatureTimeline",
    "Group",
    "Timeline",
    "audit",
    "change_dates",
    "country_of",
    "timeline",
]


class Cell(NamedTuple):
    """
    The decision for one place: its effect, deciding rule, and whether the place is split.

    Attributes:
        effect: ``allow`` or ``deny``.
        rule: The deciding rule id; None for the feature's default, an
            ambiguity, or a split place.
        partial: Whether the place is split on that date: rules decide places
            inside it differently, so a request naming only it gets the
            feature's ``partial`` setting (deny when a hard_deny decides inside).
        rest: For a split place, what the place itself gets where no place
            inside it is decided differently ("the rest of the country").
    """

    effect: str
    rule: str | None
    partial: bool = False
    rest: Cell | None = None

    def to_dict(self) -> dict[str, object]:
        """Return ``{"effect", "rule"}``, and ``"partial": true`` and ``"rest"`` when split."""
        data: dict[str, object] = {"effect": self.effect, "rule": self.rule}
        if self.partial and self.rest is not None:
            data["partial"] = True
            data["rest"] = self.rest.to_dict()
        return data


def country_of(code: str) -> str:
    """Return the country of a country or subdivision code (``US-IL`` -> ``US``)."""
    return code.partition("-")[0]


#: Per-place labels that are not jurisdictions, in the order they are shown last.
LABELS = ("split", "countries", "subdivisions", "elsewhere")

Labelled = tuple[tuple[str, tuple[str, ...]], ...]


@attrs.frozen
class Group:
    """
    Places that share an effect and a deciding rule (or are split alike).

    Attributes:
        effect: ``allow`` or ``deny``.
        rule: The deciding rule id, or None for the feature's default or
            (``partial``) its partial setting.
        reason: The rule's reason, or None.
        by_jurisdiction: Label (a jurisdiction, ``split``, ``countries`` or
            ``elsewhere``) -> country codes, in the order they should be shown.
        subdivisions: Label (a jurisdiction, ``split`` or ``subdivisions``) ->
            subdivision codes decided so.
        partial: Whether these places are split: a request naming only one
            of them gets the feature's partial setting.
    """

    effect: str
    rule: str | None
    reason: str | None
    by_jurisdiction: Labelled
    subdivisions: Labelled = ()
    partial: bool = False

    @property
    def countries(self) -> tuple[str, ...]:
        """Every country in the group."""
        return tuple(code for _, codes in self.by_jurisdiction for code in codes)

    @property
    def places(self) -> tuple[str, ...]:
        """Every country and subdivision in the group."""
        return self.countries + tuple(code for _, codes in self.subdivisions for code in codes)


class _Decisions(Mapping[str, "Decision"]):
    """Place code -> the `Decision` of ``Gate.evaluate``, made on first access."""

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
            # A request from the place by an account domiciled in its country:
            # "from X, by an account domiciled in X", so domicile-based features
            # are audited too.
            country = country_of(code)
            made = self._evaluator.gate.evaluate(
                self._feature,
                country=country,
                subdivision=code if code != country else None,
                domicile=country,
                at=self._day,
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
    One feature's decisions for every place.

    Attributes:
        feature: The feature.
        decisions: Country code -> decision (made by `Gate.evaluate` when read).
        unknown: The effect for an unknown location.
        groups: The decisions grouped by effect and rule, denials first.
        cells: Country code -> effect and deciding rule id (cheap to read): what
            a request naming only that country gets.
        subdivisions: Subdivision code -> its cell, for every subdivision in the
            feature's place space, sorted (none for a feature decided on domicile).
        subdivision_decisions: Subdivision code -> the decision of a request
            from it by an account domiciled in its country (made when read).
    """

    feature: Feature
    decisions: Mapping[str, Decision]
    unknown: str
    groups: tuple[Group, ...]
    cells: Mapping[str, Cell] = attrs.field(factory=dict)
    subdivisions: Mapping[str, Cell] = attrs.field(factory=dict)
    subdivision_decisions: Mapping[str, Decision] = attrs.field(factory=dict)

    @property
    def allowed(self) -> int:
        """How many countries are allowed (a request naming only the country)."""
        return sum(cell.effect == "allow" for cell in self.cells.values())

    @property
    def split(self) -> tuple[str, ...]:
        """The countries that are split on the date, sorted."""
        return tuple(code for code, cell in sorted(self.cells.items()) if cell.partial)

    def subdivisions_of(self, country: str) -> dict[str, Cell]:
        """Return the cells of the subdivisions of *country* in the place space, sorted."""
        return {
            code: cell for code, cell in self.subdivisions.items() if country_of(code) == country
        }

    def to_dict(self) -> dict[str, object]:
        """Return the feature's part of the audit's JSON."""
        inside: dict[str, dict[str, Cell]] = {}
        for code, cell in self.subdivisions.items():
            inside.setdefault(country_of(code), {})[code] = cell
        countries: dict[str, object] = {}
        for code, cell in sorted(self.cells.items()):
            data = cell.to_dict()
            if code in inside:
                data["subdivisions"] = {sub: c.to_dict() for sub, c in inside[code].items()}
            countries[code] = data
        return {
            "countries": countries,
            "unknown": self.unknown,
            "basis": str(self.feature.basis),
            "partial": str(self.feature.partial),
        }


@attrs.frozen
class Audit:
    """
    Every selected feature, every place, one date.

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
            "features": {fid: fa.to_dict() for fid, fa in self.features.items()},
        }


@attrs.frozen
class FeatureRules:
    """
    A feature's rules, compiled, with what they name.

    Attributes:
        feature: The feature.
        rules: Its rules, compiled.
        countries: The countries they name.
        jurisdictions: The jurisdictions they name.
        inside: `inner_places` of the rules, or None when built without a table.
        subdivisions: The subdivisions that get cells of their own, sorted
            (those of *inside*, unless the feature is decided on domicile).
        split_candidates: The countries with places of *inside* in them.
        places: (code, location) of the split candidates and of *inside*.
        inner: Code of a place -> the codes of *inside* strictly inside it.
    """

    feature: Feature
    rules: tuple[CompiledRule, ...]
    countries: frozenset[str]
    jurisdictions: frozenset[str]
    inside: frozenset[str] | None = None
    subdivisions: tuple[str, ...] = ()
    split_candidates: frozenset[str] = frozenset()
    places: tuple[tuple[str, Location], ...] = ()
    inner: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)

    @classmethod
    def of(cls, feature: Feature, table: JurisdictionTable | None = None) -> FeatureRules:
        rules = tuple(CompiledRule.from_rule(rule) for rule in feature.rules)
        inside = None if table is None else inner_places(rules, table)
        own = () if not inside or feature.basis is Basis.DOMICILE else tuple(sorted(inside))
        split = frozenset(country_of(code) for code in inside or ())
        places = tuple((code, place_of(code)) for code in sorted(split | (inside or set())))
        inner = {
            code: tuple(found)
            for code, location in places
            if (found := places_inside(location, inside or ()))
        }
        return cls(
            feature,
            rules,
            frozenset(code for c in rules for code in c.countries),
            frozenset(name for c in rules for name in c.jurisdictions),
            inside,
            own,
            split,
            places,
            inner,
        )


_KNOWN = LocationStatus.KNOWN


def _split(
    feature: Feature, outcome: Outcome, inner: tuple[str, ...], own: Mapping[str, Outcome]
) -> Outcome:
    """The engine's step 5 (`split_step`), from decisions already made for each place."""
    return split_step(feature, outcome, [(code, own[code]) for code in inner])


def _cell(outcome: Outcome) -> Cell:
    if outcome.kind is OutcomeKind.PARTIAL and outcome.rest is not None:
        return Cell(str(outcome.effect), None, partial=True, rest=_cell(outcome.rest))
    return Cell(str(outcome.effect), None if outcome.rule is None else outcome.rule.id)


class CountryClasses:
    """Per date, the countries grouped by the jurisdictions containing them, for every feature."""

    def __init__(self, table: JurisdictionTable) -> None:
        self.table = table
        self.countries = tuple(sorted(all_countries()))
        self._by_day: dict[dt.date, dict[str, tuple[str, ...]]] = {}
        self._groups: dict[dt.date, dict[tuple[str, ...], tuple[str, ...]]] = {}
        self._samples: dict[
            tuple[dt.date, frozenset[str], frozenset[str]], tuple[list[str], list[int]]
        ] = {}

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

    def cells(self, rules: FeatureRules, day: dt.date) -> dict[str, Cell]:
        """Decide *rules* for every country on *day* (a request naming only the country)."""
        return self.places(rules, day)[0]

    def places(self, rules: FeatureRules, day: dt.date) -> tuple[dict[str, Cell], dict[str, Cell]]:
        """
        Decide *rules* for every country and every subdivision in their space on *day*.

        Countries are decided once per equivalence class, except those the
        rules name and those with places of the space inside them.
        """
        if rules.inside is None:  # built without the table: find the places inside
            rules = FeatureRules.of(rules.feature, self.table)
        split = rules.split_candidates
        alone = rules.countries | split
        samples, index = self._classes(day, rules.jurisdictions, alone)
        feature, compiled, table = rules.feature, rules.rules, self.table
        # A country with no place of the space inside it (every sample, most named
        # countries) cannot be split: `decide` would add nothing to its own decision.
        by_class = [
            _cell(decide_place(feature, compiled, Location(_KNOWN, sample), day, table))
            for sample in samples
        ]
        result = dict(zip(self.countries, [by_class[i] for i in index], strict=True))
        # Each place with places of the space inside it, and each of those, is
        # decided on its own once; the split step then compares them.
        own = {
            code: decide_place(feature, compiled, location, day, table)
            for code, location in rules.places
        }
        outcomes: dict[str, Outcome] = {}
        for code in alone:
            if code in result:
                outcome = own.get(code) or decide_place(
                    feature, compiled, Location(_KNOWN, code), day, table
                )
                if code in split:
                    outcome = _split(feature, outcome, rules.inner[code], own)
                outcomes[code] = outcome
                result[code] = _cell(outcome)
        subdivisions: dict[str, Cell] = {}
        both = feature.basis is Basis.LOCATION_AND_DOMICILE
        for code in rules.subdivisions:
            outcome = _split(feature, own[code], rules.inner.get(code, ()), own)
            home = outcomes.get(country_of(code))
            if both and outcome.effect is not Effect.DENY and home is not None:
                # The location allows: the domicile (its country) decides if it denies.
                outcome = home if home.effect is Effect.DENY else outcome
            subdivisions[code] = _cell(outcome)
        return result, subdivisions

    def _classes(
        self, day: dt.date, wanted: frozenset[str], alone: frozenset[str]
    ) -> tuple[list[str], list[int]]:
        """
        Return one sample per class of countries, and each country's class (in `countries`).

        A class is the countries contained, on *day*, in the same jurisdictions
        of *wanted*; the countries in *alone* are decided one by one, and their
        index is that of any class (they are overwritten). Features with the
        same jurisdictions and named countries share the answer.
        """
        key = (day, wanted, alone)
        found = self._samples.get(key)
        if found is None:
            samples: list[str] = []
            classes: dict[tuple[str, ...], int] = {}
            of_country: dict[str, int] = {}
            for names, codes in self.groups(day).items():
                class_key = tuple(j for j in names if j in wanted)
                number = classes.get(class_key)
                if number is None:
                    sample = next((code for code in codes if code not in alone), None)
                    if sample is None:
                        continue  # all decided one by one
                    number = classes[class_key] = len(samples)
                    samples.append(sample)
                of_country.update(dict.fromkeys(codes, number))
            index = [of_country.get(code, 0) for code in self.countries]
            if not samples:  # every country is decided one by one: a placeholder class
                samples.append(self.countries[0])
            found = self._samples[key] = (samples, index)
        return found


def _select(policy: PolicySet, features: Iterable[str] | None) -> list[str]:
    selected = list(policy.features) if features is None else list(features)
    missing = [f for f in selected if f not in policy.features]
    if missing:
        raise KeyError(missing[0])
    return selected


def audit(policy: PolicySet, *, at: dt.date | None = None,
          features: Iterable[str] | None = None) -> Audit:  # fmt: skip
    """
    Decide every feature (or those named) for every ISO 3166-1 country, XK and subdivision.

    The subdivisions are those in each feature's place space (the ones its
    rules name, directly or through jurisdictions, and their parents).

    Raises:
        KeyError: naming a feature the policy set does not define.
    """
    day = at or dt.datetime.now(dt.UTC).date()
    table = policy.jurisdictions
    classes = CountryClasses(table)
    evaluator = _Evaluator(policy)
    result: dict[str, FeatureAudit] = {}
    for fid in _select(policy, features):
        feature = policy.features[fid]
        rules = FeatureRules.of(feature, table)
        cells, subdivisions = classes.places(rules, day)
        result[fid] = FeatureAudit(
            feature=feature,
            decisions=_Decisions(evaluator, fid, day, classes.countries),
            unknown=str(feature.unknown),
            groups=_groups(feature, cells, subdivisions, classes, day),
            cells=cells,
            subdivisions=subdivisions,
            subdivision_decisions=_Decisions(evaluator, fid, day, tuple(subdivisions)),
        )
    return Audit(policy.revision, day, result)


def _label(rule: Rule | None, containing: tuple[str, ...]) -> str | None:
    """The jurisdiction through which *rule* matches a place (smallest first), if any."""
    if rule is None:
        return None
    named = {t.code for t in rule.targets if t.kind is TargetKind.JURISDICTION}
    return next((j for j in containing if j in named), None)


def _subdivision_label(cell: Cell, rule: Rule | None, code: str, table: JurisdictionTable,
                       day: dt.date) -> str:  # fmt: skip
    """``split``, the jurisdiction through which *rule* matches, or ``subdivisions``."""
    if cell.partial:
        return "split"
    place = place_of(code)
    assert place.country is not None  # noqa: S101 (a code names its country)
    if rule is None:
        return "subdivisions"
    return _label(rule, table.containing(place.country, day, place.chain)) or "subdivisions"


def _groups(feature: Feature, cells: Mapping[str, Cell], subdivisions: Mapping[str, Cell],
            classes: CountryClasses, day: dt.date) -> tuple[Group, ...]:  # fmt: skip
    rules = {rule.id: rule for rule in feature.rules}
    containing = classes.containing(day)
    # Countries with the same decision and jurisdictions share a label: find it once.
    alike: dict[tuple[Cell, tuple[str, ...]], list[str]] = {}
    for code, cell in cells.items():
        alike.setdefault((cell, containing[code]), []).append(code)
    Key = tuple[str, str | None, bool]  # noqa: N806 (a local type alias)
    countries: dict[Key, dict[str, list[str]]] = {}
    inside: dict[Key, dict[str, list[str]]] = {}
    for (cell, names), codes in alike.items():
        rule = rules.get(cell.rule) if cell.rule else None
        if cell.partial:
            label = "split"
        elif rule is not None:
            label = _label(rule, names) or "countries"
        else:
            label = next((j for j in names if j != "WORLD"), "elsewhere")
        key = (cell.effect, cell.rule, cell.partial)
        countries.setdefault(key, {}).setdefault(label, []).extend(codes)
    for code, cell in subdivisions.items():
        rule = rules.get(cell.rule) if cell.rule else None
        label = _subdivision_label(cell, rule, code, classes.table, day)
        key = (cell.effect, cell.rule, cell.partial)
        inside.setdefault(key, {}).setdefault(label, []).append(code)
    groups = [
        Group(
            effect,
            rule_id,
            rules[rule_id].reason if rule_id in rules else None,
            _ordered(countries.get((effect, rule_id, partial), {})),
            _ordered(inside.get((effect, rule_id, partial), {})),
            partial,
        )
        for effect, rule_id, partial in dict.fromkeys([*countries, *inside])
    ]
    groups.sort(key=lambda g: (g.effect != "deny", _rank(g.rule, g.partial), -len(g.places)))
    return tuple(groups)


def _rank(rule: str | None, partial: bool) -> int:
    """Rules first, then the partial setting, then the default."""
    return 0 if rule is not None else 1 if partial else 2


def _ordered(by_label: Mapping[str, list[str]]) -> Labelled:
    """Named jurisdictions first, the largest first; the other labels last."""
    return tuple(
        sorted(
            ((label, tuple(sorted(codes))) for label, codes in by_label.items()),
            key=lambda pair: (pair[0] in LABELS, -len(pair[1])),
        )
    )


def change_dates(policy: PolicySet, feature: str, start: dt.date, end: dt.date) -> list[dt.date]:
    """
    Return the days in ``(start, end]`` on which some decision of *feature* can change.

    A rule window opening or closing, or a change in the membership of a
    jurisdiction the feature's rules name (the UK leaving the EU, a region
    added to a sanctions list), counts. Auditing *start* and each returned
    day covers every date in the range, subdivisions included.
    """
    rules = [CompiledRule.from_rule(rule) for rule in policy.features[feature].rules]
    return [day for day in change_days(rules, policy.jurisdictions) if start < day <= end]


# The timeline: what changes, day by day.


class ChangeKind(enum.StrEnum):
    """How a place's decision changed from one day to the next, in the order they are shown."""

    #: Deny to allow.
    GAINED = "gained"
    #: Allow to deny.
    LOST = "lost"
    #: The same effect, now by the partial setting of a split place.
    SPLIT = "split"
    #: The same effect, no longer split.
    UNSPLIT = "unsplit"
    #: The same effect, another deciding rule, or another rest.
    RULE = "rule"


_CHANGE_ORDER = {kind: index for index, kind in enumerate(ChangeKind)}


@attrs.frozen
class ChangedPlaces:
    """
    Places whose decision changed the same way on one day: one group of a `DayChange`.

    Attributes:
        change: How it changed: gained, lost, split, unsplit or another rule.
        before: The decision the day before.
        after: The decision from that day.
        by_jurisdiction: Label -> country codes, as in `Group`.
        subdivisions: Label -> subdivision codes, as in `Group`.
    """

    change: ChangeKind
    before: Cell
    after: Cell
    by_jurisdiction: Labelled
    subdivisions: Labelled = ()

    @property
    def countries(self) -> tuple[str, ...]:
        """Every country in the group."""
        return tuple(code for _, codes in self.by_jurisdiction for code in codes)

    @property
    def places(self) -> tuple[str, ...]:
        """Every country and subdivision in the group."""
        return self.countries + tuple(code for _, codes in self.subdivisions for code in codes)


def _changes_dict(cells: Mapping[str, tuple[Cell, Cell]]) -> dict[str, object]:
    return {
        code: {"before": before.to_dict(), "after": after.to_dict()}
        for code, (before, after) in cells.items()
    }


@attrs.frozen
class DayChange:
    """
    Everything that changed for one feature on one day, and why.

    Attributes:
        day: The first day of the new decisions.
        cells: Country code -> (before, after), for the countries that changed.
        groups: The same, grouped: access gained, access lost, splits, rule changes.
        started: Ids of the feature's rules whose window opens that day.
        ended: Ids of its rules whose window closed the day before.
        membership: (jurisdiction, joined, left) for each jurisdiction its
            rules name whose members change that day.
        subdivisions: Subdivision code -> (before, after), for the
            subdivisions of the place space that changed.
    """

    day: dt.date
    cells: Mapping[str, tuple[Cell, Cell]]
    groups: tuple[ChangedPlaces, ...]
    started: tuple[str, ...] = ()
    ended: tuple[str, ...] = ()
    membership: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = ()
    subdivisions: Mapping[str, tuple[Cell, Cell]] = attrs.field(factory=dict)

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
            "countries": _changes_dict(self.cells),
            "subdivisions": _changes_dict(self.subdivisions),
            "groups": [
                {
                    "change": str(group.change),
                    "before": group.before.to_dict(),
                    "after": group.after.to_dict(),
                    "countries": {label: list(codes) for label, codes in group.by_jurisdiction},
                    "subdivisions": {label: list(codes) for label, codes in group.subdivisions},
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
        changes: The days on which some place's decision changes, in order.
        subdivisions: The subdivisions in the feature's place space, sorted.
        split_at_start: The countries split on the first day, sorted.
    """

    feature: Feature
    allowed_at_start: int
    changes: tuple[DayChange, ...]
    subdivisions: tuple[str, ...] = ()
    split_at_start: tuple[str, ...] = ()


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
                    "split_at_start": list(ft.split_at_start),
                    "subdivisions": list(ft.subdivisions),
                    "changes": [change.to_dict() for change in ft.changes],
                }
                for fid, ft in self.features.items()
            },
        }


def timeline(policy: PolicySet, start: dt.date, end: dt.date, *,
             features: Iterable[str] | None = None) -> Timeline:  # fmt: skip
    """
    Find, for each feature, the days in ``(start, end]`` on which a decision changes.

    A decision is a place's cell: its effect, its deciding rule, and whether
    it is split (and what its rest gets); the places are every country and
    every subdivision in the feature's place space. Candidate days come from
    `change_dates`; a day is reported only when some decision really changes
    on it.

    Raises:
        KeyError: naming a feature the policy set does not define.
    """
    table = policy.jurisdictions
    classes = CountryClasses(table)
    result: dict[str, FeatureTimeline] = {}
    for fid in _select(policy, features):
        rules = FeatureRules.of(policy.features[fid], table)
        before, before_inside = classes.places(rules, start)
        allowed = sum(cell.effect == "allow" for cell in before.values())
        split = tuple(code for code, cell in before.items() if cell.partial)
        changes: list[DayChange] = []
        for day in change_days(rules.rules, table):
            if not start < day <= end:
                continue
            after, after_inside = classes.places(rules, day)
            if after != before or after_inside != before_inside:
                changed = {
                    code: (cell, after[code])
                    for code, cell in before.items()
                    if cell != after[code]
                }
                changed_inside = {
                    code: (cell, after_inside[code])
                    for code, cell in before_inside.items()
                    if cell != after_inside[code]
                }
                changes.append(_day_change(rules, day, changed, changed_inside, classes))
            before, before_inside = after, after_inside
        result[fid] = FeatureTimeline(
            rules.feature, allowed, tuple(changes), rules.subdivisions, split
        )
    return Timeline(policy.revision, start, end, len(classes.countries), result)


def _day_change(rules: FeatureRules, day: dt.date, changed: dict[str, tuple[Cell, Cell]],
                changed_inside: dict[str, tuple[Cell, Cell]],
                classes: CountryClasses) -> DayChange:  # fmt: skip
    previous = day - dt.timedelta(days=1)
    table = classes.table
    by_id = {rule.id: rule for rule in rules.feature.rules}
    now, then = classes.containing(day), classes.containing(previous)
    Pair = tuple[Cell, Cell]  # noqa: N806 (a local type alias)
    # Countries that change alike and are in the same jurisdictions share a label.
    alike: dict[tuple[Cell, Cell, tuple[str, ...], tuple[str, ...]], list[str]] = {}
    for code, (before, after) in changed.items():
        alike.setdefault((before, after, then[code], now[code]), []).append(code)
    countries: dict[Pair, dict[str, list[str]]] = {}
    for (before, after, was_in, is_in), codes in alike.items():
        # The smaller of the jurisdictions the two rules match through: the EU
        # rule that ended, rather than the WORLD rule that decides from now on.
        sides = [
            (name, len(table.members_at(name, when)))
            for name, when in (
                (_label(by_id.get(after.rule or ""), is_in), day),
                (_label(by_id.get(before.rule or ""), was_in), previous),
            )
            if name is not None
        ]
        if before.partial or after.partial:
            label = "split"
        elif sides:
            label = min(sides, key=lambda side: side[1])[0]
        else:
            label = "countries" if before.rule or after.rule else "elsewhere"
        countries.setdefault((before, after), {}).setdefault(label, []).extend(codes)
    inside: dict[Pair, dict[str, list[str]]] = {}
    for code, (before, after) in changed_inside.items():
        label = (
            _subdivision_label(after, by_id.get(after.rule or ""), code, table, day)
            if after.rule or after.partial
            else _subdivision_label(before, by_id.get(before.rule or ""), code, table, previous)
        )
        inside.setdefault((before, after), {}).setdefault(label, []).append(code)
    groups = sorted(
        (
            ChangedPlaces(
                _kind(before, after),
                before,
                after,
                _ordered(countries.get((before, after), {})),
                _ordered(inside.get((before, after), {})),
            )
            for before, after in dict.fromkeys([*countries, *inside])
        ),
        key=lambda g: (
            _CHANGE_ORDER[g.change],
            -len(g.places),
            g.after.rule or "",
            g.before.rule or "",
        ),
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
        subdivisions=changed_inside,
    )


def _kind(before: Cell, after: Cell) -> ChangeKind:
    if before.effect != after.effect:
        return ChangeKind.GAINED if after.effect == Effect.ALLOW else ChangeKind.LOST
    if before.partial != after.partial:
        return ChangeKind.SPLIT if after.partial else ChangeKind.UNSPLIT
    return ChangeKind.RULE
