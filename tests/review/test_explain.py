"""walk_through(): the whole chain behind a decision, and its agreement with the gate."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from geogate import Gate, LocationStatus, load_policies
from geogate._policy.model import Basis, RuleKind
from geogate._review.walkthrough import Verdict, walk_through
from geogate._world.countries import all_countries
from helpers.paths import FACE_POLICY

#: Around the UK leaving the EU, around Llama 3.2's launch, around iOS 18.4.
DATES = [
    "2020-01-31",
    "2020-02-01",
    "2024-09-24",
    "2024-09-25",
    "2025-03-30",
    "2025-03-31",
    "2026-01-01",
]
#: A few subdivisions: one with a country code of its own, and plain ones.
SUBDIVISIONS = [("FR", "FR-974"), ("GB", "GB-NIR"), ("US", "US-CA"), ("FI", "FI-01")]

SMALL = """\
features:
  f:
    default: allow
    rules:
      - id: sanctions
        hard_deny: [CU]
        reason: Sanctions.
      - id: world
        allow: [CU, WORLD]
        from: 2020-01-01
        until: 2030-12-31
        reason: Everywhere.
      - id: a-eu
        deny: [EU]
        overrides: world
        reason: A.
      - id: b-eu
        deny: [EU, EEA]
        overrides: world
        reason: B.
      - id: gb
        deny: [GB]
        overrides: world
        reason: GB.
      - id: nir
        allow: [GB-NIR]
        overrides: gb
        reason: NIR.
  belfast:
    default: allow
    rules:
      - id: belfast-nir
        deny: [GB-NIR]
        reason: NIR.
      - id: bfs
        allow: [GB-BFS]
        overrides: belfast-nir
        reason: Belfast.
  bare:
    default: deny
  both:
    default: allow
    basis: location+domicile
    rules:
      - id: both-eu
        deny: [EU]
        reason: EU.
"""


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("explain") / "p.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return load_policies(path)


def verdicts(explanation, signal="location"):
    chain = next(c for c in explanation.chains if c.signal == signal)
    return {v.rule: (v.verdict, v.why) for v in chain.rules}


def assert_agrees(explanation, decision, feature):
    """The chain, worked out with the engine, ends where the gate's decision does."""
    assert decision == explanation.decision
    decided = next(c for c in explanation.chains if c.signal == explanation.decided_by)
    assert decision.effect == decided.effect
    assert decision.rule == decided.rule
    assert decision.jurisdictions == decided.jurisdictions
    assert decision.location == decided.status
    won = [v.rule for v in decided.rules if v.verdict is Verdict.WON]
    assert ([] if decision.rule is None else [decision.rule]) == won
    ambiguous = any(v.verdict is Verdict.AMBIGUOUS for v in decided.rules)
    assert (decision.rule is None) == (decided.fallback is not None or ambiguous)
    for chain in explanation.chains:
        assert [r.id for r in feature.rules] == [v.rule for v in chain.rules]
    assert explanation.steps[-1].endswith(decision.explanation)


@pytest.mark.parametrize("day", DATES)
@pytest.mark.parametrize(
    "feature", ["apple-intelligence-iphone", "apple-intelligence-mac", "llama-3.1-405b",
                "llama-3.2-vision", "llama-3.2-vision-license"],
)  # fmt: skip
def test_agrees_with_the_gate_everywhere(shipped_policy, feature, day):
    """For every shipped feature, every ISO country (and XK) and the dates that matter, explain
    gives the gate's decision, and its chain names the same rule or fallback."""
    gate = Gate(shipped_policy)
    found = shipped_policy.features[feature]
    for country in sorted(all_countries()):
        kwargs = {"country": country, "domicile": country, "at": day}
        explanation = walk_through(shipped_policy, feature, **kwargs)
        assert_agrees(explanation, gate.evaluate(feature, **kwargs), found)


@pytest.mark.parametrize("day", DATES)
def test_agrees_with_the_gate_on_subdivisions_and_odd_input(shipped_policy, small, day):
    """Subdivisions, unknown and invalid places, missing signals: still the gate's decision."""
    inputs = [
        *({"country": c, "subdivision": s} for c, s in SUBDIVISIONS),
        {"subdivision": "GB-NIR"},
        {"country": "uk"},
        {"country": "XX"},
        {"country": "GER"},
        {"country": "FR", "subdivision": "US-CA"},
        {},
        {"domicile": "DE"},
        {"country": "US", "domicile": "FR"},
        {"country": "CU"},
    ]
    for policy in (shipped_policy, small):
        gate = Gate(policy)
        for feature in policy.features.values():
            for kwargs in inputs:
                explanation = walk_through(policy, feature.id, **kwargs, at=day)
                decision = gate.evaluate(feature.id, **kwargs, at=day)
                assert_agrees(explanation, decision, feature)


def test_rule_loses_to_a_smaller_jurisdiction(shipped_policy):
    """On 2025-03-30 the EU rule beats the WORLD rule in FR; on 2025-03-31 it is out of its
    window and the WORLD rule wins."""
    before = walk_through(
        shipped_policy, "apple-intelligence-iphone", country="FR", at="2025-03-30"
    )
    after = walk_through(shipped_policy, "apple-intelligence-iphone", country="FR", at="2025-03-31")

    assert {
        "iphone-launch": (
            Verdict.LOST,
            (
                "rule iphone-eu-withheld is more specific (EU ⊊ WORLD on 2025-03-30: all 34 "
                "countries and territories of EU are in WORLD, which has 250)"
            ),
        ),
        "iphone-eu-withheld": (
            Verdict.WON,
            "its target EU contains FR (France), and no other candidate is more specific",
        ),
        "iphone-china-not-offered": (
            Verdict.NOT_CANDIDATE,
            "its targets (CN) do not contain FR (France) on 2025-03-30",
        ),
    } == verdicts(before)
    assert (
        Verdict.NOT_CANDIDATE,
        "outside its window (until 2025-03-30) on 2025-03-31",
    ) == verdicts(after)["iphone-eu-withheld"]
    assert (Verdict.WON, "its target WORLD contains FR (France), and it is the only candidate") == (
        verdicts(after)["iphone-launch"]
    )


def test_hard_deny_and_country_beats_jurisdiction(small):
    """A hard_deny candidate decides; the others lose to it, whatever their targets."""
    explanation = walk_through(small, "f", country="CU", at="2026-01-01")

    assert (
        Verdict.WON,
        "its target CU contains CU (Cuba), and a hard_deny rule decides whatever else applies",
    ) == verdicts(explanation)["sanctions"]
    assert (Verdict.LOST, "a hard_deny rule decides (sanctions)") == verdicts(explanation)["world"]


def test_subdivision_beats_country_and_jurisdiction(small):
    """GB-NIR beats GB (subdivision beats country) and WORLD (and jurisdiction)."""
    found = verdicts(walk_through(small, "f", country="GB", subdivision="NIR", at="2026-01-01"))

    assert (
        Verdict.LOST,
        (
            "rule nir is more specific (GB-NIR is a subdivision, GB a country: subdivision beats "
            "country)"
        ),
    ) == found["gb"]
    assert (
        Verdict.LOST,
        (
            "rule nir is more specific (GB-NIR is a subdivision, WORLD a jurisdiction: subdivision "
            "beats jurisdiction)"
        ),
    ) == found["world"]
    assert Verdict.WON == found["nir"][0]


def test_country_beats_jurisdiction(small):
    """In GB (no subdivision) the country rule beats the WORLD rule."""
    found = verdicts(walk_through(small, "f", country="GB", at="2026-01-01"))

    assert (
        Verdict.LOST,
        (
            "rule gb is more specific (GB is a country, WORLD a jurisdiction: country beats "
            "jurisdiction)"
        ),
    ) == found["world"]


def test_ties_are_broken_by_rule_id(small):
    """Two equally specific rules that agree: the first by id wins, the other loses the tie."""
    found = verdicts(walk_through(small, "f", country="DE", at="2026-01-01"))

    assert (
        Verdict.WON,
        (
            "its target EU contains DE (Germany), and no other candidate is more specific; b-eu is "
            "as specific and agrees: the tie is broken by rule id"
        ),
    ) == found["a-eu"]
    assert (
        Verdict.LOST,
        "as specific as a-eu and with the same effect: the tie is broken by rule id",
    ) == found["b-eu"]


def test_subdivision_beats_its_parent(small):
    """GB-BFS (Belfast) lies within GB-NIR: the inner subdivision wins."""
    found = verdicts(walk_through(small, "belfast", subdivision="GB-BFS", at="2026-01-01"))

    assert (
        Verdict.LOST,
        "rule bfs is more specific (GB-BFS lies within GB-NIR: a subdivision beats its parent)",
    ) == found["belfast-nir"]


def test_feature_without_rules(small):
    """A feature without rules: the chain says so, and the default decides."""
    explanation = walk_through(small, "bare", country="FR", at="2026-01-01")

    assert (
        "Location: FR (France), from country 'FR'.",
        "Jurisdictions: on 2026-01-01, FR is in EUROZONE, SCHENGEN, EU, EEA, WORLD.",
        "Rules: the feature has none.",
        "Fallback: no rule applies, so the feature's default decides: deny.",
        f"Result: DENIED. {explanation.decision.explanation}",
    ) == explanation.steps


def test_window_with_both_ends(small):
    """A window with a start and an end is quoted whole."""
    found = verdicts(walk_through(small, "f", country="US", at="2031-01-01"))

    assert (
        Verdict.NOT_CANDIDATE,
        "outside its window (from 2020-01-01 until 2030-12-31) on 2031-01-01",
    ) == found["world"]


def test_default_fallback(small):
    """No candidate: the chain says the default decided."""
    explanation = walk_through(small, "f", country="US", at="2031-01-01")

    (chain,) = explanation.chains
    assert ("default", None) == (chain.fallback, chain.rule)
    assert "Fallback: no rule applies, so the feature's default decides: allow." in (
        explanation.steps
    )


def test_unknown_location(shipped_policy):
    """An unknown location: no rule is a candidate, and the unknown setting decides."""
    explanation = walk_through(shipped_policy, "llama-3.2-vision", country="ZZ", at="2026-01-01")

    (chain,) = explanation.chains
    assert (
        LocationStatus.UNKNOWN,
        "unknown",
        "the country code 'ZZ' means an unknown location",
    ) == (
        chain.status,
        chain.fallback,
        chain.problem,
    )
    assert {
        "eu-multimodal-withheld": (
            Verdict.NOT_CANDIDATE,
            "the location is unknown, so no rule can contain it",
        ),
        "uk-multimodal-offered": (
            Verdict.NOT_CANDIDATE,
            "the location is unknown, so no rule can contain it",
        ),
    } == verdicts(explanation)
    assert explanation.steps[0] == (
        "Location: unknown, because the country code 'ZZ' means an unknown location."
    )


def test_location_and_domicile(small):
    """location+domicile: both chains are shown, and the one that denies decides."""
    explanation = walk_through(small, "both", country="US", domicile="FR", at="2026-01-01")

    assert ["location", "domicile"] == [c.signal for c in explanation.chains]
    assert "domicile" == explanation.decided_by
    assert (Verdict.WON, "its target EU contains FR (France), and it is the only candidate") == (
        verdicts(explanation, "domicile")["both-eu"]
    )
    allowed = walk_through(small, "both", country="US", domicile="US", at="2026-01-01")
    assert ("location", True) == (allowed.decided_by, allowed.decision.allowed)


def test_domicile_basis_ignores_the_location(shipped_policy):
    """basis: domicile: only the domicile's chain, and a first step that says so."""
    explanation = walk_through(
        shipped_policy, "llama-3.2-vision-license", country="US", domicile="DE", at="2026-01-01"
    )

    assert (Basis.DOMICILE, ["domicile"]) == (
        explanation.basis,
        [c.signal for c in explanation.chains],
    )
    assert explanation.steps[:2] == (
        "Decided on: the domicile of the account or company, not where the request comes from.",
        "Domicile: DE (Germany), from domicile 'DE'.",
    )


def test_ambiguous_rules_fail_closed(small):
    """Rules that disagree without being ordered (refused at load time, built here by hand)
    are both reported as ambiguous, and the decision denies."""
    feature = small.features["both"]
    rule = feature.rules[0]
    allow = attrs.evolve(rule, id="both-eu-allow", kind=RuleKind.ALLOW)
    policy = attrs.evolve(
        small, features={"both": attrs.evolve(feature, rules=(rule, allow), basis=Basis.LOCATION)}
    )

    explanation = walk_through(policy, "both", country="FR", at="2026-01-01")

    assert {
        "both-eu": (
            Verdict.AMBIGUOUS,
            (
                "its target EU contains FR (France), but it disagrees with both-eu-allow and "
                "neither is more specific, so the gate fails closed (deny)"
            ),
        ),
        "both-eu-allow": (
            Verdict.AMBIGUOUS,
            (
                "its target EU contains FR (France), but it disagrees with both-eu and neither is "
                "more specific, so the gate fails closed (deny)"
            ),
        ),
    } == verdicts(explanation)
    assert False is explanation.decision.allowed
    assert_agrees(explanation, Gate(policy).evaluate("both", country="FR", at="2026-01-01"),
                  policy.features["both"])  # fmt: skip


@pytest.mark.parametrize(
    ("feature", "kwargs", "error_code"),
    [
        ("llama-3.2-visoin", {"country": "FR"}, "FLAG_NOT_FOUND"),
        ("llama-3.2-vision", {"country": "FR", "at": "2026-02-30"}, "INVALID_CONTEXT"),
        ("llama-3.2-vision", {"country": 42}, "INVALID_CONTEXT"),
        (42, {"country": "FR"}, "FLAG_NOT_FOUND"),
    ],
)
def test_bad_input_gives_the_gates_error_decision(shipped_policy, feature, kwargs, error_code):
    """Bad input never raises: no chain, and the gate's denying decision says why."""
    explanation = walk_through(shipped_policy, feature, **kwargs)

    assert Gate(shipped_policy).evaluate(feature, **kwargs) == explanation.decision
    assert ((), None, error_code) == (
        explanation.chains,
        explanation.decided_by,
        explanation.decision.error_code,
    )
    assert (f"Result: DENIED. {explanation.decision.explanation}",) == explanation.steps


def test_today_by_default(shipped_policy):
    """Without a date, the explanation is for today (UTC), as the gate's is."""
    explanation = walk_through(shipped_policy, "llama-3.2-vision", country="FR")

    assert dt.datetime.now(dt.UTC).date() == explanation.as_of


def test_to_dict(shipped_policy):
    """to_dict: the chain as data, the steps in words, and Decision.to_dict()."""
    explanation = walk_through(shipped_policy, "llama-3.2-vision", country="GB", at="2026-01-01")
    data = explanation.to_dict()

    assert [
        "feature",
        "basis",
        "as_of",
        "revision",
        "chains",
        "decided_by",
        "steps",
        "decision",
    ] == list(data)
    assert explanation.decision.to_dict() == data["decision"]
    assert {
        "signal": "location",
        "given": "country 'GB'",
        "status": "known",
        "country": "GB",
        "subdivisions": [],
        "place": "GB (United Kingdom)",
        "problem": None,
        "jurisdictions": ["UK", "WORLD"],
        "rules": [
            {
                "rule": "eu-multimodal-withheld",
                "kind": "deny",
                "targets": ["EU"],
                "from": "2024-09-25",
                "until": None,
                "verdict": "not a candidate",
                "why": "its targets (EU) do not contain GB (United Kingdom) on 2026-01-01",
                "matched": [],
                "inside": [],
            },
            {
                "rule": "uk-multimodal-offered",
                "kind": "allow",
                "targets": ["UK"],
                "from": "2024-09-25",
                "until": None,
                "verdict": "won",
                "why": "its target UK contains GB (United Kingdom), and it is the only candidate",
                "matched": ["UK"],
                "inside": [],
            },
        ],
        "fallback": None,
        "effect": "allow",
        "rule": "uk-multimodal-offered",
        "split": None,
    } == data["chains"][0]


# Places below the country: split places, and jurisdictions that hold subdivisions.


SPECIFIC = """\
jurisdictions:
  OCCUPIED-UA:
    - UA-43
    - UA-40
    - {code: UA-14, from: 2022-02-21}
    - {code: UA-09, from: 2022-02-21}
features:
  f:
    default: deny
    rules:
      - id: ua
        allow: [UA]
        reason: Offered in Ukraine.
      - id: occupied
        deny: [OCCUPIED-UA]
        overrides: [ua, world]
        reason: Not in occupied regions.
      - id: world
        allow: [WORLD]
        reason: Everywhere.
      - id: ofac
        deny: [OFAC-COMPREHENSIVE]
        overrides: world
        reason: Sanctions.
      - id: crimea
        allow: [UA-43]
        overrides: [occupied, ofac]
        reason: A test.
"""


@pytest.fixture(scope="module")
def face():
    return load_policies(FACE_POLICY)


@pytest.fixture(scope="module")
def specific(tmp_path_factory):
    path = tmp_path_factory.mktemp("specific") / "p.yaml"
    path.write_text(SPECIFIC, encoding="utf-8")
    return load_policies(path)


@pytest.mark.parametrize("day", ["2020-01-01", "2022-02-21", "2026-06-01", "2026-10-01"])
def test_agrees_with_the_gate_on_every_place_the_rules_name(face, specific, day):
    """Every country and every subdivision the rules name (with their parents), alone and
    with their country: explain gives the gate's decision, split places included."""
    for policy in (face, specific):
        gate = Gate(policy)
        for feature in policy.features.values():
            places = [{"country": code} for code in sorted(all_countries())]
            places += [
                {"country": code.partition("-")[0], "subdivision": code}
                for code in ("US-IL", "US-TX", "US-CA", "UA-43", "UA-40", "UA-14", "UA-09",
                             "GB-SCT", "GB-ENG", "UA-30")
            ]  # fmt: skip
            for kwargs in places:
                explanation = walk_through(policy, feature.id, **kwargs, at=day)
                assert_agrees(explanation, gate.evaluate(feature.id, **kwargs, at=day), feature)


def test_split_country_names_the_places_inside_and_the_partial_setting(face):
    """A request naming only US: US-IL and US-TX are denied by face-bipa, the rest allowed by
    default, so the partial setting (deny) decides; the rule deciding inside says so."""
    explanation = walk_through(face, "face-match", country="US", at="2026-06-01")

    (chain,) = explanation.chains
    assert ("partial", None, False) == (chain.fallback, chain.rule, explanation.decision.allowed)
    assert (
        Verdict.INSIDE,
        (
            "its targets (US-IL, US-TX) do not contain US (United States) itself on 2026-06-01, "
            "but it denies US-IL (Illinois, United States) and US-TX (Texas, United States) "
            "inside it, where the rest is allowed"
        ),
    ) == verdicts(explanation)["face-bipa"]
    assert ("US-IL", "US-TX") == chain.rules[0].inside
    assert (
        (
            "Inside US on 2026-06-01: US-IL (Illinois, United States) and US-TX (Texas, United "
            "States) are denied by rule face-bipa."
        ),
        (
            "Rest: no rule applies to US itself, so elsewhere in US the feature's default decides: "
            "allow."
        ),
        (
            "Split: US is decided differently inside, and the request named no subdivision, so the "
            "feature's partial setting decides: deny."
        ),
        f"Result: DENIED. {explanation.decision.explanation}",
    ) == explanation.steps[-4:]
    assert {
        "inside": [
            {
                "code": "US-IL",
                "place": "US-IL (Illinois, United States)",
                "effect": "deny",
                "rule": "face-bipa",
                "target": "US-IL",
            },
            {
                "code": "US-TX",
                "place": "US-TX (Texas, United States)",
                "effect": "deny",
                "rule": "face-bipa",
                "target": "US-TX",
            },
        ],
        "rest": {
            "code": "US",
            "place": "US (United States)",
            "effect": "allow",
            "rule": None,
            "target": None,
        },
        "partial": "deny",
        "hard_deny": [],
        "effect": "deny",
    } == explanation.to_dict()["chains"][0]["split"]


def test_split_country_with_a_hard_deny_inside(face):
    """A request naming only UA: a hard_deny decides its occupied regions, so it is denied
    whatever the partial setting says; the regions held on the date are named."""
    before = walk_through(face, "face-match", country="UA", at="2020-01-01")
    after = walk_through(face, "face-match", country="UA", at="2026-06-01")

    assert (
        "Inside UA on 2020-01-01: UA-40 (Sevastopol, Ukraine) and UA-43 (Avtonomna Respublika "
        "Krym, Ukraine) are denied by hard-deny rule face-sanctions."
    ) == before.steps[-4]
    assert (
        "Inside UA on 2026-06-01: UA-09 (Luhanska oblast, Ukraine), UA-14 (Donetska oblast, "
        "Ukraine), UA-40 (Sevastopol, Ukraine) and UA-43 (Avtonomna Respublika Krym, Ukraine) "
        "are denied by hard-deny rule face-sanctions."
    ) == after.steps[-4]
    assert (
        "Split: UA is decided differently inside, and the hard-deny rule face-sanctions decides "
        "inside it, so a request naming no subdivision is denied whatever the feature's partial "
        "setting (deny) says: deny."
    ) == after.steps[-2]
    assert ("face-sanctions",) == after.chains[0].split.hard_deny


def test_split_pilot_only_in_its_window(face):
    """GB is split only while the Scottish pilot runs; GB-SCT itself is allowed by the rule."""
    during = walk_through(face, "scot-pilot", country="GB", at="2026-07-01")
    after = walk_through(face, "scot-pilot", country="GB", at="2026-10-01")
    scotland = walk_through(face, "scot-pilot", country="GB", subdivision="GB-SCT", at="2026-07-01")

    assert "partial" == during.chains[0].fallback
    assert (
        "Rest: no rule applies to GB itself, so elsewhere in GB the feature's default decides: "
        "deny."
    ) == during.steps[-3]
    assert ("default", None) == (after.chains[0].fallback, after.chains[0].split)
    assert ("pilot-scotland", True) == (scotland.decision.rule, scotland.decision.allowed)


def test_split_subdivision_rule_decides_the_rest(small):
    """GB-NIR with Belfast inside decided the other way: belfast-nir decides the rest of
    GB-NIR only, bfs decides inside, and the partial setting decides the request."""
    explanation = walk_through(
        small, "belfast", country="GB", subdivision="GB-NIR", at="2026-01-01"
    )

    assert {
        "belfast-nir": (
            Verdict.REST,
            (
                "its target GB-NIR contains GB-NIR (Northern Ireland, United Kingdom), and it is "
                "the only candidate; but places inside GB-NIR are decided differently, so it "
                "decides only the rest"
            ),
        ),
        "bfs": (
            Verdict.INSIDE,
            (
                "its targets (GB-BFS) do not contain GB-NIR (Northern Ireland, United Kingdom) "
                "itself on 2026-01-01, but it allows GB-BFS (Belfast City, United Kingdom) inside "
                "it, where the rest is denied"
            ),
        ),
    } == verdicts(explanation)
    assert (
        "Rest: elsewhere in GB-NIR, rule belfast-nir decides: deny.",
        (
            "Split: GB-NIR is decided differently inside, and the request named no subdivision "
            "inside GB-NIR, so the feature's partial setting decides: deny."
        ),
    ) == explanation.steps[-3:-1]


@pytest.mark.parametrize(
    ("subdivision", "rule", "why"),
    [
        (
            "UA-14",
            "ua",
            (
                "rule occupied is more specific (OCCUPIED-UA holds only places inside UA on "
                "2026-01-01 (UA-09, UA-14, UA-40, UA-43), so OCCUPIED-UA is more specific)"
            ),
        ),
        (
            "UA-14",
            "world",
            (
                "rule occupied is more specific (OCCUPIED-UA ⊊ WORLD on 2026-01-01: every place "
                "OCCUPIED-UA holds is in WORLD or inside a place it holds (UA-09, UA-14, UA-40, "
                "UA-43 in UA), and WORLD holds more, so OCCUPIED-UA is more specific)"
            ),
        ),
        (
            "UA-14",
            "ofac",
            (
                "rule occupied is more specific (OCCUPIED-UA ⊊ OFAC-COMPREHENSIVE on 2026-01-01: "
                "every place OCCUPIED-UA holds is in OFAC-COMPREHENSIVE (UA-09, UA-14, UA-40, "
                "UA-43), and OFAC-COMPREHENSIVE holds more, so OCCUPIED-UA is more specific)"
            ),
        ),
        (
            "UA-43",
            "occupied",
            (
                "rule crimea is more specific (OCCUPIED-UA holds UA-43 and 3 other places on "
                "2026-01-01, so UA-43 is more specific)"
            ),
        ),
    ],
)
def test_specificity_of_jurisdictions_that_hold_subdivisions(specific, subdivision, rule, why):
    """A jurisdiction of regions is narrower than the country holding them, than WORLD and
    than a set holding them and more; the reason says which places make it so."""
    found = verdicts(walk_through(specific, "f", subdivision=subdivision, at="2026-01-01"))

    assert (Verdict.LOST, why) == found[rule]


def test_specificity_between_a_built_in_set_and_the_world(specific):
    """OFAC-COMPREHENSIVE holds countries and regions: each lies in WORLD or inside a member."""
    found = verdicts(walk_through(specific, "f", country="CU", at="2026-01-01"))

    assert (
        Verdict.LOST,
        (
            "rule ofac is more specific (OFAC-COMPREHENSIVE ⊊ WORLD on 2026-01-01: every place "
            "OFAC-COMPREHENSIVE holds is in WORLD or inside a place it holds (CU, IR, KP; UA-09, "
            "UA-14, UA-40, UA-43 in UA), and WORLD holds more, so OFAC-COMPREHENSIVE is more "
            "specific)"
        ),
    ) == found["world"]


def test_jurisdictions_of_a_subdivision(face):
    """The jurisdictions step names the subdivision and the sets that hold it."""
    explanation = walk_through(
        face, "face-match", country="UA", subdivision="UA-43", at="2026-06-01"
    )

    assert (
        "Jurisdictions: on 2026-06-01, UA-43 is in OCCUPIED-UA, OFAC-COMPREHENSIVE, WORLD."
    ) == explanation.steps[1]


def test_split_domicile(tmp_path):
    """A domicile is a country: OFAC-COMPREHENSIVE splits UA, and a domicile of UA gets the
    partial setting, or deny where a hard_deny decides inside (location+domicile)."""
    path = tmp_path / "p.yaml"
    path.write_text(
        "features:\n"
        "  d:\n    default: allow\n    basis: domicile\n    partial: allow\n    rules:\n"
        "      - {id: sanctioned, deny: [OFAC-COMPREHENSIVE], reason: R.}\n"
        "  b:\n    default: allow\n    basis: location+domicile\n    rules:\n"
        "      - {id: hard, hard_deny: [OFAC-COMPREHENSIVE], reason: R.}\n",
        encoding="utf-8",
    )
    policy = load_policies(path)

    domicile = walk_through(policy, "d", domicile="UA", at="2026-01-01")
    both = walk_through(policy, "b", country="FR", domicile="UA", at="2026-01-01")

    assert (
        "Split: UA is decided differently inside, and a domicile names a country, not a "
        "subdivision, so the feature's partial setting decides: allow."
    ) == domicile.steps[-2]
    assert (True, "domicile") == (domicile.decision.allowed, domicile.decided_by)
    assert (
        "Split: UA is decided differently inside, and the hard-deny rule hard decides inside it, "
        "so a domicile of UA is denied whatever the feature's partial setting (deny) says: deny."
    ) == both.steps[-4]
    assert "The domicile alone gives: deny (by a hard_deny rule inside)." == both.steps[-3]
    assert (False, "domicile") == (both.decision.allowed, both.decided_by)


def test_split_with_a_hard_deny_that_agrees_with_the_rest(tmp_path):
    """Default deny, a pilot in Kyiv, OFAC-COMPREHENSIVE hard-denied: the regions are denied
    like the rest of UA, but by a hard_deny, so a request naming only UA is denied whatever
    partial: allow says, and the chain names them."""
    path = tmp_path / "p.yaml"
    path.write_text(
        "features:\n  f:\n    default: deny\n    partial: allow\n    rules:\n"
        "      - {id: kyiv, allow: [UA-30], reason: R.}\n"
        "      - {id: sanctions, hard_deny: [OFAC-COMPREHENSIVE], reason: R.}\n",
        encoding="utf-8",
    )
    policy = load_policies(path)

    explanation = walk_through(policy, "f", country="UA", at="2026-01-01")

    assert_agrees(
        explanation,
        Gate(policy).evaluate("f", country="UA", at="2026-01-01"),
        policy.features["f"],
    )
    assert (
        Verdict.INSIDE,
        (
            "its targets (OFAC-COMPREHENSIVE) do not contain UA (Ukraine) itself on 2026-01-01, "
            "but it denies UA-09 (Luhanska oblast, Ukraine), UA-14 (Donetska oblast, Ukraine), "
            "UA-40 (Sevastopol, Ukraine) and UA-43 (Avtonomna Respublika Krym, Ukraine) inside "
            "it, where the rest is denied too, but not by a hard_deny"
        ),
    ) == verdicts(explanation)["sanctions"]
    assert (
        "Split: UA is decided differently inside, and the hard-deny rule sanctions decides "
        "inside it, so a request naming no subdivision is denied whatever the feature's partial "
        "setting (allow) says: deny."
    ) == explanation.steps[-2]
