"""
flagd's own in-process evaluator, run on `geogate export --format flagd`, with its clock set.

`FlagdFile` writes an exported document to a file and serves it through
``FlagdProvider`` in ``FILE`` mode (the in-process resolver) and the OpenFeature
SDK. flagd's evaluator reads ``$flagd.timestamp`` from ``int(time.time())`` in
``openfeature.contrib.tools.flagd.core.targeting.targeting``; `FlagdFile.at`
replaces that module's ``time`` so each evaluation runs at a chosen instant.

`compare` asks the gate and flagd the same question and returns what differs.
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

from geogate._engine.decide import CompiledRule, inner_places
from geogate._export.flagd import export_flagd, render_flagd

__all__ = [
    "ODD_COUNTRIES",
    "UNREAD_INPUTS",
    "FlagdFile",
    "compare",
    "instants",
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


def dumps(document):
    return json.dumps(document, sort_keys=True)
