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
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import os
import re
import threading
import time
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
from ._engine import (
    CompiledRule,
    Location,
    OutcomeKind,
    decide,
    resolve_location,
)
from ._geo import GeoDatabase
from ._loader import load_policies
from ._policy import Basis, Effect, Feature
from .exceptions import UnknownFeatureError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from ._diagnostics import Diagnostic
    from ._policy import PolicySet

__all__ = ["Gate"]

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


@attrs.frozen
class _Today:
    """Decisions memoised for one UTC day."""

    day: dt.date
    expires: float
    rows: dict[str, dict[str | None, Decision]]
    by_ip: dict[str, dict[str, Decision]]

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
    feature: Feature
    rules: tuple[CompiledRule, ...]


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

    Build it with `Gate.from_path`. A gate is immutable and safe to share
    between threads; the only state it changes is its memo of today's
    decisions, which it replaces whole.

    Attributes:
        policy: The loaded policy set.
        strict: Whether an unknown feature id raises `UnknownFeatureError`
            instead of denying.
    """

    __slots__ = (
        "_by_ip",
        "_expires",
        "_features",
        "_forced",
        "_geoip",
        "_ip_entries",
        "_lock",
        "_memo",
        "_policy",
        "_rows",
        "_strict",
        "_today",
        "_warned",
    )

    def __init__(
        self, policy: PolicySet, *, strict: bool = False, geoip: GeoDatabase | None = None
    ) -> None:
        self._policy = policy
        self._strict = strict
        self._geoip = geoip
        self._features: Mapping[str, _CompiledFeature] = {
            fid: _CompiledFeature(f, tuple(CompiledRule.from_rule(r) for r in f.rules))
            for fid, f in policy.features.items()
        }
        self._today = _Today.now()
        self._rows = self._today.rows
        self._by_ip = self._today.by_ip
        self._ip_entries = 0
        self._expires = self._today.expires
        self._warned: set[str] = set()
        self._memo: dict[tuple[object, ...], Decision] = {}
        self._lock = threading.Lock()
        #: How many override or date-pin blocks of this gate are open, in any
        #: thread or task; while it is above 0, ``_expires`` stays 0.0.
        self._forced = 0
        for warning in policy.warnings:
            logger.warning("geogate: %s", warning)

    @classmethod
    def from_path(
        cls,
        *paths: str | os.PathLike[str],
        strict: bool = False,
        geoip_db: str | os.PathLike[str] | None = None,
        geoip_cache_size: int = 65_536,
    ) -> Gate:
        """
        Load the policy files at *paths* (files or directories) into a gate.

        With no path, ``$GEOGATE_POLICIES`` or else ``./policies`` is used.
        *geoip_db* (else ``$GEOGATE_GEOIP_DB``) is a MaxMind GeoIP2 or DB-IP
        Country or City database, opened now, for ``evaluate(..., ip=...)``;
        *geoip_cache_size* bounds its address cache (0 turns it off).

        Raises:
            PolicyError: with every diagnostic, when any file has an error.
            GeoDatabaseError: when the GeoIP database cannot be used.
        """
        if not paths:
            paths = (os.environ.get("GEOGATE_POLICIES") or "policies",)
        policy = load_policies(*paths)
        geoip_db = geoip_db or os.environ.get("GEOGATE_GEOIP_DB") or None
        geoip = None if geoip_db is None else GeoDatabase(geoip_db, cache_size=geoip_cache_size)
        return cls(policy, strict=strict, geoip=geoip)

    @property
    def geoip(self) -> GeoDatabase | None:
        """The GeoIP database that locates ``ip=``, if the gate has one."""
        return self._geoip

    def __repr__(self) -> str:
        return (
            f"<Gate {len(self._features)} feature(s), revision {self.revision[:19]}..., "
            f"strict={self.strict}>"
        )

    @property
    def policy(self) -> PolicySet:
        """The loaded policy set (read-only)."""
        return self._policy

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
        return tuple(self._features)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        """Warnings found while loading (errors prevent loading)."""
        return self.policy.warnings

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

    # The slow path: everything that is not a memoised decision for today.

    def _current_day(self) -> _Today:
        today = self._today
        if _now() >= today.expires:
            with self._lock:
                today = self._today
                if _now() >= today.expires:
                    today = _Today.now()
                    # The fast path reads _expires, then _rows: publish the rows first.
                    self._today = today
                    self._rows = today.rows
                    self._by_ip = today.by_ip
                    self._ip_entries = 0
                    # An open override keeps the fast path off (see `override`).
                    self._expires = 0.0 if self._forced else today.expires
        return today

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
                    self._expires = self._today.expires
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
        today = self._current_day()
        day = today.day if at is None else _as_date(at)
        if day is None:
            return self._error(
                feature,
                today.day,
                ErrorCode.INVALID_CONTEXT,
                f"the evaluation date {describe_value(at)} is not a date; pass a "
                "datetime.date, an aware datetime or 'YYYY-MM-DD'",
            )
        compiled = self._features.get(feature) if isinstance(feature, str) else None
        if compiled is None:
            return self._not_found(feature, day)
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
        decision = self._memo.get(key) if memoised else None
        if decision is None:
            decision = self._decide(compiled, country, subdivision, domicile, day, located)
            if memoised:
                if len(self._memo) >= _MAX_MEMO:
                    self._memo.clear()
                self._memo[key] = decision
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
            if self._ip_entries >= _MAX_MEMO:
                today.by_ip.clear()
                self._ip_entries = 0
            today.by_ip.setdefault(compiled.feature.id, {})[ip] = decision
            self._ip_entries += 1
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
        table = self.policy.jurisdictions
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
            return self._error(
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
                feature.id, outcome, chosen, revision=self.revision, at=day, signal=signal
            ),
            revision=self.revision,
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
            return self._error(
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
            return self._error(
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
        table = self.policy.jurisdictions
        for signal, place in (("location", location), ("domicile", home)):
            if decide(compiled.feature, compiled.rules, place, day, table).effect is Effect.DENY:
                return place, signal
        return location, "location"

    def _not_found(self, feature: object, day: dt.date) -> Decision:
        name = describe_feature(feature)
        suggestion = None
        if isinstance(feature, str):
            close = difflib.get_close_matches(feature, list(self._features), n=1)
            suggestion = close[0] if close else None
        if self.strict:
            raise UnknownFeatureError(name, self.features, suggestion)
        with self._lock:
            first = name not in self._warned and len(self._warned) < _MAX_WARNED
            if first:
                self._warned.add(name)
        if first:
            logger.warning(
                "geogate: no feature %r in policy %s; denying%s",
                name,
                self.revision[:19],
                f" (did you mean {suggestion!r}?)" if suggestion else "",
            )
        problem = "no feature with this id is defined"
        if suggestion:
            problem += f"; did you mean {suggestion!r}?"
        return self._error(name, day, ErrorCode.FLAG_NOT_FOUND, problem)

    def _error(self, feature: object, day: dt.date, code: ErrorCode, problem: str) -> Decision:
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
            explanation=explain_error(name, problem, revision=self.revision, at=day),
            revision=self.revision,
            as_of=day,
        )


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
