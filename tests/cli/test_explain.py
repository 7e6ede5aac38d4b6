"""`geogate explain`: the chain in plain words, as text and JSON, and its exit codes."""

from __future__ import annotations

import json

import pytest

from geogate import Gate, load_policies
from geogate._engine.decision import short_revision
from geogate._review.walkthrough import walk_through
from geogate.cli import ExitCode
from helpers.paths import FACE_POLICY, POLICIES


@pytest.fixture
def revision(shipped_policy):
    return short_revision(shipped_policy.revision)


@pytest.fixture
def eu_only(tmp_path):
    path = tmp_path / "eu.yaml"
    path.write_text(
        "features:\n  eu-only:\n    default: allow\n    rules:\n"
        "      - id: deny-eu\n        deny: [EU]\n        reason: Not offered in the EU.\n",
        encoding="utf-8",
    )
    return path


def test_text_llama_in_france(shipped_cli, revision):
    """The whole chain for a rule that wins alone, wrapped at 100 columns."""
    result = shipped_cli("explain", "llama-3.2-vision", "--country", "FR", "--at", "2026-01-01")

    assert ExitCode.OK == result.exit_code
    assert (
        f"""\
Why llama-3.2-vision — as of 2026-01-01, policy {revision}
1. Location: FR (France), from country 'FR'.
2. Jurisdictions: on 2026-01-01, FR is in EUROZONE, SCHENGEN, EU, EEA, WORLD.
3. Rule eu-multimodal-withheld (deny EU, from 2024-09-25) won: its target EU contains FR (France),
   and it is the only candidate.
4. Rule uk-multimodal-offered (allow UK, from 2024-09-25) is not a candidate: its targets (UK) do
   not contain FR (France) on 2026-01-01.
5. Result: DENIED. llama-3.2-vision is denied in FR (France, in the EU) by rule
   eu-multimodal-withheld (policy {revision}, as of 2026-01-01): Meta does not offer its
   multimodal Llama models in the EU, citing "the unpredictable nature of the European regulatory
   environment".
"""
        == result.output
    )


def test_text_iphone_in_france_the_day_before(shipped_cli, revision):
    """On 2025-03-30 the EU rule beats the WORLD rule: EU is a strict part of WORLD."""
    result = shipped_cli(
        "explain", "apple-intelligence-iphone", "--country", "fr", "--at", "2025-03-30"
    )

    assert ExitCode.OK == result.exit_code
    assert (
        f"""\
Why apple-intelligence-iphone — as of 2025-03-30, policy {revision}
1. Location: FR (France), from country 'fr'.
2. Jurisdictions: on 2025-03-30, FR is in EUROZONE, SCHENGEN, EU, EEA, WORLD.
3. Rule iphone-launch (allow WORLD, from 2024-10-28) lost: rule iphone-eu-withheld is more specific
   (EU ⊊ WORLD on 2025-03-30: all 34 countries and territories of EU are in WORLD, which has 250).
4. Rule iphone-eu-withheld (deny EU, until 2025-03-30) won: its target EU contains FR (France), and
   no other candidate is more specific.
5. Rule iphone-china-not-offered (deny CN) is not a candidate: its targets (CN) do not contain FR
   (France) on 2025-03-30.
6. Result: DENIED. apple-intelligence-iphone is denied in FR (France, in the EU) by rule
   iphone-eu-withheld (policy {revision}, as of 2025-03-30): Apple withheld Apple
   Intelligence from iPhones and iPads in the EU "due to the regulatory uncertainties brought about
   by the Digital Markets Act", until iOS 18.4 and iPadOS 18.4 (released 2025-03-31).
"""
        == result.output
    )


def test_text_iphone_in_france_the_day_after(shipped_cli, revision):
    """On 2025-03-31 the EU rule is outside its window, and the WORLD rule wins."""
    result = shipped_cli(
        "explain", "apple-intelligence-iphone", "--country", "FR", "--at", "2025-03-31"
    )

    assert ExitCode.OK == result.exit_code
    assert (
        f"""\
Why apple-intelligence-iphone — as of 2025-03-31, policy {revision}
1. Location: FR (France), from country 'FR'.
2. Jurisdictions: on 2025-03-31, FR is in EUROZONE, SCHENGEN, EU, EEA, WORLD.
3. Rule iphone-launch (allow WORLD, from 2024-10-28) won: its target WORLD contains FR (France), and
   it is the only candidate.
4. Rule iphone-eu-withheld (deny EU, until 2025-03-30) is not a candidate: outside its window (until
   2025-03-30) on 2025-03-31.
5. Rule iphone-china-not-offered (deny CN) is not a candidate: its targets (CN) do not contain FR
   (France) on 2025-03-31.
6. Result: ALLOWED. apple-intelligence-iphone is allowed in FR (France) by rule iphone-launch
   (policy {revision}, as of 2025-03-31): Apple Intelligence became available with iOS 18.1
   and iPadOS 18.1 on 2024-10-28.
"""
        == result.output
    )


def test_text_united_kingdom_leaves_the_eu(shipped_cli, eu_only):
    """GB is in the EU on 2020-01-31 and out of it on 2020-02-01, where the default decides."""
    revision = short_revision(load_policies(eu_only).revision)

    last_day = shipped_cli("explain", "eu-only", "--country", "GB", "--at", "2020-01-31",
                   "--policies", str(eu_only))  # fmt: skip
    first_day = shipped_cli("explain", "eu-only", "--country", "GB", "--at", "2020-02-01",
                    "--policies", str(eu_only))  # fmt: skip

    assert (ExitCode.OK, ExitCode.OK) == (last_day.exit_code, first_day.exit_code)
    assert (
        f"""\
Why eu-only — as of 2020-01-31, policy {revision}
1. Location: GB (United Kingdom), from country 'GB'.
2. Jurisdictions: on 2020-01-31, GB is in UK, EU, EEA, WORLD.
3. Rule deny-eu (deny EU) won: its target EU contains GB (United Kingdom), and it is the only
   candidate.
4. Result: DENIED. eu-only is denied in GB (United Kingdom, in the EU) by rule deny-eu (policy
   {revision}, as of 2020-01-31): Not offered in the EU.
"""
        == last_day.output
    )
    assert (
        f"""\
Why eu-only — as of 2020-02-01, policy {revision}
1. Location: GB (United Kingdom), from country 'GB'.
2. Jurisdictions: on 2020-02-01, GB is in UK, WORLD.
3. Rule deny-eu (deny EU) is not a candidate: its targets (EU) do not contain GB (United Kingdom) on
   2020-02-01.
4. Fallback: no rule applies, so the feature's default decides: allow.
5. Result: ALLOWED. eu-only is allowed in GB (United Kingdom) by the feature's default (policy
   {revision}, as of 2020-02-01): no rule applies there.
"""
        == first_day.output
    )


def test_result_is_the_eval_explanation(shipped_cli):
    """The last step carries exactly the sentence `geogate eval` prints."""
    args = ("llama-3.2-vision-license", "--domicile", "DE", "--at", "2026-01-01")

    explained = shipped_cli("explain", *args)
    evaluated = shipped_cli("eval", *args)

    verdict, _, sentence = evaluated.output.splitlines()[0].partition("  ")
    result = " ".join(explained.output.split("Result: ")[-1].split())
    assert f"{verdict}. {sentence}" == result


def test_json_is_to_dict(shipped_cli):
    """--format json prints WalkThrough.to_dict(); its decision is eval's JSON."""
    args = ("llama-3.2-vision", "--country", "GB", "--subdivision", "GB-NIR", "--at", "2026-01-01")

    result = shipped_cli("explain", *args, "--format", "json")
    evaluated = shipped_cli("eval", *args, "--format", "json")

    policy = load_policies(POLICIES)
    expected = walk_through(
        policy, "llama-3.2-vision", country="GB", subdivision="GB-NIR", at="2026-01-01"
    )
    data = json.loads(result.output)
    assert ExitCode.OK == result.exit_code
    assert expected.to_dict() == data
    assert json.loads(evaluated.output) == data["decision"]
    assert (
        Gate(policy)
        .evaluate("llama-3.2-vision", country="GB", subdivision="GB-NIR", at="2026-01-01")
        .to_dict()
        == data["decision"]
    )


def test_unknown_location_still_exits_zero(shipped_cli):
    """An unknown location is a decision (by the unknown setting): exit 0."""
    result = shipped_cli("explain", "llama-3.2-vision", "--at", "2026-01-01")

    assert ExitCode.OK == result.exit_code
    assert "1. Location: unknown, because no country was given.\n" in result.output
    assert (
        "Fallback: the location is unknown, so the feature's setting for unknown locations "
        "decides: deny."
    ) in " ".join(result.output.split())


def test_unknown_feature_is_a_usage_error(shipped_cli):
    """An unknown FEATURE has no chain to explain: exit 2 with a suggestion, no traceback."""
    result = shipped_cli("explain", "llama-3.2-visoin", "--country", "FR")

    assert ExitCode.USAGE == result.exit_code
    assert (
        "Error: Invalid value for FEATURE: no feature 'llama-3.2-visoin' in the policies; "
        "did you mean 'llama-3.2-vision'?"
    ) in result.output
    assert "Traceback" not in result.output


def test_unknown_feature_without_a_close_name(shipped_cli):
    """Without a close name, the known features are listed."""
    result = shipped_cli("explain", "zzz", "--country", "FR")

    assert ExitCode.USAGE == result.exit_code
    assert (
        "no feature 'zzz' in the policies; known features: apple-intelligence-iphone, "
        "apple-intelligence-mac, llama-3.1-405b, llama-3.2-vision, llama-3.2-vision-license"
    ) in " ".join(result.output.split())


def test_bad_date_is_a_usage_error(shipped_cli):
    """A date that is not YYYY-MM-DD: exit 2."""
    result = shipped_cli("explain", "llama-3.2-vision", "--country", "FR", "--at", "2026-02-30")

    assert ExitCode.USAGE == result.exit_code
    assert "'2026-02-30' is not a date; write YYYY-MM-DD" in result.output


def test_bad_policies_exit_1(shipped_cli, tmp_path):
    """Policies that do not load: diagnostics, exit 1."""
    (tmp_path / "bad.yaml").write_text(
        "features:\n  f:\n    default: allow\n    rules:\n"
        "      - id: r\n        deny: [GER]\n        reason: x\n",
        encoding="utf-8",
    )

    result = shipped_cli("explain", "f", "--country", "FR", "--policies", str(tmp_path))

    assert ExitCode.FINDINGS == result.exit_code
    assert "unknown country code 'GER'" in result.output


def test_missing_policies_exit_3(shipped_cli, tmp_path):
    """A policy path that does not exist: exit 3."""
    result = shipped_cli("explain", "f", "--country", "FR", "--policies", str(tmp_path / "nope"))

    assert ExitCode.ENVIRONMENT == result.exit_code
    assert "[path-not-found]" in result.output


def test_text_split_country(shipped_cli):
    """A request naming only US, where US-IL and US-TX are denied: the rule deciding inside,
    the places inside, the rest, and the partial setting, before the result."""
    revision = short_revision(load_policies(FACE_POLICY).revision)

    result = shipped_cli(
        "explain",
        "face-match",
        "--country",
        "US",
        "--at",
        "2026-06-01",
        "--policies",
        str(FACE_POLICY),
    )

    assert ExitCode.OK == result.exit_code
    assert (
        f"""\
Why face-match — as of 2026-06-01, policy {revision}
1. Location: US (United States), from country 'US'.
2. Jurisdictions: on 2026-06-01, US is in WORLD.
3. Rule face-bipa (deny US-IL, US-TX) decides inside: its targets (US-IL, US-TX) do not contain US
   (United States) itself on 2026-06-01, but it denies US-IL (Illinois, United States) and US-TX
   (Texas, United States) inside it, where the rest is allowed.
4. Rule face-sanctions (hard deny OCCUPIED-UA) is not a candidate: its targets (OCCUPIED-UA) do not
   contain US (United States) on 2026-06-01.
5. Rule face-eu (deny EU) is not a candidate: its targets (EU) do not contain US (United States) on
   2026-06-01.
6. Inside US on 2026-06-01: US-IL (Illinois, United States) and US-TX (Texas, United States) are
   denied by rule face-bipa.
7. Rest: no rule applies to US itself, so elsewhere in US the feature's default decides: allow.
8. Split: US is decided differently inside, and the request named no subdivision, so the feature's
   partial setting decides: deny.
9. Result: DENIED. face-match is denied in US (United States) (policy {revision}, as of
   2026-06-01): US is split on 2026-06-01: US-IL, US-TX are denied by rule face-bipa; the rest of US
   is allowed by the feature's default; the request named no subdivision, so the feature's partial
   setting (deny) applies.
"""
        == result.output
    )


def test_json_split_agrees_with_eval(shipped_cli):
    """--format json of a split country: the split, and the decision `eval` gives."""
    result = shipped_cli(
        "explain",
        "face-match",
        "--country",
        "UA",
        "--at",
        "2026-06-01",
        "--policies",
        str(FACE_POLICY),
    )
    data = json.loads(
        shipped_cli(
            "explain", "face-match", "--country", "UA", "--at", "2026-06-01", "--policies",
            str(FACE_POLICY), "--format", "json",
        ).output
    )  # fmt: skip

    gate = Gate.from_path(FACE_POLICY)
    assert gate.evaluate("face-match", country="UA", at="2026-06-01").to_dict() == data["decision"]
    assert ["UA-09", "UA-14", "UA-40", "UA-43"] == [
        place["code"] for place in data["chains"][0]["split"]["inside"]
    ]
    assert (["face-sanctions"], "partial") == (
        data["chains"][0]["split"]["hard_deny"],
        data["chains"][0]["fallback"],
    )
    assert "a request naming no subdivision is denied whatever" in result.output
