"""
The slow path of a gate: plain functions that decide from one state, and memoise.

Everything the fast path (`geogate._gate.gate`) does not answer comes to
`decide_query`, with the state the gate read once and the query (the six
arguments of `geogate.Gate.evaluate`): the evaluation date, the feature, the
location (given, found by IP or from the request being handled), the
domicile, the decision procedure of `geogate._engine.decide`, and the memos.
A decision is made entirely from that one `State` (see ``Gate._publish`` for
why), and is written into the memo for any date and, when the fast path can
use it, into today's tables of that same state.

Evaluation never raises for bad run-time input: it returns a denying
`geogate.Decision` that says why. Only a strict gate raises, for an unknown
feature id.
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import re
from typing import TYPE_CHECKING

from geogate._engine.decide import Location, decide, resolve_domicile, resolve_location
from geogate._engine.decision import (
    Decision,
    ErrorCode,
    Reason,
    describe_feature,
    error_explanation,
    explanation,
    outcome_error,
    rule_reason,
)
from geogate._policy.model import Basis, Effect
from geogate._world.countries import (
    LocationSource,
    LocationStatus,
    describe_value,
    normalize_country,
    with_article,
)
from geogate.exceptions import UnknownFeatureError

from .context import current_location
from .state import MAX_OUTCOMES

if TYPE_CHECKING:
    from geogate._engine.decide import Outcome
    from geogate._locate.geo import GeoDatabase

    from .state import CompiledFeature, State

__all__ = ["as_date", "decide_compiled", "decide_query"]

logger = logging.getLogger("geogate")

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: How many distinct unknown feature ids are remembered for "warn once".
_MAX_WARNED = 1024
#: Upper bound on memoised spellings per feature (valid codes only reach ~1,000).
_MAX_MEMO_PER_FEATURE = 4096
#: Upper bound on memoised decisions for other dates, subdivisions and domiciles;
#: the memo is emptied when full (a decision is cheap to make again).
_MAX_MEMO = 65_536
#: Longest unknown feature id for which a close match is sought (difflib costs
#: grow with the input; an id is rarely longer).
_MAX_SUGGESTED_ID = 128
#: Longest country (or domicile) and subdivision strings memoised: every spelling
#: of a country code has 2 characters and every ISO 3166-2 code at most 6. A
#: longer string is never a place, so remembering it would only let distinct
#: garbage push real decisions out of the memo.
_MAX_MEMO_COUNTRY = 2
_MAX_MEMO_SUBDIVISION = 6

#: A location found without the caller's country: (source, country, subdivision,
#: status, problem), the status as its plain string. Only built-in types, so
#: it keys the memo at C speed (an Enum member hashes in Python).
_Located = tuple[str, str | None, str | None, str, str | None]
_KNOWN = LocationStatus.KNOWN.value
#: The sources a location found here has, as plain strings for the same reason.
_EXPLICIT = LocationSource.EXPLICIT.value
_GEOIP = LocationSource.GEOIP.value
_NOWHERE = LocationSource.UNKNOWN.value
_UNKNOWN = LocationStatus.UNKNOWN.value
#: Longest address memoised by text (the longest IPv6 text form).
_MAX_IP_TEXT = 45


def as_date(value: object) -> dt.date | None:
    """Return the evaluation date for *value*, or None if it is not one."""
    if isinstance(value, dt.datetime):
        try:
            if value.tzinfo is None or value.utcoffset() is None:
                return None
            return value.astimezone(dt.UTC).date()
        except Exception:  # noqa: BLE001 (before 0001-01-01 in UTC, or a tzinfo that fails)
            return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def decide_query(
    state: State,
    feature: object,
    country: object,
    subdivision: object,
    domicile: object,
    ip: object,
    at: object,
    *,
    geoip: GeoDatabase | None,
    strict: bool,
) -> Decision:
    """
    Decide the query (*feature* and the rest, as `geogate.Gate.evaluate` takes them) from *state*.

    *state* is the gate's state, read once by the caller and rolled over to
    today; everything here uses it (and the compiled features it holds),
    nothing else of the gate. *geoip* locates ``ip=``; *strict* raises
    `UnknownFeatureError` for an unknown feature instead of denying.
    """
    today = state.today
    day = today.day if at is None else as_date(at)
    if day is None:
        return _error(
            state.policy.revision,
            feature,
            today.day,
            ErrorCode.INVALID_CONTEXT,
            f"the evaluation date {describe_value(at)} is not a date; pass a "
            "datetime.date, an aware datetime or 'YYYY-MM-DD'",
            _source_of(country, subdivision, ip),
        )
    compiled = state.features.get(feature) if isinstance(feature, str) else None
    if compiled is None:
        return _not_found(state, feature, day, _source_of(country, subdivision, ip), strict=strict)
    located: _Located | None = None
    if country is None and subdivision is None:
        fast = at is None and domicile is None
        found = _locate(compiled, geoip, ip, day, fast=fast)
        if isinstance(found, Decision):
            return found
        located = found
    key: tuple[object, ...]
    if located is None:
        key = (compiled.feature.id, country, subdivision, domicile, day)
        memoised = (
            _short(country, _MAX_MEMO_COUNTRY)
            and _short(subdivision, _MAX_MEMO_SUBDIVISION)
            and _short(domicile, _MAX_MEMO_COUNTRY)
        )
    else:
        key = (compiled.feature.id, located, domicile, day)
        memoised = _short(domicile, _MAX_MEMO_COUNTRY)
    memo = state.memo
    decision = memo.get(key) if memoised else None
    if decision is None:
        decision = decide_compiled(compiled, country, subdivision, domicile, day, located)
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
        and located[0] == _GEOIP
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


def decide_compiled(
    compiled: CompiledFeature,
    country: object,
    subdivision: object,
    domicile: object,
    day: dt.date,
    located: _Located | None = None,
) -> Decision:
    """
    Decide for *compiled* on *day*, with nothing memoised but the feature's outcomes.

    *located* is a location found without the caller's country (by IP or
    from the request being handled); without it, *country* and *subdivision*
    are the place.
    """
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
            _EXPLICIT if located is None else located[0],
        )
    if located is not None:
        source, found_country, found_subdivision, status, problem = located
        if status == _KNOWN and found_country is not None:
            location = resolve_location(found_country, found_subdivision)
        else:
            location = Location(LocationStatus(status), problem=problem)
    else:
        location = resolve_location(country, subdivision)
        source = _NOWHERE if country is None and subdivision is None else _EXPLICIT
    home = resolve_domicile(domicile) if domicile is not None else None
    if feature.basis is Basis.LOCATION:
        chosen, signal = location, "location"
    elif feature.basis is Basis.DOMICILE:
        chosen, signal = (home or _missing("domicile")), "domicile"
    else:
        chosen, signal = _both(compiled, location, home, day)
    outcome = _outcome(compiled, chosen, day)
    return Decision(
        feature=feature.id,
        allowed=outcome.effect is Effect.ALLOW,
        effect=outcome.effect,
        country=location.country,
        subdivision=location.subdivision,
        domicile=None if home is None else home.country,
        jurisdictions=()
        if chosen.country is None
        else table.containing(chosen.country, day, chosen.chain),
        rule=None if outcome.rule is None else outcome.rule.id,
        source=None if outcome.rule is None else _where(outcome.rule.position),
        citation=None if outcome.rule is None else outcome.rule.source,
        reason=rule_reason(outcome),
        error_code=outcome_error(outcome),
        location=chosen.status,
        explanation=explanation(
            feature.id, outcome, chosen, revision=revision, at=day, signal=signal
        ),
        revision=revision,
        as_of=day,
        location_source=source,
    )


def _locate(
    compiled: CompiledFeature,
    geoip: GeoDatabase | None,
    ip: object,
    day: dt.date,
    *,
    fast: bool = False,
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
    if geoip is None:
        return _error(
            compiled.revision,
            compiled.feature.id,
            day,
            ErrorCode.GENERAL,
            "an IP address was given, but the gate has no GeoIP database; pass "
            "geoip_db= to Gate.from_path or set $GEOGATE_GEOIP_DB",
            _GEOIP,
        )
    # Decisions are memoised by address for today (the fast path); the
    # address cache only helps calls that are not, so it is skipped here.
    found = geoip.lookup(ip, cache=not fast, network=not fast)
    if found.status is LocationStatus.INVALID:
        return _error(
            compiled.revision,
            compiled.feature.id,
            day,
            ErrorCode.INVALID_CONTEXT,
            found.problem or f"the IP address {describe_value(ip)} is malformed",
            _GEOIP,
        )
    if found.status is LocationStatus.KNOWN:
        return (_GEOIP, found.country, found.subdivision, _KNOWN, None)
    return (_GEOIP, None, None, _UNKNOWN, found.problem)


def _both(
    compiled: CompiledFeature,
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
    for signal, place in (("location", location), ("domicile", home)):
        if _outcome(compiled, place, day).effect is Effect.DENY:
            return place, signal
    return location, "location"


def _not_found(
    state: State, feature: object, day: dt.date, source: str, *, strict: bool
) -> Decision:
    name = describe_feature(feature)
    suggestion = None
    if isinstance(feature, str) and len(feature) <= _MAX_SUGGESTED_ID:
        close = difflib.get_close_matches(feature, list(state.features), n=1)
        suggestion = close[0] if close else None
    if strict:
        raise UnknownFeatureError(name, tuple(state.features), suggestion)
    warned = state.warned
    if name not in warned and len(warned) < _MAX_WARNED:
        warned.add(name)
        logger.warning(
            "geogate: no feature %r in policy %s; denying%s",
            name,
            state.policy.revision[:19],
            f" (did you mean {suggestion!r}?)" if suggestion else "",
        )
    problem = "no feature with this id is defined"
    if suggestion:
        problem += f"; did you mean {suggestion!r}?"
    return _error(state.policy.revision, name, day, ErrorCode.FLAG_NOT_FOUND, problem, source)


def _outcome(compiled: CompiledFeature, location: Location, day: dt.date) -> Outcome:
    """Decide *location* on *day*, through the compiled feature's bounded memo of outcomes."""
    if location.status is not LocationStatus.KNOWN:
        return decide(compiled.feature, compiled.rules, location, day, compiled.table)
    key = (location.country, location.chain, day)
    outcomes = compiled.outcomes
    found = outcomes.get(key)
    if found is None:
        found = decide(
            compiled.feature, compiled.rules, location, day, compiled.table, compiled.inside
        )
        if len(outcomes) >= MAX_OUTCOMES:
            outcomes.clear()
        outcomes[key] = found
    return found


def _source_of(country: object, subdivision: object, ip: object) -> str:
    """Return where the location of a call comes (or would come) from."""
    if country is not None or subdivision is not None:
        return _EXPLICIT
    if ip is not None:
        return _GEOIP
    request = current_location()
    return _NOWHERE if request is None else request.source


def _error(
    revision: str,
    feature: object,
    day: dt.date,
    code: ErrorCode,
    problem: str,
    source: str,
) -> Decision:
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
        explanation=error_explanation(name, problem, revision=revision, at=day),
        revision=revision,
        as_of=day,
        location_source=source,
    )


def _short(value: object, longest: int) -> bool:
    """Tell whether an input may key the memo: None or a plain string of at most *longest*."""
    return value is None or (type(value) is str and len(value) <= longest)


def _missing(signal: str) -> Location:
    return Location(LocationStatus.UNKNOWN, problem=f"no {signal} was given")


def _where(position: object) -> str:
    text = str(position)
    return text.rsplit(":", 1)[0]
