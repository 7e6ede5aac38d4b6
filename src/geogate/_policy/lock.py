"""
The lock file: the revision a policy directory is published at, written last.

``geogate lock DIR`` writes ``DIR/geogate.lock``: the revision of the policy
files in the directory and the digest of each. Once a directory holds a lock,
its files load only when they match it: `geogate._load.loader.check_paths` reports
a ``lock-mismatch`` error otherwise, so `Gate.from_path` refuses them, and
`Gate.reload` and the watcher keep answering from the last good set until the
files match again. A deployment that writes files in place, in any order,
and the lock last (or copies a lock made in CI along with the files) can never
activate a half-written set: until the last byte is there, the revision
differs from the lock.

The format is plain text, one ``key: value`` per line, so a review shows
which files changed::

    # geogate lock: ...
    revision: sha256:<64 hex digits>
    file: sha256:<64 hex digits> meta-llama.yaml
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from .codes import Code
from .diagnostics import Diagnostic, Position

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["LOCK_NAME", "Lock", "digest", "find_lock", "mismatch", "read_lock", "write_lock"]

#: The lock's file name, in the policy directory (the first path given).
LOCK_NAME = "geogate.lock"
#: A lock is a few lines per file; a larger one is refused unread.
_MAX_LOCK_BYTES = 4 * 1024 * 1024
_DIGEST = r"sha256:[0-9a-f]{64}"
_LINE = re.compile(
    rf"(?:revision: (?P<revision>{_DIGEST})|file: (?P<digest>{_DIGEST}) (?P<name>.+))"
)
_HEADER = """\
# geogate lock: the policy files this directory is published at, written by
# `geogate lock`. A gate that loads, reloads or watches this directory answers
# only from files of this revision; until every file matches, it keeps the last
# good set. Write the files first and this file last (or copy it from CI with
# them), and run `geogate lock` again after changing them on purpose.
"""


def digest(data: bytes) -> str:
    """Return the ``sha256:`` digest of one file's bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@attrs.frozen
class Lock:
    """
    What a lock file says.

    Attributes:
        path: The lock file, as displayed in diagnostics.
        revision: The policy revision the directory is published at.
        files: Each policy file's relative name -> its ``sha256:`` digest.
        line: The line of the revision in the lock file.
    """

    path: str
    revision: str
    files: Mapping[str, str]
    line: int = 1


def find_lock(paths: Iterable[str | os.PathLike[str]]) -> Path | None:
    """Return where the lock of a policy set given as *paths* lives: in the first, a directory."""
    first = next(iter(paths), None)
    if first is None:
        return None
    folder = Path(first)
    return folder / LOCK_NAME if folder.is_dir() else None


def read_lock(path: Path, shown: str) -> Lock | Diagnostic | None:
    """
    Read the lock at *path* (displayed as *shown*).

    Returns None when there is no lock, the `Lock`, or a ``lock-invalid``
    error that says where and what is wrong.
    """
    try:
        size = path.stat().st_size
        if size > _MAX_LOCK_BYTES:
            return _invalid(Position(shown), f"the lock file is {size:,} bytes, not a lock")
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return _invalid(Position(shown), f"the lock file cannot be read: {exc.strerror or exc}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _invalid(Position(shown), "the lock file is not UTF-8 text")
    revision: str | None = None
    revision_line = 1
    files: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            return _invalid(
                Position(shown, number, 1),
                f"the line {line[:60]!r} is neither 'revision: sha256:...' nor "
                "'file: sha256:... NAME'",
            )
        if match["revision"] is not None:
            if revision is not None:
                return _invalid(Position(shown, number, 1), "the lock names two revisions")
            revision, revision_line = match["revision"], number
        elif files.setdefault(match["name"], match["digest"]) != match["digest"]:
            return _invalid(
                Position(shown, number, 7), f"the file {match['name']!r} is listed twice"
            )
    if revision is None:
        return _invalid(Position(shown, 1, 1), "the lock names no revision")
    return Lock(shown, revision, files, revision_line)


def _invalid(position: Position, message: str) -> Diagnostic:
    return Diagnostic.of(
        position=position,
        code=Code.LOCK_INVALID,
        message=message,
        hint="write the lock again with `geogate lock` (a half-written lock also reads so; "
        "the last good policies keep answering until it is whole)",
    )


def mismatch(lock: Lock, revision: str, digests: Mapping[str, str]) -> Diagnostic | None:
    """Return the ``lock-mismatch`` error when the files read are not the ones locked."""
    if revision == lock.revision:
        return None
    changed = sorted(name for name in digests.keys() & lock.files.keys()
                     if digests[name] != lock.files[name])  # fmt: skip
    parts = [f"{_names(changed)} differ{'s' if len(changed) == 1 else ''}"] if changed else []
    added = sorted(digests.keys() - lock.files.keys())
    if added:
        parts.append(f"{_names(added)} {'is' if len(added) == 1 else 'are'} not in the lock")
    missing = sorted(lock.files.keys() - digests.keys())
    if missing:
        parts.append(f"{_names(missing)} {'is' if len(missing) == 1 else 'are'} missing")
    why = "; ".join(parts) or "the lock lists the same files with the same digests"
    return Diagnostic.of(
        position=Position(lock.path, lock.line, len("revision: ") + 1),
        code=Code.LOCK_MISMATCH,
        message=f"the policy files have revision {revision!r}, but the lock says "
        f"{lock.revision!r}: {why}",
        hint="while a deployment is still writing the files this is expected, and the last "
        "good policies keep answering; if the files were changed on purpose, run "
        "`geogate lock` on the directory",
    )


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")  # noqa: PLR2004


def write_lock(path: Path, revision: str, digests: Mapping[str, str]) -> None:
    """
    Write the lock for *revision* at *path*, atomically.

    The text goes to a temporary file in the same directory, is flushed to
    disk, and is renamed over *path*: a reader sees the old lock or the new
    one, never a part.
    """
    if any("\n" in name for name in digests):
        msg = "a policy file name holds a line break; rename it before locking"
        raise ValueError(msg)
    lines = [_HEADER, f"revision: {revision}\n"]
    lines.extend(f"file: {digests[name]} {name}\n" for name in sorted(digests))
    data = "".join(lines).encode("utf-8")
    handle, temporary = tempfile.mkstemp(prefix=".geogate.lock.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        Path(temporary).chmod(0o644)
        Path(temporary).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise
