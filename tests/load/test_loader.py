# ruff: noqa: E501 (the pinned diagnostics are compared in full, one line each)
"""
The loader's diagnostics, pinned in full for a corpus of bad policy files.

Each entry of ``tests/data/bad`` (a file, or a folder for problems that span
files) holds one problem, except ``several-*`` which prove that every problem
is collected, not only the first. The diagnostics are run with the corpus as
the working directory, so the paths read as a user would see them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shutil
import time
from pathlib import Path

import pytest

import geogate._load.loader
from geogate import PolicyError, TargetKind, check_paths, load_policies
from helpers.paths import BAD, GOOD, POLICIES, ROOT

SHIPPED = POLICIES

#: Every corpus entry -> its diagnostics, as `str(diagnostic)` joined by newlines.
EXPECTED: dict[str, str] = {
    "ambiguous-rules.yaml": r"""
ambiguous-rules.yaml:9:9: error: rules 'eea-withheld' and 'efta-offered' of 'chat' disagree for IS (Iceland) from 2025-01-01, and neither is more specific than the other [ambiguous-rules]
  hint: add a rule for the overlap (a country beats any jurisdiction), or narrow one rule so that its jurisdiction is a strict subset of the other's
""",
    "cascade-jurisdiction.yaml": r"""
cascade-jurisdiction.yaml:2:18: error: unknown country code 'SUI' in jurisdictions.DACH[2] [unknown-country]
  hint: did you mean 'CH'? Codes are ISO 3166-1 alpha-2; `geogate jurisdictions` lists the names.
""",
    "complex-key.yaml": r"""
complex-key.yaml:4:5: error: a mapping key must be a plain string, not a list or a mapping [complex-key]
  hint: write the key as a string
""",
    "control-character.yaml": r"""
control-character.yaml:4:24: error: the file holds the character U+0007 ('\x07'), which YAML does not allow [file-encoding]
  hint: remove it: control characters are invisible in a review
""",
    "invisible-line-break-cr.yaml": r"""
invisible-line-break-cr.yaml:6:40: error: the file holds a carriage return (U+000D) with no line feed after it, a line break to YAML that git diff, grep and review tools do not show; YAML reads what follows it as a new line: 'until: 2000-01-01' [invisible-line-break]
  hint: save the file with LF (or CRLF) line endings, and remove the character; in a JSON or quoted string, write it as an escape (\u2028)
""",
    "invisible-line-break-unicode.yaml": r"""
invisible-line-break-unicode.yaml:4:24: error: the file holds a LINE SEPARATOR (U+2028), a line break to YAML that git diff, grep and review tools do not show; YAML reads what follows it as a new line: 'unknown: allow' [invisible-line-break]
  hint: save the file with LF (or CRLF) line endings, and remove the character; in a JSON or quoted string, write it as an escape (\u2028)
invisible-line-break-unicode.yaml:8:26: error: the file holds a NEXT LINE character (U+0085), a line break to YAML that git diff, grep and review tools do not show; YAML reads what follows it as a new line: 'in the EU."' [invisible-line-break]
  hint: save the file with LF (or CRLF) line endings, and remove the character; in a JSON or quoted string, write it as an escape (\u2028)
""",
    "invisible-line-break.json": r"""
invisible-line-break.json:1:102: error: the file holds a PARAGRAPH SEPARATOR (U+2029), a line break to YAML that git diff, grep and review tools do not show; YAML reads what follows it as a new line: 'in the EU."}]}}}' [invisible-line-break]
  hint: save the file with LF (or CRLF) line endings, and remove the character; in a JSON or quoted string, write it as an escape (\u2028)
""",
    "part-of-country.yaml": r"""
part-of-country.yaml:6:17: error: 'IC' in features.canary-only.rules[canaries].allow[0] is not an ISO 3166-1 code: it names the Canary Islands, part of 'ES' (ISO 3166-1 exceptionally reserved code; Unicode CLDR region code) [part-of-country]
  hint: write 'ES-CN'; geogate reads 'IC' in a request as 'ES-CN'
part-of-country.yaml:6:21: error: 'xi' in features.canary-only.rules[canaries].allow[1] is not an ISO 3166-1 code: it names Northern Ireland, part of 'GB' (UK VAT and EORI prefix (HMRC, Windsor Framework)) [part-of-country]
  hint: write 'GB-NIR'; geogate reads 'XI' in a request as 'GB-NIR'
""",
    "duplicate-feature": r"""
duplicate-feature/b.yaml:4:3: error: the feature 'chat' is defined twice (first at duplicate-feature/a.yaml:2:3) [duplicate-feature]
  hint: feature ids are unique across all policy files; rename or merge one
""",
    "duplicate-jurisdiction": r"""
duplicate-jurisdiction/b.yaml:2:3: error: the jurisdiction 'DACH' is defined twice (first at duplicate-jurisdiction/a.yaml:2:3) [duplicate-jurisdiction]
  hint: keep one definition
""",
    "duplicate-key-feature.yaml": r"""
duplicate-key-feature.yaml:5:5: error: duplicate key 'default' (first defined at line 3) [duplicate-key]
  hint: YAML keeps only the last of duplicate keys; remove one or merge them
""",
    "duplicate-key-rule.yaml": r"""
duplicate-key-rule.yaml:8:9: error: duplicate key 'deny' (first defined at line 6) [duplicate-key]
  hint: YAML keeps only the last of duplicate keys; remove one or merge them
""",
    "duplicate-key-top.yaml": r"""
duplicate-key-top.yaml:4:1: error: duplicate key 'features' (first defined at line 1) [duplicate-key]
  hint: YAML keeps only the last of duplicate keys; remove one or merge them
""",
    "duplicate-rule": r"""
duplicate-rule/b.yaml:5:9: error: the rule id 'eu' is used twice (first at duplicate-rule/a.yaml:5:9) [duplicate-rule]
  hint: rule ids are unique across all policy files, so a decision names exactly one rule
""",
    "duplicate-rule-same-feature.yaml": r"""
duplicate-rule-same-feature.yaml:8:9: error: the rule id 'eu' is used twice (first at duplicate-rule-same-feature.yaml:5:9) [duplicate-rule]
  hint: rule ids are unique across all policy files, so a decision names exactly one rule
""",
    "duplicate-target.yaml": r"""
duplicate-target.yaml:6:24: warning: 'CH' appears twice in features.chat.rules[eu-withheld].deny [duplicate-target]
  hint: remove the second one
""",
    "empty-file-comment.yaml": r"""
empty-file-comment.yaml:1:1: warning: the file is empty (it holds no document, only white space or comments) [empty-file]
  hint: delete it, or add 'features:'
""",
    "empty-file.yaml": r"""
empty-file.yaml:1:1: warning: the file is empty (it holds no document, only white space or comments) [empty-file]
  hint: delete it, or add 'features:'
""",
    "empty-targets.yaml": r"""
empty-targets.yaml:6:15: error: features.chat.rules[eu].deny is empty [empty-targets]
  hint: list at least one country, subdivision or jurisdiction
""",
    "empty-value.yaml": r"""
empty-value.yaml:7:17: error: features.chat.rules[eu].reason is empty [empty-value]
""",
    "file-encoding.yaml": r"""
file-encoding.yaml:3:21: error: the file is not valid UTF-8: byte 0xe9 cannot start or continue a character [file-encoding]
  hint: save the file as UTF-8
""",
    "invalid-basis.yaml": r"""
invalid-basis.yaml:4:12: error: features.chat.basis must be one of location, domicile, location+domicile; got the string 'ip' [invalid-basis]
""",
    "invalid-date-datetime.yaml": r"""
invalid-date-datetime.yaml:7:15: error: features.chat.rules[eu].from must be a date without a time; got '2026-01-01T09:00:00Z' [invalid-date]
  hint: write YYYY-MM-DD; windows start and end on whole days (UTC)
""",
    "invalid-date-feb30.yaml": r"""
invalid-date-feb30.yaml:7:15: error: features.chat.rules[eu].from is not a day of the calendar: '2026-02-30' (day is out of range for month) [invalid-date]
  hint: check the month and the day
""",
    "invalid-date-quoted.yaml": r"""
invalid-date-quoted.yaml:7:16: error: features.chat.rules[eu].until is not a day of the calendar: '2026-13-01' (month must be in 1..12) [invalid-date]
  hint: check the month and the day
""",
    "invalid-date-string.yaml": r"""
invalid-date-string.yaml:7:16: error: features.chat.rules[eu].until must be a date written YYYY-MM-DD; got the string 'next spring' [invalid-date]
""",
    "invalid-default.yaml": r"""
invalid-default.yaml:3:14: error: features.chat.default must be one of allow, deny; got the string 'alow' [invalid-default]
  hint: did you mean 'allow'?
""",
    "invalid-id-feature.yaml": r"""
invalid-id-feature.yaml:2:3: error: 'chat bot' is not a valid id for a feature [invalid-id]
  hint: use letters, digits, '.', '_' and '-', starting with a letter or digit (at most 128 characters)
invalid-id-feature.yaml:6:20: error: unknown country code 'GER' in features.chat bot.rules[eu].deny[1] [unknown-country]
  hint: did you mean 'DE'? Codes are ISO 3166-1 alpha-2; `geogate jurisdictions` lists the names.
""",
    "invalid-id-rule.yaml": r"""
invalid-id-rule.yaml:5:13: error: '-eu' is not a valid id for features.chat.rules[0].id [invalid-id]
  hint: use letters, digits, '.', '_' and '-', starting with a letter or digit (at most 128 characters)
""",
    "invalid-jurisdiction-name.yaml": r"""
invalid-jurisdiction-name.yaml:2:3: error: 'dach' is not a valid jurisdiction name [invalid-jurisdiction-name]
  hint: use 3 to 64 upper-case letters, digits and single hyphens, starting with a letter (for example EEA-CH-UK)
invalid-jurisdiction-name.yaml:3:3: error: 'DE' is not a valid jurisdiction name [invalid-jurisdiction-name]
  hint: use 3 to 64 upper-case letters, digits and single hyphens, starting with a letter (for example EEA-CH-UK)
invalid-jurisdiction-name.yaml:4:3: error: 'GB-NIR' is an ISO 3166-2 subdivision code, so it cannot name a jurisdiction [invalid-jurisdiction-name]
  hint: choose a name that is not a country or subdivision code
""",
    "invalid-unknown.yaml": r"""
invalid-unknown.yaml:4:14: error: features.chat.unknown must be one of allow, deny; got the string 'maybe' [invalid-unknown]
""",
    "invalid-partial.yaml": r"""
invalid-partial.yaml:4:14: error: features.face-match.partial must be one of allow, deny; got the boolean 'yes' [invalid-partial]
  hint: YAML reads an unquoted 'yes' as a boolean; write one of allow, deny
""",
    "jurisdiction-member-window.yaml": r"""
jurisdiction-member-window.yaml:4:46: error: jurisdictions.OCCUPIED-UA[1] ends (2014-12-19) before it starts (2022-02-21) [window-order]
  hint: 'from' and 'until' are both inclusive; swap them or fix the dates
jurisdiction-member-window.yaml:5:21: error: unknown key 'since' in jurisdictions.OCCUPIED-UA[2] [unknown-key]
  hint: allowed keys here: code, from, until
""",
    "json-duplicate-key.json": r"""
json-duplicate-key.json:5:7: error: duplicate key 'default' (first defined at line 4) [duplicate-key]
  hint: YAML keeps only the last of duplicate keys; remove one or merge them
""",
    "json-syntax.json": r"""
json-syntax.json:3:32: error: invalid JSON: Illegal trailing comma before end of object [json-syntax]
""",
    "json-unknown-country.json": r"""
json-unknown-country.json:6:36: error: unknown country code 'GER' in features.chat.rules[germany].deny[0] [unknown-country]
  hint: did you mean 'DE'? Codes are ISO 3166-1 alpha-2; `geogate jurisdictions` lists the names.
""",
    "jurisdiction-cycle.yaml": r"""
jurisdiction-cycle.yaml:2:3: error: the jurisdiction 'NORTH' contains itself: NORTH -> SOUTH -> NORTH [jurisdiction-cycle]
  hint: a jurisdiction may list others, but not in a circle
""",
    "jurisdiction-redefined.yaml": r"""
jurisdiction-redefined.yaml:2:3: error: jurisdictions.EU redefines the built-in jurisdiction 'EU' [jurisdiction-redefined]
  hint: choose another name; built-in jurisdictions cannot change
""",
    "missing-key-default.yaml": r"""
missing-key-default.yaml:3:5: error: features.chat has no 'default' [missing-key]
  hint: add 'default:'
""",
    "missing-key-id.yaml": r"""
missing-key-id.yaml:5:9: error: features.chat.rules[0] has no 'id' [missing-key]
  hint: add 'id:'
""",
    "missing-key-reason.yaml": r"""
missing-key-reason.yaml:5:9: error: features.chat.rules[eu] has no 'reason' [missing-key]
  hint: add 'reason:'
""",
    "multiple-documents.yaml": r"""
multiple-documents.yaml:4:1: error: invalid YAML: expected a single document in the stream, but found another document [yaml-syntax]
  hint: put one document in each file (no '---' between documents)
""",
    "no-policy-files": r"""
no-policy-files:1:1: error: 'no-policy-files' holds no policy files (*.yaml, *.yml, *.json) [no-policy-files]
  hint: a policy set needs at least one file with 'features:'
""",
    "norway-default.yaml": r"""
norway-default.yaml:3:14: error: features.chat.default must be one of allow, deny; got the boolean 'no' [invalid-default]
  hint: YAML reads an unquoted 'no' as a boolean; write one of allow, deny
norway-default.yaml:4:14: error: features.chat.unknown must be one of allow, deny; got the boolean 'yes' [invalid-unknown]
  hint: YAML reads an unquoted 'yes' as a boolean; write one of allow, deny
""",
    "override-hard-deny.yaml": r"""
override-hard-deny.yaml:8:9: error: features.chat.rules[ru-research] overrides the hard_deny rule 'sanctions'; nothing overrides a hard_deny [override-hard-deny]
  hint: make the broader rule a plain 'deny' if exceptions are allowed
""",
    "override-without-effect.yaml": r"""
override-without-effect.yaml:8:9: warning: features.chat.rules[us-offered] declares 'overrides: eu-withheld', but there is no place and date where it decides against 'eu-withheld' [override-without-effect]
  hint: remove the declaration, or check the targets and dates of both rules
""",
    "rule-kind-none.yaml": r"""
rule-kind-none.yaml:5:9: error: features.chat.rules[eu] must have exactly one of allow, deny, hard_deny; it has none [rule-kind]
  hint: add 'allow:', 'deny:' or 'hard_deny:' with the places it applies to
""",
    "rule-kind-two.yaml": r"""
rule-kind-two.yaml:5:9: error: features.chat.rules[eu] must have exactly one of allow, deny, hard_deny; it has allow, deny [rule-kind]
  hint: split it into one rule per effect
""",
    "self-override.yaml": r"""
self-override.yaml:5:9: error: features.chat.rules[eu-withheld] declares that it overrides itself [self-override]
  hint: name the broader rule it overrides, or remove 'overrides:'
""",
    "several-files": r"""
several-files/b.json:1:15: error: the feature 'chat' is defined twice (first at several-files/a.yaml:2:3) [duplicate-feature]
  hint: feature ids are unique across all policy files; rename or merge one
several-files/b.json:1:85: error: the rule id 'eu' is used twice (first at several-files/a.yaml:5:9) [duplicate-rule]
  hint: rule ids are unique across all policy files, so a decision names exactly one rule
several-files/c.yaml:2:1: error: invalid YAML: found character '\t' that cannot start any token [yaml-syntax]
  hint: indent with spaces, not tabs
""",
    "several-problems.yaml": r"""
several-problems.yaml:4:12: error: features.chat.owner must be a string, not a list [wrong-type]
several-problems.yaml:7:20: error: unknown country code 'GER' in features.chat.rules[eu-withheld].deny[1] [unknown-country]
  hint: did you mean 'DE'? Codes are ISO 3166-1 alpha-2; `geogate jurisdictions` lists the names.
several-problems.yaml:7:25: error: 'XX' in features.chat.rules[eu-withheld].deny[2] means an unknown location, which no rule can target [unknown-location-target]
  hint: say what happens to unknown locations with the feature's 'unknown:' setting (allow or deny; deny when absent)
several-problems.yaml:9:15: error: features.chat.rules[eu-withheld].from is not a day of the calendar: '2026-02-30' (day is out of range for month) [invalid-date]
  hint: check the month and the day
several-problems.yaml:10:9: error: features.chat.rules[ie-pilot] has no 'reason' [missing-key]
  hint: add 'reason:'
several-problems.yaml:14:5: error: features.search has no 'default' [missing-key]
  hint: add 'default:'
several-problems.yaml:14:5: error: unknown key 'defualt' in features.search [unknown-key]
  hint: did you mean 'default'?
""",
    "subdivision-domicile.yaml": r"""
subdivision-domicile.yaml:7:16: error: features.licence.rules[ni] targets the subdivision 'GB-NIR', but 'licence' is decided on domicile, which is a country [subdivision-domicile]
  hint: use country codes and jurisdictions, or 'basis: location'
""",
    "subdivision-has-country-code.yaml": r"""
subdivision-has-country-code.yaml:6:16: error: 'FR-974' (La Réunion) in features.chat.rules[reunion].deny[0] has its own ISO 3166-1 code 'RE' [subdivision-has-country-code]
  hint: write 'RE': locations there are reported as RE, not as FR
""",
    "too-deep.yaml": r"""
too-deep.yaml:3:73: error: the document nests deeper than 64 levels [too-deep]
  hint: policy files need only a few levels: features, rules, targets
""",
    "too-large.yaml": r"""
too-large.yaml:6:4: error: the document expands to more than 2,000,000 values (aliases included) [too-large]
  hint: split the policies into several files, and do not nest aliases
""",
    "too-long.yaml": r"""
too-long.yaml:4:18: error: features.chat.description is 5,000 characters long; the limit is 4,096 [too-long]
""",
    "undeclared-override.yaml": r"""
undeclared-override.yaml:9:9: warning: features.chat.rules[ie-pilot] (allow) overrides the broader rule 'eu-withheld' (deny) for IE (Ireland) from 2025-01-01 without declaring it [undeclared-override]
  hint: add 'overrides: eu-withheld' to make the exception explicit for reviewers
""",
    "unknown-country.yaml": r"""
unknown-country.yaml:6:16: error: unknown country code 'GER' in features.chat.rules[germany].deny[0] [unknown-country]
  hint: did you mean 'DE'? Codes are ISO 3166-1 alpha-2; `geogate jurisdictions` lists the names.
""",
    "unknown-jurisdiction.yaml": r"""
unknown-jurisdiction.yaml:6:16: error: unknown jurisdiction 'EEAA' in features.chat.rules[eea].deny[0] [unknown-jurisdiction]
  hint: did you mean 'EEA'? Define it under 'jurisdictions:', or use ISO country and subdivision codes; `geogate jurisdictions` lists the names.
""",
    "unknown-key-top.yaml": r"""
unknown-key-top.yaml:1:1: error: unknown key 'feature' in the top level [unknown-key]
  hint: did you mean 'features'?
""",
    "unknown-key.yaml": r"""
unknown-key.yaml:4:5: error: unknown key 'descripton' in features.chat [unknown-key]
  hint: did you mean 'description'?
unknown-key.yaml:9:9: error: unknown key 'sorce' in features.chat.rules[eu] [unknown-key]
  hint: did you mean 'source'?
""",
    "unknown-location-target.yaml": r"""
unknown-location-target.yaml:6:16: error: 'XX' in features.chat.rules[unknown].deny[0] means an unknown location, which no rule can target [unknown-location-target]
  hint: say what happens to unknown locations with the feature's 'unknown:' setting (allow or deny; deny when absent)
""",
    "unknown-rule.yaml": r"""
unknown-rule.yaml:8:9: error: features.chat.rules[ie-pilot] overrides 'eu-witheld', which is not a rule of 'chat' [unknown-rule]
  hint: did you mean 'eu-withheld'?
""",
    "unknown-subdivision.yaml": r"""
unknown-subdivision.yaml:6:16: error: unknown subdivision code 'GB-SCO' in features.chat.rules[scotland].deny[0] [unknown-subdivision]
  hint: did you mean 'GB-SCT' (Scotland)?
""",
    "window-order.yaml": r"""
window-order.yaml:8:16: error: features.chat.rules[eu] ends (2026-01-01) before it starts (2026-06-30) [window-order]
  hint: 'from' and 'until' are both inclusive; swap them or fix the dates
""",
    "wrong-type-features.yaml": r"""
wrong-type-features.yaml:2:3: error: features must be a mapping, not a list [wrong-type]
""",
    "wrong-type-reason.yaml": r"""
wrong-type-reason.yaml:7:17: error: features.chat.rules[eu].reason must be a string, not the number '42' [wrong-type]
""",
    "wrong-type-rules.yaml": r"""
wrong-type-rules.yaml:5:7: error: features.chat.rules must be a list, not a mapping [wrong-type]
""",
    "wrong-type-targets.yaml": r"""
wrong-type-targets.yaml:6:15: error: features.chat.rules[eu].deny must be a list, not the string 'EU' [wrong-type]
""",
    "yaml-merge-key.yaml": r"""
yaml-merge-key.yaml:6:5: error: merge keys ('<<') are not supported in policy files [yaml-merge-key]
  hint: write the keys out, so a reviewer sees every value
""",
    "yaml-syntax.yaml": r"""
yaml-syntax.yaml:5:1: error: invalid YAML: found unexpected end of stream (while scanning a quoted scalar that starts at line 4, column 18) [yaml-syntax]
""",
    "yaml-tab.yaml": r"""
yaml-tab.yaml:3:1: error: invalid YAML: found character '\t' that cannot start any token [yaml-syntax]
  hint: indent with spaces, not tabs
""",
    "yaml-tag-binary.yaml": r"""
yaml-tag-binary.yaml:4:18: error: the YAML tag '!!binary' is not allowed in policy files [yaml-tag]
  hint: use plain strings, numbers, dates, lists and mappings; tags that construct objects are never loaded
""",
    "yaml-tag-custom.yaml": r"""
yaml-tag-custom.yaml:3:14: error: the YAML tag '!foo' is not allowed in policy files [yaml-tag]
  hint: use plain strings, numbers, dates, lists and mappings; tags that construct objects are never loaded
""",
    "yaml-tag-python.yaml": r"""
yaml-tag-python.yaml:4:18: error: the YAML tag '!!python/object/apply:os.system' is not allowed in policy files [yaml-tag]
  hint: use plain strings, numbers, dates, lists and mappings; tags that construct objects are never loaded
""",
    "yaml-tag-set.yaml": r"""
yaml-tag-set.yaml:4:11: error: the YAML tag '!!set' is not allowed in policy files [yaml-tag]
  hint: use plain strings, numbers, dates, lists and mappings; tags that construct objects are never loaded
""",
}

#: Cases that load (their diagnostics are warnings only).
WARNINGS_ONLY = {
    "duplicate-target.yaml",
    "empty-file.yaml",
    "empty-file-comment.yaml",
    "override-without-effect.yaml",
    "undeclared-override.yaml",
}


@pytest.fixture
def in_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in the corpus, so that diagnostics show the paths as a user would type them."""
    monkeypatch.chdir(BAD)


def _text(diagnostics: object) -> str:
    assert isinstance(diagnostics, tuple)
    return "\n".join(str(d) for d in diagnostics)


def test_every_corpus_entry_is_pinned() -> None:
    """The corpus and the table of expected diagnostics name the same cases."""
    assert sorted(EXPECTED) == sorted(p.name for p in BAD.iterdir())


@pytest.mark.parametrize("case", sorted(EXPECTED))
@pytest.mark.usefixtures("in_corpus")
def test_diagnostics(case: str) -> None:
    """Each bad file gives exactly the pinned diagnostics, in file order."""
    policy, diagnostics = check_paths([case])

    assert EXPECTED[case].strip("\n") == _text(diagnostics)
    assert (case in WARNINGS_ONLY) == (policy is not None)


@pytest.mark.parametrize("case", sorted(set(EXPECTED) - WARNINGS_ONLY))
@pytest.mark.usefixtures("in_corpus")
def test_load_policies_raises_policy_error_with_every_diagnostic(case: str) -> None:
    """Loading is all-or-nothing: one PolicyError carries every diagnostic, nothing else escapes."""
    with pytest.raises(PolicyError) as info:
        load_policies(case)

    _, diagnostics = check_paths([case])
    assert diagnostics == info.value.diagnostics
    assert info.value.errors
    assert all(d.severity == "error" for d in info.value.errors)
    errors = len(info.value.errors)
    assert f"{errors} error(s) in the policy set; nothing was loaded:\n{_text(diagnostics)}" == str(
        info.value
    )


@pytest.mark.parametrize("case", sorted(WARNINGS_ONLY))
@pytest.mark.usefixtures("in_corpus")
def test_warnings_do_not_stop_loading(case: str) -> None:
    """A policy set with only warnings loads and keeps them."""
    policy = load_policies(case)

    assert EXPECTED[case].strip("\n") == _text(policy.warnings)


@pytest.mark.usefixtures("in_corpus")
def test_whole_corpus_at_once_collects_every_file() -> None:
    """
    Checking many bad files together reports the problems of every file, not only the first.

    The files with custom jurisdictions are left out: while the jurisdictions are wrong,
    the rules are not analysed (which would need them), so two files would show nothing.
    """
    files = sorted(
        p.name for p in BAD.iterdir() if p.is_file() and b"jurisdictions:" not in p.read_bytes()
    )

    policy, diagnostics = check_paths(files)

    assert policy is None
    assert "path-not-found" not in {d.code for d in diagnostics}
    assert {d.position.path for d in diagnostics} == set(files)


@pytest.mark.usefixtures("in_corpus")
def test_path_not_found() -> None:
    policy, diagnostics = check_paths(["no-such-policies"])

    assert policy is None
    assert _text(diagnostics) == (
        "no-such-policies:1:1: error: no such file or directory: 'no-such-policies' [path-not-found]\n"
        "  hint: pass the policy directory with --policies, or set $GEOGATE_POLICIES"
    )


@pytest.mark.usefixtures("in_corpus")
def test_file_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(geogate._load.loader, "MAX_FILE_BYTES", 10)

    _, diagnostics = check_paths(["unknown-key-top.yaml"])

    assert _text(diagnostics) == (
        "unknown-key-top.yaml:1:1: error: the file is 36 bytes; policy files may be at most 10 [file-too-large]\n"
        "  hint: split the policies into several files"
    )


def test_file_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An OSError while reading is a diagnostic (CLI exit 3), not a traceback."""
    (tmp_path / "secret.yaml").write_text("features: {}\n")
    monkeypatch.chdir(tmp_path)

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    _, diagnostics = check_paths(["secret.yaml"])

    assert _text(diagnostics) == (
        "secret.yaml:1:1: error: cannot read the file: Permission denied [file-unreadable]\n"
        "  hint: check that the file exists and that you may read it"
    )


@pytest.mark.usefixtures("in_corpus")
def test_alias_bomb_is_refused_quickly() -> None:
    """A billion-laughs document is refused with too-large without expanding it."""
    start = time.perf_counter()
    _, diagnostics = check_paths(["too-large.yaml"])
    elapsed = time.perf_counter() - start

    assert [d.code for d in diagnostics] == ["too-large"]
    assert elapsed < 2  # about 0.02 s; expanding the aliases would take minutes


@pytest.mark.slow
@pytest.mark.parametrize(("name", "text"), [
    ("deep.yaml", "features: " + "[" * 10_000 + "]" * 10_000 + "\n"),
    ("deep.json", '{"features": ' + "[" * 10_000 + "]" * 10_000 + "}\n"),
])  # fmt: skip
def test_deep_nesting_is_refused(name: str, text: str, tmp_path: Path) -> None:
    """Nesting far beyond the policy shape gives too-deep, never a RecursionError."""
    (tmp_path / name).write_text(text)

    _, diagnostics = check_paths([tmp_path / name])

    assert [d.code for d in diagnostics] == ["too-deep"]


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    """A byte order mark, as some Windows editors write, is not an error."""
    for name in ("bom.yaml", "bom.json"):
        text = (GOOD / f"policy{Path(name).suffix}").read_bytes()
        (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + text)

        policy, diagnostics = check_paths([tmp_path / name])

        assert diagnostics == ()
        assert policy is not None
        assert list(policy.features) == ["chat", "licence"]


def test_shipped_policies_load_cleanly() -> None:
    policy, diagnostics = check_paths([SHIPPED])

    assert diagnostics == ()
    assert policy is not None
    assert {"apple-intelligence-iphone", "apple-intelligence-mac", "llama-3.2-vision"} <= set(
        policy.features
    )


def test_json_and_yaml_give_the_same_policy() -> None:
    """The same policy written in JSON and in YAML gives equal features and jurisdictions."""
    from_yaml = load_policies(GOOD / "policy.yaml")
    from_json = load_policies(GOOD / "policy.json")

    assert from_yaml.features == from_json.features
    day = dt.date(2026, 1, 1)
    for name in ("NORDICS", "EEA-CH-UK"):
        assert from_yaml.jurisdictions.members_at(name, day) == from_json.jurisdictions.members_at(
            name, day
        )


def test_norway_is_a_country_not_a_boolean() -> None:
    """The YAML "Norway problem": a plain NO in a target list is Norway, in any case."""
    policy = load_policies(GOOD / "policy.yaml")

    (target,) = policy.features["licence"].rules[1].targets
    assert (target.kind, target.code) == (TargetKind.COUNTRY, "NO")
    assert "NO" in policy.jurisdictions.members_at("NORDICS", dt.date(2026, 1, 1))


def test_dates_and_defaults_are_read() -> None:
    policy = load_policies(GOOD / "policy.yaml")

    pilot = policy.features["chat"].rules[1]
    assert (dt.date(2026, 1, 1), dt.date(2026, 6, 30)) == (pilot.start, pilot.end)
    assert pilot.overrides == ("nordics-withheld",)
    licence = policy.features["licence"]
    assert (licence.default, licence.unknown, licence.basis) == ("deny", "deny", "domicile")


def _copy_good(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(GOOD / "policy.yaml", root / "policy.yaml")


def test_tests_and_hidden_folders_are_not_loaded(tmp_path: Path) -> None:
    """A `tests/` subfolder (policy tests) and hidden folders and files are skipped."""
    _copy_good(tmp_path)
    for skipped in ("tests/cases.yaml", ".git/x.yaml", ".cache/y.json", ".hidden.yaml"):
        (tmp_path / skipped).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / skipped).write_text("this: [is not a policy\n")
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "extra.yml").write_text("features:\n  extra:\n    default: deny\n")

    policy, diagnostics = check_paths([tmp_path])

    assert diagnostics == ()
    assert policy is not None
    assert list(policy.features) == ["chat", "extra", "licence"]
    assert [str(tmp_path / "more" / "extra.yml"), str(tmp_path / "policy.yaml")] == [
        str(Path(f).resolve()) for f in policy.files
    ]


def test_a_file_and_its_folder_are_loaded_once(tmp_path: Path) -> None:
    _copy_good(tmp_path)

    policy, diagnostics = check_paths([tmp_path, tmp_path / "policy.yaml"])

    assert diagnostics == ()
    assert policy is not None
    assert len(policy.files) == 1


def test_revision_depends_on_content_and_names(tmp_path: Path) -> None:
    """The revision is the same for the same files, and changes with a byte or a file name."""
    _copy_good(tmp_path / "a")
    _copy_good(tmp_path / "b")
    first = load_policies(tmp_path / "a").revision
    assert first.startswith("sha256:")
    assert len(first) == 71
    assert first == load_policies(tmp_path / "b").revision

    policy = tmp_path / "b" / "policy.yaml"
    policy.write_text(policy.read_text() + "# a comment changes the bytes\n")
    assert first != load_policies(tmp_path / "b").revision

    _copy_good(tmp_path / "c")
    (tmp_path / "c" / "policy.yaml").rename(tmp_path / "c" / "renamed.yaml")
    assert first != load_policies(tmp_path / "c").revision


@pytest.mark.slow
@pytest.mark.usefixtures("in_corpus")
def test_no_exception_escapes_for_any_corpus_entry() -> None:
    """Whatever is in a file, loading raises PolicyError or returns: no other exception."""
    for case in sorted(EXPECTED):
        with contextlib.suppress(PolicyError):
            load_policies(case)


def test_every_code_is_documented() -> None:
    """docs/diagnostics.md has one section per code: those of the corpus and of the tests above."""
    doc = (ROOT / "docs" / "diagnostics.md").read_text("utf-8")
    documented = re.findall(r"^### `([a-z-]+)`$", doc, flags=re.MULTILINE)
    pinned = {
        code
        for text in EXPECTED.values()
        for code in re.findall(r" \[([a-z-]+)\]$", text, flags=re.MULTILINE)
    }
    tested_here = {"path-not-found", "file-too-large", "file-unreadable"}

    assert len(documented) == len(set(documented))
    assert set(documented) == pinned | tested_here


@pytest.mark.parametrize("name", ["eu.YAML", "eu.Yml", "eu.yAmL", "a.Json", "a.JSON"])
def test_a_suffix_in_another_case_is_loaded_not_skipped(tmp_path: Path, name: str) -> None:
    """
    ``eu.YAML`` or ``a.Json`` is a policy file: it is loaded, never silently skipped.

    A file that drops out of the set without a word removes its rules (a deny among them).
    """
    _copy_good(tmp_path)
    extra = '{"features": {"extra": {"default": "deny"}}}\n'
    (tmp_path / name).write_text(extra, encoding="utf-8")
    policy = load_policies(tmp_path)
    assert "extra" in policy.features
    assert any(Path(f).name == name for f in policy.files)


def test_a_lone_carriage_return_cannot_expire_a_rule_unseen(tmp_path: Path) -> None:
    """
    The attack: a comment hides ``until:`` behind a lone carriage return.

    ``git diff`` shows one line with ``until`` inside a comment; YAML read a key that
    expired the rule, and the set loaded with no error. Now it is an error at the line
    and column a reviewer's editor shows.
    """
    path = tmp_path / "p.yaml"
    path.write_bytes(
        b"features:\n  chat:\n    default: allow\n    rules:\n      - id: eu\n"
        b"        deny: [EU]  # reviewed by legal\r        until: 2000-01-01\n"
        b"        reason: Withheld in the EU.\n"
    )
    policy, diagnostics = check_paths([path])
    assert policy is None
    assert [("invisible-line-break", 6, 40)] == [
        (d.code, d.position.line, d.position.column) for d in diagnostics
    ]


def test_crlf_files_are_fine(tmp_path: Path) -> None:
    """CRLF line endings are line breaks every tool shows: no error."""
    _copy_good(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_bytes(policy.read_bytes().replace(b"\n", b"\r\n"))
    assert load_policies(tmp_path).features


@pytest.mark.parametrize(
    ("text", "where", "kind"),
    [
        ('{"features": {"chat": {"default": "allow",}}}', "1:42", "object"),
        ('{"features": {"chat": {"default": "allow",\n  }\n}}', "1:42", "object"),
        ('{"features": {"chat": {"default": "allow", "tags": ["a", "b",]}}}', "1:61", "array"),
        ('{"features": {"chat": {"default": "allow", "tags": ["a",\n\n]}}}', "1:56", "array"),
    ],
)
def test_a_trailing_comma_is_reported_at_the_comma_on_every_python(tmp_path, text, where, kind):
    """Python 3.13 says "Illegal trailing comma" at the comma; 3.11 and 3.12 said otherwise."""
    path = tmp_path / "p.json"
    path.write_text(text, encoding="utf-8")
    _, found = check_paths([path])
    assert [f"{where}: error: invalid JSON: Illegal trailing comma before end of {kind}"] == [
        f"{d.position.line}:{d.position.column}: {d.severity}: {d.message}" for d in found
    ]


@pytest.mark.parametrize(
    "members",
    ["[EEA, CH, jurisdictions: UK]", "[{from: 2022-02-21}]", "[{code: UA-43, code2: x}]"],
)
def test_a_jurisdiction_member_mapping_without_code_is_a_diagnostic(tmp_path, members):
    """Found by the fuzzer: a member written as a mapping without 'code' crashed the loader."""
    path = tmp_path / "p.yaml"
    path.write_text(f"jurisdictions:\n  SOME: {members}\n", encoding="utf-8")
    _, found = check_paths([path])
    assert found
    assert {"missing-key", "unknown-key"} >= {d.code for d in found}
