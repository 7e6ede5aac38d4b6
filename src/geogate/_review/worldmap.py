"""
The world map of the HTML report: Natural Earth outlines, projected.

The outlines are Natural Earth's 1:110m Admin 0 countries (through the npm
package world-atlas; see ``data/README.md``), kept as TopoJSON in
``data/world-110m.json`` and keyed by ISO 3166-1 alpha-2 code. They are drawn
in the Natural Earth projection, computed here so that the report and its
browser test place every country at the same pixel.
"""

from __future__ import annotations

import functools
import html
import itertools
import json
import math
from importlib import resources
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "MAP_HEIGHT",
    "MAP_WIDTH",
    "WorldMap",
    "map_defs",
    "project",
    "sphere_path",
    "svg_path",
    "world_map",
]

_RAW_X = math.pi * 0.8707  # the projection's half-width at the equator, in radians
_PAD = 8.0
#: The map's size in SVG units, which are CSS pixels on the page.
MAP_WIDTH = 960


def _raw(lon: float, lat: float) -> tuple[float, float]:
    """Natural Earth projection (Šavrič, Jenny, Patterson, Petrovič and Hurni, 2011)."""
    lam, phi = math.radians(lon), math.radians(lat)
    p2 = phi * phi
    p4 = p2 * p2
    x = lam * (0.8707 - 0.131979 * p2 + p4 * (-0.013791 + p4 * (0.003971 * p2 - 0.001529 * p4)))
    y = phi * (1.007226 + p2 * (0.015085 + p4 * (-0.044475 + 0.028874 * p2 - 0.005916 * p4)))
    return x, y


_RAW_Y = _raw(0.0, 90.0)[1]  # the half-height, at a pole
_SCALE = (MAP_WIDTH - 2 * _PAD) / (2 * _RAW_X)
MAP_HEIGHT = round(2 * _RAW_Y * _SCALE + 2 * _PAD)


def project(lon: float, lat: float) -> tuple[float, float]:
    """Return the map position (SVG units from the top left) of a longitude and latitude."""
    x, y = _raw(lon, lat)
    return _PAD + (x + _RAW_X) * _SCALE, _PAD + (_RAW_Y - y) * _SCALE


Ring = tuple[tuple[float, float], ...]

#: Below this projected area (square SVG units) a country also gets a dot.
_TINY_AREA = 12.0
_HALF_TURN = 180.0


@attrs.frozen
class WorldMap:
    """
    The projected map data, read once from ``data/world-110m.json``.

    Attributes:
        shapes: Country code -> its polygons, each a tuple of projected rings.
        points: Country code -> the projected point marking a place too small
            for the map (from the 1:50m data).
        source: Where the data comes from, for the page's footer.
    """

    shapes: dict[str, tuple[tuple[Ring, ...], ...]]
    points: dict[str, tuple[float, float]]
    source: str

    def label_point(self, code: str) -> tuple[float, float] | None:
        """Return the centroid of a country's largest polygon, or its point, or None."""
        polygons = self.shapes.get(code)
        if not polygons:
            return self.points.get(code)
        return _centroid(max(polygons, key=lambda polygon: _area(polygon[0]))[0])

    def dots(self) -> dict[str, tuple[float, float]]:
        """Return the places marked with a dot: no shape, or a shape too small to see."""
        dots = dict(self.points)
        for code, polygons in self.shapes.items():
            if sum(_area(polygon[0]) for polygon in polygons) < _TINY_AREA:
                point = self.label_point(code)
                if point is not None:
                    dots[code] = point
        return dots


def _area(ring: Ring) -> float:
    pairs = zip(ring, ring[1:] + ring[:1], strict=True)
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in pairs)) / 2


def _centroid(ring: Ring) -> tuple[float, float]:
    twice = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        cross = x0 * y1 - x1 * y0
        twice += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    if twice == 0:
        return sum(x for x, _ in ring) / len(ring), sum(y for _, y in ring) / len(ring)
    return cx / (3 * twice), cy / (3 * twice)


@functools.cache
def world_map() -> WorldMap:
    """Decode the packaged TopoJSON and project it."""
    data = json.loads(
        resources.files("geogate").joinpath("data/world-110m.json").read_text("utf-8")
    )
    (sx, sy), (tx, ty) = data["transform"]["scale"], data["transform"]["translate"]
    arcs: list[list[tuple[float, float]]] = []
    for arc in data["arcs"]:
        qx = qy = 0
        points: list[tuple[float, float]] = []
        for dx, dy in arc:
            qx, qy = qx + dx, qy + dy
            points.append((qx * sx + tx, qy * sy + ty))
        arcs.append(points)

    def ring(indices: list[int]) -> Ring:
        points: list[tuple[float, float]] = []
        for index in indices:
            arc = arcs[index] if index >= 0 else arcs[~index][::-1]
            points.extend(arc[1:] if points else arc)
        return tuple(points)

    shapes = {
        geometry["id"]: tuple(
            tuple(tuple(project(lon, lat) for lon, lat in r) for r in copy)
            for polygon in geometry["arcs"]
            for copy in _across_antimeridian(tuple(ring(indices) for indices in polygon))
        )
        for geometry in data["objects"]["countries"]["geometries"]
    }
    dots = {code: project(lon, lat) for code, (lon, lat) in data["points"].items()}
    return WorldMap(shapes, dots, data["source"])


def _across_antimeridian(polygon: tuple[Ring, ...]) -> tuple[tuple[Ring, ...], ...]:
    """
    Draw a polygon that crosses 180° (Fiji, Chukotka) on both sides of the map.

    Its longitudes are made continuous (179, 181 rather than 179, -179) and a
    copy is shifted by 360°; the map clips both to the globe's outline. A ring
    with an odd number of jumps goes round a pole (Antarctica) and is kept.
    """
    outer = polygon[0]
    jumps = sum(1 for (a, _), (b, _) in itertools.pairwise(outer) if abs(a - b) > _HALF_TURN)
    if jumps == 0 or jumps % 2:
        return (polygon,)
    start = outer[0][0]
    unwrapped = tuple(_unwrap(r, start) for r in polygon)
    shift = -360.0 if max(lon for lon, _ in unwrapped[0]) > _HALF_TURN else 360.0
    moved = tuple(tuple((lon + shift, lat) for lon, lat in r) for r in unwrapped)
    return unwrapped, moved


def _unwrap(ring: Ring, start: float) -> Ring:
    out = []
    previous, offset = start, 0.0
    for lon, lat in ring:
        if lon + offset - previous > _HALF_TURN:
            offset -= 360.0
        elif previous - (lon + offset) > _HALF_TURN:
            offset += 360.0
        previous = lon + offset
        out.append((previous, lat))
    return tuple(out)


def svg_path(polygons: Iterable[Iterable[Ring]]) -> str:
    parts: list[str] = []
    for polygon in polygons:
        for ring in polygon:
            last = None
            points: list[str] = []
            for x, y in ring:
                point = f"{x:.1f} {y:.1f}"
                if point != last:
                    points.append(point)
                    last = point
            parts.append("M" + "L".join(points) + "Z")
    return "".join(parts)


def sphere_path() -> str:
    """Return the outline of the globe as an SVG path."""
    edge = [project(180.0, lat / 2) for lat in range(-180, 181)]
    edge += [project(-180.0, lat / 2) for lat in range(180, -181, -1)]
    return "M" + "L".join(f"{x:.1f} {y:.1f}" for x, y in edge) + "Z"


def map_defs(geo: WorldMap, patterns: str = "") -> str:
    """
    The outlines every map of a page refers to, once, in an invisible ``<svg>``.

    The globe is ``#geo-sphere`` (and the clip path ``#clip-sphere``), each
    country ``#geo-CC``; *patterns* are more definitions (SVG) to hold.
    """
    paths = "".join(
        f'<path id="geo-{html.escape(code, quote=True)}" d="{svg_path(polygons)}"/>\n'
        for code, polygons in sorted(geo.shapes.items())
    )
    return (
        '<svg width="0" height="0" style="position:absolute" aria-hidden="true">'
        f'<defs>\n{patterns}<path id=geo-sphere d="{sphere_path()}"/>\n'
        '<clipPath id="clip-sphere"><use href="#geo-sphere"/></clipPath>\n'
        f"{paths}</defs></svg>\n"
    )
