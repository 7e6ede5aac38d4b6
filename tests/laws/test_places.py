"""
Laws of split places, checked with hypothesis on random rules over countries,
subdivisions and a jurisdiction of regions, against every ISO 3166-2
subdivision of the countries involved (not only those the rules name).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import strategies as st

from geogate import Gate, PolicyError, load_policies
from geogate._world.countries import SUBDIVISIONS_WITH_COUNTRY_CODE, subdivisions_of
from helpers.properties import examples

pytestmark = pytest.mark.slow  # each example decides every place of a random rule set

POOL = ["US", "US-IL", "US-TX", "GB", "GB-SCT", "GB-ABD", "UA", "OCCUPIED", "EU", "FR",
        "FR-IDF", "FR-75C", "WORLD"]  # fmt: skip
COUNTRIES = ["US", "GB", "UA", "FR"]
DAYS = [dt.date(2022, 2, 20), dt.date(2022, 2, 21), dt.date(2026, 6, 1)]
JURISDICTIONS = """\
jurisdictions:
  OCCUPIED:
    - UA-43
    - {code: UA-14, from: 2022-02-21}
"""
#: ISO's subdivisions of each country, less those ISO 3166-1 codes as countries
#: of their own (US-AS is American Samoa, AS).
SUBDIVISIONS = {
    country: [
        code for code in subdivisions_of(country) if code not in SUBDIVISIONS_WITH_COUNTRY_CODE
    ]
    for country in COUNTRIES
}

rule_strategy = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["allow", "deny", "hard_deny"]),
        "targets": st.lists(st.sampled_from(POOL), min_size=1, max_size=3, unique=True),
        "window": st.sampled_from([None, ("2022-02-21", None), (None, "2026-01-01")]),
    }
)


def policy_text(rules: list[dict[str, object]], default: str, partial: str) -> str:
    lines = [JURISDICTIONS, "features:", "  f:", f"    default: {default}"]
    lines += [f"    partial: {partial}", "    rules:"]
    for index, rule in enumerate(rules):
        targets = ", ".join(rule["targets"])  # type: ignore[arg-type]
        lines.append(f"      - id: r{index}")
        lines.append(f"        {rule['kind']}: [{targets}]")
        lines.append("        reason: r")
        window = rule["window"]
        if window is not None:
            start, end = window  # type: ignore[misc]
            if start:
                lines.append(f"        from: {start}")
            if end:
                lines.append(f"        until: {end}")
    return "\n".join(lines) + "\n"


def load_gate(text: str) -> Gate | None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "p.yaml").write_text(text, encoding="utf-8")
        try:
            return Gate(load_policies(folder))
        except PolicyError:
            return None  # ambiguous rules: refused at load time, as they must be


@examples(60, suppress_health_check=[HealthCheck.too_slow])
@given(
    rules=st.lists(rule_strategy, min_size=1, max_size=5),
    default=st.sampled_from(["allow", "deny"]),
    partial=st.sampled_from(["allow", "deny"]),
)
def test_a_country_only_decision_never_contradicts_a_place_inside(rules, default, partial):
    """
    With ``partial: deny``, a country-only allow means every subdivision of the
    country is allowed; with ``partial: allow``, a country-only deny means every
    subdivision is denied, or a hard_deny rule decides one. If every subdivision
    (ISO's list, named or not) gets one effect and some subdivision is not
    named, the country alone gets that effect too.
    """
    gate = load_gate(policy_text(rules, default, partial))
    assume(gate is not None)
    assert gate is not None
    named = {code for rule in rules for code in rule["targets"] if "-" in code}
    named |= {"UA-43", "UA-14"} if any("OCCUPIED" in rule["targets"] for rule in rules) else set()
    for day in DAYS:
        for country in COUNTRIES:
            alone = gate.evaluate("f", country=country, at=day)
            inside = [
                gate.evaluate("f", country=country, subdivision=code, at=day)
                for code in SUBDIVISIONS[country]
            ]
            effects = {d.allowed for d in inside}
            if partial == "deny" and alone.allowed:
                assert effects == {True}, (country, day, alone.explanation)
            if partial == "allow" and not alone.allowed:
                hard = any(
                    not d.allowed
                    and d.rule is not None
                    and any(r["kind"] == "hard_deny" for r in [rules[int(d.rule[1:])]])
                    for d in inside
                )
                assert effects == {False} or hard, (country, day, alone.explanation)
            unnamed = [code for code in SUBDIVISIONS[country] if code not in named]
            if len(effects) == 1 and unnamed:
                assert {alone.allowed} == effects, (country, day, alone.explanation)
            split = "is split on" in alone.explanation
            assert split == (len(effects) > 1 and alone.rule is None), (
                country,
                day,
                alone.explanation,
            )
