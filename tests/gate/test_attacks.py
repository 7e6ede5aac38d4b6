"""
Attacks on the composed gate: a gate and the parts it holds, and its compiled answering methods.

A gate holds a `Reloader` and its answering methods are `_FAST_PATH` compiled
in place of stubs. Each test says what a user did and what must hold; the
last one pins a property the generated methods must keep.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import inspect
import json
import threading
import time
import weakref
from typing import TYPE_CHECKING

from hypothesis import given
from hypothesis import strategies as st

from geogate import DecisionLog, Gate, ReloadResult
from geogate._gate.gate import _LoggedGate
from geogate.testing import pinned_date
from helpers.mmdb import country_record, write_country_db
from helpers.paths import POLICIES
from helpers.policygen import examples

if TYPE_CHECKING:
    from pathlib import Path

FEATURE = "llama-3.2-vision"
WAIT = 10.0  # seconds: the bound on waiting for a watcher


@contextlib.contextmanager
def collector_off():
    """Run the block with the cyclic garbage collector off (as gc.disable()/gc.freeze() apps do)."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
        gc.collect()


def write_policy(folder: Path, default: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "p.yaml").write_text(f"features:\n  f:\n    default: {default}\n", encoding="utf-8")


def wait_for(condition, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


# What a gate's parts must keep


def test_a_dropped_gate_is_freed_without_the_cycle_collector(tmp_path):
    """
    A service swaps in a new gate and drops the old one, with the cyclic collector off or frozen.

    The last reference going away must free the gate at once, with its memos
    and its GeoIP database (a private in-memory copy of the .mmdb, tens of MB
    for a City database), also in a process that runs with ``gc.disable()``
    or has ``gc.freeze()``-ed it (gunicorn --preload tuning). A reloader that
    kept the gate's bound methods would make a reference cycle, and every
    gate dropped that way would keep its database mapping.
    """
    database = write_country_db(
        tmp_path / "country.mmdb", {"81.2.69.0/24": country_record("GB", registered="US")}
    )
    with collector_off():
        gate = Gate.from_path(POLICIES, geoip_db=database)
        assert gate.is_allowed(FEATURE, ip="81.2.69.160")
        gate_ref = weakref.ref(gate)
        database_ref = weakref.ref(gate.geoip)
        del gate
        alive = (gate_ref() is not None, database_ref() is not None)
    assert (False, False) == alive


def test_the_watcher_reloads_through_a_subclass_reload(tmp_path):
    """
    A user subclasses Gate to audit (or veto) reloads, and watches the policy files.

    `Gate.watch` documents that a change "triggers `reload`": the gate's own,
    so a subclass's override runs for every watched change (and in the
    watcher a forked child restarts). A watcher calling the reloader
    directly would change the policies under the subclass without its
    ``reload`` ever running, so an audit trail would miss the swap and a
    veto would be bypassed.
    """
    folder = tmp_path / "policies"
    write_policy(folder, "allow")
    calls: list[str] = []

    class AuditedGate(Gate):
        def reload(self) -> ReloadResult:
            calls.append(threading.current_thread().name)
            return super().reload()

    with AuditedGate.from_path(folder, watch=0.02, settle=0.05) as gate:
        before = gate.revision
        time.sleep(0.1)
        write_policy(folder, "deny")
        assert wait_for(lambda: gate.revision != before)
        assert ["geogate-policy-watcher"] == calls


def test_a_listener_added_in_a_subclass_init_survives_from_path(tmp_path):
    """
    A user subclass adds a reload listener in ``__init__`` and is built with ``from_path``.

    ``from_path`` gives the gate's reloader its paths; replacing the reloader
    instead would drop the listener silently, and it would never hear of
    the reloads it was added for (an OpenFeature-style "configuration
    changed" signal or a metrics hook would never fire).
    """
    folder = tmp_path / "policies"
    write_policy(folder, "allow")
    heard: list[ReloadResult] = []

    class NotifyingGate(Gate):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.add_reload_listener(heard.append)

    gate = NotifyingGate.from_path(folder)
    write_policy(folder, "deny")
    result = gate.reload()
    assert result.changed
    assert [result] == heard


def test_unwrapping_an_answering_method_gives_one_that_answers():
    """
    A user (or an instrumentation library undoing its patches) follows ``__wrapped__``.

    The compiled methods take their signature and docstring from stubs whose
    body is ``raise NotImplementedError``; ``inspect.unwrap(Gate.evaluate)``
    must still be a method that decides, so no ``__wrapped__`` may lead to
    a stub: code that unwraps to "the original" (or restores ``__wrapped__``
    when un-instrumenting) would get an evaluate that raises on every call.
    """
    gate = Gate.from_path(POLICIES)
    logged = Gate.from_path(POLICIES, decision_log=DecisionLog(lambda _line: None))
    try:
        expected = gate.evaluate(FEATURE, country="FR")
        for owner, method in (
            (gate, Gate.evaluate),
            (gate, Gate.is_allowed),
            (logged, _LoggedGate.evaluate),
            (logged, _LoggedGate.is_allowed),
        ):
            answer = inspect.unwrap(method)(owner, FEATURE, country="FR")
            assert answer in (expected, expected.allowed)
    finally:
        logged.close()


# A property the generated methods must keep (passes)

FEATURES = st.sampled_from([FEATURE, "llama-3.1-405b", "apple-intelligence-mac", "nope", None, 3])
PLACES = st.one_of(
    st.none(),
    st.sampled_from(["FR", "fr", "GB", "UK", "EL", "XX", "US", "RE", "GB-NIR", "", "FRA"]),
    st.integers(),
    st.lists(st.text(max_size=2), max_size=1),
)
DATES = st.one_of(
    st.none(),
    st.sampled_from(["2024-09-24", "2026-01-01", "2026-13-01", "", 20260101]),
    st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)),
    st.datetimes(timezones=st.sampled_from([None, dt.UTC])),
)
IPS = st.one_of(st.none(), st.sampled_from(["81.2.69.160", "not an ip", "::1"]), st.integers())
_PLAIN = Gate.from_path(POLICIES)
_LINES: list[str] = []
_LOGGED = Gate.from_path(POLICIES, decision_log=DecisionLog(_LINES.append, new_id=lambda: "id"))


@examples(150)
@given(
    feature=FEATURES,
    country=PLACES,
    subdivision=st.one_of(st.none(), st.none(), PLACES),
    domicile=st.one_of(st.none(), st.none(), PLACES),
    ip=IPS,
    at=DATES,
    context=st.sampled_from(["none", "override-allow", "override-deny", "pinned"]),
)
def test_the_four_compiled_methods_agree_and_the_log_records_each_call_once(
    feature, country, subdivision, domicile, ip, at, context
):
    """
    Plain and logged gates, ``is_allowed`` and ``evaluate``, asked anything: one answer.

    The four methods are one source compiled with different exits; for any
    input (wrong types, bad dates, IPs without a database) inside or outside
    an override or a pinned date, they must agree, never raise, and the
    logged gate must write exactly one line per call, for the decision it
    returned.
    """
    kwargs = {
        "country": country,
        "subdivision": subdivision,
        "domicile": domicile,
        "ip": ip,
        "at": at,
    }
    with contextlib.ExitStack() as stack:
        for gate in (_PLAIN, _LOGGED):
            if context == "pinned":
                stack.enter_context(pinned_date(gate, "2024-09-24"))
            elif context != "none":
                stack.enter_context(gate.override(FEATURE, allow=context == "override-allow"))
        assert _LOGGED.flush(WAIT)
        before = len(_LINES)
        for _ in range(2):  # the second call may come from the memo
            decision = _PLAIN.evaluate(feature, **kwargs)
            assert decision == _LOGGED.evaluate(feature, **kwargs)
            assert decision.allowed is _PLAIN.is_allowed(feature, **kwargs)
            assert decision.allowed is _LOGGED.is_allowed(feature, **kwargs)
        assert _LOGGED.flush(WAIT)
    records = [json.loads(line) for line in _LINES[before:]]
    assert 4 == len(records)
    assert [decision.allowed] * 4 == [r["allowed"] for r in records]
    assert [decision.feature] * 4 == [r["feature"] for r in records]
