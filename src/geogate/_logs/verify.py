"""
Evidence checked: every logged decision re-decided with the policy revision it names.

`verify` groups identical inputs (feature, place, domicile, date, revision)
with DuckDB, so tens of millions of lines need thousands of decisions, and asks
the policy set of each line's revision what it decides. It reports:

- **disagreements**: a line says allowed where that revision denies, or the
  reverse, or names another rule or reason for the same effect;
- **unreviewed revisions**: decisions made under a revision that is neither
  among the policies given nor expected (``--expect-revision``);
- **jurisdictions**: a line whose jurisdictions are not those its place
  belonged to on its date, in its revision;
- **damaged lines**: lines that cannot be read as decisions.

Each finding says how many lines it covers and where the first are
(``file:line``). A line is re-decided from what it logged: its country and
subdivision (however they were found: explicitly, by GeoIP or from a CDN
header), its domicile, its date. A line with an invalid location logged no
place, so it is checked to be the fail-closed deny geogate gives every invalid
location.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Final

import attrs

from geogate._gate.gate import Gate

from .read import Group, LogReader

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from geogate._engine.decision import Decision
    from geogate._policy.model import PolicySet

__all__ = ["Finding", "Verification", "verify"]

#: Lines located per finding (the rest are counted).
MAX_LINES_SHOWN: Final = 10


@attrs.frozen
class Finding:
    """
    Lines that disagree with the policy, or were decided under an unreviewed revision.

    Attributes:
        kind: ``disagreement``, ``unreviewed-revision``, ``jurisdictions`` or ``damaged``.
        message: One sentence: what the lines say and what the revision decides.
        lines: How many lines.
        where: The first lines, as ``file:line`` (or ``file:line:col: what`` for damage).
    """

    kind: str
    message: str
    lines: int
    where: tuple[str, ...] = ()


@attrs.frozen
class Verification:
    """
    What `verify` found.

    Attributes:
        lines: Lines read.
        decisions: Whole lines (decisions) read.
        inputs: Distinct inputs re-decided.
        revisions: Decisions per revision in the logs.
        verified: Revisions re-decided (their policies were given).
        expected: Revisions accepted without their policies (``--expect-revision``).
        findings: Everything found, most lines first.
    """

    lines: int
    decisions: int
    inputs: int
    revisions: dict[str, int]
    verified: tuple[str, ...]
    expected: tuple[str, ...]
    findings: tuple[Finding, ...]

    @property
    def clean(self) -> bool:
        return not self.findings


def _outcome(allowed: bool, rule: str | None, reason: str) -> str:
    said = "allowed" if allowed else "denied"
    return f"{said} by rule {rule!r}" if rule else f"{said} ({reason})"


def _place(group: Group) -> str:
    if group.location == "invalid":
        return "an invalid location"
    parts = [p for p in (group.country, group.subdivision) if p]
    place = " ".join(parts) if parts else "an unknown location"
    if group.domicile:
        place += f", domicile {group.domicile}"
    return place


def _redecide(gate: Gate, group: Group) -> Decision:
    if group.location == "invalid":
        # No place was logged for an invalid location: a wrong type stands in for it.
        return gate.evaluate(group.feature, country=0, at=group.as_of)
    return gate.evaluate(
        group.feature,
        country=group.country,
        subdivision=group.subdivision,
        domicile=group.domicile,
        at=group.as_of,
    )


def verify(
    paths: Sequence[Path],
    policies: Iterable[PolicySet],
    *,
    expected: Iterable[str] = (),
) -> Verification:
    """
    Re-decide every decision of the logs at *paths* with the policy revision it names.

    Args:
        paths: Decision log files (`geogate._logs.read.find_logs`).
        policies: The policy sets, one per revision (more than one of a revision: the first).
        expected: Revisions whose decisions are accepted without re-deciding them.

    Raises:
        geogate._logs.read.LogInputError: A log cannot be read.
    """
    by_revision: dict[str, PolicySet] = {}
    for policy in policies:
        by_revision.setdefault(policy.revision, policy)
    accepted = tuple(sorted(set(expected) - set(by_revision)))
    reader = LogReader(paths)
    groups = reader.groups()
    gates = {revision: Gate(policy) for revision, policy in by_revision.items()}
    decided: dict[tuple[object, ...], Decision] = {}
    problems: dict[tuple[str, str], list[Group]] = collections.defaultdict(list)
    revisions: collections.Counter[str] = collections.Counter()
    try:
        for group in groups.rows:
            revisions[group.revision] += group.lines
            gate = gates.get(group.revision)
            if gate is None:
                if group.revision not in accepted:
                    message = (
                        f"decisions made under revision {group.revision}, which is neither "
                        "among the policies given nor expected (--expect-revision)"
                    )
                    problems["unreviewed-revision", message].append(group)
                continue
            key = (
                group.feature, group.as_of, group.country, group.subdivision,
                group.domicile, group.location, group.revision,
            )  # fmt: skip
            decision = decided.get(key)
            if decision is None:
                decision = decided[key] = _redecide(gate, group)
            for kind, message in _compare(group, decision):
                problems[kind, message].append(group)
    finally:
        for gate in gates.values():
            gate.close()
    findings = [
        Finding(kind, message, sum(g.lines for g in found), _where(reader, found))
        for (kind, message), found in problems.items()
    ]
    damage = reader.damage(groups.damaged) if groups.damaged else []
    if groups.damaged:
        total = sum(groups.damaged.values())
        findings.append(
            Finding(
                "damaged",
                f"{total:,} line(s) cannot be read as decisions and were not verified",
                total,
                tuple(str(d) for d in damage),
            )
        )
    findings.sort(key=lambda f: (-f.lines, f.kind, f.message))
    return Verification(
        lines=groups.lines,
        decisions=sum(g.lines for g in groups.rows),
        inputs=len(decided),
        revisions=dict(revisions.most_common()),
        verified=tuple(sorted(by_revision)),
        expected=accepted,
        findings=tuple(findings),
    )


def _compare(group: Group, decision: Decision) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    logged = _outcome(group.allowed, group.rule, group.reason)
    redecided = _outcome(decision.allowed, decision.rule, str(decision.reason))
    said = (
        f"{group.feature} for {_place(group)} on {group.as_of}: the log says {logged}, "
        f"revision {group.revision[:19]}… decides {redecided}"
    )
    if group.allowed != decision.allowed:
        found.append(("disagreement", said))
    elif (group.rule, group.reason) != (decision.rule, str(decision.reason)):
        found.append(("disagreement", f"{said} (the same effect, for another reason)"))
    logged_in, actual_in = sorted(group.jurisdictions), sorted(decision.jurisdictions)
    if group.location != "invalid" and logged_in != actual_in:
        message = (
            f"{group.feature} for {_place(group)} on {group.as_of}: the log says the place "
            f"was in {', '.join(logged_in) or 'no jurisdiction'}, but on that date it was in "
            f"{', '.join(actual_in) or 'none'}"
        )
        found.append(("jurisdictions", message))
    return found


def _where(reader: LogReader, groups: Sequence[Group]) -> tuple[str, ...]:
    """``file:line`` of the first lines of *groups* (found by their decision ids)."""
    wanted: dict[str, list[str]] = {}
    for group in groups:
        rows = reader.connection.execute(
            """
            SELECT decision_id FROM decisions
            WHERE ok AND file = ? AND feature = ? AND as_of = ? AND revision = ?
              AND country IS NOT DISTINCT FROM ? AND subdivision IS NOT DISTINCT FROM ?
              AND domicile IS NOT DISTINCT FROM ? AND location IS NOT DISTINCT FROM ?
              AND allowed = ? AND rule IS NOT DISTINCT FROM ?
            LIMIT ?
            """,
            [
                group.file, group.feature, group.as_of, group.revision, group.country,
                group.subdivision, group.domicile, group.location, group.allowed,
                group.rule, MAX_LINES_SHOWN,
            ],
        ).fetchall()  # fmt: skip
        wanted.setdefault(group.file, []).extend(row[0] for row in rows)
    return tuple(
        place for file, ids in sorted(wanted.items()) for place in reader.locate(file, ids)
    )[:MAX_LINES_SHOWN]
