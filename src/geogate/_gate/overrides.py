"""
Test overrides and pinned dates: what `Gate.override` and `geogate.testing.pinned_date` open.

`Gate.override` forces a feature's answer, and `geogate.testing.pinned_date`
the evaluation date, inside a ``with`` block. Both live in a
`contextvars.ContextVar` (per thread and per asyncio task), so they cannot leak
into code that runs beside or after the block. The fast path never looks at
them: while a gate has any such block open anywhere, it publishes its memo's
expiry as 0 (``hold`` below), so every call takes the slow path, which asks
`forced_for` first and then decides from the policy (`geogate._gate.slowpath`).

A small helper for the gate: it knows a gate only as the owner of a block.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import TYPE_CHECKING

import attrs

from geogate._engine.decision import Decision, Reason, short_revision
from geogate._policy.model import Effect
from geogate._world.countries import describe_value

from .slowpath import as_date

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["checked_allow", "checked_day", "forced_for", "forcing", "overridden"]


@attrs.define(eq=False)
class _Forcing:
    """
    One open override (a feature's answer) or date pin (``feature`` None) of one gate.

    The context holds a stack of these; leaving the block marks its entry
    inactive, so a task or thread that copied the context while it was open
    (and outlives it) does not keep the override.
    """

    owner: object
    feature: str | None
    allow: bool | None
    day: dt.date | None
    active: bool = True


#: The overrides and date pins open in this thread or task, innermost last.
_FORCINGS: ContextVar[tuple[_Forcing, ...]] = ContextVar("geogate_forcings", default=())


def checked_allow(allow: object) -> bool:
    """
    Return *allow* when it is a bool (tests pass all sorts of things).

    Raises:
        TypeError: when it is not.
    """
    if not isinstance(allow, bool):
        msg = f"allow must be True or False, not {describe_value(allow)}"
        raise TypeError(msg)
    return allow


def checked_day(day: object) -> dt.date:
    """
    Return the date to pin for *day*.

    Raises:
        TypeError: when *day* is not a date, an aware datetime or ``YYYY-MM-DD``.
    """
    found = as_date(day)
    if found is None:
        msg = (
            f"the date to pin must be a datetime.date, an aware datetime or "
            f"'YYYY-MM-DD', not {describe_value(day)}"
        )
        raise TypeError(msg)
    return found


@contextmanager
def forcing(
    owner: object,
    hold: Callable[[int], None],
    *,
    feature: str | None = None,
    allow: bool | None = None,
    day: dt.date | None = None,
) -> Iterator[None]:
    """
    Open an override of *feature* (or, without one, a pin of *day*) for *owner*'s block.

    *hold* is the owner's: called with +1 on entering and -1 on leaving, it
    keeps the owner's fast path off while any block is open.
    """
    entry = _Forcing(owner, feature, allow, day)
    token = _FORCINGS.set((*_FORCINGS.get(), entry))
    hold(+1)
    try:
        yield
    finally:
        entry.active = False
        hold(-1)
        # Left in another context than it was entered (an async fixture's
        # teardown), reset fails: the entry is inactive, which is enough.
        with suppress(ValueError):
            _FORCINGS.reset(token)


def forced_for(owner: object, feature: object) -> tuple[bool | None, dt.date | None]:
    """Return the override of *feature* and the pinned date open for *owner* in this context."""
    allow: bool | None = None
    day: dt.date | None = None
    for entry in reversed(_FORCINGS.get()):
        if entry.owner is not owner or not entry.active:
            continue
        if entry.feature is None:
            day = day or entry.day
        elif allow is None and entry.feature == feature:
            allow = entry.allow
    return allow, day


def overridden(policy: Decision, *, allow: bool) -> Decision:
    """Turn the policy's decision into the one an override forces."""
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
