"""
Reading a headless browser's screenshot of geogate's HTML maps (the audit report, the logs page).

Pixels are compared as RGB tuples; each map is found by its frame colour, and a
country's pixels by its outline rings from `geogate._review.worldmap`.
"""

from __future__ import annotations

import math

from geogate._review.worldmap import MAP_HEIGHT, MAP_WIDTH

__all__ = ["close", "edge_distance", "inside", "map_corners", "rgb"]


def rgb(colour: str) -> tuple[int, int, int]:
    """``#RRGGBB`` as a tuple."""
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def close(actual, expected, tolerance=2) -> bool:
    """Each channel within *tolerance*."""
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def map_corners(image, frame: str) -> list[tuple[int, int]]:
    """Find each map by its background colour *frame*: the top left pixel of each band of rows."""
    wanted = rgb(frame)
    width, height = image.size
    pixels = image.load()
    corners = []
    y = 0
    while y < height:
        row = [x for x in range(width) if pixels[x, y] == wanted]
        if len(row) > MAP_WIDTH // 2:
            corners.append((min(row), y))
            y += MAP_HEIGHT
        else:
            y += 1
    return corners


def inside(point, ring) -> bool:
    """Whether *point* is inside the polygon *ring* (even-odd rule)."""
    x, y = point
    found = False
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            found = not found
    return found


def edge_distance(point, ring) -> float:
    """The distance from *point* to the nearest edge of *ring*."""
    best = math.inf
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        length = (x1 - x0) ** 2 + (y1 - y0) ** 2
        t = 0.0 if length == 0 else ((point[0] - x0) * (x1 - x0) + (point[1] - y0) * (y1 - y0))
        t = min(1.0, max(0.0, t / length if length else 0.0))
        best = min(best, math.dist(point, (x0 + t * (x1 - x0), y0 + t * (y1 - y0))))
    return best
