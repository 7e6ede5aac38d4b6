"""
The diff's law, checked against ``Gate.evaluate``: what a diff lists for a day is exactly
where the two sides decide differently.

`check_day` is shared by the laws on generated policy sets (`laws/test_policy_sets.py`) and the
subdivision tests (`review/test_diff_subdivisions.py`).
"""

from __future__ import annotations

from geogate._engine.decide import CompiledRule, inner_places
from geogate._world.countries import all_countries, subdivision_chain, subdivisions_of

__all__ = ["EXTRA_PROBES", "changes", "check_day", "evaluated", "listed"]

COUNTRIES = tuple(sorted(all_countries()))

#: Subdivisions probed besides every country and the subdivisions the rules name: places
#: inside named ones and places no rule names, which the diff shows as "the rest of" the
#: nearest named place around them.
EXTRA_PROBES = (
    "US-CA",
    "US-NY",
    "GB-ENG",
    "GB-ABE",
    "GB-ANN",
    "FR-75C",
    "FR-69",
    "ES-TF",
    "DE-BY",
    "UA-30",
    "UA-43",
)


def changes(result):
    """(feature, change) for every change *result* lists, the unknown location's too."""
    return [
        (name, change)
        for name, feature in result.features.items()
        for change in (*feature.gained, *feature.lost, *feature.unknown)
    ]


def _space(gates, name):
    """The subdivisions either side's rules of *name* name, with parents (`inner_places`)."""
    found = set()
    for gate in gates:
        feature = gate.policy.features.get(name)
        if feature is not None:
            rules = [CompiledRule.from_rule(rule) for rule in feature.rules]
            found |= inner_places(rules, gate.policy.jurisdictions)
    return frozenset(found)


def evaluated(gate, name, code, day):
    """
    (effect, rule) for a request from *code* by an account domiciled in its country.

    ``unknown``: a request with no location. A feature the set lacks denies everywhere.
    """
    if name not in gate.policy.features:
        return ("deny", None)
    if code == "unknown":
        decision = gate.evaluate(name, at=day)
    else:
        country = code.partition("-")[0]
        subdivision = code if "-" in code else None
        decision = gate.evaluate(
            name, country=country, subdivision=subdivision, domicile=country, at=day
        )
    return (str(decision.effect), decision.rule)


def _entry(code, space):
    """The diff's place for *code*: itself, or the rest of the nearest named place around it."""
    if "-" not in code or code in space:
        return (code, False)
    around = [parent for parent in subdivision_chain(code)[1:] if parent in space]
    return (around[0] if around else code.partition("-")[0], True)


def _container(place):
    """The place around a diff place: the place of its rest, the parent, the country, None."""
    code, rest = place
    if rest:
        return (code, False)
    if "-" not in code:
        return None
    chain = subdivision_chain(code)
    return (chain[1] if len(chain) > 1 else code.partition("-")[0], False)


def listed(result, day):
    """(feature, location, rest) -> (old effect, new effect, old rule, new rule, since) on *day*."""
    return {
        (name, c.location, c.rest): (c.old, c.new, c.old_rule, c.new_rule, c.since)
        for name, c in changes(result)
        if any(first <= day <= last for first, last in c.periods)
    }


def check_day(result, old, new, day, features):
    """
    Check what *result* lists for *day* against ``Gate.evaluate`` on gates *old* and *new*.

    Probed, for each of *features*: every country, every subdivision either side's rules
    name (with parents), a subdivision in the rest of each place with named ones inside,
    `EXTRA_PROBES`, and the unknown location. A probe whose effect differs is listed with
    both effects and rules: as itself, or as the rest of the nearest named place around
    it; or, where both sides decide it exactly as the place around it (effect and rule),
    as that place. The rules are checked on the first day a place is listed so (what a
    range shows). Nothing else is listed. Returns (feature, location, rest, old effect,
    new effect) of what is listed.
    """
    shown = listed(result, day)
    justified = set()
    for name in features:
        space = _space((old, new), name)
        probes = {*COUNTRIES, *space, *EXTRA_PROBES, "unknown"}
        for country in {code.partition("-")[0] for code in space}:
            rests = {}
            for code in subdivisions_of(country):
                rests.setdefault(_entry(code, space), code)
            probes.update(code for (_, rest), code in rests.items() if rest)
        for code in sorted(probes):
            was, now = evaluated(old, name, code, day), evaluated(new, name, code, day)
            if was[0] == now[0]:
                continue
            place = ("unknown", False) if code == "unknown" else _entry(code, space)
            while (name, *place) not in shown:
                outer = _container(place)
                assert outer is not None, (name, code, day, was, now)
                around = (evaluated(old, name, outer[0], day), evaluated(new, name, outer[0], day))
                assert (was, now) == around, (name, code, outer, day)
                place = outer
            old_effect, new_effect, old_rule, new_rule, since = shown[name, *place]
            assert (was[0], now[0]) == (old_effect, new_effect), (name, code, day)
            if day == since:
                assert (was[1], now[1]) == (old_rule, new_rule), (name, code, day)
            justified.add((name, *place))
    assert set(shown) == justified, day
    return {(*key, value[0], value[1]) for key, value in shown.items()}
