"""
A decision by IP against a raw geoip2 country lookup of the same addresses.

In one process run, on one generated GeoIP2-Country database (mmdb-writer,
20,000 IPv4 networks over every ISO country) and the shipped policies:

- raw: ``geoip2.database.Reader(db).country(ip)``, the lookup alone;

The records have the shape of GeoLite2-Country's (continent, country and
registered country, each with a geoname id and names in eight languages),
since decoding them is most of the cost of a lookup.
- geogate: ``gate.evaluate("llama-3.2-vision", ip=ip)``, the lookup plus the
  decision and its explanation.

Two mixes: **cold**, distinct addresses each asked once (geogate's address
cache and its decisions by address are emptied before every round, so every
lookup reaches the database),
and **hot**, 2,000 distinct addresses asked again and again (a realistic
working set). geogate's decisions by country stay memoised in both mixes: a
new address is almost always in a country already seen. Before timing,
geogate's country for every address must equal geoip2's.

Targets: geogate / raw <= 1.0 on the cold mix, and
raw / geogate >= 10 on the hot mix.

The cost of the private copy: `GeoDatabase` never maps the file it is given
(a truncated mapped file kills the process with SIGBUS) but a private copy of
it, which the C reader maps. In the same run, against a bare
``maxminddb.open_database(db, MODE_AUTO)`` on the original file: the time to
open (the copy included), and the cost of ``get_with_prefix_len(ip)`` on the
copy, and of ``GeoDatabase.lookup(ip, cache=False, network=False)``, over the
cold addresses.

Usage::

    python benchmarks/bench_ip.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import geoip2.database
import maxminddb
from _machine import machine_info, markdown_machine
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from geogate import Gate, GeoDatabase
from geogate._world.countries import all_countries

ROOT = Path(__file__).resolve().parent.parent
FEATURE = "llama-3.2-vision"
#: The size of GeoLite2-City, for the time it takes to open (and copy).
BIG = 64_000_000


#: The languages of GeoIP2 and GeoLite2 records: real records carry a name in each.
LANGUAGES = ("de", "en", "es", "fr", "ja", "pt-BR", "ru", "zh-CN")


def _names(name: str) -> dict[str, str]:
    return {language: f"{name} ({language})" for language in LANGUAGES}


def build_database(path: Path, networks: int, rng: random.Random) -> list[str]:
    """Write a Country database of *networks* /24s; return one address in each."""
    writer = MMDBWriter(ip_version=4, database_type="GeoIP2-Country", languages=list(LANGUAGES))
    codes = sorted(all_countries() - {"XK"})
    addresses = []
    seen: set[int] = set()
    while len(addresses) < networks:
        block = rng.randrange(1 << 24) << 8
        first = ipaddress.IPv4Address(block)
        if block in seen or not first.is_global:
            continue
        seen.add(block)
        code = rng.choice(codes)
        registered = rng.choice(codes)
        record = {
            "continent": {"code": "EU", "geoname_id": 6255148, "names": _names("Europe")},
            "country": {"geoname_id": len(seen), "iso_code": code, "names": _names(code)},
            "registered_country": {
                "geoname_id": len(seen) + 1,
                "iso_code": registered,
                "names": _names(registered),
            },
        }
        writer.insert_network(IPSet([f"{first}/24"]), record)
        addresses.append(str(ipaddress.IPv4Address(block + rng.randrange(1, 255))))
    writer.to_db_file(str(path))
    return addresses


def best(times: list[float]) -> float:
    return min(times)


def run(quick: bool) -> dict[str, object]:
    rng = random.Random(20261127)
    networks = 5_000 if quick else 20_000
    rounds = 3 if quick else 9
    with tempfile.TemporaryDirectory(prefix="geogate-bench-ip-") as tmp:
        db = Path(tmp) / "country.mmdb"
        addresses = build_database(db, networks, rng)
        reader = geoip2.database.Reader(str(db))
        gate = Gate.from_path(ROOT / "policies", geoip_db=db)
        assert gate.geoip is not None
        for ip in addresses:
            expected = reader.country(ip).country.iso_code
            got = gate.evaluate(FEATURE, ip=ip).country
            if expected != got:
                msg = f"geogate says {got!r} for {ip}, geoip2 says {expected!r}"
                raise SystemExit(msg)
        hot = rng.sample(addresses, 2_000)
        hot_mix = [rng.choice(hot) for _ in range(len(addresses))]

        country = reader.country
        evaluate = gate.evaluate

        def cache_clear() -> None:
            """Forget every address: the lookup cache and today's decisions by address."""
            gate.geoip.cache_clear()  # type: ignore[union-attr]
            gate._by_ip.clear()  # noqa: SLF001 (a benchmark of the cold path)

        results: dict[str, list[float]] = {
            "raw_cold": [],
            "gate_cold": [],
            "raw_hot": [],
            "gate_hot": [],
        }
        for _ in range(rounds):
            start = time.perf_counter_ns()
            for ip in addresses:
                country(ip)
            results["raw_cold"].append((time.perf_counter_ns() - start) / len(addresses))
            cache_clear()
            start = time.perf_counter_ns()
            for ip in addresses:
                evaluate(FEATURE, ip=ip)
            results["gate_cold"].append((time.perf_counter_ns() - start) / len(addresses))
            start = time.perf_counter_ns()
            for ip in hot_mix:
                country(ip)
            results["raw_hot"].append((time.perf_counter_ns() - start) / len(hot_mix))
            start = time.perf_counter_ns()
            for ip in hot_mix:
                evaluate(FEATURE, ip=ip)
            results["gate_hot"].append((time.perf_counter_ns() - start) / len(hot_mix))
        copy = copy_cost(db, gate.geoip, addresses, rounds)
        reader.close()
        gate.geoip.close()
    figures = {name: best(values) for name, values in results.items()}
    return {
        "machine": machine_info(),
        "networks": networks,
        "rounds": rounds,
        "ns": figures,
        "cold_ratio": figures["gate_cold"] / figures["raw_cold"],
        "hot_speedup": figures["raw_hot"] / figures["gate_hot"],
        "copy": copy,
    }


def copy_cost(db: Path, geoip: GeoDatabase, addresses: list[str], rounds: int) -> dict[str, float]:
    """Time opening and reading the private copy against MODE_AUTO on the original file."""
    bare = maxminddb.open_database(str(db), maxminddb.MODE_AUTO)
    private = geoip._live[0].reader  # noqa: SLF001 (the reader of the private copy)
    lookup = geoip.lookup
    times: dict[str, list[float]] = {
        "open_bare": [],
        "open_private": [],
        "get_bare": [],
        "get_private": [],
        "lookup_uncached": [],
    }
    for _ in range(rounds * 5):
        start = time.perf_counter_ns()
        maxminddb.open_database(str(db), maxminddb.MODE_AUTO).close()
        times["open_bare"].append(time.perf_counter_ns() - start)
        start = time.perf_counter_ns()
        GeoDatabase(db).close()
        times["open_private"].append(time.perf_counter_ns() - start)
    for _ in range(rounds):
        for name, get in (
            ("get_bare", bare.get_with_prefix_len),
            ("get_private", private.get_with_prefix_len),
        ):
            start = time.perf_counter_ns()
            for ip in addresses:
                get(ip)
            times[name].append((time.perf_counter_ns() - start) / len(addresses))
        start = time.perf_counter_ns()
        for ip in addresses:
            lookup(ip, cache=False, network=False)
        times["lookup_uncached"].append((time.perf_counter_ns() - start) / len(addresses))
    bare.close()
    # A database of GeoLite2-City's size: the same one, its data section padded
    # to 64 MB (zeros before the metadata, which readers look for at the end).
    data = db.read_bytes()
    metadata = data.rfind(b"\xab\xcd\xefMaxMind.com")
    big = db.with_name("padded.mmdb")
    big.write_bytes(data[:metadata] + bytes(BIG - len(data)) + data[metadata:])
    times["open_big_bare"], times["open_big_private"] = [], []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        maxminddb.open_database(str(big), maxminddb.MODE_AUTO).close()
        times["open_big_bare"].append(time.perf_counter_ns() - start)
        start = time.perf_counter_ns()
        GeoDatabase(big).close()
        times["open_big_private"].append(time.perf_counter_ns() - start)
    figures = {name: best(values) for name, values in times.items()}
    size = db.stat().st_size
    return {
        **figures,
        "bytes": size,
        "open_ratio": figures["open_private"] / figures["open_bare"],
        "copy_mb_per_s": size / 1e6 / ((figures["open_private"] - figures["open_bare"]) / 1e9),
        "open_big_ratio": figures["open_big_private"] / figures["open_big_bare"],
        "big_bytes": BIG,
        "get_ratio": figures["get_private"] / figures["get_bare"],
        "lookup_ratio": figures["lookup_uncached"] / figures["get_bare"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--quick", action="store_true", help="a smaller database, fewer rounds")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)
    result = run(args.quick)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    ns = result["ns"]
    assert isinstance(ns, dict)
    print(markdown_machine(result["machine"]))
    print()
    print(
        f"{result['networks']:,} networks; best of {result['rounds']} rounds; geogate's country "
        "equals geoip2's for every address."
    )
    print()
    print("| mix | raw `Reader.country(ip)` ns | `gate.evaluate(feature, ip=ip)` ns | ratio |")
    print("|---|---:|---:|---:|")
    print(
        f"| cold (distinct addresses) | {ns['raw_cold']:,.0f} | {ns['gate_cold']:,.0f} | "
        f"{result['cold_ratio']:.2f}x the raw lookup |"
    )
    print(
        f"| hot (2,000 addresses repeated) | {ns['raw_hot']:,.0f} | {ns['gate_hot']:,.0f} | "
        f"{result['hot_speedup']:.1f}x faster |"
    )
    print()
    copy = result["copy"]
    assert isinstance(copy, dict)
    print(
        f"The private copy ({copy['bytes'] / 1e6:.1f} MB database), against "
        "`maxminddb.open_database(db, MODE_AUTO)` on the original file, in the same run:"
    )
    print()
    print("| cost | MODE_AUTO on the file | private copy | ratio |")
    print("|---|---:|---:|---:|")
    print(
        f"| open (copy included), µs | {copy['open_bare'] / 1e3:,.0f} | "
        f"{copy['open_private'] / 1e3:,.0f} | {copy['open_ratio']:.1f}x "
        f"(copy at {copy['copy_mb_per_s']:,.0f} MB/s) |"
    )
    print(
        f"| open a {copy['big_bytes'] / 1e6:.0f} MB database (City-sized), ms | "
        f"{copy['open_big_bare'] / 1e6:,.2f} | {copy['open_big_private'] / 1e6:,.1f} | "
        f"{copy['open_big_ratio']:,.0f}x |"
    )
    print(
        f"| `get_with_prefix_len(ip)`, cold, ns | {copy['get_bare']:,.0f} | "
        f"{copy['get_private']:,.0f} | {copy['get_ratio']:.2f}x |"
    )
    print(
        f"| `GeoDatabase.lookup(ip, cache=False, network=False)`, ns | {copy['get_bare']:,.0f} | "
        f"{copy['lookup_uncached']:,.0f} | {copy['lookup_ratio']:.2f}x |"
    )
    print()
    cold, hot = float(result["cold_ratio"]), float(result["hot_speedup"])  # type: ignore[arg-type]
    print(f"{'PASS' if cold <= 1.0 else 'FAIL'}: cold geogate / raw = {cold:.2f} (target <= 1.0)")
    print(f"{'PASS' if hot >= 10 else 'FAIL'}: hot raw / geogate = {hot:.1f} (target >= 10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
