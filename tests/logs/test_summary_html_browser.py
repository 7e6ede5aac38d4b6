"""The logs summary page in a real browser: Debian's headless Chromium draws charts and maps."""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import subprocess

import pytest

from geogate import Gate
from geogate._logs.read import find_logs
from geogate._logs.render_html import COLOURS, FRAME, SHARES, render_html
from geogate._logs.summary import summarise
from geogate._review.worldmap import MAP_HEIGHT, project, world_map
from helpers.decisionlogs import Request, log_lines, write_jsonl
from helpers.paths import POLICIES
from helpers.screenshots import close, edge_distance, inside, map_corners, rgb

CHROMIUM = shutil.which("chromium")
#: Under CI the browser is installed: its absence is a failure there, not a skip.
IN_CI = os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}
WINDOW = (1100, 3600)  # tall enough for both features' maps
TIMEOUT = 120  # seconds for one headless screenshot
EDGE_CLEARANCE = 2.0  # borders are drawn in white and antialiased
DOT_CLEARANCE = 5.5  # a dot's radius and its stroke, plus a pixel
MIN_SAMPLES = 5
DAYS = [dt.date(2024, 9, 20) + dt.timedelta(days=n) for n in range(10)]

pytestmark = [
    pytest.mark.slow,  # a headless Chromium renders the page
    pytest.mark.skipif(
        CHROMIUM is None and not IN_CI,
        reason="needs Debian's chromium for the browser test (apt-get install -y chromium)",
    ),
]
if IN_CI:
    from PIL import Image
else:
    Image = pytest.importorskip("PIL.Image", reason="needs pillow to read the screenshot")


@pytest.fixture(scope="module")
def screenshot(tmp_path_factory):
    """Ten days of two features' decisions, summarised, drawn and photographed."""
    if CHROMIUM is None:
        pytest.fail("CI must install Debian's chromium for the browser test")
    work = tmp_path_factory.mktemp("browser")
    gate = Gate.from_path(POLICIES)
    calls = [
        Request(feature, {"country": country}, day)
        for day in DAYS
        for feature, country in [
            ("llama-3.2-vision", "US"),
            ("llama-3.2-vision", "US"),
            ("llama-3.2-vision", "FR"),
            ("llama-3.2-vision", "BR"),
            ("llama-3.2-vision", "XX"),
            ("llama-3.1-405b", "FR"),
            ("llama-3.1-405b", "AU"),
        ]
    ]
    log = write_jsonl(work / "decisions.jsonl", [line for line, _ in log_lines(gate, calls)])
    summary = summarise(find_logs([str(log)]))
    page = work / "summary.html"
    page.write_text(render_html(summary), encoding="utf-8")
    shot = work / "summary.png"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={work / 'profile'}",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--force-color-profile=srgb",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--screenshot={shot}",
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)  # noqa: S603
    assert shot.exists(), f"chromium wrote no screenshot (exit {done.returncode}):\n{done.stderr}"
    image = Image.open(shot).convert("RGB")
    features = [f.feature for f in summary.features]
    return image, dict(zip(features, map_corners(image, FRAME), strict=True))


def _samples(image, corner, code):
    """The pixels around a country's label point, inside it and clear of borders and dots."""
    geo = world_map()
    centre = geo.label_point(code)
    assert centre is not None
    polygon = next(p for p in geo.shapes[code] if inside(centre, p[0]))
    dots = geo.dots().values()
    left, top = corner
    samples = []
    for dx in range(-6, 7, 2):
        for dy in range(-6, 7, 2):
            point = (centre[0] + dx, centre[1] + dy)
            if (
                inside(point, polygon[0])
                and edge_distance(point, polygon[0]) > EDGE_CLEARANCE
                and all(math.dist(point, dot) > DOT_CLEARANCE for dot in dots)
            ):
                samples.append(image.getpixel((round(left + point[0]), round(top + point[1]))))
    assert len(samples) >= MIN_SAMPLES, f"{code}: too few clear pixels near its label point"
    return samples


def test_the_page_draws_a_map_per_feature(screenshot):
    """Both features' maps are on the page, whole, one under the other."""
    image, corners = screenshot

    assert ["llama-3.1-405b", "llama-3.2-vision"] == sorted(corners)
    tops = sorted(top for _, top in corners.values())
    assert tops[1] - tops[0] > MAP_HEIGHT
    assert tops[1] + MAP_HEIGHT < image.size[1]


@pytest.mark.parametrize(
    ("feature", "code", "share"),
    [
        ("llama-3.2-vision", "US", "all"),
        ("llama-3.2-vision", "BR", "all"),
        ("llama-3.2-vision", "FR", "most"),  # allowed 5 days of 10, until the launch (09-25)
        ("llama-3.1-405b", "FR", "all"),
        ("llama-3.1-405b", "AU", "all"),
    ],
)
def test_a_country_is_drawn_in_its_share_colour(screenshot, feature, code, share):
    """The pixels at a country's label point are its allowed share's colour."""
    image, corners = screenshot
    expected = rgb(SHARES[share][0])
    samples = _samples(image, corners[feature], code)
    assert all(close(pixel, expected) for pixel in samples), (feature, code, samples)


def test_a_country_without_decisions_is_grey_and_the_ocean_is_not(screenshot):
    """China had no decisions: no-data grey. Mid-Pacific is ocean: the map is where we think."""
    image, corners = screenshot
    left, top = corners["llama-3.1-405b"]
    grey = rgb(COLOURS["absent"])

    assert all(close(pixel, grey) for pixel in _samples(image, (left, top), "CN"))
    x, y = project(-150, -30)
    ocean = image.getpixel((round(left + x), round(top + y)))
    assert not close(ocean, grey)
    assert not close(ocean, rgb(FRAME))


def test_the_chart_draws_allowed_and_denied_bars(screenshot):
    """
    Above each map, its feature's bars: llama-3.1-405b allowed every day (blue only, besides the
    legend's swatch), llama-3.2-vision denied in part (both colours).
    """
    image, corners = screenshot
    first, second = corners["llama-3.1-405b"][1], corners["llama-3.2-vision"][1]

    def pixels(top, bottom, colour):
        """How many pixels of a band of rows (every other one, each way) are *colour*."""
        wanted = rgb(colour)
        return sum(
            image.getpixel((x, y)) == wanted
            for y in range(top, bottom, 2)
            for x in range(0, image.size[0], 2)
        )

    legend = 14 * 14 // 4  # a swatch, sampled
    assert pixels(0, first, COLOURS["allowed"]) > 20 * legend
    assert pixels(0, first, COLOURS["denied"]) <= legend
    assert pixels(first + MAP_HEIGHT, second, COLOURS["allowed"]) > 20 * legend
    assert pixels(first + MAP_HEIGHT, second, COLOURS["denied"]) > 5 * legend


def test_the_page_is_not_blank(screenshot):
    """Text, tables and charts: many colours, mostly white page."""
    image, _ = screenshot
    colours = image.getcolors(maxcolors=1 << 20)

    assert colours is not None
    assert len(colours) > 50
    white = next((n for n, c in colours if c == (255, 255, 255)), 0)
    assert white < image.size[0] * image.size[1]
