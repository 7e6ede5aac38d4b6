"""
Which peers are trusted proxies, and the client address they forward.

The client address is the peer itself unless the peer is inside the
configured ``trusted_proxies`` networks; then the configured forwarding header
(``X-Forwarded-For`` or RFC 7239 ``Forwarded``, never both) is walked from the
right, through trusted proxies only. An entry that is not an address stops the
walk: the client address is then unknown rather than chosen by whoever wrote
the left part of the header.

Nothing here raises for anything in a request; only a ``trusted_proxies``
entry that is not an address or network raises, when it is parsed.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, TypeAlias

import attrs

from geogate._world.countries import describe_value, with_article

from .headers import TOKEN_CHARACTERS, HeaderMap

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "MAX_CHAIN_ENTRIES",
    "Address",
    "Network",
    "Peer",
    "TrustedProxies",
]

#: The most entries of a forwarding header walked through.
MAX_CHAIN_ENTRIES = 64

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

_OBFUSCATED = frozenset("._-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_MAPPED_V4 = ipaddress.IPv6Network("::ffff:0:0/96")
_V4_BITS = 32
_V6_BITS = 128

_FORWARDING_HEADERS = {"x-forwarded-for": "X-Forwarded-For", "forwarded": "Forwarded"}


@attrs.frozen
class Peer:
    """
    The peer that connected, and whether its headers count.

    Attributes:
        address: The peer's address, or None when it is not an address.
        trusted: Whether the peer is inside a trusted network.
        why_untrusted: Why the peer's headers do not count, when they do not.
    """

    address: Address | None
    trusted: bool
    why_untrusted: str


@attrs.frozen
class TrustedProxies:
    """
    The trusted proxy networks and the forwarding header they append to.

    Attributes:
        networks: The trusted networks (IPv4-mapped IPv6 networks as IPv4).
        forwarded: ``"x-forwarded-for"``, ``"forwarded"`` or ``"none"``.
    """

    networks: tuple[Network, ...]
    forwarded: str

    @classmethod
    def from_entries(cls, entries: Iterable[object], forwarded: str) -> TrustedProxies:
        """
        Parse the ``trusted_proxies`` entries; a network given twice counts once.

        Raises:
            ValueError: For an entry that is not an IP address or a CIDR network.
        """
        return cls(tuple(dict.fromkeys(_network(entry) for entry in entries)), forwarded)

    @property
    def header(self) -> str | None:
        """The name of the forwarding header, or None for ``"none"``."""
        return _FORWARDING_HEADERS.get(self.forwarded)

    def _trusted(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def peer(self, peer: object) -> Peer:
        """Parse the peer address and say whether it is a trusted proxy."""
        address = _address(peer)
        if address is None:
            why = (
                "the peer address is unknown"
                if peer is None
                else f"the peer address {describe_value(peer)} is not an IP address"
            )
            return Peer(None, trusted=False, why_untrusted=why)
        trusted = self._trusted(address)
        return Peer(
            address, trusted=trusted, why_untrusted=f"the peer {address} is not a trusted proxy"
        )

    def client(self, headers: HeaderMap, peer: Peer) -> tuple[Address | None, str | None]:
        """Return the client address, or None and why it is unknown."""
        if not peer.trusted or self.forwarded == "none":
            return peer.address, None if peer.address is not None else peer.why_untrusted
        address, problem = self._walk(headers, peer)
        if address is None:
            return None, f"{problem}, so the client address is unknown"
        return address, None

    def _walk(self, headers: HeaderMap, peer: Peer) -> tuple[Address | None, str | None]:
        """Walk the forwarding header from the right, through trusted proxies."""
        header = _FORWARDING_HEADERS[self.forwarded]
        if headers.damaged is not None:
            return None, f"the headers could not be read: {headers.damaged}"
        problem = headers.problem(header)
        if problem is not None:
            return None, problem
        lines = headers.get_all(header)
        if not lines:
            return peer.address, None
        entries = _chain(header, lines)
        address: Address | None = None
        for walked, (entry, unusable) in enumerate(reversed(entries)):
            if walked == MAX_CHAIN_ENTRIES:
                return None, f"{header} has more than {MAX_CHAIN_ENTRIES} trusted entries"
            if entry is None:
                return None, unusable
            address, problem = _node(entry, header, bare_ipv6=header != "Forwarded")
            if address is None:
                return None, problem
            if not self._trusted(address):
                return address, None
        return address, None  # every hop is trusted: the leftmost is the client


def _address(value: object) -> Address | None:
    """Parse an address; IPv4-mapped IPv6 becomes IPv4 and a zone id is dropped."""
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        address: Address = value
    elif isinstance(value, str) and value.isascii() and len(value) <= 64:  # noqa: PLR2004
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return None
    else:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.scope_id is not None:
            return ipaddress.IPv6Address(int(address))
    return address


def _network(entry: object) -> Network:
    """Parse one ``trusted_proxies`` entry; ValueError with a message a person can act on."""
    network: Network
    if isinstance(entry, ipaddress.IPv4Network | ipaddress.IPv6Network):
        network = entry
    elif isinstance(entry, ipaddress.IPv4Address | ipaddress.IPv6Address):
        network = ipaddress.ip_network(entry)
    elif isinstance(entry, str):
        try:
            network = ipaddress.ip_network(entry)
        except ValueError as error:
            try:
                loose = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                msg = (
                    f"trusted proxy {describe_value(entry)} is not an IP address or a CIDR "
                    f"network ({error}); expected e.g. '10.0.0.0/8', '2001:db8::/32' or "
                    "'192.0.2.7'"
                )
                raise ValueError(msg) from None
            msg = (
                f"trusted proxy {entry!r} has bits set past its prefix length; "
                f"did you mean {str(loose)!r}?"
            )
            raise ValueError(msg) from None
    else:
        msg = (
            f"trusted proxy {describe_value(entry)} is {with_article(type(entry).__name__)}; "
            "expected a string such as '10.0.0.0/8'"
        )
        raise ValueError(msg)  # noqa: TRY004 (configuration errors are ValueErrors here)
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED_V4):
        # Peers are compared as IPv4, so an IPv4-mapped network is one too.
        start = int(network.network_address) & 0xFFFFFFFF
        prefix = network.prefixlen - (_V6_BITS - _V4_BITS)
        return ipaddress.IPv4Network((start, prefix))
    return network


def _node(text: str, header: str, *, bare_ipv6: bool) -> tuple[Address | None, str | None]:
    """
    Parse one forwarding entry: ``192.0.2.7``, ``192.0.2.7:443``, ``[2001:db8::1]:443``.

    Returns the address, or None and why the entry is not one.
    """
    if not text:
        return None, f"{header} has an empty entry"
    if text.lower() == "unknown":
        return None, f"{header} has 'unknown' in place of an address"
    if text.startswith("_"):
        return None, (
            f"{header} has the obfuscated identifier {describe_value(text)} in place of an address"
        )
    host, colon, port = text, "", ""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        colon, port = rest[:1], rest[1:]
        if not bracket or colon not in {"", ":"} or ":" not in host:
            host = ""  # unclosed, followed by something else, or a bracketed IPv4 address
    elif text.count(":") == 1:
        host, colon, port = text.partition(":")
    elif ":" in text and not bare_ipv6:
        host = ""  # RFC 7239 puts IPv6 addresses in brackets
    valid_port = not colon or _is_port(port)
    address = _address(host) if valid_port and "%" not in host else None
    if address is None:
        return None, f"{header} has {describe_value(text)}, which is not an IP address"
    return address, None


def _is_port(port: str) -> bool:
    """RFC 7239 ``node-port``: 1 to 5 digits, or ``_`` and an obfuscated port."""
    if port.isascii() and port.isdigit():
        return len(port) <= 5  # noqa: PLR2004
    return port[:1] == "_" and len(port) > 1 and all(char in _OBFUSCATED for char in port)


def _split_quoted(text: str, separator: str) -> list[str] | None:
    """Split on *separator* outside quoted strings; None for an unterminated quote."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == separator:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quoted:
        return None
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str | None:
    if not value.startswith('"'):
        return value if '"' not in value else None
    if len(value) < 2 or not value.endswith('"'):  # noqa: PLR2004
        return None
    body, out, escaped = value[1:-1], [], False
    for char in body:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return None
        else:
            out.append(char)
    return None if escaped else "".join(out)


def _forwarded_for(element: str) -> tuple[str | None, str | None]:
    """Return the ``for=`` value of one RFC 7239 element, or why there is none."""
    pairs = _split_quoted(element, ";")
    if pairs is None:
        return None, "Forwarded has an unterminated quoted string"
    found: dict[str, str] = {}
    for pair in pairs:
        if not pair.strip(" \t"):
            continue
        key, equals, value = pair.partition("=")
        key = key.strip(" \t").lower()
        unquoted = _unquote(value.strip(" \t"))
        if (
            not equals
            or not key
            or not all(char in TOKEN_CHARACTERS for char in key)
            or unquoted is None
        ):
            return None, f"Forwarded has {describe_value(pair.strip())}, which is not a parameter"
        if key in found:
            return None, f"Forwarded has {key}= twice in one element"
        found[key] = unquoted
    if not found:
        return None, "Forwarded has an empty element"
    if "for" not in found:
        return None, "Forwarded has an element without for="
    return found["for"], None


def _chain(header: str, lines: list[str]) -> list[tuple[str | None, str | None]]:
    """Split forwarding header lines into entries, in order: (entry, None) or (None, problem)."""
    entries: list[tuple[str | None, str | None]] = []
    for line in lines:
        if header == "Forwarded":
            elements = _split_quoted(line, ",")
            if elements is None:  # a quote left open swallows the rest of the line
                entries.append((None, "Forwarded has an unterminated quoted string"))
                continue
            entries.extend(_forwarded_for(element) for element in elements)
        else:
            entries.extend((entry.strip(" \t"), None) for entry in line.split(","))
    return entries
