"""``geogate check``: lints, --strict, and the github and sarif formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from geogate.cli import ExitCode, main

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"

LINTED = """\
features:
  chat:
    default: allow
    rules:
      - id: sanctions
        hard_deny: [RU]
        reason: Sanctions.
        source: https://example.com/sanctions
      - id: ru-pilot
        allow: [RU]
        reason: TODO
"""


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def linted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(LINTED, encoding="utf-8")
    return "p.yaml"


def test_check_text_includes_lints(run, linted):
    """Lints are warnings: listed, counted, exit 0 (1 with --strict)."""
    result = run("check", linted, "--since", "2025-01-01")

    lines = result.output.splitlines()
    assert 0 == result.exit_code
    assert [
        "p.yaml:2:3: warning: the feature 'chat' has no 'owner' [missing-owner]",
        (
            "p.yaml:9:9: warning: features.chat.rules[ru-pilot] has the placeholder reason 'TODO' "
            "[missing-reason]"
        ),
        (
            "p.yaml:9:9: warning: features.chat.rules[ru-pilot] has no 'source' for its reason "
            "[missing-source]"
        ),
        (
            "p.yaml:9:9: warning: features.chat.rules[ru-pilot] decides no location on any date "
            "from 2025-01-01: where it applies, other rules win (for RU (Russian Federation) on "
            "every date, 'sanctions' decides) [shadowed-rule]"
        ),
    ] == [line for line in lines[:-1] if not line.startswith("  hint:")]
    assert lines[-1].startswith("1 file(s), 1 feature(s), 2 rule(s): 0 error(s), 4 warning(s)")
    assert ExitCode.FINDINGS == run("check", linted, "--strict").exit_code


def test_check_shipped_policies_clean_in_every_format(run):
    """The shipped policies: no warning, whatever the format, even with --strict."""
    for output in ("text", "json", "github", "sarif"):
        assert 0 == run("check", str(POLICIES), "--strict", "--format", output).exit_code


def test_check_expired_before(run, tmp_path):
    """--expired-before DATE (or today) turns on expired-rule."""
    (tmp_path / "p.yaml").write_text(
        "features:\n  f:\n    owner: ml\n    default: allow\n    rules:\n"
        "      - id: cn\n        deny: [CN]\n        until: 2020-12-31\n        reason: Gone.\n"
        "        source: https://example.com\n",
        encoding="utf-8",
    )

    quiet = run("check", str(tmp_path), "--format", "json")
    dated = run("check", str(tmp_path), "--format", "json", "--expired-before", "2021-06-01")
    today = run("check", str(tmp_path), "--format", "json", "--expired-before", "today")

    assert [] == json.loads(quiet.output)["diagnostics"]
    assert ["expired-rule"] == [d["code"] for d in json.loads(dated.output)["diagnostics"]]
    assert ["expired-rule"] == [d["code"] for d in json.loads(today.output)["diagnostics"]]
    bad = run("check", str(tmp_path), "--expired-before", "yesterday")
    assert ExitCode.USAGE == bad.exit_code


def test_check_github(run, linted):
    """github: one workflow command per diagnostic, escaped, the hint on a second line."""
    result = run("check", linted, "--format", "github", "--since", "2025-01-01")

    lines = result.output.splitlines()
    assert 0 == result.exit_code
    assert (
        "::warning file=p.yaml,line=2,col=3,title=missing-owner::the feature 'chat' has no "
        "'owner'%0Ahint: add 'owner:' with the team that answers for it; audits and reports "
        "show it"
    ) == lines[0]
    assert 4 == sum(line.startswith("::warning file=p.yaml,") for line in lines)
    assert lines[-1].startswith("1 file(s), 1 feature(s), 2 rule(s): 0 error(s), 4 warning(s)")


def test_check_github_errors_and_escaping(run, tmp_path, monkeypatch):
    """Errors are ::error; commas and colons in the path are escaped."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a,b:c.yaml").write_text(
        "features:\n  f:\n    default: allow\n    rules:\n"
        "      - id: r\n        deny: [GER]\n        reason: x\n",
        encoding="utf-8",
    )

    result = run("check", "a,b:c.yaml", "--format", "github")

    assert ExitCode.FINDINGS == result.exit_code
    assert result.output.startswith(
        "::error file=a%2Cb%3Ac.yaml,line=6,col=16,title=unknown-country::unknown country code "
        "'GER' in features.f.rules[r].deny[0]%0Ahint: did you mean 'DE'?"
    )


def _check_sarif(log: dict) -> None:
    """A minimal structural check of SARIF 2.1.0 (the parts GitHub code scanning reads)."""
    assert "2.1.0" == log["version"]
    assert log["$schema"].endswith("sarif-2.1.0.json")
    (sarif_run,) = log["runs"]
    driver = sarif_run["tool"]["driver"]
    assert "geogate" == driver["name"]
    assert isinstance(driver["version"], str)
    ids = [rule["id"] for rule in driver["rules"]]
    assert sorted(set(ids)) == ids  # one rule per code
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
    for result in sarif_run["results"]:
        assert result["ruleId"] == ids[result["ruleIndex"]]
        assert result["level"] in {"error", "warning", "note", "none"}
        assert result["message"]["text"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"]
        assert physical["region"]["startLine"] >= 1
        assert physical["region"]["startColumn"] >= 1


def test_check_sarif(run, linted):
    """sarif: a valid log, one rule per code, one result per diagnostic with its location."""
    result = run("check", linted, "--format", "sarif", "--since", "2025-01-01")

    log = json.loads(result.output)
    _check_sarif(log)
    (sarif_run,) = log["runs"]
    assert ["missing-owner", "missing-reason", "missing-source", "shadowed-rule"] == [
        rule["id"] for rule in sarif_run["tool"]["driver"]["rules"]
    ]
    first = sarif_run["results"][0]
    assert {
        "ruleId": "missing-owner",
        "ruleIndex": 0,
        "level": "warning",
        "message": {
            "text": "the feature 'chat' has no 'owner'\nhint: add 'owner:' with the team that "
            "answers for it; audits and reports show it"
        },
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": "p.yaml"},
                    "region": {"startLine": 2, "startColumn": 3},
                }
            }
        ],
    } == first
    assert 4 == len(sarif_run["results"])


def test_check_sarif_of_errors_and_of_a_clean_set(run, tmp_path):
    """Errors are 'error' results; a clean set is a valid log with no results."""
    (tmp_path / "bad.yaml").write_text(
        "features:\n  f:\n    default: allow\n    rules:\n"
        "      - id: r\n        deny: [GER]\n        reason: x\n",
        encoding="utf-8",
    )

    bad = json.loads(run("check", str(tmp_path), "--format", "sarif").output)
    clean = json.loads(run("check", str(POLICIES), "--format", "sarif").output)

    _check_sarif(bad)
    _check_sarif(clean)
    assert ["error"] == [r["level"] for r in bad["runs"][0]["results"]]
    assert [] == clean["runs"][0]["results"]
