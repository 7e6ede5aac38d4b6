"""
The audit below the country: split countries, subdivision cells, every format.

The policy: face matching denied in US-IL and US-TX, hard-denied in a
custom jurisdiction of occupied Ukrainian regions (two of them members from
2022-02-21), denied in the EU; and a pilot in Scotland from 2026-06-01 until
2026-09-30. Before the audit looked below the country, it said the US was
"allowed by default", that the pilot rule decided no place, and the timeline
left out the pilot's start and end.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from geogate import Gate, load_policies
from geogate._review.audit import Cell, Group, audit, change_dates, timeline
from geogate._review.html import COLOURS, render_html
from geogate.cli import main

FACE = """\
jurisdictions:
  OCCUPIED-UA:
    - UA-43
    - UA-40
    - {code: UA-14, from: 2022-02-21}
    - {code: UA-09, from: 2022-02-21}
features:
  face-match:
    description: Face matching
    owner: trust
    default: allow
    rules:
      - id: face-bipa
        deny: [US-IL, US-TX]
        reason: Illinois BIPA and Texas CUBI restrict biometric identifiers.
      - id: face-sanctions
        hard_deny: [OCCUPIED-UA]
        reason: US sanctions on occupied regions.
      - id: face-eu
        deny: [EU]
        reason: Not yet assessed under the AI Act.
  scot-pilot:
    owner: product
    default: deny
    partial: deny
    rules:
      - id: pilot-scotland
        allow: [GB-SCT]
        from: 2026-06-01
        until: 2026-09-30
        reason: A pilot in Scotland.
"""
#: The pilot runs, and all four regions are in OCCUPIED-UA.
ON = dt.date(2026, 7, 1)
BEFORE_PILOT = dt.date(2026, 5, 31)
OCCUPIED = ("UA-09", "UA-14", "UA-40", "UA-43")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("face")
    (path / "face.yaml").write_text(FACE, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def policy(folder):
    return load_policies(folder)


@pytest.fixture
def run(folder):
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(main, ["audit", "--policies", str(folder), *args])
        assert 0 == result.exit_code, result.output
        return result.output

    return invoke


def _face(extra: str = "", **settings: str) -> str:
    """The FACE policy with *settings* added to face-match (``partial="allow"``)."""
    lines = "".join(f"    {key}: {value}\n" for key, value in settings.items())
    return FACE.replace("    default: allow\n", "    default: allow\n" + lines, 1) + extra


def test_a_split_country_cell_says_it_is_partial_and_what_the_rest_gets(policy):
    """
    US: a request naming only the US is denied by the partial setting (rule None), the
    rest of the US is allowed by default, and US-IL and US-TX are listed with their rule.
    """
    found = audit(policy, at=ON).to_dict()["features"]["face-match"]

    assert {
        "effect": "deny",
        "rule": None,
        "partial": True,
        "rest": {"effect": "allow", "rule": None},
        "subdivisions": {
            "US-IL": {"effect": "deny", "rule": "face-bipa"},
            "US-TX": {"effect": "deny", "rule": "face-bipa"},
        },
    } == found["countries"]["US"]
    assert {
        "effect": "deny",
        "rule": None,
        "partial": True,
        "rest": {"effect": "allow", "rule": None},
        "subdivisions": {code: {"effect": "deny", "rule": "face-sanctions"} for code in OCCUPIED},
    } == found["countries"]["UA"]
    assert {"effect": "allow", "rule": None} == found["countries"]["GB"]
    assert {"effect": "deny", "rule": "face-eu"} == found["countries"]["FR"]
    assert ("location", "deny", "deny") == (found["basis"], found["partial"], found["unknown"])
    assert ["countries", "unknown", "basis", "partial"] == list(found)


def test_a_country_with_subdivisions_in_the_space_lists_them_even_when_not_split(policy):
    """Before the pilot GB is not split, but GB-SCT is in the space and listed (deny)."""
    found = audit(policy, at=BEFORE_PILOT).features["scot-pilot"]

    assert Cell("deny", None) == found.cells["GB"]
    assert {"GB-SCT": Cell("deny", None)} == dict(found.subdivisions)
    assert () == found.split
    assert {
        "effect": "deny",
        "rule": None,
        "subdivisions": {"GB-SCT": {"effect": "deny", "rule": None}},
    } == found.to_dict()["countries"]["GB"]


def test_the_pilot_splits_gb_and_decides_gb_sct(policy):
    """During the pilot GB-SCT is allowed by the pilot rule and GB is split (deny, rest deny)."""
    found = audit(policy, at=ON).features["scot-pilot"]

    assert Cell("deny", None, partial=True, rest=Cell("deny", None)) == found.cells["GB"]
    assert {"GB-SCT": Cell("allow", "pilot-scotland")} == dict(found.subdivisions)
    assert ("GB",) == found.split
    assert 0 == found.allowed


def test_a_hard_deny_inside_denies_a_split_country_whatever_partial_says(tmp_path):
    """With ``partial: allow`` the US is allowed to a country-only request, UA is not."""
    (tmp_path / "face.yaml").write_text(_face(partial="allow"), encoding="utf-8")
    policy = load_policies(tmp_path)

    found = audit(policy, at=ON).features["face-match"]

    assert Cell("allow", None, partial=True, rest=Cell("allow", None)) == found.cells["US"]
    assert Cell("deny", None, partial=True, rest=Cell("allow", None)) == found.cells["UA"]
    assert "allow" == found.to_dict()["partial"]
    page = render_html(audit(policy, at=ON), policy)
    assert (
        "<span class=badge>split</span> a request naming only UA is denied (a hard-deny rule "
        "decides inside it, whatever the partial setting says); the rest of UA is allowed by "
        "default"
    ) in page
    assert (
        "<span class=badge>split</span> a request naming only US gets the feature's partial "
        "setting (allow); the rest of US is allowed by default"
    ) in page
    assert '<use href="#geo-US" data-country="US" data-effect="allow" data-split="true" ' in page
    table = CliRunner().invoke(main, ["audit", "--policies", str(tmp_path), "--at", "2026-07-01"])
    assert (
        "    UA Ukraine: split on 2026-07-01; a request naming only UA is denied (a hard-deny "
        "rule decides\n      inside it, whatever the partial setting says); the rest of UA is "
        "allowed by default\n"
    ) in table.output
    assert (
        "  split (2): UA US; a request naming only one of them gets the feature's partial "
        "setting (allow), or\n  deny where a hard-deny rule decides inside\n"
    ) in table.output


def test_groups_and_rule_counts_include_the_subdivisions_a_rule_decides(policy):
    """face-bipa decides 2 subdivisions, face-sanctions 4 (through OCCUPIED-UA), the pilot 1."""
    report = audit(policy, at=ON)
    face = {(g.effect, g.rule, g.partial): g for g in report.features["face-match"].groups}
    pilot = {(g.effect, g.rule, g.partial): g for g in report.features["scot-pilot"].groups}

    assert (
        Group(
            "deny",
            "face-bipa",
            "Illinois BIPA and Texas CUBI restrict biometric identifiers.",
            (),
            (("subdivisions", ("US-IL", "US-TX")),),
        )
        == face["deny", "face-bipa", False]
    )
    assert (("OCCUPIED-UA", OCCUPIED),) == face["deny", "face-sanctions", False].subdivisions
    assert (("split", ("UA", "US")),) == face["deny", None, True].by_jurisdiction
    assert ("UA", "US") == face["deny", None, True].places
    assert (("subdivisions", ("GB-SCT",)),) == pilot["allow", "pilot-scotland", False].subdivisions
    assert ("GB",) == pilot["deny", None, True].countries
    assert 249 == len(pilot["deny", None, False].countries)
    order = [(g.effect, g.rule, g.partial) for g in report.features["face-match"].groups]
    assert [
        ("deny", "face-eu", False),
        ("deny", "face-sanctions", False),
        ("deny", "face-bipa", False),
        ("deny", None, True),
        ("allow", None, False),
    ] == order


@pytest.mark.parametrize("feature", ["face-match", "scot-pilot"])
def test_every_cell_agrees_with_eval_on_every_change_date(policy, feature):
    """
    Every country and subdivision cell, on the first day, every change date (and the day
    before each) from 2019 to 2028, is what Gate.evaluate says for that request.
    """
    gate = Gate(policy)
    start, end = dt.date(2019, 1, 1), dt.date(2028, 1, 1)
    days = set()
    for day in [start, *change_dates(policy, feature, start, end)]:
        days |= {day, day - dt.timedelta(days=1)}
    expected = {
        "face-match": {dt.date(2020, 2, 1), dt.date(2022, 2, 21)},
        "scot-pilot": {dt.date(2026, 6, 1), dt.date(2026, 10, 1)},
    }
    assert expected[feature] <= days
    for day in sorted(days):
        found = audit(policy, at=day, features=[feature]).features[feature]
        for code, cell in found.cells.items():
            decision = gate.evaluate(feature, country=code, domicile=code, at=day)
            assert (str(decision.effect), decision.rule) == (cell.effect, cell.rule), (code, day)
            assert decision == found.decisions[code]
            assert cell.partial == ("is split on" in decision.explanation), (code, day)
        for code, cell in found.subdivisions.items():
            country = code[:2]
            decision = gate.evaluate(
                feature, country=country, subdivision=code, domicile=country, at=day
            )
            assert (str(decision.effect), decision.rule) == (cell.effect, cell.rule), (code, day)
            assert decision == found.subdivision_decisions[code]


def test_the_rest_of_a_split_country_is_what_an_unnamed_subdivision_gets(policy):
    """US-CA (named by no rule) gets the US cell's rest; a request naming US only does not."""
    gate = Gate(policy)
    cell = audit(policy, at=ON).features["face-match"].cells["US"]

    california = gate.evaluate("face-match", country="US", subdivision="US-CA", at=ON)

    assert cell.rest == Cell(str(california.effect), california.rule)
    assert "deny" == cell.effect


NESTED = """\
features:
  both:
    default: allow
    basis: location+domicile
    rules:
      - {id: nir, deny: [GB-NIR], reason: r}
      - {id: belfast, allow: [GB-BFS], overrides: nir, reason: r}
  home:
    default: allow
    basis: domicile
    rules:
      - {id: home-gb, deny: [GB], reason: r}
"""


def test_places_inside_places_and_features_decided_on_domicile(tmp_path):
    """
    GB-NIR with GB-BFS allowed inside is itself split; a location+domicile feature's
    subdivision cell is a request from it by an account domiciled in its country (the
    country split, so denied); a domicile feature has no subdivision cells.
    """
    (tmp_path / "nested.yaml").write_text(NESTED, encoding="utf-8")
    policy = load_policies(tmp_path)
    gate = Gate(policy)

    report = audit(policy, at=ON)
    both = report.features["both"]

    assert ("GB-BFS", "GB-NIR") == tuple(both.subdivisions)
    assert Cell("deny", None, partial=True, rest=Cell("allow", None)) == both.cells["GB"]
    # From Belfast, domiciled in GB: the location allows, the domicile (split GB) denies.
    assert Cell("deny", None, partial=True, rest=Cell("allow", None)) == both.subdivisions["GB-BFS"]
    for code, cell in both.subdivisions.items():
        decision = gate.evaluate("both", country="GB", subdivision=code, domicile="GB", at=ON)
        assert (str(decision.effect), decision.rule) == (cell.effect, cell.rule)
    alone = audit(load_policies(_only_location(tmp_path)), at=ON).features["both"]
    assert (
        Cell("deny", None, partial=True, rest=Cell("deny", "nir")) == alone.subdivisions["GB-NIR"]
    )
    assert Cell("allow", "belfast") == alone.subdivisions["GB-BFS"]
    home = report.features["home"]
    assert ({}, "domicile") == (dict(home.subdivisions), home.to_dict()["basis"])
    assert "subdivisions" not in home.to_dict()["countries"]["GB"]


def _only_location(tmp_path):
    folder = tmp_path / "location"
    folder.mkdir()
    text = NESTED.replace("    basis: location+domicile\n", "")
    (folder / "nested.yaml").write_text(text, encoding="utf-8")
    return folder


# The formats.


def test_table_lists_subdivisions_under_their_country(run):
    """The table counts subdivisions per rule and says what a country-only request gets."""
    out = run("--at", ON.isoformat(), "--feature", "scot-pilot")

    lines = out.splitlines()
    assert lines[2:7] == [
        "scot-pilot",
        (
            "  allowed in 0 of 250 countries and territories, denied in 250; unknown locations: "
            "deny; decided on"
        ),
        "  location",
        (
            "  split (1): GB; a request naming only one of them gets the feature's partial "
            "setting (deny)"
        ),
        "  DENIED as split (a request naming only the place): 1",
    ]
    assert lines[-7:] == [
        "  ALLOWED by rule pilot-scotland: 1 subdivision",
        "    A pilot in Scotland.",
        "    subdivisions (1): GB-SCT",
        "  Subdivisions, under their country:",
        (
            "    GB United Kingdom: split on 2026-07-01; a request naming only GB is denied (the "
            "feature's"
        ),
        "      partial setting: deny); the rest of GB is denied by default",
        "      GB-SCT Scotland: allowed by rule pilot-scotland",
    ]
    assert all(len(line) <= 100 for line in lines[1:])


def test_table_of_the_face_feature(run):
    """Per-rule counts with subdivisions; the US and UA listed as split with their regions."""
    out = run("--at", ON.isoformat(), "--feature", "face-match")

    assert "  DENIED by rule face-bipa: 2 subdivisions\n" in out
    assert "    OCCUPIED-UA (4): UA-09 UA-14 UA-40 UA-43\n" in out
    assert "  DENIED as split (a request naming only the place): 2\n    split (2): UA US\n" in out
    assert (
        "    US United States: split on 2026-07-01; a request naming only US is denied (the "
        "feature's partial\n      setting: deny); the rest of US is allowed by default\n"
        "      US-IL Illinois: denied by rule face-bipa\n"
        "      US-TX Texas: denied by rule face-bipa\n"
    ) in out


def test_markdown_lists_subdivisions_under_their_country(run):
    """Markdown: group rows for subdivisions, then a table of countries and subdivisions."""
    out = run("--at", ON.isoformat(), "--feature", "face-match", "--format", "markdown")

    assert "| **denied** | `face-bipa` | subdivisions (2) | US-IL US-TX |\n" in out
    assert "| **denied** | `face-sanctions` | OCCUPIED-UA (4) | UA-09 UA-14 UA-40 UA-43 |\n" in out
    assert "| **denied** | split | split (2) | UA US |\n" in out
    assert (
        "| US (United States) | — | **denied** | split on 2026-07-01; a request naming only "
        "US is denied (the feature's partial setting: deny); the rest of US is allowed by "
        "default |\n"
        "|  | US-IL (Illinois) | **denied** | rule `face-bipa` |\n"
        "|  | US-TX (Texas) | **denied** | rule `face-bipa` |\n"
    ) in out
    assert "Split (2): UA US; a request naming only one of them gets the feature's partial " in out


def test_csv_has_a_row_per_subdivision_after_its_country(run):
    """CSV: the country row (a request naming only it, split or not), then its subdivisions."""
    out = run("--at", ON.isoformat(), "--format", "csv")

    rows = list(csv.reader(io.StringIO(out)))
    assert [
        "feature", "country", "name", "effect", "rule", "jurisdictions", "subdivision",
        "subdivision_name", "partial", "rest_effect", "rest_rule",
    ] == rows[0]  # fmt: skip
    assert 1 + 2 * 250 + 6 + 1 == len(rows)
    start = rows.index(
        ["face-match", "US", "United States", "deny", "", "WORLD", "", "", "true", "allow", ""]
    )
    assert [
        ["face-match", "US", "United States", "deny", "face-bipa", "WORLD", "US-IL", "Illinois",
         "false", "", ""],
        ["face-match", "US", "United States", "deny", "face-bipa", "WORLD", "US-TX", "Texas",
         "false", "", ""],
    ] == rows[start + 1 : start + 3]  # fmt: skip
    pilot = [row for row in rows if row[0] == "scot-pilot" and row[1] == "GB"]
    assert [
        ["scot-pilot", "GB", "United Kingdom", "deny", "", "UK WORLD", "", "", "true", "deny", ""],
        ["scot-pilot", "GB", "United Kingdom", "allow", "pilot-scotland", "UK WORLD", "GB-SCT",
         "Scotland", "false", "", ""],
    ] == pilot  # fmt: skip
    crimea = next(row for row in rows if row[6] == "UA-43")
    assert "OCCUPIED-UA" in crimea[5].split()


def test_json_from_the_cli(run, policy):
    """``--format json`` prints `Audit.to_dict`."""
    out = run("--at", ON.isoformat(), "--format", "json")

    assert audit(policy, at=ON).to_dict() == json.loads(out)


# The timeline.

TIMELINE = ("--timeline", "--from", "2021-01-01", "--to", "2027-01-01")


def test_timeline_shows_the_pilot_start_and_end(policy):
    """2026-06-01: GB-SCT gains access and GB becomes split; 2026-10-01: both undone."""
    found = timeline(policy, dt.date(2021, 1, 1), dt.date(2027, 1, 1), features=["scot-pilot"])

    pilot = found.features["scot-pilot"]
    assert ("GB-SCT",) == pilot.subdivisions
    assert [dt.date(2026, 6, 1), dt.date(2026, 10, 1)] == [c.day for c in pilot.changes]
    start, end = pilot.changes
    split = Cell("deny", None, partial=True, rest=Cell("deny", None))
    assert (("pilot-scotland",), ()) == (start.started, start.ended)
    assert {"GB": (Cell("deny", None), split)} == dict(start.cells)
    assert {"GB-SCT": (Cell("deny", None), Cell("allow", "pilot-scotland"))} == dict(
        start.subdivisions
    )
    assert [("gained", ("GB-SCT",)), ("split", ("GB",))] == [
        (g.change, g.places) for g in start.groups
    ]
    assert ((), ("pilot-scotland",)) == (end.started, end.ended)
    assert [("lost", ("GB-SCT",)), ("unsplit", ("GB",))] == [
        (g.change, g.places) for g in end.groups
    ]


def test_timeline_shows_regions_joining_a_jurisdiction(policy):
    """2022-02-21: UA-09 and UA-14 join OCCUPIED-UA and lose access; UA stays split."""
    found = timeline(policy, dt.date(2021, 1, 1), dt.date(2027, 1, 1), features=["face-match"])

    face = found.features["face-match"]
    assert (("UA", "US"), 214) == (face.split_at_start, face.allowed_at_start)
    (change,) = face.changes
    assert dt.date(2022, 2, 21) == change.day
    assert (("OCCUPIED-UA", ("UA-09", "UA-14"), ()),) == change.membership
    assert {} == dict(change.cells)
    (group,) = change.groups
    assert ("lost", (("OCCUPIED-UA", ("UA-09", "UA-14")),)) == (group.change, group.subdivisions)


def test_timeline_text(run):
    """The text timeline says when the pilot starts and ends, and what it does to GB."""
    out = run(*TIMELINE, "--feature", "scot-pilot")

    assert out.splitlines()[2:] == [
        "scot-pilot",
        "  on 2021-01-01: allowed in 0 of 250 countries and territories",
        "  subdivisions: GB-SCT",
        "  2026-06-01: rule pilot-scotland starts",
        "    1 gain access (deny by the default -> allow by rule pilot-scotland)",
        "      subdivisions (1): GB-SCT",
        "    1 become split (deny by the default -> deny as split (the rest: deny by the default))",
        "      split (1): GB",
        "  2026-10-01: rule pilot-scotland ended the day before",
        "    1 lose access (allow by rule pilot-scotland -> deny by the default)",
        "      subdivisions (1): GB-SCT",
        (
            "    1 stop being split (deny as split (the rest: deny by the default) -> deny by "
            "the default)"
        ),
        "      split (1): GB",
    ]


def test_timeline_markdown(run):
    """Markdown: the pilot's days, and the regions joining OCCUPIED-UA."""
    out = run(*TIMELINE, "--format", "markdown")

    assert "On 2021-01-01: allowed in 214 of 250 countries and territories; split: UA US.\n" in out
    assert "- **2022-02-21** (UA-09 UA-14 joined OCCUPIED-UA)\n" in out
    assert (
        "  - 2 lose access (allow by the default -> deny by rule face-sanctions): "
        "OCCUPIED-UA (2): UA-09 UA-14\n"
    ) in out
    assert "- **2026-06-01** (rule pilot-scotland starts)\n" in out
    assert (
        "  - 1 gain access (deny by the default -> allow by rule pilot-scotland): "
        "subdivisions (1): GB-SCT\n"
    ) in out
    assert "- **2026-10-01** (rule pilot-scotland ended the day before)\n" in out


def test_timeline_json(run):
    """JSON: the subdivisions of each feature, and per day the subdivisions that changed."""
    data = json.loads(run(*TIMELINE, "--format", "json"))

    pilot = data["features"]["scot-pilot"]
    assert (["GB-SCT"], []) == (pilot["subdivisions"], pilot["split_at_start"])
    first, last = pilot["changes"]
    assert ("2026-06-01", ["pilot-scotland"]) == (first["date"], first["rules_started"])
    assert {
        "GB-SCT": {
            "before": {"effect": "deny", "rule": None},
            "after": {"effect": "allow", "rule": "pilot-scotland"},
        }
    } == first["subdivisions"]
    assert {
        "before": {"effect": "deny", "rule": None},
        "after": {
            "effect": "deny",
            "rule": None,
            "partial": True,
            "rest": {"effect": "deny", "rule": None},
        },
    } == first["countries"]["GB"]
    assert ("2026-10-01", ["pilot-scotland"]) == (last["date"], last["rules_ended"])
    assert [
        {
            "change": "lost",
            "before": {"effect": "allow", "rule": "pilot-scotland"},
            "after": {"effect": "deny", "rule": None},
            "countries": {},
            "subdivisions": {"subdivisions": ["GB-SCT"]},
        },
        {
            "change": "unsplit",
            "before": {
                "effect": "deny",
                "rule": None,
                "partial": True,
                "rest": {"effect": "deny", "rule": None},
            },
            "after": {"effect": "deny", "rule": None},
            "countries": {"split": ["GB"]},
            "subdivisions": {},
        },
    ] == last["groups"]


def test_timeline_csv(run):
    """CSV: one row per changed place; subdivisions name their country and themselves."""
    rows = list(csv.reader(io.StringIO(run(*TIMELINE, "--format", "csv"))))

    assert [
        "feature", "date", "country", "name", "change", "before_effect", "before_rule",
        "after_effect", "after_rule", "subdivision", "before_partial", "after_partial",
    ] == rows[0]  # fmt: skip
    assert [
        ["face-match", "2022-02-21", "UA", "Ukraine", "lost", "allow", "", "deny",
         "face-sanctions", "UA-09", "false", "false"],
        ["face-match", "2022-02-21", "UA", "Ukraine", "lost", "allow", "", "deny",
         "face-sanctions", "UA-14", "false", "false"],
        ["scot-pilot", "2026-06-01", "GB", "United Kingdom", "gained", "deny", "", "allow",
         "pilot-scotland", "GB-SCT", "false", "false"],
        ["scot-pilot", "2026-06-01", "GB", "United Kingdom", "split", "deny", "", "deny", "", "",
         "false", "true"],
        ["scot-pilot", "2026-10-01", "GB", "United Kingdom", "lost", "allow", "pilot-scotland",
         "deny", "", "GB-SCT", "false", "false"],
        ["scot-pilot", "2026-10-01", "GB", "United Kingdom", "unsplit", "deny", "", "deny", "",
         "", "true", "false"],
    ] == rows[1:]  # fmt: skip


# The HTML report.


class _Elements(HTMLParser):
    """Every element with data attributes, with the feature section it is in."""

    def __init__(self) -> None:
        super().__init__()
        self.feature: str | None = None
        self.found: list[tuple[str | None, str, dict[str, str | None]]] = []
        self.texts: list[tuple[str | None, str]] = []
        self._label: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "section" and "data-feature" in attributes:
            self.feature = attributes["data-feature"]
        if any(key.startswith("data-") for key in attributes):
            self.found.append((self.feature, tag, attributes))
        self._label = attributes.get("data-label") if tag == "text" else None

    def handle_data(self, data):
        if self._label is not None:
            self.texts.append((self.feature, data))
            self._label = None


@pytest.fixture(scope="module")
def page(policy):
    return render_html(audit(policy, at=ON), policy)


def test_html_marks_split_countries_with_a_pattern_and_a_label(page):
    """US and UA: a cross-hatch of their country-only colour, and a "split" label."""
    parser = _Elements()
    parser.feed(page)
    shapes = {
        (feature, attrs["data-country"]): attrs
        for feature, tag, attrs in parser.found
        if tag == "use" and "data-country" in attrs
    }

    for code in ("US", "UA"):
        attrs = shapes["face-match", code]
        assert ("deny", "true", "url(#split-deny)") == (
            attrs["data-effect"],
            attrs["data-split"],
            attrs["fill"],
        )
    assert ("allow", None, COLOURS["allow"]) == (
        shapes["face-match", "GB"]["data-effect"],
        shapes["face-match", "GB"].get("data-split"),
        shapes["face-match", "GB"]["fill"],
    )
    assert "url(#split-deny)" == shapes["scot-pilot", "GB"]["fill"]
    assert {("face-match", "UA split"), ("face-match", "US split"), ("scot-pilot", "GB split")} == (
        set(parser.texts)
    )
    assert '<pattern id="split-deny"' in page
    assert '<li data-legend="split-deny">' in page


def test_html_lists_split_countries_with_their_subdivisions(page):
    """A table per feature: each country with subdivisions, then its subdivisions' decisions."""
    parser = _Elements()
    parser.feed(page)
    rows = [
        (feature, attrs.get("data-country") or attrs.get("data-subdivision"), attrs)
        for feature, tag, attrs in parser.found
        if tag == "tr" and ("data-subdivision" in attrs or "data-split" in attrs)
    ]
    face = [
        (code, attrs["data-effect"]) for feature, code, attrs in rows if feature == "face-match"
    ]

    assert [
        ("UA", "deny"),
        *((code, "deny") for code in OCCUPIED),
        ("US", "deny"),
        ("US-IL", "deny"),
        ("US-TX", "deny"),
    ] == face
    assert [("GB", "deny"), ("GB-SCT", "allow")] == [
        (code, attrs["data-effect"]) for feature, code, attrs in rows if feature == "scot-pilot"
    ]
    section = page.split('data-feature="face-match"')[1].split("</section>")[0]
    assert (
        "<span class=badge>split</span> a request naming only US gets the feature's "
        "partial setting (deny); the rest of US is allowed by default"
    ) in section
    assert "<td>denied by rule face-bipa</td>" in section


def test_html_rule_counts_include_subdivisions(page):
    """The Decides column counts the subdivisions a rule decides."""
    decides = dict(re.findall(r'<tr data-rule="([^"]+)">.*?<td data-decides>([^<]*)</td>', page))

    assert {
        "face-bipa": "2 subdivisions",
        "face-sanctions": "4 subdivisions",
        "face-eu": "34",
        "pilot-scotland": "1 subdivision",
    } == decides


def test_html_stays_self_contained(page):
    """No scripts and no addresses: the patterns are in the page."""
    assert "<script" not in page
    assert set(re.findall(r"url\(([^)]*)\)", page)) <= {
        "#hatch-none",
        "#clip-sphere",
        "#split-allow",
        "#split-deny",
    }
    assert not re.findall(r'(?:href|src)="(?!#)([^"]*)"', page)
