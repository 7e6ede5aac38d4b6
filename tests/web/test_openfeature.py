"""`geogate.openfeature.GeogateProvider`, through the real OpenFeature SDK's client API."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import queue
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEvent
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

import geogate.openfeature
from geogate import Gate
from geogate._locate.request import RequestResolver
from geogate._web.context import handling
from geogate._world.countries import all_countries
from geogate.openfeature import GeogateProvider
from geogate.testing import pinned_date
from helpers.paths import POLICIES
from helpers.properties import examples

FEATURE = "llama-3.2-vision"
SHIPPED_FEATURES = (
    "apple-intelligence-iphone",
    "apple-intelligence-mac",
    "llama-3.1-405b",
    "llama-3.2-vision",
    "llama-3.2-vision-license",
)
EU_SOURCE = "https://www.axios.com/2024/07/17/meta-future-multimodal-ai-models-eu"
UK_SOURCE = "https://ai.meta.com/blog/llama-3-2-connect-2024-vision-edge-mobile-devices/"
#: A policy whose feature lets unknown locations in, to show that this is the
#: policy's choice, while bad input still denies.
LENIENT = """\
features:
  lenient:
    default: deny
    unknown: allow
    rules:
      - id: us-offered
        allow: [US]
        reason: Offered in the United States.
        source: https://example.com/us
"""


@pytest.fixture
def use():
    """Register a provider as the SDK's default (waiting for it) and return a client."""

    def register(provider):
        api.set_provider_and_wait(provider)
        return api.get_client()

    yield register
    api.clear_providers()


@pytest.fixture
def client(gate, use):
    return use(GeogateProvider(gate))


def details(client, flag, default=False, **attributes):
    """Evaluate *flag* through the SDK with *attributes* as the evaluation context."""
    context = EvaluationContext(attributes=attributes) if attributes else None
    return client.get_boolean_details(flag, default_value=default, evaluation_context=context)


def metadata(decision):
    """The flag metadata a decision should give."""
    expected = {
        "jurisdictions": ",".join(decision.jurisdictions),
        "revision": decision.revision,
        "explanation": decision.explanation,
        "location": str(decision.location),
    }
    if decision.rule is not None:
        expected["rule"] = decision.rule
    if decision.citation is not None:
        expected["source"] = decision.citation
    return expected


# The provider


def test_missing_sdk_gives_the_install_hint(monkeypatch):
    """Without openfeature-sdk, importing the module says how to install it."""
    for name in [m for m in sys.modules if m == "openfeature" or m.startswith("openfeature.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "geogate.openfeature")

    with pytest.raises(ImportError) as raised:
        importlib.import_module("geogate.openfeature")

    assert (
        "geogate.openfeature needs the OpenFeature SDK, which is not installed; "
        "install the extra: pip install 'geogate[openfeature]' "
        "(from a checkout: pip install -e '.[openfeature]')"
    ) == str(raised.value)


@pytest.mark.slow
def test_core_does_not_import_the_sdk():
    """`import geogate` leaves the SDK alone: only the integration module needs it."""
    code = "import sys, geogate; sys.exit('openfeature' in sys.modules)"

    assert 0 == subprocess.run([sys.executable, "-c", code], check=False).returncode  # noqa: S603


@pytest.mark.usefixtures("client")
def test_provider_metadata(gate):
    """The provider calls itself geogate; its repr names the gate."""
    assert "geogate" == api.get_provider_metadata().name
    assert f"GeogateProvider({gate!r})" == repr(GeogateProvider(gate))


def test_rule_that_denies(client, gate):
    """FR: the EU rule denies; every field of the details comes from the decision."""
    result = details(client, FEATURE, country="FR")
    decision = gate.evaluate(FEATURE, country="FR")

    assert (False, "deny", Reason.TARGETING_MATCH, None, None) == (
        result.value,
        result.variant,
        result.reason,
        result.error_code,
        result.error_message,
    )
    assert {
        "rule": "eu-multimodal-withheld",
        "source": EU_SOURCE,
        "jurisdictions": "EUROZONE,SCHENGEN,EU,EEA,WORLD",
        "revision": gate.revision,
        "explanation": decision.explanation,
        "location": "known",
    } == result.flag_metadata


def test_rule_that_allows(client, gate):
    """GB: the UK rule allows."""
    result = details(client, FEATURE, country="GB")

    assert (True, "allow", Reason.TARGETING_MATCH, None) == (
        result.value,
        result.variant,
        result.reason,
        result.error_code,
    )
    assert {
        "rule": "uk-multimodal-offered",
        "source": UK_SOURCE,
        "jurisdictions": "UK,WORLD",
        "revision": gate.revision,
        "explanation": gate.evaluate(FEATURE, country="GB").explanation,
        "location": "known",
    } == result.flag_metadata


def test_feature_default(client, gate):
    """US: no rule applies, the feature's default allows; no rule or source in the metadata."""
    result = details(client, FEATURE, country="US")

    assert (True, "allow", Reason.DEFAULT, None) == (
        result.value,
        result.variant,
        result.reason,
        result.error_code,
    )
    assert {
        "jurisdictions": "WORLD",
        "revision": gate.revision,
        "explanation": gate.evaluate(FEATURE, country="US").explanation,
        "location": "known",
    } == result.flag_metadata


def test_no_location_is_a_decision(client, gate):
    """No context and no request: the unknown setting denies, even with default True."""
    result = details(client, FEATURE, default=True)

    assert (False, "deny", Reason.DEFAULT, None) == (
        result.value,
        result.variant,
        result.reason,
        result.error_code,
    )
    assert {
        "jurisdictions": "",
        "revision": gate.revision,
        "explanation": gate.evaluate(FEATURE).explanation,
        "location": "unknown",
    } == result.flag_metadata


@pytest.mark.parametrize(
    ("country", "location", "reason"),
    [
        ("XX", "unknown", Reason.DEFAULT),
        ("ZZZ", "invalid", Reason.ERROR),
        ("", "unknown", Reason.DEFAULT),
        ("F R", "invalid", Reason.ERROR),
    ],
)
def test_unknown_or_invalid_country_is_a_decision(client, country, location, reason):
    """
    A pseudo-code or an unreadable country is a deny, never the caller's default.

    An unknown place gets the unknown setting (reason DEFAULT); an invalid one is denied
    (reason ERROR, without an OpenFeature error code, so the SDK keeps the False).
    """
    result = details(client, FEATURE, default=True, country=country)

    assert (False, "deny", reason, None, location) == (
        result.value,
        result.variant,
        result.reason,
        result.error_code,
        result.flag_metadata["location"],
    )


#: Evaluation contexts no caller should send; each must deny, whatever the default.
GARBAGE = [
    {"country": 5},
    {"country": True},
    {"country": 1.5},
    {"country": ["FR"]},
    {"country": {"code": "US"}},
    {"country": dt.datetime(2025, 1, 1, tzinfo=dt.UTC)},
    {"subdivision": 7},
    {"domicile": ["US"]},
    {"country": "US", "domicile": 3},
    {"ip": "not-an-ip"},
    {"ip": "999.1.1.1"},
    {"ip": 81_026_916},
    {"ip": ["81.2.69.160"]},
    {"country": "US" * 10_000},
]


@pytest.mark.parametrize("feature", SHIPPED_FEATURES)
@pytest.mark.parametrize("attributes", GARBAGE, ids=repr)
def test_garbage_context_never_lets_in(client, gate, feature, attributes):
    """Default True and a malformed context: False, the gate's answer, never the default."""
    result = details(client, feature, default=True, **attributes)
    decision = gate.evaluate(feature, **attributes)

    assert (False, False, "deny", None) == (
        decision.allowed,
        result.value,
        result.variant,
        result.error_code,
    )
    assert str(decision.reason) == result.reason


def test_wrong_type_is_a_denying_error_resolution(client, gate):
    """A wrong-typed attribute: reason ERROR and the gate's code in the metadata, value False."""
    result = details(client, FEATURE, default=True, country=5)
    explanation = gate.evaluate(FEATURE, country=5).explanation

    assert (False, "deny", Reason.ERROR, None, explanation) == (
        result.value,
        result.variant,
        result.reason,
        result.error_code,
        result.error_message,
    )
    assert "The country 5 is an int, not a string." in explanation
    assert {
        "jurisdictions": "",
        "revision": gate.revision,
        "explanation": explanation,
        "location": "invalid",
        "error_code": "INVALID_CONTEXT",
    } == result.flag_metadata


def test_malformed_ip_is_a_denying_error_resolution(client):
    """A malformed IP: value False, reason ERROR, INVALID_CONTEXT in the metadata only."""
    result = details(client, FEATURE, default=True, ip="not-an-ip")

    assert (False, Reason.ERROR, None, "INVALID_CONTEXT", "invalid") == (
        result.value,
        result.reason,
        result.error_code,
        result.flag_metadata["error_code"],
        result.flag_metadata["location"],
    )


def test_ip_without_database_denies(use):
    """ip= on a gate without a GeoIP database: GENERAL in the metadata, value False."""
    client = use(GeogateProvider(Gate.from_path(POLICIES)))
    result = details(client, FEATURE, default=True, ip="81.2.69.160")

    assert (False, Reason.ERROR, None, "GENERAL") == (
        result.value,
        result.reason,
        result.error_code,
        result.flag_metadata["error_code"],
    )


@pytest.mark.parametrize(
    ("ip", "allowed", "rule"),
    [
        ("81.2.69.160", True, "uk-multimodal-offered"),
        ("89.160.20.112", False, "eu-multimodal-withheld"),
    ],
)
def test_ip_attribute_is_located(client, ip, allowed, rule):
    """The ip attribute is located through the gate's GeoIP database."""
    result = details(client, FEATURE, ip=ip)

    assert (allowed, Reason.TARGETING_MATCH, rule) == (
        result.value,
        result.reason,
        result.flag_metadata["rule"],
    )


def test_domicile_attribute(client):
    """The licence feature is decided on the domicile attribute, not the country."""
    license_feature = "llama-3.2-vision-license"

    assert (True, False, False) == (
        details(client, license_feature, country="FR", domicile="US").value,
        details(client, license_feature, country="US", domicile="FR").value,
        details(client, license_feature, country="US").value,
    )


def test_subdivision_attribute(client, gate):
    """The subdivision attribute is passed on as given."""
    result = details(client, FEATURE, subdivision="GB-NIR")
    decision = gate.evaluate(FEATURE, subdivision="GB-NIR")

    assert (decision.allowed, metadata(decision)) == (result.value, result.flag_metadata)


def test_targeting_key_is_not_needed(client):
    """A targeting key changes nothing."""
    with_key = client.get_boolean_details(
        FEATURE,
        default_value=False,
        evaluation_context=EvaluationContext("user-1", {"country": "GB"}),
    )

    assert details(client, FEATURE, country="GB") == with_key


def test_unknown_policy_setting_allow_lets_unknown_in(tmp_path, use):
    """`unknown: allow` is the policy's choice: unknown places get in, bad input does not."""
    (tmp_path / "lenient.yaml").write_text(LENIENT, encoding="utf-8")
    client = use(GeogateProvider(Gate.from_path(tmp_path)))

    assert (True, True, False, False, False, False) == (
        details(client, "lenient").value,
        details(client, "lenient", country="XX").value,
        details(client, "lenient", default=True, country="ZZZ").value,
        details(client, "lenient", country="FR").value,
        details(client, "lenient", default=True, country=5).value,
        details(client, "lenient", default=True, ip="81.2.69.160").value,
    )


# The error path: only for an unknown flag and a non-boolean lookup


def test_unknown_flag_returns_the_default(client, gate):
    """An unknown feature id is FLAG_NOT_FOUND: the SDK returns the caller's default."""
    result = details(client, "llama-3.2-visoin", default=True, country="FR")

    assert (True, None, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND) == (
        result.value,
        result.variant,
        result.reason,
        result.error_code,
    )
    assert (
        f"no feature 'llama-3.2-visoin' in policy {gate.revision[:19]}; "
        "did you mean 'llama-3.2-vision'?"
    ) == result.error_message
    assert {} == result.flag_metadata


def test_unknown_flag_on_a_strict_gate(use):
    """A strict gate raises for an unknown feature; the provider still answers FLAG_NOT_FOUND."""
    client = use(GeogateProvider(Gate.from_path(POLICIES, strict=True)))
    result = details(client, "nope", default=False, country="FR")

    assert (False, ErrorCode.FLAG_NOT_FOUND) == (result.value, result.error_code)


@pytest.mark.parametrize(
    ("method", "default", "kind"),
    [
        ("get_string_details", "on", "string"),
        ("get_integer_details", 1, "integer"),
        ("get_float_details", 1.0, "float"),
        ("get_object_details", {"on": True}, "object"),
    ],
)
def test_non_boolean_lookup_is_a_type_mismatch(client, method, default, kind):
    """Geogate flags are boolean: other lookups return the default with TYPE_MISMATCH."""
    result = getattr(client, method)(
        FEATURE, default, EvaluationContext(attributes={"country": "GB"})
    )

    assert (default, Reason.ERROR, ErrorCode.TYPE_MISMATCH) == (
        result.value,
        result.reason,
        result.error_code,
    )
    assert (
        f"geogate feature 'llama-3.2-vision' is a boolean flag, asked for as {kind}; "
        "use get_boolean_value or get_boolean_details"
    ) == result.error_message


def test_non_boolean_lookup_of_an_unknown_flag(client):
    """A non-boolean lookup of an unknown flag is FLAG_NOT_FOUND."""
    result = client.get_string_details("nope", "x")

    assert ("x", ErrorCode.FLAG_NOT_FOUND) == (result.value, result.error_code)


class _Raising:
    """A gate that breaks its promise never to raise."""

    revision = "sha256:" + "0" * 64
    policy = None

    def evaluate(self, *_args, **_kwargs):
        msg = "boom"
        raise RuntimeError(msg)

    def add_reload_listener(self, listener):
        pass

    def remove_reload_listener(self, listener):
        pass


def test_a_raising_gate_fails_closed(use):
    """Should the gate ever raise, the provider denies instead of letting the SDK return True."""
    client = use(GeogateProvider(_Raising()))
    result = details(client, FEATURE, default=True, country="US")

    assert (False, Reason.ERROR, None, "the gate raised RuntimeError: boom; denying") == (
        result.value,
        result.reason,
        result.error_code,
        result.error_message,
    )


# Agreement with the gate


@pytest.mark.parametrize("day", ["2024-09-24", "2025-06-01"])
@pytest.mark.parametrize("feature", SHIPPED_FEATURES)
def test_agrees_with_the_gate_everywhere(client, gate, feature, day):
    """Every shipped feature, every ISO country (as country, then also as domicile), two dates."""
    disagree = []
    with pinned_date(gate, day):
        for code in all_countries():
            for attributes in ({"country": code}, {"country": code, "domicile": code}):
                result = details(client, feature, default=True, **attributes)
                decision = gate.evaluate(feature, **attributes, at=day)
                got = (result.value, result.variant, str(result.reason), result.flag_metadata)
                want = (decision.allowed, str(decision.effect), str(decision.reason))
                if got != (*want, metadata(decision)):
                    disagree.append((attributes, got, want))

    assert [] == disagree


@examples(300)
@given(
    st.dictionaries(
        st.sampled_from(["country", "subdivision", "domicile", "ip", "other"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(),
            st.text(max_size=12),
            st.sampled_from(["FR", "gb", "UK", "US", "GB-NIR", "NIR", "XX", "81.2.69.160"]),
            st.lists(st.text(max_size=3), max_size=2),
        ),
    ),
    st.sampled_from(SHIPPED_FEATURES),
)
def test_only_the_gate_lets_in(attributes, feature):
    """For any context, the value is the gate's answer: never the default, True only if known."""
    gate = _module_gate()
    provider = GeogateProvider(gate)
    api.set_provider_and_wait(provider, domain="hypothesis")
    try:
        client = api.get_client(domain="hypothesis")
        result = details(client, feature, default=True, **attributes)
    finally:
        api.clear_providers()
    location = {k: v for k, v in attributes.items() if k != "other"}
    decision = gate.evaluate(feature, **location)

    assert (decision.allowed, None) == (result.value, result.error_code)
    if result.value:
        assert ("known", True) == (result.flag_metadata["location"], result.reason != Reason.ERROR)


_GATES: list[Gate] = []


def _module_gate():
    """One gate for the property test (hypothesis reruns the test, not fixtures)."""
    if not _GATES:
        _GATES.append(Gate.from_path(POLICIES))
    return _GATES[0]


# The request being handled


def test_request_location_applies_without_attributes(client, gate):
    """With no location attribute, the request's location from the middleware is used."""
    request = RequestResolver().resolve([], None, country="FR")
    with handling(request, gate):
        result = details(client, FEATURE, default=True)
        decision = gate.evaluate(FEATURE)

    assert (False, "eu-multimodal-withheld", "known") == (
        result.value,
        result.flag_metadata["rule"],
        result.flag_metadata["location"],
    )
    assert metadata(decision) == result.flag_metadata


def test_context_beats_the_request_location(client, gate):
    """A country attribute wins over the request's location."""
    request = RequestResolver().resolve([], None, country="FR")
    with handling(request, gate):
        result = details(client, FEATURE, country="GB")

    assert (True, "uk-multimodal-offered") == (result.value, result.flag_metadata["rule"])


def test_request_location_in_async_evaluation(client, gate):
    """The async client API gives the same details, inside a request too."""
    request = RequestResolver().resolve([], None, country="GB")

    async def evaluate():
        with handling(request, gate):
            return await client.get_boolean_details_async(FEATURE, default_value=False)

    result = asyncio.run(evaluate())

    assert (True, "uk-multimodal-offered") == (result.value, result.flag_metadata["rule"])


# Reloads


def _policies(path, *, uk_allowed):
    """Write a one-feature policy set; return the directory."""
    path.mkdir(exist_ok=True)
    effect = "allow" if uk_allowed else "deny"
    (path / "vision.yaml").write_text(
        textwrap.dedent(
            f"""\
            features:
              vision:
                default: allow
                rules:
                  - id: uk
                    {effect}: [UK]
                    reason: The UK decision.
                    source: https://example.com/uk
              other:
                default: allow
            """
        ),
        encoding="utf-8",
    )
    return path


def test_configuration_changed_after_a_reload(tmp_path, use):
    """A successful reload emits PROVIDER_CONFIGURATION_CHANGED; answers follow the new policies."""
    gate = Gate.from_path(_policies(tmp_path, uk_allowed=True))
    client = use(GeogateProvider(gate))
    events = queue.Queue()
    client.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, events.put)
    assert details(client, "vision", country="GB").value

    (tmp_path / "vision.yaml").write_text("features: [", encoding="utf-8")
    assert not gate.reload().ok  # a failed reload: same policies, no event
    _policies(tmp_path, uk_allowed=False)
    assert gate.reload().changed
    event = events.get(timeout=5)

    assert ("geogate", ["vision"], {"revision": gate.revision}) == (
        event.provider_name,
        event.flags_changed,
        event.metadata,
    )
    assert f"geogate policies reloaded: revision {gate.revision[:19]}" == event.message
    result = details(client, "vision", country="GB")
    assert (False, gate.revision) == (result.value, result.flag_metadata["revision"])
    assert events.empty()


def test_no_event_after_shutdown(tmp_path, use):
    """A provider that was replaced stops listening to the gate's reloads."""
    gate = Gate.from_path(_policies(tmp_path, uk_allowed=True))
    provider = GeogateProvider(gate)
    use(provider)
    emitted = []
    provider.attach(lambda *event: emitted.append(event))

    provider.shutdown()
    _policies(tmp_path, uk_allowed=False)
    gate.reload()

    assert [] == emitted


def test_resolutions_cache_is_bounded(monkeypatch, gate):
    """Resolutions are cached per decision, up to a bound."""
    monkeypatch.setattr(geogate.openfeature, "_MAX_CACHED", 10)
    provider = GeogateProvider(gate)
    for code in all_countries():
        provider.resolve_boolean_details(FEATURE, default_value=False)
        context = EvaluationContext(attributes={"country": code})
        first = provider.resolve_boolean_details(
            FEATURE, default_value=False, evaluation_context=context
        )
        again = provider.resolve_boolean_details(
            FEATURE, default_value=False, evaluation_context=context
        )
        assert first is again

    assert len(provider._cache) <= 10
