"""The geogate command line: output contracts and exit codes."""

from __future__ import annotations

import json

import pytest

from geogate import Gate
from geogate.cli import ExitCode
from helpers.paths import POLICIES

AT = "2026-01-01"
FEATURE_VISION = "llama-3.2-vision"

DECISION_KEYS = [
    "feature",
    "allowed",
    "effect",
    "country",
    "subdivision",
    "domicile",
    "jurisdictions",
    "rule",
    "source",
    "citation",
    "reason",
    "error_code",
    "location",
    "explanation",
    "revision",
    "as_of",
    "location_source",
]


@pytest.fixture
def bad_policies(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "features:\n  f:\n    default: allow\n    rules:\n"
        "      - id: r\n        deny: [GER]\n        reason: x\n",
        encoding="utf-8",
    )
    return tmp_path


def test_eval_json_is_decision_to_dict(shipped_cli):
    """`eval --format json` prints exactly Decision.to_dict() and exits 0."""
    result = shipped_cli(
        "eval", "llama-3.2-vision", "--country", "FR", "--at", AT, "--format", "json"
    )

    expected = Gate.from_path(POLICIES).evaluate("llama-3.2-vision", country="FR", at=AT)
    assert ExitCode.OK == result.exit_code
    assert expected.to_dict() == json.loads(result.output)
    assert DECISION_KEYS == list(json.loads(result.output))


def test_eval_denied_still_exits_zero(shipped_cli):
    """A denial is a decision: exit 0, with the explanation on the first line."""
    result = shipped_cli("eval", "llama-3.2-vision", "--country", "FR", "--at", AT)

    assert 0 == result.exit_code
    first = result.output.splitlines()[0]
    assert first.startswith("DENIED  llama-3.2-vision is denied in FR (France, in the EU)")
    assert "  rule:          eu-multimodal-withheld" in result.output.splitlines()


def test_eval_domicile(shipped_cli):
    """--domicile reaches domicile-based features."""
    result = shipped_cli(
        "eval", "llama-3.2-vision-license", "--domicile", "DE", "--at", AT, "--format", "json"
    )

    data = json.loads(result.output)
    assert ("deny", "aup-eu-domicile", "DE") == (data["effect"], data["rule"], data["domicile"])


@pytest.mark.parametrize("command", ["eval", "explain"])
def test_a_misspelt_feature_is_a_usage_error_for_every_command(shipped_cli, command):
    """
    ``eval`` with a misspelt feature exited 0 with a FLAG_NOT_FOUND denial, while
    ``explain`` and ``audit --feature`` exited 2: a typo in a script went unnoticed.
    Every command now says what is wrong and suggests the id (exit 2); the library
    still answers FLAG_NOT_FOUND, as OpenFeature expects.
    """
    result = shipped_cli(command, "llama-3.2-visoin", "--country", "GB")

    assert ExitCode.USAGE == result.exit_code
    assert "no feature 'llama-3.2-visoin' in the policies; did you mean 'llama-3.2-vision'?" in (
        result.output
    )
    audit = shipped_cli("audit", "--feature", "llama-3.2-visoin")
    assert ExitCode.USAGE == audit.exit_code


def test_eval_bad_date_is_usage_error(shipped_cli):
    """A date that is not YYYY-MM-DD is a usage error (exit 2) without a traceback."""
    result = shipped_cli("eval", "llama-3.2-vision", "--country", "FR", "--at", "2026-02-30")

    assert ExitCode.USAGE == result.exit_code
    assert "'2026-02-30' is not a date; write YYYY-MM-DD" in result.output
    assert "Traceback" not in result.output


def test_eval_bad_policies_exit_1(shipped_cli, bad_policies):
    """Policies that do not load: diagnostics on stderr, exit 1."""
    result = shipped_cli("eval", "f", "--country", "FR", "--policies", str(bad_policies))

    assert ExitCode.FINDINGS == result.exit_code
    assert "unknown country code 'GER'" in result.output
    assert "hint: did you mean 'DE'?" in result.output


def test_eval_missing_policies_exit_3(shipped_cli, tmp_path):
    """A policy path that does not exist is an environment problem: exit 3."""
    result = shipped_cli("eval", "f", "--country", "FR", "--policies", str(tmp_path / "nope"))

    assert ExitCode.ENVIRONMENT == result.exit_code
    assert "[path-not-found]" in result.output


def test_check_clean(shipped_cli):
    """`check` on the shipped policies: no diagnostics, a summary, exit 0."""
    result = shipped_cli("check", str(POLICIES))

    assert 0 == result.exit_code
    assert result.output.startswith("2 file(s), 5 feature(s), 9 rule(s): 0 error(s), 0 warning(s)")


def test_check_errors_text(shipped_cli, bad_policies):
    """`check` prints path:line:col: error: message [code] and exits 1."""
    result = shipped_cli("check", str(bad_policies))

    assert ExitCode.FINDINGS == result.exit_code
    lines = result.output.splitlines()
    assert lines[0].endswith(
        "bad.yaml:6:16: error: unknown country code 'GER' in "
        "features.f.rules[r].deny[0] [unknown-country]"
    )
    assert "  hint: did you mean 'DE'? Codes are ISO 3166-1 alpha-2" in lines[1]


def test_check_json(shipped_cli, bad_policies):
    """`check --format json` gives the diagnostics as data."""
    result = shipped_cli("check", str(bad_policies), "--format", "json")

    data = json.loads(result.output)
    assert 1 == result.exit_code
    assert (False, 1, 0) == (data["ok"], data["errors"], data["warnings"])
    assert ["unknown-country"] == [d["code"] for d in data["diagnostics"]]
    assert (6, 16) == (data["diagnostics"][0]["line"], data["diagnostics"][0]["column"])


def test_check_strict_fails_on_warnings(shipped_cli, tmp_path):
    """--strict turns warnings into exit 1."""
    (tmp_path / "p.yaml").write_text(
        "features:\n  f:\n    default: allow\n    rules:\n"
        "      - id: r\n        deny: [FR, FR]\n        reason: x\n",
        encoding="utf-8",
    )

    assert 0 == shipped_cli("check", str(tmp_path)).exit_code
    assert 1 == shipped_cli("check", "--strict", str(tmp_path)).exit_code


def test_check_missing_path_exit_3(shipped_cli, tmp_path):
    """A missing path is exit 3."""
    assert ExitCode.ENVIRONMENT == shipped_cli("check", str(tmp_path / "missing")).exit_code


def test_jurisdictions_json(shipped_cli):
    """`jurisdictions NAME --format json` is {NAME: [CC, ...]} on the date."""
    before = json.loads(
        shipped_cli("jurisdictions", "EU", "--at", "2020-01-31", "--format", "json").output
    )
    after = json.loads(
        shipped_cli("jurisdictions", "eu", "--at", "2020-02-01", "--format", "json").output
    )

    assert ["EU"] == list(before)
    assert "GB" in before["EU"]
    assert "GB" not in after["EU"]
    assert 34 == len(after["EU"])


def test_jurisdictions_all_include_custom(shipped_cli, tmp_path):
    """Without NAME, every built-in and custom jurisdiction is listed."""
    (tmp_path / "p.yaml").write_text(
        "jurisdictions:\n  EEA-CH-UK: [EEA, CH, UK]\nfeatures: {}\n", encoding="utf-8"
    )

    result = shipped_cli(
        "jurisdictions", "--policies", str(tmp_path), "--format", "json", "--at", AT
    )

    data = json.loads(result.output)
    assert {
        "EU",
        "EEA",
        "EFTA",
        "EUROZONE",
        "SCHENGEN",
        "UK",
        "UK-CROWN-DEPENDENCIES",
        "OFAC-COMPREHENSIVE",
        "WORLD",
        "EEA-CH-UK",
    } == set(data)
    assert {"CH", "GB", "IS", "LI", "NO"} <= set(data["EEA-CH-UK"])
    assert 34 + 3 + 2 == len(data["EEA-CH-UK"])  # EU members and territories, IS LI NO, CH GB


def test_jurisdictions_of_subdivisions_built_in(shipped_cli):
    """OFAC-COMPREHENSIVE holds regions: one member a line, with its name and dates, then the
    members of other dates (the Donetsk and Luhansk oblasts joined on 2022-02-21)."""
    before = shipped_cli("jurisdictions", "OFAC-COMPREHENSIVE", "--at", "2021-06-01").output
    after = json.loads(
        shipped_cli(
            "jurisdictions", "OFAC-COMPREHENSIVE", "--at", "2026-01-01", "--format", "json"
        ).output
    )

    lines = before.splitlines()
    assert lines[0] == "OFAC-COMPREHENSIVE  (built-in, 6 on 2021-06-01)"
    assert [
        "  CU     Cuba (from 1963-07-08)",
        "  IR     Iran (from 1995-05-07)",
        "  KP     North Korea",
        "  SY     Syria (from 2011-08-17 until 2025-06-30)",
        "  UA-40  Sevastopol, Ukraine (from 2014-12-19)",
        "  UA-43  Avtonomna Respublika Krym, Ukraine (from 2014-12-19)",
        "  Members on other dates: UA-09 (from 2022-02-21), UA-14 (from 2022-02-21)",
    ] == lines[-7:]
    assert {"OFAC-COMPREHENSIVE": ["CU", "IR", "KP", "UA-09", "UA-14", "UA-40", "UA-43"]} == after


def test_jurisdictions_of_subdivisions_custom(shipped_cli, tmp_path):
    """A custom jurisdiction of regions, with dated members, from the policies."""
    (tmp_path / "p.yaml").write_text(
        "jurisdictions:\n  OCCUPIED-UA:\n    - UA-43\n    - UA-40\n"
        "    - {code: UA-14, from: 2022-02-21}\n    - {code: UA-09, from: 2022-02-21}\n"
        "features: {}\n",
        encoding="utf-8",
    )

    result = shipped_cli("jurisdictions", "occupied-ua", "--policies", str(tmp_path), "--at", AT)

    assert (
        "OCCUPIED-UA  (custom, 4 on 2026-01-01)\n"
        "  Custom jurisdiction: UA-43, UA-40, UA-14 (from 2022-02-21), UA-09 (from 2022-02-21).\n"
        "  UA-09  Luhanska oblast, Ukraine (from 2022-02-21)\n"
        "  UA-14  Donetska oblast, Ukraine (from 2022-02-21)\n"
        "  UA-40  Sevastopol, Ukraine\n"
        "  UA-43  Avtonomna Respublika Krym, Ukraine\n"
    ) == result.output


def test_jurisdictions_unknown_name(shipped_cli):
    """An unknown name is a usage error with a suggestion."""
    result = shipped_cli("jurisdictions", "EEE")

    assert ExitCode.USAGE == result.exit_code
    assert "no jurisdiction 'EEE'; did you mean" in result.output


def test_audit_json_agrees_with_eval(shipped_cli):
    """Every cell of `audit --format json` equals what `eval` decides for it."""
    data = json.loads(shipped_cli("audit", "--at", AT, "--format", "json").output)
    gate = Gate.from_path(POLICIES)

    assert gate.revision == data["revision"]
    assert AT == data["as_of"]
    assert set(gate.features) == set(data["features"])
    for fid, feature in data["features"].items():
        assert 250 == len(feature["countries"])
        for code, cell in feature["countries"].items():
            decision = gate.evaluate(fid, country=code, domicile=code, at=AT)
            assert (str(decision.effect), decision.rule) == (cell["effect"], cell["rule"])
        assert "deny" == feature["unknown"]


def test_audit_table_answers_the_question(shipped_cli):
    """The table names the features, the EU denial and the UK allowance."""
    result = shipped_cli("audit", "--at", AT, "--feature", "llama-3.2-vision")

    out = result.output
    assert 0 == result.exit_code
    assert "llama-3.2-vision" in out
    assert "DENIED by rule eu-multimodal-withheld: 34" in out
    assert (
        "    EU (34): AT AX BE BG CY CZ DE DK EE ES FI FR GF GP GR HR HU IE IT LT LU LV MF MQ MT "
        "NL PL PT RE" in out
    )
    assert "ALLOWED by rule uk-multimodal-offered: 1" in out
    assert all(len(line) <= 100 for line in out.splitlines()[1:])


def test_audit_unknown_feature(shipped_cli):
    """--feature with an unknown id is a usage error."""
    assert ExitCode.USAGE == shipped_cli("audit", "--feature", "nope").exit_code


def test_no_traceback_on_directory_of_garbage(shipped_cli, tmp_path):
    """Binary garbage in a policy directory is a diagnostic, not a traceback."""
    (tmp_path / "x.yaml").write_bytes(b"\xff\xfe\x00garbage")

    result = shipped_cli("check", str(tmp_path))

    assert 1 == result.exit_code
    assert "[file-encoding]" in result.output


@pytest.fixture
def geoip_db(tmp_path):
    from helpers.mmdb import country_record, write_country_db  # noqa: PLC0415 (test helper)

    return write_country_db(
        tmp_path / "country.mmdb",
        {
            "81.2.69.0/24": country_record("GB", registered="US"),
            "89.160.20.0/24": country_record("SE"),
        },
    )


def test_resolve_ip_json(shipped_cli, geoip_db):
    """`resolve --ip` looks the address up: country, jurisdictions, source, detail."""
    result = shipped_cli(
        "resolve", "--ip", "89.160.20.112", "--geoip-db", str(geoip_db), "--format", "json"
    )

    data = json.loads(result.output)
    assert 0 == result.exit_code
    assert ["country", "subdivision", "jurisdictions", "source", "detail"] == list(data)
    assert ("SE", None, "geoip") == (data["country"], data["subdivision"], data["source"])
    assert {"EU", "EEA"} <= set(data["jurisdictions"])


def test_resolve_trusted_header(shipped_cli):
    """A provider header counts from a trusted peer."""
    result = shipped_cli(
        "resolve",
        "--header",
        "CF-IPCountry: FR",
        "--peer",
        "10.0.0.2",
        "--trust",
        "10.0.0.0/8",
        "--provider",
        "cloudflare",
        "--format",
        "json",
    )

    data = json.loads(result.output)
    assert ("FR", "header:cloudflare") == (data["country"], data["source"])


def test_resolve_forged_header_ignored(shipped_cli):
    """The same header from an untrusted peer is ignored, and the detail says so."""
    result = shipped_cli(
        "resolve",
        "--header",
        "CF-IPCountry: FR",
        "--peer",
        "203.0.113.9",
        "--trust",
        "10.0.0.0/8",
        "--provider",
        "cloudflare",
        "--format",
        "json",
    )

    data = json.loads(result.output)
    assert (None, "unknown") == (data["country"], data["source"])
    assert "not a trusted proxy" in data["detail"]


def test_resolve_usage_errors(shipped_cli):
    """No input, a bad header, an unknown provider: usage errors (exit 2)."""
    assert ExitCode.USAGE == shipped_cli("resolve").exit_code
    assert ExitCode.USAGE == shipped_cli("resolve", "--header", "no colon").exit_code
    assert (
        ExitCode.USAGE
        == shipped_cli("resolve", "--header", "A: b", "--provider", "akamia").exit_code
    )


def test_resolve_bad_database_exit_3(shipped_cli, tmp_path):
    """A database that cannot be used is an environment problem (exit 3)."""
    result = shipped_cli("resolve", "--ip", "1.2.3.4", "--geoip-db", str(tmp_path / "missing.mmdb"))

    assert ExitCode.ENVIRONMENT == result.exit_code
    assert "does not exist" in result.output


def test_eval_by_ip(shipped_cli, geoip_db):
    """`eval --ip --geoip-db` decides on the address's country."""
    result = shipped_cli(
        "eval", FEATURE_VISION, "--ip", "81.2.69.160", "--geoip-db", str(geoip_db), "--at", AT,
        "--format", "json",
    )  # fmt: skip

    data = json.loads(result.output)
    assert (True, "GB", "geoip") == (data["allowed"], data["country"], data["location_source"])


def test_eval_ip_without_database(shipped_cli, monkeypatch):
    """`eval --ip` without a database is a usage error."""
    monkeypatch.delenv("GEOGATE_GEOIP_DB", raising=False)

    assert ExitCode.USAGE == shipped_cli("eval", FEATURE_VISION, "--ip", "81.2.69.160").exit_code


def test_each_command_is_named_after_its_command():
    """Every command is the click command ``<name>_command`` of its module, named ``<name>``."""
    import importlib  # noqa: PLC0415 (only this test needs it)

    from geogate.cli._app import _COMMANDS  # noqa: PLC0415 (only this test needs it)

    for name, target in _COMMANDS.items():
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(f"geogate.cli.{module}"), attribute)
        assert (f"{name}_command", name) == (attribute, command.name)
