"""
The OFREP server asked by OpenFeature's JavaScript OFREP provider, run by Node.js.

``ofrep_js/client.mjs`` evaluates flags through ``@openfeature/server-sdk``
with ``@openfeature/ofrep-provider`` (versions pinned in ``ofrep_js/package.json``,
installed by npm into ``ofrep_js/node_modules/``, which git ignores) against
a real uvicorn server on loopback; every answer must be what ``gate.evaluate``
says, and every response the server sends must fit the protocol's schemas.
Without ``node`` and ``npm`` the test skips, except under CI (``CI`` set),
where it fails: ``.ci/run`` installs them (`helpers.node`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from geogate.ofrep import _REASONS
from helpers import node as nodejs

pytestmark = pytest.mark.slow  # npm, Node.js and a uvicorn server on loopback

CLIENT = Path(__file__).resolve().parent / "ofrep_js"
#: Who needs Node.js, in the reason for a skip.
NEEDED_BY = "the test of the JavaScript OFREP provider"
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


@pytest.fixture(scope="module")
def node():
    """Node.js, with the pinned packages in ofrep_js/ (installed anew when package.json changes)."""
    node, npm = nodejs.tools(NEEDED_BY)
    nodejs.install(npm, CLIENT)
    return node


def ask(node: str, base_url: str, cases: list[dict[str, object]]) -> list[dict[str, object]]:
    """Evaluate *cases* through the JavaScript SDK and provider; return their details."""
    request = json.dumps({"baseUrl": base_url, "cases": cases})
    answers = json.loads(
        nodejs.run(node, CLIENT, ["client.mjs"], stdin=request, timeout=RUN_SECONDS)
    )
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
        nodejs.tools(NEEDED_BY)
