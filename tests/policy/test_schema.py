"""
The JSON Schema shipped for editors (`geogate/data/policy.schema.json`) agrees with the loader.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from importlib import resources
from typing import TYPE_CHECKING

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker

from geogate import check_paths
from helpers.paths import BAD, GOOD, POLICIES

if TYPE_CHECKING:
    from pathlib import Path

SHIPPED = POLICIES


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    text = resources.files("geogate").joinpath("data/policy.schema.json").read_text("utf-8")
    return Draft202012Validator(json.loads(text), format_checker=FormatChecker())


class _EditorLoader(yaml.SafeLoader):
    """
    YAML as editors read it for schema validation (YAML 1.2): only true and false are booleans.

    PyYAML follows YAML 1.1, where an unquoted NO is False; geogate reads it as Norway.
    """


_BOOL = "tag:yaml.org,2002:bool"
_EditorLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_EditorLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _as_json(value: object) -> object:
    """Turn what yaml.safe_load gives into JSON data, as an editor sees YAML: dates are strings."""
    if isinstance(value, dict):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _load(path: Path) -> object:
    text = path.read_text("utf-8")
    return json.loads(text) if path.suffix == ".json" else _as_json(yaml.load(text, _EditorLoader))  # noqa: S506 (a SafeLoader)


def test_schema_is_valid_draft_2020_12(validator: Draft202012Validator) -> None:
    Draft202012Validator.check_schema(validator.schema)


def test_shipped_policies_are_referenced_and_valid(validator: Draft202012Validator) -> None:
    """The shipped policies validate, and point editors at the schema."""
    files = sorted(SHIPPED.glob("*.yaml"))
    assert files
    for path in files:
        assert "$schema=../src/geogate/data/policy.schema.json" in path.read_text("utf-8")
        assert list(validator.iter_errors(_load(path))) == []


@pytest.mark.parametrize("name", ["policy.yaml", "policy.json"])
def test_good_policies_are_valid(validator: Draft202012Validator, name: str) -> None:
    """Everything the good files use (`$schema`, custom jurisdictions, NO) is allowed."""
    assert check_paths([GOOD / name])[1] == ()
    assert list(validator.iter_errors(_load(GOOD / name))) == []


#: Corpus files whose problem is the shape of the data, which the schema sees too.
SHAPE_ERRORS = [
    "empty-targets.yaml",
    "empty-value.yaml",
    "invalid-basis.yaml",
    "invalid-date-datetime.yaml",
    "invalid-date-quoted.yaml",
    "invalid-date-string.yaml",
    "invalid-default.yaml",
    "invalid-id-feature.yaml",
    "invalid-id-rule.yaml",
    "invalid-jurisdiction-name.yaml",
    "invalid-unknown.yaml",
    "missing-key-default.yaml",
    "missing-key-id.yaml",
    "missing-key-reason.yaml",
    "norway-default.yaml",
    "rule-kind-none.yaml",
    "rule-kind-two.yaml",
    "too-long.yaml",
    "unknown-key-top.yaml",
    "unknown-key.yaml",
    "wrong-type-features.yaml",
    "wrong-type-reason.yaml",
    "wrong-type-rules.yaml",
    "wrong-type-targets.yaml",
]


@pytest.mark.parametrize("name", SHAPE_ERRORS)
def test_shape_errors_are_rejected(validator: Draft202012Validator, name: str) -> None:
    """What the loader refuses for its shape, the schema refuses too."""
    assert check_paths([BAD / name])[0] is None
    assert list(validator.iter_errors(_load(BAD / name))) != []


#: Corpus files that are well-shaped; only the loader's deeper checks find their problem.
SEMANTIC_ERRORS = [
    "ambiguous-rules.yaml",
    "cascade-jurisdiction.yaml",
    "jurisdiction-cycle.yaml",
    "override-hard-deny.yaml",
    "self-override.yaml",
    "subdivision-domicile.yaml",
    "subdivision-has-country-code.yaml",
    "unknown-country.yaml",
    "unknown-jurisdiction.yaml",
    "unknown-location-target.yaml",
    "unknown-rule.yaml",
    "unknown-subdivision.yaml",
    "window-order.yaml",
]


@pytest.mark.parametrize("name", SEMANTIC_ERRORS)
def test_schema_does_not_refuse_well_shaped_files(
    validator: Draft202012Validator, name: str
) -> None:
    """The schema is not stricter than the loader about shape."""
    assert list(validator.iter_errors(_load(BAD / name))) == []
