"""
``geogate serve``: the OFREP server under uvicorn.

One worker (the default) builds its gate with `geogate.Gate.from_path`, so
it can reload: on SIGHUP (a thread reads the files; the last good policies
keep serving when they have errors, and ``/readyz`` reports it) and, with
``--watch``, whenever the files change. With ``--workers N``, uvicorn's
supervisor answers SIGHUP by starting new workers and retiring an old one
only once its replacement is ready; each worker loads the policies during
its startup and fails it when they do not load, so a replacement with bad
files never becomes ready and the old workers keep serving (the error is in
the log). Each worker ignores SIGHUP itself.

SIGTERM and SIGINT stop the server gracefully: requests in flight are
answered, then the gate is closed, which writes out ``--decision-log``
(each of ``--workers N`` writes its own file, its pid before the suffix:
``decisions.<pid>.jsonl``); the process exits 0.

Slow clients are bounded: the request line and headers must arrive within
``--header-timeout`` seconds of the connection opening or of the first byte
of the next request on a kept-alive connection (`header_timeout_protocol`,
uvicorn's h11 protocol with a timer); the body within ``--body-timeout``
(the application answers 408); an idle kept-alive connection is closed after
``--keep-alive-timeout``; past ``--limit-concurrency`` connections or
requests, requests get 503.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from geogate._gate.decisionlog import process_path
from geogate._gate.gate import Gate
from geogate._gate.parquetsink import ParquetSink
from geogate._locate.request import RequestResolver
from geogate.exceptions import (
    DecisionLogError,
    GeoDatabaseError,
    PolicyError,
    RevisionMismatchError,
)

from ._common import (
    ExitCode,
    default_policies,
    exit_code_for,
    expect_revision_option,
    policies_option,
    print_diagnostics,
)

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable, Sequence
    from types import FrameType

    from starlette.applications import Starlette

    from geogate._engine.decision import Decision
    from geogate._policy.diagnostics import Diagnostic
    from geogate._web.metrics import Metrics

__all__ = ["header_timeout_protocol", "serve_command", "worker_app"]

#: How ``geogate serve --workers N`` hands its options to the worker processes.
CONFIG_VARIABLE = "GEOGATE_SERVE_CONFIG"
_INSTALL_HINT = (
    "geogate serve needs the serve extra; install it: pip install 'geogate[serve]' "
    "(from a checkout: pip install -e '.[serve]')"
)
#: What a worker's uvicorn imports as its HTTP protocol (see `__getattr__`).
_WORKER_PROTOCOL = "geogate.cli.serve:WorkerProtocol"
_POSITIVE = click.FloatRange(min=0, min_open=True)


def _log_to_stderr() -> None:
    """Show the ``geogate`` logger's records (reloads, their errors) beside uvicorn's."""
    geogate_logger = logging.getLogger("geogate")
    if not geogate_logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        geogate_logger.addHandler(handler)
        geogate_logger.setLevel(logging.INFO)


def _worker_config() -> dict[str, Any]:
    config: dict[str, Any] = json.loads(os.environ[CONFIG_VARIABLE])
    return config


def worker_app() -> Starlette:
    """
    Build one worker's application from ``$GEOGATE_SERVE_CONFIG`` (``--workers`` > 1).

    Each worker loads the policies itself during its startup, and fails the
    startup when they do not load: uvicorn's supervisor then never puts it in
    service (and keeps the worker it was to replace). Its decision log is its
    own file, named with its pid.
    """
    from geogate.ofrep import create_app  # noqa: PLC0415 (optional extra)

    config = _worker_config()
    _log_to_stderr()
    if hasattr(signal, "SIGHUP"):  # pragma: no branch (POSIX)
        # The supervisor reloads by replacing workers; a SIGHUP sent to the
        # whole process group must not kill this one.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def load() -> Gate:
        log = config.get("decision_log")
        if log is not None:
            # A ParquetSink names its files with the pid; a JSON lines file gets it here.
            log = (
                ParquetSink(log) if config.get("parquet") else process_path(Path(log), os.getpid())
            )
        return Gate.from_path(
            config["policies"],
            geoip_db=config["geoip_db"],
            expect_revision=config.get("expect_revision"),
            watch=config.get("watch") or False,
            decision_log=log,
        )

    return create_app(
        load,
        providers=config["providers"],
        trusted_proxies=config["trust"],
        forwarded=config["forwarded"],
        body_timeout=config.get("body_timeout"),
        load_at_startup=True,
    )


@functools.cache
def header_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    """
    Return uvicorn's h11 protocol with a deadline on the request line and headers.

    A timer starts when the connection opens, and when the first byte of a
    next request arrives on a kept-alive connection (uvicorn's own
    keep-alive timer covers the idle time before it); it stops when the
    whole request head has arrived. Bytes trickled one at a time do not move
    the deadline. When it passes, the connection is closed, after a ``408``
    if part of a request had arrived. Reading the body is the application's
    to bound (``create_app(body_timeout=...)``).
    """
    import h11  # noqa: PLC0415 (optional extra)
    from uvicorn.protocols.http.h11_impl import H11Protocol  # noqa: PLC0415 (optional extra)

    details = f"the request headers did not arrive within {seconds:g} seconds\n".encode()
    timed_out = (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(details), details)
    )

    class HeaderTimeoutProtocol(H11Protocol):
        header_timeout = seconds
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._awaiting_request():
                self._arm()
            super().data_received(data)
            if not self._awaiting_request():
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _awaiting_request(self) -> bool:
            """Whether no request is being handled: the next bytes are a request head."""
            return self.cycle is None or self.cycle.response_complete

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(self.header_timeout, self._expired)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _expired(self) -> None:
            self._header_timer = None
            if self.transport.is_closing() or not self._awaiting_request():
                return  # pragma: no cover (a race with the request's arrival)
            if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
                self.transport.write(timed_out)
            self.transport.close()

    # Importable by name (workers import their protocol, see __getattr__).
    HeaderTimeoutProtocol.__module__ = __name__
    HeaderTimeoutProtocol.__qualname__ = HeaderTimeoutProtocol.__name__
    return HeaderTimeoutProtocol


def __getattr__(name: str) -> object:
    """``WorkerProtocol``: the protocol of a ``--workers`` process, its timeout from the config."""
    if name == "WorkerProtocol":
        return header_timeout_protocol(float(_worker_config()["header_timeout"]))
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def _did_not_load(path: str, diagnostics: Sequence[Diagnostic]) -> NoReturn:
    """Print why the policies did not load, and exit 1 (3 when a file could not be read)."""
    print_diagnostics(diagnostics, err=True)
    errors = sum(d.severity == "error" for d in diagnostics)
    click.echo(f"geogate: the policies at {path!r} did not load ({errors} error(s))", err=True)
    sys.exit(exit_code_for(diagnostics))


def _open_gate(
    path: str,
    *,
    geoip_db: str | None,
    expect_revision: str | None,
    watch: float | None,
    decision_log: str | None,
    parquet: bool = False,
    on_decision: Callable[[Decision], object] | None = None,
) -> Gate:
    """Load the gate `serve` answers from, or print why it cannot and exit."""
    from geogate._gate.reload import mismatch_diagnostic  # noqa: PLC0415 (start-up time)

    try:
        return Gate.from_path(
            path,
            geoip_db=geoip_db,
            expect_revision=expect_revision,
            watch=False if watch is None else watch,
            decision_log=ParquetSink(decision_log) if parquet and decision_log else decision_log,
            on_decision=on_decision,
        )
    except PolicyError as exc:
        _did_not_load(path, exc.diagnostics)
    except RevisionMismatchError as exc:
        _did_not_load(path, (mismatch_diagnostic(path, exc.expected, exc.actual),))
    except (GeoDatabaseError, DecisionLogError, OSError) as exc:
        # DecisionLogError: another process writes the log; OSError: it cannot be opened.
        click.echo(f"geogate: {exc}", err=True)
        sys.exit(ExitCode.ENVIRONMENT)


def _check_parquet_log(decision_log: str | None) -> None:
    """Usage error without --decision-log; exit 3 without DuckDB, or when the folder is a file."""
    if decision_log is None:
        msg = (
            "--decision-log-format parquet needs --decision-log FOLDER, the folder the "
            "Parquet files go to"
        )
        raise click.UsageError(msg)
    if importlib.util.find_spec("duckdb") is None:
        click.echo(
            "geogate: --decision-log-format parquet needs DuckDB: pip install 'geogate[logs]' "
            "(from a checkout: pip install -e '.[logs]')",
            err=True,
        )
        sys.exit(ExitCode.ENVIRONMENT)
    if Path(decision_log).exists() and not Path(decision_log).is_dir():
        click.echo(
            f"geogate: cannot write the decision log {decision_log!r}: it is a file, and with "
            "--decision-log-format parquet it names a folder (created if missing); choose a "
            "folder or drop --decision-log-format",
            err=True,
        )
        sys.exit(ExitCode.ENVIRONMENT)


def _check_log_folder(decision_log: str | None) -> None:
    """Exit 3 when the decision log's folder does not exist or cannot be written."""
    if decision_log is None:
        return
    folder = Path(decision_log).resolve().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        click.echo(
            f"geogate: cannot write the decision log {decision_log!r}: its folder {str(folder)!r} "
            "does not exist or is not writable; create it or choose another --decision-log",
            err=True,
        )
        sys.exit(ExitCode.ENVIRONMENT)


def _metrics() -> Metrics:
    """Return a new `Metrics`, or exit 3 with the install line when prometheus_client is missing."""
    try:
        from geogate._web.metrics import Metrics  # noqa: PLC0415 (optional extra)
    except ImportError:
        click.echo(f"geogate: --metrics: {_INSTALL_HINT}", err=True)
        sys.exit(ExitCode.ENVIRONMENT)
    return Metrics()


def _stopped(signum: int, frame: FrameType | None) -> NoReturn:  # noqa: ARG001 (a signal handler)
    """
    End the process with 0 after uvicorn's graceful shutdown on SIGTERM.

    uvicorn catches SIGTERM, shuts down, then raises the signal again for
    the handler it found: with the default one the process would die of it.
    """
    sys.exit(ExitCode.OK)


def _serve_one(
    path: str, gate_options: dict[str, Any], app_options: dict[str, Any], served: dict[str, Any]
) -> None:
    """
    Serve from this process: a gate that reloads on SIGHUP (and with --watch), closed at the end.

    SIGHUP is ignored until the application listens for it; SIGTERM ends the
    process with 0 once uvicorn has shut down (see `_stopped`). Both are
    restored afterwards, for a caller that goes on (the tests).
    """
    import uvicorn  # noqa: PLC0415 (optional extra, checked by serve)

    from geogate.ofrep import create_app  # noqa: PLC0415 (optional extra, checked by serve)

    hangup = getattr(signal, "SIGHUP", None)
    previous = {signal.SIGTERM: signal.getsignal(signal.SIGTERM)}
    if hangup is not None:  # pragma: no branch (POSIX)
        previous[hangup] = signal.getsignal(hangup)
        signal.signal(hangup, signal.SIG_IGN)
    gate = None
    try:
        gate = _open_gate(path, **gate_options)
        app = create_app(gate, **app_options, reload_on_sighup=True, close_gate=True)
        signal.signal(signal.SIGTERM, _stopped)
        uvicorn.run(app, **served)
    finally:
        if gate is not None:
            gate.close()  # closing twice is harmless: the application's shutdown closed it
        for number, handler in previous.items():
            signal.signal(number, handler)


@click.command("serve")
@policies_option
@expect_revision_option
@click.option(
    "--geoip-db", metavar="PATH", help="GeoIP2/DB-IP database [default: $GEOGATE_GEOIP_DB]."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8016, show_default=True, help="Port."
)
@click.option(
    "--provider",
    "providers",
    multiple=True,
    metavar="NAME",
    help="A CDN whose country headers to honour (repeatable); needs --trust.",
)
@click.option(
    "--trust",
    multiple=True,
    metavar="CIDR",
    help="A trusted proxy or CDN network (repeatable); headers count only from these.",
)
@click.option(
    "--forwarded",
    type=click.Choice(["x-forwarded-for", "forwarded", "none"]),
    default="x-forwarded-for",
    show_default=True,
    help="The forwarding header the trusted proxies append to.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Processes."
)
@click.option(
    "--watch",
    type=_POSITIVE,
    is_flag=False,
    flag_value=1.0,
    default=None,
    metavar="[SECONDS]",
    help=(
        "Reload when the policy files change, polling every SECONDS (1 when none is given); "
        "files with errors leave the last good policies serving."
    ),
)
@click.option(
    "--decision-log",
    metavar="PATH",
    help=(
        "Append every decision to this file as a JSON line; with --workers, each worker "
        "writes PATH with its pid before the suffix (decisions.<pid>.jsonl)."
    ),
)
@click.option(
    "--decision-log-format",
    type=click.Choice(["jsonl", "parquet"]),
    default="jsonl",
    show_default=True,
    help=(
        "parquet: --decision-log is a folder of Parquet files, each process's own, rotated "
        "every million lines or hour (needs the logs extra)."
    ),
)
@click.option(
    "--header-timeout",
    type=_POSITIVE,
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Close a connection whose request line and headers take longer (408).",
)
@click.option(
    "--body-timeout",
    type=_POSITIVE,
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Answer 408 to a request whose body takes longer to arrive.",
)
@click.option(
    "--keep-alive-timeout",
    type=_POSITIVE,
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="Close a kept-alive connection idle for longer.",
)
@click.option(
    "--metrics",
    is_flag=True,
    help=(
        "Serve Prometheus metrics at GET /metrics: decisions, reloads, the revision, GeoIP "
        "look-ups, request durations (one worker only)."
    ),
)
@click.option(
    "--limit-concurrency",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    metavar="N",
    help="Answer 503 past N open connections or requests in progress (per worker).",
)
@click.option(
    "--worker-startup-timeout",
    type=click.IntRange(min=1),
    default=60,
    show_default=True,
    metavar="SECONDS",
    help=(
        "With --workers: how long a new worker may take to load the policies before "
        "the supervisor gives up on it (on start-up and on SIGHUP)."
    ),
)
def serve_command(
    policies: str | None,
    expect_revision: str | None,
    geoip_db: str | None,
    host: str,
    port: int,
    providers: tuple[str, ...],
    trust: tuple[str, ...],
    forwarded: str,
    workers: int,
    watch: float | None,
    decision_log: str | None,
    decision_log_format: str,
    header_timeout: float,
    body_timeout: float,
    keep_alive_timeout: float,
    limit_concurrency: int,
    worker_startup_timeout: int,
    metrics: bool,
) -> None:
    """
    Serve the OpenFeature Remote Evaluation Protocol (OFREP) for the policies.

    POST /ofrep/v1/evaluate/flags/{feature} and /ofrep/v1/evaluate/flags with
    {"context": {"country": "FR"}}; without a location in the context, the
    request's own is used (--provider headers from --trust peers, else GeoIP).
    GET /healthz, and /readyz with the revision served and the last reload;
    with --metrics, GET /metrics in Prometheus' text format.

    SIGHUP reloads the policies (files with errors leave the last good ones
    serving); with --workers, by replacing the workers one by one. SIGTERM
    and SIGINT stop gracefully, writing out the decision log, and exit 0.

    Exit 1 when the policies have errors, 2 for a usage error, 3 for an
    unusable database or log folder, a port in use or a missing serve extra.
    """
    try:
        import uvicorn  # noqa: PLC0415 (optional extra)

        import geogate.ofrep  # noqa: F401, PLC0415 (optional extra: Starlette)
    except ImportError:
        click.echo(f"geogate: {_INSTALL_HINT}", err=True)
        sys.exit(ExitCode.ENVIRONMENT)
    try:
        RequestResolver(providers=providers, trusted_proxies=trust, forwarded=forwarded)  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if providers and not trust:
        msg = (
            f"--provider {providers[0]} is ignored without --trust: CDN headers are honoured "
            "only from trusted proxies, so anyone could otherwise claim a country. Add "
            "--trust CIDR for each network of the proxies or CDN edges that connect to "
            "this server (e.g. --trust 173.245.48.0/20 for a Cloudflare range), or drop "
            "--provider."
        )
        raise click.UsageError(msg)
    if metrics and workers > 1:
        msg = (
            "--metrics works with one worker: each of --workers N would count its own "
            "requests and a scrape would reach one of them at random. Run one worker per "
            "process (a container or a systemd unit each, scraped one by one), or drop --metrics."
        )
        raise click.UsageError(msg)
    gauges = _metrics() if metrics else None
    _check_log_folder(decision_log)
    parquet = decision_log_format == "parquet"
    if parquet:
        _check_parquet_log(decision_log)
    _log_to_stderr()
    path = policies or default_policies()
    served: dict[str, Any] = {
        "host": host,
        "port": port,
        "ws": "none",
        "server_header": False,
        "timeout_keep_alive": keep_alive_timeout,
        "limit_concurrency": limit_concurrency,
    }
    if workers == 1:
        _serve_one(
            path,
            {
                "geoip_db": geoip_db,
                "expect_revision": expect_revision,
                "watch": watch,
                "decision_log": decision_log,
                "parquet": parquet,
                "on_decision": None if gauges is None else gauges.decided,
            },
            {
                "providers": providers,
                "trusted_proxies": trust,
                "forwarded": forwarded,
                "body_timeout": body_timeout,
                "metrics": gauges,
            },
            {**served, "http": header_timeout_protocol(header_timeout)},
        )
        return
    # Workers are separate processes: they rebuild the application from the
    # environment, from the same files the policies are checked in now.
    _open_gate(
        path, geoip_db=geoip_db, expect_revision=expect_revision, watch=None, decision_log=None
    ).close()
    database = geoip_db or os.environ.get("GEOGATE_GEOIP_DB") or None
    config: dict[str, object] = {
        # Absolute, not resolved: a symlink to the current release (`current -> v2`)
        # must be followed again by each worker a SIGHUP starts, not pinned.
        "policies": os.path.abspath(path),  # noqa: PTH100 (keeps symlinks)
        "geoip_db": None if database is None else os.path.abspath(database),  # noqa: PTH100
        "providers": list(providers),
        "trust": list(trust),
        "forwarded": forwarded,
        "watch": watch,
        "decision_log": None if decision_log is None else os.path.abspath(decision_log),  # noqa: PTH100
        "parquet": parquet,
        "header_timeout": header_timeout,
        "body_timeout": body_timeout,
    }
    if expect_revision is not None:
        # Each worker loads the files again: it too refuses any other content.
        config["expect_revision"] = expect_revision
    os.environ[CONFIG_VARIABLE] = json.dumps(config)
    uvicorn.run(
        "geogate.cli.serve:worker_app",
        factory=True,
        workers=workers,
        http=_WORKER_PROTOCOL,
        timeout_worker_healthcheck=worker_startup_timeout,
        **served,
    )
