"""
One policy with rules on US states, a Scottish pilot and a jurisdiction of
occupied Ukrainian regions, through every command that reports on places:
``audit`` (every format), ``audit --timeline``, ``diff --fail-on-new-access``,
``eval``, ``explain``, ``check`` and ``test --coverage``.
"""

from __future__ import annotations

import csv
import io
import json
import shutil

import pytest
from click.testing import CliRunner

from geogate import Gate
from geogate.cli import main
from helpers.paths import FACE

SCENARIO = FACE
POLICY = SCENARIO / "face.yaml"
DAY = "2026-07-01"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def gate() -> Gate:
    return Gate.from_path(POLICY)


def test_audit_json_is_exact_below_the_country(gate):
    code, output = run("audit", "--policies", str(POLICY), "--at", DAY, "--format", "json")
    assert 0 == code
    features = json.loads(output)["features"]
    face = features["face-match"]
    assert ("location", "deny") == (face["basis"], face["partial"])
    us = face["countries"]["US"]
    assert {"effect": "deny", "rule": None, "partial": True} == {
        key: us[key] for key in ("effect", "rule", "partial")
    }
    assert {"effect": "allow", "rule": None} == us["rest"]
    assert {"effect": "deny", "rule": "face-bipa"} == us["subdivisions"]["US-IL"]
    assert {"effect": "deny", "rule": "face-bipa"} == us["subdivisions"]["US-TX"]
    ua = face["countries"]["UA"]
    assert ("deny", True) == (ua["effect"], ua["partial"])
    assert {"UA-09", "UA-14", "UA-40", "UA-43"} == set(ua["subdivisions"])
    assert {"effect": "allow", "rule": None} == face["countries"]["CA"]
    gb = features["scot-pilot"]["countries"]["GB"]
    assert ("deny", True, {"effect": "deny", "rule": None}) == (
        gb["effect"],
        gb["partial"],
        gb["rest"],
    )
    assert {"effect": "allow", "rule": "pilot-scotland"} == gb["subdivisions"]["GB-SCT"]
    # Every cell is what eval says.
    for fid, feature in features.items():
        for country, cell in feature["countries"].items():
            decision = gate.evaluate(fid, country=country, domicile=country, at=DAY)
            assert (cell["effect"], cell["rule"]) == (str(decision.effect), decision.rule)
            for sub, inner in cell.get("subdivisions", {}).items():
                decision = gate.evaluate(
                    fid, country=country, subdivision=sub, domicile=country, at=DAY
                )
                assert (inner["effect"], inner["rule"]) == (str(decision.effect), decision.rule)


@pytest.mark.parametrize("form", ["table", "markdown"])
def test_audit_text_lists_split_countries_and_their_subdivisions(form):
    code, output = run("audit", "--policies", str(POLICY), "--at", DAY, "--format", form)
    assert 0 == code
    for text in ("US-IL", "US-TX", "UA-43", "GB-SCT", "split"):
        assert text in output, text
    assert "allowed by default (no rule applies)" not in output.split("US United States")[-1][:80]


def test_audit_csv_has_a_row_per_subdivision():
    code, output = run("audit", "--policies", str(POLICY), "--at", DAY, "--format", "csv")
    assert 0 == code
    rows = list(csv.DictReader(io.StringIO(output)))
    il = [r for r in rows if r["feature"] == "face-match" and r["subdivision"] == "US-IL"]
    assert [("US", "deny", "face-bipa")] == [(r["country"], r["effect"], r["rule"]) for r in il]
    us = [r for r in rows if r["feature"] == "face-match" and r["country"] == "US"]
    country_row = next(r for r in us if not r["subdivision"])
    assert ("deny", "allow") == (country_row["effect"], country_row["rest_effect"])


def test_audit_html_marks_the_split_countries(tmp_path):
    target = tmp_path / "audit.html"
    code, _ = run(
        "audit", "--policies", str(POLICY), "--at", DAY, "--format", "html", "--output", str(target)
    )
    assert 0 == code
    page = target.read_text(encoding="utf-8")
    assert "US-IL" in page
    assert "GB-SCT" in page
    assert "split" in page.lower()


def test_the_timeline_shows_the_pilot_start_and_end():
    code, output = run(
        "audit", "--timeline", "--policies", str(POLICY), "--from", "2026-01-01",
        "--to", "2026-12-31", "--feature", "scot-pilot", "--format", "json",
    )  # fmt: skip
    assert 0 == code
    changes = json.loads(output)["features"]["scot-pilot"]["changes"]
    assert ["2026-06-01", "2026-10-01"] == [change["date"] for change in changes]
    start, end = changes
    assert ["pilot-scotland"] == start["rules_started"]
    assert ["pilot-scotland"] == end["rules_ended"]
    assert {"effect": "allow", "rule": "pilot-scotland"} == start["subdivisions"]["GB-SCT"]["after"]
    assert {"effect": "deny", "rule": None} == end["subdivisions"]["GB-SCT"]["after"]


def test_diff_fails_on_new_access_below_the_country(tmp_path):
    """A GB-SCT allow rule added and US-CA dropped from a deny rule: new access, exit 1."""
    old = tmp_path / "old"
    new = tmp_path / "new"
    old.mkdir()
    new.mkdir()
    text = POLICY.read_text(encoding="utf-8")
    before = text.replace("deny: [US-IL, US-TX]", "deny: [US-IL, US-TX, US-CA]")
    before = before[: before.index("  scot-pilot:")]
    after = text
    (old / "face.yaml").write_text(before + "  scot-pilot:\n    default: deny\n", encoding="utf-8")
    (new / "face.yaml").write_text(after, encoding="utf-8")
    code, output = run("diff", str(old), str(new), "--at", DAY, "--fail-on-new-access")
    assert 1 == code, output
    assert "GB-SCT" in output
    assert "US-CA" in output
    assert "no country gains or loses access" not in output
    code, _ = run("diff", str(new), str(new), "--at", DAY, "--fail-on-new-access")
    assert 0 == code


def test_eval_and_explain_name_the_split():
    code, output = run("eval", "face-match", "--policies", str(POLICY), "--country", "US",
                       "--at", DAY)  # fmt: skip
    assert 0 == code
    assert output.startswith("DENIED")
    assert "US is split on 2026-07-01: US-IL, US-TX are denied by rule face-bipa" in output
    code, output = run("explain", "face-match", "--policies", str(POLICY), "--country", "US",
                       "--at", DAY)  # fmt: skip
    assert 0 == code
    assert "US-IL" in output
    assert "partial" in output


def test_check_reports_each_split_country():
    code, output = run("check", str(POLICY), "--format", "json")
    assert 0 == code, output
    splits = json.loads(output)["splits"]
    places = {(s["feature"], s["place"]) for s in splits}
    assert {("face-match", "US"), ("face-match", "UA"), ("scot-pilot", "GB")} <= places


def test_coverage_counts_subdivision_rules(tmp_path):
    folder = tmp_path / "policies"
    shutil.copytree(SCENARIO, folder)
    code, output = run(
        "test", "--policies", str(folder / "face.yaml"), str(folder / "tests"), "--coverage",
        "--format", "json",
    )  # fmt: skip
    assert 0 == code, output
    coverage = json.loads(output)["coverage"]
    decided = {f["feature"]: set(f["decided"]) for f in coverage["features"]}
    assert {"face-bipa", "face-sanctions"} <= decided["face-match"]
    assert {"pilot-scotland"} == decided["scot-pilot"]
