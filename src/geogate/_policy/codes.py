"""
Every diagnostic code, defined once: its severity, what it means, where it is documented.

A site that reports a problem names its entry (``Code.UNKNOWN_KEY``) and says
what is wrong; the severity comes from here, never from the site. Each code
has a section in ``docs/diagnostics.md`` under `DiagnosticCode.anchor`, with
the same severity (a test holds the two together). The codes are stable:
tools and CI scripts rely on them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import attrs

#: How bad a diagnostic is: an error stops loading, a warning does not.
Severity = Literal["error", "warning"]


if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["CODES", "Code", "DiagnosticCode"]


@attrs.frozen(kw_only=True)
class DiagnosticCode:
    """
    One diagnostic code.

    Attributes:
        code: Stable kebab-case identifier, shown in brackets after a message.
        severity: ``error`` (nothing loads, or the test file does not run)
            or ``warning``.
        summary: One line on what it means (SARIF's rule description).
        anchor: Its section in ``docs/diagnostics.md``: the code, and for a
            lint, a policy-test code and the like, what the heading adds
            (``shadowed-rule-lint``).
        environment: Whether it means the files could not be read at all
            (the CLI exits 3 rather than 1).
    """

    code: str
    severity: Severity
    summary: str
    anchor: str
    environment: bool = False

    def __str__(self) -> str:
        return self.code


def _error(
    code: str, summary: str, *, note: str | None = None, environment: bool = False
) -> DiagnosticCode:
    return _entry(code, "error", summary, note, environment=environment)


def _warning(code: str, summary: str, *, note: str | None = None) -> DiagnosticCode:
    return _entry(code, "warning", summary, note)


def _entry(
    code: str, severity: Severity, summary: str, note: str | None, *, environment: bool = False
) -> DiagnosticCode:
    """Build one entry; *note* is what its docs heading adds after the code (``lint``)."""
    anchor = code if note is None else f"{code}-{note.replace(' ', '-')}"
    return DiagnosticCode(
        code=code, severity=severity, summary=summary, anchor=anchor, environment=environment
    )


class Code:
    """The registry: one entry per code, named by the code in upper case."""

    # Reading files.
    PATH_NOT_FOUND = _error("path-not-found", "A path given does not exist.", environment=True)
    NO_POLICY_FILES = _error("no-policy-files", "A directory holds no policy files.")
    FILE_UNREADABLE = _error(
        "file-unreadable", "The operating system refused to read a file.", environment=True
    )
    FILE_TOO_LARGE = _error(
        "file-too-large", "A policy file is larger than 64 MiB; it is not read."
    )
    FILE_ENCODING = _error(
        "file-encoding", "The file is not UTF-8, or holds a control character YAML forbids."
    )
    INVISIBLE_LINE_BREAK = _error(
        "invisible-line-break", "The file holds a line break that review tools do not show."
    )
    EMPTY_FILE = _warning("empty-file", "The file holds no document: it is empty or only comments.")

    # Syntax.
    YAML_SYNTAX = _error("yaml-syntax", "The YAML cannot be parsed.")
    JSON_SYNTAX = _error("json-syntax", "A .json file is not valid JSON.")
    YAML_TAG = _error("yaml-tag", "A YAML tag appears; tags that construct objects are refused.")
    YAML_MERGE_KEY = _error("yaml-merge-key", "A merge key ('<<') appears.")
    DUPLICATE_KEY = _error("duplicate-key", "A key appears twice in one mapping.")
    COMPLEX_KEY = _error("complex-key", "A mapping key is a list or a mapping.")
    TOO_LARGE = _error("too-large", "Aliases make the document expand to too many values.")
    TOO_DEEP = _error("too-deep", "The document nests more than 64 levels deep.")

    # Shape.
    UNKNOWN_KEY = _error("unknown-key", "A key that geogate does not know, usually a typo.")
    MISSING_KEY = _error("missing-key", "A required key is absent.")
    WRONG_TYPE = _error("wrong-type", "A value has the wrong kind (a list, a mapping, text).")
    EMPTY_VALUE = _error("empty-value", "A required text is empty or only spaces.")
    TOO_LONG = _error("too-long", "A text is longer than 4,096 characters.")
    INVALID_ID = _error("invalid-id", "A feature or rule id has characters ids may not have.")
    INVALID_DEFAULT = _error("invalid-default", "A feature's default is not allow or deny.")
    INVALID_UNKNOWN = _error("invalid-unknown", "A feature's unknown is not allow or deny.")
    INVALID_PARTIAL = _error("invalid-partial", "A feature's partial is not allow or deny.")
    INVALID_BASIS = _error(
        "invalid-basis", "A feature's basis is not location, domicile or location+domicile."
    )
    INVALID_DATE = _error("invalid-date", "A date is not a calendar day written YYYY-MM-DD.")
    WINDOW_ORDER = _error("window-order", "A window's 'until' is before its 'from'.")
    RULE_KIND = _error("rule-kind", "A rule has none, or more than one, of allow, deny, hard_deny.")
    EMPTY_TARGETS = _error("empty-targets", "A list of places, or a custom jurisdiction, is empty.")
    DUPLICATE_TARGET = _warning("duplicate-target", "The same place appears twice in one list.")

    # Targets.
    UNKNOWN_COUNTRY = _error("unknown-country", "A code that is not an ISO 3166-1 alpha-2 code.")
    PART_OF_COUNTRY = _error(
        "part-of-country", "A code for part of a country that is not an ISO 3166-1 code."
    )
    UNKNOWN_SUBDIVISION = _error(
        "unknown-subdivision", "An ISO 3166-2 subdivision code that does not exist."
    )
    SUBDIVISION_HAS_COUNTRY_CODE = _error(
        "subdivision-has-country-code", "The subdivision has its own ISO 3166-1 code."
    )
    UNKNOWN_JURISDICTION = _error(
        "unknown-jurisdiction", "A name that is no jurisdiction, built-in or custom, nor a code."
    )
    UNKNOWN_LOCATION_TARGET = _error(
        "unknown-location-target", "A pseudo-code for an unknown location is used as a target."
    )

    # Custom jurisdictions.
    DUPLICATE_JURISDICTION = _error(
        "duplicate-jurisdiction", "Two places define the same custom jurisdiction."
    )
    JURISDICTION_REDEFINED = _error(
        "jurisdiction-redefined", "A custom jurisdiction has the name of a built-in one."
    )
    INVALID_JURISDICTION_NAME = _error(
        "invalid-jurisdiction-name", "A custom jurisdiction's name is not a valid name."
    )
    JURISDICTION_CYCLE = _error(
        "jurisdiction-cycle", "Custom jurisdictions contain each other in a circle."
    )

    # Across files.
    DUPLICATE_FEATURE = _error("duplicate-feature", "Two places define the same feature id.")
    DUPLICATE_RULE = _error("duplicate-rule", "Two rules have the same id.")

    # Rule analysis.
    UNKNOWN_RULE = _error("unknown-rule", "A rule id that is not a rule of the feature.")
    SELF_OVERRIDE = _error("self-override", "A rule names itself in 'overrides:'.")
    OVERRIDE_HARD_DENY = _error(
        "override-hard-deny", "A rule declares that it overrides a hard_deny rule."
    )
    SUBDIVISION_DOMICILE = _error(
        "subdivision-domicile", "A subdivision where a domicile, a country, is needed."
    )
    AMBIGUOUS_RULES = _error(
        "ambiguous-rules", "Two rules disagree somewhere and neither is more specific."
    )
    UNDECLARED_OVERRIDE = _warning(
        "undeclared-override", "A more specific rule flips a broader one without saying so."
    )
    OVERRIDE_WITHOUT_EFFECT = _warning(
        "override-without-effect", "An 'overrides:' that never decides against the rule named."
    )

    # The pinned revision, the lock and reloading.
    REVISION_MISMATCH = _error(
        "revision-mismatch",
        "The policy files are not of the revision pinned with expect_revision.",
        note="pinned revision",
    )
    LOCK_INVALID = _error("lock-invalid", "The lock file cannot be read as a lock.", note="lock")
    LOCK_MISMATCH = _error(
        "lock-mismatch", "The policy files are not the ones the lock names.", note="lock"
    )
    LOCK_MISSING = _error(
        "lock-missing", "The policy directory held a lock when loaded, and holds none now.",
        note="reload",
    )  # fmt: skip
    FILES_CHANGED = _error(
        "files-changed", "The policy files changed while they were read.", note="reload"
    )
    GEOIP_DATABASE = _error(
        "geoip-database", "The GeoIP database changed but cannot be reopened.", note="reload"
    )

    # Lints (`geogate check` only).
    SHADOWED_RULE = _warning(
        "shadowed-rule", "A rule decides no location on any date: other rules always win.",
        note="lint",
    )  # fmt: skip
    REDUNDANT_RULE = _warning(
        "redundant-rule", "Removing the rule would leave every decision's effect the same.",
        note="lint",
    )  # fmt: skip
    EXPIRED_RULE = _warning(
        "expired-rule", "The rule's window ended before the given date.", note="lint"
    )
    MISSING_REASON = _warning("missing-reason", "The rule's reason is a placeholder.", note="lint")
    MISSING_SOURCE = _warning(
        "missing-source", "The rule has no source for its reason.", note="lint"
    )
    MISSING_OWNER = _warning("missing-owner", "The feature has no owner.", note="lint")
    EMPTY_JURISDICTION = _warning(
        "empty-jurisdiction",
        "A rule names a jurisdiction with no member while the rule is in force.",
        note="lint",
    )
    PARTIAL_WITHOUT_EFFECT = _warning(
        "partial-without-effect",
        "The feature says 'partial: allow', but no place is ever split.",
        note="lint",
    )

    # Policy tests (`geogate test`).
    UNKNOWN_FEATURE = _error(
        "unknown-feature", "A case names a feature the policies do not define.", note="test"
    )
    RULE_OF_OTHER_FEATURE = _error(
        "rule-of-other-feature", "A case pins a rule of another feature.", note="test"
    )
    RULE_EFFECT_MISMATCH = _error(
        "rule-effect-mismatch", "A case expects one effect by a rule with the other.", note="test"
    )
    AMBIGUOUS_RULE_PIN = _error(
        "ambiguous-rule-pin", "One rule pinned for both an allow and a deny table.", note="test"
    )
    CONFLICTING_KEYS = _error(
        "conflicting-keys", "A case mixes keys that contradict each other.", note="test"
    )
    INVALID_EXPECT = _error("invalid-expect", "'expect' is neither allow nor deny.", note="test")
    INVALID_SIGNAL = _error(
        "invalid-signal", "'signal' is neither location nor domicile.", note="test"
    )
    INVALID_IP = _error("invalid-ip", "'ip' is not an IPv4 or IPv6 address.", note="test")
    EMPTY_TABLE = _error("empty-table", "An allow or deny table lists no place.", note="test")
    JURISDICTION_WITHOUT_MEMBERS = _error(
        "jurisdiction-without-members",
        "A case names a jurisdiction with no members on its date, so it tests nothing.",
        note="test",
    )
    NO_CASES = _warning("no-cases", "A test file's 'cases' list is empty.", note="test")
    DUPLICATE_CASE = _warning(
        "duplicate-case", "The same case is written twice; the second is skipped.", note="test"
    )


#: Every entry by its code.
CODES: Mapping[str, DiagnosticCode] = {
    entry.code: entry for entry in vars(Code).values() if isinstance(entry, DiagnosticCode)
}
