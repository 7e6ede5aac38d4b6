"""
`geogate export --format flagd` is a valid flagd flag-definition document.

Checked against flagd's published schemas (``flags.json``, which refers to
``targeting.json``), copied into ``tests/data/flagd/`` (its README names the
source and commit).
"""

from __future__ import annotations

import json

import jsonschema
import pytest
from openfeature.contrib.tools.flagd.core import FlagdCore
from openfeature.exception import ParseError
from referencing import Registry, Resource

from geogate import Gate
from geogate._export.flagd import export_flagd, render_flagd
from helpers.paths import DATA, FACE, POLICIES

SCHEMAS = DATA / "flagd"


def validator():
    flags = json.loads((SCHEMAS / "flags.json").read_text(encoding="utf-8"))
    targeting = json.loads((SCHEMAS / "targeting.json").read_text(encoding="utf-8"))
    registry = Registry().with_resources(
        [(schema["$id"], Resource.from_contents(schema)) for schema in (flags, targeting)]
    )
    # Through a reference, so that flags.json is read at its $id and "./targeting.json"
    # resolves beside it (draft-07 ignores the $id next to the root's $ref).
    return jsonschema.Draft7Validator({"$ref": flags["$id"]}, registry=registry)


@pytest.mark.parametrize(
    "policies",
    [pytest.param(POLICIES, id="shipped"), pytest.param(FACE, id="face", marks=pytest.mark.slow)],
)
def test_the_export_is_valid_against_flagd_s_schema(policies):
    """Every flag, variant, targeting rule and the metadata validate against flags.json."""
    document = json.loads(render_flagd(export_flagd(Gate.from_path(policies).policy)))
    errors = [
        f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator().iter_errors(document)
    ]
    assert [] == errors


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("variants", None),  # a flag without variants
        pytest.param(
            "targeting",
            {"lower": [{"var": "country"}]},  # no such operator in flagd
            marks=pytest.mark.slow,
        ),
        pytest.param("state", "ON", marks=pytest.mark.slow),
    ],
)
def test_the_schema_check_refuses_a_broken_flag(where, value):
    """The check can fail: one broken part of one flag makes the document invalid."""
    document = json.loads(render_flagd(export_flagd(Gate.from_path(POLICIES).policy)))
    flag = document["flags"]["llama-3.2-vision"]
    if value is None:
        del flag[where]
    else:
        flag[where] = value
    assert not validator().is_valid(document)


def test_the_export_is_deterministic():
    """The same policy set gives the same bytes."""
    policy = Gate.from_path(POLICIES).policy
    assert render_flagd(export_flagd(policy)) == render_flagd(export_flagd(policy))


def test_flagd_leaves_a_ref_inside_an_evaluator_unexpanded():
    """
    A flagd quirk, pinned: the Python FlagStore expands ``$ref`` in one pass, in the
    order of ``$evaluators``, so an evaluator referring to an earlier one keeps its
    ``$ref`` and the targeting is invalid: through the SDK, an ERROR that returns the
    caller's default.
    """
    core = FlagdCore()
    core.set_flags(
        {
            "$evaluators": {"a": {"==": [1, 1]}, "b": {"if": [{"$ref": "a"}, "on", "off"]}},
            "flags": {
                "f": {
                    "state": "ENABLED",
                    "variants": {"on": True, "off": False},
                    "defaultVariant": "off",
                    "targeting": {"$ref": "b"},
                }
            },
        }
    )
    with pytest.raises(ParseError, match=r"Invalid targeting \{'if': \[\{'\$ref': 'a'\}"):
        core.resolve_boolean_value("f", default_value=True)


@pytest.mark.parametrize("policies", [POLICIES, FACE, DATA / "flagd" / "both"], ids=str)
def test_no_evaluator_refers_to_another(policies):
    """So flagd's one-pass expansion (pinned above) always expands every reference."""
    document = export_flagd(Gate.from_path(policies).policy)
    assert [] == [
        name for name, rule in document["$evaluators"].items() if "$ref" in json.dumps(rule)
    ]
