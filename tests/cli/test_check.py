"""``geogate check``: lints, --strict, and the github and sarif formats."""

from __future__ import annotations

import json

import pytest

from geogate.cli import ExitCode
from helpers.paths import FACE_POLICY, POLICIES

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
def linted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(LINTED, encoding="utf-8")
    return "p.yaml"


def test_check_text_includes_lints(cli, linted):
    """Lints are warnings: listed, counted, exit 0 (1 with --strict)."""
    result = cli("check", linted, "--since", "2025-01-01")

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
    assert ExitCode.FINDINGS == cli("check", linted, "--strict").exit_code


def test_check_shipped_policies_clean_in_every_format(cli):
    """The shipped policies: no warning, whatever the format, even with --strict."""
    for output in ("text", "json", "github", "sarif"):
        assert 0 == cli("check", str(POLICIES), "--strict", "--format", output).exit_code


def test_check_expired_before(cli, tmp_path):
    """--expired-before DATE (or today) turns on expired-rule."""
    (tmp_path / "p.yaml").write_text(
        "features:\n  f:\n    owner: ml\n    default: allow\n    rules:\n"
        "      - id: cn\n        deny: [CN]\n        until: 2020-12-31\n        reason: Gone.\n"
        "        source: https://example.com\n",
        encoding="utf-8",
    )

    quiet = cli("check", str(tmp_path), "--format", "json")
    dated = cli("check", str(tmp_path), "--format", "json", "--expired-before", "2021-06-01")
    today = cli("check", str(tmp_path), "--format", "json", "--expired-before", "today")

    assert [] == json.loads(quiet.output)["diagnostics"]
    assert ["expired-rule"] == [d["code"] for d in json.loads(dated.output)["diagnostics"]]
    assert ["expired-rule"] == [d["code"] for d in json.loads(today.output)["diagnostics"]]
    bad = cli("check", str(tmp_path), "--expired-before", "yesterday")
    assert ExitCode.USAGE == bad.exit_code


def test_check_github(cli, linted):
    """github: one workflow command per diagnostic, escaped, the hint on a second line."""
    result = cli("check", linted, "--format", "github", "--since", "2025-01-01")

    lines = result.output.splitlines()
    assert 0 == result.exit_code
    assert (
        "::warning file=p.yaml,line=2,col=3,title=missing-owner::the feature 'chat' has no "
        "'owner'%0Ahint: add 'owner:' with the team that answers for it; audits and reports "
        "show it"
    ) == lines[0]
    assert 4 == sum(line.startswith("::warning file=p.yaml,") for line in lines)
    assert lines[-1].startswith("1 file(s), 1 feature(s), 2 rule(s): 0 error(s), 4 warning(s)")


def test_check_github_errors_and_escaping(cli, tmp_path, monkeypatch):
    """Errors are ::error; commas and colons in the path are escaped."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a,b:c.yaml").write_text(
        "features:\n  f:\n    default: allow\n    rules:\n"
        "      - id: r\n        deny: [GER]\n        reason: x\n",
        encoding="utf-8",
    )

    result = cli("check", "a,b:c.yaml", "--format", "github")

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


def test_check_sarif(cli, linted):
    """sarif: a valid log, one rule per code, one result per diagnostic with its location."""
    result = cli("check", linted, "--format", "sarif", "--since", "2025-01-01")

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


def test_check_sarif_of_errors_and_of_a_clean_set(cli, tmp_path):
    """Errors are 'error' results; a clean set is a valid log with no results."""
    (tmp_path / "bad.yaml").write_text(
        "features:\n  f:\n    default: allow\n    rules:\n"
        "      - id: r\n        deny: [GER]\n        reason: x\n",
        encoding="utf-8",
    )

    bad = json.loads(cli("check", str(tmp_path), "--format", "sarif").output)
    clean = json.loads(cli("check", str(POLICIES), "--format", "sarif").output)

    _check_sarif(bad)
    _check_sarif(clean)
    assert ["error"] == [r["level"] for r in bad["runs"][0]["results"]]
    assert [] == clean["runs"][0]["results"]


#: The split places of the face-matching policy (tests/data/face), as `check` words them.
FACE_SPLITS = [
    (
        "face-match: UA is split until 2022-02-20: UA-40, UA-43 are denied by hard-deny rule "
        "face-sanctions; the rest of UA is allowed by the feature's default; a request naming "
        "only UA is denied (hard_deny face-sanctions inside, whatever partial says)"
    ),
    (
        "face-match: UA is split from 2022-02-21: UA-09, UA-14, UA-40, UA-43 are denied by "
        "hard-deny rule face-sanctions; the rest of UA is allowed by the feature's default; a "
        "request naming only UA is denied (hard_deny face-sanctions inside, whatever partial "
        "says)"
    ),
    (
        "face-match: US is split on every date: US-IL, US-TX are denied by rule face-bipa; the "
        "rest of US is allowed by the feature's default; a request naming only US is denied "
        "(partial: deny)"
    ),
    (
        "scot-pilot: GB is split from 2026-06-01 until 2026-09-30: GB-SCT is allowed by rule "
        "pilot-scotland; the rest of GB is denied by the feature's default; a request naming "
        "only GB is denied (partial: deny)"
    ),
]


def test_check_reports_split_places(cli):
    """Each split country of each feature, with its dates and what a country-only request
    gets; information, not a finding: the exit code stays 0, even with --strict and no
    warning."""
    result = cli("check", str(FACE_POLICY))

    lines = result.output.splitlines()
    start = lines.index(
        "Split places: rules decide differently inside them; a request naming only the place "
        "gets the feature's partial setting, or deny where a hard_deny rule decides inside"
    )
    assert 0 == result.exit_code
    assert [f"  {line}" for line in FACE_SPLITS] == lines[start + 1 : -1]
    assert lines[-1].startswith("1 file(s), 2 feature(s), 4 rule(s): 0 error(s), 6 warning(s)")


def test_check_json_lists_split_places(cli):
    """--format json: one entry per split place and run of dates, with the places inside."""
    data = json.loads(cli("check", str(FACE_POLICY), "--format", "json").output)

    assert FACE_SPLITS == [split["message"] for split in data["splits"]]
    assert {
        "feature": "face-match",
        "place": "US",
        "from": None,
        "until": None,
        "effect": "deny",
        "by": "partial",
        "partial": "deny",
        "hard_deny": [],
        "inside": [
            {"code": "US-IL", "effect": "deny", "rule": "face-bipa"},
            {"code": "US-TX", "effect": "deny", "rule": "face-bipa"},
        ],
        "rest": {"effect": "allow", "rule": None},
        "message": FACE_SPLITS[2],
    } == data["splits"][2]
    assert ("scot-pilot", "2026-06-01", "2026-09-30", "partial") == (
        data["splits"][3]["feature"],
        data["splits"][3]["from"],
        data["splits"][3]["until"],
        data["splits"][3]["by"],
    )
    assert ["hard_deny", "hard_deny"] == [split["by"] for split in data["splits"][:2]]
    assert data["ok"]


def test_check_split_with_partial_allow_and_a_subdivision_inside_a_subdivision(cli, tmp_path):
    """partial: allow decides a request naming only GB or GB-NIR when Belfast alone is
    denied; a split subdivision is reported as such."""
    (tmp_path / "p.yaml").write_text(
        "features:\n  f:\n    owner: ml\n    default: allow\n    partial: allow\n    rules:\n"
        "      - id: bfs\n        deny: [GB-BFS]\n        from: 2026-01-01\n        reason: B.\n"
        "        source: https://example.com\n",
        encoding="utf-8",
    )

    data = json.loads(cli("check", str(tmp_path), "--format", "json").output)

    assert [
        (
            "f: GB is split from 2026-01-01: GB-BFS is denied by rule bfs; the rest of GB is "
            "allowed by the feature's default; a request naming only GB is allowed "
            "(partial: allow)"
        ),
        (
            "f: GB-NIR is split from 2026-01-01: GB-BFS is denied by rule bfs; the rest of "
            "GB-NIR is allowed by the feature's default; a request naming GB-NIR and no place "
            "inside it is allowed (partial: allow)"
        ),
    ] == [split["message"] for split in data["splits"]]
    assert [] == data["diagnostics"]


def test_check_shipped_policies_have_no_split_places(cli):
    """No shipped rule names a subdivision: nothing to report, in text or JSON."""
    text = cli("check", str(POLICIES)).output
    data = json.loads(cli("check", str(POLICIES), "--format", "json").output)

    assert "Split places" not in text
    assert [] == data["splits"]


def test_check_takes_policies_like_the_other_commands(cli, linted):
    """--policies PATH checks that path, as the positional PATH does."""
    by_option = cli("check", "--policies", linted, "--since", "2025-01-01")
    by_argument = cli("check", linted, "--since", "2025-01-01")

    assert 0 == by_option.exit_code
    assert by_argument.output == by_option.output


def test_check_policies_defaults_to_the_environment(cli, tmp_path, monkeypatch):
    """With neither PATH nor --policies, $GEOGATE_POLICIES is checked, as before."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GEOGATE_POLICIES", str(POLICIES))

    result = cli("check", "--format", "json")

    assert 0 == result.exit_code
    assert json.loads(result.output)["files"]


def test_check_paths_and_policies_together_is_a_usage_error(cli, linted):
    """Both a positional PATH and --policies: exit 2, saying to give one of them."""
    result = cli("check", linted, "--policies", "other")

    assert ExitCode.USAGE == result.exit_code
    assert result.output.endswith(
        "Error: give the policies either as PATH arguments (p.yaml) or with "
        "--policies other, not both\n"
    )
