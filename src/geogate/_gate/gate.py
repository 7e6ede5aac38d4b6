"""
Gate: the object application code imports and asks, with its fast path and its published state.

A gate holds one loaded policy set and answers ``evaluate`` and
``is_allowed``. Evaluation never raises for bad run-time input; it returns a
denying `geogate.Decision` that says why.

Speed: decisions for today's date are memoised per feature and per exact
country string (only strings that are valid codes, so the memo is bounded by
the number of features times the spellings of about 250 codes). A call for
today costs one clock read and two dictionary look-ups; at midnight UTC the
memo is replaced as a whole, so a decision never outlives its date.

A gate is composed of parts it holds or calls, one module each:

- this module: construction, the fast path (`_FAST_PATH`, compiled into
  `Gate.is_allowed` and `Gate.evaluate`, which the decision-log gate calls),
  the clock, and how a new state is published (`Gate._publish`, with the
  argument why every decision is made entirely under one revision);
- `geogate._gate.state`: the state derived from one policy set, and today's tables;
- `geogate._gate.slowpath`: plain functions that decide what the memo does not
  answer, from one state and the query;
- `geogate._gate.overrides`: the overrides and pinned dates tests open, which
  keep the fast path off while they are open;
- `geogate._gate.reload`: the `Reloader` the gate holds (reload, listeners, watcher).
"""

from __future__ import annotations

import difflib
import functools
import linecache
import logging
import os
import threading
import time
import weakref
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import attrs

from geogate._engine.decision import describe_feature
from geogate._load.loader import load_policies
from geogate._locate.geo import GeoDatabase
from geogate.exceptions import RevisionMismatchError, UnknownFeatureError

from .decisionlog import DecisionLog
from .overrides import checked_allow, checked_day, forced_for, forcing, overridden
from .reload import Reloader, checked_revision, has_lock, watched_files
from .slowpath import decide_query
from .state import State, Today
from .tracing import record_decision, require_opentelemetry
from .watch import DEFAULT_SETTLE, snapshot

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterator, Mapping
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

# The fast path, written once. Each ``answer X`` line is an exit: `Gate.is_allowed`
# returns ``X.allowed``, `Gate.evaluate` returns X, and the decision-log gate's
# `evaluate` records X first. A helper that each of them called would cost a
# Python call per decision (about a third of `is_allowed`, and more than the log:
# benchmarks/bench_decisions.py, bench_decisionlog.py), and a single exit
# about 4%, so `_fast_path` compiles this source into each method, as attrs
# compiles ``__init__``. What it reads, lock-free, is published by `Gate._publish`.
# An exit inside the ``try`` must not raise KeyError or TypeError itself.
_FAST_PATH = """\
def {name}(self, feature, *, country=None, subdivision=None, domicile=None, ip=None, at=None):
    {clock}
    if at is subdivision is domicile is None and {now} < self._expires:
        try:
            if country is not None:
                answer self._rows[feature][country]
            row = self._by_ip.get(feature)
            if row is not None:
                decision = row.get(ip)
                if decision is not None:
                    answer decision
        except (KeyError, TypeError):
            pass
    answer self._slow(feature, country, subdivision, domicile, ip, at)
"""

_Method = TypeVar("_Method", bound="Callable[..., object]")


def _fast_path(
    exit_: str, *, clock: bool = False, owner: str | None = None
) -> Callable[[_Method], _Method]:
    """
    Give the decorated method `_FAST_PATH` as its body, with *exit_* (of ``{value}``) at each exit.

    The decorated method states the signature and the docstring (what readers,
    type checkers and the API reference see); its parameters must be the fast
    path's, which is checked here. With *clock*, the time is read once, into
    ``now``, for the exits too. *owner* names the class the method is for,
    when the stub is another class's method (a variant reuses `Gate`'s
    signature and docstring). The compiled source is registered with
    `linecache`, so tracebacks and debuggers show it.
    """

    def compile_into(stub: _Method) -> _Method:
        name = stub.__name__
        lines: list[str] = []
        now = "now" if clock else "_now()"
        first = "now = _now()" if clock else "# the clock is read in the condition"
        for line in _FAST_PATH.format(name=name, clock=first, now=now).splitlines():
            indent, marker, value = line.partition("answer ")
            if marker and not indent.strip():
                lines.extend(indent + step for step in exit_.format(value=value).splitlines())
            else:
                lines.append(line)
        source = "\n".join(lines) + "\n"
        qualname = stub.__qualname__ if owner is None else f"{owner}.{name}"
        filename = f"<geogate fast path: {qualname}>"
        namespace: dict[str, object] = {}
        exec(compile(source, filename, "exec"), globals(), namespace)  # noqa: S102 (our own source)
        method: Callable[..., object] = namespace[name]  # type: ignore[assignment]
        if method.__code__.co_varnames[:7] != stub.__code__.co_varnames[:7]:
            msg = f"{stub.__qualname__} must take the fast path's parameters"
            raise TypeError(msg)
        linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
        functools.update_wrapper(method, stub)
        method.__qualname__ = qualname
        del method.__wrapped__  # type: ignore[attr-defined]  # the stub never answers: unwrapping must not reach it
        return method  # type: ignore[return-value]

    return compile_into


class Gate:
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

    __slots__ = (
        "__weakref__",
        "_by_ip",
        "_expires",
        "_forced",
        "_geoip",
        "_lock",
        "_log",
        "_observe",
        "_reloader",
        "_rows",
        "_state",
        "_strict",
    )

    #: The state every call decides from, and the three slots the fast path
    #: reads from it, lock-free (see `_publish` for the order).
    _state: State
    _rows: dict[str, dict[str | None, Decision]]
    _by_ip: dict[str, dict[str, Decision]]
    _expires: float
    #: Held by every writer of the four slots above.
    _lock: threading.Lock
    #: How many override or date-pin blocks of this gate are open, in any
    #: thread or task; while it is above 0, ``_expires`` stays 0.0.
    _forced: int
    _log: DecisionLog | None
    #: What each decision is handed to (``tracing=``, ``on_decision=``), or None.
    _observe: Callable[[Decision], None] | None
    _strict: bool
    _geoip: GeoDatabase | None
    #: Reads the policy paths again (`reload`, `watch`), and keeps the listeners.
    _reloader: Reloader

    def __new__(  # noqa: PYI034 (returns a Gate, or a variant that logs or observes)
        cls,
        policy: PolicySet,  # noqa: ARG004 (for __init__)
        *,
        strict: bool = False,  # noqa: ARG004
        geoip: GeoDatabase | None = None,  # noqa: ARG004
        decision_log: object = None,
        tracing: bool = False,
        on_decision: Callable[[Decision], object] | None = None,
    ) -> Gate:
        """
        Return the variant the options need, so a plain gate pays nothing.

        A `_LoggedGate` when there is a decision log, an `_ObservedGate` when
        decisions are traced or handed to *on_decision*, and an
        `_ObservedLoggedGate` for both.
        """
        logged = decision_log is not None
        observed = bool(tracing) or on_decision is not None
        if cls in _VARIANTS.values() or not (logged or observed):
            return object.__new__(cls)
        if cls is not Gate:
            option = "decision_log=" if logged else "tracing= and on_decision="
            msg = f"{option} works with Gate itself, not with the subclass {cls.__name__}"
            raise TypeError(msg)
        return object.__new__(_VARIANTS[logged, observed])

    def __init__(
        self,
        policy: PolicySet,
        *,
        strict: bool = False,
        geoip: GeoDatabase | None = None,
        decision_log: object = None,
        tracing: bool = False,
        on_decision: Callable[[Decision], object] | None = None,
    ) -> None:
        self._observe = observer(tracing=tracing, on_decision=on_decision)
        self._log = None if decision_log is None else DecisionLog.coerce(decision_log)
        self._strict = strict
        self._geoip = geoip
        self._lock = threading.Lock()
        self._forced = 0
        self._reloader = Reloader(geoip)
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
        tracing: bool = False,
        on_decision: Callable[[Decision], object] | None = None,
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

        *tracing* adds a ``feature_flag.evaluation`` event to the current
        OpenTelemetry span for every decision, while that span is recording
        (``geogate[otel]``; see docs/telemetry.md). *on_decision* is called
        with every `Decision`, on the thread that asked, after it is made; it
        must be quick, and what it raises is logged, never passed on. A gate
        without either (or a decision log) runs the plain fast path.

        *expect_revision* (``sha256:...``, as `revision` and ``geogate check``
        print it) pins the content: files whose revision differs are refused
        with `RevisionMismatchError`, and so is every later `reload` to other
        content, so a deployment answers only from the reviewed policy set.

        Raises:
            PolicyError: with every diagnostic, when any file has an error.
            RevisionMismatchError: when the files' revision is not *expect_revision*.
            GeoDatabaseError: when the GeoIP database cannot be used.
            ValueError: when *expect_revision* is not ``sha256:`` and 64 hex digits.
            ImportError: with the install line, when *tracing* is asked for
                without the OpenTelemetry API.
        """
        if tracing:
            require_opentelemetry()
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
        gate = cls(
            policy,
            strict=strict,
            geoip=geoip,
            decision_log=decision_log,
            tracing=tracing,
            on_decision=on_decision,
        )
        gate._reloader.attach(
            absolute,
            # The database's entry joins the snapshot as it was opened (its own signature).
            taken | snapshot((), watched_files((), geoip)),
            expected=expected,
            locked=locked,
        )
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
        return self._reloader.expected

    @property
    def decision_log(self) -> DecisionLog | None:
        """The log every decision is written to, if the gate has one."""
        return self._log

    @property
    def paths(self) -> tuple[str, ...] | None:
        """The policy paths `reload` reads, or None for a gate built from a PolicySet."""
        return self._reloader.paths

    @property
    def _features(self) -> Mapping[str, CompiledFeature]:
        """The compiled features of the current state (for benchmarks and tests)."""
        return self._state.features

    @property
    def _today(self) -> Today:
        """Today's memo of the current state (for tests)."""
        return self._state.today

    @_fast_path("return {value}.allowed")
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
        raise NotImplementedError  # pragma: no cover (the body is _FAST_PATH)

    @_fast_path("return {value}")
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
        unknown; an *ip* beside a country or subdivision is not read. Never
        raises for bad input: a wrong type, a malformed IP (when it is read),
        an unknown feature or an unreadable date give a denying decision that
        explains the problem. Only a strict gate raises, for an unknown
        feature id.
        """
        raise NotImplementedError  # pragma: no cover (the body is _FAST_PATH)

    def _slow(
        self,
        feature: object,
        country: object,
        subdivision: object,
        domicile: object,
        ip: object,
        at: object,
    ) -> Decision:
        """
        Decide what the memo does not answer: what a test forces, else the policy's decision.

        While an `override` or a pinned date of this gate is open anywhere,
        every call comes here, and asks the context first.
        """
        allow = None
        if self._forced:
            allow, pinned = forced_for(self, feature)
            if at is None:
                at = pinned
        decision = decide_query(
            self._current(),
            feature,
            country,
            subdivision,
            domicile,
            ip,
            at,
            geoip=self._geoip,
            strict=self._strict,
        )
        return decision if allow is None else overridden(decision, allow=allow)

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
    # 0.0 whatever the state, so the fast path stays off (`_hold`).

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

    def _policy(self) -> PolicySet:
        """Return the policy set answered from now (for the reloader)."""
        return self._state.policy

    def _hold(self, delta: int) -> None:
        """Count a test block opened (+1) or left (-1); the fast path is off while any is open."""
        with self._lock:
            self._forced += delta
            self._expires = 0.0 if self._forced else self._state.today.expires

    # Tests: overrides and pinned dates (geogate._gate.overrides).

    @contextmanager
    def override(self, feature: str, *, allow: bool) -> Iterator[None]:
        """
        Force this gate's answer for *feature* inside a ``with`` block, for tests.

        ::

            with gate.override("llama-3.2-vision", allow=True):
                assert gate.is_allowed("llama-3.2-vision", country="FR")

        Every request for *feature* (any place, date or input, even a
        malformed one) gets a decision with the forced effect, reason
        ``DEFAULT``, no rule, and an explanation that names the override
        and says what the policy alone would decide. Other features and other
        gates are not affected.

        The override holds in the current thread or asyncio task only (it is
        kept in a `contextvars.ContextVar`), and in tasks started inside the
        block until the block ends; other threads and tasks still get the
        policy's answer. Blocks nest (the innermost wins) and leaving one,
        even by an exception, restores what was in force before. While any
        override of a gate is open, that gate skips its memoised fast path.

        Raises:
            UnknownFeatureError: when the policy defines no such feature.
            TypeError: when *allow* is not a bool.
        """
        features = self._state.features
        if not isinstance(feature, str) or feature not in features:
            name = describe_feature(feature)
            close = difflib.get_close_matches(str(feature), list(features), n=1)
            raise UnknownFeatureError(name, tuple(features), close[0] if close else None)
        with forcing(self, self._hold, feature=feature, allow=checked_allow(allow)):
            yield

    @contextmanager
    def _pinned(self, day: object) -> Iterator[dt.date]:
        """Decide calls without ``at=`` as of *day* inside the block (see `geogate.testing`)."""
        found = checked_day(day)
        with forcing(self, self._hold, day=found):
            yield found

    # Reloading (geogate._gate.reload).

    def reload(self) -> ReloadResult:
        """
        Re-read the policy paths and, when they load, answer from them from now on.

        The swap is atomic: every decision is made entirely from one policy
        set, and the decision's ``revision`` says which. A reload that finds
        errors keeps the last good policies; it logs every diagnostic on the
        ``geogate`` logger and reports them in the result, and never raises for
        bad files. A reload that finds the same revision swaps nothing. Files
        are refused, the same way, when:

        - they changed while they were read (``files-changed``: a writer is
          at work; the watcher tries again once they have settled);
        - the policy directory holds a lock (``geogate lock``) they do not
          match (``lock-mismatch``), or held one when the gate loaded it and
          no longer does (``lock-missing``);
        - the gate was built with ``expect_revision=`` and they are of
          another revision (``revision-mismatch``).

        The GeoIP database is reopened when its file changed (inode, size or
        modification time), atomically with respect to decisions; one that
        cannot be reopened is reported (``geoip-database``) and the last good
        one keeps answering.

        Reload listeners (see `add_reload_listener`) are called with the
        result after a reload that swapped the policies or failed, on the
        thread that reloaded, one reload at a time.

        Raises:
            GeogateError: when the gate was built from a PolicySet, not from paths.
        """
        return self._reloader.reload(self._policy, self._republish)

    def add_reload_listener(self, listener: Callable[[ReloadResult], object]) -> None:
        """
        Call *listener* with the `ReloadResult` of each reload that swapped or failed.

        ``result.ok`` tells a successful swap (the policies changed: an
        OpenFeature provider emits ``PROVIDER_CONFIGURATION_CHANGED``) from a
        failed reload (the gate still answers from ``result.previous``). A
        listener that raises is logged and does not stop the others.
        """
        self._reloader.add_listener(listener)

    def remove_reload_listener(self, listener: Callable[[ReloadResult], object]) -> None:
        """Stop calling *listener*; a listener that was not added is ignored."""
        self._reloader.remove_listener(listener)

    def watch(self, interval: float = 1.0, *, settle: float = DEFAULT_SETTLE) -> None:
        """
        Reload once the policy files changed and settled, polling every *interval* seconds.

        A daemon thread compares the policy files under the paths, the lock
        file and the GeoIP database (names, modification times, sizes,
        inodes) with the last load; a change triggers `reload` once nothing
        has changed for *settle* seconds, so a file being written in place is
        not read half-way (see `geogate._gate.watch`). `close` stops it. Watching
        twice is harmless.

        Raises:
            GeogateError: when the gate was built from a PolicySet, not from paths.
            ValueError: when *interval* is not a positive number or *settle*
                is negative.
        """
        self._reloader.watch(self.reload, interval, settle=settle)

    @property
    def watching(self) -> bool:
        """Whether a watcher reloads the policies when their files change."""
        return self._reloader.watching

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
        self._reloader.stop()
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
    each gate gets a new lock, and its reloader mends itself (as the decision
    log does: `geogate._gate.decisionlog`).
    """
    for gate in list(_LIVE):
        gate._lock = threading.Lock()  # noqa: SLF001 (the gate's own module)
        gate._reloader.after_fork_in_child()  # noqa: SLF001


if hasattr(os, "register_at_fork"):  # pragma: no branch (POSIX)
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _recorded(answer: str) -> str:
    """Return the decision-log gate's exit of the fast path: record the decision, then *answer*."""
    return (
        "decision = {value}\n"
        "if len(self._queue) < self._decisions._limit:\n"
        "    self._queue.append((decision, ip, now))\n"
        "else:\n"
        "    self._decisions._full((decision, ip, now))\n"
        f"return {answer}\n"
    )


class _LoggedGate(Gate):
    """
    A gate with a decision log: the gate's own fast path, then one append to the log's queue.

    `Gate.__new__` picks this class when ``decision_log=`` is given, so the
    fast path of a gate without a log stays exactly as it is. Its methods are
    `_FAST_PATH` with an exit that records each decision (`_recorded`); the
    one clock read of the call, before the decision, is its timestamp.
    """

    __slots__ = ("_decisions", "_queue")

    def __init__(
        self,
        policy: PolicySet,
        *,
        strict: bool = False,
        geoip: GeoDatabase | None = None,
        decision_log: object = None,
        tracing: bool = False,
        on_decision: Callable[[Decision], object] | None = None,
    ) -> None:
        super().__init__(
            policy,
            strict=strict,
            geoip=geoip,
            decision_log=decision_log,
            tracing=tracing,
            on_decision=on_decision,
        )
        assert self._log is not None  # noqa: S101 (Gate.__new__ chose this class for it)
        self._decisions = self._log
        self._queue = self._log._queue  # noqa: SLF001 (the log's hot path, inlined)

    is_allowed = _fast_path(_recorded("decision.allowed"), clock=True, owner="_LoggedGate")(
        Gate.is_allowed
    )

    evaluate = _fast_path(_recorded("decision"), clock=True, owner="_LoggedGate")(Gate.evaluate)


def observer(
    *, tracing: bool, on_decision: Callable[[Decision], object] | None
) -> Callable[[Decision], None] | None:
    """
    Return what an observed gate hands each decision to, or None when nothing observes.

    It never raises: a failing *on_decision* is logged (the decision stands),
    so the fast path's ``except (KeyError, TypeError)`` never sees its errors.

    Raises:
        ImportError: with the install line, for *tracing* without the OpenTelemetry API.
        TypeError: when *on_decision* is not callable.
    """
    hooks: list[Callable[[Decision], object]] = []
    if tracing:
        require_opentelemetry()
        hooks.append(record_decision)
    given: object = on_decision  # checked at run time: callers pass all sorts of things
    if given is not None:
        if not callable(given):
            msg = f"on_decision must be a function taking a Decision, not {given!r}"
            raise TypeError(msg)
        hooks.append(given)
    if not hooks:
        return None
    chosen = tuple(hooks)

    def observe(decision: Decision) -> None:
        for hook in chosen:
            try:
                hook(decision)
            except Exception:
                logger.exception("geogate: a decision observer failed (%r)", hook)

    return observe


def _observed(answer: str, *, logged: bool) -> str:
    """Return an observed gate's exit: record the decision (when *logged*), observe it, *answer*."""
    recorded = _recorded("decision").rpartition("return ")[0] if logged else "decision = {value}\n"
    return f"{recorded}self._observe(decision)\nreturn {answer}\n"


class _ObservedGate(Gate):
    """
    A gate whose decisions are traced or handed to ``on_decision=``: its fast path, then one call.

    `Gate.__new__` picks this class for ``tracing=True`` or ``on_decision=``,
    so a plain gate's fast path stays exactly as it is (the same reasoning as
    `_LoggedGate`: an exit compiled into `_FAST_PATH`).
    """

    __slots__ = ()

    is_allowed = _fast_path(_observed("decision.allowed", logged=False), owner="_ObservedGate")(
        Gate.is_allowed
    )

    evaluate = _fast_path(_observed("decision", logged=False), owner="_ObservedGate")(Gate.evaluate)


class _ObservedLoggedGate(_LoggedGate):
    """A gate with a decision log whose decisions are also observed (`_ObservedGate`)."""

    __slots__ = ()

    is_allowed = _fast_path(
        _observed("decision.allowed", logged=True), clock=True, owner="_ObservedLoggedGate"
    )(Gate.is_allowed)

    evaluate = _fast_path(
        _observed("decision", logged=True), clock=True, owner="_ObservedLoggedGate"
    )(Gate.evaluate)


#: The gate class for (a decision log, an observer), as `Gate.__new__` chooses it.
_VARIANTS: dict[tuple[bool, bool], type[Gate]] = {
    (True, False): _LoggedGate,
    (False, True): _ObservedGate,
    (True, True): _ObservedLoggedGate,
}
