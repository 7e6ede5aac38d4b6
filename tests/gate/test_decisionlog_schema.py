"""
The decision log's JSON Schema (`geogate/data/decision-log.schema.json`) describes every line.

Lines of many kinds of decision validate; the schema names exactly the keys
the log writes, so a field cannot be added to the line without it; it ships
in the package, and `geogate.decision_log_schema` returns it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from importlib import resources

import pytest
from jsonschema import Draft202012Validator, FormatChecker

import geogate
from geogate import DecisionLog, Gate
from geogate._gate.decisionlog import SCHEMA_VERSION
from helpers.mmdb import country_record, write_country_db
from helpers.paths import POLICIES, ROOT

VISION = "llama-3.2-vision"
LICENCE = "llama-3.2-vision-license"
#: Keys the schema leaves optional: ``ip`` is left out with ``ip_prefix=None``; a line
#: written before versions were stamped has no ``v``, ``domicile`` or ``location``.
OPTIONAL = {"v", "domicile", "location", "ip"}


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, lines):
        self.lines.extend(lines)

    def close(self):
        pass


@pytest.fixture(scope="module")
def schema():
    return geogate.decision_log_schema()


@pytest.fixture(scope="module")
def validator(schema):
    return Draft202012Validator(schema, format_checker=FormatChecker())


def decide(gate):
    """Decisions of every kind the log knows."""
    gate.evaluate(VISION, country="FR", ip="81.2.69.160")  # a rule, TARGETING_MATCH
    gate.evaluate(VISION, country="US", ip="2001:db8::1")  # the default, an IPv6 network
    gate.evaluate(VISION, country="US", subdivision="US-IL")  # a subdivision
    gate.evaluate(VISION, country="GB", subdivision="GB-SCT", at="2024-09-24")  # a past date
    gate.evaluate(VISION, country="XX")  # unknown
    gate.evaluate(VISION)  # no signal at all
    gate.evaluate(VISION, country="GER")  # invalid, INVALID_CONTEXT
    gate.evaluate(VISION, country=42)  # a wrong type, invalid
    gate.evaluate(VISION, country="RU", subdivision="UA-43")  # a contradiction, invalid
    gate.evaluate("no-such-feature", country="FR")  # ERROR, FLAG_NOT_FOUND
    gate.evaluate("x\ud800\x00\"'", country="FR")  # a feature id no file can hold as is
    gate.evaluate(LICENCE, domicile="DE")  # domicile alone
    gate.evaluate(LICENCE, domicile="US", country="FR")  # domicile and place
    gate.evaluate(LICENCE, domicile="ZZZ")  # a bad domicile
    gate.is_allowed(VISION, ip="81.2.69.160")  # GeoIP
    gate.is_allowed(VISION, ip="10.0.0.1")  # GeoIP, not found
    gate.is_allowed(VISION, ip="not an address")


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Every line of two logs (IPs truncated, and left out) over the same decisions."""
    db = write_country_db(
        tmp_path_factory.mktemp("geoip") / "c.mmdb", {"81.2.69.0/24": country_record("GB")}
    )
    found = []
    for prefix in [(24, 48), None]:
        sink = Lines()
        log = DecisionLog(sink, ip_prefix=prefix)
        with Gate.from_path(POLICIES, geoip_db=db, decision_log=log) as gate:
            decide(gate)
        assert 17 == len(sink.lines)
        found += [json.loads(line) for line in sink.lines]
    return found


def test_the_schema_is_valid_draft_2020_12(schema):
    Draft202012Validator.check_schema(schema)
    assert "https://json-schema.org/draft/2020-12/schema" == schema["$schema"]


def test_every_line_validates(validator, records):
    """Each line the log wrote for the decisions above is valid."""
    problems = [
        (record["feature"], error.json_path, error.message)
        for record in records
        for error in validator.iter_errors(record)
    ]
    assert [] == problems


def test_the_lines_are_varied(records):
    """The decisions above cover what the schema describes (so the test above is not vacuous)."""
    assert {"TARGETING_MATCH", "DEFAULT", "ERROR"} == {r["reason"] for r in records}
    assert {None, "FLAG_NOT_FOUND", "INVALID_CONTEXT"} == {r["error_code"] for r in records}
    assert {"known", "unknown", "invalid"} == {r["location"] for r in records}
    assert {"explicit", "geoip", "unknown"} == {r["location_source"] for r in records}
    assert {True, False} == {r["allowed"] for r in records}
    assert {"81.2.69.0/24", "10.0.0.0/24", "2001:db8::/48", None} == {
        r["ip"] for r in records if "ip" in r
    }
    assert 17 == sum("ip" not in r for r in records)
    assert {"DE", "US", None} == {r["domicile"] for r in records}
    assert {"US-IL", "GB-SCT"} <= {r["subdivision"] for r in records}
    assert any(r["rule"] is None for r in records)
    assert any(r["jurisdictions"] == [] for r in records)


def test_the_schema_names_exactly_the_keys_written(schema, records):
    """
    `properties` are the keys a line may hold; `required` those every line holds.

    Adding a field to the line without adding it to the schema fails here.
    """
    written = {key for record in records for key in record}
    always = set.intersection(*(set(record) for record in records))
    assert written == set(schema["properties"])
    assert always - OPTIONAL == set(schema["required"])
    assert {"ip"} == written - always
    assert set() == set(schema["required"]) & OPTIONAL


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"allowed": "yes"}, "$.allowed"),
        ({"v": 2}, "$.v"),
        ({"timestamp": "2026-05-09 12:00:00"}, "$.timestamp"),
        ({"as_of": "2026-02-30"}, "$.as_of"),
        ({"location": "somewhere"}, "$.location"),
        ({"country": "fr"}, "$.country"),
        ({"location_source": "header:Evil Corp"}, "$.location_source"),
    ],
)
def test_damaged_lines_are_refused(validator, records, change, where):
    """The schema refuses what `geogate logs` counts as damaged (and a little more)."""
    damaged = {**records[0], **change}
    assert [where] == [error.json_path for error in validator.iter_errors(damaged)]


def test_the_accessor_returns_the_shipped_file():
    """`geogate.decision_log_schema()` is the package's file, parsed; a new dict each call."""
    text = resources.files("geogate").joinpath("data/decision-log.schema.json").read_text("utf-8")
    first = geogate.decision_log_schema()
    assert json.loads(text) == first
    first["required"].clear()
    assert first != geogate.decision_log_schema()
    assert SCHEMA_VERSION == geogate.decision_log_schema()["properties"]["v"]["const"]


@pytest.mark.slow
def test_the_wheel_ships_both_schemas(tmp_path):
    """A wheel built from the checkout holds the schemas (hatchling, packages = src/geogate)."""
    built = subprocess.run(  # noqa: S603 (this interpreter's pip, on this checkout)
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if built.returncode:
        pytest.skip(f"cannot build a wheel here (hatchling from an index): {built.stderr[-300:]}")
    (wheel,) = tmp_path.glob("geogate-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        shipped = json.loads(archive.read("geogate/data/decision-log.schema.json"))
    assert {"geogate/data/decision-log.schema.json", "geogate/data/policy.schema.json"} <= names
    assert geogate.decision_log_schema() == shipped
