"""
Where a command's report or document goes: standard output, or ``--output FILE`` written whole.

A file is written beside itself under a new random name and renamed into
place, so whoever reads it (a flagd watching it, a browser, a CI step) sees
the old file or the new one, never half of one; it keeps the mode of the file
it replaces. A symbolic link at FILE is replaced, not followed, so a link
planted in a shared folder cannot redirect the write; only a link into
``/dev`` or ``/proc`` is followed, to a pipe or a terminal (``/dev/stdout``).
A pipe or a character device cannot be renamed over and is written to as a
shell's ``>`` would. Anything that cannot be written is exit 3 with one line
that says why.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Final, NoReturn, TypeVar

import click

from ._common import ExitCode

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["output_option", "write_output"]

F = TypeVar("F", bound="Callable[..., object]")


def output_option(function: F) -> F:
    """Add ``--output FILE`` (as *destination*; default: standard output), checked up front."""
    return click.option(
        "--output",
        "destination",
        metavar="FILE",
        default=None,
        callback=_check_destination,
        help="Write to FILE instead of standard output (replaced whole, never half-written).",
    )(function)


def _check_destination(
    _context: click.Context, _parameter: click.Parameter, destination: str | None
) -> str | None:
    """Refuse now, not after the work, a FILE that names no file (2) or is in no folder (3)."""
    if destination is None:
        return None
    target = Path(destination)
    if _names_no_file(destination) or target.is_dir():
        msg = f"{destination!r} names no file (a folder, or nothing); give a file name"
        raise click.BadParameter(msg)
    if not target.parent.is_dir():
        click.echo(
            f"geogate: cannot write {destination!r}: its folder does not exist; create it or "
            "choose another",
            err=True,
        )
        sys.exit(ExitCode.ENVIRONMENT)
    return destination


def _names_no_file(destination: str) -> bool:
    """``""``, ``.``, ``..`` or a path ending in ``/``: no file name to write."""
    name = Path(destination).name
    return not destination or not name or name in {".", ".."}


def write_output(text: str, destination: str | None) -> None:
    """
    Write *text* to standard output, or to the file *destination* names (without styles).

    Raises:
        click.BadParameter: *destination* names no file (``""``, ``.``, a folder's ``/``).
    """
    if destination is None:
        try:
            click.echo(text, nl=False)
            sys.stdout.flush()
        except OSError as error:  # a full disk behind "> report", a closed pipe
            _cannot_write("standard output", error)
        return
    if _names_no_file(destination):
        raise click.BadParameter("FILE must name a file", param_hint="'--output'")
    target = Path(destination)
    text = click.unstyle(text)
    try:
        mode: int | None = _mode_to_write(target)
    except OSError as error:
        _cannot_write(repr(destination), error)
    if mode is not None and (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
        _write_through(target, text)
    elif mode is not None and not stat.S_ISREG(mode) and not stat.S_ISLNK(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "neither a file nor a pipe"
        click.echo(f"geogate: cannot write {destination!r}: it is {kind}", err=True)
        sys.exit(ExitCode.ENVIRONMENT)
    else:
        _write_whole(target, text)


def _mode_to_write(target: Path) -> int | None:
    """
    What *target* is, for writing (None: nothing is there).

    A symbolic link is itself (to be replaced), unless it leads into
    ``/dev`` or ``/proc`` to a pipe or a terminal (``/dev/stdout``): a link
    planted elsewhere, even to a FIFO, must not carry the report away.
    """
    try:
        mode = target.lstat().st_mode
    except FileNotFoundError:
        return None
    if not stat.S_ISLNK(mode):
        return mode
    resolved = os.path.realpath(target)
    if resolved.startswith(("/dev/", "/proc/")):
        try:
            followed = Path(resolved).stat().st_mode
        except OSError:
            return mode
        if stat.S_ISCHR(followed) or stat.S_ISFIFO(followed):
            return followed
    return mode


def _cannot_write(where: str, error: OSError) -> NoReturn:
    click.echo(f"geogate: cannot write {where}: {error.strerror or error}", err=True)
    sys.exit(ExitCode.ENVIRONMENT)


def _write_through(target: Path, text: str) -> None:
    """Write into a pipe or a character device, as a shell's ``>`` would."""
    try:
        with target.open("w", encoding="utf-8", newline="") as stream:
            stream.write(text)
    except OSError as error:
        _cannot_write(repr(str(target)), error)


def _write_whole(target: Path, text: str) -> None:
    """
    Replace *target* with *text* so that a reader sees the old file or the new one, whole.

    The temporary file is new (``O_EXCL``, a random name: no symbolic link is
    followed and two commands never share one), synced before the rename, and
    removed whatever stops the write: an error, Ctrl-C, or SIGTERM (turned
    into SystemExit while the file exists). It takes the mode, and where it
    may the owner, of the file it replaces (a private report stays private),
    else the mode a new file gets (umask), not mkstemp's 0600.
    """
    try:
        previous = target.lstat()
    except OSError:
        previous = None
    if previous is not None and not stat.S_ISREG(previous.st_mode):
        previous = None  # a link is replaced by a file of its own
    # The temporary name holds FILE's when there is room (a name is at most 255 bytes).
    prefix = f".{target.name}." if len(target.name.encode()) <= _LONGEST_SHOWN else ".geogate-"
    with _sigterm_exits():
        try:
            handle, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)
        except OSError as error:
            _cannot_write(repr(str(target)), error)
        temporary = Path(name)
        try:
            if previous is None:
                umask = os.umask(0)
                os.umask(umask)
                os.fchmod(handle, 0o666 & ~umask)
            else:
                os.fchmod(handle, stat.S_IMODE(previous.st_mode))
                with contextlib.suppress(OSError):  # only root may give a file away
                    os.fchown(handle, previous.st_uid, previous.st_gid)
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            temporary.replace(target)
        except BaseException as error:
            temporary.unlink(missing_ok=True)
            if isinstance(error, OSError):
                _cannot_write(repr(str(target)), error)
            raise


#: Longest FILE name (bytes) that the temporary name repeats.
_LONGEST_SHOWN: Final = 200


@contextlib.contextmanager
def _sigterm_exits() -> Iterator[None]:
    """While the block runs (in the main thread), SIGTERM raises SystemExit, so cleanups run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(number: int, _frame: object) -> None:
        raise SystemExit(128 + number)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
