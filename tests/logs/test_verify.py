"""``geogate logs verify``: every logged decision re-decided by the revision it names."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess

import pytest

from geogate import Gate
from geogate._load.loader import load_policies
from geogate._logs.read import find_logs
from geogate._logs.verify import verify
from geogate.cli import ExitCode
from helpers.decisionlogs import Request, log_lines, write_jsonl, write_parquet
from helpers.paths import POLICIES

VISION = "llama-3.2-vision"
LICENCE = "llama-3.2-vision-license"
DAY = dt.date(2026, 5, 9)
#: The same policies, but the vision model is withheld in Switzerland from 2026-06-01.
SWITZERLAND = """      - id: ch-withheld
        deny: [CH]
        from: 2026-06-01
        reason: Withheld in Switzerland.
"""


def calls(day=DAY, repeat=1):
    found = [
        Request(VISION, {"country": c}, day, "81.2.69.160")
        for c in ("FR", "GB", "US", "CH", "RE", "XX", "GER")
    ]
    found += [Request(VISION, {"country": "GB", "subdivision": "GB-SCT"}, day)]
    found += [Request(LICENCE, {"domicile": d}, day) for d in ("DE", "US", "XX")]
    found += [Request("no-such-feature", {"country": "FR"}, day)]
    return found * repeat


@pytest.fixture(scope="module")
def shipped():
    return Gate.from_path(POLICIES)


@pytest.fixture
def changed(tmp_path):
    """The shipped policies with the Swiss rule added: another revision."""
    folder = tmp_path / "changed"
    shutil.copytree(POLICIES, folder)
    path = folder / "meta-llama.yaml"
    text = path.read_text(encoding="utf-8")
    anchor = "      - id: uk-multimodal-offered\n"
    path.write_text(text.replace(anchor, SWITZERLAND + anchor, 1), encoding="utf-8")
    return folder


def _lines(gate, requests):
    return [line for line, _ in log_lines(gate, requests)]


def _tamper(line, **fields):
    record = json.loads(line)
    record.update(fields)
    return json.dumps(record, separators=(",", ":"))


def test_a_faithful_log_is_clean_and_identical_inputs_are_decided_once(shipped, tmp_path):
    """Every line is what its revision decides; 1,200 lines are 12 inputs."""
    log = write_jsonl(tmp_path / "d.jsonl", _lines(shipped, calls(repeat=100)))

    result = verify(find_logs([str(log)]), [shipped.policy])

    assert (True, 1_200, 1_200, 12) == (
        result.clean,
        result.lines,
        result.decisions,
        result.inputs,
    )
    assert {shipped.revision: 1_200} == result.revisions


def test_a_tampered_line_is_a_disagreement_at_its_line(shipped, tmp_path):
    """A deny turned into an allow (consistently, so the line reads well) is found at its line."""
    lines = _lines(shipped, calls())
    lines[0] = _tamper(lines[0], allowed=True, effect="allow", rule=None, reason="DEFAULT")
    lines[2] = _tamper(lines[2], rule="uk-multimodal-offered", reason="TARGETING_MATCH")
    log = write_jsonl(tmp_path / "d.jsonl", lines)

    result = verify(find_logs([str(log)]), [shipped.policy])

    assert not result.clean
    assert [
        (
            "disagreement",
            (
                f"{VISION} for FR on 2026-05-09: the log says allowed (DEFAULT), revision "
                f"{shipped.revision[:19]}… decides denied by rule 'eu-multimodal-withheld'"
            ),
            (f"{log}:1",),
        ),
        (
            "disagreement",
            (
                f"{VISION} for US on 2026-05-09: the log says allowed by rule "
                f"'uk-multimodal-offered', revision {shipped.revision[:19]}… decides allowed "
                "(DEFAULT) (the same effect, for another reason)"
            ),
            (f"{log}:3",),
        ),
    ] == sorted((f.kind, f.message, f.where) for f in result.findings)


def test_a_tampered_copy_of_a_line_is_found_at_the_copy_not_the_original(shipped, tmp_path):
    """
    A line copied with its decision id and the copy turned into an allow: the
    finding names the copy's line, not the faithful original's (same id).
    """
    lines = _lines(shipped, calls(repeat=3))
    copy = _tamper(lines[0], allowed=True, effect="allow", rule=None, reason="DEFAULT")
    lines.insert(len(lines) - 2, copy)
    log = write_jsonl(tmp_path / "d.jsonl", lines)

    (finding,) = verify(find_logs([str(log)]), [shipped.policy]).findings

    assert ("disagreement", 1, (f"{log}:{len(lines) - 2}",)) == (
        finding.kind,
        finding.lines,
        finding.where,
    )


def test_a_log_out_of_time_order_is_located_alike(shipped, tmp_path):
    """A file whose lines are not in time order (merged logs) costs a longer search, not a line."""
    lines = _lines(shipped, calls(day=DAY) + calls(day=DAY + dt.timedelta(days=40)))
    lines.reverse()
    france = [i for i, line in enumerate(lines) if '"country":"FR"' in line]
    lines[france[-1]] = _tamper(lines[france[-1]], jurisdictions=["WORLD"])
    log = write_jsonl(tmp_path / "d.jsonl", lines)

    (finding,) = verify(find_logs([str(log)]), [shipped.policy]).findings

    assert ("jurisdictions", (f"{log}:{france[-1] + 1}",)) == (finding.kind, finding.where)


def test_jurisdictions_that_do_not_fit_the_place_and_date(shipped, tmp_path):
    """A line that puts France outside the EU is found, even with the right answer."""
    lines = _lines(shipped, calls())
    lines[0] = _tamper(lines[0], jurisdictions=["WORLD"])
    log = write_jsonl(tmp_path / "d.jsonl", lines)

    (finding,) = verify(find_logs([str(log)]), [shipped.policy]).findings

    assert ("jurisdictions", (f"{log}:1",)) == (finding.kind, finding.where)
    assert "the log says the place was in WORLD, but on that date it was in EEA, EU" in (
        finding.message
    )


def test_a_revision_neither_given_nor_expected(shipped, changed, tmp_path):
    """Decisions under another revision are findings until it is given, or expected."""
    other = Gate.from_path(changed)
    log = write_jsonl(
        tmp_path / "d.jsonl",
        _lines(shipped, calls()) + _lines(other, calls(dt.date(2026, 6, 2))),
    )
    paths = find_logs([str(log)])

    alone = verify(paths, [shipped.policy])
    both = verify(paths, [shipped.policy, other.policy])
    expected = verify(paths, [shipped.policy], expected=[other.revision])

    (finding,) = alone.findings
    assert ("unreviewed-revision", 12) == (finding.kind, finding.lines)
    assert other.revision in finding.message
    assert finding.where[0] == f"{log}:13"
    assert both.clean
    assert (True, (other.revision,)) == (expected.clean, expected.expected)


def test_a_log_spanning_a_policy_change_is_decided_by_each_revision(shipped, changed, tmp_path):
    """
    On the same day, Switzerland got the model under the old revision and not under the new.

    Each line is checked against its own revision: re-deciding the old lines
    with the new policies would flag them, and a line of the old revision
    relabelled with the new one is found.
    """
    other = Gate.from_path(changed)
    late = dt.date(2026, 6, 2)
    log = write_jsonl(
        tmp_path / "d.jsonl",
        _lines(shipped, calls(late)) + _lines(other, calls(late)),
    )
    paths = find_logs([str(log)])

    assert verify(paths, [shipped.policy, other.policy]).clean
    wrong = _tamper(_lines(shipped, calls(late))[3], revision=other.revision)
    log.write_text(log.read_text(encoding="utf-8") + wrong + "\n", encoding="utf-8")
    (finding,) = verify(find_logs([str(log)]), [shipped.policy, other.policy]).findings
    assert "CH on 2026-06-02: the log says allowed (DEFAULT)" in finding.message
    assert "decides denied by rule 'ch-withheld'" in finding.message
    assert (f"{log}:25",) == finding.where


def test_damaged_lines_are_findings(shipped, tmp_path):
    """A torn line cannot be verified: a finding with its place, and exit 1 from the CLI."""
    lines = _lines(shipped, calls())
    log = write_jsonl(tmp_path / "d.jsonl", lines, torn=lines[0][:40])

    (finding,) = verify(find_logs([str(log)]), [shipped.policy]).findings

    assert ("damaged", 1) == (finding.kind, finding.lines)
    assert finding.where[0].startswith(f"{log}:13:")


def test_gzipped_and_parquet_logs_verify_alike(shipped, tmp_path):
    """The same tampered line is found in a gzipped log and in Parquet."""
    lines = _lines(shipped, calls())
    lines[1] = _tamper(lines[1], allowed=False, effect="deny")
    plain = write_jsonl(tmp_path / "d.jsonl", lines)
    gz = write_jsonl(tmp_path / "d.jsonl.gz", lines)
    parquet = write_parquet(plain, tmp_path / "d.parquet")

    found = {
        path.name: [
            (f.kind, f.lines) for f in verify(find_logs([str(path)]), [shipped.policy]).findings
        ]
        for path in (plain, gz, parquet)
    }

    assert {name: [("disagreement", 1)] for name in found} == found


def _git(repo, *args):
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
        "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    }
    config = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run(  # noqa: S603 (a fixed command line, no shell)
        ["git", *config, "-c", "init.defaultBranch=main", *args],  # noqa: S607
        cwd=repo,
        env=env,
        capture_output=True,
        check=True,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_revisions_from_git(cli, shipped, changed, tmp_path, monkeypatch):
    """--policies git:REV re-decides with a committed revision; exit 0 clean, 1 with findings."""
    repo = tmp_path / "repo"
    shutil.copytree(POLICIES, repo / "policies")
    _git(repo, "init", "--quiet")
    _git(repo, "add", ".")
    _git(repo, "commit", "--quiet", "-m", "shipped")
    shutil.rmtree(repo / "policies")
    shutil.copytree(changed, repo / "policies")
    _git(repo, "commit", "--quiet", "-am", "Switzerland")
    other = load_policies(repo / "policies")
    late = dt.date(2026, 6, 2)
    log = write_jsonl(
        tmp_path / "d.jsonl",
        _lines(shipped, calls(late)) + _lines(Gate(other), calls(late)),
    )
    monkeypatch.chdir(repo)

    clean = cli("logs", "verify", str(log), "--policies", "git:HEAD~1", "--policies", "git:HEAD")
    missing = cli("logs", "verify", str(log), "--policies", "git:HEAD")

    assert ExitCode.OK == clean.exit_code, clean.output
    assert "Clean: every decision is what its revision decides." in clean.stdout
    history = cli("logs", "verify", str(log), "--history", "policies")
    assert ExitCode.OK == history.exit_code, history.output
    assert "re-decided under 2 revision(s)" in history.stdout
    assert ExitCode.FINDINGS == missing.exit_code
    assert (
        f"UNREVIEWED-REVISION (12 line(s)): decisions made under revision {shipped.revision}"
        in (missing.stdout)
    )


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["LOG"], ExitCode.USAGE, "give the policies the logs name"),
        (["LOG", "--history", "policies"], ExitCode.ENVIRONMENT, "not inside a git repository"),
        (["LOG", "--policies", "nowhere"], ExitCode.ENVIRONMENT, "do not load"),
        (["missing.jsonl", "--policies", "POLICIES"], ExitCode.ENVIRONMENT, "no such file"),
        (
            ["LOG", "--policies", "POLICIES", "--expect-revision", "sha256:12"],
            ExitCode.USAGE,
            "--expect-revision",
        ),
    ],
)
def test_cli_mistakes(cli, shipped, tmp_path, monkeypatch, arguments, code, message):
    """Usage errors exit 2; logs or policies that cannot be read exit 3; no traceback."""
    log = write_jsonl(tmp_path / "d.jsonl", _lines(shipped, calls()))
    monkeypatch.chdir(tmp_path)
    replace = {"LOG": str(log), "POLICIES": str(POLICIES)}

    result = cli("logs", "verify", *(replace.get(a, a) for a in arguments))

    assert (code, True) == (result.exit_code, message in result.output), result.output
    assert "Traceback" not in result.output


def test_cli_json_report(cli, shipped, tmp_path):
    """--format json: the findings with their lines; exit 1."""
    lines = _lines(shipped, calls())
    lines[0] = _tamper(lines[0], allowed=True, effect="allow")
    log = write_jsonl(tmp_path / "d.jsonl", lines)

    result = cli("logs", "verify", str(log), "--policies", str(POLICIES), "--format", "json")

    document = json.loads(result.stdout)
    assert ExitCode.FINDINGS == result.exit_code
    assert ("geogate.logs.verify/1", False, 12) == (
        document["schema"],
        document["clean"],
        document["inputs"],
    )
    assert [[f"{log}:1"]] == [f["where"] for f in document["findings"]]


@pytest.mark.parametrize(
    "content", ["", "\n\n", '{"v":1,"decision_id":"torn', "not json\n"], ids=repr
)
def test_a_log_without_one_whole_decision_is_a_finding(shipped, tmp_path, content):
    """An empty log (the service stopped writing it) or one wholly damaged is no evidence."""
    log = tmp_path / "d.jsonl"
    log.write_text(content, encoding="utf-8")

    result = verify(find_logs([str(log)]), [shipped.policy])

    assert not result.clean
    assert 0 == result.decisions
    assert "empty" in [f.kind for f in result.findings]
