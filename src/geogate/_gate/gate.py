"""
Gate: the object application code imports and asks, and its memoised fast path.

A gate holds one loaded policy set and answers ``evaluate`` and
``is_allowed``. Evaluation never raises for bad run-time input; it returns a
denying `geogate.Decision` that says why.

Speed: decisions for today's date are memoised per feature and per exact
country string (only strings that are valid codes, so the memo is bounded by
the number of features times the spellings of about 250 codes). A call for
today costs one clock read and two dictionary look-ups; at midnight UTC the
memo is replaced as a whole, so a decision never outlives its date.

The parts of a gate, one module each:

- this module: construction, the fast path (`Gate.is_allowed`,
  `Gate.evaluate`, and `_LoggedGate`'s copy of it), the clock, and how a new
  state is published (`Gate._publish`, with the argument why every decision
  is made entirely under one revision);
- `geogate._gate.state`: the gate's slots (`GateBase`, which every part
  subclasses), the state derived from one policy set, and today's tables;
- `geogate._gate.slowpath`: everything the memo does not answer;
- `geogate._gate.overrides`: `Gate.override` and pinned dates for tests, which
  keep the fast path off while they are open;
- `geogate._gate.reload`: `Gate.reload`, its listeners and `Gate.watch`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING

import attrs

from geogate._load.loader import load_policies
from geogate._locate.geo import GeoDatabase
from geogate.exceptions import RevisionMismatchError

from .decisionlog import DecisionLog
from .overrides import Overrides
from .reload import Reloading, checked_revision, has_lock, watched_files
from .slowpath import SlowPath
from .state import State, Today
from .watch import DEFAULT_SETTLE, snapshot

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType
    from typing import Self

    from geogate._engine.decision import Decision
    from geogate._policy.diagnostics import Diagnostic
    from geogate._policy.model import PolicySet

    from .reload import ReloadResult
    from .state import CompiledFeature

__all__ = ["Gate"]

logger = logging.getLogger("geogate")

#: The clock, bound once: the fast path reads it on every call.
_now = time.time


class Gate(Overrides, SlowPath, Reloading):
    """
    Decides whether features may be offered, from one loaded policy set.

    Build it with `Gate.from_path`. A gate is safe to share between threads.
    Its policies change only through `reload` (or the watcher of
    ``watch=True``), which swaps the whole policy set at once; the other
    state it changes is its memo of today's decisions, which it replaces
    whole. `close` (or leaving a ``with`` block) stops the watcher and closes
    the GeoIP database.

    Attributes:
        policy: The loaded policy set.
        strict: Whether an unknown feature id raises `UnknownFeatureError`
            instead of denying.
    """

    __slots__ = ()  # the slots are `GateBase`'s (geogate._gate.state), shared by every part

    def __new__(  # noqa: PYI034 (returns a Gate, or a _LoggedGate when there is a log)
        cls,
        policy: PolicySet,  # noqa: ARG004 (for __init__)
        *,
        strict: bool = False,  # noqa: ARG004
        geoip: GeoDatabase | None = None,  # noqa: ARG004
        decision_log: object = None,
    ) -> Gate:
        """Return a `_LoggedGate` when there is a decision log, so a plain gate pays nothing."""
        chosen: type[Gate] = cls
        if decision_log is not None and not issubclass(cls, _LoggedGate):
            if cls is not Gate:
                msg = f"decision_log= works with Gate itself, not with the subclass {cls.__name__}"
                raise TypeError(msg)
            chosen = _LoggedGate
        return object.__new__(chosen)

    def __init__(
        self,
        policy: PolicySet,
        *,
        strict: bool = False,
        geoip: GeoDatabase | None = None,
        decision_log: object = None,
    ) -> None:
        self._log = None if decision_log is None else DecisionLog.coerce(decision_log)
        self._strict = strict
        self._geoip = geoip
        self._warned = set()
        self._lock = threading.Lock()
        self._reload_lock = threading.RLock()
        self._forced = 0
        self._paths = None
        self._snapshot = None
        self._expected = None
        self._locked = False
        self._listeners = []
        self._watcher = None
        with self._lock:
            self._publish(self._build(policy))
        _LIVE.add(self)
        for warning in policy.warnings:
            logger.warning("geogate: %s", warning)

    @classmethod
    def from_path(
        cls,
        *paths: str | os.PathLike[str],
        strict: bool = False,
        geoip_db: str | os.PathLike[str] | None = None,
        geoip_cache_size: int = 65_536,
        on_reload: Callable[[ReloadResult], object] | None = None,
        watch: bool | float = False,
        settle: float = DEFAULT_SETTLE,
        decision_log: object = None,
        expect_revision: str | None = None,
    ) -> Gate:
        """
        Load the policy files at *paths* (files or directories) into a gate.

        With no path, ``$GEOGATE_POLICIES`` or else ``./policies`` is used.
        *geoip_db* (else ``$GEOGATE_GEOIP_DB``) is a MaxMind GeoIP2 or DB-IP
        Country or City database, opened now, for ``evaluate(..., ip=...)``;
        *geoip_cache_size* bounds its address cache (0 turns it off).

        The gate remembers *paths* for `reload`. *on_reload* is added as a
        reload listener (see `add_reload_listener`). *watch* starts a watcher
        that reloads when the files change: True polls every second, a number
        every that many seconds; it reloads once the files have not changed
        for *settle* seconds (see `watch`). When the policy directory holds a
        lock (``geogate lock``), the files must match it, now and at every
        reload. *decision_log* writes every
        decision as a JSON line: a `DecisionLog`, or what one takes (a path, a
        `logging.Logger`, a callable taking one line, or a `DecisionSink`).

        *expect_revision* (``sha256:...``, as `revision` and ``geogate check``
        print it) pins the content: files whose revision differs are refused
        with `RevisionMismatchError`, and so is every later `reload` to other
        content, so a deployment answers only from the reviewed policy set.

        Raises:
            PolicyError: with every diagnostic, when any file has an error.
            RevisionMismatchError: when the files' revision is not *expect_revision*.
            GeoDatabaseError: when the GeoIP database cannot be used.
            ValueError: when *expect_revision* is not ``sha256:`` and 64 hex digits.
        """
        expected = None if expect_revision is None else checked_revision(expect_revision)
        if not paths:
            paths = (os.environ.get("GEOGATE_POLICIES") or "policies",)
        absolute = tuple(os.path.abspath(p) for p in paths)  # noqa: PTH100 (keeps str)
        geoip_db = geoip_db or os.environ.get("GEOGATE_GEOIP_DB") or None
        taken = snapshot(absolute, watched_files(absolute, None))
        locked = has_lock(absolute)
        policy = load_policies(*paths)
        if expected is not None and policy.revision != expected:
            where = ", ".join(repr(os.fspath(p)) for p in paths)
            raise RevisionMismatchError(where, expected, policy.revision)
        geoip = None if geoip_db is None else GeoDatabase(geoip_db, cache_size=geoip_cache_size)
        gate = cls(policy, strict=strict, geoip=geoip, decision_log=decision_log)
        gate._paths = absolute
        # The database's entry joins the snapshot as it was opened (its own signature).
        gate._snapshot = taken | snapshot((), watched_files((), geoip))
        gate._expected = expected
        gate._locked = locked
        if on_reload is not None:
            gate.add_reload_listener(on_reload)
        if watch is not False:
            gate.watch(interval=1.0 if watch is True else float(watch), settle=settle)
        return gate

    @property
    def geoip(self) -> GeoDatabase | None:
        """The GeoIP database that locates ``ip=``, if the gate has one."""
        return self._geoip

    def __repr__(self) -> str:
        return (
            f"<Gate {len(self._state.features)} feature(s), revision {self.revision[:19]}..., "
            f"strict={self.strict}>"
        )

    @property
    def policy(self) -> PolicySet:
        """The loaded policy set (read-only; `reload` replaces it)."""
        return self._state.policy

    @property
    def strict(self) -> bool:
        """Whether an unknown feature id raises instead of denying (read-only)."""
        return self._strict

    @property
    def revision(self) -> str:
        """``sha256:`` digest of the loaded policy files."""
        return self.policy.revision

    @property
    def features(self) -> tuple[str, ...]:
        """The feature ids, sorted."""
        return tuple(self._state.features)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        """Warnings found while loading (errors prevent loading)."""
        return self.policy.warnings

    @property
    def expected_revision(self) -> str | None:
        """The only revision this gate loads (``expect_revision=``), or None."""
        return self._expected

    @property
    def decision_log(self) -> DecisionLog | None:
        """The log every decision is written to, if the gate has one."""
        return self._log

    @property
    def paths(self) -> tuple[str, ...] | None:
        """The policy paths `reload` reads, or None for a gate built from a PolicySet."""
        return self._paths

    @property
    def _features(self) -> Mapping[str, CompiledFeature]:
        """The compiled features of the current state (for benchmarks and tests)."""
        return self._state.features

    @property
    def _today(self) -> Today:
        """Today's memo of the current state (for tests)."""
        return self._state.today

    def is_allowed(
        self,
        feature: str,
        *,
        country: object = None,
        subdivision: object = None,
        domicile: object = None,
        ip: object = None,
        at: object = None,
    ) -> bool:
        """Return True only when *feature* may be offered; see `evaluate`."""
        if at is subdivision is domicile is None and _now() < self._expires:
            try:
                if country is not None:
                    return self._rows[feature][country].allowed  # type: ignore[index]
                row = self._by_ip.get(feature)
                if row is not None:
                    decision: Decision | None = row.get(ip)  # type: ignore[call-overload]
                    if decision is not None:
                        return decision.allowed
            except (KeyError, TypeError):
                pass
        return self._evaluate(feature, country, subdivision, domicile, ip, at).allowed

    def evaluate(
        self,
        feature: str,
        *,
        country: object = None,
        subdivision: object = None,
        domicile: object = None,
        ip: object = None,
        at: object = None,
    ) -> Decision:
        """
        Decide whether *feature* may be offered, and say why.

        Args:
            feature: The feature id.
            country: ISO 3166-1 alpha-2 code of where the request comes from
                (any case; ``UK`` and ``EL`` are understood; ``XX`` and the
                other pseudo-codes mean unknown).
            subdivision: ISO 3166-2 code (``GB-NIR``), or its part after the
                hyphen when *country* is given.
            domicile: ISO 3166-1 code of the account's or company's domicile,
                for features decided on domicile.
            ip: The client's IP address, located through the gate's GeoIP
                database when no country or subdivision is given.
            at: The date to decide for: a `datetime.date`, an aware
                `datetime.datetime` or ``YYYY-MM-DD``; today (UTC) when None.

        With no country, subdivision or ip, the location of the request being
        handled (set by the web middleware) is used, else the location is
        unknown. Never raises for bad input: a wrong type, a malformed IP, an
        unknown feature or an unreadable date give a denying decision that
        explains the problem. Only a strict gate raises, for an unknown
        feature id.
        """
        if at is subdivision is domicile is None and _now() < self._expires:
            try:
                if country is not None:
                    return self._rows[feature][country]  # type: ignore[index]
                row = self._by_ip.get(feature)
                if row is not None:
                    decision: Decision | None = row.get(ip)  # type: ignore[call-overload]
                    if decision is not None:
                        return decision
            except (KeyError, TypeError):
                pass
        return self._evaluate(feature, country, subdivision, domicile, ip, at)

    # The state, and how a new one is published.
    #
    # The fast path reads three slots, lock-free, in this order: ``_expires``,
    # then ``_rows`` (or ``_by_ip``). The slow path reads ``_state`` once, at
    # its start, and uses only that object. Every writer holds ``_lock`` and
    # stores, in this order: ``_state``, ``_rows``, ``_by_ip``, ``_expires``.
    # Each memoised Decision is a complete value of one revision and one day.
    #
    # Reload (old state A, new state B; both for today):
    # - A fast-path reader may see A's expiry or B's, and A's table or B's, in
    #   any combination: both expiries lie in the future and both tables hold
    #   only today's decisions of their own revision, so it returns a whole
    #   decision of A or of B, never a mix. A miss falls to the slow path.
    # - A slow-path reader that read A before the swap decides from A alone
    #   (A's features, revision, jurisdictions, memo) and writes the decision
    #   into A's tables only, which are no longer (or soon not) published: B's
    #   tables receive only decisions made from B. Late A decisions are still
    #   complete A decisions, returned by calls that overlapped the reload.
    # - A call that starts after `reload` returned reads B everywhere: the
    #   swap takes effect at some instant inside `reload`.
    # Midnight (state A today, A' = A with tomorrow's tables):
    # - The rows are published before the expiry, so a reader that sees the
    #   new expiry sees the new rows: yesterday's decisions are never served
    #   after midnight. A reader that sees the old expiry takes the slow path.
    # - A reload built just before midnight and published just after carries
    #   an expired ``today``: the fast path refuses it and the slow path rolls
    #   it over under the lock, as for any state.
    # Overrides and date pins: while one is open, ``_expires`` is published as
    # 0.0 whatever the state, so the fast path stays off (see `geogate._gate.overrides`).

    def _publish(self, state: State) -> None:
        """Make *state* the one every later call reads; the caller holds ``_lock``."""
        self._state = state
        self._rows = state.today.rows
        self._by_ip = state.today.by_ip
        self._expires = 0.0 if self._forced else state.today.expires

    def _current(self) -> State:
        """Return the state a slow-path call decides from, rolled over to today."""
        state = self._state
        if _now() >= state.today.expires:
            with self._lock:
                state = self._state
                if _now() >= state.today.expires:
                    state = attrs.evolve(state, today=Today.now(_now))
                    self._publish(state)
        return state

    def _build(self, policy: PolicySet) -> State:
        """Compile *policy* into a state for today, by this module's clock."""
        return State.build(policy, _now)

    def _republish(self, policy: PolicySet) -> None:
        """Answer from *policy* from now on, with empty memos (a reload, a new database)."""
        state = self._build(policy)
        with self._lock:
            self._publish(state)
            self._warned = set()

    def flush(self, timeout: float | None = None) -> bool:
        """
        Wait until every decision made so far is in the decision log; False on timeout.

        True at once for a gate without a log. A library installs no signal
        handlers: to write the log out when the process is stopped with
        SIGTERM (systemd, Docker, Kubernetes), make SIGTERM exit normally,
        so that interpreter exit closes the log::

            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        """
        return True if self._log is None else self._log.flush(timeout)

    def close(self) -> None:
        """
        Stop the watcher, write out the decision log and close the GeoIP database.

        Closing twice is harmless. The gate still answers afterwards (an
        ``ip=`` then finds no location), but logs no more decisions.
        """
        with self._reload_lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
        if self._log is not None:
            self._log.close()
        if self._geoip is not None:
            self._geoip.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


#: Every gate alive, for the hook that mends a forked child's gates.
_LIVE: weakref.WeakSet[Gate] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """
    Mend each gate in a child process made by `os.fork` (gunicorn --preload, multiprocessing).

    Only the forking thread lives on in the child: a lock another thread held
    at the fork would stay held forever, and the watcher's thread is gone. So
    each gate gets new locks, and a gate that was watching gets a new watcher
    (the decision log mends itself: `geogate._gate.decisionlog`).
    """
    for gate in list(_LIVE):
        gate._lock = threading.Lock()  # noqa: SLF001 (the gate's own module)
        gate._reload_lock = threading.RLock()  # noqa: SLF001
        watcher, paths = gate._watcher, gate._paths  # noqa: SLF001
        if watcher is not None and paths is not None:
            gate._start_watcher(paths, watcher.interval, watcher.settle)  # noqa: SLF001


if hasattr(os, "register_at_fork"):  # pragma: no branch (POSIX)
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _LoggedGate(Gate):
    """
    A gate with a decision log: each answer, then one append to the log's queue.

    `Gate.__new__` picks this class when ``decision_log=`` is given, so the
    fast path of a gate without a log stays exactly as it is. The memoised
    fast path of `Gate.evaluate` is repeated here (a call through the base
    method would cost more than the log): keep the two in step. The clock
    read for the memo's expiry is the decision's timestamp.
    """

    __slots__ = ("_decisions", "_queue")

    def __init__(
        self,
        policy: PolicySet,
        *,
        strict: bool = False,
        geoip: GeoDatabase | None = None,
        decision_log: object = None,
    ) -> None:
        super().__init__(policy, strict=strict, geoip=geoip, decision_log=decision_log)
        assert self._log is not None  # noqa: S101 (Gate.__new__ chose this class for it)
        self._decisions = self._log
        self._queue = self._log._queue  # noqa: SLF001 (the log's hot path, inlined)

    def is_allowed(
        self,
        feature: str,
        *,
        country: object = None,
        subdivision: object = None,
        domicile: object = None,
        ip: object = None,
        at: object = None,
    ) -> bool:
        """Return True only when *feature* may be offered (and log the decision); see `evaluate`."""
        return self.evaluate(
            feature, country=country, subdivision=subdivision, domicile=domicile, ip=ip, at=at
        ).allowed

    def evaluate(
        self,
        feature: str,
        *,
        country: object = None,
        subdivision: object = None,
        domicile: object = None,
        ip: object = None,
        at: object = None,
    ) -> Decision:
        """Decide whether *feature* may be offered (and log the decision); see `Gate.evaluate`."""
        now = _now()
        decision: Decision | None = None
        if at is subdivision is domicile is None and now < self._expires:
            try:
                if country is not None:
                    decision = self._rows[feature][country]  # type: ignore[index]
                else:
                    row = self._by_ip.get(feature)
                    if row is not None:
                        decision = row.get(ip)  # type: ignore[call-overload]
            except (KeyError, TypeError):
                pass
        if decision is None:
            decision = self._evaluate(feature, country, subdivision, domicile, ip, at)
        queue = self._queue
        if len(queue) < self._decisions._limit:  # noqa: SLF001
            queue.append((decision, ip, now))
        else:
            self._decisions._full((decision, ip, now))  # noqa: SLF001
        return decision
