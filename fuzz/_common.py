"""
What the harnesses share: running under atheris, and the seed corpus folders.

A harness is ``python fuzz/fuzz_NAME.py [CORPUS_DIR ...] [-runs=N]
[-max_total_time=S]``; every libFuzzer flag is passed through to atheris. With
no corpus folder given, new inputs go to a temporary folder and the harness's
own seed folder ``fuzz/corpus/NAME`` is only read.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import atheris

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["HERE", "run"]

HERE = Path(__file__).resolve().parent


def run(name: str, test_one_input: Callable[[bytes], None]) -> None:
    """Fuzz *test_one_input* with atheris; *name* picks the seed corpus folder."""
    argv = list(sys.argv)
    if not any(not arg.startswith("-") for arg in argv[1:]):
        # libFuzzer writes new inputs to the first folder: keep the seeds clean.
        argv.append(tempfile.mkdtemp(prefix=f"geogate-fuzz-{name}-"))
        argv.append(str(HERE / "corpus" / name))
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


def small_database(*, city: bool = True) -> Path:
    """
    Write a small GeoIP database (with tests/helpers/mmdb.py) to a temporary file.

    It places a few IPv4 and IPv6 networks, one record with an odd shape (a
    continent but no country) and one with a subdivision that is not the
    country's, so lookups reach every branch of the record reader.
    """
    sys.path.insert(0, str(HERE.parent / "tests"))
    from helpers.mmdb import city_record, write_city_db  # noqa: PLC0415 (test helpers, on demand)

    records = {
        "81.2.69.0/24": city_record("GB", ("ENG",)),
        "2.16.0.0/13": city_record("DE", ("BY",), registered="FR"),
        "1.0.0.0/24": city_record("AU", ("NSW",)),
        "10.0.0.0/8": city_record(None),
        "2a02:d500::/29": {"continent": {"code": "EU"}},
        "2001:db8::/32": city_record("US", ("CA",)),
        "2001:db9::/32": city_record("FR", ("XYZ",)),
        "::ffff:0:0/96": city_record("JP"),
    }
    if not city:
        records = {
            network: {k: v for k, v in r.items() if k != "subdivisions"}
            for network, r in records.items()
        }
    folder = Path(tempfile.mkdtemp(prefix="geogate-fuzz-mmdb-"))
    kind = "GeoIP2-City" if city else "GeoIP2-Country"
    return (
        write_city_db(folder / "geo.mmdb", records, database_type=kind)
        if city
        else _country(folder, records)
    )


def _country(folder: Path, records: dict[str, dict[str, object]]) -> Path:
    from helpers.mmdb import write_country_db  # noqa: PLC0415 (test helpers, on demand)

    return write_country_db(folder / "geo.mmdb", records)  # type: ignore[arg-type]
