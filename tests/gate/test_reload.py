"""Gate.reload, reload listeners, the watcher and close: atomic swaps under load."""

from __future__ import annotations

import datetime as dt
import logging
import random
import sys
import threading
import time
from typing import TYPE_CHECKING

import pytest

from geogate import Gate, GeogateError, ReloadResult, load_policies
from geogate._engine.decision import short_revision
from helpers.mmdb import country_record, write_country_db

if TYPE_CHECKING:
    from pathlib import Path

#: Countries and dates every version is asked about.
COUNTRIES = ("FR", "de", "GB", "US", "CN", "JP", "XX", "BR")
DATES = (None, "2025-06-01", dt.date(2024, 1, 1), dt.date(2026, 3, 1))
FEATURES = ("f", "g")
#: Per version, the countries f denies and g allows.
DENIED = (("FR", "DE"), ("GB",), ("US", "CN", "FR"), ("JP", "BR"))
ALLOWED = (("FR",), ("DE", "GB", "US"), ("CN",), ("BR", "JP", "FR"))
#: Invalid versions of a.yaml (b.yaml stays valid): an unknown code, broken YAML, an unknown key.
INVALID = (
    "features:\n  f:\n    default: allow\n    rules:\n      - {id: bad, deny: [GER], reason: r}\n",
    "features:\n  f: [unclosed\n",
    "features:\n  f:\n    default: allow\n    colour: blue\n",
)
WAIT = 10.0  # seconds: the bound on waiting for a watcher


def valid_files(k: int) -> dict[str, str]:
    """Version *k*: two files, so a half-swapped set would show in either feature."""
    deny = ", ".join(DENIED[k % len(DENIED)])
    allow = ", ".join(ALLOWED[k % len(ALLOWED)])
    default = "allow" if k % 2 == 0 else "deny"
    return {
        "a.yaml": (
            f"features:\n  f:\n    default: {default}\n    unknown: deny\n    rules:\n"
            f"      - {{id: f-rule-{k}, deny: [{deny}], reason: version {k}}}\n"
        ),
        "b.yaml": (
            f"features:\n  g:\n    default: deny\n    rules:\n"
            f"      - {{id: g-rule-{k}, allow: [{allow}], from: 2025-0{k % 9 + 1}-01, "
            f"reason: version {k}}}\n"
        ),
    }


def invalid_files(k: int) -> dict[str, str]:
    return {**valid_files(0), "a.yaml": INVALID[k % len(INVALID)]}


def write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def expected_answers(folder: Path) -> tuple[str, dict[tuple[object, ...], tuple[bool, str | None]]]:
    """Return the revision of the files in *folder* and (allowed, rule) for every question."""
    gate = Gate(load_policies(folder))
    answers = {
        (feature, country, at): (decision.allowed, decision.rule)
        for feature in FEATURES
        for country in COUNTRIES
        for at in DATES
        for decision in [gate.evaluate(feature, country=country, at=at)]
    }
    return gate.revision, answers


@pytest.fixture
def policies(tmp_path):
    folder = tmp_path / "policies"
    write(folder, valid_files(0))
    return folder


@pytest.mark.slow
def test_reload_swaps_under_load(tmp_path, policies):
    """
    Threads evaluate while the files are rewritten and reloaded 50 times, valid and invalid in turn.

    No call raises; every decision names a revision that was current at some
    moment during the call, and is exactly the decision of that revision.
    """
    iterations = 50
    versions = [i // 2 % len(DENIED) + 1 for i in range(iterations)]
    plan = [None if i % 2 else valid_files(k) for i, k in enumerate(versions)]  # None: invalid
    expected: dict[str, dict[tuple[object, ...], tuple[bool, str | None]]] = {}
    revision_of: dict[int, str] = {}
    for k in range(len(DENIED) + 1):
        revision, answers = expected_answers(write_to(tmp_path / f"v{k}", valid_files(k)))
        expected[revision] = answers
        revision_of[k] = revision
    # planned[i]: the revision the gate answers from after i reloads.
    planned = [revision_of[0]]
    for i, k in enumerate(versions):
        planned.append(planned[-1] if plan[i] is None else revision_of[k])
    gate = Gate.from_path(policies)
    assert planned[0] == gate.revision

    done = [0]  # reloads completed
    stop = threading.Event()
    errors: list[BaseException] = []
    checked = [0]
    questions = [(f, c, at) for f in FEATURES for c in COUNTRIES for at in DATES]

    def work(seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
        count = 0
        try:
            while not stop.is_set():
                feature, country, at = rng.choice(questions)
                before = done[0]
                if rng.random() < 0.5:
                    decision = gate.evaluate(feature, country=country, at=at)
                    after = done[0]
                    window = planned[before : after + 2]
                    assert decision.revision in window, (decision.revision, window)
                    key = (feature, country, at)
                    assert expected[decision.revision][key] == (decision.allowed, decision.rule)
                else:
                    allowed = gate.is_allowed(feature, country=country, at=at)
                    after = done[0]
                    window = planned[before : after + 2]
                    assert allowed in {expected[r][(feature, country, at)][0] for r in window}
                count += 1
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            errors.append(exc)
        finally:
            with lock:
                checked[0] += count

    lock = threading.Lock()
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # many more interleavings than the default 5 ms
    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(3)]
    try:
        for thread in threads:
            thread.start()
        for i, step in enumerate(plan):
            write(policies, invalid_files(i) if step is None else step)
            result = gate.reload()
            assert (step is not None, planned[i + 1], planned[i]) == (
                result.ok,
                result.revision,
                result.previous,
            )
            done[0] += 1
            time.sleep(0.002)
    finally:
        stop.set()
        for thread in threads:
            thread.join(WAIT)
        sys.setswitchinterval(switch)

    assert [] == errors
    assert checked[0] > 1000
    assert planned[-1] == gate.revision


def write_to(folder: Path, files: dict[str, str]) -> Path:
    write(folder, files)
    return folder


def test_a_reload_in_the_middle_of_a_decision(policies, monkeypatch):
    """
    A reload that lands while a decision is being made: the decision is wholly of the old set.

    A helper of the slow path (``_short``, run after the state is read and
    before the decision is made) is wrapped to reload the gate on its first
    call. The decision in flight keeps the old revision, rule and
    explanation, and goes into the old state's memo only; the next call
    answers from the new set.
    """
    import geogate._gate.slowpath  # noqa: PLC0415 (the module whose helper is wrapped)

    gate = Gate.from_path(policies)
    old = gate.revision
    write(policies, valid_files(1))
    real = geogate._gate.slowpath._short
    reloaded: list[ReloadResult] = []

    def reload_then_short(value, longest):
        if not reloaded:
            reloaded.append(gate.reload())
        return real(value, longest)

    monkeypatch.setattr(geogate._gate.slowpath, "_short", reload_then_short)
    in_flight = gate.evaluate("f", country="GB")

    assert reloaded[0].changed
    assert (old, None, True) == (in_flight.revision, in_flight.rule, in_flight.allowed)
    assert short_revision(old) in in_flight.explanation
    assert "GB" not in gate._rows.get("f", {})  # the new tables hold no old decision
    after = gate.evaluate("f", country="GB")
    assert (reloaded[0].revision, "f-rule-1", False) == (after.revision, after.rule, after.allowed)
    assert after is gate.evaluate("f", country="GB")  # memoised in the new tables


def test_reload_result_and_new_answers(policies):
    """A good reload swaps the policies: the memoised fast path answers from the new set at once."""
    gate = Gate.from_path(policies)
    before = gate.revision
    assert not gate.is_allowed("f", country="FR")
    assert not gate.is_allowed("f", country="FR")  # memoised

    write(policies, valid_files(1))
    result = gate.reload()

    assert (True, True, before, ()) == (
        result.ok,
        result.changed,
        result.previous,
        result.errors,
    )
    assert gate.revision == result.revision != before
    assert gate.is_allowed("f", country="FR") is False  # version 1: default deny
    assert gate.is_allowed("f", country="FR", at="2025-06-01") is False
    decision = gate.evaluate("f", country="GB")
    assert ("f-rule-1", result.revision) == (decision.rule, decision.revision)


def test_failed_reload_keeps_the_last_good_policies(policies, caplog):
    """Errors: nothing is swapped, every diagnostic is logged and returned, nothing raises."""
    gate = Gate.from_path(policies)
    good = gate.revision
    seen: list[ReloadResult] = []
    gate.add_reload_listener(seen.append)
    (policies / "a.yaml").write_text(
        "features:\n  f:\n    default: allow\n    rules:\n"
        "      - {id: bad, deny: [GER, UK], reason: r}\n"
        "  h: [oops\n",
        encoding="utf-8",
    )

    with caplog.at_level(logging.INFO, logger="geogate"):
        result = gate.reload()

    assert (False, good, good, False) == (
        result.ok,
        result.revision,
        result.previous,
        result.changed,
    )
    assert result.errors
    assert [result] == seen
    assert good == gate.revision
    assert gate.evaluate("f", country="FR").rule == "f-rule-0"
    logged = [r.getMessage() for r in caplog.records if r.name == "geogate"]
    for diagnostic in result.diagnostics:
        assert f"geogate: {diagnostic}" in logged
    assert any("failed with" in line and good[:19] in line for line in logged)


def test_unchanged_reload_swaps_nothing_and_calls_no_listener(policies):
    """The same content (same revision): the state object is kept, listeners are not called."""
    gate = Gate.from_path(policies)
    state = gate._state
    seen: list[ReloadResult] = []
    gate.add_reload_listener(seen.append)
    (policies / "a.yaml").touch()

    result = gate.reload()

    assert (True, False) == (result.ok, result.changed)
    assert state is gate._state
    assert [] == seen


def test_listeners_on_reload_and_errors_in_listeners(policies, caplog):
    """on_reload and add_reload_listener are both called; one that raises does not stop the rest."""
    first: list[ReloadResult] = []
    second: list[ReloadResult] = []

    def broken(_: ReloadResult) -> None:
        msg = "listener bug"
        raise RuntimeError(msg)

    gate = Gate.from_path(policies, on_reload=first.append)
    gate.add_reload_listener(broken)
    gate.add_reload_listener(second.append)
    write(policies, valid_files(2))

    result = gate.reload()

    assert [result] == first == second
    assert any("reload listener" in r.getMessage() for r in caplog.records)
    gate.remove_reload_listener(second.append)
    gate.remove_reload_listener(print)  # never added: ignored
    write(policies, valid_files(3))
    gate.reload()
    assert 2 == len(first)
    assert 1 == len(second)


def test_a_gate_without_paths_cannot_reload(policies):
    """A gate built from a PolicySet has no paths: reload and watch raise a clear error."""
    gate = Gate(load_policies(policies))
    message = (
        "this gate was built from a PolicySet, so it has no policy paths to reload; "
        "build it with Gate.from_path(...) to use reload() or watch()"
    )
    assert gate.paths is None
    with pytest.raises(GeogateError) as caught:
        gate.reload()
    assert message == str(caught.value)
    with pytest.raises(GeogateError, match="no policy paths to watch"):
        gate.watch()


def test_paths_are_remembered_absolute(policies, monkeypatch):
    """Reload reads the same files after the working directory changes."""
    monkeypatch.chdir(policies.parent)
    gate = Gate.from_path("policies")
    assert (str(policies),) == gate.paths
    monkeypatch.chdir(policies / "..")
    write(policies, valid_files(1))
    monkeypatch.chdir("/")
    assert gate.reload().ok


def test_reload_inside_an_override(policies):
    """An open override stays in force across a reload, and the fast path resumes after it."""
    gate = Gate.from_path(policies)
    with gate.override("f", allow=True):
        write(policies, valid_files(1))
        assert gate.reload().changed
        decision = gate.evaluate("f", country="FR")
        assert (True, gate.revision) == (decision.allowed, decision.revision)
        assert 0.0 == gate._expires
    assert gate._today.expires == gate._expires
    assert gate._rows is gate._today.rows
    assert not gate.is_allowed("f", country="FR")


def wait_for(condition, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.mark.slow
def test_watcher_reloads_on_change_and_close_stops_it(policies):
    """watch=: a rewritten, an added and a broken file are picked up; close() stops the thread."""
    seen: list[ReloadResult] = []
    gate = Gate.from_path(policies, watch=0.02, settle=0.1, on_reload=seen.append)
    try:
        assert gate.watching
        first = gate.revision
        write(policies, valid_files(1))
        assert wait_for(lambda: gate.revision != first)
        assert gate.evaluate("f", country="GB").rule == "f-rule-1"

        second = gate.revision
        (policies / "c.yaml").write_text("features:\n  h:\n    default: allow\n", encoding="utf-8")
        assert wait_for(lambda: gate.revision != second)
        assert "h" in gate.features

        (policies / "c.yaml").write_text("features:\n  h: [\n", encoding="utf-8")
        assert wait_for(lambda: bool(seen) and not seen[-1].ok)
        time.sleep(0.1)  # several polls: a broken file is reported once, not on every poll
        assert 1 == sum(not r.ok for r in seen)
        assert all(r.ok for r in seen[:-1])
    finally:
        gate.close()
    assert not gate.watching
    third = gate.revision
    (policies / "c.yaml").unlink()
    time.sleep(0.1)
    assert third == gate.revision
    gate.close()  # twice is harmless


def test_watch_method_and_context_manager(policies):
    """gate.watch() starts one watcher (twice is harmless); leaving `with` stops it."""
    with Gate.from_path(policies) as gate:
        assert not gate.watching
        gate.watch(interval=0.02, settle=0.1)
        watcher = gate._reloader._watcher
        gate.watch(interval=0.02, settle=0.1)
        assert watcher is gate._reloader._watcher
        before = gate.revision
        write(policies, valid_files(3))
        assert wait_for(lambda: gate.revision != before)
    assert not gate.watching


def test_watch_interval_must_be_positive(policies):
    with Gate.from_path(policies) as gate, pytest.raises(ValueError, match="positive"):
        gate.watch(interval=0)


def test_watcher_sees_changes_made_between_load_and_watch(policies):
    """The snapshot is taken before loading, so an edit before watch() starts is not missed."""
    gate = Gate.from_path(policies)
    first = gate.revision
    write(policies, valid_files(2))
    with gate:
        gate.watch(interval=0.02, settle=0.1)
        assert wait_for(lambda: gate.revision != first)


def test_close_closes_the_geoip_database(policies, tmp_path):
    """close() closes the GeoIP database: later lookups give unknown, as after GeoDatabase.close."""
    db = write_country_db(tmp_path / "c.mmdb", {"81.2.69.0/24": country_record("GB")})
    with Gate.from_path(policies, geoip_db=db) as gate:
        assert "GB" == gate.evaluate("f", ip="81.2.69.1").country
        database = gate.geoip
    assert database is not None
    assert database._closed
