"""``geogate test``: formats, exit codes, coverage, and JUnit that parses."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from geogate.cli import ExitCode, main
from helpers.paths import FACE, POLICIES, POLICYTESTS

DATA = POLICYTESTS


@pytest.fixture
def run(monkeypatch):
    monkeypatch.delenv("GEOGATE_POLICIES", raising=False)
    monkeypatch.delenv("GEOGATE_GEOIP_DB", raising=False)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, ["test", *args], catch_exceptions=False)

    return invoke


def test_shipped_tests_pass(run):
    """With no FILES, the policy directory's tests/ run; all pass: exit 0."""
    result = run("--policies", str(POLICIES))

    assert ExitCode.OK == result.exit_code, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["RESULT", "CASE", "EXPECTED", "GOT", "RULE"]
    assert lines[-1].startswith("OK: 251 passed, 0 failed, 251 case(s), policy sha256:")


def test_failure_exits_1_with_the_chain(run, monkeypatch):
    """A failing case: FAIL row, where it is written, what differs, the chain; exit 1."""
    monkeypatch.chdir(DATA)

    result = run("--policies", str(POLICIES), "failing.yaml")

    assert ExitCode.FINDINGS == result.exit_code
    out = result.output
    assert "FAIL    failing.yaml::llama-3.2-vision allow FR @2026-01-01" in out
    assert "      at failing.yaml:4\n" in out
    assert "    expected allow, got deny by rule eu-multimodal-withheld\n" in out
    assert "      3. Rule eu-multimodal-withheld (deny EU, from 2024-09-25) won:" in out
    assert out.splitlines()[-1].startswith("FAILED: 1 passed, 2 failed, 3 case(s)")


def test_json(run, monkeypatch):
    """JSON: summary, each case with what it got, and coverage when asked."""
    monkeypatch.chdir(DATA)

    result = run("--policies", str(POLICIES), "failing.yaml", "--format", "json", "--coverage")

    assert ExitCode.FINDINGS == result.exit_code
    data = json.loads(result.output)
    assert {"total": 3, "passed": 1, "failed": 2} == data["summary"]
    first = data["cases"][0]
    assert ("allow", "deny", "eu-multimodal-withheld", 4) == (
        first["expect"],
        first["got"],
        first["got_rule"],
        first["line"],
    )
    assert first["message"].startswith("expected allow, got deny")
    assert (9, 3) == (data["coverage"]["rules"], data["coverage"]["decided"])


def test_junit_is_well_formed(run, monkeypatch):
    """JUnit: one testcase per case, failures with the message and the chain."""
    monkeypatch.chdir(DATA)

    result = run("--policies", str(POLICIES), "failing.yaml", "--format", "junit")

    assert ExitCode.FINDINGS == result.exit_code
    root = ET.fromstring(result.output.encode("utf-8"))  # noqa: S314 (our own output)
    suite = root.find("testsuite")
    assert suite is not None
    assert ("failing.yaml", "3", "2") == (
        suite.get("name"),
        suite.get("tests"),
        suite.get("failures"),
    )
    cases = suite.findall("testcase")
    assert [
        "llama-3.2-vision allow FR @2026-01-01",
        "apple-intelligence-iphone deny FR @2024-10-28",
        "llama-3.1-405b allow FR @2026-01-01",
    ] == [case.get("name") for case in cases]
    failure = cases[0].find("failure")
    assert failure is not None
    assert "expected allow, got deny by rule eu-multimodal-withheld" == failure.get("message")
    assert "1. Location: FR (France)" in (failure.text or "")
    assert cases[2].find("failure") is None


def test_junit_of_shipped_tests(run):
    """Every shipped case is a passing testcase."""
    result = run("--policies", str(POLICIES), "--format", "junit")

    assert ExitCode.OK == result.exit_code
    root = ET.fromstring(result.output.encode("utf-8"))  # noqa: S314 (our own output)
    assert 251 == len(list(root.iter("testcase")))
    assert [] == list(root.iter("failure"))


def test_coverage_table_and_threshold(run, monkeypatch):
    """--coverage lists rules never decided; below --coverage-threshold exits 1."""
    monkeypatch.chdir(DATA / "good")

    result = run(
        "--policies", str(POLICIES), "forms.yaml", "--coverage", "--coverage-threshold", "50"
    )

    assert ExitCode.FINDINGS == result.exit_code
    assert "Coverage by decision: 3 of 9 rules decided a case (33.3%)" in result.output
    assert "    never decided: mac-launch, mac-china-not-offered" in result.output
    assert (
        "geogate: rule coverage 33.3% is below the threshold 50% (3 of 9 rules decided a case)"
        in result.output
    )


def test_shipped_coverage_meets_100(run):
    """The shipped tests decide every rule."""
    result = run("--policies", str(POLICIES), "--coverage", "--coverage-threshold", "100")

    assert ExitCode.OK == result.exit_code
    assert "9 of 9 rules decided a case (100.0%)" in result.output


def test_bad_test_file_exits_2_with_diagnostics(run, monkeypatch):
    """A misnamed feature is a load error: its diagnostic, exit 2, nothing runs."""
    monkeypatch.chdir(DATA / "bad")

    result = run("--policies", str(POLICIES), "unknown-feature.yaml", "unknown-rule.yaml")

    assert ExitCode.USAGE == result.exit_code
    assert result.output.splitlines() == [
        (
            "unknown-feature.yaml:2:14: error: cases[0].feature names the feature "
            "'llama-3.2-visoin', which the policies do not define [unknown-feature]"
        ),
        "  hint: did you mean 'llama-3.2-vision'?",
        (
            "unknown-rule.yaml:5:11: error: cases[0].rule names the rule "
            "'eu-multimodal-witheld', which the policies do not define [unknown-rule]"
        ),
        "  hint: did you mean 'eu-multimodal-withheld'?",
        "geogate: the test files did not load (2 error(s))",
    ]


def test_policies_that_do_not_load_exit_2(run, tmp_path):
    """Policies with an error: their diagnostics, exit 2."""
    (tmp_path / "p.yaml").write_text("features:\n  chat: {}\n", encoding="utf-8")

    result = run("--policies", str(tmp_path))

    assert ExitCode.USAGE == result.exit_code
    assert "[missing-key]" in result.output
    assert result.output.splitlines()[-1].startswith("geogate: the policies at ")


def test_missing_path_exits_3(run):
    """A test file that does not exist: path-not-found, exit 3 (environment)."""
    result = run("--policies", str(POLICIES), "nope.yaml")

    assert ExitCode.ENVIRONMENT == result.exit_code
    assert "[path-not-found]" in result.output


def test_no_test_files_fails(run, tmp_path):
    """A policy directory without tests/ runs nothing, which fails: exit 2."""
    (tmp_path / "p.yaml").write_text("features:\n  chat: {default: allow}\n", encoding="utf-8")

    result = run("--policies", str(tmp_path))

    assert ExitCode.USAGE == result.exit_code
    assert result.output.startswith(f"geogate: no test files: {str(tmp_path)!r} has no tests/")


def test_no_cases_fails(run, monkeypatch):
    """Files that hold no case run nothing, which fails: exit 2, after their warnings."""
    monkeypatch.chdir(DATA / "bad")

    result = run("--policies", str(POLICIES), "no-cases.yaml", "empty-file.yaml")

    assert ExitCode.USAGE == result.exit_code
    assert result.output.splitlines()[-1] == (
        "geogate: no test cases in no-cases.yaml, empty-file.yaml: a run that tests nothing fails"
    )
    assert "[no-cases]" in result.output


def test_at_dates_cases_without_a_date(run, tmp_path):
    """--at decides cases that give no date: FR allowed before Llama 3.2, denied after."""
    path = tmp_path / "t.yaml"
    path.write_text(
        "cases:\n  - {feature: llama-3.2-vision, country: FR, expect: allow}\n", encoding="utf-8"
    )

    before = run("--policies", str(POLICIES), str(path), "--at", "2024-09-24")
    after = run("--policies", str(POLICIES), str(path), "--at", "2024-09-25")

    assert (ExitCode.OK, ExitCode.FINDINGS) == (before.exit_code, after.exit_code)
    assert "allow FR @2024-09-24" in before.output


def test_bad_format_is_a_usage_error(run):
    """An unknown --format is click's usage error: exit 2."""
    result = run("--format", "xml")

    assert ExitCode.USAGE == result.exit_code


def test_coverage_of_the_face_matching_policy(run):
    """Subdivision cases cover the rules that decide only regions; country-only cases in split
    countries are counted as the partial setting; the rule left uncovered gets a case to add,
    dated --at."""
    result = run("--policies", str(FACE), "--coverage", "--at", "2026-06-01")

    assert ExitCode.OK == result.exit_code, result.output
    out = result.output
    assert "OK: 15 passed, 0 failed, 15 case(s)" in out
    assert (
        "Coverage by decision: 3 of 4 rules decided a case (75.0%)\n"
        "  face-match: 2/3 rules, 12 case(s)\n"
        "    never decided: face-eu\n"
        "    cases that they would decide:\n"
        "      - {feature: face-match, country: AT, at: 2026-06-01, expect: deny, rule: face-eu}\n"
        "    fallbacks exercised: default, partial\n"
        "    jurisdictions exercised: 1/2 (OCCUPIED-UA)\n"
        "    jurisdictions never exercised: EU\n"
        "    target places exercised: 6/44\n"
        "  scot-pilot: 1/1 rules, 3 case(s)\n"
        "    fallbacks exercised: default, partial\n"
        "    target places exercised: 1/1\n"
    ) in out


def test_coverage_lists_subdivisions_never_exercised(run, tmp_path):
    """No case in a region: the subdivisions a rule targets are listed, and the suggested
    case names one."""
    (tmp_path / "t.yaml").write_text(
        "cases:\n  - feature: face-match\n    at: 2026-06-01\n    deny: [US]\n"
        "  - feature: scot-pilot\n    at: 2026-06-01\n    deny: [GB]\n",
        encoding="utf-8",
    )

    result = run(
        "--policies", str(FACE), str(tmp_path / "t.yaml"), "--coverage", "--format", "json",
        "--at", "2026-06-01",
    )  # fmt: skip

    data = json.loads(result.output)["coverage"]
    match = data["features"][0]
    assert ExitCode.OK == result.exit_code
    assert (["partial"], []) == (match["fallbacks"], match["places_exercised"])
    assert {
        "feature": "face-match",
        "rule": "face-bipa",
        "country": None,
        "subdivision": "US-IL",
        "domicile": None,
        "at": "2026-06-01",
        "expect": "deny",
        "case": (
            "- {feature: face-match, subdivision: US-IL, at: 2026-06-01, expect: deny, "
            "rule: face-bipa}"
        ),
    } == match["suggestions"][0]
    text = run("--policies", str(FACE), str(tmp_path / "t.yaml"), "--coverage").output
    assert (
        "    target subdivisions never exercised: UA-09, UA-14, UA-40, UA-43, US-IL, US-TX\n"
        in text
    )


def test_quiet_prints_only_the_summary_when_all_pass(run):
    """-q: no passing rows, no header; the summary line alone."""
    result = run("--policies", str(POLICIES), "-q")

    assert ExitCode.OK == result.exit_code, result.output
    assert 1 == len(result.output.splitlines())
    assert result.output.startswith("OK: 251 passed, 0 failed, 251 case(s), policy sha256:")


def test_quiet_prints_failures_and_the_summary(run, monkeypatch):
    """--quiet: the failing rows with their chains, no PASS row, the summary; exit 1."""
    monkeypatch.chdir(DATA)

    result = run("--policies", str(POLICIES), "failing.yaml", "--quiet")

    assert ExitCode.FINDINGS == result.exit_code
    lines = result.output.splitlines()
    assert lines[0].split() == ["RESULT", "CASE", "EXPECTED", "GOT", "RULE"]
    assert 2 == sum(line.startswith("FAIL ") for line in lines)
    assert not any(line.startswith("PASS") for line in lines)
    assert "    expected allow, got deny by rule eu-multimodal-withheld\n" in result.output
    assert lines[-1].startswith("FAILED: 1 passed, 2 failed, 3 case(s)")


def test_quiet_still_prints_coverage(run):
    """-q with --coverage: the summary line, then the coverage report."""
    result = run("--policies", str(POLICIES), "-q", "--coverage")

    assert ExitCode.OK == result.exit_code
    lines = result.output.splitlines()
    assert lines[0].startswith("OK: 251 passed, 0 failed, 251 case(s)")
    assert "Coverage by decision: 9 of 9 rules decided a case (100.0%)" == lines[2]
