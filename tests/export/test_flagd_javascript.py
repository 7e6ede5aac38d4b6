"""
flagd's JavaScript in-process evaluator, on `geogate export --format flagd`, agrees with the gate.

``flagd_js/evaluate.mjs`` serves the exported document through
``@openfeature/flagd-provider`` with ``resolverType: "in-process"`` and
``offlineFlagSourcePath`` (the file, no flagd daemon) and asks it through
``@openfeature/server-sdk``; the provider evaluates with
``@openfeature/flagd-core``, which compiles the JsonLogic (``json-logic-engine``).
Each case is also asked of flagd-core itself with
``disableDynamicCodeGeneration``, which interprets the JsonLogic instead (the
mode for edge runtimes); both answers must agree with the gate. flagd-core
reads ``$flagd.timestamp`` as ``Math.floor(Date.now() / 1000)``, so the script
sets ``Date.now`` to each case's second. Versions are pinned in
``flagd_js/package.json``, installed by npm into ``flagd_js/node_modules/``
(which git ignores); without ``node`` and ``npm`` the tests skip, except under
CI, where they fail (`helpers.node`).

The questions are those tests/export/test_flagd_agreement.py asks flagd's
Python evaluator (`helpers.flagd`), one Node.js process per policy set: the
value must be the gate's ``allowed`` for the UTC day of the second, the variant
must name the gate's effect and deciding rule, and the reason must be a
targeting match; an input the export does not read (`UNREAD_INPUTS`) may
instead be denied as ``deny:unrecognised``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path

import pytest

from geogate import Gate
from geogate._export.flagd import DENY_UNRECOGNISED, export_flagd, render_flagd
from geogate._world.countries import all_countries, subdivisions_of
from helpers import node as nodejs
from helpers.flagd import (
    SAMPLE,
    UNREAD_INPUTS,
    both_inputs,
    change_dates,
    domicile_inputs,
    expected_variant_ok,
    instants,
    location_inputs,
    named_subdivisions,
)
from helpers.paths import DATA, FACE, POLICIES

pytestmark = pytest.mark.slow  # npm, and Node.js evaluating 330,000 cases twice (20 s)

EVALUATOR = Path(__file__).resolve().parent / "flagd_js"
#: A policy decided on location and domicile together.
BOTH = DATA / "flagd" / "both"
#: One Node.js run: every case of one policy set.
RUN_SECONDS = 120
#: Domiciles beside the sampled places of a location+domicile feature.
HOMES = ("FR", "IE", "US", "xx", None, 42, "FRA")
#: Domiciles beside every country, and places beside every domicile.
FEW = ("FR", "xx", None)
#: The day every ISO 3166-2 code is asked alone, and asked at all for a set that names none.
TODAY = dt.date(2026, 6, 1)
#: Every ISO 3166-2 code is asked with its country at the change dates from this year on.
RECENT = 2019
#: What flagd answers for an input the export does not read.
UNRECOGNISED = [False, DENY_UNRECOGNISED, "TARGETING_MATCH", None]


@pytest.fixture(scope="module")
def node():
    """Node.js, with the pinned packages in flagd_js/ (installed anew when package.json changes)."""
    node, npm = nodejs.tools("the test of flagd's JavaScript evaluator")
    nodejs.install(npm, EVALUATOR)
    return node


def evaluate(node, folder, policy, cases):
    """
    Export *policy* into *folder* and evaluate *cases* (feature, attributes, seconds) in Node.js.

    An attribute that is None is left out of the context, as the SDK would have it.
    Return one pair per case, the compiled and the interpreted evaluator's
    ``[value, variant, reason, errorCode]``.
    """
    flags, questions = folder / "flags.json", folder / "cases.json"
    flags.write_text(render_flagd(export_flagd(policy)), encoding="utf-8")
    asked = [
        [feature, {k: v for k, v in attributes.items() if v is not None}, seconds]
        for feature, attributes, seconds in cases
    ]
    questions.write_text(json.dumps(asked), encoding="utf-8")
    arguments = ["evaluate.mjs", str(flags), str(questions)]
    answers = json.loads(nodejs.run(node, EVALUATOR, arguments, timeout=RUN_SECONDS))
    assert len(cases) == len(answers)
    return answers


def questions(policy):
    """
    (feature, attributes, seconds, unread) for every feature of *policy*.

    The sampled countries, every odd spelling and named subdivision at every
    `instants` of each change date; every country, and every unread input, at
    the last second before each change date and its first; every ISO 3166-2
    code (`subdivision_cases`).
    """
    days = change_dates(policy)
    around, edges = instants(days), instants(days, edges_only=True)
    everywhere = sorted(all_countries())
    found = []
    for feature in sorted(policy.features):
        basis = str(policy.features[feature].basis)
        if basis == "location":
            sampled = location_inputs(policy, SAMPLE)
            every = [{"country": code} for code in everywhere]
        elif basis == "domicile":
            sampled = domicile_inputs(SAMPLE)
            every = [{"domicile": code} for code in everywhere]
        else:
            sampled = both_inputs(policy, SAMPLE, HOMES)
            every = [
                {"country": code, "domicile": other}
                for code, other in itertools.product(everywhere, FEW)
            ] + [
                {"country": other, "domicile": code}
                for code, other in itertools.product(everywhere, FEW)
            ]
        for moments, inputs, unread in (
            (around, sampled, False),
            (edges, every, False),
            (edges, UNREAD_INPUTS, True),
        ):
            for (seconds, _), attributes in itertools.product(moments, inputs):
                found.append((feature, attributes, seconds, unread))
        if basis != "domicile":
            found += subdivision_cases(policy, feature, days)
    return found


def subdivision_cases(policy, feature, days):
    """
    Every ISO 3166-2 code geogate knows, with its country, at the start of each recent stretch.

    Alone (without the country) on `TODAY`. The stretches since 2019 hold every
    subdivision rule of the policies tested; a set that names no subdivision
    reads every code as its country's rest, so `TODAY` alone checks that.
    """
    home = {} if str(policy.features[feature].basis) == "location" else {"domicile": "FR"}
    codes = sorted(code for country in all_countries() for code in subdivisions_of(country))
    recent = [day for day in days if day.year >= RECENT] if named_subdivisions(policy) else []
    found = []
    for day in sorted({*recent, TODAY}):
        seconds = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
        for code in codes:
            place = {"country": code.partition("-")[0], "subdivision": code, **home}
            found.append((feature, place, seconds, False))
            if day == TODAY:
                found.append((feature, {"subdivision": code, **home}, seconds, False))
    return found


def agrees(decision, answer, *, unread):
    """Whether *answer* is the gate's *decision* (or, for *unread* input, `UNRECOGNISED`)."""
    value, variant, reason, error = answer
    if unread and answer == UNRECOGNISED:
        return True
    return (
        value is decision.allowed
        and expected_variant_ok(decision, variant)
        and (reason, error) == ("TARGETING_MATCH", None)
    )


def disagreements(gate, cases, answers):
    """The cases where an evaluator's answer is not the gate's, with both answers."""
    found = []
    for (feature, attributes, seconds, unread), pair in zip(cases, answers, strict=True):
        day = dt.datetime.fromtimestamp(seconds, dt.UTC).date()
        decision = gate.evaluate(feature, at=day, **attributes)
        if all(agrees(decision, answer, unread=unread) for answer in pair):
            continue
        compiled, interpreted = pair
        found.append(
            {
                "feature": feature,
                "attributes": attributes,
                "at": seconds,
                "day": day.isoformat(),
                "geogate": (decision.allowed, decision.rule, decision.explanation),
                "compiled": compiled,
                "interpreted": interpreted,
            }
        )
    return found


@pytest.mark.parametrize(
    ("policies", "least"),
    [
        pytest.param(POLICIES, 100_000, id="shipped"),
        pytest.param(FACE, 80_000, id="face"),
        pytest.param(BOTH, 100_000, id="both"),
    ],
)
def test_javascript_evaluator_agrees(node, tmp_path, policies, least):
    """
    Sampled countries, odd spellings and wrong types, named subdivisions around
    every change date; every country and every unread input at each one's edges.
    """
    gate = Gate.from_path(policies)
    cases = questions(gate.policy)

    answers = evaluate(node, tmp_path, gate.policy, [case[:3] for case in cases])

    found = disagreements(gate, cases, answers)
    assert [] == found[:20], f"{len(found)} of {len(cases)} cases disagree"
    assert len(cases) > least


def test_the_clock_is_date_now_and_a_date_is_a_utc_day(node, tmp_path):
    """eu-multimodal-withheld starts on 2024-09-25: the second before midnight UTC allows."""
    midnight = int(dt.datetime(2024, 9, 25, tzinfo=dt.UTC).timestamp())
    cases = [("llama-3.2-vision", {"country": "FR"}, s) for s in (midnight - 1, midnight)]

    answers = evaluate(node, tmp_path, Gate.from_path(POLICIES).policy, cases)

    before = [True, "allow:default", "TARGETING_MATCH", None]
    after = [False, "deny:eu-multimodal-withheld", "TARGETING_MATCH", None]
    assert [[before, before], [after, after]] == answers
