"""
Laws of the OFREP server for any JSON body, checked with hypothesis through Starlette's test client.

Whatever the JSON parser accepts (lone surrogates in keys and values, huge
numbers, deep but parseable nesting, any JSON type at any context
attribute) gets a 200 or a 400 from both endpoints, never a 500; a 200 is a
valid OFREP success body that agrees with ``gate.evaluate``, and says
``true`` only for a known location. Every response is checked against the
protocol's schemas (`helpers.ofrep_spec.SpecClient`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from geogate.ofrep import create_app
from helpers.ofrep_spec import SpecClient
from helpers.properties import examples

if TYPE_CHECKING:
    from geogate import Gate

VISION = "llama-3.2-vision"
SINGLE = f"/ofrep/v1/evaluate/flags/{VISION}"
BULK = "/ofrep/v1/evaluate/flags"
ATTRIBUTES = ("country", "subdivision", "ip", "domicile")
#: The protocol's reason for each of geogate's (geogate's own is in the metadata).
REASONS = {"TARGETING_MATCH": "TARGETING_MATCH", "DEFAULT": "UNKNOWN", "ERROR": "UNKNOWN"}
#: Numbers JSON allows that Python reads oddly: infinities, a zero's sign, more digits
#: than int() converts (a 400), tiny and huge exponents.
RAW_NUMBERS = ["1e400", "-1e400", "-0", "1E-400", "1" * 4300, "-" + "9" * 5000, "0.1e-99999"]
#: A string that stands for one of RAW_NUMBERS until the body is written.
_RAW = "\x00raw{}\x00"

PROPERTY = examples(
    150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

plain = st.text(st.characters(), max_size=8)
#: Strings with at least one lone surrogate (a ``\ud800`` escape): UTF-8 cannot encode them.
lone_surrogates = st.builds(
    lambda before, surrogate, after: before + surrogate + after,
    plain,
    st.characters(categories=["Cs"]),
    plain,
).filter(lambda text: text.encode("utf-16", "surrogatepass").decode("utf-16", "replace") != text)
strings = st.one_of(
    plain,
    lone_surrogates,
    st.sampled_from(
        ["FR", "gb", "UK", "GB-NIR", "FR-974", "NIR", "XX", "", "GER", "81.2.69.160", "::1"]
    ),
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=0, max_value=4299).map(lambda digits: 10**digits),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(range(len(RAW_NUMBERS))).map(_RAW.format),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, strings)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(strings, inner, max_size=4)
    ),
    max_leaves=12,
)
#: Nesting as deep as the parser allows, and somewhat beyond (a 400 then).
deep = st.tuples(st.integers(min_value=1, max_value=1200), scalars).map(
    lambda pair: (
        json.loads("[" * pair[0] + json.dumps(pair[1]) + "]" * pair[0])
        if pair[0] < 900  # json.loads itself has a depth limit; deeper bodies are built as text
        else [_RAW.format(f"deep{pair[0]}")]
    )
)
contexts = st.builds(
    lambda located, other: {**other, **located},
    st.fixed_dictionaries({}, optional={name: st.one_of(values, deep) for name in ATTRIBUTES}),
    st.dictionaries(strings, st.one_of(values, deep), max_size=4),
)
bodies = st.one_of(
    st.fixed_dictionaries({"context": contexts}),
    st.fixed_dictionaries({"context": contexts}, optional={"\ud800": values, "x": values}),
    st.dictionaries(st.sampled_from(["context", "flags", "\udfff"]), values, max_size=2),
    values,
)


def write(body: object) -> bytes:
    """*body* as JSON text (ASCII: lone surrogates escaped), raw numbers and deep arrays put in."""
    text = json.dumps(body)
    for index, number in enumerate(RAW_NUMBERS):
        text = text.replace(json.dumps(_RAW.format(index)), number)
    while '"\\u0000rawdeep' in text:
        start = text.index('"\\u0000rawdeep')
        end = text.index('\\u0000"', start)
        depth = int(text[start + len('"\\u0000rawdeep') : end])
        text = text[:start] + "[" * depth + "]" * depth + text[end + len('\\u0000"') :]
    return text.encode()


@pytest.fixture(scope="module")
def client(shipped_gate):
    with SpecClient(create_app(shipped_gate), raise_server_exceptions=False) as test_client:
        yield test_client


def expected(gate: Gate, feature: str, body: object):
    """What the gate decides for *body*'s context, or None when the server must answer 400."""
    context = body.get("context") if isinstance(body, dict) else None
    location = {name: context.get(name) for name in ATTRIBUTES} if context else {}
    if not any(location.get(name) is not None for name in ("country", "subdivision", "ip")):
        # The test client's address is not a trusted proxy and not in any database: unknown.
        return gate.evaluate(feature, domicile=location.get("domicile"))
    return gate.evaluate(feature, **location)


def check_flag(gate: Gate, flag: dict[str, object], body: object) -> None:
    """*flag* is a valid OFREP success body, as the gate decides, true only for a known place."""
    assert {"key", "value", "reason", "variant", "metadata"} == set(flag)
    metadata = flag["metadata"]
    assert isinstance(metadata, dict)
    assert all(isinstance(value, str) for value in metadata.values())
    assert ("allow" if flag["value"] else "deny") == flag["variant"]
    decision = expected(gate, str(flag["key"]), body)
    assert (decision.allowed, decision.rule) == (flag["value"], metadata.get("rule"))
    error = (decision.error_code or "GENERAL") if decision.reason == "ERROR" else None
    assert (REASONS[decision.reason], decision.reason, error) == (
        flag["reason"],
        metadata["reason"],
        metadata.get("errorCode"),
    )
    assert flag["value"] is False or metadata["location"] == "known"


def check_400(response, *, key: str | None) -> None:
    data = response.json()
    assert data["errorCode"] in {"PARSE_ERROR", "INVALID_CONTEXT"}
    assert ({"key": key} if key else {}) == {k: v for k, v in data.items() if k == "key"}


@pytest.mark.slow
@PROPERTY
@given(body=st.one_of(bodies, st.fixed_dictionaries({"context": deep})))
def test_single_evaluation_is_200_or_400(client, shipped_gate, body):
    """Any JSON body: 200 with the gate's answer, or 400; never 500."""
    content = write(body)
    response = client.post(SINGLE, content=content, headers={"Content-Type": "application/json"})

    assert response.status_code in {200, 400}, response.text
    if response.status_code == 400:
        check_400(response, key=VISION)
        return
    flag = response.json()
    assert VISION == flag["key"]
    check_flag(shipped_gate, flag, json.loads(content))


@pytest.mark.slow
@PROPERTY
@given(body=bodies)
def test_bulk_evaluation_is_200_or_400(client, shipped_gate, body):
    """Any JSON body: every feature with the gate's answer and an ETag, or 400; never 500."""
    content = write(body)
    response = client.post(BULK, content=content, headers={"Content-Type": "application/json"})

    assert response.status_code in {200, 400}, response.text
    if response.status_code == 400:
        check_400(response, key=None)
        return
    flags = response.json()["flags"]
    assert list(shipped_gate.features) == [flag["key"] for flag in flags]
    for flag in flags:
        check_flag(shipped_gate, flag, json.loads(content))
    assert response.headers["etag"].startswith('"')
    again = client.post(BULK, content=content, headers={"If-None-Match": response.headers["etag"]})
    assert 304 == again.status_code


@pytest.mark.parametrize("kind", ["country", "subdivision", "ip", "domicile", "other"])
@pytest.mark.parametrize(
    "value",
    [None, True, False, 0, -1, 10**4000, 1.5, "", "\ud800", "FR\udfff", [], ["FR"], {}, {"a": 1}],
    ids=lambda value: ascii(value)[:12],
)
def test_every_json_type_at_every_attribute(client, shipped_gate, kind, value):
    """Each JSON type, lone surrogates included, at each attribute: a 200 the gate agrees with."""
    body = {"context": {kind: value, "\ud800": value}}
    content = write(body)

    single = client.post(SINGLE, content=content, headers={"Content-Type": "application/json"})
    bulk = client.post(BULK, content=content, headers={"Content-Type": "application/json"})

    assert (200, 200) == (single.status_code, bulk.status_code), (single.text, bulk.text)
    check_flag(shipped_gate, single.json(), json.loads(content))
    for flag in bulk.json()["flags"]:
        check_flag(shipped_gate, flag, json.loads(content))
