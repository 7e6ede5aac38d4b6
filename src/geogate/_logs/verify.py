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
- **damaged lines**: lines that cannot be read as decisions;
- **empty logs**: no whole decision at all, which is no evidence of anything.

Each finding says how many lines it covers and where the first are
(``file:line``). A line is re-decided from what it logged: its country and
subdivision (however they were found: explicitly, by GeoIP or from a CDN
header), its domicile, its date. A line with an invalid location logged no
place, so it is checked to be the fail-closed deny geogate gives every invalid
location.
"""

from __future__ import annotations

import bisect
import collections
import datetime as dt
from typing import TYPE_CHECKING, Final

import attrs

from geogate._gate.gate import Gate

from .lines import Sought
from .read import Group, LogReader, line_values

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from pathlib import Path

    from geogate._engine.decision import Decision
    from geogate._policy.model import PolicySet

__all__ = ["Finding", "Verification", "change_dates", "verify"]

#: Lines located per finding (the rest are counted).
MAX_LINES_SHOWN: Final = 10


@attrs.frozen
class Finding:
    """
    Lines that disagree with the policy, or were decided under an unreviewed revision.

    Attributes:
        kind: ``disagreement``, ``unreviewed-revision``, ``jurisdictions``, ``damaged``
            or ``empty``.
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
    groups = reader.groups(keys=_KEYS, examples=True)
    gates = {revision: Gate(policy) for revision, policy in by_revision.items()}
    stretches = {revision: change_dates(policy) for revision, policy in by_revision.items()}
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
            # A decision changes only on a change date: one decision per stretch between two.
            days = stretches[group.revision]
            stretch = days[bisect.bisect_right(days, group.as_of) - 1]
            key = (
                group.feature, stretch, group.country, group.subdivision,
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
    located = _where(reader, problems)
    findings = [
        Finding(kind, message, sum(g.lines for g in found), located.get((kind, message), ()))
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
    if not any(g.lines for g in groups.rows):
        # Empty or wholly damaged logs are no evidence: a log no longer written passes nothing.
        findings.append(
            Finding(
                "empty",
                "no whole decision was read, so nothing was verified: the logs hold no line "
                "a decision log writes (is this the log the service writes?)",
                0,
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


#: What a line is verified on: its input, its revision and what it says was decided.
_KEYS: Final = (
    "feature", "as_of", "country", "subdivision", "domicile", "location", "revision",
    "allowed", "rule", "reason", "jurisdictions",
)  # fmt: skip


def change_dates(policy: PolicySet) -> list[dt.date]:
    """
    The days on which any decision under *policy* can change, sorted, from `datetime.date.min`.

    Rule windows open and close, and jurisdictions (those a decision lists,
    not only those rules name) gain and lose members; between two such days
    every decision, and the jurisdictions it lists, stays the same.
    """
    days = {dt.date.min, *policy.jurisdictions.all_boundaries()}
    for feature in policy.features.values():
        for rule in feature.rules:
            if rule.start is not None:
                days.add(rule.start)
            if rule.end is not None and rule.end < dt.date.max:
                days.add(rule.end + dt.timedelta(days=1))
    return sorted(days)


def _compare(group: Group, decision: Decision) -> list[tuple[str, str]]:
    same_outcome = group.allowed == decision.allowed and (group.rule, group.reason) == (
        decision.rule,
        str(decision.reason),
    )
    if same_outcome and (
        group.location == "invalid" or group.jurisdictions == decision.jurisdictions
    ):
        return []  # what nearly every group comes to: nothing to say
    found: list[tuple[str, str]] = []
    logged = _outcome(group.allowed, group.rule, group.reason)
    redecided = _outcome(decision.allowed, decision.rule, str(decision.reason))
    said = (
        f"{group.feature} for {_place(group)} on {group.as_of}: the log says {logged}, "
        f"revision {group.revision[:19]}… decides {redecided}"
    )
    if group.allowed != decision.allowed:
        found.append(("disagreement", said))
    elif not same_outcome:
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


def _where(
    reader: LogReader, problems: Mapping[tuple[str, str], Sequence[Group]]
) -> dict[tuple[str, str], tuple[str, ...]]:
    """
    ``file:line`` of the first lines of each finding: one line per group, from its example.

    Each file that holds some is read once (`LogReader.locate`); a line is
    numbered only if it holds what its group says (`_line_key`), so a copy of
    a line with the same time (and id) is not taken for it.
    """
    shown = {
        finding: sorted(groups, key=_example_order)[:MAX_LINES_SHOWN]
        for finding, groups in problems.items()
    }
    wanted: dict[str, dict[int, Group]] = {}  # a group in two findings is looked for once
    for groups in shown.values():
        for group in groups:
            file, timestamp = group.example
            if file is not None and timestamp is not None:
                wanted.setdefault(file, {})[id(group)] = group
    files = sorted((file, list(by_id.values())) for file, by_id in wanted.items())
    sought = [
        (file, [Sought(g.example[1], g.example[1], _group_key(g)) for g in groups])  # type: ignore[arg-type]
        for file, groups in files
    ]
    places = {
        id(group): place
        for (_, groups), found in zip(files, reader.locate(sought, _line_key), strict=True)
        for group, place in zip(groups, found, strict=True)
        if place is not None
    }
    return {
        finding: tuple(sorted((places[id(g)] for g in groups if id(g) in places), key=_file_order))
        for finding, groups in shown.items()
    }


def _example_order(group: Group) -> tuple[str, str]:
    """Groups by their example line (file, then time), those without one last."""
    file, timestamp = group.example
    return (file or "\uffff", timestamp or "")


def _group_key(group: Group) -> tuple[object, ...]:
    """What the lines of *group* hold, in the fields lines are verified on."""
    return tuple(getattr(group, key) for key in _KEYS)


def _line_key(line: bytes) -> tuple[object, ...] | None:
    """What a whole line holds, in the fields lines are verified on (None: not whole)."""
    values = line_values(line)
    return None if values is None else tuple(values[key] for key in _KEYS)


def _file_order(place: str) -> tuple[str, int]:
    """``file:12`` before ``file:100``."""
    file, _, line = place.rpartition(":")
    return (file, int(line)) if line.isdigit() else (place, 0)
