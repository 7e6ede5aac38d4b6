"""
A gate's state: everything it derives from one policy set.

`State` is what a gate derives from one policy set, so that a decision reads
one revision: `State.build` compiles a policy set (its features with their
compiled rules) and starts empty memos; `Today` holds the decisions for one
UTC day that the gate's fast path reads. How a state is published to that
fast path, and why reloads and midnight never mix two of them, is in
`geogate._gate.gate` (``Gate._publish``).

The gate owns the clock (the fast path reads it on every call), so this
module takes it as an argument and never reads the time itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

from geogate._engine.decide import CompiledRule, Outcome, inner_places
from geogate._engine.decision import Decision
from geogate._policy.gc import collector_paused
from geogate._policy.model import Feature, PolicySet
from geogate._world.jurisdictions import JurisdictionTable

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["MAX_OUTCOMES", "CompiledFeature", "State", "Today"]

_SECONDS_PER_DAY = 86_400

#: How many outcomes a compiled feature keeps (`CompiledFeature.outcomes`).
MAX_OUTCOMES = 4096


@attrs.define(eq=False)
class Today:
    """Decisions of one policy revision memoised for one UTC day."""

    day: dt.date
    expires: float
    rows: dict[str, dict[str | None, Decision]]
    by_ip: dict[str, dict[str, Decision]]
    #: How many decisions ``by_ip`` holds (bounded as a whole; a racy count is fine).
    ip_entries: int = 0

    @classmethod
    def now(cls, clock: Callable[[], float]) -> Today:
        """Return empty tables for the UTC day *clock* reads now (seconds since the epoch)."""
        seconds = clock()
        day = dt.datetime.fromtimestamp(seconds, dt.UTC).date()
        midnight = dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()
        return cls(day, midnight + _SECONDS_PER_DAY, {}, {})


@attrs.frozen
class CompiledFeature:
    """
    A feature ready to decide, with the revision and jurisdictions of its policy set.

    Attributes:
        feature: The feature.
        rules: Its rules, compiled.
        revision: The policy revision.
        table: The policy set's jurisdictions.
        inside: The subdivisions its rules name (`geogate._engine.decide.inner_places`).
    """

    feature: Feature
    rules: tuple[CompiledRule, ...]
    revision: str
    table: JurisdictionTable
    inside: frozenset[str] = attrs.field(factory=frozenset)
    #: Outcomes by place and date: a split place costs a decision per place
    #: inside it, so spellings of one place (``GB``, ``gb``, ``GB`` with a
    #: subdivision geogate does not know) pay it once. Bounded by `MAX_OUTCOMES`.
    outcomes: dict[tuple[object, ...], Outcome] = attrs.field(factory=dict, eq=False, repr=False)

    @classmethod
    def of(cls, feature: Feature, revision: str, table: JurisdictionTable) -> CompiledFeature:
        """Compile *feature* under a policy set's revision and jurisdictions."""
        rules = tuple(CompiledRule.from_rule(r) for r in feature.rules)
        return cls(feature, rules, revision, table, inner_places(rules, table))


@attrs.frozen(eq=False)
class State:
    """
    Everything a gate derives from one policy set, so a decision reads one revision.

    The slow path reads the gate's state once, at its start, and then uses
    only that object: the compiled features (which carry the revision and
    the jurisdiction table), the memo for any date, and today's tables, into
    which it writes only decisions made from this same state. Midnight
    replaces the state by a copy with new ``today`` tables (same policy, same
    memo); a reload replaces it by a new one.

    Attributes:
        policy: The loaded policy set.
        features: Feature id -> compiled feature.
        memo: Decisions for any date, keyed by their inputs (the date included).
        today: Decisions for today, read by the fast path.
        warned: The unknown feature ids already logged, so each is logged
            once per policy set (two threads may both log a new one: harmless).
    """

    policy: PolicySet
    features: Mapping[str, CompiledFeature]
    memo: dict[tuple[object, ...], Decision]
    today: Today
    warned: set[str] = attrs.field(factory=set)

    @classmethod
    def build(cls, policy: PolicySet, clock: Callable[[], float]) -> State:
        """Compile *policy*, with empty memos for today (the day *clock* reads once compiled)."""
        with collector_paused():
            features = {
                fid: CompiledFeature.of(f, policy.revision, policy.jurisdictions)
                for fid, f in policy.features.items()
            }
        return cls(policy, features, {}, Today.now(clock))
