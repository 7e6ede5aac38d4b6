"""`geogate diff` below the country: subdivisions, split countries, jurisdictions of regions."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import assume, event, given
from hypothesis import strategies as st

from geogate import Gate, PolicyError
from geogate._engine.decide import CompiledRule, change_days
from geogate._load.loader import load_policies
from geogate._review.diff import diff_policies
from geogate.cli import ExitCode, main
from helpers.diffcheck import changes, check_day
from helpers.policygen import examples

DAY = dt.date(2026, 7, 1)

# A change below the country: a pilot in Scotland is added, California leaves a deny rule.
BEFORE = """\
features:
  face-match:
    default: allow
    rules:
      - id: face-ccpa
        deny: [US-CA, US-IL, US-TX]
        reason: Biometric privacy laws in California, Illinois and Texas.
  scot-pilot:
    default: deny
    rules: []
"""

AFTER = """\
features:
  face-match:
    default: allow
    rules:
      - id: face-ccpa
        deny: [US-IL, US-TX]
        reason: Biometric privacy laws in Illinois and Texas.
  scot-pilot:
    default: deny
    rules:
      - id: pilot-scotland
        allow: [GB-SCT]
        from: 2026-06-01
        until: 2026-09-30
        reason: A pilot in Scotland.
"""

EXPECTED_TEXT = """\
geogate diff — from 2026-01-01 to 2026-12-31
  old: old, policy sha256:{old}
  new: new, policy sha256:{new}

face-match  (changed)
  GAINS ACCESS: 1
    US: US-CA (was denied by rule face-ccpa; now allowed by the default)  [2026-01-01 to 2026-12-31]
  rule changed: face-ccpa (targets -US-CA; reason)

scot-pilot  (changed)
  GAINS ACCESS: 1
    GB: GB-SCT (was denied by the default; now allowed by rule pilot-scotland)  [2026-06-01 to
      2026-09-30]
  rule added: pilot-scotland (allow GB-SCT, from 2026-06-01 until 2026-09-30): A pilot in Scotland.

2 places inside countries gain access and no place loses access; 2 features differ, from 2026-01-01
to 2026-12-31.
New access: yes.
"""

EXPECTED_MARKDOWN = """\
**geogate diff: new access.** 2 places inside countries gain access and no place loses access; \
2 features differ, as of 2026-07-01.

### `face-match` (changed)

| Access | Where | Places |
| --- | --- | --- |
| **gains** | US | US-CA (was denied by rule face-ccpa; now allowed by the default) |

- changed `face-ccpa`: targets -US-CA; reason

### `scot-pilot` (changed)

| Access | Where | Places |
| --- | --- | --- |
| **gains** | GB | GB-SCT (was denied by the default; now allowed by rule pilot-scotland) |

- added `pilot-scotland`: allow GB-SCT, from 2026-06-01 until 2026-09-30. A pilot in Scotland.

<sub>Old: `old`, policy `sha256:{old}`. New: `new`, policy `sha256:{new}`.</sub>
"""


def _write(folder: Path, text: str) -> Path:
    folder.mkdir()
    (folder / "policy.yaml").write_text(text, encoding="utf-8")
    return folder


def _sides(tmp_path: Path, before: str, after: str):
    old = load_policies(_write(tmp_path / "old", before))
    new = load_policies(_write(tmp_path / "new", after))
    return old, new


def _run(*args: str):
    return CliRunner().invoke(main, ["diff", *args], catch_exceptions=False)


def _summary(result, name):
    """(location, rest, old effect, new effect, old by, new by, old rule, new rule) per change."""
    feature = result.features[name]
    return [
        (c.location, c.rest, c.old, c.new, c.old_by, c.new_by, c.old_rule, c.new_rule)
        for c in (*feature.gained, *feature.lost)
    ]


def test_a_subdivision_that_gains_access_fails_the_gate(tmp_path, monkeypatch):
    """
    The change above: GB-SCT and US-CA gain access; the gate exits 1 and names both.

    Before, the diff compared countries only and said "no country gains or loses access".
    """
    old, new = _sides(tmp_path, BEFORE, AFTER)
    monkeypatch.chdir(tmp_path)

    text = _run("old", "new", "--from", "2026-01-01", "--to", "2026-12-31", "--fail-on-new-access")
    markdown = _run("old", "new", "--at", "2026-07-01", "--format", "markdown")
    before_pilot = _run("old", "new", "--at", "2026-05-31", "--feature", "scot-pilot",
                        "--fail-on-new-access")  # fmt: skip

    revisions = {"old": old.revision[7:19], "new": new.revision[7:19]}
    assert ExitCode.FINDINGS == text.exit_code
    assert EXPECTED_TEXT.format(**revisions) == text.output
    assert ExitCode.OK == markdown.exit_code
    assert EXPECTED_MARKDOWN.format(**revisions) == markdown.output
    assert ExitCode.OK == before_pilot.exit_code, before_pilot.output
    assert "  no country or subdivision gains or loses access" in before_pilot.output


def test_the_json_lists_subdivisions_with_their_country(tmp_path, monkeypatch):
    """JSON entries carry the country, the subdivision, the rest flag and what decided."""
    _sides(tmp_path, BEFORE, AFTER)
    monkeypatch.chdir(tmp_path)

    result = _run("old", "new", "--at", "2026-07-01", "--format", "json", "--fail-on-new-access")

    data = json.loads(result.output)
    assert ExitCode.FINDINGS == result.exit_code
    assert data["new_access"] is True
    assert {
        "location": "GB-SCT",
        "country": "GB",
        "subdivision": "GB-SCT",
        "rest": False,
        "jurisdiction": "countries",
        "old": {"effect": "deny", "rule": None, "by": "default"},
        "new": {"effect": "allow", "rule": "pilot-scotland", "by": "rule"},
        "since": "2026-07-01",
        "periods": [["2026-07-01", "2026-07-01"]],
    } == data["features"]["scot-pilot"]["gained"][0]
    assert [("US-CA", "US", "US-CA", "face-ccpa", None)] == [
        (c["location"], c["country"], c["subdivision"], c["old"]["rule"], c["new"]["rule"])
        for c in data["features"]["face-match"]["gained"]
    ]


SPLIT = """\
features:
  face:
    default: allow
    rules:
      - id: face-bipa
        deny: [US-IL, US-TX]
        reason: Biometric privacy laws.
"""


def test_a_partial_setting_that_allows_is_new_access(tmp_path):
    """
    ``partial: allow`` lets a request naming only US in: new access, shown under US.

    Nothing else changes: US-IL and US-TX stay denied, the rest of US allowed.
    """
    old, new = _sides(
        tmp_path, SPLIT, SPLIT.replace("    rules:", "    partial: allow\n    rules:")
    )

    result = diff_policies(old, new, at=DAY)
    back = diff_policies(new, old, at=DAY)

    face = result.features["face"]
    assert [("US", False, "deny", "allow", "partial", "partial", None, None)] == _summary(
        result, "face"
    )
    assert (("partial", "deny", "allow"),) == face.settings
    assert result.new_access
    assert () == face.gained_groups
    assert [("US", "country", ("US",))] == [
        (g.country, g.scope, g.places) for g in face.gained_places
    ]
    assert not back.new_access
    assert [("US", "allow", "deny")] == [
        (c.location, c.old, c.new) for c in back.features["face"].lost
    ]


def test_a_split_country_is_shown_place_by_place(tmp_path, monkeypatch):
    """A country split on a side is listed by itself, then its subdivisions, then its rest."""
    before = SPLIT.replace("default: allow", "default: deny").replace(
        "deny: [US-IL, US-TX]", "allow: [US-IL, US-TX, FR]"
    )
    after = SPLIT.replace("    rules:", "    partial: allow\n    rules:").replace(
        "deny: [US-IL, US-TX]", "deny: [US-IL, US-TX, FR]"
    )
    _sides(tmp_path, before, after)
    monkeypatch.chdir(tmp_path)

    result = _run("old", "new", "--at", "2026-07-01")

    lines = result.output.splitlines()
    start = lines.index(
        "    US: requests naming only US (was denied by the partial setting; now allowed by the"
        " partial"
    )
    assert [
        "      setting)",
        "    US: the rest of US (was denied by the default; now allowed by the default)",
        "  LOSES ACCESS: 3",
        "    countries (1): FR",
        "    US: US-IL, US-TX (was allowed by rule face-bipa; now denied by rule face-bipa)",
    ] == lines[start + 1 : start + 6]
    assert "  GAINS ACCESS: 250" in lines
    assert "  setting default: deny -> allow" in lines
    assert "  setting partial: deny -> allow" in lines


def test_the_rest_of_a_country_that_gains_access_is_new_access(tmp_path):
    """
    A default that turns to allow with a state still denied: the US stays split, and denied
    to a request naming only US, but the rest of the US gains access; so does the gate fail.
    """
    old, new = _sides(
        tmp_path,
        "features:\n  f:\n    default: deny\n    rules: []\n",
        SPLIT.replace("  face:", "  f:"),
    )

    result = diff_policies(old, new, at=DAY)

    gained = [(c.location, c.rest, c.new_by) for c in result.features["f"].gained]
    assert ("US", True, "default") in gained
    assert ("US", False, "partial") not in gained
    assert ("US-IL", False, "rule") not in gained
    assert result.new_access


SANCTIONS = """\
jurisdictions:
  OCCUPIED-UA:
    - UA-43
    - UA-40
features:
  maps:
    default: allow
    partial: allow
    rules:
      - id: sanctions
        hard_deny: [OCCUPIED-UA]
        reason: US sanctions on occupied regions.
"""


def test_a_jurisdiction_of_regions_that_gains_and_loses_members(tmp_path):
    """
    OCCUPIED-UA gains UA-14 on a date and loses UA-40: UA-14 loses access from that date,
    UA-40 gains access (new access). Ukraine stays split, denied by the hard deny inside.
    """
    after = SANCTIONS.replace(
        "    - UA-40\n",
        "    - {code: UA-14, from: 2022-02-21}\n    - {code: UA-09, from: 2022-02-21}\n",
    )
    old, new = _sides(tmp_path, SANCTIONS, after)

    result = diff_policies(old, new, start=dt.date(2020, 1, 1), end=dt.date(2024, 12, 31))
    early = diff_policies(old, new, at=dt.date(2021, 1, 1))

    maps = result.features["maps"]
    assert [
        (
            "UA-40",
            "deny",
            "allow",
            "sanctions",
            None,
            ((dt.date(2020, 1, 1), dt.date(2024, 12, 31)),),
        )
    ] == [(c.location, c.old, c.new, c.old_rule, c.new_rule, c.periods) for c in maps.gained]
    assert [
        (code, "allow", "deny", None, "sanctions", ((dt.date(2022, 2, 21), dt.date(2024, 12, 31)),))
        for code in ("UA-09", "UA-14")
    ] == [(c.location, c.old, c.new, c.old_rule, c.new_rule, c.periods) for c in maps.lost]
    assert result.new_access
    assert [("UA-40", "gains")] == [(c.location, "gains") for c in early.features["maps"].gained]
    assert () == early.features["maps"].lost
    assert all(c.location != "UA" for c in (*maps.gained, *maps.lost))


def test_a_dated_member_of_a_custom_jurisdiction(tmp_path, monkeypatch):
    """
    A member that joins on a date: nothing differs before it, the member loses access from it,
    and the text names the country, the subdivision, the rule and the days.
    """
    after = SANCTIONS.replace(
        "    - UA-40\n", "    - UA-40\n    - {code: UA-14, from: 2022-02-21}\n"
    )
    _sides(tmp_path, SANCTIONS, after)
    monkeypatch.chdir(tmp_path)

    before_day = _run("old", "new", "--at", "2022-02-20", "--fail-on-new-access")
    ranged = _run(
        "old", "new", "--from", "2022-01-01", "--to", "2022-12-31", "--fail-on-new-access"
    )

    assert ExitCode.OK == before_day.exit_code
    assert "No differences: every feature decides every country the same way" in before_day.output
    assert ExitCode.OK == ranged.exit_code, ranged.output
    line = (
        "    UA: UA-14 (was allowed by the default; now denied by rule sanctions)"
        "  [2022-02-21 to 2022-12-31]"
    )
    assert ["  LOSES ACCESS: 1", line] == ranged.output.splitlines()[5:7]


def test_a_hard_deny_inside_a_split_country_is_named(tmp_path):
    """Ukraine, split by a hard deny inside, is denied whatever its partial setting says."""
    old, new = _sides(
        tmp_path, SANCTIONS.replace("hard_deny: [OCCUPIED-UA]", "deny: [OCCUPIED-UA]"), SANCTIONS
    )

    result = diff_policies(old, new, at=DAY)

    assert [("UA", False, "allow", "deny", "partial", "hard-inside", None, None)] == _summary(
        result, "maps"
    )


def test_a_subdivision_decided_as_its_country_is_not_listed_again(tmp_path):
    """
    A rule naming UA and UA-43 turns from deny to allow: UA gains access, and UA-43, decided
    by the same rule as UA on both sides, is not listed again (`check_day` holds).
    """
    before = "features:\n  maps:\n    default: deny\n    rules:\n"
    before += "      - {id: ua, deny: [UA, UA-43], reason: r}\n"
    old, new = _sides(tmp_path, before, before.replace("deny: [UA", "allow: [UA"))

    result = diff_policies(old, new, at=DAY)

    assert [("UA", False, "deny", "allow", "rule", "rule", "ua", "ua")] == _summary(result, "maps")
    check_day(result, Gate(old), Gate(new), DAY, ["maps"])


def test_a_basis_that_turns_to_domicile(tmp_path):
    """
    Decided on domicile, the Ukrainian regions are decided as Ukraine: the rest of Ukraine,
    allowed on location, loses access; the regions stay denied; Ukraine itself, denied as
    split by a hard deny inside, stays denied.
    """
    domicile = SANCTIONS.replace("    partial: allow\n", "    basis: domicile\n").replace(
        "hard_deny: [OCCUPIED-UA]", "deny: [UA]"
    )
    old, new = _sides(tmp_path, SANCTIONS, domicile)

    result = diff_policies(old, new, at=DAY)

    maps = result.features["maps"]
    assert [("UA", True, "allow", "deny", "default", "rule")] == [
        (c.location, c.rest, c.old, c.new, c.old_by, c.new_by)
        for c in maps.lost
        if c.country == "UA"
    ]
    assert ("basis", "location", "domicile") in maps.settings
    check_day(result, Gate(old), Gate(new), DAY, ["maps"])


# -- the law on generated pairs that name subdivisions -------------------------------------------

#: Targets of generated rules: countries, subdivisions (nested ones too), and jurisdictions,
#: REGIONS being a custom one of subdivisions and countries with dated members.
PLACE_TARGETS = [
    "US", "US-IL", "US-TX", "US-CA", "GB", "GB-SCT", "GB-NIR", "GB-BFS", "UA", "UA-43",
    "UA-14", "FR", "FR-IDF", "FR-75C", "EU", "REGIONS", "WORLD",
]  # fmt: skip
REGION_MEMBERS = ["UA-43", "UA-40", "UA-14", "US-CA", "GB-SCT", "GB-BFS", "FR-IDF", "PL"]
DAYS = st.dates(dt.date(2019, 1, 1), dt.date(2031, 12, 31))
WINDOWS = st.tuples(st.none() | DAYS, st.none() | DAYS).map(
    lambda w: w if None in w or w[0] <= w[1] else (w[1], w[0])
)


def _window(start, end):
    return "".join(
        f", {key}: {day.isoformat()}" for key, day in (("from", start), ("until", end)) if day
    )


@st.composite
def _features(draw, name):
    """One feature: (name, basis, default, unknown, partial, rules)."""
    basis = draw(st.sampled_from(["location", "location", "location+domicile", "domicile"]))
    pool = [t for t in PLACE_TARGETS if basis != "domicile" or t in {"US", "GB", "UA", "FR", "EU"}]
    rules = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["allow", "deny", "hard_deny"]),
                st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True).map(tuple),
                WINDOWS,
            ),
            max_size=4,
        ).map(tuple)
    )
    effect = st.sampled_from(["allow", "deny"])
    return (name, basis, draw(effect), draw(effect), draw(effect), rules)


@st.composite
def _specs(draw):
    """A policy set: REGIONS as ((code, window), ...), and one or two features."""
    codes = draw(st.lists(st.sampled_from(REGION_MEMBERS), min_size=1, max_size=4, unique=True))
    members = tuple((code, draw(WINDOWS)) for code in codes)
    names = draw(st.lists(st.sampled_from(["f", "g"]), min_size=1, max_size=2, unique=True))
    return members, tuple(draw(_features(name)) for name in sorted(names))


@st.composite
def _mutation(draw, spec):
    """*spec* with one small change: a member, a setting, a rule dropped or retargeted."""
    members, features = spec
    how = draw(st.sampled_from(["member", "partial", "default", "drop", "retarget"]))
    if how == "member":
        code = draw(st.sampled_from(REGION_MEMBERS))
        kept = tuple(m for m in members if m[0] != code)
        return (kept if kept != members and kept else (*kept, (code, draw(WINDOWS)))), features
    index = draw(st.integers(0, len(features) - 1))
    name, basis, default, unknown, partial, rules = features[index]
    flip = {"allow": "deny", "deny": "allow"}
    if how == "partial":
        partial = flip[partial]
    elif how == "default":
        default = flip[default]
    elif rules and how == "drop":
        rules = rules[:-1]
    elif rules and basis != "domicile":
        kind, targets, window = rules[-1]
        extra = draw(st.sampled_from([t for t in PLACE_TARGETS if "-" in t]))
        # Add the subdivision to the last rule's targets, or take it out.
        changed = tuple(t for t in targets if t != extra) if extra in targets else (*targets, extra)
        rules = (*rules[:-1], (kind, changed or targets, window))
    mutated = (name, basis, default, unknown, partial, rules)
    return members, (*features[:index], mutated, *features[index + 1 :])


def _yaml(spec):
    """Write a spec of `_specs` as a policy file."""
    members, features = spec
    lines = ["jurisdictions:", "  REGIONS:"]
    for code, (start, end) in members:
        window = _window(start, end)
        lines.append(f"    - {{code: {code}{window}}}" if window else f"    - {code}")
    lines.append("features:")
    for name, basis, default, unknown, partial, rules in features:
        lines += [f"  {name}:", f"    default: {default}", f"    unknown: {unknown}"]
        lines += [f"    partial: {partial}", f"    basis: {basis}"]
        lines.append("    rules:" if rules else "    rules: []")
        lines += [
            f"      - {{id: {name}-r{index}, {kind}: [{', '.join(targets)}], reason: r"
            f"{_window(*window)}}}"
            for index, (kind, targets, window) in enumerate(rules)
        ]
    return "\n".join(lines) + "\n"


@st.composite
def _pairs(draw):
    """Two policy files: independent, or the second a small change of the first."""
    first = draw(_specs())
    second = draw(st.one_of(_specs(), _mutation(first)))
    return _yaml(first), _yaml(second)


def _change_days(gate):
    """The days a decision of *gate* can change (`geogate._engine.decide.change_days`)."""
    table = gate.policy.jurisdictions
    return {
        day
        for feature in gate.policy.features.values()
        for day in change_days([CompiledRule.from_rule(rule) for rule in feature.rules], table)
    }


def _gate(text):
    """Load *text*; discard it (`hypothesis.assume`) only when its rules are ambiguous."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "policy.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            gate = Gate.from_path(path)
        except PolicyError as error:
            codes = {d.code for d in error.diagnostics if d.severity == "error"}
            assert codes <= {"ambiguous-rules"}, (codes, text)
            event("refused: ambiguous rules")
            assume(condition=False)
    return gate


@pytest.mark.slow
@examples(40)
@given(texts=_pairs(), data=st.data())
def test_diff_is_the_difference_of_eval_on_generated_subdivision_policies(texts, data):
    """
    diff(A, B) lists exactly where ``Gate.evaluate`` on A and on B differs (`check_day`).

    The sets name states, nations, regions inside regions (GB-BFS in GB-NIR, FR-75C in
    FR-IDF), and a custom jurisdiction of subdivisions with dated members; features have
    every basis and ``partial`` setting. Checked on one day and, over a range, on every day
    either side's decisions can change; new access is exactly a place going deny -> allow.
    """
    old, new = _gate(texts[0]), _gate(texts[1])
    day = data.draw(DAYS)
    on_day = diff_policies(old.policy, new.policy, at=day)
    listed = check_day(on_day, old, new, day, ("f", "g"))
    assert any(key[4] == "allow" for key in listed) == on_day.new_access
    start = data.draw(DAYS)
    end = start + dt.timedelta(days=data.draw(st.integers(0, 3 * 365)))
    over = diff_policies(old.policy, new.policy, start=start, end=end)
    # Every day either side's decisions can change, the day before, and the days the
    # periods listed begin and end.
    edges = {d for gate in (old, new) for d in _change_days(gate) if start < d <= end}
    edges |= {d for _, change in changes(over) for period in change.periods for d in period}
    probes = {start, end, data.draw(st.dates(start, end))}
    probes |= {
        d + dt.timedelta(days=k)
        for d in edges
        for k in (-1, 0)
        if start <= d + dt.timedelta(days=k) <= end
    }
    union = set()
    for probe in sorted(probes):
        union |= check_day(over, old, new, probe, ("f", "g"))
    assert union == {(name, c.location, c.rest, c.old, c.new) for name, c in changes(over)}
    event("places differ" if union else "no place differs")
    if any("-" in key[1] or key[2] for key in union):
        event("a subdivision or the rest of a place differs")
