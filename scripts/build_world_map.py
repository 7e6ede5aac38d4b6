# ruff: noqa: INP001 (a stand-alone script, not part of a package)
"""
Build ``src/geogate/data/world-110m.json`` from the npm package world-atlas.

world-atlas redistributes Natural Earth's Admin 0 countries as TopoJSON with
ISO 3166-1 *numeric* ids. This script keeps the 1:110m ``countries`` object
as TopoJSON (quantised arcs, so shared borders are stored once), replaces each
id by the ISO 3166-1 alpha-2 code geogate audits, and adds a ``points`` member:
a label point (lon, lat) from the 1:50m file for every country the 1:110m map
leaves out (Malta, Singapore, Andorra...), so the report can mark them with a dot.

Shapes without an ISO numeric id are mapped by name: Kosovo to XK (the code
geogate and GeoIP databases use), N. Cyprus to CY and Somaliland to SO (GeoIP
databases report locations there as those countries, so geogate decides them
as those countries); "Indian Ocean Ter." goes to AU and is split into CX and CC below; Siachen
Glacier (no country in ISO 3166-1) is dropped.

Usage (the package is fetched with npm, not installed into the project)::

    cd /tmp && npm pack world-atlas@2 && tar xzf world-atlas-2.0.2.tgz
    python scripts/build_world_map.py /tmp/package
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pycountry

OUTPUT = Path(__file__).resolve().parent.parent / "src/geogate/data/world-110m.json"

BY_NAME = {"Kosovo": "XK", "N. Cyprus": "CY", "Somaliland": "SO", "Indian Ocean Ter.": "AU"}

# Natural Earth draws these places as part of another country, but they have
# ISO 3166-1 codes of their own, GeoIP databases report them by those codes, and
# geogate decides them on their own (French Guiana is GF, not FR): their polygons
# are moved to their own code when a polygon's centre lies in one of the boxes
# (west, south, east, north in degrees).
SPLITS: dict[str, tuple[str, tuple[tuple[float, float, float, float], ...]]] = {
    "GF": ("FR", ((-55.0, 1.5, -51.0, 6.5),)),
    "GP": ("FR", ((-62.0, 15.8, -60.9, 16.6),)),
    "MQ": ("FR", ((-61.3, 14.3, -60.7, 15.0),)),
    "RE": ("FR", ((55.1, -21.5, 56.0, -20.8),)),
    "YT": ("FR", ((44.9, -13.1, 45.4, -12.5),)),
    "SJ": ("NO", ((10.0, 74.0, 35.0, 81.0), (-9.5, 70.5, -7.5, 71.5))),
    "BQ": ("NL", ((-68.5, 11.9, -68.1, 12.4), (-63.3, 17.4, -62.9, 17.7))),
    "CX": ("AU", ((105.4, -10.7, 105.8, -10.3),)),
    "CC": ("AU", ((96.7, -12.3, 97.0, -11.7),)),
}

Ring = list[tuple[float, float]]
_TINY = 1e-12


def alpha2(geometry: dict[str, object]) -> str | None:
    """Return the ISO 3166-1 alpha-2 code of a world-atlas geometry, or None."""
    numeric = geometry.get("id")
    if isinstance(numeric, str):
        country = pycountry.countries.get(numeric=numeric)
        if country is not None:
            return str(country.alpha_2)
    name = geometry.get("properties", {}).get("name")  # type: ignore[attr-defined]
    return BY_NAME.get(name)


def split_code(code: str, outer: Ring) -> str:
    """Return the code a polygon of *code* with outer ring *outer* belongs to."""
    lon, lat = centroid(outer)
    for own, (parent, boxes) in SPLITS.items():
        if parent == code and any(w <= lon <= e and s <= lat <= n for w, s, e, n in boxes):
            return own
    return code


def decode_arcs(topology: dict) -> list[Ring]:
    """Return every arc of a quantised topology as absolute (lon, lat) points."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def polygons(geometry: dict, arcs: list[Ring]) -> list[list[Ring]]:
    """Return a geometry's polygons as lists of rings of (lon, lat)."""

    def ring(indices: list[int]) -> Ring:
        points: Ring = []
        for index in indices:
            arc = arcs[index] if index >= 0 else arcs[~index][::-1]
            points.extend(arc[1:] if points else arc)
        return points

    if geometry["type"] == "Polygon":
        return [[ring(r) for r in geometry["arcs"]]]
    if geometry["type"] == "MultiPolygon":
        return [[ring(r) for r in polygon] for polygon in geometry["arcs"]]
    return []


def area(points: Ring) -> float:
    """Return the unsigned planar area of a ring in square degrees."""
    return abs(
        sum(
            x0 * y1 - x1 * y0
            for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True)
        )
        / 2
    )


def centroid(points: Ring) -> tuple[float, float]:
    """Return the centroid of a ring (its mean vertex for degenerate rings)."""
    twice = 0.0
    cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True):
        cross = x0 * y1 - x1 * y0
        twice += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    if abs(twice) < _TINY:
        return (
            sum(x for x, _ in points) / len(points),
            sum(y for _, y in points) / len(points),
        )
    return cx / (3 * twice), cy / (3 * twice)


def label_points(topology: dict) -> dict[str, tuple[float, float]]:
    """Return code -> centroid of its largest polygon's outer ring."""
    arcs = decode_arcs(topology)
    best: dict[str, tuple[float, Ring]] = {}
    for geometry in topology["objects"]["countries"]["geometries"]:
        parent = alpha2(geometry)
        if parent is None:
            continue
        for polygon in polygons(geometry, arcs):
            outer = polygon[0]
            code = split_code(parent, outer)
            if code not in best or area(outer) > best[code][0]:
                best[code] = (area(outer), outer)
    return {code: centroid(outer) for code, (_, outer) in best.items()}


def main() -> None:
    """Read world-atlas from the directory given, write the package data file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("package", type=Path, help="the unpacked world-atlas npm package")
    args = parser.parse_args()
    meta = json.loads((args.package / "package.json").read_text("utf-8"))
    small = json.loads((args.package / "countries-110m.json").read_text("utf-8"))
    detailed = json.loads((args.package / "countries-50m.json").read_text("utf-8"))

    arcs = decode_arcs(small)
    by_code: dict[str, list[list[list[int]]]] = {}
    for geometry in small["objects"]["countries"]["geometries"]:
        code = alpha2(geometry)
        if code is None:
            sys.stderr.write(f"dropped {geometry.get('properties')}\n")
            continue
        shapes = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        for shape, polygon in zip(shapes, polygons(geometry, arcs), strict=True):
            by_code.setdefault(split_code(code, polygon[0]), []).append(shape)
    geometries = [
        {"type": "MultiPolygon", "id": code, "arcs": shapes}
        for code, shapes in sorted(by_code.items())
    ]
    mapped = set(by_code)
    points = {
        code: [round(lon, 2), round(lat, 2)]
        for code, (lon, lat) in sorted(label_points(detailed).items())
        if code not in mapped
    }
    out = {
        "type": "Topology",
        "source": (
            f"world-atlas {meta['version']} ({meta['license']}), Natural Earth 1:110m and 1:50m "
            "Admin 0 countries, public domain; see data/README.md"
        ),
        "transform": small["transform"],
        "objects": {"countries": {"type": "GeometryCollection", "geometries": geometries}},
        "arcs": small["arcs"],
        "points": points,
    }
    OUTPUT.write_text(json.dumps(out, separators=(",", ":")) + "\n", "utf-8")
    sys.stderr.write(
        f"wrote {OUTPUT.name}: {len(mapped)} countries with shapes, {len(points)} as points\n"
    )


if __name__ == "__main__":
    main()
