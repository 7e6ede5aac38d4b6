"""`Gate` and `Decision`: fields, JSON form, explanations, revision, memo, threads, bad input."""

from __future__ import annotations

import datetime as dt
import json
import re
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import attrs
import pytest

from geogate import Decision, Effect, ErrorCode, Gate, LocationStatus, Reason
from geogate._world.countries import all_countries
from helpers.paths import POLICIES

SHIPPED_FEATURES = (
    "apple-intelligence-iphone",
    "apple-intelligence-mac",
    "llama-3.1-405b",
    "llama-3.2-vision",
    "llama-3.2-vision-license",
)
LLAMA_EU_REASON = (
    'Meta does not offer its multimodal Llama models in the EU, citing "the unpredictable '
    'nature of the European regulatory environment".'
)
LLAMA_UK_REASON = (
    "Meta released the multimodal Llama models in the United Kingdom, which left the EU on "
    "2020-01-31."
)


def rule_line(path, rule_id):
    """Return the 1-based line of ``- id: <rule_id>`` in *path*."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.strip() == f"- id: {rule_id}")


# The shipped policies


def test_shipped_features(shipped):
    """The shipped policies define the Llama and Apple Intelligence features and load cleanly."""
    assert SHIPPED_FEATURES == shipped.features
    assert () == shipped.warnings


@pytest.mark.parametrize(
    ("feature", "request_", "explanation"),
    [
        (
            "llama-3.2-vision",
            {"country": "FR", "at": "2026-01-01"},
            (
                "llama-3.2-vision is denied in FR (France, in the EU) by rule "
                "eu-multimodal-withheld (policy {rev}, as of 2026-01-01): {eu}"
            ),
        ),
        (
            "llama-3.2-vision",
            {"country": "FR", "subdivision": "FR-974", "at": "2026-01-01"},
            (
                "llama-3.2-vision is denied in RE (Réunion, in the EU) by rule "
                "eu-multimodal-withheld (policy {rev}, as of 2026-01-01): {eu}"
            ),
        ),
        (
            "llama-3.2-vision",
            {"country": "GB", "at": "2026-01-01"},
            (
                "llama-3.2-vision is allowed in GB (United Kingdom, in the UK) by rule "
                "uk-multimodal-offered (policy {rev}, as of 2026-01-01): {uk}"
            ),
        ),
        (
            "llama-3.2-vision",
            {"country": "GB", "subdivision": "GB-NIR", "at": "2026-01-01"},
            (
                "llama-3.2-vision is allowed in GB-NIR (Northern Ireland, United Kingdom, in the "
                "UK) by rule uk-multimodal-offered (policy {rev}, as of 2026-01-01): {uk}"
            ),
        ),
        (
            "llama-3.2-vision",
            {"country": "CN", "at": "2026-01-01"},
            (
                "llama-3.2-vision is allowed in CN (China) by the feature's default (policy {rev}, "
                "as of 2026-01-01): no rule applies there."
            ),
        ),
        (
            "llama-3.2-vision",
            {"country": "FR", "at": "2024-09-24"},
            (
                "llama-3.2-vision is allowed in FR (France) by the feature's default (policy "
                "{rev}, as of 2024-09-24): no rule applies there."
            ),
        ),
        (
            "llama-3.2-vision",
            {"country": "XX", "at": "2026-01-01"},
            (
                "llama-3.2-vision is denied by the feature's setting for unknown locations (policy "
                "{rev}, as of 2026-01-01): The country code 'XX' means an unknown location."
            ),
        ),
        (
            "llama-3.1-405b",
            {"country": "FR", "at": "2026-01-01"},
            (
                "llama-3.1-405b is allowed in FR (France, in the EU) by rule eu-text-offered "
                "(policy {rev}, as of 2026-01-01): Meta's text-only Llama models are available in "
                "the EU; only the multimodal ones are withheld."
            ),
        ),
        (
            "llama-3.2-vision-license",
            {"country": "US", "domicile": "DE", "at": "2026-01-01"},
            (
                "llama-3.2-vision-license is denied for an account domiciled in DE (Germany, in "
                "the EU) by rule aup-eu-domicile (policy {rev}, as of 2026-01-01): The Llama 3.2 "
                "Acceptable Use Policy does not grant the multimodal rights to an individual "
                "domiciled in, or a company with a principal place of business in, the European "
                "Union (end users of a product that incorporates the models are not affected)."
            ),
        ),
        (
            "llama-3.2-vision-license",
            {"country": "FR", "at": "2026-01-01"},
            (
                "llama-3.2-vision-license is denied by the feature's setting for unknown locations "
                "(policy {rev}, as of 2026-01-01): No domicile was given."
            ),
        ),
        (
            "apple-intelligence-iphone",
            {"country": "FR", "at": "2025-03-30"},
            (
                "apple-intelligence-iphone is denied in FR (France, in the EU) by rule "
                "iphone-eu-withheld (policy {rev}, as of 2025-03-30): Apple withheld Apple "
                'Intelligence from iPhones and iPads in the EU "due to the regulatory '
                'uncertainties brought about by the Digital Markets Act", until iOS 18.4 and '
                "iPadOS 18.4 (released 2025-03-31)."
            ),
        ),
        (
            "apple-intelligence-iphone",
            {"country": "FR", "at": "2025-03-31"},
            (
                "apple-intelligence-iphone is allowed in FR (France) by rule iphone-launch (policy "
                "{rev}, as of 2025-03-31): Apple Intelligence became available with iOS 18.1 and "
                "iPadOS 18.1 on 2024-10-28."
            ),
        ),
        (
            "apple-intelligence-iphone",
            {"country": "US", "at": "2024-10-27"},
            (
                "apple-intelligence-iphone is denied in US (United States) by the feature's "
                "default (policy {rev}, as of 2024-10-27): no rule applies there."
            ),
        ),
        (
            "apple-intelligence-mac",
            {"country": "FR", "at": "2024-10-28"},
            (
                "apple-intelligence-mac is allowed in FR (France) by rule mac-launch (policy "
                "{rev}, as of 2024-10-28): Apple Intelligence became available with macOS Sequoia "
                "15.1 on 2024-10-28, including on Macs in the EU."
            ),
        ),
        (
            "apple-intelligence-mac",
            {"country": "CN", "at": "2026-01-01"},
            (
                "apple-intelligence-mac is denied in CN (China) by rule mac-china-not-offered "
                "(policy {rev}, as of 2026-01-01): Apple Intelligence is not offered in mainland "
                "China."
            ),
        ),
    ],
)
def test_shipped_explanations(shipped, feature, request_, explanation):
    """Each explanation names the feature, place, rule, revision, date and reason, in full."""
    rev = shipped.revision[:19]
    assert (
        explanation.format(rev=rev, eu=LLAMA_EU_REASON, uk=LLAMA_UK_REASON)
        == shipped.evaluate(feature, **request_).explanation
    )


@pytest.mark.parametrize(
    ("feature", "country", "day", "allowed"),
    [
        ("llama-3.2-vision", "FR", "2026-01-01", False),
        ("llama-3.2-vision", "IE", "2026-01-01", False),
        ("llama-3.2-vision", "GB", "2026-01-01", True),
        ("llama-3.2-vision", "JE", "2026-01-01", True),
        ("llama-3.2-vision", "GL", "2026-01-01", True),
        ("llama-3.2-vision", "NO", "2026-01-01", True),
        ("llama-3.1-405b", "FR", "2026-01-01", True),
        ("apple-intelligence-iphone", "DE", "2024-10-28", False),
        ("apple-intelligence-iphone", "DE", "2025-03-31", True),
        ("apple-intelligence-iphone", "GB", "2024-10-28", True),
        ("apple-intelligence-iphone", "CN", "2026-01-01", False),
        ("apple-intelligence-mac", "DE", "2024-10-28", True),
        ("apple-intelligence-mac", "DE", "2024-10-27", False),
    ],
)
def test_shipped_scenario(shipped, feature, country, day, allowed):
    """The shipped scenario: Llama in the EU and UK, Apple Intelligence's timeline."""
    assert allowed == shipped.is_allowed(feature, country=country, at=day)


# Decision fields and to_dict()

KEYS = [
    "feature",
    "allowed",
    "effect",
    "country",
    "subdivision",
    "domicile",
    "jurisdictions",
    "rule",
    "source",
    "citation",
    "reason",
    "error_code",
    "location",
    "explanation",
    "revision",
    "as_of",
    "location_source",
]


def test_to_dict_of_the_shipped_llama_decision(shipped):
    """`to_dict()` has exactly the keys the README's Decision table lists, JSON-ready."""
    decision = shipped.evaluate("llama-3.2-vision", country="FR", at="2026-01-01")
    line = rule_line(POLICIES / "meta-llama.yaml", "eu-multimodal-withheld")
    rev = shipped.revision
    assert {
        "feature": "llama-3.2-vision",
        "allowed": False,
        "effect": "deny",
        "country": "FR",
        "subdivision": None,
        "domicile": None,
        "jurisdictions": ["EUROZONE", "SCHENGEN", "EU", "EEA", "WORLD"],
        "rule": "eu-multimodal-withheld",
        "source": f"policies/meta-llama.yaml:{line}",
        "citation": "https://www.axios.com/2024/07/17/meta-future-multimodal-ai-models-eu",
        "reason": "TARGETING_MATCH",
        "error_code": None,
        "location": "known",
        "explanation": "llama-3.2-vision is denied in FR (France, in the EU) by rule "
        f"eu-multimodal-withheld (policy {rev[:19]}, as of 2026-01-01): {LLAMA_EU_REASON}",
        "revision": rev,
        "as_of": "2026-01-01",
        "location_source": "explicit",
    } == decision.to_dict()
    assert KEYS == list(decision.to_dict())
    assert decision.to_dict() == json.loads(json.dumps(decision.to_dict()))


POLICY = """\
features:
  chat:
    description: A chat model.
    default: allow
    rules:
      - id: eu-withheld
        deny: [EU]
        reason: Not in the EU.
        source: https://example.com/eu
      - id: nir-pilot
        allow: [GB-NIR]
        overrides: eu-withheld
        reason: Pilot in Northern Ireland.
  licence:
    default: allow
    basis: domicile
    rules:
      - id: eu-domicile
        deny: [EU]
        reason: Not for EU companies.
"""


@pytest.fixture
def small(tmp_path, monkeypatch):
    """A small policy set in a temporary directory, loaded with paths relative to it."""
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return Gate.from_path(tmp_path)


def test_decision_fields_for_a_rule(small):
    """A decision made by a rule: every field."""
    decision = small.evaluate("chat", country="fr", at=dt.date(2026, 1, 1))
    rev = small.revision
    assert (
        Decision(
            feature="chat",
            allowed=False,
            effect=Effect.DENY,
            country="FR",
            subdivision=None,
            domicile=None,
            jurisdictions=("EUROZONE", "SCHENGEN", "EU", "EEA", "WORLD"),
            rule="eu-withheld",
            source="policy.yaml:6",
            citation="https://example.com/eu",
            reason=Reason.TARGETING_MATCH,
            error_code=None,
            location=LocationStatus.KNOWN,
            explanation=f"chat is denied in FR (France, in the EU) by rule eu-withheld (policy "
            f"{rev[:19]}, as of 2026-01-01): Not in the EU.",
            revision=rev,
            as_of=dt.date(2026, 1, 1),
            location_source="explicit",
        )
        == decision
    )
    assert not decision
    assert not small.is_allowed("chat", country="fr", at=dt.date(2026, 1, 1))


def test_decision_fields_for_a_subdivision(small):
    """A subdivision rule: the subdivision is reported and the rule has no citation."""
    decision = small.evaluate("chat", country="GB", subdivision="NIR", at="2026-01-01")
    assert {
        "feature": "chat",
        "allowed": True,
        "effect": "allow",
        "country": "GB",
        "subdivision": "GB-NIR",
        "domicile": None,
        "jurisdictions": ["UK", "WORLD"],
        "rule": "nir-pilot",
        "source": "policy.yaml:10",
        "citation": None,
        "reason": "TARGETING_MATCH",
        "error_code": None,
        "location": "known",
        "explanation": "chat is allowed in GB-NIR (Northern Ireland, United Kingdom) by rule "
        f"nir-pilot (policy {small.revision[:19]}, as of 2026-01-01): Pilot in Northern Ireland.",
        "revision": small.revision,
        "as_of": "2026-01-01",
        "location_source": "explicit",
    } == decision.to_dict()
    assert decision


def test_decision_fields_for_the_default(small):
    """No rule: reason DEFAULT, no rule, no source."""
    decision = small.evaluate("chat", country="US", at="2026-01-01")
    assert {
        "feature": "chat",
        "allowed": True,
        "effect": "allow",
        "country": "US",
        "subdivision": None,
        "domicile": None,
        "jurisdictions": ["WORLD"],
        "rule": None,
        "source": None,
        "citation": None,
        "reason": "DEFAULT",
        "error_code": None,
        "location": "known",
        "explanation": f"chat is allowed in US (United States) by the feature's default (policy "
        f"{small.revision[:19]}, as of 2026-01-01): no rule applies there.",
        "revision": small.revision,
        "as_of": "2026-01-01",
        "location_source": "explicit",
    } == decision.to_dict()


def test_decision_fields_for_a_domicile(small):
    """Domicile basis: the request's country and the domicile are both reported."""
    decision = small.evaluate("licence", country="US", domicile="el", at="2026-01-01")
    assert {
        "feature": "licence",
        "allowed": False,
        "effect": "deny",
        "country": "US",
        "subdivision": None,
        "domicile": "GR",
        "jurisdictions": ["EUROZONE", "SCHENGEN", "EU", "EEA", "WORLD"],
        "rule": "eu-domicile",
        "source": "policy.yaml:18",
        "citation": None,
        "reason": "TARGETING_MATCH",
        "error_code": None,
        "location": "known",
        "explanation": "licence is denied for an account domiciled in GR (Greece, in the EU) by "
        f"rule eu-domicile (policy {small.revision[:19]}, as of 2026-01-01): Not for EU "
        "companies.",
        "revision": small.revision,
        "as_of": "2026-01-01",
        "location_source": "explicit",
    } == decision.to_dict()


def test_decision_fields_for_an_unknown_location(small):
    """An unknown location: no country, no jurisdictions, reason DEFAULT, location unknown."""
    decision = small.evaluate("chat", country="T1", at="2026-01-01")
    assert {
        "feature": "chat",
        "allowed": False,
        "effect": "deny",
        "country": None,
        "subdivision": None,
        "domicile": None,
        "jurisdictions": [],
        "rule": None,
        "source": None,
        "citation": None,
        "reason": "DEFAULT",
        "error_code": None,
        "location": "unknown",
        "explanation": "chat is denied by the feature's setting for unknown locations (policy "
        f"{small.revision[:19]}, as of 2026-01-01): The country code 'T1' means an unknown "
        "location.",
        "revision": small.revision,
        "as_of": "2026-01-01",
        "location_source": "explicit",
    } == decision.to_dict()


def test_decision_fields_for_an_error(small):
    """A wrong type: reason ERROR, error_code INVALID_CONTEXT, location invalid."""
    decision = small.evaluate("chat", country=250, at="2026-01-01")
    assert {
        "feature": "chat",
        "allowed": False,
        "effect": "deny",
        "country": None,
        "subdivision": None,
        "domicile": None,
        "jurisdictions": [],
        "rule": None,
        "source": None,
        "citation": None,
        "reason": "ERROR",
        "error_code": "INVALID_CONTEXT",
        "location": "invalid",
        "explanation": f"chat is denied (policy {small.revision[:19]}, as of 2026-01-01): The "
        "country 250 is an int, not a string.",
        "revision": small.revision,
        "as_of": "2026-01-01",
        "location_source": "explicit",
    } == decision.to_dict()


@pytest.mark.parametrize(
    ("feature", "kwargs", "source"),
    [
        ("chat", {"country": 42}, "explicit"),
        ("chat", {"country": "FR", "subdivision": 7}, "explicit"),
        ("chat", {"subdivision": ["GB-NIR"]}, "explicit"),
        ("chat", {"country": "FR", "domicile": 1.5}, "explicit"),
        ("chat", {"country": "GER"}, "explicit"),
        ("chat", {"country": "FR", "at": "yesterday"}, "explicit"),
        ("chat", {"ip": "1.2.3.4:5"}, "geoip"),
        ("chat", {"ip": 42}, "geoip"),
        ("chat", {"ip": "1.2.3.4", "at": "never"}, "geoip"),
        ("chat", {}, "unknown"),
        ("chat", {"at": "never"}, "unknown"),
        ("no-such-feature", {"country": "FR"}, "explicit"),
        ("no-such-feature", {"ip": "81.2.69.160"}, "geoip"),
        (42, {}, "unknown"),
    ],
)
def test_location_source_is_never_none(small, feature, kwargs, source):
    """Every decision, errors included, says where its location came from."""
    assert source == small.evaluate(feature, **kwargs).location_source


def test_decision_is_immutable(small):
    """A Decision is a frozen value."""
    decision = small.evaluate("chat", country="FR", at="2026-01-01")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        decision.allowed = True  # type: ignore[misc]
    assert decision == small.evaluate("chat", country="FR", at="2026-01-01")


# Revision


def test_revision_format_and_changes(tmp_path):
    """The revision is sha256 of the content: stable for equal files, new for any change."""
    first = tmp_path / "first"
    second = tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        (folder / "policy.yaml").write_text(POLICY, encoding="utf-8")
    revision = Gate.from_path(first).revision
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", revision)
    assert revision == Gate.from_path(second).revision
    (second / "policy.yaml").write_text(POLICY + "# a comment\n", encoding="utf-8")
    changed = Gate.from_path(second).revision
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", changed)
    assert revision != changed
    (second / "policy.yaml").write_text(POLICY, encoding="utf-8")
    assert revision == Gate.from_path(second).revision
    (second / "more.yaml").write_text("features: {}\n", encoding="utf-8")
    assert revision != Gate.from_path(second).revision


def test_revision_in_explanations(small):
    """Explanations quote the revision's short form: ``sha256:`` and 12 hex digits."""
    short = small.revision[:19]
    assert re.fullmatch(r"sha256:[0-9a-f]{12}", short)
    decision = small.evaluate("chat", country="FR", at="2026-01-01")
    assert f"(policy {short}, as of 2026-01-01)" in decision.explanation
    assert small.revision == decision.revision


# The memo for today


def test_memo_matches_the_slow_path(shipped):
    """For today, the memoised answer equals the slow path with ``at=today``, for every code."""
    today = dt.datetime.now(dt.UTC).date()
    spellings = [*sorted(all_countries()), "uk", "fr", "el", "XX", "", None]
    for feature in SHIPPED_FEATURES:
        for country in spellings:
            slow = shipped.evaluate(feature, country=country, at=today)
            first = shipped.evaluate(feature, country=country)
            again = shipped.evaluate(feature, country=country)
            assert slow == first
            assert slow == again
            assert slow.allowed is shipped.is_allowed(feature, country=country)
    assert today == shipped._today.day
    assert set(shipped._today.rows) == set(SHIPPED_FEATURES) - {"llama-3.2-vision-license"}
    assert "FR" in shipped._today.rows["llama-3.2-vision"]


def test_memo_does_not_keep_bad_input(shipped):
    """Invalid spellings are answered but not memoised."""
    for _ in range(2):
        assert not shipped.is_allowed("llama-3.2-vision", country="GER")
        assert not shipped.is_allowed("llama-3.2-vision", country=" GB")
    assert {"GER", " GB"}.isdisjoint(shipped._today.rows.get("llama-3.2-vision", {}))


# Threads


def test_threads_get_identical_results():
    """Many threads evaluating at once get the answers one thread gets."""
    requests = [
        (feature, country, at)
        for feature in SHIPPED_FEATURES
        for country in ("FR", "GB", "fr", "US", "CN", "RE", "XX", "GER", None)
        for at in (None, "2024-10-27", "2025-03-30", "2026-01-01")
    ]
    fresh = Gate.from_path(POLICIES)
    expected = [fresh.evaluate(f, country=c, at=a) for f, c, a in requests]
    gate = Gate.from_path(POLICIES)
    barrier = threading.Barrier(16)

    def run(_):
        barrier.wait()
        return [
            (gate.evaluate(f, country=c, at=a), gate.is_allowed(f, country=c, at=a))
            for f, c, a in requests * 5
        ]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(run, range(16)))
    for result in results:
        assert [(d, d.allowed) for d in expected * 5] == result


# Bad input never raises


@pytest.mark.parametrize(
    ("feature", "kwargs", "error_code"),
    [
        ("chat", {"country": ["FR"]}, ErrorCode.INVALID_CONTEXT),
        ("chat", {"country": {"FR"}}, ErrorCode.INVALID_CONTEXT),
        ("chat", {"country": {"country": "FR"}}, ErrorCode.INVALID_CONTEXT),
        ("chat", {"country": object()}, ErrorCode.INVALID_CONTEXT),
        ("chat", {"country": "FR", "subdivision": ["NIR"]}, ErrorCode.INVALID_CONTEXT),
        ("chat", {"country": "FR", "domicile": {}}, ErrorCode.INVALID_CONTEXT),
        ("chat", {"country": "FR", "at": ["2026-01-01"]}, ErrorCode.INVALID_CONTEXT),
        ("chat", {"country": "FR", "at": "x" * 100_000 + "-01"}, ErrorCode.INVALID_CONTEXT),
        (
            "chat",
            {
                "country": "FR",
                "at": dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            },
            ErrorCode.INVALID_CONTEXT,
        ),
        ("chat", {"country": "A" * 1_000_000}, ErrorCode.INVALID_CONTEXT),
        ("chat", {"country": "GB", "subdivision": "N" * 1_000_000}, ErrorCode.INVALID_CONTEXT),
        ("chat", {"country": "\x00"}, ErrorCode.INVALID_CONTEXT),
        ("chat", {"country": "\ud800"}, ErrorCode.INVALID_CONTEXT),
        (None, {"country": "FR"}, ErrorCode.FLAG_NOT_FOUND),
        (["chat"], {"country": "FR"}, ErrorCode.FLAG_NOT_FOUND),
        ({"chat": 1}, {"country": ["FR"]}, ErrorCode.FLAG_NOT_FOUND),
        (42, {"country": "FR"}, ErrorCode.FLAG_NOT_FOUND),
        ("c" * 1_000_000, {"country": "FR"}, ErrorCode.FLAG_NOT_FOUND),
    ],
)
def test_garbage_never_raises(small, feature, kwargs, error_code):
    """Unhashable, mistyped and huge inputs deny with a reason; nothing raises."""
    decision = small.evaluate(feature, **kwargs)
    assert isinstance(decision, Decision)
    assert (False, error_code) == (decision.allowed, decision.error_code)
    assert not small.is_allowed(feature, **kwargs)
    json.dumps(decision.to_dict())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"country": "A" * 1_000_000},
        {"country": "GB", "subdivision": "N" * 1_000_000},
        {"country": "FR", "domicile": "D" * 1_000_000},
        {"country": "FR", "at": "x" * 100_000},
    ],
)
def test_huge_input_is_quoted_shortened(small, kwargs):
    """A huge bad value is quoted shortened in the explanation."""
    feature = "licence" if "domicile" in kwargs else "chat"
    decision = small.evaluate(feature, **kwargs)
    assert len(decision.explanation) < 300


def test_huge_feature_id_is_shortened(small, caplog):
    """A huge unknown feature id is quoted shortened, in the decision and in the log."""
    decision = small.evaluate("c" * 1_000_000, country="FR", at="2026-01-01")
    quoted = "c" * 77 + "..."
    assert quoted == decision.feature
    assert decision.explanation.startswith(f"{quoted} is denied (policy ")
    assert all(len(record.getMessage()) < 300 for record in caplog.records)


def test_feature_none_explanation(small):
    """A missing feature id is named as such."""
    decision = small.evaluate(None, country="FR", at="2026-01-01")
    assert (
        f"None is denied (policy {small.revision[:19]}, as of 2026-01-01): No feature with this "
        "id is defined."
    ) == decision.explanation


def test_strict_gate_still_never_raises_for_bad_context(tmp_path):
    """A strict gate raises for unknown features only, not for bad request data."""
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    gate = Gate.from_path(tmp_path, strict=True)
    assert ErrorCode.INVALID_CONTEXT == gate.evaluate("chat", country=["FR"]).error_code
    assert not gate.is_allowed("chat", country=textwrap.dedent("  FR"))


def test_gate_attributes_are_read_only():
    """A gate cannot be repointed at other policies after construction."""
    gate = Gate.from_path(POLICIES)

    with pytest.raises(AttributeError):
        gate.policy = gate.policy  # type: ignore[misc]
    with pytest.raises(AttributeError):
        gate.strict = True  # type: ignore[misc]


def test_memo_rolls_over_at_midnight_utc(tmp_path, monkeypatch):
    """A memoised decision for today is never served after midnight UTC."""
    import geogate._gate.gate  # noqa: PLC0415 (the module whose clock is replaced)

    (tmp_path / "p.yaml").write_text(
        "features:\n  f:\n    default: allow\n    rules:\n"
        "      - {id: fr-until-new-year, deny: [FR], until: 2030-01-01, reason: r}\n",
        encoding="utf-8",
    )
    clock = [dt.datetime(2030, 1, 1, 23, 59, 59, tzinfo=dt.UTC).timestamp()]
    monkeypatch.setattr(geogate._gate.gate, "_now", lambda: clock[0])
    gate = Gate.from_path(tmp_path)

    before = [gate.is_allowed("f", country="FR") for _ in range(3)]
    assert [False, False, False] == before
    assert dt.date(2030, 1, 1) == gate.evaluate("f", country="FR").as_of

    clock[0] += 1  # 2030-01-02T00:00:00Z

    assert gate.is_allowed("f", country="FR")
    decision = gate.evaluate("f", country="FR")
    assert (True, dt.date(2030, 1, 2), None) == (decision.allowed, decision.as_of, decision.rule)


def test_the_gate_is_composed_not_mixed_in():
    """A gate holds its parts (the reloader) and calls the slow path; it inherits nothing."""
    import geogate._gate.gate as module  # noqa: PLC0415 (the module under test)

    assert (Gate, object) == Gate.__mro__
    assert (module._LoggedGate, Gate, object) == module._LoggedGate.__mro__
    gate = Gate.from_path(POLICIES)
    assert gate.paths == gate._reloader.paths


def test_one_fast_path_is_compiled_into_every_answering_method():
    """is_allowed, evaluate and the decision-log gate's are all `_FAST_PATH`, with their exits."""
    import inspect  # noqa: PLC0415
    import linecache  # noqa: PLC0415

    import geogate._gate.gate as module  # noqa: PLC0415 (the module under test)

    methods = (
        Gate.is_allowed,
        Gate.evaluate,
        module._LoggedGate.is_allowed,
        module._LoggedGate.evaluate,
    )
    for method in methods:
        filename = method.__code__.co_filename
        assert filename.startswith("<geogate fast path: ")
        source = "".join(linecache.getlines(filename))
        assert "self._rows[feature][country]" in source
        assert "self._slow(feature, country, subdivision, domicile, ip, at)" in source
    # What readers and type checkers see: the stub's signature and docstring.
    assert "country" in inspect.signature(Gate.evaluate).parameters
    assert "Decide whether *feature* may be offered" in (Gate.evaluate.__doc__ or "")


def test_a_method_that_does_not_take_the_fast_paths_parameters_is_refused():
    import geogate._gate.gate as module  # noqa: PLC0415 (the module under test)

    def evaluate(self, feature, *, region=None, subdivision=None, domicile=None, ip=None):
        """A stub with another signature."""

    with pytest.raises(TypeError, match="must take the fast path's parameters"):
        module._fast_path("return {value}")(evaluate)
