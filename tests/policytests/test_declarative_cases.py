# ruff: noqa: E501 (the pinned diagnostics are compared in full, one line each)
"""
Declarative policy tests: reading test files, their diagnostics, running, coverage.

Each file of ``tests/data/policytests/bad`` holds one problem (``several.yaml``
proves that every problem is collected); the diagnostics are pinned in full,
read with the corpus as the working directory so the paths read as a user sees
them.
"""

from __future__ import annotations

import datetime as dt

import pytest

from geogate._gate.gate import Gate
from geogate._load.loader import load_policies
from geogate._policytests.cases import Case
from geogate._policytests.files import find_test_files, load_cases
from geogate._policytests.runner import coverage, run_case, run_cases
from helpers.paths import FACE, POLICIES, POLICYTESTS

DATA = POLICYTESTS
BAD = DATA / "bad"
DAY = dt.date(2026, 1, 1)

#: Every bad file -> its diagnostics, as `str(diagnostic)` joined by newlines.
EXPECTED: dict[str, str] = {
    "ambiguous-rule-pin.yaml": r"""
ambiguous-rule-pin.yaml:5:11: error: cases[0].rule pins one rule for both its 'allow' and its 'deny' table; a rule either allows or denies [ambiguous-rule-pin]
  hint: pin the rule of one table: 'deny: {rule: ID, locations: [...]}'
""",
    "conflicting-keys-table.yaml": r"""
conflicting-keys-table.yaml:3:5: error: cases[0] has both 'country' and 'deny' [conflicting-keys]
  hint: the rows of the table give the location; remove 'country', or set 'signal:' to vary the other one
""",
    "conflicting-keys.yaml": r"""
conflicting-keys.yaml:4:5: error: cases[0] has both 'expect' and 'deny' [conflicting-keys]
  hint: a case is either single ('expect:' with a place) or a table ('allow:' and 'deny:' lists of places); split it in two
""",
    "duplicate-case.yaml": r"""
duplicate-case.yaml:4:20: warning: the case 'duplicate-case.yaml::llama-3.2-vision deny FR @2026-01-01' is written twice (first at duplicate-case.yaml:4); the second is skipped [duplicate-case]
  hint: remove one of them
""",
    "duplicate-key.yaml": r"""
duplicate-key.yaml:4:5: error: duplicate key 'country' (first defined at line 3) [duplicate-key]
  hint: YAML keeps only the last of duplicate keys; remove one or merge them
""",
    "empty-file.yaml": r"""
empty-file.yaml:1:1: warning: the file is empty (it holds no document, only white space or comments) [empty-file]
  hint: delete it, or add 'cases:'
""",
    "empty-table.yaml": r"""
empty-table.yaml:3:11: error: cases[0].deny is empty [empty-table]
  hint: list at least one country, subdivision or jurisdiction, or remove it
""",
    "invalid-date.yaml": r"""
invalid-date.yaml:3:9: error: cases[0].at is not a day of the calendar: '2026-02-30' (day is out of range for month) [invalid-date]
  hint: check the month and the day
""",
    "invalid-expect.yaml": r"""
invalid-expect.yaml:4:13: error: cases[0].expect must be one of allow, deny; got the string 'denied' [invalid-expect]
  hint: did you mean 'deny'?
""",
    "invalid-ip.yaml": r"""
invalid-ip.yaml:3:9: error: cases[0].ip is not an IPv4 or IPv6 address: '81.2.69.300' [invalid-ip]
  hint: write an address such as 81.2.69.160 or 2a02:c7c::1 (no port, no network)
""",
    "invalid-signal.yaml": r"""
invalid-signal.yaml:3:13: error: cases[0].signal must be one of location, domicile; got the string 'residence' [invalid-signal]
""",
    "jurisdiction-without-members.yaml": r"""
jurisdiction-without-members.yaml:4:12: error: the jurisdiction 'EU' in cases[0].deny[0] has no members on 1950-01-01, so it tests nothing [jurisdiction-without-members]
  hint: name a date on which it has members, or list countries
""",
    "missing-expectation.yaml": r"""
missing-expectation.yaml:2:5: error: cases[0] has no 'expect' (nor an 'allow' or 'deny' table) [missing-key]
  hint: add 'expect: allow' or 'expect: deny' with a place, or list places under 'allow:' and 'deny:'
""",
    "no-cases.yaml": r"""
no-cases.yaml:1:8: warning: the list 'cases' is empty [no-cases]
  hint: add a case, or delete the file
""",
    "rule-effect-mismatch.yaml": r"""
rule-effect-mismatch.yaml:3:19: error: cases[0].allow.rule expects allow by the rule 'eu-multimodal-withheld', which is a deny rule: the case could never pass [rule-effect-mismatch]
  hint: pin a rule with the expected effect, or fix the expectation
""",
    "rule-of-other-feature.yaml": r"""
rule-of-other-feature.yaml:3:18: error: cases[0].deny.rule names the rule 'aup-eu-domicile', which belongs to the feature 'llama-3.2-vision-license', not 'llama-3.2-vision' [rule-of-other-feature]
  hint: the rules of 'llama-3.2-vision' are: eu-multimodal-withheld, uk-multimodal-offered
""",
    "several.yaml": r"""
several.yaml:3:9: error: cases[0].at is not a day of the calendar: '2026-13-01' (month must be in 1..12) [invalid-date]
  hint: check the month and the day
several.yaml:4:16: error: unknown country code 'XY' in cases[0].deny[1] [unknown-country]
  hint: Codes are ISO 3166-1 alpha-2; `geogate jurisdictions` lists the names.
several.yaml:7:13: error: cases[1].expect must be one of allow, deny; got the string 'maybe' [invalid-expect]
several.yaml:8:5: error: cases[2] must be a mapping, not the number '42' [wrong-type]
""",
    "subdivision-domicile.yaml": r"""
subdivision-domicile.yaml:4:12: error: cases[0].deny[0] must be a country code or a jurisdiction name, not a subdivision code ('FR-75C') [subdivision-domicile]
  hint: a subdivision goes under 'subdivision:' (a domicile is a country)
""",
    "unknown-country.yaml": r"""
unknown-country.yaml:4:16: error: unknown country code 'GER' in cases[0].deny[1] [unknown-country]
  hint: did you mean 'DE'? Codes are ISO 3166-1 alpha-2; `geogate jurisdictions` lists the names.
""",
    "unknown-feature.yaml": r"""
unknown-feature.yaml:2:14: error: cases[0].feature names the feature 'llama-3.2-visoin', which the policies do not define [unknown-feature]
  hint: did you mean 'llama-3.2-vision'?
""",
    "unknown-jurisdiction.yaml": r"""
unknown-jurisdiction.yaml:3:12: error: unknown jurisdiction 'EUROPE' in cases[0].deny[0] [unknown-jurisdiction]
  hint: did you mean 'EUROZONE'? Define it under 'jurisdictions:', or use ISO country and subdivision codes; `geogate jurisdictions` lists the names.
""",
    "unknown-key.yaml": r"""
unknown-key.yaml:3:5: error: unknown key 'contry' in cases[0] [unknown-key]
  hint: did you mean 'country'?
""",
    "unknown-rule.yaml": r"""
unknown-rule.yaml:5:11: error: cases[0].rule names the rule 'eu-multimodal-witheld', which the policies do not define [unknown-rule]
  hint: did you mean 'eu-multimodal-withheld'?
""",
    "unknown-subdivision.yaml": r"""
unknown-subdivision.yaml:3:18: error: unknown subdivision code 'GB-SCO' in cases[0].subdivision [unknown-subdivision]
  hint: did you mean 'GB-SCT' (Scotland)?
""",
    "wrong-type.yaml": r"""
wrong-type.yaml:3:14: error: cases[0].country must be a country code or a jurisdiction name, not a subdivision code ('GB-NIR') [wrong-type]
  hint: a subdivision goes under 'subdivision:' (a domicile is a country)
""",
    "yaml-syntax.yaml": r"""
yaml-syntax.yaml:3:1: error: invalid YAML: found character '\t' that cannot start any token [yaml-syntax]
  hint: indent with spaces, not tabs
""",
}


def test_corpus_is_complete():
    """Every bad file has its expected output, and every expectation a file."""
    assert sorted(EXPECTED) == sorted(p.name for p in BAD.glob("*.yaml"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_file_diagnostics(name, shipped_policy, monkeypatch):
    """The diagnostics of each bad test file, in full."""
    monkeypatch.chdir(BAD)

    _, diagnostics = load_cases([name], shipped_policy)

    assert EXPECTED[name].strip() == "\n".join(str(d) for d in diagnostics)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("unknown-feature.yaml", "unknown-feature"),
        ("unknown-country.yaml", "unknown-country"),
        ("unknown-rule.yaml", "unknown-rule"),
    ],
)
def test_misnamed_feature_country_rule_is_an_error(name, code, shipped_policy, monkeypatch):
    """A misnamed feature, country or rule is an error and gives no case to pass."""
    monkeypatch.chdir(BAD)

    cases, diagnostics = load_cases([name], shipped_policy)

    assert [] == cases
    assert [("error", code)] == [(d.severity, d.code) for d in diagnostics]


def test_find_test_files_shipped():
    """The tests/ folder of a policy directory; a policy file alone has none."""
    assert [
        POLICIES / "tests" / "apple-intelligence.yaml",
        POLICIES / "tests" / "meta-llama.yaml",
    ] == find_test_files([POLICIES])
    assert [] == find_test_files([POLICIES / "meta-llama.yaml"])


def test_find_test_files_nested_and_hidden(tmp_path):
    """Any tests/ folder below the directory, recursively; hidden files are skipped."""
    for name in (
        "a/tests/x.yaml",
        "tests/sub/y.yml",
        "tests/.hidden.yaml",
        "tests/z.json",
        "p.yaml",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("cases: []\n", encoding="utf-8")

    found = find_test_files([tmp_path])

    assert [tmp_path / "a/tests/x.yaml", tmp_path / "tests/sub/y.yml"] == found


def test_forms(shipped_policy, monkeypatch):
    """Single cases, tables with and without rule pins, a domicile table, a fixed domicile."""
    monkeypatch.chdir(DATA / "good")

    cases, diagnostics = load_cases(["forms.yaml"], shipped_policy)

    assert () == diagnostics
    assert [
        "forms.yaml::llama-3.2-vision deny FR @2026-01-01",
        "forms.yaml::llama-3.2-vision allow GB-NIR @2026-01-01",
        "forms.yaml::llama-3.2-vision deny XX",
        "forms.yaml::llama-3.2-vision deny RE @2026-01-01",
        "forms.yaml::llama-3.2-vision deny AX @2026-01-01",
        "forms.yaml::llama-3.2-vision allow GB @2026-01-01",
        "forms.yaml::llama-3.2-vision-license deny US domicile DE @2026-01-01",
        "forms.yaml::llama-3.2-vision-license allow US domicile US @2026-01-01",
        "forms.yaml::llama-3.2-vision allow US domicile DE @2026-01-01",
    ] == [case.id for case in cases]
    assert (
        Case(
            id="forms.yaml::llama-3.2-vision deny FR @2026-01-01",
            path="forms.yaml",
            line=3,
            feature="llama-3.2-vision",
            country="FR",
            at=DAY,
            expect="deny",
            rule="eu-multimodal-withheld",
        )
        == cases[0]
    )
    # A table row: its own line, the table's rule pin; the domicile rows vary the domicile.
    assert (22, "aup-eu-domicile", "US", "DE") == (
        cases[6].line,
        cases[6].rule,
        cases[6].country,
        cases[6].domicile,
    )
    assert (None, "GB-NIR") == (cases[1].country, cases[1].subdivision)


def test_jurisdiction_means_every_member_on_the_date(shipped_policy, tmp_path):
    """EU in a table expands to its members on the case's date (GB in 2019, not in 2021)."""
    path = tmp_path / "t.yaml"
    path.write_text(
        "cases:\n"
        "  - {feature: llama-3.1-405b, at: 2019-06-01, allow: [EU]}\n"
        "  - {feature: llama-3.1-405b, at: 2021-06-01, allow: [EU]}\n",
        encoding="utf-8",
    )

    cases, _ = load_cases([path], shipped_policy)

    in_2019 = {c.country for c in cases if c.at == dt.date(2019, 6, 1)}
    in_2021 = {c.country for c in cases if c.at == dt.date(2021, 6, 1)}
    assert "GB" in in_2019
    assert "GB" not in in_2021
    assert {"FR", "DE", "RE", "AX", "GF"} <= in_2021


def test_default_date_fills_cases_without_one(shipped_policy, tmp_path):
    """`at=` dates the cases that give none; a case's own date wins."""
    path = tmp_path / "t.yaml"
    path.write_text(
        "cases:\n"
        "  - {feature: llama-3.2-vision, country: FR, expect: deny}\n"
        "  - {feature: llama-3.2-vision, country: FR, expect: allow, at: 2024-09-24}\n",
        encoding="utf-8",
    )

    cases, _ = load_cases([path], shipped_policy, at=DAY)

    assert [DAY, dt.date(2024, 9, 24)] == [case.at for case in cases]


def test_missing_path_is_a_diagnostic(shipped_policy, tmp_path):
    """A path that does not exist is reported, never raised."""
    missing = tmp_path / "nope.yaml"

    cases, diagnostics = load_cases([missing], shipped_policy)

    assert [] == cases
    assert [("error", "path-not-found")] == [(d.severity, d.code) for d in diagnostics]


def test_run_shipped_cases_pass(shipped_policy, shipped_gate):
    """Every shipped case passes, and the results say so with empty messages."""
    cases, diagnostics = load_cases(find_test_files([POLICIES]), shipped_policy)

    results = run_cases(shipped_gate, cases)

    assert () == diagnostics
    assert 251 == len(results)
    assert [] == [r.case.id for r in results if not r.passed]
    assert {""} == {r.message for r in results}


def test_failure_message_has_the_chain(shipped_policy, shipped_gate, monkeypatch):
    """A failing case says what differs, then the explanation chain, numbered."""
    monkeypatch.chdir(DATA)
    cases, _ = load_cases(["failing.yaml"], shipped_policy)

    results = run_cases(shipped_gate, cases)

    assert [False, False, True] == [r.passed for r in results]
    assert results[0].message == (
        "expected allow, got deny by rule eu-multimodal-withheld\n"
        "  1. Location: FR (France), from country 'FR'.\n"
        "  2. Jurisdictions: on 2026-01-01, FR is in EUROZONE, SCHENGEN, EU, EEA, WORLD.\n"
        "  3. Rule eu-multimodal-withheld (deny EU, from 2024-09-25) won: its target EU contains FR (France), and it is the only candidate.\n"
        "  4. Rule uk-multimodal-offered (allow UK, from 2024-09-25) is not a candidate: its targets (UK) do not contain FR (France) on 2026-01-01.\n"
        f"  5. Result: DENIED. {results[0].decision.explanation}"
    )
    first = results[1].message.splitlines()[0]
    assert first == (
        "expected deny by rule iphone-china-not-offered, got deny by rule iphone-eu-withheld: "
        "the right effect from the wrong rule"
    )


def test_fallback_and_ip_without_database(shipped_gate):
    """Fallbacks are named; an IP without a GeoIP database fails with the gate's reason."""
    unknown = Case(
        id="u", path="p", line=1, feature="llama-3.2-vision", country="XX", expect="allow"
    )
    ip = Case(
        id="i", path="p", line=1, feature="llama-3.2-vision", ip="81.2.69.160", expect="allow"
    )

    fallback, located = run_case(shipped_gate, unknown), run_case(shipped_gate, ip)

    assert fallback.message.startswith(
        "expected allow, got deny by the feature's setting for unknown locations\n  1. Location: unknown"
    )
    assert located.message.startswith("expected allow, got deny by an error\n  llama-3.2-vision")
    assert "GeoIP database" in located.message


def test_coverage_of_shipped_cases(shipped_policy, shipped_gate):
    """The shipped cases decide every rule: 100%."""
    cases, _ = load_cases(find_test_files([POLICIES]), shipped_policy)

    report = coverage(shipped_policy, run_cases(shipped_gate, cases))

    assert (9, 9, 100.0) == (report.rules, report.decided, report.percent)
    vision = next(f for f in report.features if f.feature == "llama-3.2-vision")
    assert ("EU", "UK") == vision.jurisdictions_exercised
    assert ("default", "unknown") == vision.fallbacks
    assert {"FR", "GB", "RE"} <= set(vision.places_exercised)


def test_coverage_reports_rules_never_exercised(shipped_policy, shipped_gate):
    """One case covers one rule of nine; the others are listed as undecided."""
    case = Case(
        id="c", path="p", line=1, feature="llama-3.2-vision", country="FR", at=DAY, expect="deny"
    )

    report = coverage(shipped_policy, [run_case(shipped_gate, case)])

    assert (9, 1) == (report.rules, report.decided)
    assert 11.11 == report.to_dict()["percent"]
    vision = next(f for f in report.features if f.feature == "llama-3.2-vision")
    assert ("eu-multimodal-withheld",) == vision.decided
    assert ("uk-multimodal-offered",) == vision.undecided
    assert ("EU",) == vision.jurisdictions_exercised
    assert ("FR",) == vision.places_exercised
    mac = next(f for f in report.features if f.feature == "apple-intelligence-mac")
    assert (0, ("mac-launch", "mac-china-not-offered")) == (mac.cases, mac.undecided)


def test_empty_selection_gives_no_cases(shipped_policy, tmp_path):
    """An empty folder gives no case and no error: the caller must fail the run."""
    cases, diagnostics = load_cases([tmp_path], shipped_policy)

    assert ([], ()) == (cases, diagnostics)


# Places below the country: subdivisions, split countries, jurisdictions of regions.


@pytest.fixture(scope="module")
def face():
    return load_policies(FACE / "face.yaml")


def test_face_cases_read_subdivisions_and_jurisdictions_of_regions(face):
    """A jurisdiction of regions under 'country:' or in a table gives subdivision cases: its
    members on the case's date (Crimea and Sevastopol only, before 2022-02-21)."""
    cases, diagnostics = load_cases([FACE / "tests"], face)

    located = [(c.feature, c.country, c.subdivision, c.at.isoformat(), c.rule) for c in cases]
    assert () == diagnostics
    assert [
        ("face-match", None, "UA-40", "2021-06-01", "face-sanctions"),
        ("face-match", None, "UA-43", "2021-06-01", "face-sanctions"),
    ] == [row for row in located if row[3] == "2021-06-01"]
    assert {"UA-09", "UA-14", "UA-40", "UA-43"} <= {row[2] for row in located}
    assert all(row[1] is None or "-" not in row[1] for row in located)
    assert all(r.passed for r in run_cases(Gate(face), cases))


def test_coverage_counts_subdivisions_and_the_partial_setting(face):
    """A rule deciding only US-IL and US-TX is covered by cases naming them; a case naming only
    US is decided by the partial setting, not a rule nor the default; a case in UA-43 exercises
    OCCUPIED-UA."""
    cases, _ = load_cases([FACE / "tests"], face)

    report = coverage(face, run_cases(Gate(face), cases), today=dt.date(2026, 6, 1))

    match, pilot = report.features
    assert ("face-bipa", "face-sanctions") == match.decided
    assert ("default", "partial") == match.fallbacks
    assert ("OCCUPIED-UA",) == match.jurisdictions_exercised
    assert {"UA-09", "UA-14", "UA-40", "UA-43", "US-IL", "US-TX"} <= set(match.places)
    assert ("UA-09", "UA-14", "UA-40", "UA-43", "US-IL", "US-TX") == match.places_exercised
    assert (("pilot-scotland",), ("default", "partial"), ("GB-SCT",)) == (
        pilot.decided,
        pilot.fallbacks,
        pilot.places_exercised,
    )
    assert [
        "- {feature: face-match, country: AT, at: 2026-06-01, expect: deny, rule: face-eu}"
    ] == [s.case for s in match.suggestions]


def test_country_only_case_is_partial_not_default(face):
    """One case naming only US: the partial setting decided it, so no fallback 'default'."""
    case = Case(id="c", path="p", line=1, feature="face-match", country="US", at=DAY, expect="deny")

    report = coverage(face, [run_case(Gate(face), case)], today=DAY)

    assert ((), ("partial",)) == (report.features[0].decided, report.features[0].fallbacks)


def test_suggestions_name_subdivisions_where_the_rule_decides(face):
    """No case at all: each rule gets a case it would decide, in the subdivision it decides
    (and on a date in its window), checked with the gate."""
    report = coverage(face, [], today=dt.date(2026, 12, 1))

    assert [
        "- {feature: face-match, subdivision: US-IL, at: 2026-12-01, expect: deny, rule: face-bipa}",
        "- {feature: face-match, subdivision: UA-09, at: 2026-12-01, expect: deny, rule: face-sanctions}",
        "- {feature: face-match, country: AT, at: 2026-12-01, expect: deny, rule: face-eu}",
        "- {feature: scot-pilot, subdivision: GB-SCT, at: 2026-06-01, expect: allow, rule: pilot-scotland}",
    ] == [s.case for f in report.features for s in f.suggestions]
    gate = Gate(face)
    for feature in report.features:
        for s in feature.suggestions:
            decision = gate.evaluate(
                s.feature, country=s.country, subdivision=s.subdivision, at=s.at
            )
            assert (s.rule, s.expect) == (decision.rule, str(decision.effect))


def test_suggestion_for_a_country_rule_in_a_split_country(tmp_path):
    """deny: [US] with an exception for US-CA: a case naming only US gets the partial setting,
    so the suggestion names a subdivision of the rest of the US; a domicile rule gets a
    country; a rule that never decides gets none."""
    (tmp_path / "p.yaml").write_text(
        "features:\n"
        "  f:\n    default: allow\n    partial: allow\n    rules:\n"
        "      - {id: us, deny: [US], reason: R.}\n"
        "      - {id: ca, allow: [US-CA], overrides: us, reason: R.}\n"
        "  d:\n    default: allow\n    basis: domicile\n    rules:\n"
        "      - {id: sanctioned, deny: [OFAC-COMPREHENSIVE], reason: R.}\n"
        "  h:\n    default: allow\n    rules:\n"
        "      - {id: hard, hard_deny: [FR], reason: R.}\n"
        "      - {id: pilot, allow: [FR], reason: R.}\n",
        encoding="utf-8",
    )
    policy = load_policies(tmp_path)

    report = coverage(policy, [], today=DAY)

    assert [
        "- {feature: d, domicile: CU, at: 2026-01-01, expect: deny, rule: sanctioned}",
        "- {feature: f, subdivision: US-AK, at: 2026-01-01, expect: deny, rule: us}",
        "- {feature: f, subdivision: US-CA, at: 2026-01-01, expect: allow, rule: ca}",
        "- {feature: h, country: FR, at: 2026-01-01, expect: deny, rule: hard}",
    ] == [s.case for f in report.features for s in f.suggestions]


def test_domicile_of_a_jurisdiction_of_regions_is_its_countries(tmp_path):
    """A domicile is a country: OFAC-COMPREHENSIVE as a domicile stands for CU, IR, KP."""
    (tmp_path / "p.yaml").write_text(
        "features:\n  d:\n    default: allow\n    basis: domicile\n    rules:\n"
        "      - {id: sanctioned, deny: [OFAC-COMPREHENSIVE], reason: R.}\n",
        encoding="utf-8",
    )
    (tmp_path / "t.yaml").write_text(
        "cases:\n  - feature: d\n    at: 2026-01-01\n    deny: [OFAC-COMPREHENSIVE]\n",
        encoding="utf-8",
    )
    policy = load_policies(tmp_path / "p.yaml")

    cases, diagnostics = load_cases([tmp_path / "t.yaml"], policy)

    assert () == diagnostics
    assert ["CU", "IR", "KP"] == [case.domicile for case in cases]
