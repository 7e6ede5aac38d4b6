"""
A gate's state: its slots, and everything it derives from one policy set.

`GateBase` holds the slots of a gate, which all its parts share. `State` is
what a gate derives from one policy set, so that a decision reads one
revision: `State.build` compiles a policy set (its features with their
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
    import threading
    from collections.abc import Callable

    from geogate._locate.geo import GeoDatabase

    from .decisionlog import DecisionLog
    from .reload import ReloadResult
    from .watch import Snapshot, Watcher

__all__ = ["CompiledFeature", "GateBase", "State", "Today"]

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
    """

    policy: PolicySet
    features: Mapping[str, CompiledFeature]
    memo: dict[tuple[object, ...], Decision]
    today: Today

    @classmethod
    def build(cls, policy: PolicySet, clock: Callable[[], float]) -> State:
        """Compile *policy*, with empty memos for today (the day *clock* reads once compiled)."""
        with collector_paused():
            features = {
                fid: CompiledFeature.of(f, policy.revision, policy.jurisdictions)
                for fid, f in policy.features.items()
            }
        return cls(policy, features, {}, Today.now(clock))


class GateBase:
    """
    The slots of a `geogate.Gate`, which all its parts read and write.

    A gate is put together from parts, one module each: the facade and its
    fast path (`geogate._gate.gate`), the slow path (`geogate._gate.slowpath`), test
    overrides (`geogate._gate.overrides`) and reloading (`geogate._gate.reload`). Each
    part is a subclass of this one with no slots of its own, so a gate has
    exactly these slots and no ``__dict__``. `Gate.__init__` sets them all.
    """

    __slots__ = (
        "__weakref__",
        "_by_ip",
        "_expected",
        "_expires",
        "_forced",
        "_geoip",
        "_listeners",
        "_lock",
        "_locked",
        "_log",
        "_paths",
        "_reload_lock",
        "_rows",
        "_snapshot",
        "_state",
        "_strict",
        "_warned",
        "_watcher",
    )

    #: The state every call decides from, and the three slots the fast path
    #: reads from it, lock-free (see ``Gate._publish`` for the order).
    _state: State
    _rows: dict[str, dict[str | None, Decision]]
    _by_ip: dict[str, dict[str, Decision]]
    _expires: float
    _log: DecisionLog | None
    _strict: bool
    _geoip: GeoDatabase | None
    #: Unknown feature ids already warned about.
    _warned: set[str]
    #: Held by every writer of the slots above.
    _lock: threading.Lock
    #: Serialises reloads (loading runs outside ``_lock``; listeners run inside this).
    _reload_lock: threading.RLock
    #: How many override or date-pin blocks of this gate are open, in any
    #: thread or task; while it is above 0, ``_expires`` stays 0.0.
    _forced: int
    #: The policy paths `reload` reads (absolute), None for a gate built
    #: from a PolicySet; the snapshot of their files taken before the last load.
    _paths: tuple[str, ...] | None
    _snapshot: Snapshot | None
    #: The only revision `reload` accepts (``expect_revision=``), if any.
    _expected: str | None
    #: Whether the policy directory held a lock (``geogate lock``) when it was
    #: loaded: from then on, `reload` requires one.
    _locked: bool
    _listeners: list[Callable[[ReloadResult], object]]
    _watcher: Watcher | None

    if TYPE_CHECKING:
        # What one part calls on another (each defined by one part).

        @property
        def strict(self) -> bool:
            """Whether an unknown feature id raises instead of denying (`geogate._gate.gate`)."""

        @property
        def features(self) -> tuple[str, ...]:
            """The feature ids, sorted (`geogate._gate.gate`)."""

        @property
        def _features(self) -> Mapping[str, CompiledFeature]: ...

        def _build(self, policy: PolicySet) -> State: ...

        def _publish(self, state: State) -> None: ...

        def _republish(self, policy: PolicySet) -> None: ...

        def _current(self) -> State: ...

        def _decide_policy(
            self,
            feature: object,
            country: object,
            subdivision: object,
            domicile: object,
            ip: object,
            at: object,
        ) -> Decision: ...
