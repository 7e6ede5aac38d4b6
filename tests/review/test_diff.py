"""`geogate diff`: the cells two policy sets disagree on, and the CI gate on a git history."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from geogate._load.loader import load_policies
from geogate._load.sources import load_side
from geogate._review.audit import audit
from geogate._review.diff import diff_policies
from geogate._world.countries import all_countries
from geogate.cli import ExitCode, main
from geogate.exceptions import PolicySourceError
from helpers.paths import GOOD_POLICY, POLICIES

if TYPE_CHECKING:
    from pathlib import Path

DATES = [dt.date(2019, 6, 1), dt.date(2020, 2, 1), dt.date(2026, 1, 1), dt.date(2026, 4, 15)]

BEFORE = """\
features:
  vision:
    default: allow
    unknown: deny
    rules:
      - id: withheld
        deny: [FR, DE, IE]
        reason: Not offered in France, Germany and Ireland.
  agent:
    default: deny
    rules:
      - id: agent-us
        allow: [US]
        reason: Offered in the United States.
"""

AFTER = """\
features:
  vision:
    default: allow
    unknown: deny
    rules:
      - id: withheld
        deny: [FR, DE]
        reason: Not offered in France and Germany.
  agent:
    default: deny
    rules:
      - id: agent-us
        allow: [US]
        reason: Offered in the United States.
      - id: agent-jp-pilot
        allow: [JP]
        from: 2026-03-01
        until: 2026-05-31
        reason: A pilot in Japan.
"""

# Hand-made variants of BEFORE, each changing one thing a policy review cares about.
VARIANTS = {
    "same": BEFORE,
    "after": AFTER,
    "eu-instead": BEFORE.replace("[FR, DE, IE]", "[EU]").replace(
        "rules:\n      - id: agent-us",
        "rules:\n      - id: agent-uk\n        allow: [UK]\n        from: 2020-02-01\n"
        "        reason: The United Kingdom, once it left the EU.\n      - id: agent-us",
    ),
    "default-flipped": BEFORE.replace("default: allow", "default: deny").replace(
        "deny: [FR, DE, IE]", "allow: [FR, DE, IE]"
    ),
    "unknown-allowed": BEFORE.replace("unknown: deny", "unknown: allow"),
    "agent-removed": BEFORE.split("  agent:", maxsplit=1)[0],
    "chat-added": BEFORE
    + GOOD_POLICY.read_text(encoding="utf-8").split("features:\n")[1].split("  licence:")[0]
    + "jurisdictions:\n  NORDICS: [NO, SE, DK, FI, IS]\n",
}


def _policy(tmp_path: Path, name: str, text: str):
    directory = tmp_path / name
    directory.mkdir()
    (directory / "policy.yaml").write_text(text, encoding="utf-8")
    return load_policies(directory)


def _effects(policy, day: dt.date, features) -> dict[tuple[str, str], str]:
    """Every (feature, location) -> effect; a feature the set lacks denies everywhere."""
    present = [f for f in features if f in policy.features]
    report = audit(policy, at=day, features=present).features
    cells: dict[tuple[str, str], str] = {}
    for fid in features:
        fa = report.get(fid)
        for code in all_countries():
            cells[fid, code] = str(fa.decisions[code].effect) if fa else "deny"
        cells[fid, "unknown"] = fa.unknown if fa else "deny"
    return cells


def _expected(old, new, day: dt.date) -> set[tuple[str, str, str, str]]:
    features = sorted(set(old.features) | set(new.features))
    before, after = _effects(old, day, features), _effects(new, day, features)
    return {(*cell, before[cell], after[cell]) for cell in before if before[cell] != after[cell]}


def _listed(result, day: dt.date) -> set[tuple[str, str, str, str]]:
    """The cells the diff says differ on *day*."""
    return {
        (fid, change.location, change.old, change.new)
        for fid, feature in result.features.items()
        for change in (*feature.gained, *feature.lost, *feature.unknown)
        if any(first <= day <= last for first, last in change.periods)
    }


def test_diff_of_a_set_with_itself_is_empty():
    """Comparing a policy set with itself finds nothing, on a day or across years."""
    for path in (GOOD_POLICY, POLICIES):
        policy = load_policies(path)

        for day in DATES:
            assert diff_policies(policy, policy, at=day).empty
        result = diff_policies(policy, policy, start=dt.date(2000, 1, 1), end=dt.date(2030, 1, 1))
        assert {} == result.features
        assert not result.new_access


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("day", DATES)
def test_diff_lists_exactly_the_cells_audits_disagree_on(tmp_path, name, day):
    """On one day, the diff lists exactly the cells where the two audits differ, both ways."""
    old = _policy(tmp_path, "old", BEFORE)
    new = _policy(tmp_path, "new", VARIANTS[name])

    for a, b in ((old, new), (new, old)):
        result = diff_policies(a, b, at=day)
        assert _expected(a, b, day) == _listed(result, day)
        gains = any(c[3] == "allow" for c in _expected(a, b, day))
        assert gains == result.new_access


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_diff_over_a_range_covers_every_day(tmp_path, name):
    """Over a range, a cell is listed for a day exactly when the audits of that day differ."""
    old = _policy(tmp_path, "old", BEFORE)
    new = _policy(tmp_path, "new", VARIANTS[name])
    start, end = dt.date(2019, 1, 1), dt.date(2026, 12, 31)
    boundaries = [
        dt.date(2020, 2, 1),
        dt.date(2026, 1, 1),
        dt.date(2026, 3, 1),
        dt.date(2026, 6, 1),
        dt.date(2026, 7, 1),
    ]
    probes = {start, end} | {d + dt.timedelta(days=k) for d in boundaries for k in (-1, 0, 1)}

    result = diff_policies(old, new, start=start, end=end)

    for day in sorted(probes):
        assert _expected(old, new, day) == _listed(result, day), day


def test_gains_losses_and_rule_changes(tmp_path):
    """IE gains access for good, JP only in its pilot window; the rule changes are named."""
    old = _policy(tmp_path, "old", BEFORE)
    new = _policy(tmp_path, "new", AFTER)

    result = diff_policies(old, new, start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31))

    vision, agent = result.features["vision"], result.features["agent"]
    assert ["IE"] == [c.location for c in vision.gained]
    assert ((dt.date(2026, 1, 1), dt.date(2026, 12, 31)),) == vision.gained[0].periods
    assert ("withheld", None) == (vision.gained[0].old_rule, vision.gained[0].new_rule)
    assert [("withheld", ("targets", "reason"), (), ("IE",))] == [
        (c.id, c.fields, c.targets_added, c.targets_removed) for c in vision.rules_changed
    ]
    assert ["JP"] == [c.location for c in agent.gained]
    assert ((dt.date(2026, 3, 1), dt.date(2026, 5, 31)),) == agent.gained[0].periods
    assert ["agent-jp-pilot"] == [r.id for r in agent.rules_added]
    assert () == agent.lost
    assert result.new_access


def test_added_and_removed_features_and_the_unknown_location(tmp_path):
    """A removed feature loses all its access; an unknown location that becomes allowed gains."""
    old = _policy(tmp_path, "old", BEFORE)
    removed = _policy(tmp_path, "removed", VARIANTS["agent-removed"])
    unknown = _policy(tmp_path, "unknown", VARIANTS["unknown-allowed"])
    day = dt.date(2026, 1, 1)

    gone = diff_policies(old, removed, at=day).features["agent"]
    back = diff_policies(removed, old, at=day).features["agent"]
    opened = diff_policies(old, unknown, at=day)

    assert ("removed", ["US"], ["agent-us"]) == (
        gone.status,
        [c.location for c in gone.lost],
        [r.id for r in gone.rules_removed],
    )
    assert ("added", ["US"], True) == (
        back.status,
        [c.location for c in back.gained],
        back.new_access,
    )
    assert [("unknown", "deny", "allow")] == [
        (c.location, c.old, c.new) for c in opened.features["vision"].unknown
    ]
    assert (("unknown", "deny", "allow"),) == opened.features["vision"].settings
    assert opened.new_access


def test_countries_are_grouped_by_the_jurisdiction_a_rule_names(tmp_path):
    """Countries are shown under the jurisdiction the deciding rule names, as the audit does."""
    old = _policy(tmp_path, "old", BEFORE)
    new = _policy(tmp_path, "new", VARIANTS["eu-instead"])

    result = diff_policies(old, new, at=dt.date(2026, 1, 1))

    decisions = audit(new, at=dt.date(2026, 1, 1)).features["vision"].decisions
    in_eu = {code for code, d in decisions.items() if "EU" in d.jurisdictions}
    assert [("EU", tuple(sorted(in_eu - {"FR", "DE", "IE"})))] == [
        (g.label, g.countries) for g in result.features["vision"].lost_groups
    ]


def test_bad_arguments_raise():
    """Half a range, a range that ends first, and an unknown feature are programmer errors."""
    policy = load_policies(GOOD_POLICY)

    with pytest.raises(ValueError, match="give either at= or both start= and end="):
        diff_policies(policy, policy, start=dt.date(2026, 1, 1))
    with pytest.raises(ValueError, match=r"the range ends \(2025-01-01\) before it starts"):
        diff_policies(policy, policy, start=dt.date(2026, 1, 1), end=dt.date(2025, 1, 1))
    with pytest.raises(KeyError, match="nope"):
        diff_policies(policy, policy, features=["nope"])


# -- the command line on a real git history ------------------------------------------------------

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git executable")

EXPECTED_MARKDOWN = """\
**geogate diff: new access.** 2 countries gain access and 0 countries lose access; 2 features \
differ, from 2026-01-01 to 2026-12-31.

### `agent` (changed)

| Access | Where | Countries | Days |
| --- | --- | --- | --- |
| **gains** | countries (1) | JP | 2026-03-01 to 2026-05-31 |

- added `agent-jp-pilot`: allow JP, from 2026-03-01 until 2026-05-31. A pilot in Japan.

### `vision` (changed)

| Access | Where | Countries | Days |
| --- | --- | --- | --- |
| **gains** | countries (1) | IE | 2026-01-01 to 2026-12-31 |

- changed `withheld`: targets -IE; reason

<sub>Old: `old`, policy `sha256:{old}`. New: `new`, policy `sha256:{new}`.</sub>
"""


def _git(repo: Path, *args: str) -> str:
    """Run git in *repo* with a fixed identity and no user or system configuration."""
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
        "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    }
    command = [
        "git",
        "-c",
        "user.name=geogate tests",
        "-c",
        "user.email=tests@example.com",
        "-c",
        "commit.gpgsign=false",
        "-c",
        "init.defaultBranch=main",
        *args,
    ]
    done = subprocess.run(  # noqa: S603 (a fixed command line, no shell)
        command, cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository with two commits of policies/policy.yaml: BEFORE, then AFTER."""
    root = tmp_path / "repo"
    (root / "policies").mkdir(parents=True)
    _git(root, "init", "--quiet")
    (root / "policies" / "policy.yaml").write_text(BEFORE, encoding="utf-8")
    (root / "README.md").write_text("not a policy\n", encoding="utf-8")
    _git(root, "add", ".")
    _git(root, "commit", "--quiet", "-m", "first policy")
    (root / "policies" / "policy.yaml").write_text(AFTER, encoding="utf-8")
    _git(root, "commit", "--quiet", "-am", "drop IE from the deny; a pilot in Japan")
    monkeypatch.chdir(root)
    return root


def _run(*args: str):
    return CliRunner().invoke(main, ["diff", *args], catch_exceptions=False)


@pytest.mark.slow
@needs_git
def test_git_revisions_through_the_cli(repo):
    """`git:HEAD~1` vs `git:HEAD` lists IE and the JP pilot as new access; the gate exits 1."""
    result = _run(
        "git:HEAD~1",
        "git:HEAD",
        "--from",
        "2026-01-01",
        "--to",
        "2026-12-31",
        "--format",
        "json",
        "--fail-on-new-access",
    )

    data = json.loads(result.output)
    assert ExitCode.FINDINGS == result.exit_code
    assert _git(repo, "rev-parse", "HEAD~1").strip() == data["old"]["commit"]
    assert ["HEAD~1:policies/policy.yaml"] == data["old"]["files"]
    assert load_policies(repo / "policies").revision == data["new"]["revision"]
    assert {"agent": ["JP"], "vision": ["IE"]} == {
        fid: [c["location"] for c in f["gained"]] for fid, f in data["features"].items()
    }
    assert [["2026-03-01", "2026-05-31"]] == data["features"]["agent"]["gained"][0]["periods"]
    assert {"from": "2026-01-01", "to": "2026-12-31", "new_access": True} == {
        k: data[k] for k in ("from", "to", "new_access")
    }


@needs_git
@pytest.mark.usefixtures("repo")
def test_the_gate_passes_when_access_only_shrinks_or_nothing_changes():
    """Going back a commit only removes access, and the working tree equals HEAD: both exit 0."""
    back = _run("git:HEAD", "git:HEAD~1", "--at", "2026-04-01", "--fail-on-new-access")
    same = _run("git:HEAD", "policies", "--fail-on-new-access")
    outside_window = _run(
        "git:HEAD~1", "git:HEAD", "--at", "2026-04-01", "--feature", "agent", "--fail-on-new-access"
    )
    before_pilot = _run(
        "git:HEAD~1:policies",
        "git:HEAD:policies/policy.yaml",
        "--at",
        "2026-02-01",
        "--feature",
        "agent",
        "--fail-on-new-access",
    )

    assert ExitCode.OK == back.exit_code, back.output
    assert 2 == back.output.count("LOSES ACCESS: 1")
    assert "New access: no." in back.output
    assert ExitCode.OK == same.exit_code, same.output
    assert "No differences: every feature decides every country the same way" in same.output
    assert ExitCode.FINDINGS == outside_window.exit_code
    assert ExitCode.OK == before_pilot.exit_code, before_pilot.output


@pytest.mark.slow
@needs_git
def test_working_tree_against_a_revision(repo):
    """An uncommitted edit is compared with the last commit: a path against `git:HEAD`."""
    text = AFTER.replace("allow: [US]", "allow: [US, CA]")
    (repo / "policies" / "policy.yaml").write_text(text, encoding="utf-8")

    result = _run("git:HEAD", "policies", "--at", "2026-01-01")

    assert ExitCode.OK == result.exit_code
    assert "    countries (1): CA" in result.output.splitlines()
    assert "  rule changed: agent-us (targets +CA)" in result.output.splitlines()


@pytest.mark.slow
@needs_git
def test_git_revisions_compare_subdivisions(repo):
    """
    A commit that adds a GB-SCT pilot and drops US-CA from a deny rule fails the gate.

    Both sides are read from git; both places are listed with their country.
    """
    text = (
        "features:\n  face:\n    default: allow\n    rules:\n"
        "      - {id: face-ccpa, deny: [US-CA, US-IL], reason: Biometric privacy laws.}\n"
        "  pilot:\n    default: deny\n    rules: []\n"
    )
    (repo / "policies" / "policy.yaml").write_text(text, encoding="utf-8")
    _git(repo, "commit", "--quiet", "-am", "subdivisions")
    text = text.replace("US-CA, US-IL", "US-IL").replace(
        "rules: []", "rules:\n      - {id: pilot-scotland, allow: [GB-SCT], reason: A pilot.}"
    )
    (repo / "policies" / "policy.yaml").write_text(text, encoding="utf-8")
    _git(repo, "commit", "--quiet", "-am", "a pilot in Scotland; California dropped")

    result = _run("git:HEAD~1", "git:HEAD", "--at", "2026-01-01", "--format", "json",
                  "--fail-on-new-access")  # fmt: skip

    data = json.loads(result.output)
    assert ExitCode.FINDINGS == result.exit_code
    assert {"face": [("US", "US-CA")], "pilot": [("GB", "GB-SCT")]} == {
        fid: [(c["country"], c["subdivision"]) for c in f["gained"]]
        for fid, f in data["features"].items()
    }
    assert _git(repo, "rev-parse", "HEAD~1").strip() == data["old"]["commit"]


@pytest.mark.slow
@needs_git
def test_a_bad_revision_is_an_environment_error(repo):
    """A revision the repository lacks: exit 3 with a message that says what to write."""
    result = CliRunner().invoke(main, ["diff", "git:no-such-branch", "policies"])

    assert ExitCode.ENVIRONMENT == result.exit_code
    assert (
        "geogate: OLD: cannot read 'git:no-such-branch': no revision 'no-such-branch' in the "
        f"repository at {repo}; name a commit, branch or tag (for example git:HEAD~1 or "
        "git:origin/main)\n"
    ) == result.output


@needs_git
@pytest.mark.usefixtures("repo")
def test_a_bad_path_and_no_repository(tmp_path, monkeypatch):
    """A path the revision lacks, and a directory outside any repository: exit 3."""
    missing = CliRunner().invoke(main, ["diff", "policies", "git:HEAD:rules"])
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    no_repo = CliRunner().invoke(main, ["diff", "git:HEAD", "git:HEAD~1"])

    assert ExitCode.ENVIRONMENT == missing.exit_code
    assert (
        "geogate: NEW: cannot read 'git:HEAD:rules': no file or directory 'rules' in revision "
        "'HEAD' (PATH is relative to the current directory)\n"
    ) == missing.output
    assert ExitCode.ENVIRONMENT == no_repo.exit_code
    assert f"cannot read 'git:HEAD': {outside} is not inside a git repository" in no_repo.output
    with pytest.raises(PolicySourceError, match="not inside a git repository") as caught:
        load_side("git:HEAD")
    assert "git:HEAD" == caught.value.spec


@pytest.mark.slow
@needs_git
def test_a_revision_that_does_not_load_shows_its_diagnostics(repo):
    """A committed broken policy: its diagnostics name `REV:path`, and the command exits 1."""
    (repo / "policies" / "policy.yaml").write_text(AFTER.replace("[FR, DE]", "[FR, GER]"), "utf-8")
    _git(repo, "commit", "--quiet", "-am", "a typo")

    result = CliRunner().invoke(main, ["diff", "git:HEAD~1", "git:HEAD"])

    assert ExitCode.FINDINGS == result.exit_code
    lines = result.output.splitlines()
    assert (
        "HEAD:policies/policy.yaml:7:20: error: unknown country code 'GER' in "
        "features.vision.rules[withheld].deny[1] [unknown-country]"
    ) == lines[0]
    assert "geogate: the NEW policies 'git:HEAD' did not load (1 error(s))" == lines[-1]


def test_markdown_for_a_pull_request_comment(tmp_path, monkeypatch):
    """The markdown output, pinned in full: summary, a table per feature, rules, revisions."""
    old = _policy(tmp_path, "old", BEFORE)
    new = _policy(tmp_path, "new", AFTER)
    monkeypatch.chdir(tmp_path)

    result = _run(
        "old", "new", "--from", "2026-01-01", "--to", "2026-12-31", "--format", "markdown"
    )

    assert ExitCode.OK == result.exit_code
    expected = EXPECTED_MARKDOWN.format(old=old.revision[7:19], new=new.revision[7:19])
    assert expected == result.output


def test_usage_errors(tmp_path, monkeypatch):
    """--at with a range, half a range, a reversed range and an unknown feature exit 2."""
    _policy(tmp_path, "old", BEFORE)
    monkeypatch.chdir(tmp_path)

    both = _run("old", "old", "--at", "2026-01-01", "--from", "2026-01-01", "--to", "2026-02-01")
    half = _run("old", "old", "--from", "2026-01-01")
    reversed_ = _run("old", "old", "--from", "2026-02-01", "--to", "2026-01-01")
    unknown = _run("old", "old", "--feature", "nope")

    assert [ExitCode.USAGE] * 4 == [r.exit_code for r in (both, half, reversed_, unknown)]
    assert "give either --at or --from/--to, not both" in both.output
    assert "--from and --to go together" in half.output
    assert "--to 2026-01-01 is before --from 2026-02-01" in reversed_.output
    assert "no feature 'nope' on either side; known features: agent, vision" in unknown.output


def test_a_missing_path_exits_3(tmp_path, monkeypatch):
    """A side that is a path that does not exist is an environment error, as in `check`."""
    _policy(tmp_path, "old", BEFORE)
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, ["diff", "old", "missing"])

    assert ExitCode.ENVIRONMENT == result.exit_code
    assert "geogate: the NEW policies 'missing' did not load (1 error(s))" in result.output
