"""
What was served where: decision logs summarised per feature and period.

`summarise` reads the logs once (`geogate._logs.read.LogReader.groups`) and
counts, per feature: decisions per period (day, ISO week or month), allowed and
denied, unknown and invalid locations; by country and subdivision, by
jurisdiction (each decision counts in every jurisdiction its line names), by
effect, reason and rule, and by location source with its unknown-location
rate; and the first and last day each place was allowed. IP addresses are left
out unless asked for (`summarise(..., show_ip=True)`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Final, Literal

import attrs

from .read import Damage, LogReader

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

__all__ = ["Count", "FeatureSummary", "Summary", "period_of", "summarise"]

Period = Literal["day", "week", "month"]
#: Most IP networks listed per feature with ``show_ip``.
MAX_NETWORKS: Final = 20


@attrs.define
class Count:
    """Decisions, and how they came out."""

    decisions: int = 0
    allowed: int = 0
    unknown: int = 0
    invalid: int = 0
    first_allowed: str | None = None
    last_allowed: str | None = None

    @property
    def denied(self) -> int:
        return self.decisions - self.allowed

    @property
    def unknown_rate(self) -> float:
        """The share of decisions whose location was unknown (0 when there are none)."""
        return self.unknown / self.decisions if self.decisions else 0.0

    def add(self, count: int, *, allowed: bool, location: str, day: str) -> None:
        self.decisions += count
        if allowed:
            self.allowed += count
            if self.first_allowed is None or day < self.first_allowed:
                self.first_allowed = day
            if self.last_allowed is None or day > self.last_allowed:
                self.last_allowed = day
        if location == "unknown":
            self.unknown += count
        elif location == "invalid":
            self.invalid += count

    def as_dict(self) -> dict[str, object]:
        return {
            "decisions": self.decisions,
            "allowed": self.allowed,
            "denied": self.denied,
            "unknown_location": self.unknown,
            "invalid_location": self.invalid,
            "unknown_rate": round(self.unknown_rate, 6),
            "first_allowed": self.first_allowed,
            "last_allowed": self.last_allowed,
        }


@attrs.define
class FeatureSummary:
    """One feature's decisions, counted every way the summary shows."""

    feature: str
    total: Count = attrs.field(factory=Count)
    periods: dict[str, Count] = attrs.field(factory=dict)
    places: dict[tuple[str | None, str | None], Count] = attrs.field(factory=dict)
    jurisdictions: dict[str, Count] = attrs.field(factory=dict)
    outcomes: dict[tuple[str, str, str | None], int] = attrs.field(factory=dict)
    sources: dict[str, Count] = attrs.field(factory=dict)
    revisions: dict[str, int] = attrs.field(factory=dict)
    networks: list[tuple[str, int, int]] = attrs.field(factory=list)


@attrs.frozen
class Summary:
    """
    Decision logs summarised.

    Attributes:
        files: The files read.
        lines: Every line read in the period, damaged ones included.
        damaged: Damaged lines (not counted in any feature).
        damage: Where the first damaged lines of each file are.
        by: The period: ``day``, ``week`` or ``month``.
        start: The first day asked for, or None.
        end: The last day asked for, or None.
        features: Per feature, sorted by id.
    """

    files: tuple[str, ...]
    lines: int
    damaged: int
    damage: tuple[Damage, ...]
    by: Period
    start: dt.date | None
    end: dt.date | None
    features: tuple[FeatureSummary, ...]

    @property
    def decisions(self) -> int:
        return sum(f.total.decisions for f in self.features)


def period_of(day: str, by: Period) -> str:
    """Name the period *day* (``YYYY-MM-DD``) falls in: the day, ``2026-W19`` or ``2026-05``."""
    if by == "day":
        return day
    if by == "month":
        return day[:7]
    year, week, _ = dt.date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def summarise(
    paths: Sequence[Path],
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    features: Iterable[str] = (),
    by: Period = "day",
    show_ip: bool = False,
) -> Summary:
    """
    Summarise the decision logs at *paths* (`geogate._logs.read.find_logs`).

    Args:
        paths: The files.
        start: Count decisions made on this UTC day or later.
        end: Count decisions made on this UTC day or earlier.
        features: Only these features (all when empty).
        by: The period decisions are counted in.
        show_ip: List each feature's busiest IP networks, as logged (truncated).

    Raises:
        geogate._logs.read.LogInputError: A file cannot be read.
    """
    reader = LogReader(paths)
    wanted = sorted(set(features))
    conditions, parameters = _conditions(start, end, wanted)
    groups = reader.groups(conditions, parameters)
    found: dict[str, FeatureSummary] = {}
    for group in groups.rows:
        summary = found.get(group.feature)
        if summary is None:
            summary = found[group.feature] = FeatureSummary(group.feature)
        count = group.lines
        location = _location(group.location, group.country)
        counts = [
            summary.total,
            summary.periods.setdefault(period_of(group.day, by), Count()),
            summary.places.setdefault((group.country, group.subdivision), Count()),
            summary.sources.setdefault(group.location_source, Count()),
            *(summary.jurisdictions.setdefault(j, Count()) for j in group.jurisdictions),
        ]
        for counted in counts:
            counted.add(count, allowed=group.allowed, location=location, day=group.day)
        outcome = (group.effect, group.reason, group.rule)
        summary.outcomes[outcome] = summary.outcomes.get(outcome, 0) + count
        summary.revisions[group.revision] = summary.revisions.get(group.revision, 0) + count
    if show_ip:
        _add_networks(reader, found, conditions, parameters)
    damage = tuple(reader.damage(groups.damaged))
    return Summary(
        files=tuple(str(p) for p in paths),
        lines=groups.lines,
        damaged=sum(groups.damaged.values()),
        damage=damage,
        by=by,
        start=start,
        end=end,
        features=tuple(found[f] for f in sorted(found)),
    )


def _location(location: str | None, country: str | None) -> str:
    """``known``, ``unknown`` or ``invalid``: without the field, unknown without a country."""
    if location is not None:
        return location
    return "known" if country is not None else "unknown"


def _conditions(
    start: dt.date | None, end: dt.date | None, features: Sequence[str]
) -> tuple[str, list[object]]:
    conditions: list[str] = []
    parameters: list[object] = []
    if start is not None:
        conditions.append("day >= ?")
        parameters.append(start.isoformat())
    if end is not None:
        conditions.append("day <= ?")
        parameters.append(end.isoformat())
    if features:
        conditions.append("list_contains(?, feature)")
        parameters.append(list(features))
    return " AND ".join(conditions), parameters


def _add_networks(
    reader: LogReader,
    found: dict[str, FeatureSummary],
    conditions: str,
    parameters: list[object],
) -> None:
    where = f"ok AND ({conditions})" if conditions else "ok"
    rows = reader.connection.execute(
        f"""
        SELECT feature, coalesce(ip, '(none)') AS network, count(*), count_if(allowed)
        FROM decisions WHERE {where}
        GROUP BY feature, network
        QUALIFY row_number() OVER (PARTITION BY feature ORDER BY count(*) DESC, network) <= ?
        """,  # noqa: S608 (constants; the conditions are ours, with parameters)
        [*parameters, MAX_NETWORKS],
    ).fetchall()
    for feature, network, count, allowed in sorted(rows, key=lambda r: (r[0], -r[2], r[1])):
        if feature in found:
            found[feature].networks.append((network, count, allowed))
