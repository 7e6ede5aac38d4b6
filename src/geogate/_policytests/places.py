"""
The places a policy test case names, read against the policy set's jurisdictions.

A place is a country code, a subdivision code, a jurisdiction name (which
stands for its members on the case's date) or a pseudo-code such as ``XX``
(an unknown location); which of them a field takes depends on the field. An
``ip`` is an IPv4 or IPv6 address. Problems are reported through the
`geogate._policy.fields.Reader` of the file being read, with the same diagnostics as
the policy loader's.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from geogate._policy.codes import Code
from geogate._policy.model import Target, TargetKind
from geogate._policy.nodes import ScalarNode
from geogate._world.countries import UNKNOWN_CODES

if TYPE_CHECKING:
    import datetime as dt

    from geogate._policy.diagnostics import Position
    from geogate._policy.fields import Reader
    from geogate._policy.nodes import Node
    from geogate._world.jurisdictions import JurisdictionTable

__all__ = ["read_ip", "read_places"]


def read_places(
    reader: Reader, table: JurisdictionTable, node: Node, where: str, field: str, day: dt.date
) -> list[tuple[str, Position, bool]] | None:
    """
    Read one place for *field*: the codes it stands for, with positions and a written flag.

    *field* is ``country``, ``subdivision``, ``domicile`` or ``location``
    (a table row: a country, a subdivision or a jurisdiction). A
    jurisdiction name stands for its members on *day* (written False): the
    subdivisions it holds as well (``OCCUPIED-UA`` gives ``UA-43``), except
    for a domicile, which is a country; a pseudo-code such as ``XX`` stands
    for an unknown place. Returns None, after
    saying why through *reader*, when the place cannot be read.
    """
    kinds = _FIELD_KINDS[field]
    what = " or ".join(_KIND_WORDS[kind] for kind in sorted(kinds, reverse=True))
    if not isinstance(node, ScalarNode) or not isinstance(node.value, str | bool):
        reader.wrong_type(node, where, what)
        return None
    if node.broken:
        return None
    upper = node.text.upper()
    if upper in UNKNOWN_CODES and upper not in table and TargetKind.COUNTRY in kinds:
        return [(upper, node.position, True)]
    target = Target.from_node(node, where, reader, table.jurisdictions)
    if target is None:
        return None
    if target.kind not in kinds:
        domicile = field == "domicile" and target.kind is TargetKind.SUBDIVISION
        reader.diagnose(
            node.position,
            Code.SUBDIVISION_DOMICILE if domicile else Code.WRONG_TYPE,
            f"{where} must be {what}, not {_KIND_WORDS[target.kind]} ({node.text!r})",
            hint=_KIND_HINTS[target.kind],
        )
        return None
    if target.kind is not TargetKind.JURISDICTION:
        return [(target.code, node.position, True)]
    members = sorted(table.members_at(target.code, day))
    if field == "domicile":
        # A domicile is a country: the regions a jurisdiction holds are not domiciles.
        members = [code for code in members if "-" not in code]
    if not members:
        what = "countries" if field == "domicile" else "members"
        reader.diagnose(
            node.position,
            Code.JURISDICTION_WITHOUT_MEMBERS,
            f"the jurisdiction {target.code!r} in {where} has no {what} on {day}, "
            "so it tests nothing",
            hint="name a date on which it has members, or list countries",
        )
        return None
    return [(code, node.position, False) for code in members]


def read_ip(reader: Reader, node: Node | None, where: str) -> str | None:
    """Read an IP address; None, after saying why through *reader*, when it is not one."""
    text = reader.text(node, where, required=True)
    if text is None or node is None:
        return None
    try:
        ipaddress.ip_address(text)
    except ValueError:
        reader.diagnose(
            node.position,
            Code.INVALID_IP,
            f"{where} is not an IPv4 or IPv6 address: {text!r}",
            hint="write an address such as 81.2.69.160 or 2a02:c7c::1 (no port, no network)",
        )
        return None
    return text


_KIND_WORDS = {
    TargetKind.SUBDIVISION: "a subdivision code",
    TargetKind.COUNTRY: "a country code",
    TargetKind.JURISDICTION: "a jurisdiction name",
}
_KIND_HINTS = {
    TargetKind.SUBDIVISION: "a subdivision goes under 'subdivision:' (a domicile is a country)",
    TargetKind.COUNTRY: "a country goes under 'country:'",
    TargetKind.JURISDICTION: "a jurisdiction goes under 'country:' or in an 'allow'/'deny' table",
}
_PLACES = frozenset({TargetKind.COUNTRY, TargetKind.JURISDICTION})
_FIELD_KINDS = {
    "country": _PLACES,
    "domicile": _PLACES,
    "subdivision": frozenset({TargetKind.SUBDIVISION}),
    "location": _PLACES | {TargetKind.SUBDIVISION},
}
