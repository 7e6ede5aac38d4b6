"""
flagd's own in-process evaluator, run on `geogate export --format flagd`, with its clock set.

`FlagdFile` writes an exported document to a file and serves it through
``FlagdProvider`` in ``FILE`` mode (the in-process resolver) and the OpenFeature
SDK. flagd's evaluator reads ``$flagd.timestamp`` from ``int(time.time())`` in
``openfeature.contrib.tools.flagd.core.targeting.targeting``; `FlagdFile.at`
replaces that module's ``time`` so each evaluation runs at a chosen instant.

`compare` asks the gate and flagd the same question and returns what differs;
`change_dates`, `instants` and the ``*_inputs`` builders make the questions
(tests/export/test_flagd_javascript.py asks flagd's JavaScript evaluator too).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import itertools
import json
import types

from openfeature import api
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.evaluation_context import EvaluationContext

from geogate._engine.decide import CompiledRule, change_days, inner_places
from geogate._export.flagd import export_flagd, render_flagd

__all__ = [
    "EXTRA_DAYS",
    "ODD_COUNTRIES",
    "SAMPLE",
    "UNREAD_INPUTS",
    "FlagdFile",
    "both_inputs",
    "change_dates",
    "compare",
    "domicile_inputs",
    "expected_variant_ok",
    "instants",
    "location_inputs",
    "named_subdivisions",
]

_TARGETING = importlib.import_module("openfeature.contrib.tools.flagd.core.targeting.targeting")
_counter = itertools.count()

#: Country (and domicile) inputs the export reads, or denies as geogate does.
ODD_COUNTRIES = (
    "fr", "Fr", "fR", "de", "UK", "uk", "Uk", "EL", "el", "gb", "xk", "XK",
    "XX", "xx", "ZZ", "T1", "A1", "EU", "eu", "?", "", " FR", "FR ", "FRA", "GER",
    "France", "F", "ÉS", "ss", 42, 0, 1.5, True, False, None, ["FR"], {"code": "FR"},
)  # fmt: skip

#: Inputs the export does not read (`geogate._export.flagd.UNREAD`): flagd must deny them.
UNREAD_INPUTS = (
    {"country": "IC"},
    {"country": "ic"},
    {"country": "XI"},
    {"country": "FX"},
    {"country": "EA", "subdivision": "ES-CE"},
    {"country": "US", "subdivision": "us-il"},
    {"country": "US", "subdivision": "IL"},
    {"country": "US", "subdivision": "US-ZZ"},
    {"country": "GB", "subdivision": "UK-SCT"},
    {"country": "FR", "subdivision": "fr-idf"},
    {"ip": "192.0.2.1"},
)


#: Days probed besides the change dates: the epoch's first days, today's era, far ahead.
EXTRA_DAYS = (dt.date(1971, 1, 2), dt.date(2026, 6, 1), dt.date(2100, 1, 1))
#: Countries probed in the quick runs (the full sweep takes every country).
SAMPLE = ("FR", "DE", "IE", "GB", "US", "UA", "RU", "CN", "CH", "NO", "RE", "GR", "XK", "JP")


class FlagdFile:
    """An exported document served by flagd's in-process (FILE) resolver through the SDK."""

    def __init__(self, policy, folder, features=None):
        self.document = export_flagd(policy, features)
        self.text = render_flagd(self.document)
        self.path = folder / f"flags-{next(_counter)}.json"
        self.path.write_text(self.text, encoding="utf-8")
        self.domain = f"geogate-export-{next(_counter)}"
        provider = FlagdProvider(
            resolver_type=ResolverType.FILE,
            offline_flag_source_path=str(self.path),
            deadline_ms=3_600_000,  # the file is polled this often: not during a test
        )
        api.set_provider_and_wait(provider, self.domain)
        self.provider = provider
        self.client = api.get_client(self.domain)
        self.evaluations = 0

    def close(self):
        self.provider.shutdown()

    @contextlib.contextmanager
    def at(self, seconds):
        """Run flagd's evaluations at *seconds* since the epoch (UTC)."""
        saved = _TARGETING.time
        _TARGETING.time = types.SimpleNamespace(time=lambda: float(seconds))
        try:
            yield
        finally:
            _TARGETING.time = saved

    def details(self, feature, attributes):
        self.evaluations += 1
        # The SDK's context holds only what is given: an absent attribute is not None.
        present = {k: v for k, v in attributes.items() if v is not None}
        return self.client.get_boolean_details(
            feature, default_value=True, evaluation_context=EvaluationContext(attributes=present)
        )


def instants(days, *, edges_only=False):
    """
    (seconds, the UTC date geogate decides) around each day: the day before, its edges, after.

    With *edges_only*, the last second before the day and its first.
    """
    found = set()
    for day in days:
        if day.year < 1971 or day.year > 9998:
            continue
        midnight = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
        around = (midnight - 86_400, midnight - 1, midnight, midnight + 43_200, midnight + 86_400)
        for seconds in around[1:3] if edges_only else around:
            found.add((seconds, dt.datetime.fromtimestamp(seconds, dt.UTC).date()))
    return sorted(found)


def named_subdivisions(policy):
    """Every subdivision a rule names, directly or through a jurisdiction, with its parents."""
    found = set()
    for feature in policy.features.values():
        rules = [CompiledRule.from_rule(rule) for rule in feature.rules]
        found |= inner_places(rules, policy.jurisdictions)
    return sorted(found)


def expected_variant_ok(decision, variant):
    """Whether flagd's *variant* names the gate's effect and, when a rule decided, that rule."""
    effect, _, what = (variant or "").partition(":")
    if effect != str(decision.effect):
        return False
    if decision.rule is not None:
        return what in {decision.rule, f"rule:{decision.rule}"}
    return what in {"default", "unknown", "partial", "invalid", "unrecognised", "ambiguous"}


def compare(gate, flagd, feature, attributes, seconds, day):
    """Ask both; return None when they agree, else what each said."""
    decision = gate.evaluate(feature, at=day, **attributes)
    with flagd.at(seconds):
        details = flagd.details(feature, attributes)
    if details.value is decision.allowed and expected_variant_ok(decision, details.variant):
        return None
    return {
        "feature": feature,
        "attributes": attributes,
        "at": seconds,
        "day": day.isoformat(),
        "geogate": (decision.allowed, decision.rule, decision.explanation),
        "flagd": (details.value, details.variant, details.reason, details.error_message),
    }


def change_dates(policy):
    """Every day a rule or a jurisdiction changes, and `EXTRA_DAYS`."""
    days = set(EXTRA_DAYS)
    for feature in policy.features.values():
        rules = [CompiledRule.from_rule(rule) for rule in feature.rules]
        days.update(d for d in change_days(rules, policy.jurisdictions) if d != dt.date.min)
    return sorted(days)


def location_inputs(policy, countries):
    """Countries, odd spellings and wrong types, and every subdivision a rule names."""
    found = [{"country": c} for c in (*countries, *ODD_COUNTRIES)]
    for code in named_subdivisions(policy):
        country = code.partition("-")[0]
        found += [
            {"country": country, "subdivision": code},
            {"subdivision": code},
            {"country": country.lower(), "subdivision": code},
            {"country": "XX", "subdivision": code},
            {"country": "RU" if country != "RU" else "UA", "subdivision": code},
        ]
    found += [
        {"country": "US", "subdivision": "US-NY"},
        {"country": "FR", "subdivision": "FR-974"},
        {"country": "RE", "subdivision": "FR-974"},
        {"country": "DE", "subdivision": "FR-974"},
        {"country": "GB", "subdivision": "GB-BFS"},
        {"country": "FR", "subdivision": 42},
        {"country": "FR", "subdivision": ""},
        {"country": "FR", "subdivision": "garbage"},
        {"country": "FR", "domicile": 42},
        {"country": None, "subdivision": None},
        {"ip": 42},
    ]
    return found


def domicile_inputs(countries):
    """Countries and odd spellings as the domicile, beside unread or contradictory places."""
    found = [{"domicile": c} for c in (*countries, *ODD_COUNTRIES)]
    found += [{"domicile": "FR", "country": 42}, {"domicile": "FR", "country": "garbage"}]
    found += [{"domicile": "DE", "country": "US", "subdivision": "US-IL"}]
    return found


def both_inputs(policy, countries, homes):
    """Every `location_inputs` place with each of *homes* as the domicile."""
    places = location_inputs(policy, countries)
    return [{**place, "domicile": home} for place, home in itertools.product(places, homes)]


def dumps(document):
    return json.dumps(document, sort_keys=True)
