"""
The HTML audit report: one self-contained page with a world map per feature.

The page needs no network and no JavaScript: CSS and SVG are inline, and the
only addresses in it are the rules' ``source:`` links (http and https only).
Every string from a policy file is escaped.

A *split* country (the rules decide places inside it differently, so a
request naming only the country gets the feature's ``partial`` setting) is
filled with its country-only colour under a white cross-hatch and labelled
``split`` on the map, so it reads without colour; the report lists each
country with subdivisions in the feature's place space, what a request
naming only it gets, what the rest of it gets, and each subdivision's
decision.

The map is Natural Earth's 1:110m Admin 0 countries (through the npm package
world-atlas, see ``data/README.md``), keyed by ISO 3166-1 alpha-2 code and
drawn in the Natural Earth projection computed here. Each country's outline is
written once, in a hidden ``<svg>``, and every feature's map refers to it with
``<use href="#geo-FR" data-country="FR" data-effect="deny">``. Places too
small for the map are marked with a dot where the data has a point for them,
and listed below the map with their decisions.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from geogate._engine.decision import short_revision
from geogate._world.countries import country_name, subdivision_name
from geogate._world.jurisdictions import describe_window

from .audit import country_of
from .worldmap import MAP_HEIGHT, MAP_WIDTH, WorldMap, map_defs, world_map

if TYPE_CHECKING:
    from geogate._policy.model import PolicySet, Rule

    from .audit import Audit, Cell, FeatureAudit, Group

__all__ = ["COLOURS", "FRAME", "render_html"]

#: Fill colours (Okabe-Ito, safe for the common colour-vision deficiencies).
COLOURS = {"allow": "#0072B2", "deny": "#D55E00", "none": "#BBBBBB"}
_OCEAN = "#EAF1F7"
#: Longest link text shown for a source URL.
_LINK_TEXT = 44
#: The map's background outside the globe; the browser test finds the map by it.
FRAME = "#FBFAF5"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _link(source: str | None) -> str:
    """Link a source only when it is an http(s) address; show anything else as text."""
    if not source:
        return "—"
    parts = urlsplit(source.strip())
    if parts.scheme.lower() in {"http", "https"} and parts.netloc:
        shown = parts.netloc + parts.path
        shown = (
            shown
            if len(shown) <= _LINK_TEXT
            else shown[: _LINK_TEXT - 1] + "\N{HORIZONTAL ELLIPSIS}"
        )
        return (
            f'<a href="{_e(source.strip())}" title="{_e(source.strip())}" '
            f'rel="noopener noreferrer">{_e(shown)}</a>'
        )
    return _e(source)


def _past(effect: str) -> str:
    return "allowed" if effect == "allow" else "denied"


_CSS = """
:root{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222}
body{margin:0 auto;padding:16px 24px 48px;max-width:1000px;background:#fff}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.3em;margin:0}
header p,.meta{color:#555;margin:.2em 0}
section.feature{border-top:3px solid #ddd;margin-top:28px;padding-top:14px}
svg.map{display:block;max-width:100%;height:auto;margin:10px 0 4px}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;margin:4px 0 10px;padding:0;list-style:none}
.sw{display:inline-block;width:14px;height:14px;vertical-align:-2px;margin-right:5px;
border:1px solid #555}
.allow{color:#0072B2}.deny{color:#D55E00}
.chip{display:inline-block;min-width:3.3em;padding:0 5px;border-radius:3px;color:#fff;
font-size:.85em;text-align:center}
.chip.allow{background:#0072B2}.chip.deny{background:#D55E00}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:.92em}
th,td{border-bottom:1px solid #e3e3e3;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f6f6}code{font-size:.95em}
td a{word-break:break-all}
td:first-child code,td.nowrap{white-space:nowrap}
.codes{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.88em;color:#333}
h3{font-size:1.05em;margin:14px 0 4px}
ul.groups{padding-left:1.1em}ul.groups li{margin:4px 0}
.muted{color:#777}
ul.small{columns:3 16em;padding:0;list-style:none;font-size:.9em}
ul.small li{break-inside:avoid;margin:1px 0}
.split-label{font:bold 9px system-ui,sans-serif;fill:#111;stroke:#fff;stroke-width:3px;
paint-order:stroke;stroke-linejoin:round}
.badge{display:inline-block;padding:0 5px;border:1px solid #555;border-radius:3px;
font-size:.8em;color:#222;background:#fff}
tr.subdivision td:first-child{padding-left:1.6em}
"""


def render_html(report: Audit, policy: PolicySet) -> str:
    """
    Return the audit *report* of *policy* as one self-contained HTML page.

    Each feature gets a world map with every country coloured by its decision,
    a legend, the decisions grouped by rule and jurisdiction, its rules (with
    reason, source link and window), and the places too small for the map.
    """
    geo = world_map()
    title = f"geogate audit — {report.as_of.isoformat()}"
    out = [
        "<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n",
        '<meta name=viewport content="width=device-width, initial-scale=1">\n',
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n",
        "<header>\n<h1>Which regions get which model</h1>\n",
        f"<p>As of <strong>{_e(report.as_of.isoformat())}</strong> · policy revision ",
        f'<code title="{_e(report.revision)}">{_e(short_revision(report.revision))}</code>',
        f" · {len(policy.files)} file(s): {_e(', '.join(policy.files))}",
        f" · {len(report.features)} feature(s)</p>\n</header>\n",
        _defs(geo),
    ]
    for fid, fa in report.features.items():
        out.append(_feature(fid, fa, report, geo))
    out.append(
        "<footer><p class=muted>Map: "
        + _e(geo.source)
        + ". Borders are Natural Earth's de facto boundaries; geogate decides by the ISO 3166-1"
        " code a location resolves to.</p></footer>\n</body>\n</html>\n"
    )
    return "".join(out)


def _defs(geo: WorldMap) -> str:
    """The shared outlines and hatch patterns, in an invisible ``<svg>``."""
    hatches = "".join(
        f'<pattern id="hatch-{name}" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
        f'<rect width="3" height="6" fill="{colour}"/></pattern>\n'
        for name, colour in COLOURS.items()
    )
    splits = "".join(
        f'<pattern id="split-{name}" width="5" height="5" patternUnits="userSpaceOnUse">'
        f'<rect width="5" height="5" fill="{COLOURS[name]}"/>'
        '<path d="M0 0L5 5M5 0L0 5" stroke="#fff" stroke-width="1.1"/></pattern>\n'
        for name in ("allow", "deny")
    )
    return map_defs(geo, hatches + splits)


def _feature(fid: str, fa: FeatureAudit, report: Audit, geo: WorldMap) -> str:
    feature = fa.feature
    total = len(fa.cells)
    allowed = fa.allowed
    out = [
        f'<section class=feature id="feature-{_e(fid)}" data-feature="{_e(fid)}">\n',
        f"<h2>{_e(fid)}</h2>\n",
    ]
    if feature.description:
        out.append(f"<p>{_e(feature.description)}</p>\n")
    out.append(
        f"<p class=meta>Owner: <strong>{_e(feature.owner or '—')}</strong> · decided on "
        f"{_e(feature.basis)} · default {_e(feature.default)} · unknown location "
        f"<span class={_e(fa.unknown)}>{_e(_past(fa.unknown))}</span> · split country "
        f"<span class={_e(feature.partial)}>{_e(_past(str(feature.partial)))}</span></p>\n"
    )
    out.append(_map(fid, fa, geo))
    out.append(_legend(fa, allowed, total))
    split = fa.split
    summary = (
        f"<p>Allowed in <strong>{allowed}</strong> of {total} countries and territories, "
        f"denied in <strong>{total - allowed}</strong>, on {_e(report.as_of.isoformat())}"
    )
    if split:
        summary += (
            f"; <strong>{len(split)}</strong> split ({_codes(split)}): a request naming only "
            "the country gets the feature's partial setting"
        )
    out.append(summary + ".</p>\n")
    out.append(_groups(fa.groups, total))
    out.append(_subdivisions(fa, report))
    out.append(_rules(feature.rules, fa, report))
    out.append(_small(fa, geo))
    out.append("</section>\n")
    return "".join(out)


def _legend(fa: FeatureAudit, allowed: int, total: int) -> str:
    swatch = '<li><span class=sw style="background:{colour}"></span>{text}</li>'
    out = [
        "<ul class=legend>",
        swatch.format(colour=COLOURS["allow"], text=f"allowed ({allowed})"),
        swatch.format(colour=COLOURS["deny"], text=f"denied ({total - allowed})"),
    ]
    out.extend(
        f'<li data-legend="split-{effect}"><svg class=sw width="14" height="14">'
        f'<rect width="14" height="14" fill="url(#split-{effect})"/></svg>split, '
        f"{_past(effect)} for a request naming only the country (its subdivisions are "
        "decided differently: see below)</li>"
        for effect in sorted({fa.cells[code].effect for code in fa.split})
    )
    out.append(
        '<li><svg class=sw width="14" height="14"><rect width="14" height="14" '
        'fill="url(#hatch-none)"/></svg>no decision (not an audited country)</li>'
        '<li><svg width="14" height="14" style="vertical-align:-2px;margin-right:5px">'
        '<circle cx="7" cy="7" r="4" fill="#888" stroke="#222" stroke-width="1.2"/>'
        "</svg>a place too small for the map</li>"
        f"<li>unknown location: <span class={_e(fa.unknown)}>{_e(_past(fa.unknown))}</span>"
        "</li></ul>\n"
    )
    return "".join(out)


def _fill(cell: Cell) -> str:
    """A cell's fill: its colour, or its colour cross-hatched when split."""
    return f"url(#split-{cell.effect})" if cell.partial else COLOURS[cell.effect]


def _map(fid: str, fa: FeatureAudit, geo: WorldMap) -> str:
    out = [
        (
            f'<svg class=map width="{MAP_WIDTH}" height="{MAP_HEIGHT}" '
            f'viewBox="0 0 {MAP_WIDTH} {MAP_HEIGHT}" role="img" '
            f'aria-label="World map of where {_e(fid)} is allowed and denied">\n'
            f'<rect width="{MAP_WIDTH}" height="{MAP_HEIGHT}" fill="{FRAME}"/>'
            f'<use href="#geo-sphere" fill="{_OCEAN}" stroke="#9AB" stroke-width="0.8"/>\n'
            '<g stroke="#fff" stroke-width="0.5" stroke-linejoin="round" '
            'clip-path="url(#clip-sphere)">\n'
        )
    ]
    for code in sorted(geo.shapes):
        cell = fa.cells.get(code)
        if cell is None:
            out.append(
                f'<use href="#geo-{_e(code)}" data-country="{_e(code)}" data-effect="none" '
                f'fill="url(#hatch-none)"><title>{_e(country_name(code))} ({_e(code)}): '
                "no decision</title></use>\n"
            )
            continue
        split = ' data-split="true"' if cell.partial else ""
        out.append(
            f'<use href="#geo-{_e(code)}" data-country="{_e(code)}" data-effect="{cell.effect}"'
            f'{split} fill="{_fill(cell)}"><title>{_e(_tooltip(code, cell))}</title></use>\n'
        )
    out.append('</g>\n<g stroke="#222" stroke-width="1">\n')
    dots = geo.dots()
    for code, (x, y) in sorted(dots.items()):
        cell = fa.cells.get(code)
        effect = "none" if cell is None else cell.effect
        fill = COLOURS["none"] if cell is None else _fill(cell)
        split = ' data-split="true"' if cell is not None and cell.partial else ""
        title = (
            f"{country_name(code)} ({code}): no decision" if cell is None else _tooltip(code, cell)
        )
        out.append(
            f'<circle class=dot cx="{x:.1f}" cy="{y:.1f}" r="3.2" data-country="{_e(code)}" '
            f'data-effect="{effect}"{split} fill="{fill}"><title>{_e(title)}</title></circle>\n'
        )
    out.append("</g>\n")
    labels = []
    for code in fa.split:
        point = dots.get(code) or geo.label_point(code)
        if point is not None:
            x, y = point
            labels.append(
                f'<text class=split-label x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle" '
                f'data-label="{_e(code)}">{_e(code)} split</text>\n'
            )
    if labels:
        out.append('<g aria-hidden="true">\n' + "".join(labels) + "</g>\n")
    out.append("</svg>\n")
    return "".join(out)


def _how(cell: Cell) -> str:
    """``denied by rule X``, ``allowed by default``, or a split place's two answers."""
    if cell.partial and cell.rest is not None:
        return (
            f"split: {_past(cell.effect)} for a request naming only it; the rest of it is "
            f"{_how(cell.rest)}"
        )
    return f"{_past(cell.effect)} " + (f"by rule {cell.rule}" if cell.rule else "by default")


def _tooltip(code: str, cell: Cell) -> str:
    return f"{country_name(code)} ({code}): {_how(cell)}"


def _codes(codes: tuple[str, ...]) -> str:
    return " ".join(f'<abbr title="{_e(_name(c))}">{_e(c)}</abbr>' for c in codes)


def _name(code: str) -> str:
    return subdivision_name(code) if "-" in code else country_name(code)


def _count(group: Group) -> str:
    subdivisions = len(group.places) - len(group.countries)
    if not subdivisions:
        return str(len(group.countries))
    counted = f"{subdivisions} subdivision" + ("" if subdivisions == 1 else "s")
    return f"{len(group.countries)} + {counted}" if group.countries else counted


def _groups(groups: tuple[Group, ...], total: int) -> str:
    out = ["<h3>Decisions by rule and jurisdiction</h3>\n<ul class=groups>\n"]
    for group in groups:
        if group.rule:
            how = f"by rule <code>{_e(group.rule)}</code>"
        elif group.partial:
            how = "as split countries (a request naming only the country)"
        else:
            how = "by default (no rule applies)"
        split = ' data-split="true"' if group.partial else ""
        out.append(
            f'<li data-effect="{_e(group.effect)}"{split}><span class="chip {_e(group.effect)}">'
            f"{_e(_past(group.effect))}</span> {how}: {_count(group)}"
        )
        if group.reason:
            out.append(f"<br><span class=muted>{_e(group.reason)}</span>")
        out.append("<ul>")
        for label, codes in (*group.by_jurisdiction, *group.subdivisions):
            inner = f"<span class=codes>{_codes(codes)}</span>"
            if len(codes) * 3 > total:  # long lists fold away
                inner = f"<details><summary>show the {len(codes)} codes</summary>{inner}</details>"
            out.append(f"<li><strong>{_e(label)}</strong> ({len(codes)}): {inner}</li>")
        out.append("</ul></li>\n")
    out.append("</ul>\n")
    return "".join(out)


def _chip(effect: str) -> str:
    return f'<span class="chip {_e(effect)}">{_e(_past(effect))}</span>'


def _subdivisions(fa: FeatureAudit, report: Audit) -> str:
    """List each country with subdivisions in the place space: its answers and theirs."""
    if not fa.subdivisions:
        return ""
    inside: dict[str, list[str]] = {}
    for code in fa.subdivisions:
        inside.setdefault(country_of(code), []).append(code)
    partial = str(fa.feature.partial)
    out = [
        (
            "<h3>Split countries and subdivisions</h3>\n<p class=muted>The subdivisions the "
            "rules name, under their country. A country is <em>split</em> on "
            f"{_e(report.as_of.isoformat())} when places inside it are decided differently: a "
            "request naming only the country (a country-level GeoIP database, a CDN without "
            f"region headers) then gets the feature's partial setting, {_e(_past(partial))} "
            "(denied whenever a hard-deny rule decides inside).</p>\n"
            "<table class=subdivisions>\n<thead><tr><th>Place</th><th>Decision</th><th>How</th>"
            "</tr></thead>\n<tbody>\n"
        )
    ]
    for country in sorted(inside):
        cell = fa.cells[country]
        if cell.partial and cell.rest is not None:
            gets = (
                "is denied (a hard-deny rule decides inside it, whatever the partial setting says)"
                if cell.effect != partial
                else f"gets the feature's partial setting ({_e(partial)})"
            )
            how = (
                f"<span class=badge>split</span> a request naming only {_e(country)} {gets}; "
                f"the rest of {_e(country)} is {_e(_how(cell.rest))}"
            )
        else:
            how = f"not split: {_e(_how(cell))}"
        split = ' data-split="true"' if cell.partial else ""
        out.append(
            f'<tr data-country="{_e(country)}" data-effect="{_e(cell.effect)}"{split}>'
            f"<td><code>{_e(country)}</code> {_e(country_name(country))}</td>"
            f"<td>{_chip(cell.effect)}</td><td>{how}</td></tr>\n"
        )
        for code in inside[country]:
            sub = fa.subdivisions[code]
            out.append(
                f'<tr class=subdivision data-subdivision="{_e(code)}" '
                f'data-effect="{_e(sub.effect)}"><td><code>{_e(code)}</code> '
                f"{_e(subdivision_name(code))}</td><td>{_chip(sub.effect)}</td>"
                f"<td>{_e(_how(sub))}</td></tr>\n"
            )
    out.append("</tbody></table>\n")
    return "".join(out)


def _decides(countries: int, subdivisions: int) -> str:
    if not subdivisions:
        return str(countries)
    counted = f"{subdivisions} subdivision" + ("" if subdivisions == 1 else "s")
    return f"{countries} + {counted}" if countries else counted


def _rules(rules: tuple[Rule, ...], fa: FeatureAudit, report: Audit) -> str:
    if not rules:
        return (
            f"<h3>Rules</h3>\n<p>None: every country gets the default "
            f"({_e(fa.feature.default)}).</p>\n"
        )
    countries: dict[str | None, int] = {}
    for cell in fa.cells.values():
        countries[cell.rule] = countries.get(cell.rule, 0) + 1
    subdivisions: dict[str | None, int] = {}
    for cell in fa.subdivisions.values():
        subdivisions[cell.rule] = subdivisions.get(cell.rule, 0) + 1
    out = [
        (
            "<h3>Rules</h3>\n<table class=rules>\n<thead><tr><th>Rule</th><th>Kind</th>"
            "<th>Targets</th><th>Window</th><th>Decides</th><th>Reason</th><th>Source</th>"
            "</tr></thead>\n<tbody>\n"
        )
    ]
    for rule in rules:
        in_force = rule.active(report.as_of)
        window = _e(describe_window(rule.start, rule.end)) + (
            "" if in_force else "<br><em>not in force</em>"
        )
        targets = ", ".join(_e(t.code) for t in rule.targets)
        decides = _decides(countries.get(rule.id, 0), subdivisions.get(rule.id, 0))
        out.append(
            f'<tr data-rule="{_e(rule.id)}"><td><code>{_e(rule.id)}</code></td>'
            f"<td class={_e(rule.kind.effect)}>{_e(rule.kind)}</td><td>{targets}</td>"
            f"<td class=nowrap>{window}</td><td data-decides>{decides}</td>"
            f"<td>{_e(rule.reason)}</td>"
            f"<td>{_link(rule.source)}</td></tr>\n"
        )
    out.append("</tbody></table>\n")
    return "".join(out)


def _small(fa: FeatureAudit, geo: WorldMap) -> str:
    """List every audited place without a visible shape, with its decision."""
    dots = geo.dots()
    hidden = sorted(code for code in fa.cells if code in dots or code not in geo.shapes)
    if not hidden:
        return ""
    out = [
        (
            "<h3>Places too small for the map</h3>\n<p class=muted>Marked with a dot where the "
            "data has a point for them; <em>not drawn</em> otherwise.</p>\n<ul class=small>\n"
        )
    ]
    for code in hidden:
        cell = fa.cells[code]
        effect = cell.effect
        drawn = "" if code in dots else " <em class=muted>(not drawn)</em>"
        swatch = (
            f'<svg class=sw width="14" height="14"><rect width="14" height="14" '
            f'fill="{_fill(cell)}"/></svg>'
            if cell.partial
            else f'<span class="sw" style="background:{COLOURS[effect]}"></span>'
        )
        out.append(
            f'<li data-country="{_e(code)}" data-effect="{effect}" title="{_e(_how(cell))}">'
            f"{swatch}<code>{_e(code)}</code> {_e(country_name(code))}{drawn}</li>\n"
        )
    out.append("</ul>\n")
    return "".join(out)
