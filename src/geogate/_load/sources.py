"""
Where a policy set comes from: a path, or ``git:REV[:PATH]``.

A git side is a revision of the git repository that contains the current
directory (``PATH`` defaults to ``policies``). Its policy files are written
out to a temporary directory with ``git ls-tree`` and ``git show`` (no shell)
and loaded with the ordinary loader, so its diagnostics (shown as
``REV:path``) and its revision are those of the same files on disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import attrs

from geogate.exceptions import PolicySourceError

from .loader import SUFFIXES, check_paths

if TYPE_CHECKING:
    from collections.abc import Callable

    from geogate._policy.diagnostics import Diagnostic
    from geogate._policy.model import PolicySet

__all__ = ["DEFAULT_GIT_PATH", "Side", "git_history", "load_side"]

#: The path a ``git:REV`` side reads when it names none.
DEFAULT_GIT_PATH = "policies"
_GIT_PREFIX = "git:"


@attrs.frozen(kw_only=True)
class Side:
    """
    One side of a diff.

    Attributes:
        spec: As written: a path or ``git:REV[:PATH]``.
        revision: The policy set's ``sha256:`` digest.
        commit: The commit a ``git:`` side was read from, or None.
        files: The files loaded, as shown in diagnostics.
    """

    spec: str
    revision: str
    commit: str | None = None
    files: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data."""
        return {
            "spec": self.spec,
            "revision": self.revision,
            "commit": self.commit,
            "files": list(self.files),
        }


# -- reading a side ------------------------------------------------------------------------------


def load_side(spec: str) -> tuple[PolicySet | None, tuple[Diagnostic, ...], Side | None]:
    """
    Load one side: a path, or ``git:REV[:PATH]`` materialised in a temporary directory.

    Returns the policy set (None when it did not load), every diagnostic (git
    files shown as ``REV:path``), and the side's description (None when it did
    not load).

    Raises:
        PolicySourceError: git is missing, or the repository, revision or path is.
    """
    if not spec.startswith(_GIT_PREFIX):
        policy, diagnostics = check_paths([spec])
        side = (
            None
            if policy is None
            else Side(spec=spec, revision=policy.revision, files=policy.files)
        )
        return policy, diagnostics, side
    revision, _, path = spec.removeprefix(_GIT_PREFIX).partition(":")
    path = path or DEFAULT_GIT_PATH
    git = _Git(spec)
    commit = git.resolve(revision)
    with tempfile.TemporaryDirectory(prefix="geogate-diff-") as directory:
        root = git.materialise(revision, path, Path(directory))
        policy, diagnostics = check_paths([root])
        rename = _renamer(Path(directory), revision)
        diagnostics = tuple(
            attrs.evolve(d, position=attrs.evolve(d.position, path=rename(d.position.path)))
            for d in diagnostics
        )
        if policy is None:
            return None, diagnostics, None
        files = tuple(rename(f) for f in policy.files)
        policy = attrs.evolve(policy, files=files, warnings=diagnostics)
    return (
        policy,
        diagnostics,
        Side(spec=spec, revision=policy.revision, commit=commit, files=files),
    )


def git_history(path: str) -> tuple[str, ...]:
    """
    Return ``git:COMMIT:PATH`` for every commit that changed *path*, newest first.

    *path* is relative to the current directory, inside a git repository.

    Raises:
        PolicySourceError: git is missing, or the current directory is not in a repository.
    """
    spec = f"{_GIT_PREFIX}*:{path}"
    git = _Git(spec)
    git.resolve("HEAD")
    listed = git.run("log", "--format=%H", "--", path)
    if listed.returncode != 0:
        msg = f"cannot read the history of {path!r}: {_first_line(listed.stderr)}"
        raise PolicySourceError(msg, spec)
    commits = listed.stdout.decode().split()
    return tuple(f"{_GIT_PREFIX}{commit}:{path}" for commit in commits)


def _renamer(directory: Path, revision: str) -> Callable[[str], str]:
    base = directory.resolve()

    def rename(shown: str) -> str:
        try:
            relative = Path(shown).resolve().relative_to(base)
        except ValueError:
            return shown
        return f"{revision}:{relative.as_posix()}"

    return rename


class _Git:
    """The few git commands a ``git:`` side needs, run without a shell."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        executable = shutil.which("git")
        if executable is None:
            msg = f"cannot read {spec!r}: git is not installed (no 'git' on $PATH)"
            raise PolicySourceError(msg, spec)
        self.executable = executable

    def run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(  # noqa: S603 (a fixed executable and an argument list, no shell)
            [self.executable, *args], capture_output=True, check=False
        )

    def resolve(self, revision: str) -> str | None:
        """Check the repository and the revision; return its commit (None for a tree)."""
        top = self.run("rev-parse", "--show-toplevel")
        if top.returncode != 0:
            msg = (
                f"cannot read {self.spec!r}: {Path.cwd()} is not inside a git repository "
                f"({_first_line(top.stderr)})"
            )
            raise PolicySourceError(msg, self.spec)
        if not revision or revision.startswith("-"):
            msg = f"cannot read {self.spec!r}: {revision!r} is not a revision; write git:REV[:PATH]"
            raise PolicySourceError(msg, self.spec)
        tree = self.run("rev-parse", "--verify", "--quiet", f"{revision}^{{tree}}")
        if tree.returncode != 0:
            msg = (
                f"cannot read {self.spec!r}: no revision {revision!r} in the repository at "
                f"{top.stdout.decode().strip()}; name a commit, branch or tag "
                "(for example git:HEAD~1 or git:origin/main)"
            )
            raise PolicySourceError(msg, self.spec)
        commit = self.run("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
        return commit.stdout.decode().strip() if commit.returncode == 0 else None

    def materialise(self, revision: str, path: str, directory: Path) -> Path:
        """Write the policy files under *path* at *revision* below *directory*; return the root."""
        listing = self.run(
            "ls-tree", "-r", "-z", "--name-only", "--full-name", revision, "--", path
        )
        names = [n for n in listing.stdout.decode("utf-8", "surrogateescape").split("\0") if n]
        if listing.returncode != 0 or not names:
            msg = (
                f"cannot read {self.spec!r}: no file or directory {path!r} in revision "
                f"{revision!r} (PATH is relative to the current directory)"
            )
            raise PolicySourceError(msg, self.spec)
        # The path as the repository names it, relative to its top level.
        prefix = self.run("rev-parse", "--show-prefix").stdout.decode().strip()
        full = os.path.normpath(PurePosixPath(prefix, path).as_posix()).replace(os.sep, "/")
        whole = full in {".", ""}  # the whole repository
        is_file = names == [full]
        root = directory if whole else directory / PurePosixPath(full).name
        for name in names:
            if PurePosixPath(name).suffix.lower() not in SUFFIXES:
                continue  # the loader would not read it
            shown = self.run("show", f"{revision}:{name}")
            if shown.returncode != 0:  # pragma: no cover (a listed blob is readable)
                msg = f"cannot read {revision}:{name}: {_first_line(shown.stderr)}"
                raise PolicySourceError(msg, self.spec)
            relative = (
                PurePosixPath()
                if is_file
                else PurePosixPath(name)
                if whole
                else PurePosixPath(name).relative_to(full)
            )
            target = root / relative if not is_file else root
            if ".." in relative.parts:  # pragma: no cover (git refuses such trees)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(shown.stdout)
        if not is_file:
            root.mkdir(parents=True, exist_ok=True)
        return root


def _first_line(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[0] if lines else "no message"
