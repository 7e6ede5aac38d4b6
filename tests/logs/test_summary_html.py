"""``geogate logs summary --format html``: the page's figures, its safety and its bytes."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest

from geogate import Gate
from geogate._logs.read import Damage, find_logs
from geogate._logs.render_html import SHARES, render_html, timeline
from geogate._logs.summary import Count, FeatureSummary, Summary, summarise
from helpers.decisionlogs import Request, log_lines, write_jsonl
from helpers.paths import POLICIES

VISION = "llama-3.2-vision"
LICENCE = "llama-3.2-vision-license"
#: Llama 3.2 came out on 2024-09-25: the EU rule and the UK rule start then.
BEFORE, LAUNCH = dt.date(2024, 9, 24), dt.date(2024, 9, 25)
#: Two days after the launch, with nothing logged on the day between.
LATER = dt.date(2024, 9, 27)
HOSTILE = '<script>alert("x")</script>\'&amp;'
#: The tags a page is made of; anything else in it was injected.
TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "strong",
    "span", "ul", "li", "code", "table", "thead", "tbody", "tr", "th", "td", "details", "summary",
    "svg", "defs", "path", "clippath", "use", "g", "rect", "circle", "line", "text", "desc",
    "section", "em", "footer",
}  # fmt: skip


@pytest.fixture(scope="module")
def gate():
    return Gate.from_path(POLICIES)


def requests():
    """Calls over a launch, a day without any: known answers, all of them."""
    return [
        Request(VISION, {"country": "FR"}, BEFORE),
        Request(VISION, {"country": "FR"}, LAUNCH),
        Request(VISION, {"country": "FR"}, LAUNCH),
        Request(VISION, {"country": "RE"}, LAUNCH),
        Request(VISION, {"country": "GB"}, BEFORE),
        Request(VISION, {"country": "GB"}, LAUNCH),
        Request(VISION, {"country": "GB", "subdivision": "GB-SCT"}, LATER),
        Request(VISION, {"country": "US"}, LATER),
        Request(VISION, {"country": "XX"}, LATER),
        Request(LICENCE, {"domicile": "DE"}, LAUNCH),
        Request(LICENCE, {"domicile": "US"}, LAUNCH),
    ]


@pytest.fixture(scope="module")
def log(gate, tmp_path_factory):
    lines = [line for line, _ in log_lines(gate, requests())]
    path = tmp_path_factory.mktemp("logs") / "decisions.jsonl"
    return write_jsonl(path, lines, torn=lines[0][:40])


@pytest.fixture(scope="module")
def summary(log):
    return summarise(find_logs([str(log)]))


@pytest.fixture(scope="module")
def page(summary):
    return render_html(summary)


class Tags(HTMLParser):
    """Every start tag of a page, with its attributes, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _tags(page):
    parser = Tags()
    parser.feed(page)
    parser.close()
    return parser


def _section(page, feature):
    start = page.index(f'data-feature="{feature}"')
    return page[start : page.index("</section>", start)]


def _bars(section):
    """(period, outcome) -> (count, height) of each bar of a feature's chart, and its scale."""
    chart = section[section.index("<svg class=chart") : section.index("</svg>")]
    found = {}
    for outcome, bars in re.findall(
        r'<g class=bars data-outcome="(\w+)"[^>]*>(.*?)</g>', chart, re.DOTALL
    ):
        for attributes in re.findall(r"<rect ([^>]*)>", bars):
            values = dict(re.findall(r'([\w-]+)="([^"]*)"', attributes))
            found[values["data-period"], outcome] = (
                int(values["data-count"]),
                float(values["height"]),
            )
    scale = float(re.search(r'data-scale="([\d.]+)"', chart).group(1))
    return found, scale


def test_the_bars_are_the_counts(summary, page):
    """Each bar is one period's allowed or denied count, drawn at the chart's one scale."""
    vision = summary.features[0]
    bars, scale = _bars(_section(page, VISION))

    expected = {}
    for period, count in vision.periods.items():
        for outcome, value in (("allowed", count.allowed), ("denied", count.denied)):
            if value:
                expected[period, outcome] = value
    assert {
        ("2024-09-24", "allowed"): 2,
        ("2024-09-25", "allowed"): 1,
        ("2024-09-25", "denied"): 3,
        ("2024-09-27", "allowed"): 2,
        ("2024-09-27", "denied"): 1,
    } == expected
    assert expected == {key: count for key, (count, _) in bars.items()}
    for count, height in bars.values():
        assert count * scale == pytest.approx(height, abs=0.01)


def test_the_chart_says_what_it_shows(page):
    """Its <title> and <desc> name it; the table beside it has a row per period; the gap shows."""
    section = _section(page, VISION)
    chart = section[section.index("<svg class=chart") : section.index("</svg>")]

    labelled = re.search(r'aria-labelledby="([^" ]+) ([^"]+)"', chart).groups()
    assert (f'<title id="{labelled[0]}">', f'<desc id="{labelled[1]}">') == (
        chart[chart.index("<title") : chart.index(">", chart.index("<title")) + 1],
        chart[chart.index("<desc") : chart.index(">", chart.index("<desc")) + 1],
    )
    # The day without decisions is a period too.
    assert "4 day(s) from 2024-09-24 to 2024-09-27: 5 allowed and 4 denied in all" in chart
    assert ">2024-09-26</text>" in chart
    assert 'data-period="2024-09-26"' not in chart
    table = section[section.index("<table class=periods") : section.index("</table>")]
    rows = re.findall(r"<tr><td>([^<]+)</td>", table)
    assert ["2024-09-24", "2024-09-25", "2024-09-27"] == rows
    assert ">decisions</text>" in chart
    assert ">day (UTC)</text>" in chart


@pytest.mark.parametrize(
    ("periods", "by", "expected"),
    [
        (["2024-09-27", "2024-09-25"], "day", ["2024-09-25", "2024-09-26", "2024-09-27"]),
        (["2024-W52", "2025-W02"], "week", ["2024-W52", "2025-W01", "2025-W02"]),
        (["2024-11", "2025-02"], "month", ["2024-11", "2024-12", "2025-01", "2025-02"]),
        (["2024-09-24"], "day", ["2024-09-24"]),
        (["1970-01-01", "2024-09-24"], "day", ["1970-01-01", "2024-09-24"]),  # too long to fill
    ],
)  # fmt: skip
def test_the_time_axis_fills_gaps(periods, by, expected):
    """Periods without a decision are on the axis (with no bar), unless the span is too long."""
    assert expected == timeline(periods, by)


def test_the_map_colours_each_country_by_its_allowed_share(page):
    """FR allowed 1 of 3, GB (with Scotland) 3 of 3, US 1 of 1; RE too small: a dot, denied."""
    section = _section(page, VISION)
    shares = dict(re.findall(r'data-country="([A-Z]{2})" data-share="(\w+)"', section))

    assert {"FR": "some", "GB": "all", "US": "all", "RE": "none"} == shares
    assert re.search(r'<circle [^>]*data-country="RE" data-share="none"', section)
    assert f'fill="{SHARES["some"][0]}"><title>France (FR): 3 decisions, 1 allowed (33.3%)' in (
        section
    )
    assert '<li data-legend="all">' in section
    rows = re.findall(r'<tr data-country="([A-Z]+)">', section)
    assert ["FR", "GB", "RE", "US"] == rows


def test_the_header_names_files_lines_damage_and_revisions(summary, page, log):
    """Files, lines, the damaged line at file:line:col, and every revision seen."""
    header = page[: page.index("</header>")]

    assert f"<li><code>{log}</code></li>" in header
    assert "<span data-lines>12</span> line(s)" in header
    assert "<span data-damaged>1</span> damaged" in header
    (damage,) = summary.damage
    assert (str(log), 12) == (damage.path, damage.line)
    assert f"<li><code>{log}:12:{damage.column}</code>: {damage.message}</li>" in header
    (revision,) = {r for f in summary.features for r in f.revisions}
    assert f'<tr data-revision="{revision}">' in header
    assert "<td class=n>11</td>" in header


def test_the_unknown_location_rate_by_source(page):
    """One explicit source: 1 of 9 locations unknown (XX)."""
    section = _section(page, VISION)

    assert re.search(
        r'<tr data-source="explicit">.*?<td class=n>9</td><td class=n>1</td>'
        r"<td class=n>11.1%</td>",
        section,
    )


def test_no_address_and_no_script(page):
    """Self-contained: no http, no //, every reference a fragment of the page itself."""
    assert "http" not in page
    assert "//" not in page
    parsed = _tags(page)
    assert {tag for tag, _ in parsed.tags} <= TAGS
    for _, attributes in parsed.tags:
        for name in ("href", "src"):
            assert attributes.get(name) is None or attributes[name].startswith("#")
    assert all(url.startswith("#") for url in re.findall(r"url\(([^)]*)\)", page))


def test_same_logs_same_bytes(log, page):
    """Read and drawn again, the logs give the same page, byte for byte."""
    again = render_html(summarise(find_logs([str(log)])))

    assert page.encode() == again.encode()


def test_a_one_feature_page_is_small(log):
    """The world's outlines are written once; a one-feature page stays under 300 KB."""
    single = render_html(summarise(find_logs([str(log)]), features=[VISION]))

    assert len(single.encode()) < 300_000


def _hostile_summary():
    count = Count()
    count.add(2, allowed=True, location="known", day="2024-09-25")
    count.add(1, allowed=False, location="unknown", day="2024-09-25")
    feature = FeatureSummary(
        HOSTILE,
        total=count,
        periods={"2024-09-25": count},
        places={("FR", HOSTILE): count, (HOSTILE, None): count},
        jurisdictions={HOSTILE: count},
        outcomes={("deny", HOSTILE, HOSTILE): 1, ("allow", "DEFAULT", None): 2},
        sources={HOSTILE: count},
        revisions={HOSTILE: 3},
        networks=[(HOSTILE, 3, 2)],
    )
    return Summary(
        files=(HOSTILE,),
        lines=4,
        damaged=1,
        damage=(Damage(HOSTILE, 4, 1, HOSTILE),),
        by="day",
        start=None,
        end=None,
        features=(feature,),
    )


def test_hostile_strings_are_text():
    """
    A feature id, file name, rule id, reason, source, revision and damage message made of
    markup stay text: no tag or attribute is added, and each reads back as it was.
    """
    page = render_html(_hostile_summary())
    parsed = _tags(page)

    assert "<script" not in page
    assert {tag for tag, _ in parsed.tags} <= TAGS
    assert not any(name.startswith("on") for _, a in parsed.tags for name in a)
    text = "".join(parsed.text)
    # Each place it was put reads back as text: the file, the damage's place and message, the
    # feature (heading, chart title), the country, the rule, the reason, the source, the network.
    assert text.count(HOSTILE) >= 10
    assert 'data-feature="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#x27;&amp;amp;"' in page
    assert any(a.get("data-feature") == HOSTILE for _, a in parsed.tags)


def test_a_hostile_file_name_from_disk(gate, tmp_path):
    """A log file named with markup, and its torn line, are named as text."""
    lines = [line for line, _ in log_lines(gate, requests()[:2])]
    path = write_jsonl(tmp_path / "<img src=x onerror=alert(1)>&'\".jsonl", lines, torn="{")
    page = render_html(summarise(find_logs([str(path)])))
    parsed = _tags(page)

    assert "<img" not in page
    assert {tag for tag, _ in parsed.tags} <= TAGS
    assert f"{path}:3:2" in "".join(parsed.text)
