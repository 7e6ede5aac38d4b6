"""The HTML audit report: structure, colours, escaping, and the places too small to draw."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest

from geogate._load.loader import load_policies
from geogate._review.audit import audit
from geogate._review.html import COLOURS, render_html
from geogate._review.worldmap import MAP_WIDTH, project, world_map
from geogate._world.countries import all_countries
from helpers.paths import POLICIES

AT = dt.date(2025, 6, 1)


class _Elements(HTMLParser):
    """Collect every element with a data-country, with the feature section it is in."""

    def __init__(self) -> None:
        super().__init__()
        self.feature: str | None = None
        self.found: list[tuple[str | None, str, dict[str, str | None]]] = []
        self.links: list[str | None] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.add(tag)
        if tag == "section" and "data-feature" in attributes:
            self.feature = attributes["data-feature"]
        if "data-country" in attributes:
            self.found.append((self.feature, tag, attributes))
        if tag == "a":
            self.links.append(attributes.get("href"))


def _parse(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    return parser


@pytest.fixture(scope="module")
def shipped():
    policy = load_policies(POLICIES)
    report = audit(policy, at=AT)
    return policy, report, render_html(report, policy)


def test_every_country_of_every_feature_is_on_the_page(shipped):
    """Each feature's section shows each audited country, as a shape, a dot or a list entry."""
    _, report, page = shipped
    elements = _parse(page).found
    for fid, fa in report.features.items():
        shown = {attrs["data-country"] for feature, _, attrs in elements if feature == fid}
        assert set(fa.decisions) == shown
    assert len(all_countries()) == len(next(iter(report.features.values())).decisions)


def test_colours_match_the_decisions(shipped):
    """Every drawn country and every listed place has its decision's effect and colour."""
    _, report, page = shipped
    checked = 0
    for fid, tag, attrs in _parse(page).found:
        assert fid is not None
        decision = report.features[fid].decisions[attrs["data-country"]]
        assert str(decision.effect) == attrs["data-effect"], (fid, attrs)
        if tag in {"use", "circle"}:
            effect = str(decision.effect)
            split = report.features[fid].cells[attrs["data-country"]].partial
            assert split == (attrs.get("data-split") == "true"), (fid, attrs)
            expected = f"url(#split-{effect})" if split else COLOURS[effect]
            assert expected == attrs["fill"], (fid, attrs)
            checked += 1
    assert checked > len(report.features) * 200


def test_known_decisions_on_the_vision_map(shipped):
    """On 2025-06-01 the EU is denied Llama 3.2 Vision; the UK, US and Brazil are not."""
    _, _, page = shipped
    shapes = {
        attrs["data-country"]: attrs["data-effect"]
        for fid, tag, attrs in _parse(page).found
        if fid == "llama-3.2-vision" and tag == "use"
    }
    expected = {"FR": "deny", "DE": "deny", "GF": "deny", "GB": "allow", "US": "allow"}
    assert expected == {code: shapes[code] for code in expected}


def test_small_places_are_listed_with_their_decisions(shipped):
    """Malta (EU) and Singapore are too small to draw: dotted and listed; Gibraltar is listed."""
    _, _, page = shipped
    vision = [(tag, attrs) for fid, tag, attrs in _parse(page).found if fid == "llama-3.2-vision"]
    listed = {attrs["data-country"]: attrs["data-effect"] for tag, attrs in vision if tag == "li"}
    dots = {attrs["data-country"] for tag, attrs in vision if tag == "circle"}
    assert {"MT": "deny", "SG": "allow", "GI": "allow", "AD": "allow"} == {
        code: listed[code] for code in ("MT", "SG", "GI", "AD")
    }
    assert {"MT", "SG", "AD"} <= dots
    assert "GI" not in dots  # no geometry and no point in the data: listed only
    section = page.split('data-feature="llama-3.2-vision"')[1].split("</section>")[0]
    assert "Places too small for the map" in section


def test_page_is_self_contained(shipped):
    """No scripts, and the only addresses are the rules' http(s) sources."""
    policy, _, page = shipped
    parsed = _parse(page)
    assert "script" not in parsed.tags
    sources = {rule.source for f in policy.features.values() for rule in f.rules}
    assert set(parsed.links) <= sources
    assert parsed.links
    assert re.findall(r'(?:href|src)="(?!#)([^"]*)"', page) == parsed.links
    assert set(re.findall(r"url\(([^)]*)\)", page)) <= {
        "#hatch-none",
        "#clip-sphere",
        "#split-allow",
        "#split-deny",
    }
    assert "@import" not in page
    assert "http://www.w3.org" not in page


def test_revision_date_rules_and_owner_are_shown(shipped):
    """The page names the revision, the date, each rule with its reason, and each owner."""
    policy, report, page = shipped
    assert report.revision in page
    assert "2025-06-01" in page
    for feature in policy.features.values():
        assert f">{feature.owner}<" in page
        for rule in feature.rules:
            assert f'data-rule="{rule.id}"' in page


MALICIOUS = """\
features:
  evil:
    description: "<img src=x onerror=alert(1)> & co"
    owner: "<b>owner</b>"
    default: allow
    rules:
      - id: bad-source
        deny: [FR]
        reason: "</td><script>alert('reason')</script>"
        source: "javascript:alert(document.cookie)"
      - id: quoted-source
        deny: [DE]
        reason: a reason
        source: 'https://example.com/a?b=1&c="><script>alert(2)</script>'
      - id: citation
        deny: [IT]
        reason: a reason
        source: "Regulation (EU) 2024/1689, art. 5 <i>"
      - id: tab-scheme
        deny: [ES]
        reason: a reason
        source: "java\\tscript:alert(3)"
"""


def test_policy_text_is_escaped_and_only_http_links_are_linked(tmp_path):
    """Strings from a policy file cannot inject markup; javascript: sources stay text."""
    (tmp_path / "evil.yaml").write_text(MALICIOUS, encoding="utf-8")
    policy = load_policies(tmp_path)
    page = render_html(audit(policy, at=AT), policy)
    parsed = _parse(page)
    assert "script" not in parsed.tags
    assert "img" not in parsed.tags
    assert "i" not in parsed.tags
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;reason&#x27;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; co" in page
    assert "&lt;b&gt;owner&lt;/b&gt;" in page
    assert ['https://example.com/a?b=1&c="><script>alert(2)</script>'] == parsed.links
    assert "javascript:alert(document.cookie)" in page  # shown as text
    assert 'href="javascript' not in page
    assert "Regulation (EU) 2024/1689, art. 5 &lt;i&gt;" in page


def test_projection_spans_the_map():
    """The projection puts the date line at the map's edges and the equator on its middle row."""
    west, middle = project(-180, 0)
    east, _ = project(180, 0)
    assert pytest.approx(8.0) == west
    assert pytest.approx(MAP_WIDTH - 8.0) == east
    assert project(0, 90)[1] < middle < project(0, -90)[1]


def test_map_data_covers_the_audited_countries():
    """Every shape and point is an audited code; only five audited places have neither."""
    geo = world_map()
    drawn = set(geo.shapes) | set(geo.points)
    assert drawn <= all_countries()
    assert {"BV", "GI", "TK", "TV", "UM"} == all_countries() - drawn
    assert {"XK", "GF", "SJ"} <= set(geo.shapes)  # Kosovo; parts split off France and Norway
