"""
A compliance auditor's attacks on the analyses of places below the country.

Each test feeds `geogate audit` (every format), `audit --timeline`, `geogate diff
--fail-on-new-access`, `geogate check`'s split report and `geogate test --coverage` a
policy with subdivision rules, and checks the answer against `Gate.evaluate`. A test
marked ``# BUG:`` reveals a defect; every other test is an attack that failed, kept as a
regression test.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import textwrap

import pytest
from click.testing import CliRunner

from geogate import Gate
from geogate._engine.decide import CompiledRule, inner_places
from geogate._load.loader import load_policies
from geogate._review.audit import audit, timeline
from geogate._world.countries import all_countries
from geogate.cli import main

D = dt.date

POLICIES = {
    # The sample: US-IL/US-TX deny, dated Ukrainian regions under a hard_deny, EU deny, a pilot.
    "face": """
        jurisdictions:
          OCCUPIED-UA:
            - UA-43
            - UA-40
            - {code: UA-14, from: 2022-02-21}
            - {code: UA-09, from: 2022-02-21}
        features:
          face-match:
            default: allow
            rules:
              - {id: face-bipa, deny: [US-IL, US-TX], reason: r}
              - {id: face-sanctions, hard_deny: [OCCUPIED-UA], reason: r}
              - {id: face-eu, deny: [EU], reason: r}
          scot-pilot:
            default: deny
            rules:
              - {id: pilot, allow: [GB-SCT], from: 2026-06-01, until: 2026-09-30, reason: r}
    """,
    # An ISO hierarchy: GB-ABD and GB-GLG in GB-SCT, a hard_deny inside a split subdivision.
    "hierarchy": """
        features:
          f:
            default: deny
            partial: allow
            rules:
              - {id: sct, allow: [GB-SCT], from: 2026-06-01, until: 2026-09-30, reason: r}
              - {id: abd, deny: [GB-ABD], reason: r}
              - {id: glg, hard_deny: [GB-GLG], from: 2026-07-01, reason: r}
    """,
    # Decided on location and domicile, and on domicile only.
    "domicile": """
        features:
          f:
            default: allow
            basis: location+domicile
            partial: allow
            rules:
              - {id: il, deny: [US-IL], reason: r}
              - {id: de, deny: [DE], reason: r}
              - {id: by, allow: [DE-BY], overrides: [de], reason: r}
          g:
            default: allow
            basis: domicile
            rules:
              - {id: eu, deny: [EU], reason: r}
    """,
    # A retired code (NO-30, Viken) and codes that replaced retired ones.
    "retired": """
        features:
          f:
            default: allow
            partial: allow
            rules:
              - {id: viken, deny: [NO-30], reason: r}
              - {id: ostfold, allow: [NO-31], overrides: [viken], reason: r}
              - {id: vt, deny: [NO-39], reason: r}
    """,
    # OFAC-COMPREHENSIVE under a hard_deny, partial allow, a region allowed.
    "ofac": """
        features:
          f:
            default: deny
            partial: allow
            rules:
              - {id: ua30, allow: [UA-30], reason: r}
              - {id: ofac, hard_deny: [OFAC-COMPREHENSIVE], reason: r}
    """,
    # A custom jurisdiction of dated countries, jurisdictions and subdivisions.
    "custom": """
        jurisdictions:
          BLOCKED:
            - {code: EU, from: 2026-03-01}
            - UA-43
            - {code: GB-SCT, until: 2026-01-01}
            - {code: US-CA, from: 2026-02-01, until: 2026-04-30}
        features:
          f:
            default: allow
            partial: allow
            rules:
              - {id: j, deny: [BLOCKED], reason: r}
              - {id: fr, allow: [FR-IDF], overrides: [j], reason: r}
              - {id: ua, deny: [UA], from: 2026-05-01, reason: r}
    """,
    # A dated member that is itself a jurisdiction (OFAC-COMPREHENSIVE, with SY until 2025-06-30).
    "nested": """
        jurisdictions:
          BLOCKED:
            - {code: OFAC-COMPREHENSIVE, from: 2020-01-01}
            - {code: EU, until: 2025-12-31}
            - GB-SCT
        features:
          f:
            default: allow
            partial: allow
            rules:
              - {id: b, deny: [BLOCKED], reason: r}
              - {id: s, allow: [GB-GLG], reason: r}
    """,
    # Two levels of dated jurisdictions holding subdivisions.
    "two-levels": """
        jurisdictions:
          INNER:
            - {code: UA-14, from: 2022-02-21}
            - {code: GB-ABD, until: 2024-06-30}
          OUTER:
            - {code: INNER, from: 2023-01-01}
            - US-TX
        features:
          f:
            default: allow
            rules:
              - {id: o, deny: [OUTER], reason: r}
    """,
}

#: Subdivisions probed besides those the rules name: places inside named ones and places
#: no rule names (decided as "the rest").
EXTRA = (
    ("US", "US-CA"),
    ("GB", "GB-ENG"),
    ("GB", "GB-EDH"),
    ("GB", "GB-GLG"),
    ("UA", "UA-30"),
    ("NO", "NO-31"),
    ("NO", "NO-03"),
    ("FR", "FR-75C"),
    ("DE", "DE-BE"),
    ("DE", "DE-BY"),
)


def write(tmp_path, name, text):
    """Write *text* as the only policy file of a folder named *name*; return the folder."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "policy.yaml").write_text(textwrap.dedent(text))
    return folder


def cli(*args):
    """Run the CLI; return (exit code, stdout)."""
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout


def domicile_of(policy, fid, country):
    """The domicile `geogate audit` evaluates a country cell with."""
    return None if str(policy.features[fid].basis) == "location" else country


def boundary_days(policy, start, end):
    """Every day in (start, end] on which some rule window or jurisdiction membership changes."""
    table = policy.jurisdictions
    days = {day for name in table.jurisdictions for day in table.boundaries(name)}
    for feature in policy.features.values():
        for rule in feature.rules:
            if rule.start is not None:
                days.add(rule.start)
            if rule.end is not None and rule.end < dt.date.max:
                days.add(rule.end + dt.timedelta(days=1))
    return sorted(day for day in days if start < day <= end)


def probes(policy, fid):
    """(country, subdivision) of every country, every place in the space, and `EXTRA`."""
    rules = [CompiledRule.from_rule(rule) for rule in policy.features[fid].rules]
    inside = inner_places(rules, policy.jurisdictions)
    found = [(code, None) for code in sorted(all_countries())]
    found += [(code.partition("-")[0], code) for code in sorted(inside)]
    return found + list(EXTRA)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(POLICIES))
def test_audit_json_matches_eval_on_every_change_day(tmp_path, name):
    """Every country and subdivision cell of the JSON audit is what `Gate.evaluate` says."""
    folder = write(tmp_path, name, POLICIES[name])
    policy, gate = load_policies(folder), Gate.from_path(folder)
    days = boundary_days(policy, D(2013, 1, 1), D(2030, 1, 1))
    days = sorted({*days, *(d - dt.timedelta(days=1) for d in days), D(2026, 12, 6)})
    wrong = []
    for day in days:
        for fid, feature in audit(policy, at=day).to_dict()["features"].items():
            for country, cell in feature["countries"].items():
                home = domicile_of(policy, fid, country)
                got = gate.evaluate(fid, country=country, domicile=home, at=day)
                if (str(got.effect), got.rule) != (cell["effect"], cell["rule"]):
                    wrong.append((day, fid, country, cell, got.effect, got.rule))
                for code, sub in cell.get("subdivisions", {}).items():
                    got = gate.evaluate(
                        fid, country=country, subdivision=code, domicile=home, at=day
                    )
                    if (str(got.effect), got.rule) != (sub["effect"], sub["rule"]):
                        wrong.append((day, fid, code, sub, got.effect, got.rule))
    assert [] == wrong


CSV_DAYS = [
    ("hierarchy", "2026-06-15"),
    ("hierarchy", "2026-07-15"),
    ("face", "2026-07-01"),
    ("retired", "2026-12-06"),
]


@pytest.mark.parametrize(("name", "day"), CSV_DAYS)
def test_audit_csv_matches_eval(tmp_path, name, day):
    """Each CSV row (a country, or a subdivision under it) says what `geogate eval` says."""
    folder = write(tmp_path, name, POLICIES[name])
    gate = Gate.from_path(folder)
    code, out = cli("audit", "--policies", folder, "--at", day, "--format", "csv")
    assert 0 == code
    wrong = []
    for row in csv.DictReader(io.StringIO(out)):
        sub = row["subdivision"] or None
        got = gate.evaluate(row["feature"], country=row["country"], subdivision=sub, at=day)
        if (str(got.effect), got.rule or "") != (row["effect"], row["rule"]):
            wrong.append((row, got.effect, got.rule))
    assert [] == wrong


def test_audit_markdown_marks_a_hard_deny_inside_a_split_subdivision(tmp_path):
    """GB-SCT with GB-GLG hard-denied inside is denied as split, though partial says allow."""
    folder = write(tmp_path, "h", POLICIES["hierarchy"])
    code, out = cli("audit", "--policies", folder, "--at", "2026-07-15", "--format", "markdown")
    assert 0 == code
    assert (
        "|  | GB-SCT (Scotland) | **denied** | split (a hard-deny rule decides inside it, whatever "
        "the partial setting says); the rest of GB-SCT is allowed by rule sct |" in out
    )
    assert "|  | GB-GLG (Glasgow City) | **denied** | rule `glg` |" in out
    assert not Gate.from_path(folder).is_allowed(
        "f", country="GB", subdivision="GB-SCT", at="2026-07-15"
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(POLICIES))
def test_timeline_lists_exactly_the_days_a_decision_changes(tmp_path, name):
    """
    No day on which some place's decision (effect, rule or reason) changes is missing, and
    no day listed changes nothing: dated members of custom jurisdictions, nested built-in
    ones (OFAC-COMPREHENSIVE's SY ending 2025-06-30), rule windows, retired codes.
    """
    folder = write(tmp_path, name, POLICIES[name])
    policy, gate = load_policies(folder), Gate.from_path(folder)
    start, end = D(2013, 1, 1), D(2030, 12, 31)
    found = timeline(policy, start, end).to_dict()["features"]
    wrong = []
    for fid, feature in found.items():
        listed = {change["date"] for change in feature["changes"]}
        places = probes(policy, fid)

        def decisions(day, fid=fid, places=places):
            found = {}
            for country, sub in places:
                home = domicile_of(policy, fid, country)
                got = gate.evaluate(fid, country=country, subdivision=sub, domicile=home, at=day)
                found[country, sub] = (str(got.effect), got.rule, got.reason)
            return found

        for day in boundary_days(policy, start, end):
            changed = decisions(day - dt.timedelta(days=1)) != decisions(day)
            if changed != (day.isoformat() in listed):
                wrong.append((fid, day, changed))
        wrong += [(fid, d, "listed, not a boundary") for d in listed
                  if D.fromisoformat(d) not in boundary_days(policy, start, end)]  # fmt: skip
    assert [] == wrong


def test_timeline_sees_syria_leave_ofac_through_a_nested_custom_jurisdiction(tmp_path):
    """SY leaves OFAC-COMPREHENSIVE on 2025-07-01, inside BLOCKED, and gains access then."""
    folder = write(tmp_path, "n", POLICIES["nested"])
    code, out = cli("audit", "--policies", folder, "--timeline", "--from", "2025-01-01",
                    "--to", "2025-12-31", "--format", "json")  # fmt: skip
    assert 0 == code
    changes = json.loads(out)["features"]["f"]["changes"]
    assert ["2025-07-01"] == [c["date"] for c in changes]
    assert {
        "before": {"effect": "deny", "rule": "b"},
        "after": {"effect": "allow", "rule": None},
    } == (changes[0]["countries"]["SY"])


DIFFS = {
    # partial deny -> allow: a country-only request to US gains access.
    "partial": (
        "{default: allow, rules: [{id: il, deny: [US-IL], reason: r}]}",
        "{default: allow, partial: allow, rules: [{id: il, deny: [US-IL], reason: r}]}",
    ),
    # The rest of GB-SCT (GB-GLG, named by neither side) gains access.
    "rest-of-subdivision": (
        "{default: deny, rules: [{id: abd, allow: [GB-ABD], reason: r}]}",
        (
            "{default: deny, rules: [{id: sct, allow: [GB-SCT], reason: r},"
            " {id: abd, deny: [GB-ABD], reason: r}]}"
        ),
    ),
    # hard_deny inside -> deny inside, with partial allow: the country-only request gains.
    "hard-inside": (
        "{default: allow, partial: allow, rules: [{id: il, hard_deny: [US-IL], reason: r}]}",
        "{default: allow, partial: allow, rules: [{id: il, deny: [US-IL], reason: r}]}",
    ),
    # NO-30 replaced by its successors: a request naming the retired code gains.
    "retired": (
        "{default: allow, partial: allow, rules: [{id: v, deny: [NO-30], reason: r}]}",
        (
            "{default: allow, partial: allow,"
            " rules: [{id: v, deny: [NO-31, NO-32, NO-33], reason: r}]}"
        ),
    ),
    # location+domicile: the rest of a split country gains once partial allows its domicile.
    "domicile": (
        "{default: allow, basis: location+domicile, rules: [{id: il, deny: [US-IL], reason: r}]}",
        (
            "{default: allow, basis: location+domicile, partial: allow,"
            " rules: [{id: il, deny: [US-IL], reason: r}]}"
        ),
    ),
    # Unknown locations gain access.
    "unknown": (
        "{default: deny, rules: [{id: a, allow: [US-CA], reason: r}]}",
        "{default: deny, unknown: allow, rules: [{id: a, allow: [US-CA], reason: r}]}",
    ),
    # A one-day pilot in the future window: GB-SCT gains on that day only.
    "one-day": (
        "{default: deny, rules: []}",
        (
            "{default: deny, rules: [{id: p, allow: [GB-SCT], from: 2027-03-01, until: 2027-03-01,"
            " reason: r}]}"
        ),
    ),
}


def one_feature(text):
    return f"features:\n  f: {text}\n"


@pytest.mark.parametrize("name", sorted(DIFFS))
def test_diff_fails_on_new_access_below_the_country(tmp_path, name):
    """Every gain (country-only, named subdivision, rest, unknown) makes the CI gate exit 1."""
    old, new = DIFFS[name]
    before = write(tmp_path, "old", one_feature(old))
    after = write(tmp_path, "new", one_feature(new))
    code, out = cli("diff", before, after, "--from", "2026-12-06", "--to", "2027-12-31",
                    "--fail-on-new-access", "--format", "json")  # fmt: skip
    assert 1 == code
    assert json.loads(out)["new_access"] is True


def test_diff_of_a_dated_member_moved_later_reports_the_days_it_gains(tmp_path):
    """UA-14 joining OCC a year later gains access until the new date, and only until then."""
    occ = "jurisdictions:\n  OCC:\n    - UA-43\n    - {{code: UA-14, from: {}}}\n"
    rule = "features:\n  f: {default: allow, rules: [{id: o, deny: [OCC], reason: r}]}\n"
    before = write(tmp_path, "old", occ.format("2022-02-21") + rule)
    after = write(tmp_path, "new", occ.format("2027-01-15") + rule)
    code, out = cli("diff", before, after, "--from", "2026-12-06", "--to", "2027-12-31",
                    "--fail-on-new-access", "--format", "json")  # fmt: skip
    assert 1 == code
    gained = json.loads(out)["features"]["f"]["gained"]
    assert [("UA-14", [["2026-12-06", "2027-01-14"]])] == [
        (g["location"], g["periods"]) for g in gained
    ]


def test_diff_a_pilot_inside_a_denied_country_is_not_new_access_for_the_country(tmp_path):
    """A one-day GB-SCT pilot splits GB; with partial deny GB itself gains nothing."""
    before = write(tmp_path, "old", one_feature(DIFFS["one-day"][0]))
    after = write(tmp_path, "new", one_feature(DIFFS["one-day"][1]))
    code, out = cli("diff", before, after, "--from", "2026-12-06", "--to", "2027-12-31",
                    "--format", "json")  # fmt: skip
    assert 0 == code
    gained = json.loads(out)["features"]["f"]["gained"]
    assert [("GB-SCT", False, [["2027-03-01", "2027-03-01"]])] == [
        (g["location"], g["rest"], g["periods"]) for g in gained
    ]


def test_check_split_report_for_a_hard_deny_inside_a_split_subdivision(tmp_path):
    """GB and GB-SCT are reported split, each denying a country-only request (hard_deny)."""
    folder = write(tmp_path, "h", POLICIES["hierarchy"])
    _, out = cli("check", folder, "--format", "json")
    splits = json.loads(out)["splits"]
    got = [(s["place"], s["from"], s["until"], s["effect"], s["by"]) for s in splits]
    assert [
        ("GB", "2026-06-01", "2026-06-30", "allow", "partial"),
        ("GB", "2026-07-01", "2026-09-30", "deny", "hard_deny"),
        ("GB-SCT", "2026-06-01", "2026-06-30", "allow", "partial"),
        ("GB-SCT", "2026-07-01", "2026-09-30", "deny", "hard_deny"),
    ] == got
    gate = Gate.from_path(folder)
    for place, start, until, effect, _ in got:
        sub = place if "-" in place else None
        for day in (start, until):
            assert effect == str(gate.evaluate("f", country="GB", subdivision=sub, at=day).effect)
    # After the pilot, everything inside GB is denied: not split.
    assert not gate.is_allowed("f", country="GB", at="2026-10-01")


def test_check_split_report_with_dated_and_retired_places(tmp_path):
    """OFAC-COMPREHENSIVE's dated regions and NO-30's successors each give their split."""
    folder = write(tmp_path, "o", POLICIES["ofac"])
    _, out = cli("check", folder, "--format", "json")
    got = [(s["place"], s["from"], s["until"], s["effect"]) for s in json.loads(out)["splits"]]
    assert [
        ("UA", None, "2014-12-18", "allow"),
        ("UA", "2014-12-19", "2022-02-20", "deny"),
        ("UA", "2022-02-21", None, "deny"),
    ] == got
    folder = write(tmp_path, "r", POLICIES["retired"])
    _, out = cli("check", folder, "--format", "json")
    got = [
        (s["place"], s["effect"], [i["code"] for i in s["inside"]])
        for s in json.loads(out)["splits"]
    ]
    assert [
        ("NO", "allow", ["NO-30", "NO-39"]),
        ("NO-30", "allow", ["NO-31"]),
        ("NO-38", "allow", ["NO-39"]),
    ] == got


def test_coverage_suggestions_are_decided_by_the_rule_they_name(tmp_path):
    """
    Each suggested case names a place the rule decides (GB-ABE for sct, not GB-SCT, which
    a hard_deny inside splits); run, they pass and cover every rule.
    """
    folder = write(tmp_path, "c", """
        features:
          f:
            default: deny
            partial: allow
            rules:
              - {id: sct, allow: [GB-SCT], reason: r}
              - {id: abd, deny: [GB-ABD], reason: r}
              - {id: glg, hard_deny: [GB-GLG], reason: r}
              - {id: il, allow: [US-IL], reason: r}
              - {id: ilh, hard_deny: [US-IL], until: 2020-01-01, reason: r}
    """)  # fmt: skip
    (folder / "tests").mkdir()
    cases = "cases:\n  - {feature: f, at: 2026-06-01, country: GB, expect: deny}\n"
    (folder / "tests" / "t.yaml").write_text(cases)
    code, out = cli("test", "--policies", folder, "--coverage")
    assert 0 == code
    assert "0 of 5 rules decided a case" in out
    suggested = [line.strip()[2:] for line in out.splitlines() if line.strip().startswith("- {")]
    assert 5 == len(suggested)
    (folder / "tests" / "t.yaml").write_text(cases + "".join(f"  - {s}\n" for s in suggested))
    code, out = cli("test", "--policies", folder, "--coverage")
    assert 0 == code
    assert "5 of 5 rules decided a case (100.0%)" in out
