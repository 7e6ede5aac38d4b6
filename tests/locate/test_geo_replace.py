"""
Replacing the GeoIP database under a running process: never a crash, and `reopen` swaps it whole.

Replacements that could kill the process (a truncated memory-mapped file
raises SIGBUS) are made in a child process, which must exit 0 having printed
that its answers did not change.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import geogate
import geogate._locate.geo
from geogate._locate.geo import GeoDatabase, GeoResult
from geogate._world.countries import LocationStatus
from geogate.exceptions import GeoDatabaseError
from helpers.mmdb import city_record, country_record, write_city_db, write_country_db, write_db

KNOWN = LocationStatus.KNOWN
LINUX = sys.platform == "linux"
SRC = Path(geogate.__file__).resolve().parents[1]

#: Countries given out in turn; the "other" database shifts them by one.
CODES = ["GB", "FR", "DE", "SE", "JP", "US", "IT", "ES", "NL", "PL"]
#: One /16 per network, each with its own record (names in eight languages),
#: so that the records fill a data section of a few hundred kilobytes.
NETWORKS = [f"{1 + n // 250}.{n % 250}.0.0/16" for n in range(3000)]
ADDRESSES = [f"{1 + n // 250}.{n % 250}.1.1" for n in range(3000)]


def _records(shift: int) -> dict[str, dict[str, object]]:
    records: dict[str, dict[str, object]] = {}
    for n, network in enumerate(NETWORKS):
        record = country_record(CODES[(n + shift) % len(CODES)])
        record["country"]["geoname_id"] = 10_000 + n
        record["country"]["names"] = dict.fromkeys("abcdefgh", f"Country {n:04d}")
        records[network] = record
    return records


@pytest.fixture(scope="module")
def databases(tmp_path_factory) -> dict[str, Path]:
    """Three Country databases: a big one, the same shifted by a country, a small one."""
    folder = tmp_path_factory.mktemp("replace")
    found = {
        "big": write_country_db(folder / "big.mmdb", _records(0)),
        "other": write_country_db(folder / "other.mmdb", _records(1)),
        "small": write_country_db(folder / "small.mmdb", {"81.2.69.0/24": country_record("GB")}),
    }
    sizes = {name: path.stat().st_size for name, path in found.items()}
    assert sizes["big"] == sizes["other"] > 100 * sizes["small"], sizes
    return found


def _install(source: Path, path: Path) -> Path:
    """Put a copy of *source* at *path* the way geoipupdate does: write aside, rename over."""
    aside = path.with_name(path.name + ".tmp")
    shutil.copyfile(source, aside)
    aside.replace(path)
    return path


# --- Replacing the file under a running process (in a child process) -------------------------

CHILD = r"""
import os, shutil, sys

path, big, other, small, how, copy = sys.argv[1:7]
if copy == "tempfile":  # as on a system without memfd
    del os.memfd_create
from geogate._locate.geo import GeoDatabase

shutil.copyfile(big, path)
db = GeoDatabase(path, cache_size=0)
addresses = [f"{1 + n // 250}.{n % 250}.1.1" for n in range(3000)]
before = [db.lookup(ip) for ip in addresses]
assert all(r.status.value == "known" for r in before), before[:3]
if how == "truncate-to-zero":
    os.truncate(path, 0)
elif how == "truncate-to-half":
    os.truncate(path, os.path.getsize(path) // 2)
elif how == "copy-smaller-in-place":
    shutil.copyfile(small, path)
elif how == "overwrite-same-size":
    with open(path, "r+b") as file:
        file.write(open(other, "rb").read())
elif how == "rename-over":
    shutil.copyfile(other, path + ".tmp")
    os.replace(path + ".tmp", path)
elif how == "delete":
    os.remove(path)
after = [db.lookup(ip) for ip in addresses]
changed = [(b, a) for b, a in zip(before, after) if b != a]
if changed:
    print(f"{len(changed)} answers changed after {how}, first {changed[0]}")
    sys.exit(1)
if copy == "tempfile" and os.listdir(os.environ["TMPDIR"]):
    print(f"temporary files left: {os.listdir(os.environ['TMPDIR'])}")
    sys.exit(1)
print(f"{len(after)} answers unchanged after {how}")
"""

REPLACEMENTS = [
    "truncate-to-zero",
    "truncate-to-half",
    "copy-smaller-in-place",
    "overwrite-same-size",
    "rename-over",
    "delete",
]
COPIES = ["memfd", "tempfile"] if hasattr(os, "memfd_create") else ["tempfile"]


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="the replacements are POSIX file operations")
@pytest.mark.parametrize("copy", COPIES)
@pytest.mark.parametrize("how", REPLACEMENTS)
def test_replacing_the_file_never_disturbs_lookups(tmp_path, databases, how, copy):
    """However the file is replaced, truncated or deleted, lookups answer as before: no SIGBUS."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "TMPDIR": str(temporary),
    }
    paths = [str(databases[name]) for name in ("big", "other", "small")]
    child = subprocess.run(  # noqa: S603 (this interpreter, this script)
        [sys.executable, "-c", CHILD, str(tmp_path / "db.mmdb"), *paths, how, copy],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    died = f" (killed by {signal.Signals(-child.returncode).name})" if child.returncode < 0 else ""
    assert (0, f"3000 answers unchanged after {how}\n") == (child.returncode, child.stdout), (
        f"exit {child.returncode}{died}; stderr: {child.stderr[-2000:]}"
    )


# --- Seeing that the file changed, and reopening it ------------------------------------------


def test_changed(tmp_path, databases):
    """
    changed() compares the file at the path with the one opened: inode, size, times; gone.

    Setting the modification time back with os.utime does not hide a change: the
    status-change time, which nothing can set back, moved too.
    """
    path = _install(databases["big"], tmp_path / "db.mmdb")
    with GeoDatabase(path) as db:
        status = path.stat()
        expected = (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
        assert expected == db.signature
        assert not db.changed()
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))
        assert db.changed()
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
        assert db.changed()
        assert db.reopen()
        assert not db.changed()
        _install(databases["big"], path)  # the same bytes, another inode
        assert db.changed()
        path.unlink()
        assert db.changed()


def test_reopen_after_rename(tmp_path, databases):
    """A database renamed over the path is used after reopen(), with a fresh cache."""
    path = _install(databases["big"], tmp_path / "db.mmdb")
    with GeoDatabase(path) as db:
        assert ["GB", "FR", "DE"] == [db.lookup(ip).country for ip in ADDRESSES[:3]]
        assert not db.reopen()
        assert 3 == db.cache_info().currsize  # unchanged: nothing forgotten
        _install(databases["other"], path)
        assert ["GB", "FR", "DE"] == [db.lookup(ip).country for ip in ADDRESSES[:3]]
        assert db.reopen()
        assert 0 == db.cache_info().currsize
        assert ["FR", "DE", "SE"] == [db.lookup(ip).country for ip in ADDRESSES[:3]]
        status = path.stat()
        expected = (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
        assert expected == db.signature
        assert not db.changed()
        assert not db.reopen()


def test_reopen_updates_type_and_kind(tmp_path):
    """A Country database replaced by a City database reopens as one."""
    path = write_country_db(tmp_path / "db.mmdb", {"81.2.69.0/24": country_record("GB")})
    city = write_city_db(tmp_path / "city.mmdb", {"81.2.69.0/24": city_record("GB", ["NIR"])})
    with GeoDatabase(path) as db:
        assert ("GeoIP2-Country", "country", None) == (
            db.database_type,
            db.kind,
            db.lookup("81.2.69.1").subdivision,
        )
        city.replace(path)
        assert db.reopen()
        assert ("GeoIP2-City", "city", "GB-NIR") == (
            db.database_type,
            db.kind,
            db.lookup("81.2.69.1").subdivision,
        )
        assert f"GeoDatabase({str(path)!r}, database_type='GeoIP2-City')" == repr(db)


def _garbage(path: Path) -> str:
    aside = path.with_name("garbage.mmdb")
    aside.write_bytes(b"not a database\n" * 100)
    aside.replace(path)
    return (
        f"the GeoIP database {str(path)!r} is not a valid MaxMind DB file (it is corrupt, "
        "truncated or another kind of file); download it again"
    )


def _anonymous_ip(path: Path) -> str:
    aside = path.with_name("anonymous.mmdb")
    write_db(aside, {"1.2.0.0/16": {"is_anonymous": True}}, database_type="GeoIP2-Anonymous-IP")
    aside.replace(path)
    return (
        f"the GeoIP database {str(path)!r} is of type 'GeoIP2-Anonymous-IP', not a Country "
        "or City database; give the path of a GeoIP2 or GeoLite2 Country or City database, "
        "or of a DB-IP Lite Country or City database"
    )


def _missing(path: Path) -> str:
    path.unlink()
    return (
        f"the GeoIP database {str(path)!r} does not exist; download a Country or City "
        "database (.mmdb: GeoIP2, GeoLite2 or DB-IP Lite) and give its path"
    )


def _directory(path: Path) -> str:
    path.unlink()
    path.mkdir()
    return f"the GeoIP database {str(path)!r} is a directory; give the path of the .mmdb file in it"


@pytest.mark.parametrize("replace", [_garbage, _anonymous_ip, _missing, _directory])
def test_bad_replacement_keeps_the_old_database(tmp_path, databases, replace):
    """A replacement that cannot be used raises GeoDatabaseError; the old database answers on."""
    path = _install(databases["big"], tmp_path / "db.mmdb")
    with GeoDatabase(path) as db:
        signature = db.signature
        before = [db.lookup(ip, cache=False) for ip in ADDRESSES]
        db.lookup(ADDRESSES[0])
        message = replace(path)
        assert db.changed()
        with pytest.raises(GeoDatabaseError) as info:
            db.reopen()
        assert (str(path), message) == (info.value.path, str(info.value))
        assert before == [db.lookup(ip, cache=False) for ip in ADDRESSES]
        assert (signature, "GeoIP2-Country", "country", 1) == (
            db.signature,
            db.database_type,
            db.kind,
            db.cache_info().currsize,
        )
        with pytest.raises(GeoDatabaseError):  # and again, until the file is fixed
            db.reopen()
        if path.is_dir():
            path.rmdir()
        _install(databases["other"], path)
        assert db.reopen()
        assert "FR" == db.lookup(ADDRESSES[0]).country


def test_reopen_retries_a_file_that_changes_while_it_is_copied(tmp_path, databases, monkeypatch):
    """A file replaced during the copy is read again, and the new one is opened."""
    path = _install(databases["big"], tmp_path / "db.mmdb")
    copy = geogate._locate.geo._copy
    calls: list[int] = []

    def copy_then_replace(*args):
        copied = copy(*args)
        calls.append(copied)
        if len(calls) == 1:
            _install(databases["other"], path)
        return copied

    monkeypatch.setattr(geogate._locate.geo, "_copy", copy_then_replace)
    monkeypatch.setattr(geogate._locate.geo, "_RETRY_DELAY", 0)
    with GeoDatabase(path) as db:
        assert 2 == len(calls)
        assert "FR" == db.lookup(ADDRESSES[0]).country
        assert not db.changed()


def test_a_file_that_keeps_changing_is_refused(tmp_path, databases, monkeypatch):
    """A file still changing after three copies is refused, saying how to replace it safely."""
    path = _install(databases["big"], tmp_path / "db.mmdb")
    db = GeoDatabase(path)
    copy = geogate._locate.geo._copy
    calls: list[int] = []

    def copy_then_touch(*args):
        copied = copy(*args)
        calls.append(copied)
        os.utime(path, ns=(0, 1_000_000_000 * len(calls)))
        return copied

    monkeypatch.setattr(geogate._locate.geo, "_copy", copy_then_touch)
    monkeypatch.setattr(geogate._locate.geo, "_RETRY_DELAY", 0)
    os.utime(path, ns=(0, 0))
    with pytest.raises(GeoDatabaseError) as info:
        db.reopen()
    assert 3 == len(calls)
    assert (
        f"the GeoIP database {str(path)!r} changed while it was being read, 3 times; write "
        "a new database to a temporary file in the same directory and rename it into place "
        "(as geoipupdate does) rather than writing over the file in place"
    ) == str(info.value)
    assert "GB" == db.lookup(ADDRESSES[0]).country
    db.close()


def test_reopen_after_close(tmp_path, databases):
    """A closed database stays closed: reopen() opens nothing and returns False."""
    path = _install(databases["big"], tmp_path / "db.mmdb")
    db = GeoDatabase(path)
    db.close()
    _install(databases["other"], path)
    assert db.changed()
    assert not db.reopen()
    assert GeoResult(
        LocationStatus.INVALID, problem=f"the GeoIP database {str(path)!r} was closed"
    ) == db.lookup(ADDRESSES[0])


# --- Reopening under load --------------------------------------------------------------------


class _Blocking:
    """A reader that holds its first lookup until told to go on."""

    def __init__(self, reader):
        self._reader = reader
        self.entered = threading.Event()
        self.go_on = threading.Event()

    def get_with_prefix_len(self, ip):
        self.entered.set()
        assert self.go_on.wait(10)
        return self._reader.get_with_prefix_len(ip)


def test_lookup_in_flight_fills_only_the_old_cache(tmp_path, databases):
    """A lookup under way during reopen answers from the old file and never fills the new cache."""
    path = _install(databases["big"], tmp_path / "db.mmdb")
    with GeoDatabase(path) as db:
        blocking = _Blocking(db._live[0].reader)
        db._live[0].reader = blocking
        answers: list[GeoResult] = []
        thread = threading.Thread(target=lambda: answers.append(db.lookup(ADDRESSES[0])))
        thread.start()
        assert blocking.entered.wait(10)
        _install(databases["other"], path)
        assert db.reopen()
        blocking.go_on.set()
        thread.join(10)
        assert ["GB"] == [answer.country for answer in answers]
        assert "FR" == db.lookup(ADDRESSES[0]).country
        info = db.cache_info()
        assert (0, 1, 1) == (info.hits, info.misses, info.currsize)


@pytest.mark.slow
def test_lookups_while_reopening(tmp_path, databases):
    """Threads looking up while another reopens between two databases get one or the other."""
    path = _install(databases["big"], tmp_path / "db.mmdb")
    mix = ADDRESSES[::10]
    answers = {}
    for name in ("big", "other"):
        with GeoDatabase(databases[name]) as db:
            answers[name] = {ip: db.lookup(ip) for ip in mix}
    assert all(answers["big"][ip] != answers["other"][ip] for ip in mix)
    with GeoDatabase(path, cache_size=64) as db:
        stop = threading.Event()
        failures: list[object] = []
        counts = [0] * 4

        def look(worker: int) -> None:
            try:
                while not stop.is_set():
                    for ip in mix[worker::4]:
                        got = db.lookup(ip, cache=counts[worker] % 2 == 0)
                        if got not in {answers["big"][ip], answers["other"][ip]}:
                            failures.append(got)
                    counts[worker] += 1
            except Exception as error:  # noqa: BLE001 (reported below)
                failures.append(error)

        threads = [threading.Thread(target=look, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        reopened = 0
        deadline = time.monotonic() + 5
        try:
            for n in range(30):
                if time.monotonic() > deadline:
                    break
                _install(databases["other" if n % 2 == 0 else "big"], path)
                reopened += db.reopen()
        finally:
            stop.set()
            for thread in threads:
                thread.join(10)
    assert ([], True) == (failures[:3], reopened >= 10)
    assert all(counts), counts


# --- Nothing left behind ---------------------------------------------------------------------


def _mapped_copies() -> int:
    maps = Path("/proc/self/maps").read_text(encoding="utf-8").splitlines()
    return sum("/memfd:geogate-geoip" in line for line in maps)


def _descriptors() -> int:
    return len(list(Path("/proc/self/fd").iterdir()))


@pytest.mark.skipif(not LINUX or not hasattr(os, "memfd_create"), reason="memfd is Linux's")
def test_reopen_and_close_release_the_copies(tmp_path, databases):
    """One private copy mapped per open database: reopen drops the old one, close the last."""
    path = _install(databases["big"], tmp_path / "db.mmdb")
    mapped, descriptors = _mapped_copies(), _descriptors()
    db = GeoDatabase(path)
    assert (mapped + 1, descriptors) == (_mapped_copies(), _descriptors())
    for n in range(20):
        _install(databases["other" if n % 2 == 0 else "big"], path)
        assert db.reopen()
        assert (mapped + 1, descriptors) == (_mapped_copies(), _descriptors())
    db.close()
    assert (mapped, descriptors) == (_mapped_copies(), _descriptors())


def test_without_memfd_a_removed_temporary_file(tmp_path, databases, monkeypatch):
    """Without memfd, the copy is a temporary file, removed as soon as the reader has it open."""
    monkeypatch.delattr(os, "memfd_create", raising=False)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temporary))
    path = _install(databases["big"], tmp_path / "db.mmdb")
    with GeoDatabase(path) as db:
        assert [] == list(temporary.iterdir())
        assert "GB" == db.lookup(ADDRESSES[0], cache=False).country
        _install(databases["other"], path)
        assert db.reopen()
        assert [] == list(temporary.iterdir())
        assert "FR" == db.lookup(ADDRESSES[0], cache=False).country


def test_unwritable_temporary_directory(tmp_path, databases, monkeypatch):
    """Without memfd and without a usable temporary directory, the refusal says what to set."""
    monkeypatch.delattr(os, "memfd_create", raising=False)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "nowhere"))
    path = _install(databases["small"], tmp_path / "db.mmdb")
    with pytest.raises(GeoDatabaseError) as info:
        GeoDatabase(path)
    assert (
        f"the GeoIP database {str(path)!r} cannot be copied into a temporary file "
        "(No such file or directory); set $TMPDIR to a writable directory"
    ) == str(info.value)


@pytest.mark.skipif(not LINUX or not hasattr(os, "memfd_create"), reason="memfd is Linux's")
def test_the_copy_is_sealed(tmp_path, databases, monkeypatch):
    """Once written, the memory file refuses to shrink or be written, even to this process."""
    outcomes: list[str] = []
    release = geogate._locate.geo._PrivateCopy.release

    def try_then_release(self):
        for name, change in (
            ("truncate", lambda: os.ftruncate(self.fd, 0)),
            ("write", lambda: os.pwrite(self.fd, b"\0" * 64, 0)),
        ):
            try:
                change()
            except PermissionError:
                outcomes.append(f"{name} refused")
            else:
                outcomes.append(f"{name} allowed")
        release(self)

    monkeypatch.setattr(geogate._locate.geo._PrivateCopy, "release", try_then_release)
    with GeoDatabase(_install(databases["big"], tmp_path / "db.mmdb")) as db:
        assert ["truncate refused", "write refused"] == outcomes
        assert "GB" == db.lookup(ADDRESSES[0], cache=False).country
