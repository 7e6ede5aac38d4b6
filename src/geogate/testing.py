"""
Helpers for application tests that use a `geogate.Gate`.

- `assert_allowed` and `assert_denied` check one decision; when it is not the
  expected one, the `AssertionError` shows the whole resolution chain from
  `geogate._review.walkthrough.walk_through` (location, jurisdictions, every rule's verdict,
  the result), so a failing test says why.
- `pinned_date` makes a gate decide calls without ``at=`` as of a given date,
  inside a ``with`` block, for tests of dated rules.
- `geogate.Gate.override` forces one feature's answer inside a ``with`` block.

Both blocks hold in the current thread or asyncio task only and end with the
block, whatever happens in it; see `geogate.Gate.override`. The pytest plugin
(`geogate.pytest_plugin`) offers them as fixtures.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from ._review.walkthrough import walk_through
from ._world.countries import describe_value

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterator

    from ._engine.decision import Decision
    from ._gate.gate import Gate

__all__ = ["assert_allowed", "assert_denied", "pinned_date"]


def assert_allowed(gate: Gate, feature: str, **location: object) -> Decision:
    """
    Assert that *gate* allows *feature* for *location*, and return the decision.

    *location* takes the keyword arguments of `geogate.Gate.evaluate`:
    ``country``, ``subdivision``, ``domicile``, ``ip`` and ``at``.

    Raises:
        AssertionError: when the feature is denied; the message is the
            resolution chain, step by step, and the gate's explanation.
    """
    return _check(gate, feature, location, allowed=True)


def assert_denied(gate: Gate, feature: str, **location: object) -> Decision:
    """
    Assert that *gate* denies *feature* for *location*, and return the decision.

    Takes the same arguments as `assert_allowed`.

    Raises:
        AssertionError: when the feature is allowed; the message is the
            resolution chain, step by step, and the gate's explanation.
    """
    return _check(gate, feature, location, allowed=False)


@contextmanager
def pinned_date(gate: Gate, day: object) -> Iterator[dt.date]:
    """
    Make *gate* decide as of *day* when a call gives no ``at=``, inside the block.

    ::

        with pinned_date(gate, "2025-03-30"):
            assert_denied(gate, "apple-intelligence-iphone", country="FR")

    *day* is a `datetime.date`, an aware `datetime.datetime` or
    ``YYYY-MM-DD``; the block yields it as a date. Calls that pass ``at=``
    keep their date, and other gates are not affected. The pin holds in the
    current thread or asyncio task only, blocks nest (the innermost wins), and
    the gate skips its memoised fast path while any pin or override of it is
    open.

    Raises:
        TypeError: when *day* is not a date.
    """
    with gate._pinned(day) as pinned:  # noqa: SLF001 (the gate's own hook for this module)
        yield pinned


def _check(gate: Gate, feature: str, location: dict[str, object], *, allowed: bool) -> Decision:
    decision = gate.evaluate(feature, **location)
    if decision.allowed is allowed:
        return decision
    raise AssertionError(_message(gate, feature, location, decision, allowed=allowed))


def _message(
    gate: Gate,
    feature: str,
    location: dict[str, object],
    decision: Decision,
    *,
    allowed: bool,
) -> str:
    """Say what was expected, then the chain, then the gate's own explanation if it differs."""
    expected, got = ("allowed", "denied") if allowed else ("denied", "allowed")
    given = ", ".join(
        f"{name}={describe_value(value)}" for name, value in location.items() if name != "at"
    )
    headline = (
        f"expected {feature} to be {expected} for {given or 'no location'} "
        f"(as of {decision.as_of.isoformat()}), but it is {got}:"
    )
    lines = [headline]
    # The chain needs a country: an address or the request's location gives
    # one through the gate; the caller's own spelling is kept otherwise.
    place: dict[str, object] = {
        name: location[name] for name in ("country", "subdivision") if name in location
    }
    if not place and decision.country is not None:
        place = {"country": decision.country, "subdivision": decision.subdivision}
    chain = walk_through(
        gate.policy, feature, **place, domicile=location.get("domicile"), at=decision.as_of
    )
    lines.extend(f"  {step}" for step in chain.steps)
    if chain.decision.explanation != decision.explanation:
        lines.append(f"  This gate decided: {decision.explanation}")
    return "\n".join(lines)
