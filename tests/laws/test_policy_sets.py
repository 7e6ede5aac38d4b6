"""
Laws of decisions, audits, timelines and diffs, checked on whole random policy sets.

Each set (`helpers.policygen.policy_specs`) defines the custom jurisdictions NORDIC
and BLOC (random members, some of them jurisdictions, so its membership is
dated) and one to three features with a random basis, default, unknown
setting and up to five allow, deny and hard_deny rules, with windows and
``overrides:`` declarations. A set the loader refuses for ambiguous rules is
discarded; any other load error is a generator bug and fails the test.
Order independence is in `laws/test_decisions.py`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import tempfile
from pathlib import Path
from typing import NamedTuple
from unittest import mock

import attrs
import pycountry
import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from geogate import ErrorCode, LocationStatus, Reason
from geogate._load import analysis as _analysis
from geogate._load.loader import check_paths
from geogate._review.audit import audit, change_dates, timeline
from geogate._review.diff import diff_policies
from geogate._world.countries import PARTS_OF_COUNTRIES as PARTS
from geogate._world.countries import subdivision_chain, subdivisions_of
from helpers.diffcheck import changes, check_day
from helpers.policygen import (
    FEATURE_IDS,
    examples,
    load_spec,
    policy_files,
    policy_pairs,
    policy_specs,
    window,
)

pytestmark = pytest.mark.slow  # each example loads, audits and diffs whole policy sets

ISO_CODES = sorted({country.alpha_2 for country in pycountry.countries} | {"XK"})
SUBDIVISION_CODES = frozenset(subdivision.code for subdivision in pycountry.subdivisions)
JURISDICTION_NAMES = ("EU", "EEA", "EFTA", "UK", "WORLD", "NORDIC", "BLOC", "REGIONS")
ANY_DAY = st.dates(dt.date(1960, 1, 1), dt.date(2045, 12, 31))

#: Known places (country, subdivision): countries in and out of every generated
#: jurisdiction, a territory with its own code (RE), subdivisions inside subdivisions.
PLACES = [
    ("FR", None),
    ("FR", "FR-75C"),
    ("DE", None),
    ("AT", None),
    ("PL", None),
    ("RE", None),
    ("GB", None),
    ("GB", "GB-NIR"),
    ("GB", "GB-BFS"),
    ("ES", "ES-TF"),
    ("ES", "ES-CN"),
    ("NO", None),
    ("CH", None),
    ("LI", None),
    ("IE", None),
    ("SE", None),
    ("FI", None),
    ("IS", None),
    ("US", None),
    ("GL", None),
    ("JP", None),
]
DOMICILES = sorted({country for country, _ in PLACES})


def _load(spec):
    """Load *spec*; discard it (`hypothesis.assume`) only when its rules are ambiguous."""
    gate, errors = load_spec(spec)
    assert {code for severity, code, _ in errors if severity == "error"} <= {"ambiguous-rules"}
    event("refused: ambiguous rules" if gate is None else "loaded")
    assume(gate is not None)
    return gate


def _change_days(specs, policies):
    """
    Days on which a decision of *specs* can change: a rule window opens or closes, or the
    membership of a jurisdiction changes (tables of *policies*).
    """
    days = set()
    for spec in specs:
        for _, feature in spec.features:
            for rule in feature.rules:
                start, end = window(rule)
                days.update(d for d in (start, end and end + dt.timedelta(days=1)) if d)
    for policy in policies:
        for name in JURISDICTION_NAMES:
            days.update(policy.jurisdictions.boundaries(name))
    return days


def _edge_days(spec, policy):
    """The change days of *spec* and the day before each, sorted."""
    days = _change_days([spec], [policy])
    return sorted(days | {day - dt.timedelta(days=1) for day in days})


def _contains(target, country, subdivision, day, table):
    """Tell whether *target* contains the place on *day*, as the README defines targets."""
    if target in JURISDICTION_NAMES:
        chain = subdivision_chain(subdivision) if subdivision else ()
        return table.contains(target, country, chain, day)
    if "-" in target:
        return subdivision is not None and target in subdivision_chain(subdivision)
    return target == country


def _candidates(gate, name, feature, place, day, kinds):
    """Ids of *feature*'s rules of *kinds* active on *day* with a target containing *place*."""
    country, subdivision = place
    table = gate.policy.jurisdictions
    found = set()
    for index, rule in enumerate(feature.rules):
        kind, targets, _, _ = rule
        start, end = window(rule)
        active = (start is None or start <= day) and (end is None or day <= end)
        if (
            kind in kinds
            and active
            and any(_contains(t, country, subdivision, day, table) for t in targets)
        ):
            found.add(f"{name}-r{index}")
    return found


# 1. Hard deny wins.

BROAD_TARGETS = ["WORLD", "EU", "EEA", "BLOC", "NORDIC", "UK"]


@st.composite
def sets_with_hard_denies(draw):
    """A random set, where some features also get a hard_deny over one of their allow rules."""
    spec = draw(policy_specs())
    features = []
    for name, feature in spec.features:
        allows = [rule for rule in feature.rules if rule[0] == "allow"]
        if allows and draw(st.booleans()):
            _, targets, start, length = draw(st.sampled_from(allows))
            broader = draw(st.lists(st.sampled_from(BROAD_TARGETS), max_size=2, unique=True))
            broader = broader or targets  # the allow rule's own targets
            start = draw(st.sampled_from([start, None]))
            hard = ("hard_deny", tuple(broader), start, draw(st.sampled_from([length, None])))
            feature = attrs.evolve(  # noqa: PLW2901 (the feature, with one more rule)
                feature, rules=(*feature.rules, hard), overrides=(*feature.overrides, None)
            )
        features.append((name, feature))
    return attrs.evolve(spec, features=tuple(features))


def _hard_deny_days(spec):
    """Days inside, and at the edges of, the windows of hard_deny rules."""
    days = []
    for _, feature in spec.features:
        for rule in feature.rules:
            if rule[0] == "hard_deny":
                start, end = window(rule)
                start = start or dt.date(1990, 1, 1)
                end = end or dt.date(2040, 12, 31)
                days += [start, end, start + (end - start) / 2]
    return days or [dt.date(2026, 1, 1)]


@examples(40)
@given(spec=sets_with_hard_denies(), data=st.data())
def test_an_active_hard_deny_always_denies(spec, data):
    """
    Hard deny wins.

    For every feature, known place and day: when a ``hard_deny`` rule of the feature is
    active on the day (``from`` and ``until`` inclusive) and one of its targets contains
    the place the feature is decided on (the location; the domicile for ``basis:
    domicile``; either for ``location+domicile``) on that day, the decision is deny,
    whatever allow and deny rules (however specific) and ``overrides:`` say. The deciding
    rule is one of those hard_deny rules (``TARGETING_MATCH``), except under
    ``location+domicile`` when only the domicile has one: then the location's own denial
    is reported, which is still a deny.
    """
    gate = _load(spec)
    days = data.draw(
        st.lists(
            st.sampled_from(_hard_deny_days(spec))
            | st.sampled_from(_edge_days(spec, gate.policy))
            | ANY_DAY,
            min_size=2,
            max_size=4,
        )
    )
    domicile = data.draw(st.sampled_from(DOMICILES))
    for name, feature in spec.features:
        for place in PLACES:
            for day in days:
                here = _candidates(gate, name, feature, place, day, {"hard_deny"})
                home = _candidates(gate, name, feature, (domicile, None), day, {"hard_deny"})
                consulted = {"location": [here], "domicile": [home]}
                if not any(consulted.get(feature.basis, [here, home])):
                    continue
                country, subdivision = place
                decision = gate.evaluate(
                    name, country=country, subdivision=subdivision, domicile=domicile, at=day
                )
                assert (False, "deny") == (decision.allowed, decision.effect), (name, place, day)
                hard = home if feature.basis == "domicile" else here
                if hard:
                    assert decision.rule in hard, (name, place, day)
                    assert Reason.TARGETING_MATCH == decision.reason
                decided = (domicile, None) if feature.basis == "domicile" else place
                allows = _candidates(gate, name, feature, decided, day, {"allow"})
                if allows:
                    event("a hard_deny beat an active allow rule")
                if any(_names_place(feature.rules[_index(i)], decided) for i in allows):
                    event("a hard_deny beat an allow rule naming the place itself")


def _index(rule_id):
    """The index of a generated rule from its id (``f-r3`` is 3)."""
    return int(rule_id.rpartition("-r")[2])


def _names_place(rule, place):
    """Tell whether *rule* names the country or a subdivision of *place* (the most specific)."""
    country, subdivision = place
    chain = subdivision_chain(subdivision) if subdivision else ()
    return any(target == country or target in chain for target in rule[1])


# 2. No fail-open on unknown or invalid input.

PSEUDO_CODES = ["XX", "T1", "ZZ", "A1", "A2", "O1", "AP", "EU", "?", ""]
COUNTRY_SPELLINGS = frozenset(ISO_CODES) | {"UK", "EL"}
SHORT_SUBDIVISIONS = frozenset(code.partition("-")[2] for code in SUBDIVISION_CODES)


def _names_a_country(text):
    return text.isascii() and (text.upper() in COUNTRY_SPELLINGS or text.upper() in PARTS)


def _could_name_a_subdivision(text):
    """Whether *text* is a subdivision, or well formed enough to name its country alone."""
    upper = text.upper()
    well_formed = re.fullmatch(r"[A-Z0-9]{1,3}", upper) is not None
    return text.isascii() and (
        "-" in text or upper in SHORT_SUBDIVISIONS or upper == "" or well_formed
    )


def _both_cases(values):
    return st.sampled_from(values).flatmap(lambda v: st.sampled_from([v, v.lower()]))


known_countries = _both_cases([*ISO_CODES, "UK", "EL", *PARTS])
unknown_countries = st.none() | _both_cases(PSEUDO_CODES)
invalid_countries = st.sampled_from(
    ["GER", " FR", "FR ", "FRA", "France", "ß", "\uff26\uff32", "fr\n", "\x00", "E U", "GB-NIR"]
) | st.text(max_size=6).filter(lambda t: not _names_a_country(t) and t.upper() not in PSEUDO_CODES)
invalid_subdivisions = st.text(min_size=1, max_size=6).filter(
    lambda t: not _could_name_a_subdivision(t)
) | st.sampled_from(["GB-XYZW", "XX-01", "FR-", "-", "NIR-GB", "\uff27\uff22-NIR"])
#: Subdivisions of other countries than the one given, none of them a country of its own.
FOREIGN_SUBDIVISIONS = ["GB-NIR", "FR-IDF", "ES-CN", "DE-BY", "US-CA"]
wrong_types = (
    st.integers()
    | st.booleans()
    | st.floats(allow_nan=False)
    | st.binary(max_size=3)
    | st.lists(st.sampled_from(["FR", "XX"]), max_size=2)
    | st.tuples(st.just("FR"))
)


class Request(NamedTuple):
    """Location input, and what it is by construction."""

    country: object
    subdivision: object
    domicile: object
    location: LocationStatus
    domicile_status: LocationStatus
    wrong_type: bool


def _location_status(kind, country, subdivision):
    """What a country of *kind* with *subdivision* is (wrong types aside)."""
    if kind == "invalid":
        return LocationStatus.INVALID
    if subdivision is None or subdivision == "":
        return LocationStatus(kind)
    if kind == "known":  # every drawn subdivision is foreign or not a code
        return LocationStatus.INVALID
    # An unknown country: a pseudo-code stays unknown whatever the subdivision says;
    # with no country (or an empty one) the subdivision must name its country, and
    # every drawn one is not a code.
    return LocationStatus.UNKNOWN if country else LocationStatus.INVALID


@st.composite
def requests(draw):
    """A request whose location or domicile is often unknown, invalid or of a wrong type."""
    kind = draw(st.sampled_from(["known", "unknown", "invalid", "wrong"]))
    country = draw(
        {
            "known": known_countries,
            "unknown": unknown_countries,
            "invalid": invalid_countries,
            "wrong": wrong_types,
        }[kind]
    )
    subdivisions = [st.none(), st.none(), st.just(""), invalid_subdivisions, wrong_types]
    if kind == "known":
        canonical = {"UK": "GB", "EL": "GR"}.get(country.upper(), country.upper())
        if canonical in PARTS:
            canonical = PARTS[canonical].country
        foreign = [code for code in FOREIGN_SUBDIVISIONS if code.partition("-")[0] != canonical]
        subdivisions.append(st.sampled_from(foreign))
    if kind == "invalid":  # an invalid country makes even a valid subdivision invalid
        subdivisions.append(st.sampled_from(["GB-NIR", "FR-IDF"]))
    # Not drawn: a valid subdivision with an unknown country, which names its country.
    subdivision = draw(st.one_of(subdivisions))
    domicile_kind = draw(st.sampled_from(["known", "unknown", "invalid", "wrong"]))
    domicile = draw(
        {
            "known": known_countries,
            "unknown": unknown_countries,
            "invalid": invalid_countries,
            "wrong": wrong_types,
        }[domicile_kind]
    )
    values = (country, subdivision, domicile)
    wrong = any(v is not None and not isinstance(v, str) for v in values)
    return Request(
        country,
        subdivision,
        domicile,
        location=_location_status(kind, country, subdivision) if not wrong else None,
        domicile_status=LocationStatus(domicile_kind) if not wrong else None,
        wrong_type=wrong,
    )


@examples(40)
@given(spec=policy_specs(), batch=st.lists(requests(), min_size=5, max_size=10), day=ANY_DAY)
def test_unknown_or_invalid_input_never_fails_open(spec, batch, day):
    """
    No fail-open on unknown or invalid input; invalid is not unknown.

    A country, subdivision or domicile of a wrong type (not a string, not None) denies with
    ``INVALID_CONTEXT`` (reason ``ERROR``, no rule), whatever the feature's ``unknown:``
    says. An invalid signal the feature is decided on (a string that is no ISO code, a
    subdivision that is no code or lies in another country) denies the same way, with an
    invalid location: ``unknown: allow`` never lets it in. An unknown one (no country; a
    pseudo-code such as XX, ZZ, T1, EU or '') gets the feature's ``unknown`` effect, with
    reason ``DEFAULT``, no rule and no jurisdictions. Under ``location+domicile`` the
    request is allowed exactly when each signal is: a known one by its own decision, an
    unknown one by ``unknown: allow``, an invalid one never. The same holds for
    ``is_allowed`` and for today's memoised decisions.
    """
    gate = _load(spec)
    for name, feature in spec.features:
        unknown_allows = feature.unknown == "allow"
        for request in batch:
            given_ = {
                "country": request.country,
                "subdivision": request.subdivision,
                "domicile": request.domicile,
            }
            decision = gate.evaluate(name, at=day, **given_)
            today = [gate.is_allowed(name, **given_), gate.evaluate(name, **given_).allowed]
            assert decision.allowed == gate.is_allowed(name, at=day, **given_)
            if request.wrong_type:
                assert (False, Reason.ERROR, ErrorCode.INVALID_CONTEXT, None) == (
                    decision.allowed,
                    decision.reason,
                    decision.error_code,
                    decision.rule,
                ), request
                assert [False, False] == today
                continue
            signals = {
                "location": [request.location],
                "domicile": [request.domicile_status],
                "location+domicile": [request.location, request.domicile_status],
            }[feature.basis]
            if all(status is LocationStatus.KNOWN for status in signals):
                continue
            event(f"unknown or invalid input, basis {feature.basis}")
            if LocationStatus.INVALID in signals:
                assert not decision.allowed, request
                assert [False, False] == today, request
            assert unknown_allows or not decision.allowed, request
            assert unknown_allows or not any(today), request
            if feature.basis != "location+domicile":
                status = signals[0]
                if status is LocationStatus.INVALID:
                    expected = (False, "deny", None, Reason.ERROR, ErrorCode.INVALID_CONTEXT, ())
                else:
                    expected = (unknown_allows, feature.unknown, None, Reason.DEFAULT, None, ())
                assert expected == (
                    decision.allowed,
                    decision.effect,
                    decision.rule,
                    decision.reason,
                    decision.error_code,
                    decision.jurisdictions,
                ), request
                assert status == decision.location, request
                assert [expected[0], expected[0]] == today
            else:
                allowed = []
                for status, value in zip(signals, (request.country, request.domicile), strict=True):
                    if status is LocationStatus.KNOWN:
                        allowed.append(gate.is_allowed(name, country=value, domicile=value, at=day))
                    else:
                        allowed.append(status is LocationStatus.UNKNOWN and unknown_allows)
                assert all(allowed) == decision.allowed, request


# 3. audit == eval.


def _named_subdivisions(spec, name, table):
    """
    The subdivisions feature *name*'s rules name, directly or through REGIONS (any date),
    with their ISO parents: the audit's place space below the country.
    """
    feature = spec.feature(name)
    held = {code for code, _, _ in spec.regions if "-" in code}
    codes = set()
    for _, targets, _, _ in feature.rules:
        for target in targets:
            if "-" in target:
                codes.add(target)
            elif target == "REGIONS":
                codes |= held
            elif target in table:
                codes |= table.held(target)
    return {parent for code in codes for parent in subdivision_chain(code)}


def _rest_probe(country, space):
    """A subdivision of *country* with no place of *space* around or inside it, or None."""
    for code in subdivisions_of(country):
        chain = subdivision_chain(code)
        if any(parent in space for parent in chain):
            continue
        if any(code in subdivision_chain(inner) for inner in space):
            continue
        return code
    return None


@examples(30)
@given(spec=policy_specs(partials=True), data=st.data())
def test_every_audit_cell_is_what_eval_says(spec, data):
    """
    audit == eval, for every country and every subdivision in a feature's place space.

    On any day, every country cell of the audit of a set (every feature, every ISO 3166-1
    code and XK), as `audit()` gives it and as ``geogate audit --format json`` prints it,
    has the effect and deciding rule of ``Gate.evaluate(feature, country=code,
    domicile=code, at=day)``, the request naming only that country; for a feature
    decided on location, ``evaluate(feature, country=code, at=day)`` says the same. A
    country cell is ``partial`` exactly when that decision explains that the country is
    split; for a feature decided on location its ``rest`` is what a subdivision of the
    country with no named place around or inside it gets. The subdivision cells are
    exactly the subdivisions the feature's rules name, directly or through a
    jurisdiction on any date, with their parents (none for a feature decided on
    domicile), printed under their country, and each has the effect and rule of
    ``evaluate(feature, country=its country, subdivision=code, domicile=its country,
    at=day)``. The audit's ``unknown`` is the effect of a request with no location; each
    feature prints its ``basis`` and ``partial`` setting.
    """
    gate = _load(spec)
    policy = gate.policy
    edges = st.sampled_from(_edge_days(spec, policy))
    days = data.draw(st.lists(edges | ANY_DAY, min_size=1, max_size=3))
    for day in sorted(set(days)):
        report = audit(policy, at=day)
        printed = report.to_dict()
        assert (policy.revision, day.isoformat()) == (printed["revision"], printed["as_of"])
        assert [name for name, _ in spec.features] == sorted(report.features)
        for name, feature in spec.features:
            found = report.features[name]
            shown = printed["features"][name]
            assert (feature.basis, feature.partial) == (shown["basis"], shown["partial"])
            cells = found.cells
            assert ISO_CODES == sorted(cells)
            space = _named_subdivisions(spec, name, policy.jurisdictions)
            expected_space = set() if feature.basis == "domicile" else space
            assert sorted(expected_space) == list(found.subdivisions)
            for code in ISO_CODES:
                decision = gate.evaluate(name, country=code, domicile=code, at=day)
                expected = (decision.effect, decision.rule)
                cell = cells[code]
                assert expected == (cell.effect, cell.rule), (name, code, day)
                assert cell.partial == (f"{code} is split on" in decision.explanation), (
                    name,
                    code,
                    day,
                )
                assert cell.to_dict() == {
                    key: value
                    for key, value in shown["countries"][code].items()
                    if key != "subdivisions"
                }
                assert {"effect": expected[0], "rule": expected[1]} == {
                    key: shown["countries"][code][key] for key in ("effect", "rule")
                }
                if feature.basis == "location":
                    alone = gate.evaluate(name, country=code, at=day)
                    assert expected == (alone.effect, alone.rule), (name, code, day)
                    probe = _rest_probe(code, space) if cell.partial else None
                    if probe is not None:
                        rest = gate.evaluate(name, country=code, subdivision=probe, at=day)
                        assert (rest.effect, rest.rule) == cell.rest[:2], (name, code, day)
                        event("the rest of a split country checked")
            for code, cell in found.subdivisions.items():
                country = code.partition("-")[0]
                decision = gate.evaluate(
                    name, country=country, subdivision=code, domicile=country, at=day
                )
                assert (decision.effect, decision.rule) == (cell.effect, cell.rule), (
                    name,
                    code,
                    day,
                )
                assert cell.to_dict() == shown["countries"][country]["subdivisions"][code]
                if feature.basis == "location":
                    alone = gate.evaluate(name, country=country, subdivision=code, at=day)
                    assert (alone.effect, alone.rule) == (cell.effect, cell.rule)
            nested = {code.partition("-")[0] for code in found.subdivisions}
            assert nested == {c for c, v in shown["countries"].items() if "subdivisions" in v}
            if found.split:
                event("a split country")
            if found.subdivisions:
                event("subdivision cells")
            unknown = gate.evaluate(name, at=day).effect
            assert unknown == found.unknown == shown["unknown"]


@examples(20)
@given(spec=policy_specs(partials=True), data=st.data())
def test_timeline_lists_exactly_the_places_whose_cell_changes(spec, data):
    """
    The timeline is the difference of the audits on consecutive change days.

    Over a range, the days the timeline of a feature lists are exactly the change days in
    the range on which some cell (a country or a subdivision of the place space: effect,
    rule, whether it is split and what its rest gets) differs from the audit of the day
    before, and each lists exactly those places, with both cells, grouped by how they
    changed (``gained``: deny to allow, ``lost``: allow to deny, ``split``/``unsplit``:
    the same effect and the place becomes split or stops being so, ``rule``: otherwise).
    """
    gate = _load(spec)
    policy = gate.policy
    ends = st.sampled_from(_edge_days(spec, policy)) | st.dates(
        dt.date(1995, 1, 1), dt.date(2035, 12, 31)
    )
    start, end = sorted([data.draw(ends), data.draw(ends)])
    assume(start < end)
    found = timeline(policy, start, end)
    for name, _ in spec.features:
        candidates = [start, *change_dates(policy, name, start, end)]
        listed = {change.day: change for change in found.features[name].changes}
        previous = audit(policy, at=start, features=[name]).features[name]
        assert previous.allowed == found.features[name].allowed_at_start
        assert previous.split == found.features[name].split_at_start
        for day in candidates[1:]:
            now = audit(policy, at=day, features=[name]).features[name]
            countries = {
                code: (cell, now.cells[code])
                for code, cell in previous.cells.items()
                if cell != now.cells[code]
            }
            inside = {
                code: (cell, now.subdivisions[code])
                for code, cell in previous.subdivisions.items()
                if cell != now.subdivisions[code]
            }
            change = listed.pop(day, None)
            if not countries and not inside:
                assert change is None, (name, day)
                continue
            assert change is not None, (name, day)
            assert (countries, inside) == (dict(change.cells), dict(change.subdivisions))
            grouped = {}
            for group in change.groups:
                for code in group.places:
                    grouped[code] = (group.change, group.before, group.after)
            for code, (before, after) in {**countries, **inside}.items():
                kind = (
                    ("gained" if after.effect == "allow" else "lost")
                    if before.effect != after.effect
                    else ("split" if after.partial else "unsplit")
                    if before.partial != after.partial
                    else "rule"
                )
                assert (kind, before, after) == grouped.pop(code), (name, day, code)
                event(f"a {kind} change in a {'subdivision' if '-' in code else 'country'}")
            assert {} == grouped
            previous = now
        assert {} == listed, name


# 4. diff(A, A) is empty.


@examples(15)
@given(spec=policy_specs(), data=st.data())
def test_diff_of_a_set_with_itself_is_empty(spec, data):
    """
    diff(A, A) is empty.

    Comparing a set with itself, or with a copy written with every feature's rules in
    another order and one file per feature, lists no feature and no new access, on any
    day and over any range.
    """
    policy = _load(spec).policy
    orders = {name: data.draw(st.permutations(range(len(f.rules)))) for name, f in spec.features}
    copy, errors = load_spec(spec, orders, split=True)
    assert copy is not None, errors
    day = data.draw(ANY_DAY)
    start = data.draw(ANY_DAY)
    end = start + dt.timedelta(days=data.draw(st.integers(0, 10 * 365)))
    for old, new in ((policy, policy), (policy, copy.policy)):
        on_day = diff_policies(old, new, at=day)
        over = diff_policies(old, new, start=start, end=end)
        assert ({}, False, True) == (on_day.features, on_day.new_access, on_day.empty)
        assert ({}, False, True) == (over.features, over.new_access, over.empty)


# 5. diff(A, B) lists exactly the places where Gate.evaluate on A and on B differs.


def _comparable(feature):
    """What diff compares of a feature: settings, and per rule id its content."""
    rules = {
        f"r{index}": (kind, frozenset(targets), window(rule), feature.overrides[index])
        for index, rule in enumerate(feature.rules)
        for kind, targets, _, _ in [rule]
    }
    return feature.default, feature.unknown, feature.basis, rules, feature.partial


@examples(25)
@given(pair=policy_pairs(), day=ANY_DAY)
def test_diff_on_a_day_lists_exactly_the_cells_audits_differ_on(pair, day):
    """
    diff(A, B) on a day is the difference of ``Gate.evaluate`` on A and on B.

    The places compared are every country (a request naming only it), every subdivision
    either side's rules name (with parents), and the rest of each place with named places
    inside; a request from a place is by an account domiciled in its country. Every place
    (feature, location or ``unknown``, old effect, new effect, old and new deciding rule)
    the diff lists differs so between ``Gate.evaluate`` on A and on B, in both directions,
    and every place that differs is listed (`helpers.diffcheck.check_day`); a feature a side does
    not define counts as deny everywhere, its unknown location included. Gains have the
    new effect allow, losses deny; there is new access exactly when some place goes from
    deny to allow. A feature only B defines is listed as ``added``, one only A defines as
    ``removed`` (whether or not any place differs); a feature both define is listed, as
    ``changed``, exactly when a place differs or its settings or rules (by id: kind,
    targets, window, overrides) differ.
    """
    spec_a, spec_b = pair
    gate_a, gate_b = _load(spec_a), _load(spec_b)
    for (old, old_spec), (new, new_spec) in (
        ((gate_a, spec_a), (gate_b, spec_b)),
        ((gate_b, spec_b), (gate_a, spec_a)),
    ):
        result = diff_policies(old.policy, new.policy, at=day)
        listed = check_day(result, old, new, day, FEATURE_IDS)
        for feature in result.features.values():
            assert all(c.new == "allow" for c in feature.gained)
            assert all(c.new == "deny" for c in feature.lost)
            assert all(c.location == "unknown" for c in feature.unknown)
        assert all(((day, day),) == c.periods for _, c in changes(result))
        assert any(key[4] == "allow" for key in listed) == result.new_access
        for name in FEATURE_IDS:
            before, after = old_spec.feature(name), new_spec.feature(name)
            shown = result.features.get(name)
            if before is None or after is None:
                status = None if before is after else "added" if before is None else "removed"
                assert status == (shown and shown.status)
                continue
            differs = _comparable(before) != _comparable(after) or any(
                key[0] == name for key in listed
            )
            assert differs == (shown is not None), name
            if shown is not None:
                assert "changed" == shown.status
                ids = (set(_comparable(before)[3]), set(_comparable(after)[3]))
                assert {f"{name}-{i}" for i in ids[1] - ids[0]} == {r.id for r in shown.rules_added}
                assert {f"{name}-{i}" for i in ids[0] - ids[1]} == {
                    r.id for r in shown.rules_removed
                }
        event("places differ" if listed else "no place differs")
        if any(key[1] != "unknown" and ("-" in key[1] or key[2]) for key in listed):
            event("a subdivision or the rest of a place differs")


@examples(20)
@given(pair=policy_pairs(), data=st.data())
def test_diff_over_a_range_is_the_union_of_daily_differences(pair, data):
    """
    diff(A, B) over a range is the union of the daily differences.

    Over [start, end], a place (feature, location, old effect, new effect) is listed as
    differing on a day (one of its periods contains it) exactly when ``Gate.evaluate`` on
    A and on B differs so that day (`helpers.diffcheck.check_day`): checked on start, end, a
    random day, and every day in the range on which a decision of either set can change (a
    rule window opens or closes, a jurisdiction's membership changes) and the day before
    each. The places listed are the union of those daily differences, and their periods
    are disjoint, in order, and inside [start, end].
    """
    spec_a, spec_b = pair
    gate_a, gate_b = _load(spec_a), _load(spec_b)
    policy_a, policy_b = gate_a.policy, gate_b.policy
    edges = _change_days([spec_a, spec_b], [policy_a, policy_b])
    recent = sorted(day for day in edges if day.year >= 1995)
    ends = st.sampled_from(recent) | st.dates(dt.date(1995, 1, 1), dt.date(2045, 12, 31))
    start, end = sorted([data.draw(ends), data.draw(ends)])
    result = diff_policies(policy_a, policy_b, start=start, end=end)
    probes = {start, end, data.draw(st.dates(start, end))}
    probes |= {d + dt.timedelta(days=k) for d in edges for k in (-1, 0) if start < d <= end}
    union = set()
    for day in sorted(probes):
        union |= check_day(result, gate_a, gate_b, day, FEATURE_IDS)
    assert union == {(name, c.location, c.rest, c.old, c.new) for name, c in changes(result)}
    assert any(key[4] == "allow" for key in union) == result.new_access
    for _, change in changes(result):
        bounds = [day for period in change.periods for day in period]
        assert bounds == sorted(bounds)
        assert start <= bounds[0]
        assert bounds[-1] <= end
        assert all(a < b for (_, a), (b, _) in itertools.pairwise(change.periods))
    event(f"{len(probes)} days probed" if len(probes) < 10 else "10 or more days probed")


@examples(60)
@given(spec=policy_specs())
def test_analysis_findings_do_not_depend_on_reusing_configurations(spec):
    """
    The load-time analysis reuses a day's findings for a later day with the same
    active rules and memberships; analysing every change day afresh must report
    exactly the same diagnostics (ambiguity, undeclared and ineffective overrides,
    with the same dates), in the same order.
    """
    original = _analysis._check_specificity

    def fresh_every_day(*args, **kwargs):
        return original(*args, **kwargs, reuse=False)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "policies"
        folder.mkdir()
        for name, text in policy_files(spec).items():
            (folder / name).write_text(text, encoding="utf-8")
        _, reused = check_paths([folder])
        with mock.patch.object(_analysis, "_check_specificity", fresh_every_day):
            _, fresh = check_paths([folder])
    event("with findings" if reused else "clean")
    assert [str(d) for d in reused] == [str(d) for d in fresh]
