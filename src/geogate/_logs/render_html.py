"""
A `Summary` as one self-contained HTML page: what was served where, drawn.

The page needs no network and no JavaScript: CSS and SVG are inline, and it
holds no address at all. Every string that comes from a log (feature ids, file
names, rule ids, reasons, location sources, revisions, damage messages) is
escaped. The same summary gives the same bytes.

Per feature: allowed and denied per period as stacked bars (an SVG with a
``<title>``, a ``<desc>`` and the figures as a table beside it); a world map
with each country coloured by the share of its decisions that were allowed
(the audit report's outlines and projection, `geogate._review.worldmap`), and
the countries with the most decisions as a table; the unknown-location rate
by location source; and the outcomes by effect, reason and rule.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from typing import TYPE_CHECKING, Final

from geogate._engine.decision import short_revision
from geogate._review.worldmap import (
    MAP_HEIGHT,
    MAP_WIDTH,
    WorldMap,
    map_defs,
    world_map,
)
from geogate._world.countries import country_name

from .summary import Count, period_of

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .summary import FeatureSummary, Period, Summary

__all__ = [
    "CHART_HEIGHT",
    "CHART_WIDTH",
    "COLOURS",
    "FRAME",
    "SHARES",
    "countries",
    "render_html",
    "share_class",
    "timeline",
]

#: Allowed and denied (Okabe-Ito, as the audit report), and the map's no-data grey.
COLOURS: Final = {"allowed": "#0072B2", "denied": "#D55E00", "absent": "#DDDDDD"}
#: The map's classes of allowed share: name -> (fill, legend text).
SHARES: Final = {
    "all": ("#0072B2", "always allowed"),
    "most": ("#7FB5DA", "allowed in half or more"),
    "some": ("#EEB08A", "allowed in under half"),
    "none": ("#D55E00", "never allowed"),
}
#: The map's background outside the globe; the browser test finds the map by it.
FRAME: Final = "#FBFAF5"
_OCEAN: Final = "#EAF1F7"
CHART_WIDTH: Final = 960
CHART_HEIGHT: Final = 240
#: The chart's margins: left (tick labels), right, top, bottom (period labels, axis title).
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 12, 12, 44
#: Most period labels under the chart, and most periods a gap is filled across.
_LABELS: Final = 12
_MAX_FILLED: Final = 1000
#: Most rows in a table of countries, outcomes or files before it folds away.
SHOWN: Final = 15
_AXIS_NAMES: Final = {"day": "day (UTC)", "week": "ISO week", "month": "month"}

_CSS = """
:root{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222}
body{margin:0 auto;padding:16px 24px 48px;max-width:1000px;background:#fff}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.3em;margin:0}h3{font-size:1.05em;margin:16px 0 4px}
header p,.meta{color:#555;margin:.2em 0}
section.feature{border-top:3px solid #ddd;margin-top:28px;padding-top:14px}
svg.map,svg.chart{display:block;max-width:100%;height:auto;margin:8px 0 4px}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;margin:4px 0 10px;padding:0;list-style:none}
.sw{display:inline-block;width:14px;height:14px;vertical-align:-2px;margin-right:5px;
border:1px solid #555}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:.92em}
th,td{border-bottom:1px solid #e3e3e3;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f6f6}
td.n,th.n,table.periods td+td{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.95em;word-break:break-all}.muted{color:#777}
.bar{display:inline-block;height:10px;background:#888;vertical-align:0}
ul.damage{font-size:.9em}
svg text{font:11px system-ui,sans-serif;fill:#333}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _n(number: int) -> str:
    return f"{number:,}"


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "—"


def render_html(summary: Summary) -> str:
    """
    Return *summary* as one self-contained HTML page.

    The header names the files, the lines read, the damaged lines (with
    file:line:col), the period asked for and the policy revisions seen; then a
    section per feature (see the module's docstring).
    """
    geo = world_map()
    out = [
        "<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n",
        '<meta name=viewport content="width=device-width, initial-scale=1">\n',
        f"<title>geogate logs summary — {_e(_window(summary))}</title>\n",
        f"<style>{_CSS}</style>\n</head>\n<body>\n",
        _header(summary),
        map_defs(geo),
    ]
    if not summary.features:
        out.append("<p>No decisions in these logs for what was asked.</p>\n")
    for number, feature in enumerate(summary.features, 1):
        out.append(_feature(number, feature, summary.by, geo))
    out.append(
        "<footer><p class=muted>Map: "
        + _e(geo.source)
        + ". Borders are Natural Earth's de facto boundaries; a decision counts in the ISO"
        " 3166-1 country its location resolved to.</p></footer>\n</body>\n</html>\n"
    )
    return "".join(out)


def _window(summary: Summary) -> str:
    if summary.start is None and summary.end is None:
        return "all days"
    return f"{summary.start or '…'} to {summary.end or '…'}"


def _header(summary: Summary) -> str:
    files = "".join(f"<li><code>{_e(path)}</code></li>" for path in summary.files)
    files_list = f"<ul class=files>{files}</ul>"
    if len(summary.files) > SHOWN:
        files_list = (
            f"<details><summary>the {len(summary.files)} files</summary>{files_list}</details>"
        )
    out = [
        "<header>\n<h1>Decisions served</h1>\n",
        (
            f"<p><strong>{_n(summary.decisions)}</strong> decision(s) in "
            f"<span data-lines>{_n(summary.lines)}</span> line(s) of {len(summary.files)} file(s); "
            f"<span data-damaged>{_n(summary.damaged)}</span> damaged (skipped) · "
            f"{_e(_window(summary))} · by {_e(summary.by)}</p>\n"
        ),
        files_list,
        "\n",
    ]
    revisions: dict[str, int] = {}
    for feature in summary.features:
        for revision, count in feature.revisions.items():
            revisions[revision] = revisions.get(revision, 0) + count
    if revisions:
        out.append(
            "<h3>Policy revisions seen</h3>\n<table class=revisions><thead><tr><th>Revision</th>"
            "<th class=n>Decisions</th></tr></thead><tbody>\n"
        )
        out.extend(
            f'<tr data-revision="{_e(revision)}"><td><code title="{_e(revision)}">'
            f"{_e(short_revision(revision))}</code></td><td class=n>{_n(count)}</td></tr>\n"
            for revision, count in sorted(revisions.items(), key=lambda i: (-i[1], i[0]))
        )
        out.append("</tbody></table>\n")
    if summary.damaged:
        out.append(
            f"<h3 id=damage>Damaged lines, skipped ({_n(summary.damaged)})</h3>\n<ul class=damage>"
        )
        out.extend(
            f"<li><code>{_e(d.path)}:{d.line}:{d.column}</code>: {_e(d.message)}</li>"
            for d in summary.damage
        )
        if summary.damaged > len(summary.damage):
            out.append(
                f"<li class=muted>… and {_n(summary.damaged - len(summary.damage))} more</li>"
            )
        out.append("</ul>\n")
    out.append("</header>\n")
    return "".join(out)


def _feature(number: int, feature: FeatureSummary, by: Period, geo: WorldMap) -> str:
    total = feature.total
    first = min((c.first_allowed for c in feature.places.values() if c.first_allowed), default=None)
    last = max((c.last_allowed for c in feature.places.values() if c.last_allowed), default=None)
    served = f" · allowed from {_e(first)} to {_e(last)}" if first else " · never allowed"
    return "".join(
        [
            f'<section class=feature id="feature-{number}" data-feature="{_e(feature.feature)}">\n',
            f"<h2>{_e(feature.feature)}</h2>\n",
            (
                f"<p class=meta><strong>{_n(total.decisions)}</strong> decisions: "
                f"{_n(total.allowed)} allowed ({_percent(total.allowed, total.decisions)}), "
                f"{_n(total.denied)} denied · unknown location "
                f"{_percent(total.unknown, total.decisions)}, invalid "
                f"{_percent(total.invalid, total.decisions)}{served}</p>\n"
            ),
            _chart(number, feature, by),
            _map(number, feature, geo),
            _sources(feature),
            _outcomes(feature),
            _networks(feature),
            "</section>\n",
        ]
    )


def timeline(periods: Iterable[str], by: Period) -> list[str]:
    """
    Return every period from the first of *periods* to the last, gaps filled.

    Only the given periods, sorted, when the span is longer than `_MAX_FILLED`.
    """
    given = sorted(set(periods))
    if len(given) < 2:  # noqa: PLR2004 (a span has two ends)
        return given
    first, last = _first_day(given[0], by), _first_day(given[-1], by)
    step = {"day": 1, "week": 7, "month": 28}[by]
    if (last - first).days // step > _MAX_FILLED:
        return given
    filled: list[str] = []
    day = first
    while day <= last:
        name = period_of(day.isoformat(), by)
        if not filled or filled[-1] != name:
            filled.append(name)
        day += dt.timedelta(days=1 if by == "month" else step)
    return filled


def _first_day(period: str, by: Period) -> dt.date:
    if by == "day":
        return dt.date.fromisoformat(period)
    if by == "month":
        return dt.date.fromisoformat(period + "-01")
    year, week = period.split("-W")
    return dt.date.fromisocalendar(int(year), int(week), 1)


def _ticks(largest: int) -> tuple[int, int]:
    """Return a round step and the axis maximum (a multiple of it) for values up to *largest*."""
    raw = max(largest, 1) / 4
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return step, step * max(1, math.ceil(largest / step))


def _chart(number: int, feature: FeatureSummary, by: Period) -> str:
    """Allowed and denied per period as stacked bars, with the figures as a table."""
    periods = timeline(feature.periods, by)
    counts = [feature.periods.get(p, Count()) for p in periods]
    step, top = _ticks(max(c.decisions for c in counts))
    plot_width = CHART_WIDTH - _LEFT - _RIGHT
    plot_height = CHART_HEIGHT - _TOP - _BOTTOM
    base = _TOP + plot_height
    scale = plot_height / top
    slot = plot_width / len(periods)
    width = max(slot * 0.8, 0.5)
    busiest = max(range(len(periods)), key=lambda i: (counts[i].decisions, -i))
    ident = f"chart-{number}"
    out = [
        f"<h3>Allowed and denied per {_e(by)}</h3>\n",
        (
            f'<svg class=chart width="{CHART_WIDTH}" height="{CHART_HEIGHT}" '
            f'viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" role="img" '
            f'aria-labelledby="{ident}-title {ident}-desc" data-scale="{scale:.6f}">\n'
        ),
        (
            f'<title id="{ident}-title">Decisions on {_e(feature.feature)} per {_e(by)}, '
            "allowed and denied</title>\n"
        ),
        (
            f'<desc id="{ident}-desc">{len(periods)} {_e(by)}(s) from {_e(periods[0])} to '
            f"{_e(periods[-1])}: {_n(feature.total.allowed)} allowed and "
            f"{_n(feature.total.denied)} denied in all; the busiest, {_e(periods[busiest])}, had "
            f"{_n(counts[busiest].decisions)}. The figures are in the table below the chart."
            "</desc>\n"
        ),
        '<g class=axis stroke="#999" stroke-width="1">',
    ]
    labels = []
    for value in range(0, top + 1, step):
        y = base - value * scale
        out.append(
            f'<line x1="{_LEFT}" x2="{CHART_WIDTH - _RIGHT}" y1="{y:.2f}" y2="{y:.2f}"'
            + (' stroke="#e3e3e3"' if value else "")
            + "/>"
        )
        labels.append(f'<text x="{_LEFT - 6}" y="{y + 4:.2f}" text-anchor="end">{_n(value)}</text>')
    out.append('</g>\n<g aria-hidden="true">' + "".join(labels))
    every = max(1, math.ceil(len(periods) / _LABELS))
    for index in range(0, len(periods), every):
        x = _LEFT + (index + 0.5) * slot
        out.append(
            f'<text x="{x:.2f}" y="{base + 16}" text-anchor="middle">{_e(periods[index])}</text>'
        )
    out.append(
        f'<text x="{_LEFT + plot_width / 2:.0f}" y="{CHART_HEIGHT - 6}" text-anchor="middle">'
        f"{_e(_AXIS_NAMES[by])}</text>"
        f'<text transform="translate(14 {_TOP + plot_height / 2:.0f}) rotate(-90)" '
        'text-anchor="middle">decisions</text></g>\n'
    )
    for outcome in ("allowed", "denied"):
        out.append(f'<g class=bars data-outcome="{outcome}" fill="{COLOURS[outcome]}">\n')
        for index, (period, count) in enumerate(zip(periods, counts, strict=True)):
            value = count.allowed if outcome == "allowed" else count.denied
            if not value:
                continue
            below = 0 if outcome == "allowed" else count.allowed
            x = _LEFT + index * slot + (slot - width) / 2
            out.append(
                f'<rect x="{x:.1f}" y="{base - (below + value) * scale:.2f}" width="{width:.1f}" '
                f'height="{value * scale:.2f}" data-period="{_e(period)}" data-count="{value}">'
                f"<title>{_e(period)}: {_n(value)} {outcome}</title></rect>\n"
            )
        out.append("</g>\n")
    out.append("</svg>\n")
    out.append(
        '<ul class=legend><li><span class=sw style="background:'
        f'{COLOURS["allowed"]}"></span>allowed</li><li><span class=sw style="background:'
        f'{COLOURS["denied"]}"></span>denied</li></ul>\n'
    )
    rows = "".join(
        f"<tr><td>{_e(period)}</td><td>{_n(c.decisions)}</td><td>{_n(c.allowed)}</td>"
        f"<td>{_n(c.denied)}</td><td>{_percent(c.unknown, c.decisions)}</td></tr>\n"
        for period, c in sorted(feature.periods.items())
    )
    out.append(
        f"<details><summary>The figures per {_e(by)}</summary>\n<table class=periods>"
        f"<thead><tr><th>{_e(by.capitalize())}</th><th class=n>Decisions</th>"
        "<th class=n>Allowed</th><th class=n>Denied</th><th class=n>Unknown location</th></tr>"
        f"</thead><tbody>\n{rows}</tbody></table></details>\n"
    )
    return "".join(out)


def countries(feature: FeatureSummary) -> dict[str, Count]:
    """Return the decisions per country, its subdivisions added in (unknown places left out)."""
    found: dict[str, Count] = {}
    for (country, _), count in sorted(feature.places.items(), key=lambda i: str(i[0])):
        if country is None:
            continue
        into = found.setdefault(country, Count())
        into.decisions += count.decisions
        into.allowed += count.allowed
        into.unknown += count.unknown
        into.invalid += count.invalid
        for day in (count.first_allowed, count.last_allowed):
            if day is not None:
                into.first_allowed = min(into.first_allowed or day, day)
                into.last_allowed = max(into.last_allowed or day, day)
    return found


def share_class(count: Count) -> str:
    """``all``, ``most``, ``some`` or ``none``: how much of a place's decisions were allowed."""
    if count.allowed == count.decisions:
        return "all"
    if not count.allowed:
        return "none"
    return "most" if 2 * count.allowed >= count.decisions else "some"


def _tooltip(code: str, count: Count) -> str:
    return (
        f"{country_name(code)} ({code}): {count.decisions:,} decisions, {count.allowed:,} allowed "
        f"({_percent(count.allowed, count.decisions)})"
    )


def _map(number: int, feature: FeatureSummary, geo: WorldMap) -> str:
    by_country = countries(feature)
    out = [
        "<h3>Where it was served</h3>\n",
        (
            f'<svg class=map id="map-{number}" width="{MAP_WIDTH}" height="{MAP_HEIGHT}" '
            f'viewBox="0 0 {MAP_WIDTH} {MAP_HEIGHT}" role="img" aria-label="World map of the share '
            f"of decisions on {_e(feature.feature)} that were allowed, by country; the countries "
            'with the most decisions are in the table below the map">\n'
            f'<rect width="{MAP_WIDTH}" height="{MAP_HEIGHT}" fill="{FRAME}"/>'
            f'<use href="#geo-sphere" fill="{_OCEAN}" stroke="#9AB" stroke-width="0.8"/>\n'
            f'<g fill="{COLOURS["absent"]}" stroke="#fff" stroke-width="0.5" '
            'stroke-linejoin="round" clip-path="url(#clip-sphere)">\n'
        ),
    ]
    for code in sorted(geo.shapes):
        count = by_country.get(code)
        if count is None:
            out.append(f'<use href="#geo-{_e(code)}"/>\n')
            continue
        share = share_class(count)
        out.append(
            f'<use href="#geo-{_e(code)}" data-country="{_e(code)}" data-share="{share}" '
            f'fill="{SHARES[share][0]}"><title>{_e(_tooltip(code, count))}</title></use>\n'
        )
    out.append('</g>\n<g stroke="#222" stroke-width="1">\n')
    for code, (x, y) in sorted(geo.dots().items()):
        count = by_country.get(code)
        if count is None:
            continue
        share = share_class(count)
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.2" data-country="{_e(code)}" '
            f'data-share="{share}" fill="{SHARES[share][0]}"><title>'
            f"{_e(_tooltip(code, count))}</title></circle>\n"
        )
    out.append("</g>\n</svg>\n<ul class=legend>")
    classes = [share_class(c) for c in by_country.values()]
    out.extend(
        f'<li data-legend="{share}"><span class=sw style="background:{fill}"></span>{text} '
        f"({classes.count(share)})</li>"
        for share, (fill, text) in SHARES.items()
    )
    out.append(
        f'<li><span class=sw style="background:{COLOURS["absent"]}"></span>no decisions</li>'
        '<li><svg width="14" height="14" style="vertical-align:-2px;margin-right:5px">'
        '<circle cx="7" cy="7" r="4" fill="#888" stroke="#222" stroke-width="1.2"/></svg>'
        "a place too small for the map</li></ul>\n"
    )
    out.append(_countries_table(by_country, geo))
    return "".join(out)


def _countries_table(by_country: dict[str, Count], geo: WorldMap) -> str:
    if not by_country:
        return "<p>No decision named a country.</p>\n"
    ranked = sorted(by_country.items(), key=lambda i: (-i[1].decisions, i[0]))
    out = [
        (
            "<table class=countries><thead><tr><th>Country</th><th class=n>Decisions</th>"
            "<th class=n>Allowed</th><th class=n>Denied</th><th class=n>Allowed share</th>"
            "<th>Allowed from</th><th>to</th></tr></thead><tbody>\n"
        )
    ]
    for code, count in ranked[:SHOWN]:
        drawn = (
            ""
            if code in geo.shapes or code in geo.points
            else " <em class=muted>(not on the map)</em>"
        )
        out.append(
            f'<tr data-country="{_e(code)}"><td><code>{_e(code)}</code> {_e(country_name(code))}'
            f"{drawn}</td><td class=n>{_n(count.decisions)}</td>"
            f"<td class=n>{_n(count.allowed)}</td>"
            f"<td class=n>{_n(count.denied)}</td>"
            f"<td class=n>{_percent(count.allowed, count.decisions)}</td>"
            f"<td>{_e(count.first_allowed or '—')}</td>"
            f"<td>{_e(count.last_allowed or '—')}</td></tr>\n"
        )
    out.append("</tbody></table>\n")
    if len(ranked) > SHOWN:
        out.append(
            f"<p class=muted>… and {len(ranked) - SHOWN} more countries "
            "(<code>--format json</code> or <code>csv</code> lists them all).</p>\n"
        )
    return "".join(out)


def _sources(feature: FeatureSummary) -> str:
    out = [
        (
            "<h3>Unknown location by location source</h3>\n<table class=sources><thead><tr>"
            "<th>Location source</th><th class=n>Decisions</th><th class=n>Unknown location</th>"
            "<th class=n>Rate</th><th></th></tr></thead><tbody>\n"
        )
    ]
    for source, count in sorted(feature.sources.items(), key=lambda i: (-i[1].decisions, i[0])):
        rate = count.unknown_rate
        out.append(
            f'<tr data-source="{_e(source)}"><td><code>{_e(source)}</code></td>'
            f"<td class=n>{_n(count.decisions)}</td><td class=n>{_n(count.unknown)}</td>"
            f"<td class=n>{_percent(count.unknown, count.decisions)}</td>"
            f'<td style="width:30%"><span class=bar style="width:{100 * rate:.1f}%"></span></td>'
            "</tr>\n"
        )
    out.append("</tbody></table>\n")
    return "".join(out)


def _outcomes(feature: FeatureSummary) -> str:
    ranked = sorted(feature.outcomes.items(), key=lambda i: (-i[1], str(i[0])))
    out = [
        (
            "<h3>Outcomes</h3>\n<table class=outcomes><thead><tr><th>Effect</th><th>Reason</th>"
            "<th>Rule</th><th class=n>Decisions</th></tr></thead><tbody>\n"
        )
    ]
    out.extend(
        f"<tr><td>{_e(effect)}</td><td>{_e(reason)}</td>"
        f"<td>{f'<code>{_e(rule)}</code>' if rule else '—'}</td><td class=n>{_n(count)}</td></tr>\n"
        for (effect, reason, rule), count in ranked[:SHOWN]
    )
    out.append("</tbody></table>\n")
    if len(ranked) > SHOWN:
        out.append(f"<p class=muted>… and {len(ranked) - SHOWN} more outcomes.</p>\n")
    return "".join(out)


def _networks(feature: FeatureSummary) -> str:
    if not feature.networks:
        return ""
    rows = "".join(
        f"<tr><td><code>{_e(network)}</code></td><td class=n>{_n(count)}</td>"
        f"<td class=n>{_n(allowed)}</td></tr>\n"
        for network, count, allowed in feature.networks
    )
    return (
        "<h3>Busiest IP networks (as logged)</h3>\n<table class=networks><thead><tr>"
        "<th>Network</th><th class=n>Decisions</th><th class=n>Allowed</th></tr></thead>"
        f"<tbody>\n{rows}</tbody></table>\n"
    )
