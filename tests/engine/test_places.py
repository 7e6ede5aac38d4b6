"""
Places below the country in decisions: split countries and the ``partial``
setting, jurisdictions that hold subdivisions, specificity between places,
and subdivisions geogate does not recognise.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from geogate import Gate, LocationStatus, PolicyError, Reason, load_policies
from geogate._engine.decide import OutcomeKind, decide, inner_places, place_of
from geogate._gate.state import CompiledFeature
from geogate.asgi import GeogateMiddleware, require_feature
from geogate.ofrep import create_app
from helpers.gates import feature_gate, outcome
from helpers.paths import POLICIES

DAY = "2026-06-01"

FACE = """\
- {id: face-bipa, deny: [US-IL, US-TX], reason: Illinois BIPA and Texas CUBI.}
"""


def test_a_country_only_request_in_a_split_country_is_denied_by_default(tmp_path):
    """
    ``US`` alone, with US-IL and US-TX denied and the rest allowed, was allowed
    by default before: a Country database or a CDN without regions let it through.
    """
    gate = feature_gate(tmp_path, FACE)
    decision = gate.evaluate("f", country="US", at=DAY)
    assert (False, None, Reason.DEFAULT) == (decision.allowed, decision.rule, decision.reason)
    assert decision.explanation.endswith(
        "US is split on 2026-06-01: US-IL, US-TX are denied by rule face-bipa; the rest of "
        "US is allowed by the feature's default; the request named no subdivision, so the "
        "feature's partial setting (deny) applies."
    )
    assert decision.explanation.startswith("f is denied in US (United States) (policy sha256:")
    assert ("deny", "face-bipa") == outcome(gate, country="US", subdivision="US-IL", at=DAY)
    assert ("allow", None) == outcome(gate, country="US", subdivision="US-CA", at=DAY)
    assert ("allow", None) == outcome(gate, country="CA", at=DAY)


def test_partial_allow_is_the_owners_choice(tmp_path):
    gate = feature_gate(tmp_path, FACE, partial="allow")
    decision = gate.evaluate("f", country="US", at=DAY)
    assert decision.allowed
    assert "so the feature's partial setting (allow) applies." in decision.explanation


def test_a_hard_deny_inside_denies_whatever_partial_says(tmp_path):
    gate = feature_gate(
        tmp_path,
        "- {id: crimea, hard_deny: [UA-43], reason: Sanctions.}",
        partial="allow",
    )
    decision = gate.evaluate("f", country="UA", at=DAY)
    assert not decision.allowed
    assert (
        "UA-43 is denied by hard-deny rule crimea; the rest of UA is allowed by the feature's "
        "default; the request named no subdivision and a hard-deny rule decides inside, so it "
        "is denied whatever the feature's partial setting says."
    ) in decision.explanation


def test_a_country_decided_alike_inside_is_not_split(tmp_path):
    """US-IL denied by a rule and the rest denied by default: the same effect, no split."""
    gate = feature_gate(tmp_path, FACE, default="deny", partial="allow")
    decision = gate.evaluate("f", country="US", at=DAY)
    assert (False, None) == (decision.allowed, decision.rule)
    assert "by the feature's default" in decision.explanation
    assert "split" not in decision.explanation


def test_a_split_follows_the_rule_window(tmp_path):
    """A GB-SCT pilot splits GB only while it runs: midnight UTC of its first and last day."""
    gate = feature_gate(
        tmp_path,
        "- {id: pilot, allow: [GB-SCT], from: 2026-06-01, until: 2026-09-30, reason: Pilot.}",
        default="deny",
        partial="allow",
    )
    assert ("deny", None) == outcome(gate, country="GB", at="2026-05-31")
    assert ("allow", None) == outcome(gate, country="GB", at="2026-06-01")
    assert ("allow", None) == outcome(gate, country="GB", at="2026-09-30")
    assert ("deny", None) == outcome(gate, country="GB", at="2026-10-01")
    assert ("allow", "pilot") == outcome(gate, country="GB", subdivision="GB-ABD", at=DAY)
    assert ("deny", None) == outcome(gate, country="GB", subdivision="GB-WLS", at=DAY)


def test_a_subdivision_with_named_places_inside_is_split_too(tmp_path):
    """ES-CN (Canary Islands) with ES-TF denied inside: a request naming ES-CN is split."""
    gate = feature_gate(
        tmp_path,
        """\
        - {id: canaries, allow: [ES-CN], overrides: eu, reason: r}
        - {id: eu, deny: [EU], reason: r}
        - {id: tenerife, deny: [ES-TF], overrides: canaries, reason: r}
        """,
    )
    decision = gate.evaluate("f", country="ES", subdivision="ES-CN", at=DAY)
    assert (False, None) == (decision.allowed, decision.rule)
    assert "ES-CN is split on 2026-06-01: ES-TF is denied by rule tenerife" in (
        decision.explanation
    )
    assert "the request named no subdivision inside ES-CN" in decision.explanation
    assert ("allow", "canaries") == outcome(gate, country="ES", subdivision="ES-GC")
    assert ("deny", "tenerife") == outcome(gate, country="ES", subdivision="ES-TF")


JURISDICTION = """\
OCCUPIED-UA:
  - UA-43
  - UA-40
  - {code: UA-14, from: 2022-02-21}
  - {code: UA-09, from: 2022-02-21}
"""


def test_a_jurisdiction_holds_subdivisions_with_dates(tmp_path):
    gate = feature_gate(
        tmp_path,
        "- {id: occupied, deny: [OCCUPIED-UA], reason: Sanctions.}",
        jurisdictions=JURISDICTION,
    )
    assert ("deny", "occupied") == outcome(gate, country="UA", subdivision="UA-43", at=DAY)
    assert ("deny", "occupied") == outcome(gate, subdivision="UA-40", at=DAY)
    assert ("allow", None) == outcome(gate, country="UA", subdivision="UA-14", at="2022-02-20")
    assert ("deny", "occupied") == outcome(gate, country="UA", subdivision="UA-14", at="2022-02-21")
    assert ("allow", None) == outcome(gate, country="UA", subdivision="UA-30", at=DAY)
    # Ukraine alone is split, and Russia is not in the jurisdiction.
    assert ("deny", None) == outcome(gate, country="UA", at=DAY)
    assert ("allow", None) == outcome(gate, country="RU", at=DAY)
    decision = gate.evaluate("f", country="UA", subdivision="UA-43", at=DAY)
    assert ("OCCUPIED-UA", "OFAC-COMPREHENSIVE", "WORLD") == decision.jurisdictions
    assert "UA-43 (Avtonomna Respublika Krym, Ukraine, in OCCUPIED-UA)" in decision.explanation


def test_a_jurisdiction_of_regions_is_narrower_than_their_country(tmp_path):
    """
    Deny OCCUPIED-UA, allow UA: the regions are a strict subset of Ukraine's
    places, so the deny decides there (a country beat any jurisdiction before).
    """
    gate = feature_gate(
        tmp_path,
        """\
        - {id: ua, allow: [UA], reason: r}
        - {id: occupied, deny: [OCCUPIED-UA], overrides: ua, reason: r}
        """,
        jurisdictions=JURISDICTION,
        default="deny",
    )
    assert ("deny", "occupied") == outcome(gate, country="UA", subdivision="UA-43", at=DAY)
    assert ("allow", "ua") == outcome(gate, country="UA", subdivision="UA-30", at=DAY)
    assert () == gate.warnings


def test_a_jurisdiction_of_regions_and_countries_is_ambiguous_with_a_country(tmp_path):
    """{UA-43, RU} is neither inside nor around UA: disagreeing there is refused at load."""
    with pytest.raises(PolicyError) as caught:
        feature_gate(
            tmp_path,
            """\
            - {id: ua, allow: [UA], reason: r}
            - {id: sanctioned, deny: [SANCTIONED], reason: r}
            """,
            jurisdictions="SANCTIONED: [UA-43, RU]\n",
        )
    codes = [d.code for d in caught.value.diagnostics]
    assert ["ambiguous-rules"] == codes
    assert "UA-43 (Avtonomna Respublika Krym, Ukraine)" in caught.value.diagnostics[0].message


def test_the_same_places_go_to_the_more_specific_kind(tmp_path):
    """A jurisdiction holding only US-IL and the subdivision US-IL: the subdivision decides."""
    gate = feature_gate(
        tmp_path,
        """\
        - {id: il, allow: [US-IL], overrides: j, reason: r}
        - {id: j, deny: [ILLINOIS], reason: r}
        """,
        jurisdictions="ILLINOIS: [US-IL]\n",
    )
    assert ("allow", "il") == outcome(gate, country="US", subdivision="US-IL", at=DAY)


@pytest.mark.parametrize("subdivision", ["US-ZZ", "ZZ", "us-zz", "US-999"])
def test_an_unrecognised_subdivision_makes_the_request_country_only(tmp_path, subdivision):
    """Well formed for the country but unknown to geogate: the country alone, with a note."""
    gate = feature_gate(tmp_path, FACE, partial="allow")
    decision = gate.evaluate("f", country="US", subdivision=subdivision, at=DAY)
    assert (True, "US", None) == (decision.allowed, decision.country, decision.subdivision)
    assert decision.location is LocationStatus.KNOWN
    assert decision.explanation.endswith(
        "(the subdivision 'US-" + subdivision.upper().removeprefix("US-") + "' is not one "
        "geogate recognises, so the request names only the country 'US')."
    )


@pytest.mark.parametrize(
    ("country", "subdivision"),
    [("US", "US-ILLINOIS"), ("US", "UA-ZZ"), ("RU", "UA-ZZ"), ("US", "U$"), ("US", "US-")],
)
def test_a_malformed_or_contradicting_subdivision_is_still_invalid(tmp_path, country, subdivision):
    gate = feature_gate(tmp_path, FACE, partial="allow", unknown="allow")
    decision = gate.evaluate("f", country=country, subdivision=subdivision, at=DAY)
    assert (False, LocationStatus.INVALID) == (decision.allowed, decision.location)


def test_decide_and_a_precomputed_inside_agree(tmp_path):
    """`decide` computes the places inside itself when the caller has not."""
    gate = feature_gate(tmp_path, FACE)
    policy = gate.policy
    compiled = CompiledFeature.of(policy.features["f"], policy.revision, policy.jurisdictions)
    assert frozenset({"US-IL", "US-TX"}) == compiled.inside
    assert compiled.inside == inner_places(compiled.rules, policy.jurisdictions)
    day = dt.date(2026, 6, 1)
    for code in ("US", "US-IL", "US-CA", "FR"):
        args = (compiled.feature, compiled.rules, place_of(code), day, policy.jurisdictions)
        assert decide(*args) == decide(*args, compiled.inside)
    split = decide(compiled.feature, compiled.rules, place_of("US"), day, policy.jurisdictions)
    assert OutcomeKind.PARTIAL is split.kind
    assert ["US-IL", "US-TX"] == [code for code, _ in split.inside]
    assert split.rest is not None
    assert OutcomeKind.DEFAULT is split.rest.kind


def test_domicile_names_a_country_so_a_split_applies(tmp_path):
    """An account domiciled in UA, with Crimea denied: the domicile names only the country."""
    gate = feature_gate(
        tmp_path,
        "- {id: occupied, deny: [OCCUPIED-UA], reason: r}",
        jurisdictions=JURISDICTION,
        basis="domicile",
    )
    assert ("deny", None) == outcome(gate, domicile="UA", at=DAY)
    assert ("allow", None) == outcome(gate, domicile="PL", at=DAY)


def test_the_shipped_policies_load_and_decide_countries_as_before():
    """The shipped policies name no subdivision: no country of theirs is split."""
    policy = load_policies(POLICIES)
    gate = Gate(policy)
    for fid in policy.features:
        for country in ("FR", "GB", "US", "DE", "RE", "GL"):
            decision = gate.evaluate(fid, country=country, domicile=country, at=DAY)
            assert "split" not in decision.explanation


# The middleware and OFREP follow the partial setting.


@pytest.fixture
def face_gate(tmp_path):
    (tmp_path / "face.yaml").write_text(
        "features:\n  face-match:\n    default: allow\n    rules:\n"
        "      - {id: face-bipa, deny: [US-IL, US-TX], reason: Biometric privacy laws.}\n",
        encoding="utf-8",
    )
    return Gate.from_path(tmp_path)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"CF-IPCountry": "US"}, 451),
        ({"CF-IPCountry": "US", "cf-region-code": "IL"}, 451),
        ({"CF-IPCountry": "US", "cf-region-code": "CA"}, 200),
        # A region geogate does not know: the country alone, which is split.
        ({"CF-IPCountry": "US", "cf-region-code": "ZZ"}, 451),
        # A region of another country never moves the request out of the US.
        ({"CF-IPCountry": "US", "cf-region-code": "CA-QC"}, 451),
        ({"CF-IPCountry": "CA"}, 200),
    ],
)
def test_the_middleware_denies_a_country_only_request_in_a_split_country(
    face_gate, headers, status
):
    async def face(request):
        require_feature("face-match")(request)
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/face", face)])
    app.add_middleware(
        GeogateMiddleware, gate=face_gate, providers=["cloudflare"], trusted_proxies=["10.0.0.0/8"]
    )
    with TestClient(app, client=("10.0.0.2", 40000)) as client:
        response = client.get("/face", headers=headers)
    assert status == response.status_code


@pytest.mark.parametrize(
    ("context", "value", "reason"),
    [
        ({"country": "US"}, False, "DEFAULT"),
        ({"country": "US", "subdivision": "US-TX"}, False, "TARGETING_MATCH"),
        ({"country": "US", "subdivision": "US-NY"}, True, "DEFAULT"),
    ],
)
def test_ofrep_follows_the_partial_setting(face_gate, context, value, reason):
    with TestClient(create_app(face_gate)) as client:
        response = client.post("/ofrep/v1/evaluate/flags/face-match", json={"context": context})
    assert 200 == response.status_code
    body = response.json()
    assert (value, reason) == (body["value"], body["metadata"]["reason"])
    assert body["reason"] == ("TARGETING_MATCH" if reason == "TARGETING_MATCH" else "UNKNOWN")
    if context == {"country": "US"}:
        assert "US is split on" in body["metadata"]["explanation"]


def test_resolve_names_the_jurisdictions_that_hold_the_subdivision():
    from click.testing import CliRunner  # noqa: PLC0415 (only this test runs the CLI)

    from geogate.cli import main  # noqa: PLC0415

    args = ["resolve", "--header", "CF-IPCountry: UA", "--header", "cf-region-code: 43"]
    args += ["--provider", "cloudflare", "--trust", "10.0.0.0/8", "--peer", "10.0.0.1"]
    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert 0 == result.exit_code, result.output
    found = json.loads(result.output)
    assert ("UA", "UA-43") == (found["country"], found["subdivision"])
    assert ["OFAC-COMPREHENSIVE", "WORLD"] == found["jurisdictions"]


@pytest.mark.parametrize(
    ("country", "subdivision", "status", "code", "inner"),
    [
        ("IC", "ES-ZZ", LocationStatus.KNOWN, "ES", "ES-CN"),
        ("XI", "GB-ZZZ", LocationStatus.KNOWN, "GB", "GB-NIR"),
        # EA names two places: an unrecognised subdivision does not say which.
        ("EA", "ES-ZZ", LocationStatus.INVALID, None, None),
        ("XX", "US-ZZ", LocationStatus.UNKNOWN, None, None),
        (None, "US-ZZ", LocationStatus.KNOWN, "US", None),
    ],
)
def test_an_unrecognised_subdivision_beside_a_part_of_a_country(
    country, subdivision, status, code, inner
):
    from geogate._world.countries import resolve_place  # noqa: PLC0415

    found = resolve_place(country, subdivision)
    assert (status, code, inner) == (found.status, found.code, found.subdivision)


def test_the_audit_and_the_gate_share_the_split_step(tmp_path):
    """
    A hard_deny inside a split place that agrees with the rest (UA-43 denied, the
    rest of UA denied by default, UA-30 allowed): the audit's UA cell is the gate's
    deny, not the partial allow. The audit once carried its own copy of the step.
    """
    from geogate._review.audit import audit  # noqa: PLC0415

    (tmp_path / "p.yaml").write_text(
        "features:\n  f:\n    default: deny\n    partial: allow\n    rules:\n"
        "      - {id: ua30, allow: [UA-30], reason: r}\n"
        "      - {id: ofac, hard_deny: [OFAC-COMPREHENSIVE], reason: r}\n",
        encoding="utf-8",
    )
    gate = Gate.from_path(tmp_path)
    day = dt.date(2026, 6, 1)
    cells = audit(gate.policy, at=day).to_dict()["features"]["f"]["countries"]  # type: ignore[index]
    decision = gate.evaluate("f", country="UA", at=day)
    assert ("deny", None, False) == (cells["UA"]["effect"], cells["UA"]["rule"], decision.allowed)
    assert cells["UA"]["partial"] is True
    assert {"effect": "deny", "rule": "ofac"} == cells["UA"]["subdivisions"]["UA-43"]


def test_an_ambiguity_is_shown_where_it_still_holds(tmp_path):
    """
    ``allow: [EEA]`` and ``deny: [EFTA]`` disagree in Austria in 1994 and in Iceland
    ever since: the error names Iceland, which a reader recognises today, not the
    oldest overlap.
    """
    with pytest.raises(PolicyError) as caught:
        feature_gate(
            tmp_path,
            """\
            - {id: eea, allow: [EEA], reason: r}
            - {id: efta, deny: [EFTA], reason: r}
            """,
            default="deny",
        )
    (found,) = caught.value.diagnostics
    assert "disagree for IS (Iceland) from 1994-01-01, and neither" in found.message
