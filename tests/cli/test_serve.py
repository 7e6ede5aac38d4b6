"""
``geogate serve`` as a real process on loopback: reloads, signals, the decision log, slow clients.

Each test starts ``geogate serve`` in a subprocess on a free 127.0.0.1 port
(found by binding a socket first: uvicorn does not report port 0), waits
for ``/readyz``, and kills the process in ``finally``. Every wait is bounded.
The subprocess imports geogate from this tree's ``src``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from geogate import FileSink
from helpers.paths import ROOT

if TYPE_CHECKING:
    from pathlib import Path

#: Seconds: the server's start, one request, a reload seen in /readyz.
STARTUP = 20.0
REQUEST = 5.0
RELOAD = 10.0
FEATURE = "demo"
POLICY = """\
features:
  demo:
    default: deny
    rules:
      - id: open-in-{code}
        allow: [{code}]
        reason: Offered in {code}.
"""

pytestmark = [
    pytest.mark.slow,  # each test starts `geogate serve` as a process
    pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="needs POSIX signals"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    """A ``geogate serve`` subprocess and how to talk to it."""

    def __init__(self, folder: Path, *options: str) -> None:
        self.port = free_port()
        self.output = folder / "serve.log"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])]
        )
        env.pop("GEOGATE_GEOIP_DB", None)
        env.pop("GEOGATE_EXPECT_REVISION", None)
        command = [sys.executable, "-c", "from geogate.cli import main; main()", "serve"]
        with self.output.open("wb") as sink:
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                [*command, "--port", str(self.port), *options],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=folder,
            )

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def request(self, method: str, path: str, body: object = None) -> tuple[int, dict[str, object]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST)
        try:
            payload = None if body is None else json.dumps(body).encode()
            headers = {} if body is None else {"Content-Type": "application/json"}
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            connection.close()

    def ready(self) -> dict[str, object]:
        return self.request("GET", "/readyz")[1]

    def allowed(self, country: str) -> tuple[bool, str]:
        status, body = self.request(
            "POST", f"/ofrep/v1/evaluate/flags/{FEATURE}", {"context": {"country": country}}
        )
        assert 200 == status, body
        metadata = body["metadata"]
        assert isinstance(metadata, dict)
        return bool(body["value"]), str(metadata["revision"])

    def wait_ready(self) -> dict[str, object]:
        deadline = time.monotonic() + STARTUP
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"geogate serve exited with {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
                status, body = self.request("GET", "/readyz")
                if status == 200:
                    return body
            time.sleep(0.05)
        pytest.fail(f"geogate serve was not ready within {STARTUP} s:\n{self.log()}")

    def wait_for(self, check, what: str, timeout: float = RELOAD):
        """Poll ``/readyz`` until *check* accepts it; return it."""
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
                seen = self.ready()
                if check(seen):
                    return seen
            time.sleep(0.05)
        pytest.fail(f"/readyz never showed {what} within {timeout} s; last {seen}:\n{self.log()}")

    def wait_in_log(self, text: str, times: int = 1, timeout: float = RELOAD) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log().count(text) >= times:
                return
            time.sleep(0.05)
        pytest.fail(f"the server never logged {text!r} within {timeout} s:\n{self.log()}")

    def stop(self, how: signal.Signals = signal.SIGTERM) -> int:
        self.process.send_signal(how)
        return self.process.wait(STARTUP)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(STARTUP)


@pytest.fixture
def serve(tmp_path):
    """Start ``geogate serve`` with these options; killed at the end of the test."""
    started: list[Served] = []

    def start(*options: str) -> Served:
        served = Served(tmp_path, *options)
        started.append(served)
        served.wait_ready()
        return served

    yield start
    for served in started:
        served.kill()


@pytest.fixture
def policies(tmp_path):
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "demo.yaml").write_text(POLICY.format(code="FR"))
    return folder


def rewrite(folder: Path, code: str) -> None:
    """Open the demo feature in *code* instead: a new revision."""
    (folder / "demo.yaml").write_text(POLICY.format(code=code))


def test_sighup_reloads_and_keeps_the_last_good_policies(serve, policies):
    """SIGHUP reloads; a broken file then leaves the last good set serving, and /readyz says so."""
    served = serve("--policies", str(policies))
    first = served.ready()
    assert (None, (True, first["revision"]), False) == (
        first["lastReload"],
        served.allowed("FR"),
        served.allowed("DE")[0],
    )

    rewrite(policies, "DE")
    served.process.send_signal(signal.SIGHUP)
    second = served.wait_for(
        lambda r: r["lastReload"] and r["lastReload"]["revision"] != first["revision"],
        "a reload to a new revision",
    )
    assert {
        "ok": True,
        "revision": second["revision"],
        "previous": first["revision"],
        "errorCount": 0,
        "errors": [],
    } == {k: v for k, v in second["lastReload"].items() if k != "at"}
    assert ((True, second["revision"]), False) == (served.allowed("DE"), served.allowed("FR")[0])

    (policies / "broken.yaml").write_text("features: [\n")
    rewrite(policies, "US")
    served.process.send_signal(signal.SIGHUP)
    third = served.wait_for(lambda r: not r["lastReload"]["ok"], "a failed reload")
    report = third["lastReload"]
    assert ("ready", second["revision"], second["revision"], second["revision"], 1) == (
        third["status"],
        third["revision"],
        report["revision"],
        report["previous"],
        report["errorCount"],
    )
    expected = (
        "policies/broken.yaml:2:1: error: invalid YAML: expected the node content, but found "
        "'<stream end>' [yaml-syntax]"
    )
    assert [expected] == report["errors"]
    assert report["at"].endswith("Z")
    # Decisions still come from the last good set: DE open, US closed.
    assert ((True, second["revision"]), False) == (served.allowed("DE"), served.allowed("US")[0])
    assert "failed with 1 error(s); still answering from revision" in served.log()
    assert 0 == served.stop()


def test_watch_reloads_when_the_files_change(serve, policies):
    """--watch SECONDS: a changed file is picked up without a signal."""
    served = serve("--policies", str(policies), "--watch", "0.1")
    before = served.ready()["revision"]

    rewrite(policies, "DE")
    after = served.wait_for(
        lambda r: r["lastReload"] and r["lastReload"]["revision"] != before, "the watcher's reload"
    )

    assert ((True, after["revision"]), True) == (served.allowed("DE"), after["lastReload"]["ok"])


def test_sigterm_writes_out_the_decision_log(serve, policies, tmp_path):
    """N answers, SIGTERM: exit 0, and the log holds exactly N complete JSON lines."""
    log = tmp_path / "decisions.jsonl"
    served = serve("--policies", str(policies), "--decision-log", str(log))
    countries = ["FR", "DE", "US"] * 7

    answers = [served.allowed(country)[0] for country in countries]
    code = served.stop(signal.SIGTERM)

    lines = log.read_text().splitlines()
    assert (0, len(countries)) == (code, len(lines)), served.log()
    records = [json.loads(line) for line in lines]
    assert sorted(zip(countries, answers, strict=True)) == sorted(
        (record["country"], record["allowed"]) for record in records
    )
    assert {FEATURE} == {record["feature"] for record in records}


def test_sigint_also_writes_out_the_decision_log(serve, policies, tmp_path):
    """SIGINT (Ctrl-C) stops as gracefully as SIGTERM."""
    log = tmp_path / "decisions.jsonl"
    served = serve("--policies", str(policies), "--decision-log", str(log))
    for country in ("FR", "DE", "GB"):
        served.allowed(country)

    code = served.stop(signal.SIGINT)

    assert (0, 3) == (code, len(log.read_text().splitlines())), served.log()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_parquet_decision_log_is_written_out_on_sigterm(serve, policies, tmp_path, workers):
    """
    --decision-log-format parquet: a folder of Parquet files, one set per process,
    holding every answer once SIGTERM has stopped the server; `geogate logs` reads them.
    """
    pytest.importorskip("duckdb", reason="Parquet decision logs need DuckDB: the logs extra")
    from geogate._logs.read import find_logs  # noqa: PLC0415 (needs DuckDB)
    from geogate._logs.summary import summarise  # noqa: PLC0415

    folder = tmp_path / "logs"
    served = serve(
        "--policies", str(policies), "--workers", workers,
        "--decision-log", str(folder), "--decision-log-format", "parquet",
    )  # fmt: skip
    countries = ["FR", "DE", "US", "GB"] * 5
    answers = [served.allowed(country)[0] for country in countries]

    code = served.stop(signal.SIGTERM)

    files = sorted(folder.glob("*.parquet"))
    assert (0, True) == (code, bool(files)), served.log()
    summary = summarise(find_logs([str(folder)]))
    assert (len(countries), 0) == (summary.decisions, summary.damaged), served.log()
    (feature,) = summary.features
    assert sum(answers) == feature.total.allowed


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["--decision-log-format", "parquet"], 2, "needs --decision-log FOLDER"),
        (["--decision-log", "{file}", "--decision-log-format", "parquet"], 3, "it is a file"),
    ],
)
def test_parquet_decision_log_mistakes(policies, tmp_path, arguments, code, message):
    """No folder named, or a file where the folder should be: a message, no traceback."""
    (tmp_path / "taken").write_text("", encoding="utf-8")
    arguments = [a.replace("{file}", str(tmp_path / "taken")) for a in arguments]
    result = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-c", "from geogate.cli import main; main()", "serve",
         "--policies", str(policies), "--port", str(free_port()), *arguments],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (code, "Traceback" in result.stderr) == (result.returncode, False), result.stderr
    assert message in result.stderr


#: A request head sent one byte at a time, never finished.
SLOW_HEAD = (
    b"POST /ofrep/v1/evaluate/flags/demo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
)
SLOW_CLIENTS = 40
HEADER_TIMEOUT = 1.0
#: Seconds past the header timeout by which every slow connection must be closed.
MARGIN = 1.5


def test_slow_request_headers_are_cut_off(serve, policies):
    """Forty clients trickling their headers are cut off after --header-timeout; others served."""
    served = serve(
        "--policies", str(policies), "--header-timeout", str(HEADER_TIMEOUT),
        "--keep-alive-timeout", "5",
    )  # fmt: skip
    selector = selectors.DefaultSelector()
    sockets = []
    try:
        opened = time.monotonic()
        for _ in range(SLOW_CLIENTS):
            slow = socket.create_connection(("127.0.0.1", served.port), timeout=REQUEST)
            slow.setblocking(False)  # noqa: FBT003 (the socket API)
            selector.register(slow, selectors.EVENT_READ)
            sockets.append(slow)
        closed: dict[socket.socket, tuple[float, bytes]] = {}
        answered = None
        sent = 0
        deadline = opened + HEADER_TIMEOUT + MARGIN
        while len(closed) < SLOW_CLIENTS and time.monotonic() < deadline:
            for slow in sockets:
                if slow not in closed:
                    with contextlib.suppress(OSError):  # closed by the server: seen below
                        slow.send(SLOW_HEAD[sent : sent + 1])
            sent += 1
            for key, _ in selector.select(timeout=0.1):
                slow = key.fileobj
                with contextlib.suppress(OSError):
                    data = slow.recv(4096)
                    closed[slow] = (time.monotonic() - opened, data)
                    selector.unregister(slow)
            if answered is None and time.monotonic() - opened > HEADER_TIMEOUT / 2:
                started = time.monotonic()
                answered = (served.allowed("FR")[0], time.monotonic() - started)
    finally:
        selector.close()
        for slow in sockets:
            slow.close()

    assert SLOW_CLIENTS == len(closed), f"{SLOW_CLIENTS - len(closed)} slow connections still open"
    times = sorted(when for when, _ in closed.values())
    assert HEADER_TIMEOUT * 0.9 <= times[0], times
    assert times[-1] <= HEADER_TIMEOUT + MARGIN, times
    assert {b"HTTP/1.1 408 Request Timeout"} == {
        data.split(b"\r\n")[0] for _, data in closed.values()
    }
    assert answered is not None
    assert True is answered[0]
    assert answered[1] < 0.5


def test_workers_reload_on_sighup_and_keep_serving_on_errors(serve, policies, tmp_path):
    """
    --workers 2: SIGHUP replaces the workers; a broken file keeps the old ones; logs per pid.

    The policies are deployed as releases behind a symlink (``current -> v1``, then
    ``v2``): each new worker follows the symlink again (before, the workers were given
    the resolved ``v1`` and reloaded it forever).
    """
    log = tmp_path / "decisions.jsonl"
    current = tmp_path / "current"
    current.symlink_to(policies)
    served = serve(
        "--policies", str(current), "--workers", "2", "--decision-log", str(log),
    )  # fmt: skip
    before = served.ready()["revision"]
    evaluations = [served.allowed("FR") for _ in range(4)]

    release = tmp_path / "v2"
    release.mkdir()
    rewrite(release, "DE")
    (tmp_path / "next").symlink_to(release)
    (tmp_path / "next").replace(current)  # one rename: the new release at once
    served.process.send_signal(signal.SIGHUP)
    # The old workers go only once their replacements are ready: both finished, all answers new.
    served.wait_in_log("Finished server process", times=2)
    after = served.ready()["revision"]
    evaluations += [served.allowed("DE") for _ in range(4)]

    (release / "broken.yaml").write_text("features: [\n")
    served.process.send_signal(signal.SIGHUP)
    served.wait_in_log("aborting the restart")
    revisions = {served.ready()["revision"] for _ in range(6)}
    evaluations += [served.allowed("DE") for _ in range(4)]
    code = served.stop()

    assert (0, {after}) == (code, revisions), served.log()
    assert before != after
    assert [(True, before)] * 4 == evaluations[:4]
    assert [(True, after)] * 8 == evaluations[4:]
    assert "invalid YAML" in served.log()
    files = sorted(tmp_path.glob("decisions.*.jsonl"))
    assert not log.exists()
    assert 4 == len(files), files  # two workers, both replaced
    lines = [json.loads(line) for file in files for line in file.read_text().splitlines()]
    assert len(evaluations) == len(lines)


def test_a_decision_log_written_by_another_process_is_exit_3(policies, tmp_path):
    """--decision-log on a file another process writes: a message and exit 3, no traceback."""
    log = tmp_path / "decisions.jsonl"
    holder = FileSink(log)
    try:
        result = subprocess.run(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-c", "from geogate.cli import main; main()", "serve",
             "--policies", str(policies), "--port", str(free_port()), "--decision-log", str(log)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        holder.close()
    assert 3 == result.returncode, result.stderr
    assert "Traceback" not in result.stderr
    assert "decisions.jsonl" in result.stderr


def test_slow_body_is_408(serve, policies):
    """A body trickled for longer than --body-timeout: 408, then the connection is closed."""
    served = serve("--policies", str(policies), "--body-timeout", "0.5")
    head = (
        b"POST /ofrep/v1/evaluate/flags/demo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )
    with socket.create_connection(("127.0.0.1", served.port), timeout=REQUEST) as slow:
        slow.sendall(head)
        started = time.monotonic()
        slow.setblocking(False)  # noqa: FBT003 (the socket API)
        received = b""
        while time.monotonic() - started < 0.5 + MARGIN:
            # Trickle until just before the deadline: a byte the server never reads
            # would make its close a reset, which can discard the 408 before it is read.
            if time.monotonic() - started < 0.4:
                with contextlib.suppress(OSError):
                    slow.send(b" ")
            readable, _, _ = select.select([slow], [], [], 0.1)
            if readable:
                try:
                    chunk = slow.recv(4096)
                except ConnectionResetError:
                    break
                received += chunk
                if not chunk:
                    break
        elapsed = time.monotonic() - started

    assert b"HTTP/1.1 408 Request Timeout" == received.split(b"\r\n")[0], received
    assert received.endswith(
        b'{"errorDetails":"the request body did not arrive within 0.5 seconds; '
        b'send the whole body at once"}'
    )
    assert 0.45 <= elapsed <= 0.5 + MARGIN


def test_metrics_count_real_requests_and_reloads(serve, policies):
    """--metrics: /metrics after real requests and a SIGHUP reload, parsed as Prometheus does."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    served = serve("--policies", str(policies), "--metrics")
    first = served.ready()["revision"]
    served.allowed("FR")
    served.allowed("DE")
    rewrite(policies, "DE")
    served.process.send_signal(signal.SIGHUP)
    second = served.wait_for(
        lambda r: r["lastReload"] and r["lastReload"]["revision"] != first, "a reload"
    )["revision"]
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=REQUEST)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        text = response.read().decode()
    finally:
        connection.close()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    explicit = (("effect", "allow"), ("feature", FEATURE), ("location_source", "explicit"))
    assert (1.0, 1.0, 2.0, [second]) == (
        samples["geogate_decisions_total", (*explicit, ("reason", "TARGETING_MATCH"))],
        samples["geogate_reloads_total", (("result", "ok"),)],
        samples[
            "geogate_request_duration_seconds_count",
            (("code", "200"), ("endpoint", "/ofrep/v1/evaluate/flags/{key}")),
        ],
        [dict(k[1])["revision"] for k in samples if k[0] == "geogate_policy_revision_info"],
    )
    assert 0 == served.stop()
