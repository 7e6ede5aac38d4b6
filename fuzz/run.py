"""
Run every harness for a bounded time, each in its own process; fail on any crash.

Each harness runs with a fresh temporary working corpus (its seed folder is
only read) and writes crash, timeout and out-of-memory reproducers to a
temporary artifact folder; any such file, or a harness that exits non-zero,
fails the run, and the reproducers are listed with the harness's output.

Usage::

    python fuzz/run.py --seconds 20 [--only fuzz_ip] [--keep]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HARNESSES = ("fuzz_policy_loader", "fuzz_headers", "fuzz_ip")
#: libFuzzer's own per-input limit; a slower input is reported as a timeout.
INPUT_TIMEOUT_SECONDS = 25
#: libFuzzer's memory limit per process.
MEMORY_LIMIT_MB = 2048


def _run(name: str, seconds: int, folder: Path) -> tuple[bool, str]:
    corpus = folder / "corpus" / name
    corpus.mkdir(parents=True)
    artifacts = folder / "artifacts" / name
    artifacts.mkdir(parents=True)
    command = [
        sys.executable,
        str(HERE / f"{name}.py"),
        str(corpus),
        str(HERE / "corpus" / name.removeprefix("fuzz_")),
        f"-max_total_time={seconds}",
        f"-timeout={INPUT_TIMEOUT_SECONDS}",
        f"-rss_limit_mb={MEMORY_LIMIT_MB}",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
    ]
    dictionary = HERE / f"{name.removeprefix('fuzz_')}.dict"
    if dictionary.exists():
        command.append(f"-dict={dictionary}")
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 (our own harness, with our own interpreter)
        command,
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
        timeout=seconds + 120,
    )
    elapsed = time.monotonic() - started
    found = sorted(artifacts.iterdir())
    runs = [
        line
        for line in done.stderr.splitlines()
        if line.startswith("stat::number_of_executed_units")
    ]
    executed = runs[-1].split(":")[-1].strip() if runs else "?"
    ok = done.returncode == 0 and not found
    lines = [f"{name}: {'ok' if ok else 'FAILED'} ({executed} inputs in {elapsed:.0f} s)"]
    if not ok:
        lines.append(f"  exit status {done.returncode}")
        lines.extend(f"  reproducer: {path}" for path in found)
        lines.extend("  | " + line for line in done.stderr.splitlines()[-60:])
    return ok, "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the harnesses; return 0 when none crashed, 1 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="time per harness")
    parser.add_argument("--only", choices=HARNESSES, action="append", help="run only this one")
    parser.add_argument("--keep", action="store_true", help="keep the corpus and reproducers")
    options = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="geogate-fuzz-"))
    failed = False
    for name in options.only or HARNESSES:
        ok, report = _run(name, options.seconds, folder)
        sys.stdout.write(report + "\n")
        sys.stdout.flush()
        failed |= not ok
    if options.keep or failed:
        sys.stdout.write(f"corpus and reproducers kept in {folder}\n")
    else:
        import shutil  # noqa: PLC0415 (only needed on success)

        shutil.rmtree(folder, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
