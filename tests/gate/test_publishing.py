"""
Publishing a policy set to a running gate: half-written files, settling, the lock, fork.

A writer that rewrites files in place (an editor, ``cp``, ``scp``, a
configuration tool) leaves them half-written for a while, and a file cut at a
byte offset is often still a valid policy. The watcher must never activate
such a set; these tests rewrite the shipped policies slowly while threads
decide, and check every decision against the sets before and after.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Self

import pytest
from click.testing import CliRunner

from geogate import Gate, PolicyError, RevisionMismatchError, load_policies
from geogate._gate.watch import Watcher
from geogate._policy.lock import LOCK_NAME, read_lock
from geogate.cli import main
from helpers.mmdb import country_record, write_country_db
from helpers.paths import POLICIES

if TYPE_CHECKING:
    from pathlib import Path

SHIPPED = {path.name: path.read_bytes() for path in sorted(POLICIES.glob("*.yaml"))}
#: meta-llama.yaml with llama-3.2-vision denied in CN instead of the EU (same size).
OPEN_IN_THE_EU = SHIPPED["meta-llama.yaml"].decode().replace("deny: [EU]", "deny: [CN]", 1)
COUNTRIES = ("FR", "DE", "RE", "GL", "GB", "US", "CN", "NO", "IE", "JP")
WAIT = 20.0


def wait_for(condition, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def answers(gate):
    """(feature, country) -> allowed, today."""
    return {
        (feature, country): gate.is_allowed(feature, country=country)
        for feature in gate.features
        for country in COUNTRIES
    }


def copy_shipped(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in SHIPPED.items():
        (folder / name).write_bytes(data)
    return folder


def test_a_file_cut_at_a_byte_offset_can_be_a_valid_policy(tmp_path):
    """
    Why settling matters: meta-llama.yaml cut right after ``default: allow`` loads.

    It has no rules, so it allows FR, which the whole file denies.
    """
    text = SHIPPED["meta-llama.yaml"].decode()
    feature = text.index("llama-3.2-vision:")
    cut = text.index("default: allow", feature) + len("default: allow\n")
    (tmp_path / "meta-llama.yaml").write_text(text[:cut], encoding="utf-8")
    half = Gate(load_policies(tmp_path / "meta-llama.yaml"))
    assert half.is_allowed("llama-3.2-vision", country="FR")
    assert not Gate.from_path(POLICIES).is_allowed("llama-3.2-vision", country="FR")


class Deciders:
    """Threads that decide every feature for every country until stopped, recording allows."""

    def __init__(self, gate: Gate, count: int = 3) -> None:
        self.gate = gate
        self.allowed: set[tuple[str, str, str]] = set()
        self.decisions = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                for feature in self.gate.features:
                    for country in COUNTRIES:
                        decision = self.gate.evaluate(feature, country=country)
                        self.decisions += 1
                        if decision.allowed:
                            self.allowed.add((decision.revision, feature, country))
        except BaseException as error:  # noqa: BLE001 (reported by the test)
            self.errors.append(error)

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)


def rewrite_slowly(path: Path, data: bytes, *, pause: float, lines: int = 1) -> None:
    """Rewrite *path* in place (truncate, then write) *lines* lines at a time, pausing between."""
    split = data.splitlines(keepends=True)
    with path.open("wb") as file:
        for start in range(0, len(split), lines):
            file.write(b"".join(split[start : start + lines]))
            file.flush()
            time.sleep(pause)


def check_no_new_allow(recorded, before: Gate, after: Gate):
    """Every allow came from a revision that allows it: the previous set's or the final one's."""
    allowed_by = {before.revision: answers(before), after.revision: answers(after)}
    wrong = [
        (revision[:19], feature, country)
        for revision, feature, country in recorded
        if not allowed_by.get(revision, {}).get((feature, country), False)
    ]
    assert [] == wrong


@pytest.mark.slow
@pytest.mark.parametrize("final", ["same", "changed"])
def test_a_slow_rewrite_in_place_never_activates_a_partial_set(tmp_path, final):
    """
    Every shipped file is rewritten in place, line by line, pausing less than the settle time.

    Threads decide all the while. No decision may allow what both the previous and the
    final content deny, and once the writer is done the gate answers from the final set.
    (Before, the watcher reloaded on the first change and the half-written
    meta-llama.yaml allowed FR.)
    """
    folder = copy_shipped(tmp_path / "policies")
    target = dict(SHIPPED)
    if final == "changed":  # the final set allows llama-3.2-vision in the EU: new access
        text = target["meta-llama.yaml"].decode()
        target["meta-llama.yaml"] = text.replace("deny: [EU]", "deny: [CN]", 1).encode()
        assert target["meta-llama.yaml"] != SHIPPED["meta-llama.yaml"]
    expected = copy_shipped(tmp_path / "expected")
    for name, data in target.items():
        (expected / name).write_bytes(data)
    before, after = Gate(load_policies(folder)), Gate(load_policies(expected))

    gate = Gate.from_path(folder, watch=0.02)  # the defaults: a poll every 20 ms, 2 s to settle
    try:
        with Deciders(gate) as deciders:
            for name, data in target.items():
                rewrite_slowly(folder / name, data, pause=0.02)
            assert wait_for(lambda: gate.revision == after.revision)
            time.sleep(0.1)
        assert [] == deciders.errors
        assert deciders.decisions > 1000
        check_no_new_allow(deciders.allowed, before, after)
        assert answers(after) == answers(gate)
    finally:
        gate.close()


@pytest.mark.slow
def test_a_lock_holds_back_files_written_with_long_pauses(tmp_path):
    """
    A writer that pauses longer than the settle time is held back by the lock.

    The directory is locked; the files are rewritten (with a change) pausing 0.3 s with a
    settle time of 0.05 s, so the watcher reads half-written sets: each fails the lock and
    the previous set keeps answering. Writing the lock last publishes the new set.
    """
    folder = copy_shipped(tmp_path / "policies")
    assert 0 == CliRunner().invoke(main, ["lock", str(folder)]).exit_code
    text = OPEN_IN_THE_EU
    expected = copy_shipped(tmp_path / "expected")
    (expected / "meta-llama.yaml").write_text(text, encoding="utf-8")
    before, after = Gate(load_policies(folder)), Gate(load_policies(expected))
    refusals = []
    gate = Gate.from_path(folder, watch=0.01, settle=0.05, on_reload=refusals.append)
    try:
        with Deciders(gate) as deciders:
            rewrite_slowly(folder / "meta-llama.yaml", text.encode(), lines=25, pause=0.3)
            time.sleep(0.3)
            assert before.revision == gate.revision  # complete, but not locked yet
            # The watcher logs a refused reload, then tells on_reload: wait for the telling.
            assert wait_for(lambda: "lock-mismatch" in {d.code for r in refusals for d in r.errors})
            assert 0 == CliRunner().invoke(main, ["lock", str(folder)]).exit_code
            assert wait_for(lambda: gate.revision == after.revision)
        check_no_new_allow(deciders.allowed, before, after)
    finally:
        gate.close()


def test_a_kubernetes_configmap_swap_is_picked_up(tmp_path):
    """
    A ConfigMap volume: files are symlinks through ``..data``, swapped by one rename.

    The hidden timestamped folders are not read as policies; the new set is.
    """
    root = tmp_path / "config"
    first = copy_shipped(root / "..2026_12_01_00_00_00.1")
    (root / "..data").symlink_to(first.name)
    for name in SHIPPED:
        (root / name).symlink_to(f"..data/{name}")
    gate = Gate.from_path(root, watch=0.01, settle=0.05)
    try:
        assert not gate.is_allowed("llama-3.2-vision", country="FR")
        second = copy_shipped(root / "..2026_12_02_00_00_00.2")
        text = OPEN_IN_THE_EU
        (second / "meta-llama.yaml").write_text(text, encoding="utf-8")
        (root / "..data_tmp").symlink_to(second.name)
        (root / "..data_tmp").replace(root / "..data")  # what the kubelet does
        assert wait_for(lambda: gate.is_allowed("llama-3.2-vision", country="FR"))
        assert 2 == len(gate.policy.files)
    finally:
        gate.close()


def test_an_atomic_rename_is_picked_up(tmp_path):
    """Write a hidden temporary file, then rename it into place: the safe recipe for one file."""
    folder = copy_shipped(tmp_path / "policies")
    gate = Gate.from_path(folder, watch=0.01, settle=0.05)
    try:
        text = OPEN_IN_THE_EU
        (folder / ".meta-llama.yaml.tmp").write_text(text, encoding="utf-8")
        (folder / ".meta-llama.yaml.tmp").replace(folder / "meta-llama.yaml")
        assert wait_for(lambda: gate.is_allowed("llama-3.2-vision", country="FR"))
    finally:
        gate.close()


def test_expect_revision_still_pins_a_watched_gate(tmp_path):
    """A watched gate pinned to a revision refuses other content, settled or not."""
    folder = copy_shipped(tmp_path / "policies")
    pinned = load_policies(folder).revision
    seen = []
    gate = Gate.from_path(
        folder, watch=0.01, settle=0.05, expect_revision=pinned, on_reload=seen.append
    )
    try:
        (folder / "extra.yaml").write_text("features:\n  x:\n    default: allow\n")
        assert wait_for(lambda: bool(seen))
        assert (False, pinned) == (seen[-1].ok, gate.revision)
        assert ["revision-mismatch"] == [d.code for d in seen[-1].errors]
    finally:
        gate.close()


def test_files_that_change_while_read_are_refused(tmp_path, monkeypatch):
    """reload() reads a snapshot before and after the files: a write in between refuses them."""
    import geogate._gate.reload  # noqa: PLC0415 (the module whose loader is wrapped)

    folder = copy_shipped(tmp_path / "policies")
    gate = Gate.from_path(folder)
    real = geogate._gate.reload.check_paths

    def load_then_write(paths, **options):
        loaded = real(paths, **options)
        (folder / "meta-llama.yaml").write_bytes(SHIPPED["meta-llama.yaml"] + b"# more\n")
        return loaded

    (folder / "apple-intelligence.yaml").write_bytes(SHIPPED["apple-intelligence.yaml"] + b"#\n")
    monkeypatch.setattr(geogate._gate.reload, "check_paths", load_then_write)
    before = gate.revision
    result = gate.reload()
    assert (False, before) == (result.ok, gate.revision)
    assert ["files-changed"] == [d.code for d in result.errors]
    monkeypatch.setattr(geogate._gate.reload, "check_paths", real)
    assert gate.reload().changed


def test_a_locked_directory(tmp_path):
    """
    geogate lock: loading requires matching files; reload refuses a stale or missing lock.

    ``geogate check`` fails on a stale lock, so CI catches a forgotten ``geogate lock``.
    """
    folder = copy_shipped(tmp_path / "policies")
    runner = CliRunner()
    result = runner.invoke(main, ["lock", str(folder)])
    assert 0 == result.exit_code, result.output
    lock = read_lock(folder / LOCK_NAME, LOCK_NAME)
    gate = Gate.from_path(folder)
    assert (gate.revision, set(SHIPPED)) == (lock.revision, set(lock.files))

    (folder / "meta-llama.yaml").write_bytes(SHIPPED["meta-llama.yaml"] + b"# edited\n")
    refused = gate.reload()
    assert (False, lock.revision) == (refused.ok, gate.revision)
    assert ["lock-mismatch"] == [d.code for d in refused.errors]
    assert "'meta-llama.yaml' differs" in refused.errors[0].message
    checked = runner.invoke(main, ["check", str(folder)])
    assert 1 == checked.exit_code
    assert "[lock-mismatch]" in checked.output
    with pytest.raises(PolicyError, match="lock-mismatch"):
        Gate.from_path(folder)

    assert 0 == runner.invoke(main, ["lock", str(folder)]).exit_code
    assert gate.reload().changed
    (folder / LOCK_NAME).unlink()
    missing = gate.reload()
    assert ["lock-missing"] == [d.code for d in missing.errors]
    (folder / LOCK_NAME).write_text("revision: sha256:12\n")
    broken = gate.reload()
    assert ["lock-invalid"] == [d.code for d in broken.errors]
    assert ":1:1:" in str(broken.errors[0])


def test_geogate_lock_usage(tmp_path):
    """A file is not a directory (exit 2); a broken set is not locked (exit 1)."""
    runner = CliRunner()
    folder = copy_shipped(tmp_path / "policies")
    result = runner.invoke(main, ["lock", str(folder / "meta-llama.yaml")])
    assert 2 == result.exit_code
    assert "is not a directory" in result.output
    (folder / "bad.yaml").write_text("features:\n  f: [\n")
    result = runner.invoke(main, ["lock", str(folder)])
    assert 1 == result.exit_code
    assert not (folder / LOCK_NAME).exists()


def test_the_watcher_waits_for_the_files_to_settle():
    """Poll by poll, with a fake clock: a change restarts the settle time; then one reload."""
    now = [0.0]
    state = [("a", 1, 1, 1, 1)]
    reloads = []
    watcher = Watcher(
        ["x"], lambda: reloads.append(now[0]), interval=1, settle=2, clock=lambda: now[0]
    )
    watcher.snapshot = lambda: frozenset(state)  # type: ignore[method-assign]
    watcher._last = watcher._seen = frozenset(state)
    for step, changed in enumerate([True, False, True, False, False, False, False]):
        now[0] = float(step)
        if changed:
            state[0] = ("a", step + 10, step + 10, step, 1)
        watcher.poll()
    assert [4.0] == reloads  # changed at 0 and 2: settled 2 s after the last change


def fork_while_held(locks, child) -> tuple[bool, int]:
    """
    Fork while another thread holds *locks*; run *child* in the child process.

    Return what *child* returned (True or False) and the child's exit code. The
    child never returns into pytest; a child that hangs is killed after 20 s.
    """
    held, release = threading.Event(), threading.Event()

    def hold():
        with contextlib.ExitStack() as stack:
            for lock in locks:
                stack.enter_context(lock)
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.write(write, b"ok" if child() else b"no")
            code = 0
        finally:
            os._exit(code)
    try:
        os.close(write)
        release.set()
        holder.join(5)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.read(read, 2) == b"ok", os.waitstatus_to_exitcode(status)
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung")
    finally:
        os.close(read)


@pytest.mark.slow
def test_a_forked_child_gets_a_working_watcher_and_locks(tmp_path):
    """
    After os.fork (gunicorn --preload): the child's watcher runs and a held lock is not inherited.

    The parent forks while another thread holds the gate's lock; the child reloads,
    decides and sees a change through its own watcher.
    """
    folder = copy_shipped(tmp_path / "policies")
    gate = Gate.from_path(folder, watch=0.01, settle=0.05)

    def child():
        (folder / "meta-llama.yaml").write_text(OPEN_IN_THE_EU, encoding="utf-8")
        return gate.watching and wait_for(
            lambda: gate.is_allowed("llama-3.2-vision", country="FR"), timeout=10
        )

    try:
        assert (True, 0) == fork_while_held([gate._lock, gate._reloader._lock], child)
    finally:
        gate.close()


def test_reload_reopens_a_replaced_geoip_database(tmp_path):
    """
    geoipupdate renames a new database into place: reload() uses it, today's memo by IP too.

    Before, the old database answered forever.
    """
    folder = copy_shipped(tmp_path / "policies")
    path = write_country_db(tmp_path / "country.mmdb", {"81.2.69.0/24": country_record("GB")})
    gate = Gate.from_path(folder, geoip_db=path)
    try:
        assert gate.is_allowed("llama-3.2-vision", ip="81.2.69.160")  # GB: allowed
        new = write_country_db(tmp_path / "new.mmdb", {"81.2.69.0/24": country_record("FR")})
        new.replace(path)
        result = gate.reload()
        assert (True, True, False) == (result.ok, result.geoip_reopened, result.changed)
        assert not gate.is_allowed("llama-3.2-vision", ip="81.2.69.160")  # now FR: denied
        assert "FR" == gate.evaluate("llama-3.2-vision", ip="81.2.69.160").country

        path.write_bytes(b"not a database")
        broken = gate.reload()
        assert (False, ["geoip-database"]) == (broken.ok, [d.code for d in broken.errors])
        assert "FR" == gate.evaluate("llama-3.2-vision", ip="81.2.69.160").country
    finally:
        gate.close()


def test_the_watcher_reopens_a_replaced_geoip_database(tmp_path):
    """The database is watched with the policies: a rename into place is picked up."""
    folder = copy_shipped(tmp_path / "policies")
    path = write_country_db(tmp_path / "country.mmdb", {"81.2.69.0/24": country_record("GB")})
    gate = Gate.from_path(folder, geoip_db=path, watch=0.01, settle=0.05)
    try:
        assert "GB" == gate.evaluate("llama-3.2-vision", ip="81.2.69.160").country
        new = write_country_db(tmp_path / "new.mmdb", {"81.2.69.0/24": country_record("FR")})
        new.replace(path)
        assert wait_for(lambda: gate.evaluate("llama-3.2-vision", ip="81.2.69.160").country == "FR")
    finally:
        gate.close()


def test_expect_revision_and_lock_together(tmp_path):
    """A lock does not loosen a pin: a locked new revision is still refused when pinned."""
    folder = copy_shipped(tmp_path / "policies")
    pinned = load_policies(folder).revision
    (folder / "extra.yaml").write_text("features:\n  x:\n    default: allow\n")
    assert 0 == CliRunner().invoke(main, ["lock", str(folder)]).exit_code
    with pytest.raises(RevisionMismatchError):
        Gate.from_path(folder, expect_revision=pinned)


def test_a_reload_at_midnight_utc_answers_for_the_new_day(tmp_path, monkeypatch):
    """A reload published a moment before midnight UTC answers for the new day after it."""
    import geogate._gate.gate  # noqa: PLC0415 (the module whose clock is moved)

    folder = copy_shipped(tmp_path / "policies")
    midnight = dt.datetime(2026, 12, 7, tzinfo=dt.UTC).timestamp()
    clock = [midnight - 0.001]
    monkeypatch.setattr(geogate._gate.gate, "_now", lambda: clock[0])
    gate = Gate.from_path(folder)
    (folder / "extra.yaml").write_text("features:\n  x:\n    default: allow\n")
    assert gate.reload().changed
    assert dt.date(2026, 12, 6) == gate.evaluate("x", country="FR").as_of
    clock[0] = midnight
    assert dt.date(2026, 12, 7) == gate.evaluate("x", country="FR").as_of


def test_a_same_size_edit_with_its_time_set_back_is_seen(tmp_path):
    """
    A same-size rewrite whose modification time is set back (os.utime) is still noticed.

    The status-change time, which nothing can set back, is in the snapshot.
    """
    folder = copy_shipped(tmp_path / "policies")
    path = folder / "meta-llama.yaml"
    original = path.stat()
    text = OPEN_IN_THE_EU
    assert len(text) == len(SHIPPED["meta-llama.yaml"])
    gate = Gate.from_path(folder, watch=0.01, settle=0.05)
    try:
        time.sleep(0.05)
        path.write_text(text, encoding="utf-8")
        os.utime(path, ns=(original.st_atime_ns, original.st_mtime_ns))
        assert wait_for(lambda: gate.is_allowed("llama-3.2-vision", country="FR"))
    finally:
        gate.close()


@pytest.mark.slow
def test_a_forked_child_can_reopen_a_database_locked_at_the_fork(tmp_path):
    """A GeoIP database whose lock another thread held at the fork: the child's reload works."""
    folder = copy_shipped(tmp_path / "policies")
    path = write_country_db(tmp_path / "country.mmdb", {"81.2.69.0/24": country_record("GB")})
    gate = Gate.from_path(folder, geoip_db=path)

    def child():
        new = write_country_db(tmp_path / "new.mmdb", {"81.2.69.0/24": country_record("FR")})
        new.replace(path)
        result = gate.reload()
        gate.close()
        return result.geoip_reopened

    try:
        assert (True, 0) == fork_while_held([gate.geoip._lock], child)
    finally:
        gate.close()


def test_new_policies_and_a_broken_database_are_reported_as_they_are(tmp_path, caplog):
    """
    The policies changed (and swapped) while the new database is broken: the log says both.

    Before, it said "still answering from" the old revision, which the gate no longer did.
    """
    folder = copy_shipped(tmp_path / "policies")
    path = write_country_db(tmp_path / "country.mmdb", {"81.2.69.0/24": country_record("GB")})
    gate = Gate.from_path(folder, geoip_db=path)
    old = gate.revision
    (folder / "extra.yaml").write_text("features:\n  x:\n    default: allow\n")
    path.write_bytes(b"not a database")
    with caplog.at_level("INFO", logger="geogate"):
        result = gate.reload()
    assert (False, True, result.revision) == (result.ok, result.changed, gate.revision)
    assert ["geoip-database"] == [d.code for d in result.errors]
    messages = [r.getMessage() for r in caplog.records]
    assert not any("still answering" in m for m in messages)
    assert any(
        f"revision {result.revision[:19]} (was {old[:19]}), with 1 error(s)" in m for m in messages
    )
    gate.close()
