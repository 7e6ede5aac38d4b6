"""
The OFREP server asked by OpenFeature's JavaScript OFREP provider, run by Node.js.

``ofrep_js/client.mjs`` evaluates flags through ``@openfeature/server-sdk``
with ``@openfeature/ofrep-provider`` (versions pinned in ``ofrep_js/package.json``,
installed by npm into ``ofrep_js/node_modules/``, which git ignores) against
a real uvicorn server on loopback; every answer must be what ``gate.evaluate``
says, and every response the server sends must fit the protocol's schemas.
Without ``node`` and ``npm`` the test skips, except under CI (``CI`` set),
where it fails: ``.ci/run`` installs them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from geogate.ofrep import _REASONS

pytestmark = pytest.mark.slow  # npm, Node.js and a uvicorn server on loopback

CLIENT = Path(__file__).resolve().parent / "ofrep_js"
#: Written after a successful install: the digest of the package.json it installed.
MARKER = CLIENT / "node_modules" / ".geogate-installed"
INSTALL_SECONDS = 300
RUN_SECONDS = 120
PLACES = [
    {"country": "FR"},
    {"country": "GB"},
    {"country": "US"},
    {"country": "RE"},
    {"subdivision": "GB-NIR"},
    {"country": "US", "domicile": "DE"},
    {"ip": "81.2.69.160"},
    {"ip": "89.160.20.112"},
    {"country": "XX"},
    {"country": "GER"},
    {"country": 42},
    {"country": ["FR"]},
    {"country": {"code": "FR"}},
    {"country": False},
    {"country": "FR", "domicile": True},
    {"ip": "not an address"},
]


def tools() -> tuple[str, str]:
    """Return the paths of node and npm; skip without them, or fail under CI."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is not None and npm is not None:
        return node, npm
    missing = " and ".join(name for name, path in (("node", node), ("npm", npm)) if path is None)
    reason = (
        f"{missing} not found on PATH: the test of the JavaScript OFREP provider needs "
        "Node.js and npm (Debian: apt-get install nodejs npm)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; under CI it must run, and .ci/run installs them")
    pytest.skip(reason)
    raise AssertionError  # pragma: no cover (skip raises)


@pytest.fixture(scope="module")
def node():
    """Node.js, with the pinned packages in ofrep_js/ (installed anew when package.json changes)."""
    node, npm = tools()
    wanted = hashlib.sha256((CLIENT / "package.json").read_bytes()).hexdigest()
    if not MARKER.exists() or MARKER.read_text(encoding="utf-8") != wanted:
        installed = subprocess.run(  # noqa: S603 (npm from PATH, fixed arguments)
            [npm, "install", "--no-audit", "--no-fund", "--no-package-lock"],
            cwd=CLIENT,
            capture_output=True,
            text=True,
            timeout=INSTALL_SECONDS,
            check=False,
        )
        assert 0 == installed.returncode, f"npm install failed:\n{installed.stderr}"
        MARKER.write_text(wanted, encoding="utf-8")
    return node


def ask(node: str, base_url: str, cases: list[dict[str, object]]) -> list[dict[str, object]]:
    """Evaluate *cases* through the JavaScript SDK and provider; return their details."""
    request = json.dumps({"baseUrl": base_url, "cases": cases})
    run = subprocess.run(  # noqa: S603 (node from PATH, the script beside this file)
        [node, "client.mjs"],
        cwd=CLIENT,
        input=request,
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
        check=False,
    )
    assert 0 == run.returncode, f"node client.mjs failed:\n{run.stderr}"
    answers = json.loads(run.stdout)
    assert len(cases) == len(answers)
    return answers


def test_javascript_provider_gets_the_gates_answers(node, ofrep_server, gate):
    """
    Every feature at each place, through the JavaScript SDK with a permissive default: the
    gate's value, variant, reasons, error code, rule and explanation; never the default.
    """
    cases = [
        {"flag": feature, "context": place, "default": True}
        for place in PLACES
        for feature in gate.features
    ]

    answers = ask(node, ofrep_server.url, cases)

    for case, answer in zip(cases, answers, strict=True):
        decision = gate.evaluate(case["flag"], **case["context"])
        error = str(decision.error_code or "GENERAL") if decision.reason == "ERROR" else None
        metadata = answer["flagMetadata"]
        assert (
            decision.allowed,
            "allow" if decision.allowed else "deny",
            _REASONS[decision.reason],
            None,
            str(decision.reason),
            error,
            decision.rule,
            decision.explanation,
            decision.revision,
        ) == (
            answer["value"],
            answer["variant"],
            answer["reason"],
            answer["errorCode"],
            metadata["reason"],
            metadata.get("errorCode"),
            metadata.get("rule"),
            metadata["explanation"],
            metadata["revision"],
        ), case
    assert [] == ofrep_server.problems


def test_javascript_provider_reports_an_unknown_flag(node, ofrep_server):
    """An unknown flag: FLAG_NOT_FOUND with the server's message, and the caller's default."""
    cases = [{"flag": "no-such-model", "context": {"country": "FR"}, "default": False}]

    [answer] = ask(node, ofrep_server.url, cases)

    assert (False, "ERROR", "FLAG_NOT_FOUND") == (
        answer["value"],
        answer["reason"],
        answer["errorCode"],
    )
    assert answer["errorMessage"].startswith("no flag 'no-such-model' in policy sha256:")
    assert [] == ofrep_server.problems


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), (None, pytest.skip.Exception)]
)
def test_without_node_it_fails_under_ci_and_skips_elsewhere(monkeypatch, ci, outcome):
    """Without Node.js: a failure under CI (which must run the test), else a skip that says why."""
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)

    expected = r"^node and npm not found on PATH: .*\(Debian: apt-get install nodejs npm\)"
    with pytest.raises(outcome, match=expected):
        tools()
