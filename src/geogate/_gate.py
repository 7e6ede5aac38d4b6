"""
Gate: the object application code imports and asks.

A gate holds one loaded policy set and answers ``evaluate`` and
``is_allowed``. Evaluation never raises for bad run-time input; it returns a
denying `geogate.Decision` that says why.

Speed: decisions for today's date are memoised per feature and per exact
country string (only strings that are valid codes, so the memo is bounded by
the number of features times the spellings of about 250 codes). A call for
today costs one clock read and two dictionary look-ups; at midnight UTC the
memo is replaced as a whole, so a decision never outlives its date.

Tests: `Gate.override` forces a feature's answer, and `geogate.testing.pinned_date`
the evaluation date, inside a ``with`` block. Both live in a
`contextvars.ContextVar` (per thread and per asyncio task), so they cannot leak
into code that runs beside or after the block. The fast path never looks at
them: while a gate has any such block open anywhere, its memo's expiry is held
at 0, so every call takes the slow path, which looks at the context first.

Reload: `Gate.reload` (or the watcher of ``watch=True``) swaps the policy set
atomically; see `_State` and `Gate._publish` for why every decision is made
entirely under one revision.
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import TYPE_CHECKING

import attrs

from ._context import current_location
from ._countries import LocationStatus, describe_value, normalize_country, with_article
from ._decision import (
    Decision,
    ErrorCode,
    Reason,
    describe_feature,
    explain,
    explain_error,
    rule_reason,
    short_revision,
)
from ._decisionlog import DecisionLog
from ._diagnostics import Diagnostic, Position
from ._engine import (
    CompiledRule,
    Location,
    OutcomeKind,
    decide,
    resolve_location,
)
from ._gc import collector_paused
from ._geo import GeoDatabase
from ._jurisdictions import JurisdictionTable
from ._loader import check_paths, load_policies
from ._policy import Basis, Effect, Feature, PolicySet
from ._reload import ReloadResult, log_result, notify
from ._watch import Snapshot, Watcher, snapshot
from .exceptions import (
    GeogateError,
    RevisionMismatchError,
    UnknownFeatureError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import TracebackType
    from typing import Self

__all__ = ["Gate", "checked_revision", "mismatch_diagnostic"]

logger = logging.getLogger("geogate")

#: The clock, bound once: the fast path reads it on every call.
_now = time.time
_SECONDS_PER_DAY = 86_400
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: How many distinct unknown feature ids are remembered for "warn once".
_MAX_WARNED = 1024
#: Upper bound on memoised spellings per feature (valid codes only reach ~1,000).
_MAX_MEMO_PER_FEATURE = 4096
#: Upper bound on memoised decisions for other dates, subdivisions and domiciles;
#: the memo is emptied when full (a decision is cheap to make again).
_MAX_MEMO = 65_536
#: Longest input string memoised: ISO codes have at most 6 characters.
_MAX_MEMO_INPUT = 8
#: A policy revision as `PolicySet.revision` writes it.
_REVISION = re.compile(r"sha256:[0-9a-f]{64}")


@attrs.define(eq=False)
class _Today:
    """Decisions of one policy revision memoised for one UTC day."""

    day: dt.date
    expires: float
    rows: dict[str, dict[str | None, Decision]]
    by_ip: dict[str, dict[str, Decision]]
    #: How many decisions ``by_ip`` holds (bounded as a whole; a racy count is fine).
    ip_entries: int = 0

    @classmethod
    def now(cls) -> _Today:
        seconds = _now()
        day = dt.datetime.fromtimestamp(seconds, dt.UTC).date()
        midnight = dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()
        return cls(day, midnight + _SECONDS_PER_DAY, {}, {})


#: A location found without the caller's country: (source, country, subdivision,
#: status, problem), the status as its plain string. Only built-in types, so
#: it keys the memo at C speed (an Enum member hashes in Python).
_Located = tuple[str, str | None, str | None, str, str | None]
_KNOWN = LocationStatus.KNOWN.value
_UNKNOWN = LocationStatus.UNKNOWN.value
#: Longest address memoised by text (the longest IPv6 text form).
_MAX_IP_TEXT = 45


@attrs.define(eq=False)
class _Forcing:
    """
    One open `Gate.override` (a feature's answer) or date pin (``feature`` None).

    The context holds a stack of these; leaving the block marks its entry
    inactive, so a task or thread that copied the context while it was open
    (and outlives it) does not keep the override.
    """

    gate: Gate
    feature: str | None
    allow: bool | None
    day: dt.date | None
    active: bool = True


#: The overrides and date pins open in this thread or task, innermost last.
_FORCINGS: ContextVar[tuple[_Forcing, ...]] = ContextVar("geogate_forcings", default=())


@attrs.frozen
class _CompiledFeature:
    """A feature ready to decide, with the revision and jurisdictions of its policy set."""

    feature: Feature
    rules: tuple[CompiledRule, ...]
    revision: str
    table: JurisdictionTable


@attrs.frozen(eq=False)
class _State:
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
    features: Mapping[str, _CompiledFeature]
    memo: dict[tuple[object, ...], Decision]
    today: _Today

    @classmethod
    def build(cls, policy: PolicySet) -> _State:
        """Compile *policy*, with empty memos for today."""
        with collector_paused():
            features = {
                fid: _CompiledFeature(
                    f,
                    tuple(CompiledRule.from_rule(r) for r in f.rules),
                    policy.revision,
                    policy.jurisdictions,
                )
                for fid, f in policy.features.items()
            }
        return cls(policy, features, {}, _Today.now())


def _as_date(value: object) -> dt.date | None:
    """Return the evaluation date for *value*, or None if it is not one."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return None
        return value.astimezone(dt.UTC).date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


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
        "_by_ip",
        "_expected",
        "_expires",
        "_forced",
        "_geoip",
        "_listeners",
        "_lock",
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
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        #: Serialises reloads (loading runs outside ``_lock``; listeners run inside this).
        self._reload_lock = threading.RLock()
        #: How many override or date-pin blocks of this gate are open, in any
        #: thread or task; while it is above 0, ``_expires`` stays 0.0.
        self._forced = 0
        #: The policy paths `reload` reads (absolute), None for a gate built
        #: from a PolicySet; the snapshot of their files taken before the last load.
        self._paths: tuple[str, ...] | None = None
        self._snapshot: Snapshot | None = None
        #: The only revision `reload` accepts (``expect_revision=``), if any.
        self._expected: str | None = None
        self._listeners: list[Callable[[ReloadResult], object]] = []
        self._watcher: Watcher | None = None
        self._state: _State
        self._rows: dict[str, dict[str | None, Decision]]
        self._by_ip: dict[str, dict[str, Decision]]
        self._expires: float
        with self._lock:
            self._publish(_State.build(policy))
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
        every that many seconds (see `watch`). *decision_log* writes every
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
        taken = snapshot(absolute)
        policy = load_policies(*paths)
        if expected is not None and policy.revision != expected:
            where = ", ".join(repr(os.fspath(p)) for p in paths)
            raise RevisionMismatchError(where, expected, policy.revision)
        geoip_db = geoip_db or os.environ.get("GEOGATE_GEOIP_DB") or None
        geoip = None if geoip_db is None else GeoDatabase(geoip_db, cache_size=geoip_cache_size)
        gate = cls(policy, strict=strict, geoip=geoip, decision_log=decision_log)
        gate._paths = absolute
        gate._snapshot = taken
        gate._expected = expected
        if on_reload is not None:
            gate.add_reload_listener(on_reload)
        if watch is not False:
            gate.watch(interval=1.0 if watch is True else float(watch))
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
    def _features(self) -> Mapping[str, _CompiledFeature]:
        """The compiled features of the current state (for benchmarks and tests)."""
        return self._state.features

    @property
    def _today(self) -> _Today:
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
    # 0.0 whatever the state, so the fast path stays off (see `_forcing`).

    def _publish(self, state: _State) -> None:
        """Make *state* the one every later call reads; the caller holds ``_lock``."""
        self._state = state
        self._rows = state.today.rows
        self._by_ip = state.today.by_ip
        self._expires = 0.0 if self._forced else state.today.expires

    def _current(self) -> _State:
        """Return the state a slow-path call decides from, rolled over to today."""
        state = self._state
        if _now() >= state.today.expires:
            with self._lock:
                state = self._state
                if _now() >= state.today.expires:
                    state = attrs.evolve(state, today=_Today.now())
                    self._publish(state)
        return state

    # Reloading.

    def reload(self) -> ReloadResult:
        """
        Re-read the policy paths and, when they load, answer from them from now on.

        The swap is atomic: every decision is made entirely from one policy
        set, and the decision's ``revision`` says which. A reload that finds
        errors keeps the last good policies; it logs every diagnostic on the
        ``geogate`` logger and reports them in the result, and never raises for
        bad files. A reload that finds the same revision swaps nothing. A gate
        built with ``expect_revision=`` refuses content of any other revision
        the same way, with a ``revision-mismatch`` error diagnostic.

        Reload listeners (see `add_reload_listener`) are called with the
        result after a reload that swapped the policies or failed, on the
        thread that reloaded, one reload at a time.

        Raises:
            GeogateError: when the gate was built from a PolicySet, not from paths.
        """
        paths = self._paths
        if paths is None:
            msg = (
                "this gate was built from a PolicySet, so it has no policy paths to "
                "reload; build it with Gate.from_path(...) to use reload() or watch()"
            )
            raise GeogateError(msg)
        with self._reload_lock:
            previous = self._state.policy.revision
            taken = snapshot(paths)
            policy, diagnostics = check_paths(paths)
            self._snapshot = taken
            if policy is None:
                result = ReloadResult(
                    ok=False, revision=previous, previous=previous, diagnostics=diagnostics
                )
            elif policy.revision == previous:
                return ReloadResult(
                    ok=True, revision=previous, previous=previous, diagnostics=diagnostics
                )
            elif self._expected is not None and policy.revision != self._expected:
                refused = mismatch_diagnostic(paths[0], self._expected, policy.revision)
                result = ReloadResult(
                    ok=False,
                    revision=previous,
                    previous=previous,
                    diagnostics=(*diagnostics, refused),
                )
            else:
                state = _State.build(policy)
                with self._lock:
                    self._publish(state)
                    self._warned = set()
                result = ReloadResult(
                    ok=True, revision=policy.revision, previous=previous, diagnostics=diagnostics
                )
            log_result(result, paths)
            notify(tuple(self._listeners), result)
            return result

    def add_reload_listener(self, listener: Callable[[ReloadResult], object]) -> None:
        """
        Call *listener* with the `ReloadResult` of each reload that swapped or failed.

        ``result.ok`` tells a successful swap (the policies changed: an
        OpenFeature provider emits ``PROVIDER_CONFIGURATION_CHANGED``) from a
        failed reload (the gate still answers from ``result.previous``). A
        listener that raises is logged and does not stop the others.
        """
        with self._reload_lock:
            self._listeners.append(listener)

    def remove_reload_listener(self, listener: Callable[[ReloadResult], object]) -> None:
        """Stop calling *listener*; a listener that was not added is ignored."""
        with self._reload_lock, suppress(ValueError):
            self._listeners.remove(listener)

    def watch(self, interval: float = 1.0) -> None:
        """
        Reload whenever the policy files change, polling every *interval* seconds.

        A daemon thread compares the policy files under the paths (names,
        modification times, sizes, inodes) with the last load; a change
        triggers `reload`. `close` stops it. Watching twice is harmless.

        Raises:
            GeogateError: when the gate was built from a PolicySet, not from paths.
            ValueError: when *interval* is not a positive number.
        """
        if self._paths is None:
            msg = (
                "this gate was built from a PolicySet, so it has no policy paths to "
                "watch; build it with Gate.from_path(...) to use reload() or watch()"
            )
            raise GeogateError(msg)
        with self._reload_lock:
            if self._watcher is not None and self._watcher.running:
                return
            self._watcher = Watcher(
                self._paths, self.reload, interval=interval, initial=self._snapshot
            )
            self._watcher.start()

    @property
    def watching(self) -> bool:
        """Whether a watcher reloads the policies when their files change."""
        watcher = self._watcher
        return watcher is not None and watcher.running

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

    # The slow path: everything that is not a memoised decision for today.

    # Overrides and date pins for tests: on the slow path only.

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
        if not isinstance(feature, str) or feature not in self._features:
            name = describe_feature(feature)
            close = difflib.get_close_matches(str(feature), list(self._features), n=1)
            raise UnknownFeatureError(name, self.features, close[0] if close else None)
        given: object = allow  # checked at run time: tests pass all sorts of things
        if not isinstance(given, bool):
            msg = f"allow must be True or False, not {describe_value(given)}"
            raise TypeError(msg)
        with self._forcing(_Forcing(self, feature, allow, None)):
            yield

    @contextmanager
    def _pinned(self, day: object) -> Iterator[dt.date]:
        """Decide calls without ``at=`` as of *day* inside the block (see `geogate.testing`)."""
        found = _as_date(day)
        if found is None:
            msg = (
                f"the date to pin must be a datetime.date, an aware datetime or "
                f"'YYYY-MM-DD', not {describe_value(day)}"
            )
            raise TypeError(msg)
        with self._forcing(_Forcing(self, None, None, found)):
            yield found

    @contextmanager
    def _forcing(self, forcing: _Forcing) -> Iterator[None]:
        token = _FORCINGS.set((*_FORCINGS.get(), forcing))
        with self._lock:
            self._forced += 1
            self._expires = 0.0
        try:
            yield
        finally:
            forcing.active = False
            with self._lock:
                self._forced -= 1
                if not self._forced:
                    self._expires = self._state.today.expires
            # Left in another context than it was entered (an async fixture's
            # teardown), reset fails: the entry is inactive, which is enough.
            with suppress(ValueError):
                _FORCINGS.reset(token)

    def _forced_for(self, feature: object) -> tuple[bool | None, dt.date | None]:
        """Return the override for *feature* and the pinned date open in this context."""
        allow: bool | None = None
        day: dt.date | None = None
        for forcing in reversed(_FORCINGS.get()):
            if forcing.gate is not self or not forcing.active:
                continue
            if forcing.feature is None:
                day = day or forcing.day
            elif allow is None and forcing.feature == feature:
                allow = forcing.allow
        return allow, day

    def _evaluate(
        self,
        feature: object,
        country: object,
        subdivision: object,
        domicile: object,
        ip: object,
        at: object,
    ) -> Decision:
        if self._forced:
            allow, pinned = self._forced_for(feature)
            if at is None:
                at = pinned
            if allow is not None:
                policy = self._decide_policy(feature, country, subdivision, domicile, ip, at)
                return _overridden(policy, allow=allow)
        return self._decide_policy(feature, country, subdivision, domicile, ip, at)

    def _decide_policy(
        self,
        feature: object,
        country: object,
        subdivision: object,
        domicile: object,
        ip: object,
        at: object,
    ) -> Decision:
        # The one read of the state: everything below uses `state` (and the
        # compiled features it holds), never the gate's slots.
        state = self._current()
        today = state.today
        day = today.day if at is None else _as_date(at)
        if day is None:
            return _error(
                state.policy.revision,
                feature,
                today.day,
                ErrorCode.INVALID_CONTEXT,
                f"the evaluation date {describe_value(at)} is not a date; pass a "
                "datetime.date, an aware datetime or 'YYYY-MM-DD'",
            )
        compiled = state.features.get(feature) if isinstance(feature, str) else None
        if compiled is None:
            return self._not_found(state, feature, day)
        located: _Located | None = None
        if country is None and subdivision is None:
            fast = at is None and domicile is None
            found = self._locate(compiled, ip, day, fast=fast)
            if isinstance(found, Decision):
                return found
            located = found
        key: tuple[object, ...]
        if located is None:
            key = (compiled.feature.id, country, subdivision, domicile, day)
            memoised = _short(country) and _short(subdivision) and _short(domicile)
        else:
            key = (compiled.feature.id, located, domicile, day)
            memoised = _short(domicile)
        memo = state.memo
        decision = memo.get(key) if memoised else None
        if decision is None:
            decision = self._decide(compiled, country, subdivision, domicile, day, located)
            if memoised:
                if len(memo) >= _MAX_MEMO:
                    memo.clear()
                memo[key] = decision
        if (
            at is None
            and country is not None
            and located is None
            and subdivision is None
            and domicile is None
            and compiled.feature.basis is Basis.LOCATION
            and decision.location is not LocationStatus.INVALID
            and normalize_country(country).status is LocationStatus.KNOWN
        ):
            # Today's memo for the fast path: valid spellings only, so it stays small.
            row = today.rows.setdefault(compiled.feature.id, {})
            if len(row) < _MAX_MEMO_PER_FEATURE:
                row[country] = decision  # type: ignore[index]
        elif (
            at is None
            and located is not None
            and located[0] == "geoip"
            and subdivision is None
            and domicile is None
            and type(ip) is str
            and len(ip) <= _MAX_IP_TEXT
        ):
            # Today's memo by address, for the fast path of `ip=`; bounded as a whole.
            if today.ip_entries >= _MAX_MEMO:
                today.by_ip.clear()
                today.ip_entries = 0
            today.by_ip.setdefault(compiled.feature.id, {})[ip] = decision
            today.ip_entries += 1
        return decision

    def _decide(
        self,
        compiled: _CompiledFeature,
        country: object,
        subdivision: object,
        domicile: object,
        day: dt.date,
        located: _Located | None = None,
    ) -> Decision:
        feature = compiled.feature
        table = compiled.table
        revision = compiled.revision
        wrong = next(
            (
                (name, value)
                for name, value in (
                    ("country", country),
                    ("subdivision", subdivision),
                    ("domicile", domicile),
                )
                if value is not None and not isinstance(value, str)
            ),
            None,
        )
        if wrong is not None:
            name, value = wrong
            return _error(
                revision,
                feature.id,
                day,
                ErrorCode.INVALID_CONTEXT,
                f"the {name} {describe_value(value)} is "
                f"{with_article(type(value).__name__)}, not a string",
            )
        if located is not None:
            source, found_country, found_subdivision, status, problem = located
            if status == _KNOWN and found_country is not None:
                location = resolve_location(found_country, found_subdivision)
            else:
                location = Location(LocationStatus(status), problem=problem)
        else:
            location = resolve_location(country, subdivision)
            source = "unknown" if country is None and subdivision is None else "explicit"
        home = resolve_location(domicile) if domicile is not None else None
        if feature.basis is Basis.LOCATION:
            chosen, signal = location, "location"
        elif feature.basis is Basis.DOMICILE:
            chosen, signal = (home or _missing("domicile")), "domicile"
        else:
            chosen, signal = self._both(compiled, location, home, day)
        outcome = decide(feature, compiled.rules, chosen, day, table)
        return Decision(
            feature=feature.id,
            allowed=outcome.effect is Effect.ALLOW,
            effect=outcome.effect,
            country=location.country,
            subdivision=location.subdivision,
            domicile=None if home is None else home.country,
            jurisdictions=() if chosen.country is None else table.containing(chosen.country, day),
            rule=None if outcome.rule is None else outcome.rule.id,
            source=None if outcome.rule is None else _where(outcome.rule.position),
            citation=None if outcome.rule is None else outcome.rule.source,
            reason=rule_reason(outcome),
            error_code=ErrorCode.GENERAL if outcome.kind is OutcomeKind.AMBIGUOUS else None,
            location=chosen.status,
            explanation=explain(
                feature.id, outcome, chosen, revision=revision, at=day, signal=signal
            ),
            revision=revision,
            as_of=day,
            location_source=source,
        )

    def _locate(
        self, compiled: _CompiledFeature, ip: object, day: dt.date, *, fast: bool = False
    ) -> _Located | Decision | None:
        """
        Find the location when the caller gave no country: by IP, else from the request.

        Returns None when there is nothing to find (an unknown location), or a
        denying Decision for a malformed IP or a gate without a GeoIP database.
        """
        if ip is None:
            request = current_location()
            if request is None:
                return None
            return (
                request.source,
                request.country,
                request.subdivision,
                request.status.value,
                request.problem,
            )
        if self._geoip is None:
            return _error(
                compiled.revision,
                compiled.feature.id,
                day,
                ErrorCode.GENERAL,
                "an IP address was given, but the gate has no GeoIP database; pass "
                "geoip_db= to Gate.from_path or set $GEOGATE_GEOIP_DB",
            )
        # Decisions are memoised by address for today (the fast path); the
        # address cache only helps calls that are not, so it is skipped here.
        found = self._geoip.lookup(ip, cache=not fast, network=not fast)
        if found.status is LocationStatus.INVALID:
            return _error(
                compiled.revision,
                compiled.feature.id,
                day,
                ErrorCode.INVALID_CONTEXT,
                found.problem or f"the IP address {describe_value(ip)} is malformed",
            )
        if found.status is LocationStatus.KNOWN:
            return ("geoip", found.country, found.subdivision, _KNOWN, None)
        return ("geoip", None, None, _UNKNOWN, found.problem)

    def _both(
        self,
        compiled: _CompiledFeature,
        location: Location,
        home: Location | None,
        day: dt.date,
    ) -> tuple[Location, str]:
        """
        For ``location+domicile``: the signal that denies, else the location.

        Each signal is decided on its own (an unknown one by the feature's
        ``unknown`` effect); the feature is allowed only when both are.
        """
        home = home or _missing("domicile")
        table = compiled.table
        for signal, place in (("location", location), ("domicile", home)):
            if decide(compiled.feature, compiled.rules, place, day, table).effect is Effect.DENY:
                return place, signal
        return location, "location"

    def _not_found(self, state: _State, feature: object, day: dt.date) -> Decision:
        name = describe_feature(feature)
        suggestion = None
        if isinstance(feature, str):
            close = difflib.get_close_matches(feature, list(state.features), n=1)
            suggestion = close[0] if close else None
        if self.strict:
            raise UnknownFeatureError(name, tuple(state.features), suggestion)
        with self._lock:
            first = name not in self._warned and len(self._warned) < _MAX_WARNED
            if first:
                self._warned.add(name)
        if first:
            logger.warning(
                "geogate: no feature %r in policy %s; denying%s",
                name,
                state.policy.revision[:19],
                f" (did you mean {suggestion!r}?)" if suggestion else "",
            )
        problem = "no feature with this id is defined"
        if suggestion:
            problem += f"; did you mean {suggestion!r}?"
        return _error(state.policy.revision, name, day, ErrorCode.FLAG_NOT_FOUND, problem)


def checked_revision(value: object) -> str:
    """
    Return *value* as a policy revision (``sha256:`` and 64 lower-case hex digits).

    Raises:
        ValueError: when *value* is not one.
    """
    text = value.strip().lower() if isinstance(value, str) else None
    if text is None or not _REVISION.fullmatch(text):
        msg = (
            f"expect_revision must be 'sha256:' followed by 64 hex digits, as "
            f"`geogate check` prints it, not {describe_value(value)}"
        )
        raise ValueError(msg)
    return text


def mismatch_diagnostic(path: str, expected: str, actual: str) -> Diagnostic:
    """Return the ``revision-mismatch`` error for policies at *path* of the wrong revision."""
    return Diagnostic(
        position=Position(path),
        severity="error",
        code="revision-mismatch",
        message=f"the policies have revision {actual!r}, not the expected {expected!r}",
        hint=(
            "the files differ from the reviewed policy set: deploy the reviewed files, or, "
            "if this change was reviewed, expect its revision (`geogate check` prints it)"
        ),
    )


def _error(revision: str, feature: object, day: dt.date, code: ErrorCode, problem: str) -> Decision:
    """Return the denying decision for a request that cannot be decided."""
    name = describe_feature(feature)
    return Decision(
        feature=name,
        allowed=False,
        effect=Effect.DENY,
        country=None,
        reason=Reason.ERROR,
        error_code=code,
        location=LocationStatus.INVALID
        if code is ErrorCode.INVALID_CONTEXT
        else LocationStatus.UNKNOWN,
        explanation=explain_error(name, problem, revision=revision, at=day),
        revision=revision,
        as_of=day,
    )


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


def _overridden(policy: Decision, *, allow: bool) -> Decision:
    """Turn the policy's decision into the one a `Gate.override` forces."""
    effect = Effect.ALLOW if allow else Effect.DENY
    verb = "allowed" if allow else "denied"
    where = f"policy {short_revision(policy.revision)}, as of {policy.as_of.isoformat()}"
    return attrs.evolve(
        policy,
        allowed=allow,
        effect=effect,
        rule=None,
        source=None,
        citation=None,
        reason=Reason.DEFAULT,
        error_code=None,
        explanation=(
            f"{policy.feature} is {verb} by a test override (Gate.override; {where}). "
            f"Without it: {policy.explanation}"
        ),
    )


def _short(value: object) -> bool:
    """Tell whether an input may key the memo: None or a short plain string."""
    return value is None or (type(value) is str and len(value) <= _MAX_MEMO_INPUT)


def _missing(signal: str) -> Location:
    return Location(LocationStatus.UNKNOWN, problem=f"no {signal} was given")


def _where(position: object) -> str:
    text = str(position)
    return text.rsplit(":", 1)[0]
