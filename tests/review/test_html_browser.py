"""The HTML report in a real browser: Debian's headless Chromium draws the expected colours."""

from __future__ import annotations

import datetime as dt
import math
import shutil
import subprocess

import pytest

from geogate._load.loader import load_policies
from geogate._review.audit import audit
from geogate._review.html import COLOURS, FRAME, render_html
from geogate._review.worldmap import world_map
from helpers.paths import POLICIES
from helpers.screenshots import close, edge_distance, inside, map_corners, rgb

AT = dt.date(2025, 6, 1)
CHROMIUM = shutil.which("chromium")
WINDOW = (1100, 9000)  # tall enough for the first map of every feature of the shipped policies
TIMEOUT = 120  # seconds for one headless screenshot
DOT_CLEARANCE = 5.5  # a dot's radius and its stroke, plus a pixel
EDGE_CLEARANCE = 2.0  # borders are drawn in white and antialiased
MIN_SAMPLES = 5

pytestmark = [
    pytest.mark.slow,  # a headless Chromium renders each report
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="needs Debian's chromium for the browser test (apt-get install -y chromium)",
    ),
]
Image = pytest.importorskip("PIL.Image", reason="needs pillow to read the screenshot")


def _shoot(work, policy, at, window=WINDOW):
    """Render *policy*'s report on *at*, screenshot it, and find each map's top left corner."""
    report = audit(policy, at=at)
    page = work / "report.html"
    page.write_text(render_html(report, policy), encoding="utf-8")
    shot = work / "report.png"
    assert CHROMIUM is not None
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
        f"--window-size={window[0]},{window[1]}",
        f"--screenshot={shot}",
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)  # noqa: S603
    assert shot.exists(), f"chromium wrote no screenshot (exit {done.returncode}):\n{done.stderr}"
    image = Image.open(shot).convert("RGB")
    corners = map_corners(image, FRAME)
    assert len(report.features) == len(corners), "the window is too short for every map"
    return image, dict(zip(report.features, corners, strict=True))


@pytest.fixture(scope="module")
def screenshot(tmp_path_factory):
    """Render the shipped policies' report, screenshot it, and find each map's top left corner."""
    return _shoot(tmp_path_factory.mktemp("browser"), load_policies(POLICIES), AT)


def _samples(image, corner, code):
    """
    Return the pixels at and around a country's label point on one map.

    Only points inside the country, clear of its borders and of the dots that
    mark small places (the Isle of Man's lies near Great Britain's label point).
    """
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


@pytest.mark.parametrize(
    ("feature", "code", "effect"),
    [
        ("llama-3.2-vision", "FR", "deny"),
        ("llama-3.2-vision", "DE", "deny"),
        ("llama-3.2-vision", "PL", "deny"),
        ("llama-3.2-vision", "US", "allow"),
        ("llama-3.2-vision", "BR", "allow"),
        ("llama-3.2-vision", "AU", "allow"),
        ("llama-3.2-vision", "GB", "allow"),
        ("llama-3.1-405b", "FR", "allow"),
        ("apple-intelligence-iphone", "CN", "deny"),
        ("apple-intelligence-iphone", "FR", "allow"),
        ("apple-intelligence-mac", "IN", "allow"),
    ],
)
def test_country_is_drawn_in_its_decision_colour(screenshot, feature, code, effect):
    """The pixels at a country's label point are its decision's colour."""
    image, corners = screenshot
    expected = rgb(COLOURS[effect])
    samples = _samples(image, corners[feature], code)
    assert all(close(pixel, expected) for pixel in samples), (feature, code, samples)


def test_ocean_is_neither_colour(screenshot):
    """Mid-Pacific is ocean on every map: the map is where the test thinks it is."""
    image, corners = screenshot
    from geogate._review.worldmap import project  # noqa: PLC0415

    x, y = project(-150, -30)
    for left, top in corners.values():
        pixel = image.getpixel((round(left + x), round(top + y)))
        assert not close(pixel, rgb(COLOURS["allow"]))
        assert not close(pixel, rgb(COLOURS["deny"]))
        assert not close(pixel, rgb(FRAME))


SPLIT = """\
features:
  face:
    default: allow
    rules:
      - {id: face-bipa, deny: [US-IL, US-TX], reason: Illinois and Texas.}
      - {id: face-eu, deny: [EU], reason: Not assessed.}
"""


@pytest.fixture(scope="module")
def split_screenshot(tmp_path_factory):
    """The report of a feature denied in two US states: the US is split (deny)."""
    work = tmp_path_factory.mktemp("split")
    (work / "face.yaml").write_text(SPLIT, encoding="utf-8")
    image, corners = _shoot(work, load_policies(work), AT, window=(1100, 1600))
    return image, corners["face"]


def test_a_split_country_is_cross_hatched_not_solid(split_screenshot):
    """
    The US (split, denied to a request naming only the US) shows its colour under a white
    cross-hatch: both appear inside it, away from its "split" label; no allowed colour. A
    country that is not split (Brazil) is solid.
    """
    image, (left, top) = split_screenshot
    geo = world_map()
    centre = geo.label_point("US")
    assert centre is not None
    polygon = next(p for p in geo.shapes["US"] if inside(centre, p[0]))
    deny, allow, white = rgb(COLOURS["deny"]), rgb(COLOURS["allow"]), (255, 255, 255)
    pixels = []
    for dx in range(-60, 61, 3):
        for dy in range(-30, 31, 3):
            point = (centre[0] + dx, centre[1] + dy)
            near_label = abs(dx) < 40 and abs(dy) < 10
            if near_label or not inside(point, polygon[0]):
                continue
            if edge_distance(point, polygon[0]) <= EDGE_CLEARANCE:
                continue
            pixels.append(image.getpixel((round(left + point[0]), round(top + point[1]))))
    assert len(pixels) > 50
    assert not any(close(pixel, allow, 40) for pixel in pixels)
    assert any(close(pixel, deny) for pixel in pixels)
    assert any(close(pixel, white, 60) for pixel in pixels)
    assert all(close(pixel, allow) for pixel in _samples(image, (left, top), "BR"))
