"""
A policy set as a flagd flag-definition document (``geogate export --format flagd``).

Each feature becomes a boolean flag. Its targeting is a lookup, not a
translation of the rules: for every stretch of days between two change dates
(`geogate._engine.decide.change_days`), the engine decides every country,
every subdivision that a rule names (with the places inside it and the
territories ISO 3166-1 codes as countries of their own) and the rest of each
country, and the targeting maps the evaluation context's ``country``,
``subdivision`` and ``domicile`` to the deciding variant. The windows are
conditions on ``$flagd.timestamp``: a date D is [D 00:00 UTC, D+1 00:00 UTC).

Variants name the effect and what decided, ``deny:eu-multimodal-withheld``,
``allow:default``, ``deny:partial``, ``deny:unknown``; two more deny
variants fail closed: ``deny:invalid`` (a wrong-typed attribute, a
contradiction) and ``deny:unrecognised`` (an input this export cannot read:
see `UNREAD`), which is also the flag's default variant.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import TYPE_CHECKING, Final

from geogate._engine.decide import (
    CompiledRule,
    Location,
    Outcome,
    OutcomeKind,
    change_days,
    decide,
    decide_place,
    inner_places,
    resolve_location,
)
from geogate._policy.model import Basis, Effect
from geogate._world.countries import (
    ALIASES,
    SUBDIVISIONS_WITH_COUNTRY_CODE,
    UNKNOWN_CODES,
    LocationStatus,
    all_countries,
    subdivision_chain,
    subdivisions_of,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from geogate._policy.model import Feature, PolicySet
    from geogate._world.jurisdictions import JurisdictionTable

__all__ = [
    "DENY_INVALID",
    "DENY_UNRECOGNISED",
    "SCHEMA_URL",
    "UNREAD",
    "export_flagd",
    "render_flagd",
    "variant_of",
]

#: The flag-definition schema the document declares (and is tested against).
SCHEMA_URL: Final = "https://flagd.dev/schema/v0/flags.json"
#: A wrong-typed attribute or a contradiction (``RU`` with ``UA-43``): geogate denies it too.
DENY_INVALID: Final = "deny:invalid"
#: An input the export cannot read, and the flag's default variant.
DENY_UNRECOGNISED: Final = "deny:unrecognised"
#: What the export cannot read, so it denies where geogate might decide otherwise.
UNREAD: Final = (
    "an IP address to be located (``ip`` without ``country`` or ``subdivision``)",
    (
        "country and domicile spellings other than the code in upper, lower or mixed case "
        "(``FR``, ``fr``, ``Fr``, ``fR``), ``UK`` and ``EL``: surrounding spaces, alpha-3 codes"
    ),
    (
        "the codes for part of a country (``IC``, ``EA``, ``FX``, ``XI``, ``AC``, ``CP``, "
        "``DG``, ``TA``)"
    ),
    (
        "a subdivision other than its full ISO 3166-2 code in upper case (``US-IL``): "
        "``us-il``, ``IL``, ``UK-SCT``, and well-formed codes geogate does not know (``US-ZZ``)"
    ),
)

_DAY_SECONDS: Final = 86_400
_EPOCH: Final = dt.date(1970, 1, 1)
_NOTHING: Final = [None, ""]
_TIMESTAMP: Final = {"var": "$flagd.timestamp"}
_ATTRIBUTES: Final = ("country", "subdivision", "domicile")
#: An IP address without a country or subdivision: geogate would locate it.
_IP_ALONE: Final = {
    "and": [
        {"!": [{"in": [{"var": "ip"}, [None]]}]},
        {"in": [{"var": "country"}, [None]]},
        {"in": [{"var": "subdivision"}, [None]]},
    ]
}


def export_flagd(policy: PolicySet, features: Iterable[str] | None = None) -> dict[str, object]:
    """
    Compile *policy* (or only *features* of it) into a flagd flag-definition document.

    Deterministic: keys, lists and branches are sorted, so the same policy set
    gives the same bytes (`render_flagd`).
    """
    selected = sorted(policy.features if features is None else set(features))
    table = policy.jurisdictions
    spellings = _country_spellings()
    evaluators: dict[str, object] = {
        "geogate-typed": {"and": [_typed(name) for name in _ATTRIBUTES]},
        "geogate-country-read": _member({"var": "country"}, spellings),
        "geogate-domicile-read": _member({"var": "domicile"}, spellings),
        "geogate-subdivision-read": _member({"var": "subdivision"}, _all_subdivisions()),
        "geogate-consistent": _consistent(spellings),
    }
    flags: dict[str, object] = {}
    for fid in selected:
        feature = policy.features[fid]
        compiler = _FeatureCompiler(feature, table, spellings)
        flags[fid] = compiler.flag(policy.revision)
    return {
        "$schema": SCHEMA_URL,
        "metadata": {
            "flagSetId": "geogate",
            "version": policy.revision,
            "generator": "geogate export --format flagd",
        },
        "$evaluators": dict(sorted(evaluators.items())),
        "flags": flags,
    }


def render_flagd(document: Mapping[str, object]) -> str:
    """Return *document* as compact, deterministic JSON text with a final newline."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=False) + "\n"


def _typed(name: str) -> dict[str, object]:
    """
    JsonLogic: the attribute is absent, null or a string.

    flagd's ``starts_with`` is true only for two strings, and tests the type
    without turning the value into a string: ``cat`` of a deeply nested list
    or of a huge int raises inside json-logic, and an error in the targeting
    makes the SDK return the caller's default.
    """
    value = {"var": name}
    # A number or a boolean has no length: it never reaches starts_with, whose
    # Python implementation formats its argument into a debug message (an int
    # of more than 4,300 digits cannot be).
    has_length = _not({"in": [{"var": f"{name}.length"}, [None]]})
    return {"or": [{"in": [value, [None]]}, {"and": [has_length, {"starts_with": [value, ""]}]}]}


#: Lists longer than this are tested as one delimited string (`_member`).
_LONG: Final = 8
#: The delimiter of those strings: in no code, so a value holding it is in no list.
_SEPARATOR: Final = ","


def _member(value: object, items: Iterable[str]) -> dict[str, object]:
    """
    JsonLogic: *value*, a non-empty string, is one of *items*.

    A short list is a JsonLogic array. A long one is one string, ``",AD,AE,"``,
    and the test ``",FR," in it`` with no ``,`` in the value: JsonLogic
    evaluates an array's every element on every evaluation (5,000 ISO 3166-2
    codes cost flagd's Python evaluator about 1 ms), a string literal once.
    Callers test the value against ``[None, ""]`` first: ``cat`` spells null
    differently in each JsonLogic implementation.
    """
    members = sorted(items)
    if len(members) <= _LONG:
        return {"in": [value, members]}
    assert all(_SEPARATOR not in member and member for member in members)  # noqa: S101
    joined = _SEPARATOR + _SEPARATOR.join(members) + _SEPARATOR
    return {
        "and": [
            _not({"in": [_SEPARATOR, value]}),
            {"in": [{"cat": [_SEPARATOR, value, _SEPARATOR]}, joined]},
        ]
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": name}


def _not(rule: object) -> dict[str, object]:
    return {"!": [rule]}


def _country_spellings() -> dict[str, str]:
    """Every case spelling of every country code, ``UK`` and ``EL`` -> the ISO code."""
    found: dict[str, str] = {}
    for alias, code in (*((c, c) for c in all_countries()), *ALIASES.items()):
        first, second = alias[0], alias[1]
        for spelling in (alias, alias.lower(), first + second.lower(), first.lower() + second):
            found[spelling] = code
    return dict(sorted(found.items()))


def _unknown_spellings() -> list[str]:
    """The case spellings of the pseudo-codes for an unknown place (``XX``, ``t1``)."""
    found = {
        spelling
        for code in UNKNOWN_CODES
        for spelling in {
            code,
            code.lower(),
            code[:1] + code[1:].lower(),
            code[:1].lower() + code[1:],
        }
    }
    return sorted(spelling for spelling in found if spelling)


def _all_subdivisions() -> list[str]:
    return sorted(code for country in all_countries() for code in subdivisions_of(country))


def _consistent(spellings: Mapping[str, str]) -> dict[str, object]:
    """
    JsonLogic: ``country`` and ``subdivision`` (both read) name one place.

    The subdivision is in the country (``fr=FR-``, its first three characters),
    or ISO 3166-1 codes it as that country (``re=FR-974``): one string of
    every such pair, as `_member` builds them.
    """
    pairs = {f"{spelling}={code}-" for spelling, code in spellings.items() if subdivisions_of(code)}
    pairs |= {
        f"{spelling}={sub}"
        for spelling, code in spellings.items()
        for sub, owner in SUBDIVISIONS_WITH_COUNTRY_CODE.items()
        if owner == code
    }
    joined = _SEPARATOR + _SEPARATOR.join(sorted(pairs)) + _SEPARATOR
    country, subdivision = {"var": "country"}, {"var": "subdivision"}
    return {
        "or": [
            {
                "in": [
                    {"cat": [_SEPARATOR, country, "=", _prefix(subdivision, 3), _SEPARATOR]},
                    joined,
                ]
            },
            {"in": [{"cat": [_SEPARATOR, country, "=", subdivision, _SEPARATOR]}, joined]},
        ]
    }


def _prefix(value: object, length: int) -> dict[str, object]:
    """JsonLogic: the first *length* characters of *value*."""
    return {"substr": [value, 0, length]}


#: What decided, when no rule did; a rule with one of these ids is named ``EFFECT:rule:ID``.
_NOT_RULES: Final = frozenset({*(kind.value for kind in OutcomeKind), "unrecognised"})


def variant_of(outcome: Outcome) -> str:
    """Name the variant for an engine outcome: effect, then the rule or what decided."""
    kind = outcome.kind
    if kind is OutcomeKind.INVALID:
        return DENY_INVALID
    if kind is OutcomeKind.RULE and outcome.rule is not None:
        rule = outcome.rule.id
        return f"{outcome.effect}:rule:{rule}" if rule in _NOT_RULES else f"{outcome.effect}:{rule}"
    return f"{outcome.effect}:{kind.value}"


def _lookup(value: object, groups: Mapping[str, Sequence[str]], fallback: object) -> object:
    """
    JsonLogic: the variant whose group holds *value*.

    With *fallback* None the largest group is the last branch, unconditioned
    (the caller has checked that *value* is in some group).
    """
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    if not ordered:
        return fallback
    if fallback is None:
        fallback, _ = ordered[0]
        ordered = ordered[1:]
    branches: list[object] = []
    for variant, members in sorted(ordered):
        branches.extend([_member(value, members), variant])
    return {"if": [*branches, fallback]} if branches else fallback


def _over_time(starts: Sequence[dt.date], parts: Sequence[object]) -> object:
    """
    JsonLogic: *parts[i]* from *starts[i]* (00:00 UTC) until the next start.

    Adjacent equal parts merge into one.
    """
    merged: list[tuple[dt.date, object]] = []
    for start, part in zip(starts, parts, strict=True):
        if merged and merged[-1][1] == part:
            continue
        merged.append((start, part))
    if len(merged) == 1:
        return merged[0][1]
    branches: list[object] = []
    for (_, part), (following, _) in itertools.pairwise(merged):
        branches.extend([{"<": [_TIMESTAMP, (following - _EPOCH).days * _DAY_SECONDS]}, part])
    return {"if": [*branches, merged[-1][1]]}


class _FeatureCompiler:
    """One feature's flag: every place decided by the engine on every change date."""

    def __init__(
        self, feature: Feature, table: JurisdictionTable, spellings: Mapping[str, str]
    ) -> None:
        self.feature = feature
        self.table = table
        self.spellings = spellings
        self.rules = tuple(CompiledRule.from_rule(rule) for rule in feature.rules)
        self.inside = inner_places(self.rules, table)
        self.days = change_days(self.rules, table)
        self.countries = sorted(all_countries())
        # Subdivisions decided on their own: those with a place of the space in
        # their chain, and those ISO 3166-1 codes as countries.
        self.special = sorted(
            code
            for code in _all_subdivisions()
            if code in SUBDIVISIONS_WITH_COUNTRY_CODE
            or not self.inside.isdisjoint(subdivision_chain(code))
        )
        self.variants: set[str] = {DENY_INVALID, DENY_UNRECOGNISED}

    def _name(self, outcome: Outcome) -> str:
        name = variant_of(outcome)
        self.variants.add(name)
        return name

    def _decide(self, location: Location, day: dt.date) -> str:
        return self._name(decide(self.feature, self.rules, location, day, self.table, self.inside))

    def countries_on(self, day: dt.date, attribute: str) -> object:
        """Variant for a read country code (of *attribute*) on *day*: the engine's decision."""
        by_code = {
            code: self._decide(Location(LocationStatus.KNOWN, code), day) for code in self.countries
        }
        groups: dict[str, list[str]] = {}
        for spelling, code in self.spellings.items():
            groups.setdefault(by_code[code], []).append(spelling)
        return _lookup({"var": attribute}, groups, None)

    def subdivisions_on(self, day: dt.date) -> object:
        """Variant for a read subdivision (consistent with the country) on *day*."""
        special: dict[str, list[str]] = {}
        for code in self.special:
            special.setdefault(self._decide(resolve_location(None, code), day), []).append(code)
        # Any other subdivision is decided as its country's rest: nothing the
        # rules name lies inside it (`inner_places` holds every parent).
        rest: dict[str, list[str]] = {}
        for code in self.countries:
            if not subdivisions_of(code):
                continue
            outcome = decide_place(
                self.feature, self.rules, Location(LocationStatus.KNOWN, code), day, self.table
            )
            rest.setdefault(self._name(outcome), []).append(code)
        by_country = _lookup(_prefix({"var": "subdivision"}, 2), rest, None)
        return _lookup({"var": "subdivision"}, special, by_country)

    def location(self, unknown: str) -> object:
        """JsonLogic for the request's location (``country``, ``subdivision``)."""
        starts = self.days
        countries = _over_time(starts, [self.countries_on(day, "country") for day in starts])
        subdivisions = _over_time(starts, [self.subdivisions_on(day) for day in starts])
        country, subdivision = {"var": "country"}, {"var": "subdivision"}
        given = _not({"in": [country, _NOTHING]})
        return {
            "if": [
                _not(_ref("geogate-typed")),
                DENY_INVALID,
                _IP_ALONE,
                DENY_UNRECOGNISED,
                {"and": [given, _member(country, _unknown_spellings())]},
                unknown,
                {"in": [subdivision, _NOTHING]},
                {
                    "if": [
                        {"in": [country, _NOTHING]},
                        unknown,
                        _not(_ref("geogate-country-read")),
                        DENY_UNRECOGNISED,
                        countries,
                    ]
                },
                _not(_ref("geogate-subdivision-read")),
                DENY_UNRECOGNISED,
                {"and": [given, _not(_ref("geogate-country-read"))]},
                DENY_UNRECOGNISED,
                {"and": [given, _not(_ref("geogate-consistent"))]},
                DENY_INVALID,
                subdivisions,
            ]
        }

    def domicile(self, unknown: str) -> object:
        """JsonLogic for the account's domicile: a country, never a subdivision."""
        starts = self.days
        countries = _over_time(starts, [self.countries_on(day, "domicile") for day in starts])
        domicile = {"var": "domicile"}
        return {
            "if": [
                _not(_ref("geogate-typed")),
                DENY_INVALID,
                _IP_ALONE,
                DENY_UNRECOGNISED,
                {"or": [{"in": [domicile, _NOTHING]}, _member(domicile, _unknown_spellings())]},
                unknown,
                _not(_ref("geogate-domicile-read")),
                DENY_UNRECOGNISED,
                countries,
            ]
        }

    def flag(self, revision: str) -> dict[str, object]:
        """Return the flag; it refers only to the shared evaluators."""
        feature = self.feature
        unknown = self._name(Outcome(OutcomeKind.UNKNOWN, feature.unknown))
        basis = feature.basis
        if basis is Basis.LOCATION:
            targeting = self.location(unknown)
        elif basis is Basis.DOMICILE:
            targeting = self.domicile(unknown)
        else:
            # geogate's location+domicile: the signal that denies, else the location.
            # Written out, not as evaluators: flagd expands "$ref" in one pass, so an
            # evaluator that refers to another can be left unexpanded (docs/flagd.md).
            located, domiciled = self.location(unknown), self.domicile(unknown)
            denials = sorted(v for v in self.variants if v.startswith(f"{Effect.DENY}:"))
            targeting = {
                "if": [
                    {
                        "and": [
                            {"in": [domiciled, denials]},
                            _not({"in": [located, denials]}),
                        ]
                    },
                    domiciled,
                    located,
                ]
            }
        variants = {name: name.startswith(f"{Effect.ALLOW}:") for name in sorted(self.variants)}
        metadata: dict[str, object] = {"revision": revision, "basis": str(basis)}
        if feature.description:
            metadata["description"] = feature.description
        return {
            "state": "ENABLED",
            "variants": variants,
            "defaultVariant": DENY_UNRECOGNISED,
            "targeting": targeting,
            "metadata": metadata,
        }
