"""
pre-commit: this repository's hooks, the hooks it offers users, and the pages that explain them.

The files are read as pre-commit reads them (``pre_commit/clientlib.py``: the manifest's and the
config's keys, which are required, their types), without pre-commit or a network: the hooks'
commands run through click's runner from the repository root, where pre-commit runs them.
"""

from __future__ import annotations

import re
import shlex
import shutil
import tomllib
from typing import TYPE_CHECKING

import click
import pytest
import yaml
from click.testing import CliRunner

from geogate.cli import ExitCode, main
from helpers.paths import BAD, ROOT

if TYPE_CHECKING:
    from pathlib import Path

MANIFEST = ROOT / ".pre-commit-hooks.yaml"
CONFIG = ROOT / ".pre-commit-config.yaml"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SCRIPTS = PYPROJECT["project"]["scripts"]
DEV = PYPROJECT["project"]["optional-dependencies"]["dev"]
USER_DOC = ROOT / "docs" / "pre-commit.md"
PAGES = [ROOT / "CONTRIBUTING.md", USER_DOC]

# pre-commit 4's manifest schema: every key a hook may have, and the value each holds.
REQUIRED = ("id", "name", "entry", "language")
STRINGS = {
    "id",
    "name",
    "entry",
    "language",
    "alias",
    "files",
    "exclude",
    "description",
    "language_version",
    "log_file",
    "minimum_pre_commit_version",
}
LISTS = {"types", "types_or", "exclude_types", "additional_dependencies", "args", "stages"}
BOOLEANS = {"always_run", "fail_fast", "pass_filenames", "require_serial", "verbose"}
LANGUAGES = {
    "conda",
    "coursier",
    "dart",
    "docker",
    "docker_image",
    "dotnet",
    "fail",
    "golang",
    "haskell",
    "julia",
    "lua",
    "node",
    "perl",
    "pygrep",
    "python",
    "r",
    "ruby",
    "rust",
    "swift",
    "unsupported",
    "unsupported_script",
    "system",  # what pre-commit before 4.4 calls unsupported, still accepted
    "script",  # likewise, unsupported_script
}
# identify's tags that these files may use; a tag pre-commit does not know fails its validation.
TYPE_TAGS = {"file", "text", "yaml", "json", "python", "pyi", "toml"}
CONFIG_KEYS = {
    "repos",
    "default_install_hook_types",
    "default_language_version",
    "default_stages",
    "files",
    "exclude",
    "fail_fast",
    "minimum_pre_commit_version",
    "ci",
}


def _load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _hook_problems(hook, *, required=REQUIRED) -> list[str]:
    """Return what pre-commit would refuse (or silently ignore) in one hook mapping."""
    if not isinstance(hook, dict):
        return [f"a hook must be a mapping, not {hook!r}"]
    where = f"hook {hook.get('id')!r}"
    problems = [f"{where}: missing required key {key!r}" for key in required if key not in hook]
    for key, value in hook.items():
        if key in STRINGS:
            ok = isinstance(value, str)
        elif key in LISTS:
            ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
        elif key in BOOLEANS:
            ok = isinstance(value, bool)
        else:
            problems.append(f"{where}: unknown key {key!r}")
            continue
        if not ok:
            problems.append(f"{where}: {key!r} has the wrong type: {value!r}")
    if hook.get("language", "python") not in LANGUAGES:
        problems.append(f"{where}: unknown language {hook['language']!r}")
    for key in ("files", "exclude"):
        if isinstance(hook.get(key), str):
            try:
                re.compile(hook[key])
            except re.error as error:
                problems.append(f"{where}: {key!r} is not a regular expression: {error}")
    for key in ("types", "types_or", "exclude_types"):
        problems.extend(
            f"{where}: unknown type tag {tag!r} in {key!r}"
            for tag in hook.get(key, [])
            if tag not in TYPE_TAGS
        )
    return problems


def _config_problems(config) -> list[str]:
    """Return what pre-commit would refuse in a ``.pre-commit-config.yaml`` document."""
    if not isinstance(config, dict) or not isinstance(config.get("repos"), list):
        return ["the config must be a mapping with a list under 'repos'"]
    problems = [f"unknown top-level key {key!r}" for key in config if key not in CONFIG_KEYS]
    for repo in config["repos"]:
        name = repo.get("repo")
        if not isinstance(name, str):
            problems.append(f"a repo without a 'repo' string: {repo!r}")
            continue
        problems.extend(
            f"repo {name!r}: unknown key {key!r}"
            for key in repo
            if key not in {"repo", "rev", "hooks"}
        )
        local = name in {"local", "meta"}
        if local == ("rev" in repo):
            problems.append(
                f"repo {name!r}: 'rev' is required for a remote repo, refused for a local one"
            )
        if not isinstance(repo.get("hooks"), list):
            problems.append(f"repo {name!r}: 'hooks' must be a list")
            continue
        required = REQUIRED if name == "local" else ("id",)
        for hook in repo["hooks"]:
            problems.extend(_hook_problems(hook, required=required))
    return problems


def _hooks(config, repo: str) -> list[dict]:
    return [hook for entry in config["repos"] if entry["repo"] == repo for hook in entry["hooks"]]


def _remote_hooks(config) -> list[dict]:
    return [
        hook
        for entry in config["repos"]
        if entry["repo"] not in {"local", "meta"}
        for hook in entry["hooks"]
    ]


def _run_hook(hook, *, args=None):
    """Run a geogate hook as pre-commit does: its entry, split as a shell would, then its args."""
    command = shlex.split(hook["entry"])
    assert "geogate" == command[0]
    argv = [*command[1:], *(hook.get("args", []) if args is None else args)]
    return CliRunner().invoke(main, argv, catch_exceptions=False)


def _documented_configs() -> list:
    text = USER_DOC.read_text(encoding="utf-8")
    return [
        yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    ]


@pytest.fixture
def in_root(monkeypatch):
    """The working directory pre-commit gives a hook: the root of the repository it checks."""
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("GEOGATE_POLICIES", raising=False)


def test_the_manifest_is_what_pre_commit_accepts():
    """Every hook users can name has the required keys, known keys only, of the right types."""
    manifest = _load(MANIFEST)

    assert isinstance(manifest, list)
    assert [] == [problem for hook in manifest for problem in _hook_problems(hook)]
    ids = [hook["id"] for hook in manifest]
    assert len(ids) == len(set(ids))
    assert {"geogate-check", "geogate-test"} == set(ids)


def test_the_config_is_what_pre_commit_accepts():
    """This repository's config: local hooks complete, remote ones pinned, ids unique."""
    config = _load(CONFIG)

    assert [] == _config_problems(config)
    ids = [hook["id"] for entry in config["repos"] for hook in entry["hooks"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("hook_id", ["geogate-check", "geogate-test"])
def test_a_user_hook_runs_the_geogate_script_on_the_whole_set(hook_id):
    """
    The entry is the console script pyproject declares, pre-commit installs it itself, and the
    hook gets no file names: a policy set is checked as a whole, never file by file.
    """
    hook = next(hook for hook in _load(MANIFEST) if hook["id"] == hook_id)
    script, command = shlex.split(hook["entry"])

    assert "geogate.cli:main" == SCRIPTS[script]
    assert command in main.list_commands(click.Context(main))
    assert "python" == hook["language"]
    assert hook["pass_filenames"] is False


@pytest.mark.parametrize(
    ("name", "runs"),
    [
        ("policies/eu.yaml", True),
        ("config/geogate/eu.yml", True),
        ("eu.YAML", True),
        ("a.Json", True),
        ("policies/geogate.lock", True),
        ("policies/tests/eu.yaml", True),
        ("README.md", False),
        ("src/app.py", False),
        ("notgeogate.lock", False),
    ],
)
def test_a_user_hook_runs_when_a_policy_file_changes(name, runs):
    """pre-commit searches ``files`` in each path: policy suffixes in any case and the lock file."""
    for hook in _load(MANIFEST):
        assert runs == bool(re.search(hook["files"], name))


def test_the_ruff_hooks_pin_the_ruff_the_dev_extra_pins():
    """The hook and `ruff format --check` in CI are one ruff, or they disagree on formatting."""
    (ruff,) = [
        hook_repo
        for hook_repo in _load(CONFIG)["repos"]
        if hook_repo["repo"].endswith("/ruff-pre-commit")
    ]
    (pinned,) = [line.split("==")[1] for line in DEV if line.startswith("ruff==")]

    assert f"v{pinned}" == ruff["rev"]
    assert ["ruff-check", "ruff-format"] == [hook["id"] for hook in ruff["hooks"]]
    assert ["--fix"] == ruff["hooks"][0]["args"]


def test_the_local_hooks_run_tools_the_project_installs():
    """Each local hook's command is a script of this package or a tool of the `dev` extra."""
    dev_tools = {re.split(r"[=<>\[ ;]", line, maxsplit=1)[0] for line in DEV}

    for hook in _hooks(_load(CONFIG), "local"):
        program = shlex.split(hook["entry"])[0]
        assert program in SCRIPTS or program in dev_tools, hook["id"]
        assert "system" == hook["language"]
        assert hook["pass_filenames"] is False
        for argument in hook["args"]:
            if not argument.startswith("-"):
                assert (ROOT / argument).exists(), (hook["id"], argument)


def test_the_local_mypy_hook_is_what_ci_runs():
    """`mypy --strict src`, when a module of the package or the mypy configuration changes."""
    (mypy,) = [hook for hook in _hooks(_load(CONFIG), "local") if hook["id"] == "mypy"]

    assert ["mypy", "--strict", "src"] == [*shlex.split(mypy["entry"]), *mypy["args"]]
    assert re.search(mypy["files"], "src/geogate/_gate/gate.py")
    assert re.search(mypy["files"], "pyproject.toml")
    assert not re.search(mypy["files"], "tests/gate/test_evaluate.py")


@pytest.mark.usefixtures("in_root")
def test_the_local_geogate_check_hook_passes_on_the_shipped_policies():
    """The hook this repository runs when `policies/` changes: `geogate check policies`, clean."""
    (hook,) = [hook for hook in _hooks(_load(CONFIG), "local") if hook["id"] == "geogate-check"]
    result = _run_hook(hook)

    assert re.search(hook["files"], "policies/meta-llama.yaml")
    assert ExitCode.OK == result.exit_code, result.output
    assert "0 error(s), 0 warning(s)" in result.output


@pytest.mark.usefixtures("in_root")
@pytest.mark.parametrize("hook_id", ["geogate-check", "geogate-test"])
def test_a_user_hook_passes_on_the_shipped_policies(hook_id):
    """Run from a repository root with a `policies/` folder, each user hook passes as shipped."""
    hook = next(hook for hook in _load(MANIFEST) if hook["id"] == hook_id)
    result = _run_hook(hook)

    assert ExitCode.OK == result.exit_code, result.output


def test_the_check_hook_stops_a_commit_that_adds_a_bad_policy(tmp_path, monkeypatch):
    """A user commits an ambiguous policy: the hook exits 1 with the diagnostic, path first."""
    policies = tmp_path / "policies"
    policies.mkdir()
    shutil.copy(BAD / "ambiguous-rules.yaml", policies / "chat.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GEOGATE_POLICIES", raising=False)
    hook = next(hook for hook in _load(MANIFEST) if hook["id"] == "geogate-check")

    result = _run_hook(hook)

    assert ExitCode.FINDINGS == result.exit_code
    assert (
        "policies/chat.yaml:9:9: error: rules 'eea-withheld' and 'efta-offered' of 'chat' "
        "disagree for IS (Iceland) from 2025-01-01, and neither is more specific than the other "
        "[ambiguous-rules]"
    ) == result.output.splitlines()[0]


def test_the_documented_snippets_are_valid_configs():
    """Each YAML block of docs/pre-commit.md is a config pre-commit accepts."""
    configs = _documented_configs()

    assert 2 == len(configs)
    assert [] == [problem for config in configs for problem in _config_problems(config)]


def test_the_documented_remote_form_names_the_shipped_hooks():
    """The snippet for a published geogate uses hook ids the manifest declares."""
    declared = {hook["id"] for hook in _load(MANIFEST)}
    (remote,) = [config for config in _documented_configs() if _remote_hooks(config)]

    assert {hook["id"] for hook in _remote_hooks(remote)} <= declared


def test_the_documented_local_form_runs_what_the_manifest_runs():
    """The `repo: local` snippet has the manifest's entries, as whole-set hooks."""
    entries = {hook["id"]: hook["entry"] for hook in _load(MANIFEST)}
    (local,) = [config for config in _documented_configs() if not _remote_hooks(config)]

    for hook in _hooks(local, "local"):
        assert entries[hook["id"]] == hook["entry"]
        assert hook["pass_filenames"] is False


@pytest.mark.usefixtures("in_root")
def test_the_documented_hooks_pass_on_the_shipped_policies():
    """Every geogate hook in the snippets, with the args the page shows, passes on `policies/`."""
    manifest = {hook["id"]: hook for hook in _load(MANIFEST)}
    hooks = [
        hook
        for config in _documented_configs()
        for entry in config["repos"]
        for hook in entry["hooks"]
    ]

    assert hooks
    for hook in hooks:
        result = _run_hook({**manifest[hook["id"]], **hook})
        assert ExitCode.OK == result.exit_code, (hook, result.output)
        assert re.search(hook["files"], "policies/meta-llama.yaml")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_points_at_a_file(page):
    """A link a reader follows from the contributor guide or the hook page reaches a file."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    targets = re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", text)
    relative = [target for target in targets if not re.match(r"[a-z]+:|#", target)]

    assert relative
    assert [] == [
        target for target in relative if not (page.parent / target.split("#")[0]).exists()
    ]
