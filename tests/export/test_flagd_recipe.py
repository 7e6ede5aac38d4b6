"""
The deployment recipe of docs/flagd.md, run on this machine as far as it goes.

A repository holds the shipped policies on ``main``. Each pull request runs the
recipe's CI steps in order, as a shell with ``set -e`` would: ``geogate check``,
``geogate test``, ``geogate diff git:main policies --fail-on-new-access``, then
``geogate export --format flagd``. The exported file is published the way a
Kubernetes ConfigMap volume updates a mounted file (a new timestamped folder,
then the ``..data`` link swapped in one rename), and flagd's own in-process
resolver, polling the mounted path, serves it. What cannot run here is the flagd
daemon and a cluster: the file flagd reads and the way it changes are the same.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import subprocess
import time

import pytest
from openfeature import api
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.evaluation_context import EvaluationContext

from geogate import Gate
from geogate.cli import ExitCode
from helpers.paths import POLICIES

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

FEATURE = "llama-3.2-vision"
#: A pull request that only takes access away: the feature is withheld in Russia too.
RESTRICT = """      - id: ru-withheld
        deny: [RU]
        from: 2026-01-01
        reason: Not offered in Russia.
"""
_versions = itertools.count()


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
        ["git", *config, "-c", "init.defaultBranch=main", *args],  # noqa: S607 (git from PATH)
        cwd=repo,
        env=env,
        capture_output=True,
        check=True,
    )


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A policy repository: the shipped policies and their tests on main."""
    root = tmp_path / "repo"
    shutil.copytree(POLICIES, root / "policies")
    _git(root, "init", "--quiet")
    _git(root, "add", ".")
    _git(root, "commit", "--quiet", "-m", "the shipped policies")
    monkeypatch.chdir(root)
    return root


def pipeline(cli, output):
    """The recipe's CI steps, stopping at the first that fails; return (step, result) pairs."""
    steps = [
        ("check", "--policies", "policies"),
        ("test", "--policies", "policies"),
        ("diff", "git:main", "policies", "--fail-on-new-access"),
        ("export", "--format", "flagd", "--policies", "policies", "--output", str(output)),
    ]
    ran = []
    for step in steps:
        result = cli(*step)
        ran.append((step[0], result))
        if result.exit_code != ExitCode.OK:
            break
    return ran


def publish(exported, mount):
    """Update *mount*/geogate.flagd.json as kubelet updates a ConfigMap volume."""
    version = mount / f"..2026_12_07_{next(_versions):06d}"
    version.mkdir()
    shutil.copyfile(exported, version / "geogate.flagd.json")
    link = mount / "..data_tmp"
    link.symlink_to(version.name)
    link.replace(mount / "..data")
    served = mount / "geogate.flagd.json"
    if not served.is_symlink():
        served.symlink_to("..data/geogate.flagd.json")
    return served


def ask(client, attributes):
    context = EvaluationContext(attributes=attributes)
    details = client.get_boolean_details(FEATURE, default_value=False, evaluation_context=context)
    return details.value, details.variant, details.flag_metadata.get("revision")


def wait_for(client, attributes, expected, seconds=10.0):
    """Poll *client* until it answers *expected* (flagd re-reads the file on its own)."""
    deadline = time.monotonic() + seconds
    while (found := ask(client, attributes)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_the_recipe_serves_reviewed_policies_and_stops_new_access(repo, cli, tmp_path):
    """A restricting change reaches flagd; a change that gives access stops at the diff."""
    mount = tmp_path / "configmap"
    mount.mkdir()
    exported = repo / "flags" / "geogate.flagd.json"
    exported.parent.mkdir()
    today = dt.datetime.now(dt.UTC).date()

    first = pipeline(cli, exported)
    assert [("check", 0), ("test", 0), ("diff", 0), ("export", 0)] == [
        (name, result.exit_code) for name, result in first
    ], [result.output for _, result in first]
    shipped = Gate.from_path(repo / "policies")
    served = publish(exported, mount)
    provider = FlagdProvider(
        resolver_type=ResolverType.FILE,
        offline_flag_source_path=str(served),
        deadline_ms=50,  # the file is polled this often
    )
    api.set_provider_and_wait(provider, "recipe")
    client = api.get_client("recipe")
    try:
        assert (False, "deny:eu-multimodal-withheld", shipped.revision) == ask(
            client, {"country": "FR"}
        )
        assert (True, "allow:default", shipped.revision) == ask(client, {"country": "RU"})
        assert shipped.evaluate(FEATURE, country="RU", at=today).allowed

        # A pull request that takes access away passes every step and is served.
        policy = repo / "policies" / "meta-llama.yaml"
        text = policy.read_text(encoding="utf-8")
        anchor = "      - id: uk-multimodal-offered\n"
        policy.write_text(text.replace(anchor, RESTRICT + anchor, 1), encoding="utf-8")
        second = pipeline(cli, exported)
        assert ["check", "test", "diff", "export"] == [name for name, _ in second]
        assert all(ExitCode.OK == result.exit_code for _, result in second)
        restricted = Gate.from_path(repo / "policies")
        publish(exported, mount)
        assert (False, "deny:ru-withheld", restricted.revision) == wait_for(
            client, {"country": "RU"}, (False, "deny:ru-withheld", restricted.revision)
        )
        _git(repo, "commit", "--quiet", "-am", "withheld in Russia")

        # A pull request that gives access (the EU rule dropped) stops at the diff:
        # nothing is exported, and flagd keeps serving the reviewed revision.
        text = policy.read_text(encoding="utf-8")
        policy.write_text(text.replace("deny: [EU]", "deny: [XK]", 1), encoding="utf-8")
        before = exported.read_bytes()
        third = pipeline(cli, exported)
        assert [("check", 0), ("test", 1)] == [(name, result.exit_code) for name, result in third]
        assert before == exported.read_bytes()
        time.sleep(0.2)
        assert (False, "deny:eu-multimodal-withheld", restricted.revision) == ask(
            client, {"country": "FR"}
        )
    finally:
        api.shutdown()


def test_a_change_only_the_diff_catches_stops_before_the_export(repo, cli):
    """A new feature the policy tests do not cover: check and test pass, the diff exits 1."""
    (repo / "policies" / "llama-4.yaml").write_text(
        "features:\n  llama-4-vision:\n    default: allow\n    unknown: deny\n"
        "    rules:\n      - id: eu-withheld\n        deny: [EU]\n"
        "        reason: Withheld in the EU.\n        source: https://example.com/\n",
        encoding="utf-8",
    )
    output = repo / "geogate.flagd.json"

    ran = pipeline(cli, output)

    assert [("check", 0), ("test", 0), ("diff", 1)] == [
        (name, result.exit_code) for name, result in ran
    ], [result.output for _, result in ran]
    assert "llama-4-vision" in ran[-1][1].output
    assert not output.exists()
