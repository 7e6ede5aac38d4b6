"""The audit and its timeline: formats, agreement with eval, changes over time."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys

import pytest

from geogate import Gate, load_policies
from geogate._engine.decision import short_revision
from geogate._review.audit import Cell, audit, change_dates, timeline
from geogate.cli import ExitCode
from helpers.paths import POLICIES, ROOT

IPHONE = "apple-intelligence-iphone"

SMALL = """\
features:
  chat:
    description: A chat model.
    owner: ml
    default: allow
    rules:
      - id: eu-withheld
        deny: [EU]
        reason: Not in the EU.
        source: https://example.com/eu
      - id: ie-pilot
        allow: [IE]
        overrides: eu-withheld
        reason: Pilot in Ireland.
"""

BREXIT = """\
features:
  chat:
    owner: ml
    default: allow
    rules:
      - id: eu-withheld
        deny: [EU]
        reason: Not in the EU.
        source: https://example.com/eu
"""


@pytest.fixture
def small(tmp_path):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "small.yaml").write_text(SMALL, encoding="utf-8")
    return tmp_path / "policies"


@pytest.fixture
def brexit(tmp_path):
    (tmp_path / "brexit.yaml").write_text(BREXIT, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("at", ["2019-06-01", "2024-10-28", "2025-03-30", "2026-01-01"])
def test_audit_cells_agree_with_eval(at):
    """Every cell of the audit (decided per class of countries) is what Gate.evaluate says."""
    policy = load_policies(POLICIES)
    gate = Gate(policy)

    report = audit(policy, at=dt.date.fromisoformat(at))

    for fid, fa in report.features.items():
        assert 250 == len(fa.cells)
        for code, cell in fa.cells.items():
            decision = gate.evaluate(fid, country=code, domicile=code, at=at)
            assert (str(decision.effect), decision.rule) == (cell.effect, cell.rule)
            assert decision == fa.decisions[code]


@pytest.mark.slow
def test_audit_agrees_with_eval_on_every_change_date_of_a_generated_set(tmp_path):
    """
    The benchmark's set (custom jurisdictions, one of regions with dated members,
    subdivision rules, domicile): no disagreement, subdivision cells included.
    """
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_audit import generate  # noqa: PLC0415 (the benchmark's generator)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    generate(tmp_path, 8)
    policy = load_policies(tmp_path)
    gate = Gate(policy)
    start, end = dt.date(2024, 1, 1), dt.date(2028, 1, 1)
    split = 0
    for fid in policy.features:
        for day in [start, *change_dates(policy, fid, start, end)]:
            found = audit(policy, at=day, features=[fid]).features[fid]
            places = [(code, None, cell) for code, cell in found.cells.items()]
            places += [(code[:2], code, cell) for code, cell in found.subdivisions.items()]
            for country, subdivision, cell in places:
                decision = gate.evaluate(
                    fid, country=country, subdivision=subdivision, domicile=country, at=day
                )
                assert (str(decision.effect), decision.rule) == (cell.effect, cell.rule), (
                    fid,
                    subdivision or country,
                    day,
                )
            split += len(found.split)
            if policy.features[fid].basis != "domicile":
                assert {"UA-09", "UA-14", "UA-40", "UA-43"} <= set(found.subdivisions)
    assert split


def test_audit_unknown_feature_raises():
    """Naming a feature the set does not define is a KeyError (the CLI turns it into usage)."""
    with pytest.raises(KeyError, match="nope"):
        audit(load_policies(POLICIES), features=["nope"])


def test_audit_json_contract_unchanged(shipped_cli):
    """The JSON keys and shape are the documented contract."""
    data = json.loads(shipped_cli("audit", "--at", "2026-01-01", "--format", "json").output)

    assert ["revision", "as_of", "features"] == list(data)
    cell = data["features"]["llama-3.2-vision"]
    assert ["countries", "unknown", "basis", "partial"] == list(cell)
    assert {"effect": "deny", "rule": "eu-multimodal-withheld"} == cell["countries"]["FR"]
    assert {"effect": "allow", "rule": None} == cell["countries"]["US"]
    assert ("location", "deny") == (cell["basis"], cell["partial"])
    assert "domicile" == data["features"]["llama-3.2-vision-license"]["basis"]


def test_audit_csv(shipped_cli, small):
    """CSV: a header, then one row per feature and country with name and jurisdictions."""
    result = shipped_cli("audit", "--policies", str(small), "--at", "2026-01-01", "--format", "csv")

    rows = list(csv.reader(io.StringIO(result.output)))
    assert [
        "feature", "country", "name", "effect", "rule", "jurisdictions", "subdivision",
        "subdivision_name", "partial", "rest_effect", "rest_rule",
    ] == rows[0]  # fmt: skip
    assert 1 + 250 == len(rows)
    by_code = {row[1]: row[:6] for row in rows[1:]}
    assert {("", "", "false", "", "")} == {tuple(row[6:]) for row in rows[1:]}
    assert ["chat", "FR", "France", "deny", "eu-withheld", "EUROZONE SCHENGEN EU EEA WORLD"] == (
        by_code["FR"]
    )
    assert ["chat", "IE", "Ireland", "allow", "ie-pilot", "EUROZONE EU EEA WORLD"] == by_code["IE"]
    assert ["chat", "GB", "United Kingdom", "allow", "", "UK WORLD"] == by_code["GB"]
    assert ["chat", "US", "United States", "allow", "", "WORLD"] == by_code["US"]


def test_audit_markdown(shipped_cli, small):
    """Markdown: a heading per feature, a table of groups, the rules with their sources."""
    result = shipped_cli(
        "audit", "--policies", str(small), "--at", "2026-01-01", "--format", "markdown"
    )

    revision = short_revision(load_policies(small).revision)
    eu = (
        "AT AX BE BG CY CZ DE DK EE ES FI FR GF GP GR HR HU IT LT LU LV MF MQ MT NL PL PT RE RO "
        "SE SI SK YT"
    )
    assert result.output == (
        "# Which regions get which model\n"
        "\n"
        f"As of 2026-01-01, policy `{revision}` (1 file(s), 1 feature(s)).\n"
        "\n"
        "## chat\n"
        "\n"
        "A chat model.\n"
        "\n"
        "Allowed in 217 of 250 countries and territories, denied in 33; unknown locations: "
        "deny; decided on location.\n"
        "\n"
        "| Decision | Rule | Where | Places |\n"
        "|---|---|---|---|\n"
        f"| **denied** | `eu-withheld` | EU (33) | {eu} |\n"
        "| allowed | `ie-pilot` | countries (1) | IE |\n"
        "| allowed | default | EFTA (4) | CH IS LI NO |\n"
        "| allowed | default | OFAC-COMPREHENSIVE (3) | CU IR KP |\n"
        "| allowed | default | UK-CROWN-DEPENDENCIES (3) | GG IM JE |\n"
        "| allowed | default | UK (1) | GB |\n"
        "| allowed | default | elsewhere (205) | every other country and territory "
        "(all not listed above) |\n"
        "\n"
        "Rules:\n"
        "\n"
        "- `eu-withheld` (deny): Not in the EU. [source](https://example.com/eu)\n"
        "- `ie-pilot` (allow): Pilot in Ireland.\n"
    )


def test_audit_output_file(shipped_cli, small, tmp_path):
    """--output writes the same text to a file (no colour) and nothing to stdout."""
    target = tmp_path / "out" / "audit.json"
    target.parent.mkdir()

    result = shipped_cli(
        "audit", "--policies", str(small), "--at", "2026-01-01", "--format", "json",
        "--output", str(target),
    )  # fmt: skip
    table = tmp_path / "out" / "audit.txt"
    shipped_cli("audit", "--policies", str(small), "--at", "2026-01-01", "--output", str(table))

    assert ("", 0) == (result.output, result.exit_code)
    assert "2026-01-01" == json.loads(target.read_text(encoding="utf-8"))["as_of"]
    assert "\x1b[" not in table.read_text(encoding="utf-8")
    assert "DENIED by rule eu-withheld: 33" in table.read_text(encoding="utf-8")


def test_audit_html_calls_the_renderer(shipped_cli, small, tmp_path, monkeypatch):
    """--format html hands the audit and the policy set to geogate._review.html.render_html."""
    import types  # noqa: PLC0415

    seen = {}

    def render_html(report, policy):
        seen["args"] = (report.as_of, policy.revision)
        return "<!doctype html><title>audit</title>\n"

    monkeypatch.setitem(
        sys.modules, "geogate._review.html", types.SimpleNamespace(render_html=render_html)
    )
    target = tmp_path / "report.html"

    stdout = shipped_cli(
        "audit", "--policies", str(small), "--at", "2026-01-01", "--format", "html"
    )
    shipped_cli("audit", "--policies", str(small), "--at", "2026-01-01", "--format", "html",
        "--output", str(target))  # fmt: skip

    assert "<!doctype html><title>audit</title>\n" == stdout.output
    assert "<!doctype html><title>audit</title>\n" == target.read_text(encoding="utf-8")
    assert (dt.date(2026, 1, 1), load_policies(small).revision) == seen["args"]


def test_timeline_iphone():
    """Apple Intelligence on iPhone: the launch (all but the EU and CN), then EU iPhones."""
    found = timeline(
        load_policies(POLICIES), dt.date(2024, 1, 1), dt.date(2026, 1, 1), features=[IPHONE]
    )

    ft = found.features[IPHONE]
    assert 0 == ft.allowed_at_start
    assert [dt.date(2024, 10, 28), dt.date(2025, 3, 31)] == [c.day for c in ft.changes]
    launch, eu = ft.changes
    assert (("iphone-launch",), ()) == (launch.started, launch.ended)
    (group,) = launch.groups
    assert ("gained", Cell("deny", None), Cell("allow", "iphone-launch")) == (
        group.change,
        group.before,
        group.after,
    )
    assert 250 - 34 - 1 == len(group.countries)
    assert "CN" not in group.countries
    assert ((), ("iphone-eu-withheld",)) == (eu.started, eu.ended)
    (group,) = eu.groups
    assert "gained" == group.change
    assert ("iphone-eu-withheld", "iphone-launch") == (group.before.rule, group.after.rule)
    assert [("EU", 34)] == [(label, len(codes)) for label, codes in group.by_jurisdiction]


def test_timeline_uk_leaves_the_eu(brexit):
    """A deny: [EU] rule across 2020: GB and GI gain access on 2020-02-01, and why."""
    found = timeline(load_policies(brexit), dt.date(2019, 1, 1), dt.date(2021, 1, 1))

    (change,) = found.features["chat"].changes
    assert dt.date(2020, 2, 1) == change.day
    assert (("EU", (), ("GB", "GI")),) == change.membership
    (group,) = change.groups
    assert ("gained", (("EU", ("GB", "GI")),)) == (group.change, group.by_jurisdiction)
    assert {
        "GB": (Cell("deny", "eu-withheld"), Cell("allow", None)),
        "GI": (Cell("deny", "eu-withheld"), Cell("allow", None)),
    } == dict(change.cells)


def test_timeline_reports_only_real_changes(tmp_path):
    """A candidate day on which no decision changes (a window that hands over) is left out."""
    (tmp_path / "p.yaml").write_text(
        "features:\n  f:\n    default: allow\n    rules:\n"
        "      - id: a\n        deny: [FR]\n        until: 2024-12-31\n        reason: A.\n"
        "      - id: b\n        deny: [DE]\n        from: 2025-06-01\n        reason: B.\n",
        encoding="utf-8",
    )
    policy = load_policies(tmp_path)

    found = timeline(policy, dt.date(2024, 1, 1), dt.date(2026, 1, 1))

    assert [dt.date(2025, 1, 1), dt.date(2025, 6, 1)] == [
        c.day for c in found.features["f"].changes
    ]
    assert [dt.date(2025, 1, 1), dt.date(2025, 6, 1)] == change_dates(
        policy, "f", dt.date(2024, 1, 1), dt.date(2026, 1, 1)
    )


def test_timeline_rule_change_without_effect_change(tmp_path):
    """The same effect by another rule is a change of kind 'rule'."""
    (tmp_path / "p.yaml").write_text(
        "features:\n  f:\n    default: allow\n    rules:\n"
        "      - id: launch\n        allow: [WORLD]\n        from: 2025-01-01\n"
        "        reason: Launch.\n",
        encoding="utf-8",
    )

    found = timeline(load_policies(tmp_path), dt.date(2024, 1, 1), dt.date(2026, 1, 1))

    (change,) = found.features["f"].changes
    assert ["rule"] == [g.change for g in change.groups]
    assert 250 == len(change.cells)


def test_timeline_cli_json(shipped_cli, brexit):
    """--timeline --format json: the changes as data."""
    result = shipped_cli(
        "audit", "--policies", str(brexit), "--timeline", "--from", "2019-01-01",
        "--to", "2021-01-01", "--format", "json",
    )  # fmt: skip

    data = json.loads(result.output)
    assert ["revision", "from", "to", "features"] == list(data)
    feature = data["features"]["chat"]
    assert (214, [], []) == (
        feature["allowed_at_start"],
        feature["split_at_start"],
        feature["subdivisions"],
    )
    (change,) = feature["changes"]
    assert {
        "date": "2020-02-01",
        "rules_started": [],
        "rules_ended": [],
        "membership": [{"jurisdiction": "EU", "joined": [], "left": ["GB", "GI"]}],
        "countries": {
            "GB": {
                "before": {"effect": "deny", "rule": "eu-withheld"},
                "after": {"effect": "allow", "rule": None},
            },
            "GI": {
                "before": {"effect": "deny", "rule": "eu-withheld"},
                "after": {"effect": "allow", "rule": None},
            },
        },
        "subdivisions": {},
        "groups": [
            {
                "change": "gained",
                "before": {"effect": "deny", "rule": "eu-withheld"},
                "after": {"effect": "allow", "rule": None},
                "countries": {"EU": ["GB", "GI"]},
                "subdivisions": {},
            }
        ],
    } == change


def test_timeline_cli_text(shipped_cli, brexit):
    """The text timeline says when, why and who."""
    result = shipped_cli(
        "audit", "--policies", str(brexit), "--timeline", "--from", "2019-01-01",
        "--to", "2021-01-01",
    )  # fmt: skip

    lines = result.output.splitlines()
    assert lines[2:] == [
        "chat",
        "  on 2019-01-01: allowed in 214 of 250 countries and territories",
        "  2020-02-01: GB GI left EU",
        "    2 gain access (deny by rule eu-withheld -> allow by the default)",
        "      EU (2): GB GI",
    ]


def test_timeline_cli_markdown_and_csv(shipped_cli, brexit):
    """Markdown lists each day; CSV has one row per changed country."""
    args = ("audit", "--policies", str(brexit), "--timeline", "--from", "2019-01-01",
            "--to", "2021-01-01")  # fmt: skip

    markdown = shipped_cli(*args, "--format", "markdown").output
    rows = list(csv.reader(io.StringIO(shipped_cli(*args, "--format", "csv").output)))

    assert "- **2020-02-01** (GB GI left EU)\n" in markdown
    assert (
        "  - 2 gain access (deny by rule eu-withheld -> allow by the default): EU (2): GB GI\n"
        in markdown
    )
    assert [
        "chat", "2020-02-01", "GB", "United Kingdom", "gained", "deny", "eu-withheld", "allow", "",
        "", "false", "false",
    ] == rows[1]  # fmt: skip
    assert 3 == len(rows)


def test_timeline_no_change(shipped_cli, small):
    """A range without any change says so."""
    result = shipped_cli(
        "audit", "--policies", str(small), "--timeline", "--from", "2025-01-01",
        "--to", "2025-06-01",
    )  # fmt: skip

    assert "  no change after 2025-01-01 until 2025-06-01" in result.output.splitlines()


def test_timeline_default_range_is_the_last_year(shipped_cli, small):
    """Without --from and --to, the year up to today."""
    result = shipped_cli("audit", "--policies", str(small), "--timeline", "--format", "json")

    data = json.loads(result.output)
    end = dt.date.fromisoformat(data["to"])
    assert dt.datetime.now(dt.UTC).date() == end
    start = dt.date.fromisoformat(data["from"])
    assert (end.year - 1, end.month) == (start.year, start.month)
    assert end.day == start.day or (2, 29, 28) == (end.month, end.day, start.day)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2024-01-01"), "--from and --to need --timeline"),
        (("--timeline", "--at", "2024-01-01"), "--at and --timeline exclude each other"),
        (("--timeline", "--format", "html"), "--timeline has no html format"),
        (("--timeline", "--from", "2025-01-01", "--to", "2024-01-01"), "must be before --to"),
    ],
)
def test_timeline_usage_errors(shipped_cli, args, message):
    """Contradictory options are usage errors (exit 2) that say what to do."""
    result = shipped_cli("audit", *args)

    assert ExitCode.USAGE == result.exit_code
    assert message in result.output
