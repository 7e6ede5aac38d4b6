"""
A bounded load test of the OFREP server against a bare endpoint on the same stack.

One uvicorn process (a subprocess, one worker, access log off) serves the
OFREP application for the shipped policies, with one extra route: ``POST
/bare``, a trivial Starlette endpoint that returns a constant JSON body
without reading the request. On loopback, C concurrent keep-alive
connections (a minimal HTTP/1.1 client on asyncio streams, so that the
client costs little next to the server) send a fixed number of requests to
each of, in the same run:

- bare: ``POST /bare`` with the same body as the evaluation;
- evaluate: ``POST /ofrep/v1/evaluate/flags/llama-3.2-vision`` with
  ``{"context": {"country": ...}}``, the country taken in turn from FR, GB,
  US, DE, XX (an unknown location) and GER (an invalid one);
- bulk: ``POST /ofrep/v1/evaluate/flags`` with the same contexts (every
  feature in one answer).

Every answer must be a 200 whose body is exactly the one the server gave for
that request before the timing (no request may fail); requests/s and the
p50/p99 latency of each are reported.

Usage::

    python benchmarks/bench_ofrep.py [--quick] [--json] [--requests N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from _machine import machine_info, markdown_machine

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
FEATURE = "llama-3.2-vision"
COUNTRIES = ("FR", "GB", "US", "DE", "XX", "GER")
#: Seconds: one request, the server's start, and a whole run.
REQUEST_TIMEOUT = 10.0
START_TIMEOUT = 30.0
RUN_TIMEOUT = 300.0
#: Requests per endpoint before timing, to warm up the server.
WARM_UP = 300


def serve(port: int) -> None:
    """Run the server under test (in the subprocess)."""
    import uvicorn  # noqa: PLC0415
    from starlette.responses import JSONResponse  # noqa: PLC0415
    from starlette.routing import Route  # noqa: PLC0415

    from geogate import Gate  # noqa: PLC0415
    from geogate.ofrep import create_app  # noqa: PLC0415

    async def bare(_request: object) -> JSONResponse:
        return JSONResponse({"key": "bare", "value": True})

    app = create_app(Gate.from_path(ROOT / "policies"))
    app.router.routes.append(Route("/bare", bare, methods=["POST"]))
    uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False, ws="none")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def start_server() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(  # noqa: S603 (our own script, with our own interpreter)
        [sys.executable, __file__, "--serve", str(port)], env=env
    )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"the server exited with {process.returncode} before it was ready"
            raise RuntimeError(msg)
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return process, port
        except OSError:
            time.sleep(0.05)
    stop_server(process)
    msg = f"the server was not ready within {START_TIMEOUT:.0f} s"
    raise RuntimeError(msg)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def request_bytes(port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    """Send one request on a keep-alive connection; return the status and the body."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return status, body


async def load(
    port: int, requests: list[tuple[bytes, bytes]], total: int, concurrency: int
) -> tuple[list[float], int, float]:
    """Send *total* requests (taken in turn) over *concurrency* connections."""
    latencies: list[float] = []
    failures = 0
    next_index = 0

    async def connection() -> None:
        nonlocal failures, next_index
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while next_index < total:
                request, expected = requests[next_index % len(requests)]
                next_index += 1
                started = time.perf_counter()
                try:
                    status, body = await asyncio.wait_for(
                        exchange(reader, writer, request), REQUEST_TIMEOUT
                    )
                except (OSError, asyncio.IncompleteReadError, TimeoutError):
                    failures += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(HOST, port)
                    continue
                latencies.append(time.perf_counter() - started)
                if status != 200 or body != expected:
                    failures += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(connection() for _ in range(concurrency))), RUN_TIMEOUT)
    return latencies, failures, time.perf_counter() - started


async def expected_bodies(port: int, requests: list[bytes]) -> list[tuple[bytes, bytes]]:
    """The body the server gives for each request, asked once before the timing."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        pairs = []
        for request in requests:
            status, body = await exchange(reader, writer, request)
            if status != 200:
                msg = f"the server answered {status} before the timing: {body[:200]!r}"
                raise RuntimeError(msg)
            pairs.append((request, body))
        return pairs
    finally:
        writer.close()


def percentile(ordered: list[float], fraction: float) -> float:
    index = min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))
    return ordered[index]


async def measure(port: int, total: int, concurrency: int) -> dict[str, dict[str, float]]:
    bodies = [json.dumps({"context": {"country": c}}).encode() for c in COUNTRIES]
    endpoints = {
        "bare": [request_bytes(port, "/bare", body) for body in bodies],
        "evaluate": [
            request_bytes(port, f"/ofrep/v1/evaluate/flags/{FEATURE}", body) for body in bodies
        ],
        "bulk": [request_bytes(port, "/ofrep/v1/evaluate/flags", body) for body in bodies],
    }
    results = {}
    for name, requests in endpoints.items():
        pairs = await expected_bodies(port, requests)
        await load(port, pairs, min(WARM_UP, total), concurrency)
        latencies, failures, seconds = await load(port, pairs, total, concurrency)
        ordered = sorted(latencies)
        results[name] = {
            "requests": total,
            "failures": failures,
            "seconds": seconds,
            "requests_per_second": total / seconds,
            "p50_ms": percentile(ordered, 0.50) * 1000,
            "p99_ms": percentile(ordered, 0.99) * 1000,
            "mean_ms": statistics.fmean(ordered) * 1000,
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--quick", action="store_true", help="500 requests per endpoint (CI)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--requests", type=int, default=None, help="requests per endpoint")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent connections")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.serve is not None:
        serve(options.serve)
        return 0
    total = options.requests or (500 if options.quick else 5000)
    process, port = start_server()
    try:
        results = asyncio.run(measure(port, total, options.concurrency))
    finally:
        stop_server(process)
    result = {
        "machine": machine_info(),
        "concurrency": options.concurrency,
        "endpoints": results,
    }
    failures = sum(int(r["failures"]) for r in results.values())
    if options.json:
        print(json.dumps(result, indent=2))
    else:
        print(markdown_machine(result["machine"]))
        print()
        print(
            f"uvicorn (1 worker, h11, access log off) on loopback; {total:,} requests per "
            f"endpoint over {options.concurrency} keep-alive connections."
        )
        print()
        print("| endpoint | requests/s | p50 ms | p99 ms | failed |")
        print("|---|---:|---:|---:|---:|")
        labels = {
            "bare": "bare Starlette route (constant JSON)",
            "evaluate": f"`POST /ofrep/v1/evaluate/flags/{FEATURE}`",
            "bulk": "`POST /ofrep/v1/evaluate/flags` (5 flags)",
        }
        for name, row in results.items():
            print(
                f"| {labels[name]} | {row['requests_per_second']:,.0f} | {row['p50_ms']:.2f} | "
                f"{row['p99_ms']:.2f} | {int(row['failures'])} |"
            )
        print()
        bare, evaluate = results["bare"], results["evaluate"]
        ratio = evaluate["requests_per_second"] / bare["requests_per_second"]
        print(
            f"evaluate / bare: {ratio:.2f}x the throughput, "
            f"+{evaluate['p50_ms'] - bare['p50_ms']:.2f} ms at p50"
        )
    print(f"{'PASS' if failures == 0 else 'FAIL'}: {failures} failed request(s) (target 0)")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
