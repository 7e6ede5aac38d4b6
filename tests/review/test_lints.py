"""Lints: each warning with its evidence, and none on the shipped policies."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

import pytest

from geogate import check_paths
from geogate._policy.codes import CODES, Code
from geogate._review.lints import default_since, is_placeholder, lint_policy
from helpers.paths import POLICIES, ROOT

if TYPE_CHECKING:
    from pathlib import Path

SINCE = dt.date(2025, 1, 1)
HEAD = "features:\n  chat:\n    owner: ml\n    default: allow\n    rules:\n"


def _rule(rule_id: str, kind: str, targets: str, extra: str = "", *,
          reason: str = "A reason.", source: bool = True) -> str:  # fmt: skip
    text = f"      - id: {rule_id}\n        {kind}: [{targets}]\n        reason: {reason}\n"
    if source:
        text += "        source: https://example.com\n"
    return text + extra


def _lint(tmp_path: Path, text: str, **options: object) -> list[str]:
    (tmp_path / "p.yaml").write_text(text, encoding="utf-8")
    policy, diagnostics = check_paths([tmp_path / "p.yaml"])
    assert policy is not None, diagnostics
    assert () == diagnostics  # the loader itself finds nothing: these are lints only
    return [
        f"{d.position.line}:{d.position.column} {d.severity} {d.code}: {d.message}"
        for d in lint_policy(policy, **options)  # type: ignore[arg-type]
    ]


def test_shipped_policies_are_clean():
    """No lint fires on the shipped policies, even counting rules that ended before today."""
    policy, _ = check_paths([POLICIES])
    assert policy is not None

    assert () == lint_policy(policy)
    assert ["expired-rule"] == [
        d.code for d in lint_policy(policy, expired_before=dt.date(2026, 11, 27))
    ]  # iphone-eu-withheld ended on 2025-03-30; it is history the timeline needs


def test_shadowed_rule(tmp_path):
    """An allow under a hard_deny of the same country never decides: shadowed, with evidence."""
    text = HEAD + _rule("sanctions", "hard_deny", "RU") + _rule("ru-pilot", "allow", "RU")

    assert [
        (
            "10:9 warning shadowed-rule: features.chat.rules[ru-pilot] decides no location on any "
            "date from 2025-01-01: where it applies, other rules win (for RU (Russian Federation) "
            "on every date, 'sanctions' decides)"
        )
    ] == _lint(tmp_path, text, since=SINCE)


def test_shadowed_by_a_tie(tmp_path):
    """Two equal rules that agree: ties go to the first id, so the other never decides."""
    text = HEAD + _rule("a-fr", "deny", "FR") + _rule("b-fr", "deny", "FR")

    assert [
        (
            "6:9 warning redundant-rule: features.chat.rules[a-fr] never changes an outcome from "
            "2025-01-01: wherever it decides, another rule denies too (for FR (France) on every "
            "date, 'b-fr' would decide)"
        ),
        (
            "10:9 warning shadowed-rule: features.chat.rules[b-fr] decides no location on any date "
            "from 2025-01-01: where it applies, other rules win (for FR (France) on every date, "
            "'a-fr' decides)"
        ),
    ] == _lint(tmp_path, text, since=SINCE)


def test_redundant_rule(tmp_path):
    """deny: [FR] beside deny: [EU] changes no effect from the earliest rule date on."""
    text = (
        HEAD
        + _rule("eu", "deny", "EU", "        from: 2024-01-01\n")
        + _rule("fr", "deny", "FR", "        from: 2024-06-01\n")
    )

    assert [
        (
            "11:9 warning redundant-rule: features.chat.rules[fr] never changes an outcome from "
            "2024-01-01: wherever it decides, another rule denies too (for FR (France) from "
            "2024-06-01, 'eu' would decide)"
        )
    ] == _lint(tmp_path, text)


def test_redundant_subdivision(tmp_path):
    """Subdivisions named by rules are probed too: GB-NIR inside UK."""
    text = HEAD + _rule("uk", "deny", "UK") + _rule("ni", "deny", "GB-NIR")

    assert [
        (
            "10:9 warning redundant-rule: features.chat.rules[ni] never changes an outcome from "
            "2025-01-01: wherever it decides, another rule denies too (for GB-NIR "
            "(Northern Ireland, United Kingdom) on every date, 'uk' would decide)"
        )
    ] == _lint(tmp_path, text, since=SINCE)


def test_needed_exception_is_not_redundant(tmp_path):
    """An exception that flips the broader rule somewhere changes an outcome."""
    text = (
        HEAD
        + _rule("eu", "deny", "EU")
        + _rule("ie", "allow", "IE", "        overrides: eu\n")
        + _rule("ni", "deny", "GB-NIR")
    )

    assert [] == _lint(tmp_path, text, since=SINCE)


def test_rule_restating_the_default_is_not_redundant(tmp_path):
    """deny: [CN] under default: deny gives CN's denial a reason and a source: no warning."""
    text = "features:\n  chat:\n    owner: ml\n    default: deny\n    rules:\n" + _rule(
        "cn", "deny", "CN"
    )

    assert [] == _lint(tmp_path, text, since=SINCE)


def test_horizon_leaves_out_history_before_the_first_rule_date(tmp_path):
    """Before 1958 FR was not in the EU; from the given date on, deny: [FR] is redundant."""
    text = HEAD + _rule("eu", "deny", "EU") + _rule("fr", "deny", "FR")

    assert [] == _lint(tmp_path, text, since=dt.date(1957, 1, 1))
    assert ["redundant-rule"] == [
        line.split()[2].rstrip(":") for line in _lint(tmp_path, text, since=SINCE)
    ]


def test_default_since_is_the_earliest_rule_date(tmp_path):
    """The horizon is the earliest 'from' or 'until' in the whole set."""
    (tmp_path / "p.yaml").write_text(
        HEAD
        + _rule("a", "deny", "FR", "        from: 2024-06-01\n")
        + _rule("b", "deny", "DE", "        until: 2023-12-31\n"),
        encoding="utf-8",
    )
    policy, _ = check_paths([tmp_path])
    assert policy is not None

    assert dt.date(2023, 12, 31) == default_since(policy)


def test_expired_rule_only_when_asked(tmp_path):
    """expired-rule needs a date: without one, a rule that ended is history, not a problem."""
    text = HEAD + _rule("cn", "deny", "CN", "        from: 2020-01-01\n        until: 2020-12-31\n")

    assert [] == _lint(tmp_path, text)
    assert [
        (
            "6:9 warning expired-rule: features.chat.rules[cn] ended on 2020-12-31, before "
            "2026-01-01: it last decided for CN (China) from 2020-01-01 until 2020-12-31"
        )
    ] == _lint(tmp_path, text, expired_before=dt.date(2026, 1, 1))
    assert [] == _lint(tmp_path, text, expired_before=dt.date(2020, 12, 31))


def test_empty_jurisdiction(tmp_path):
    """A jurisdiction with no member during the rule's window: the target never matches."""
    text = (
        "jurisdictions:\n  OLD-EEA: [EEA]\n"
        + HEAD
        + _rule("old", "deny", "OLD-EEA", "        until: 1990-12-31\n")
    )

    assert [
        (
            "9:16 warning empty-jurisdiction: features.chat.rules[old] names the jurisdiction "
            "'OLD-EEA', which has no member until 1990-12-31, while the rule is in force; its "
            "first member joined on 1994-01-01"
        )
    ] == _lint(tmp_path, text)


def test_empty_builtin_jurisdiction_after_the_last_member_left(tmp_path):
    """EFTA before its founding: a window that ends before any member joined."""
    text = HEAD + _rule("efta", "deny", "EFTA", "        until: 1959-12-31\n")

    assert [
        (
            "7:16 warning empty-jurisdiction: features.chat.rules[efta] names the jurisdiction "
            "'EFTA', which has no member until 1959-12-31, while the rule is in force; its first "
            "member joined on 1960-05-03"
        )
    ] == _lint(tmp_path, text)


def test_missing_texts(tmp_path):
    """No owner, a placeholder reason, no source: one warning each, at the feature or rule."""
    text = (
        "features:\n  chat:\n    default: allow\n    rules:\n"
        + _rule("a", "deny", "FR", reason="TODO", source=False)
        + _rule("b", "deny", "DE", reason="'tbd: ask legal'")
    )

    assert [
        "2:3 warning missing-owner: the feature 'chat' has no 'owner'",
        "5:9 warning missing-reason: features.chat.rules[a] has the placeholder reason 'TODO'",
        "5:9 warning missing-source: features.chat.rules[a] has no 'source' for its reason",
        (
            "8:9 warning missing-reason: features.chat.rules[b] has the placeholder reason "
            "'tbd: ask legal'"
        ),
    ] == _lint(tmp_path, text, since=SINCE)


@pytest.mark.parametrize(
    ("reason", "placeholder"),
    [
        ("TODO", True),
        ("todo: ask legal", True),
        ("TBD.", True),
        ("...", True),
        ("x", True),
        ("N/A", True),
        ("FIXME", True),
        ("Not offered in the EU.", False),
        ("Today's launch", False),
        ("Export control (ITAR).", False),
    ],
)
def test_placeholder_reasons(reason, placeholder):
    """What counts as a placeholder reason."""
    assert placeholder == is_placeholder(reason)


def test_every_lint_code_is_registered_as_a_lint():
    """The codes the lints report are the registry's lints (SARIF's rule descriptions use it)."""
    text = (ROOT / "src" / "geogate" / "_review" / "lints.py").read_text(encoding="utf-8")
    reported = {getattr(Code, name).code for name in re.findall(r"\bCode\.(\w+)", text)}
    lints = {code for code, entry in CODES.items() if entry.anchor.endswith("-lint")}

    assert lints == reported
    assert {"warning"} == {CODES[code].severity for code in lints}


# Places below the country: subdivisions named directly or through jurisdictions.

OCCUPIED = (
    "jurisdictions:\n  OCCUPIED-UA:\n    - UA-43\n    - UA-40\n"
    "    - {code: UA-14, from: 2022-02-21}\n    - {code: UA-09, from: 2022-02-21}\n"
)


def test_jurisdiction_of_subdivisions_decides_its_places(tmp_path):
    """A rule on a jurisdiction of regions decides UA-40, UA-14, UA-09 though an exception wins
    in UA-43: not shadowed (the old probes saw only UA-43, where the exception wins)."""
    text = (
        OCCUPIED
        + HEAD
        + _rule("occupied", "deny", "OCCUPIED-UA")
        + _rule("crimea", "allow", "UA-43", "        overrides: occupied\n")
    )

    assert [] == _lint(tmp_path, text, since=SINCE)


def test_redundant_under_a_jurisdiction_of_subdivisions(tmp_path):
    """deny: [OCCUPIED-UA] beside deny: [UA] changes nothing: UA denies its regions too."""
    text = OCCUPIED + HEAD + _rule("ua", "deny", "UA") + _rule("occupied", "deny", "OCCUPIED-UA")

    assert [
        (
            "16:9 warning redundant-rule: features.chat.rules[occupied] never changes an outcome "
            "from 2025-01-01: wherever it decides, another rule denies too (for UA-43 (Avtonomna "
            "Respublika Krym, Ukraine) from 2022-02-21, 'ua' would decide)"
        )
    ] == _lint(tmp_path, text, since=SINCE)


def test_expired_rule_on_a_jurisdiction_of_subdivisions(tmp_path):
    """A rule that decided only regions, and ended: expired-rule says where it last decided."""
    text = OCCUPIED + HEAD + _rule("occupied", "deny", "OCCUPIED-UA", "        until: 2023-12-31\n")

    assert [
        (
            "12:9 warning expired-rule: features.chat.rules[occupied] ended on 2023-12-31, "
            "before 2026-01-01: it last decided for UA-43 (Avtonomna Respublika Krym, Ukraine) "
            "from 2022-02-21 until 2023-12-31"
        )
    ] == _lint(tmp_path, text, expired_before=dt.date(2026, 1, 1))


def test_shadowed_subdivision_rule(tmp_path):
    """An allow for US-IL under a hard_deny of the US never decides."""
    text = HEAD + _rule("us", "hard_deny", "US") + _rule("il", "allow", "US-IL")

    assert [
        (
            "10:9 warning shadowed-rule: features.chat.rules[il] decides no location on any date "
            "from 2025-01-01: where it applies, other rules win (for US-IL (Illinois, United "
            "States) on every date, 'us' decides)"
        )
    ] == _lint(tmp_path, text, since=SINCE)


PARTIAL_ALLOW = (
    "features:\n  chat:\n    owner: ml\n    default: allow\n    partial: allow\n    rules:\n"
)


def test_hard_deny_inside_a_split_country_is_needed(tmp_path):
    """With partial: allow, the hard_deny on UA-43 is what denies a request naming only UA:
    removing it changes that decision, even though crimea would still deny UA-43 itself."""
    text = (
        PARTIAL_ALLOW
        + _rule("sanctions", "hard_deny", "UA-43")
        + _rule("crimea", "deny", "UA-43")
        + _rule("il", "deny", "US-IL")
    )

    assert [
        (
            "11:9 warning shadowed-rule: features.chat.rules[crimea] decides no location on any "
            "date from 2025-01-01: where it applies, other rules win (for UA-43 (Avtonomna "
            "Respublika Krym, Ukraine) on every date, 'sanctions' decides)"
        )
    ] == _lint(tmp_path, text, since=SINCE)


def test_partial_without_effect(tmp_path):
    """partial: allow where no place is split: the setting never decides."""
    text = PARTIAL_ALLOW + _rule("eu", "deny", "EU")

    assert [
        (
            "2:3 warning partial-without-effect: the feature 'chat' says 'partial: allow', but "
            "it never decides a request on any date from 2025-01-01: no rule decides "
            "differently inside a country (or a subdivision)"
        )
    ] == _lint(tmp_path, text, since=SINCE)


def test_partial_without_effect_under_a_hard_deny(tmp_path):
    """partial: allow where only a hard_deny splits places: those requests are denied anyway."""
    text = OCCUPIED + PARTIAL_ALLOW + _rule("sanctions", "hard_deny", "OCCUPIED-UA")

    assert [
        (
            "8:3 warning partial-without-effect: the feature 'chat' says 'partial: allow', but "
            "it never decides a request on any date from 2025-01-01: wherever a place is split, "
            "a hard_deny rule decides inside it (sanctions), so the request is denied whatever "
            "'partial' says"
        )
    ] == _lint(tmp_path, text, since=SINCE)


def test_partial_with_effect(tmp_path):
    """partial: allow where US-IL splits the US, or where a split ended after the horizon."""
    text = PARTIAL_ALLOW + _rule("il", "deny", "US-IL")
    ended = PARTIAL_ALLOW + _rule("il", "deny", "US-IL", "        until: 2025-06-30\n")

    assert [] == _lint(tmp_path, text, since=SINCE)
    assert [] == _lint(tmp_path, ended, since=SINCE)
    assert ["partial-without-effect"] == [
        line.split()[2].rstrip(":") for line in _lint(tmp_path, ended, since=dt.date(2025, 7, 1))
    ]


def test_empty_jurisdiction_of_subdivisions(tmp_path):
    """A jurisdiction whose only member, a region, joins after the rule's window ends."""
    text = (
        "jurisdictions:\n  DNR:\n    - {code: UA-14, from: 2022-02-21}\n"
        + HEAD
        + _rule("dnr", "deny", "DNR", "        until: 2021-12-31\n")
    )

    assert [
        (
            "10:16 warning empty-jurisdiction: features.chat.rules[dnr] names the jurisdiction "
            "'DNR', which has no member until 2021-12-31, while the rule is in force; its first "
            "member joined on 2022-02-21"
        )
    ] == _lint(tmp_path, text)


def test_hard_deny_that_agrees_with_the_rest_of_a_split_country_is_needed(tmp_path):
    """Default deny, a pilot in Kyiv, UA-43 hard-denied (and denied by crimea too): the
    hard_deny is what denies a request naming only UA, though UA-43 is denied like the rest
    (partial: allow decides a request naming only US)."""
    text = (
        "features:\n  chat:\n    owner: ml\n    default: deny\n    partial: allow\n    rules:\n"
        + _rule("kyiv", "allow", "UA-30")
        + _rule("sanctions", "hard_deny", "UA-43")
        + _rule("crimea", "deny", "UA-43")
        + _rule("california", "allow", "US-CA")
    )

    assert [
        (
            "15:9 warning shadowed-rule: features.chat.rules[crimea] decides no location on any "
            "date from 2025-01-01: where it applies, other rules win (for UA-43 (Avtonomna "
            "Respublika Krym, Ukraine) on every date, 'sanctions' decides)"
        )
    ] == _lint(tmp_path, text, since=SINCE)
