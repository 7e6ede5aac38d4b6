"""
Hypothesis settings for a property, scaled by the active profile.

A property states how many examples it is worth at Hypothesis's own default
level (100 examples): a cheap law 500, a law that loads a policy set per
example 20. The profile ``tests/conftest.py`` loads scales that count, so the
``dev`` profile runs a fifth of it and ``ci`` twice, and the weights between
properties stay as their authors set them.
"""

from __future__ import annotations

from hypothesis import settings

__all__ = ["examples"]

#: The number of examples a count is stated at: Hypothesis's default.
STATED_AT = 100


def examples(count, *, suppress_health_check=()):
    """
    Settings for a property worth *count* examples at the default level, and no deadline.

    The deadline is off because a property's examples vary in cost (loading a
    policy set, a worker's start-up); *suppress_health_check* lists the health
    checks the property is known to trip (else the profile's stand).
    """
    scaled = max(1, round(count * settings.default.max_examples / STATED_AT))
    if suppress_health_check:
        return settings(
            max_examples=scaled, deadline=None, suppress_health_check=suppress_health_check
        )
    return settings(max_examples=scaled, deadline=None)
