"""
The OFREP specification the server is checked against, its defects, and geogate's reasons in it.

Every OFREP response in the tests goes through `helpers.ofrep_spec.check_response`
(`SpecClient` for Starlette's test client, `SpecCheckingApp` for real servers);
these tests pin the file it reads and show that the checks catch what they should.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from geogate._engine.decision import Reason
from geogate.ofrep import _REASONS
from helpers.ofrep_spec import (
    CORRECTED,
    PUBLISHED,
    SPEC_PATH,
    SpecCheckingApp,
    check_response,
    validator,
)

SHA256 = "e5f560c5194ce5f0c077685a734ecbf5d4baa3311cf862c69b636938e1fdd056"
SINGLE = "/ofrep/v1/evaluate/flags/llama-3.2-vision"
BULK = "/ofrep/v1/evaluate/flags"
JSON = {"content-type": "application/json"}
#: A success body as geogate writes it (metadata shortened).
ANSWER = {
    "key": "llama-3.2-vision",
    "value": False,
    "reason": "TARGETING_MATCH",
    "variant": "deny",
    "metadata": {"reason": "TARGETING_MATCH", "rule": "eu-multimodal-withheld"},
}


def body(data: object) -> bytes:
    return json.dumps(data).encode()


def test_the_spec_file_is_the_pinned_copy():
    """The file is the one tests/data/ofrep/README.md names (a new copy updates both)."""
    assert SHA256 == hashlib.sha256(SPEC_PATH.read_bytes()).hexdigest()
    assert SHA256 in (SPEC_PATH.parent / "README.md").read_text(encoding="utf-8")
    assert "Apache License" in (SPEC_PATH.parent / "LICENSE").read_text(encoding="utf-8")
    assert "0.3.0" == PUBLISHED["info"]["version"]


def test_every_geogate_reason_is_one_the_protocol_allows():
    """Each of geogate's reasons maps to a success reason of the spec; none is DEFAULT or ERROR."""
    success = PUBLISHED["components"]["schemas"]["evaluationSuccess"]["allOf"][0]
    allowed = success["properties"]["reason"]["enum"]

    assert ["STATIC", "TARGETING_MATCH", "SPLIT", "DISABLED", "UNKNOWN"] == allowed
    assert set(Reason) == set(_REASONS)
    assert {
        Reason.TARGETING_MATCH: "TARGETING_MATCH",
        Reason.DEFAULT: "UNKNOWN",
        Reason.ERROR: "UNKNOWN",
    } == _REASONS


def test_the_published_one_of_refuses_every_correct_answer():
    """
    The defect, one way: a boolean value matches booleanFlag and codeDefaultFlag (which every
    object matches), so ``oneOf`` fails for a correct answer.
    """
    published = validator(PUBLISHED, "serverEvaluationSuccess")

    assert not published.is_valid(ANSWER)
    assert "is valid under each of" in next(published.iter_errors(ANSWER)).message
    assert validator(CORRECTED, "serverEvaluationSuccess").is_valid(ANSWER)


@pytest.mark.parametrize("value", [[True], None, ["deny"]], ids=["list", "null", "strings"])
def test_the_published_one_of_lets_a_bad_value_pass(value):
    """
    The defect, the other way: a value of no listed type matches codeDefaultFlag alone, so a
    bare validation against the published schema passes it; the corrected one does not.
    """
    bad = {**ANSWER, "value": value}

    assert validator(PUBLISHED, "serverEvaluationSuccess").is_valid(bad)
    assert not validator(CORRECTED, "serverEvaluationSuccess").is_valid(bad)
    with pytest.raises(AssertionError, match="not an OFREP serverEvaluationSuccess"):
        check_response("POST", SINGLE, 200, JSON, body(bad))


def test_the_correction_changes_only_the_two_defects():
    """Everything but codeDefaultFlag and the value branches is the published file."""
    published = json.loads(json.dumps(PUBLISHED, default=str))
    corrected = json.loads(json.dumps(CORRECTED, default=str))
    for spec in (published, corrected):
        schemas = spec["components"]["schemas"]
        del schemas["codeDefaultFlag"]
        del schemas["evaluationSuccess"]["allOf"][1]

    assert published == corrected
    assert {"type": "object", "not": {"required": ["value"]}} == {
        key: value
        for key, value in CORRECTED["components"]["schemas"]["codeDefaultFlag"].items()
        if key != "description"
    }
    assert validator(CORRECTED, "evaluationSuccess").is_valid({"key": "k", "reason": "STATIC"})
    assert validator(CORRECTED, "evaluationSuccess").is_valid(
        {"key": "k", "reason": "STATIC", "value": 3}
    )


@pytest.mark.parametrize(
    ("status", "data", "problem"),
    [
        (200, {**ANSWER, "reason": "DEFAULT"}, "not an OFREP serverEvaluationSuccess"),
        (200, {**ANSWER, "reason": "ERROR"}, "not an OFREP serverEvaluationSuccess"),
        (200, {**ANSWER, "metadata": {"rule": None}}, "not an OFREP serverEvaluationSuccess"),
        (200, {**ANSWER, "errorCode": "GENERAL"}, "also reads as an OFREP failure"),
        (400, {"key": "k", "errorCode": "FLAG_NOT_FOUND"}, "not an OFREP evaluationFailure"),
        (400, {"errorCode": "PARSE_ERROR"}, "not an OFREP evaluationFailure"),
        (404, {"key": "k", "errorCode": "GENERAL"}, "not an OFREP flagNotFound"),
        (413, {"errorDetails": 5}, "not an OFREP generalErrorResponse"),
    ],
    ids=[
        "default-reason",
        "error-reason",
        "null-metadata",
        "success-with-error-code",
        "not-found-as-400",
        "400-without-key",
        "404-wrong-code",
        "general-not-text",
    ],
)
def test_check_response_refuses_bodies_the_spec_does_not_allow(status, data, problem):
    """The check used by every OFREP test fails on what the protocol refuses."""
    with pytest.raises(AssertionError, match=problem):
        check_response("POST", SINGLE, status, JSON, body(data))


def test_check_response_checks_bulk_answers_item_by_item():
    """
    A bulk answer: every item a success, checked apart (the bulk schema allows failures, which
    geogate never sends: it answers every feature), an ETag, and a 304 without a body.
    """
    good = {"flags": [ANSWER]}
    check_response("POST", BULK, 200, {"ETag": '"1"', **JSON}, body(good))
    check_response("POST", BULK, 304, {"ETag": '"1"'}, b"")

    with pytest.raises(AssertionError, match="without an ETag"):
        check_response("POST", BULK, 200, JSON, body(good))
    with pytest.raises(AssertionError, match=r"flags\[1\]"):
        check_response(
            "POST",
            BULK,
            200,
            {"ETag": '"1"'},
            body({"flags": [ANSWER, {"key": "k", "errorCode": "GENERAL"}]}),
        )
    with pytest.raises(AssertionError, match="a 304 has no body"):
        check_response("POST", BULK, 304, {"ETag": '"1"'}, b"{}")


def test_the_asgi_wrapper_records_what_the_server_sent():
    """SpecCheckingApp keeps a bad response's problem (a server thread cannot fail the test)."""

    async def app(_scope, _receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body({**ANSWER, "reason": "DEFAULT"})})

    checking = SpecCheckingApp(app)
    import anyio  # noqa: PLC0415 (Starlette's dependency, only needed here)

    async def run():
        async def receive():
            return {"type": "http.request"}

        async def send(_message):
            return None

        await checking({"type": "http", "method": "POST", "path": SINGLE}, receive, send)

    anyio.run(run)

    assert 1 == checking.checked
    assert 1 == len(checking.problems)
    assert "'DEFAULT' is not one of" in checking.problems[0]


def test_the_protocol_has_no_configuration_endpoint():
    """The optional GET /ofrep/v1/configuration was removed from the protocol; geogate has none."""
    assert ["/ofrep/v1/evaluate/flags/{key}", "/ofrep/v1/evaluate/flags"] == list(
        PUBLISHED["paths"]
    )
