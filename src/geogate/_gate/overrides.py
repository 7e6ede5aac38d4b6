"""
Test overrides and pinned dates: `Gate.override` and `geogate.testing.pinned_date`.

`Gate.override` forces a feature's answer, and `geogate.testing.pinned_date`
the evaluation date, inside a ``with`` block. Both live in a
`contextvars.ContextVar` (per thread and per asyncio task), so they cannot leak
into code that runs beside or after the block. The fast path never looks at
them: while a gate has any such block open anywhere, its memo's expiry is held
at 0, so every call takes the slow path, which looks at the context first
(`Overrides._evaluate`) and then decides from the policy
(`geogate._gate.slowpath`).
"""

from __future__ import annotations

import datetime as dt
import difflib
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import TYPE_CHECKING

import attrs

from geogate._engine.decision import Decision, Reason, describe_feature, short_revision
from geogate._policy.model import Effect
from geogate._world.countries import describe_value
from geogate.exceptions import UnknownFeatureError

from .slowpath import as_date
from .state import GateBase

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["Overrides"]


@attrs.define(eq=False)
class _Forcing:
    """
    One open `Gate.override` (a feature's answer) or date pin (``feature`` None).

    The context holds a stack of these; leaving the block marks its entry
    inactive, so a task or thread that copied the context while it was open
    (and outlives it) does not keep the override.
    """

    gate: Overrides
    feature: str | None
    allow: bool | None
    day: dt.date | None
    active: bool = True


#: The overrides and date pins open in this thread or task, innermost last.
_FORCINGS: ContextVar[tuple[_Forcing, ...]] = ContextVar("geogate_forcings", default=())


class Overrides(GateBase):
    """
    The part of `geogate.Gate` that forces answers and dates for tests.

    A part of the gate (see `GateBase`): it counts the open blocks in
    ``_forced`` and holds the memo's expiry at 0 while any is open.
    """

    __slots__ = ()

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
        found = as_date(day)
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
        """
        The slow path's entry: what the context forces, else the policy's decision.

        `Gate.is_allowed` and `Gate.evaluate` call this for everything their
        memo does not answer (all calls, while a block of this gate is open).
        """
        if self._forced:
            allow, pinned = self._forced_for(feature)
            if at is None:
                at = pinned
            if allow is not None:
                policy = self._decide_policy(feature, country, subdivision, domicile, ip, at)
                return _overridden(policy, allow=allow)
        return self._decide_policy(feature, country, subdivision, domicile, ip, at)


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
