"""
The OFREP specification's schemas, and checks of every OFREP response against them.

``tests/data/ofrep/openapi.yaml`` is the protocol's published OpenAPI file
(see the README beside it). Its success schema has a defect: the value's
``oneOf`` lists ``codeDefaultFlag``, an object schema with no constraint, which
every body satisfies. So under the JSON Schema meaning of ``oneOf`` (exactly
one branch), a body with a boolean, string or object value matches two
branches and fails, while a body whose value has no listed type (an array,
``null``) matches only ``codeDefaultFlag`` and passes: the published schema
refuses every correct answer and accepts wrong ones. (An integer value also
matches both ``integerFlag`` and ``floatFlag``.)

`CORRECTED` is the same document with the two changes the spec's own words
ask for: ``codeDefaultFlag`` is an object *without* ``value`` ("This schema
has no `value` property"), and the value's branches are ``anyOf`` (an
integer is a number too). `PUBLISHED` is the file as it is, for the test that
shows the defect. Every response is checked by its status against the
schema the spec names for it, success and failure branches apart (a success
body must not also read as a failure, which providers recognise by
``errorCode``).
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.testclient import TestClient

from helpers.paths import DATA

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "CORRECTED",
    "PUBLISHED",
    "SPEC_PATH",
    "SpecCheckingApp",
    "SpecClient",
    "check_response",
    "validator",
]

SPEC_PATH = DATA / "ofrep" / "openapi.yaml"
PUBLISHED: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def _corrected(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec with ``codeDefaultFlag`` meaning "no value" and the value branches as anyOf."""
    fixed = copy.deepcopy(dict(spec))
    schemas = fixed["components"]["schemas"]
    schemas["codeDefaultFlag"] = {
        "description": schemas["codeDefaultFlag"]["description"],
        "type": "object",
        "not": {"required": ["value"]},
    }
    values = schemas["evaluationSuccess"]["allOf"][1]
    values["anyOf"] = values.pop("oneOf")
    return fixed


CORRECTED = _corrected(PUBLISHED)
_SINGLE = "/ofrep/v1/evaluate/flags/"
_BULK = "/ofrep/v1/evaluate/flags"


def validator(spec: Mapping[str, Any], name: str) -> Draft202012Validator:
    """A JSON Schema (2020-12, as OpenAPI 3.1 uses) validator for ``components.schemas.<name>``."""
    resource = Resource.from_contents(dict(spec), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:ofrep", resource)
    return Draft202012Validator(
        {"$ref": f"urn:ofrep#/components/schemas/{name}"}, registry=registry
    )


_CHECKS = {
    name: validator(CORRECTED, name)
    for name in (
        "serverEvaluationSuccess",
        "evaluationSuccess",
        "evaluationFailure",
        "flagNotFound",
        "bulkEvaluationSuccess",
        "bulkEvaluationFailure",
        "generalErrorResponse",
    )
}


def _valid(name: str, data: object) -> bool:
    return _CHECKS[name].is_valid(data)


def _require(name: str, data: object, where: str) -> None:
    errors = sorted(_CHECKS[name].iter_errors(data), key=lambda error: list(error.path))
    if errors:
        problems = "; ".join(f"{list(error.path)}: {error.message}" for error in errors[:5])
        msg = f"{where}: not an OFREP {name}: {problems}\n{data!r}"
        raise AssertionError(msg)


def _require_success(data: object, where: str) -> None:
    """A success body: the success schema, and not the failure one (providers test errorCode)."""
    _require("evaluationSuccess", data, where)
    if _valid("evaluationFailure", data):
        msg = f"{where}: a success body that also reads as an OFREP failure: {data!r}"
        raise AssertionError(msg)


#: The schema the spec gives each status of the single evaluation, and of the bulk one.
_SINGLE_SCHEMAS = {400: "evaluationFailure", 404: "flagNotFound", 500: "generalErrorResponse"}
_BULK_SCHEMAS = {400: "bulkEvaluationFailure", 500: "generalErrorResponse"}


def check_response(
    method: str, path: str, status: int, headers: Mapping[str, str], body: bytes
) -> None:
    """
    Check one OFREP server response against the spec's schema for its endpoint and status.

    Statuses the spec gives no body for (405, 408, 413, 415, 503) must carry
    its general error body, as the server promises. Paths outside ``/ofrep/``
    are not the protocol's and are not checked.

    Raises:
        AssertionError: saying which schema the body breaks, and where.
    """
    if not path.startswith("/ofrep/"):
        return
    where = f"{method} {path} -> {status}"
    if status == 304:
        if body or "etag" not in {name.lower() for name in headers}:
            msg = f"{where}: a 304 has no body and repeats the ETag"
            raise AssertionError(msg)
        return
    data = json.loads(body)
    is_single = method == "POST" and path.startswith(_SINGLE) and len(path) > len(_SINGLE)
    is_bulk = method == "POST" and path == _BULK
    if is_single and status == 200:
        _require("serverEvaluationSuccess", data, where)
        _require_success(data, where)
    elif is_single and status in _SINGLE_SCHEMAS:
        _require(_SINGLE_SCHEMAS[status], data, where)
        if _valid("evaluationSuccess", data):
            msg = f"{where}: a failure body that also reads as an OFREP success: {data!r}"
            raise AssertionError(msg)
    elif is_bulk and status == 200:
        _require("bulkEvaluationSuccess", data, where)
        for index, flag in enumerate(data["flags"]):
            _require_success(flag, f"{where} flags[{index}]")
        if "etag" not in {name.lower() for name in headers}:
            msg = f"{where}: a bulk answer without an ETag"
            raise AssertionError(msg)
    elif is_bulk and status in _BULK_SCHEMAS:
        _require(_BULK_SCHEMAS[status], data, where)
    else:
        _require("generalErrorResponse", data, where)


class SpecClient(TestClient):
    """Starlette's test client that checks every OFREP response against the spec."""

    def request(self, method, url, *args, **kwargs):
        response = super().request(method, url, *args, **kwargs)
        check_response(
            response.request.method,
            response.request.url.path,
            response.status_code,
            response.headers,
            response.content,
        )
        return response


class SpecCheckingApp:
    """
    An ASGI wrapper that checks every OFREP response an application sends.

    For servers in other threads or processes' clients (uvicorn end to end),
    where an assertion in the server would not reach the test: the problems
    are kept in `problems`, and `checked` counts the responses seen.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.problems: list[str] = []
        self.checked = 0
        #: Where it is served, for fixtures that run it.
        self.url = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def recording_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    headers = {
                        name.decode("latin-1"): value.decode("latin-1")
                        for name, value in start.get("headers", [])
                    }
                    try:
                        check_response(
                            scope["method"],
                            scope["path"],
                            start["status"],
                            headers,
                            b"".join(chunks),
                        )
                    except AssertionError as error:
                        self.problems.append(str(error))
                    self.checked += 1
            await send(message)

        await self.app(scope, receive, recording_send)
