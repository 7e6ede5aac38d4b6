"""
HTTP 451 responses for denied requests, shared by the ASGI and WSGI integrations.

The body is an RFC 9457 problem document (``application/problem+json``)
whose ``detail`` is the decision's explanation; where the deciding rule cites
a web page, an RFC 7725 ``Link: <...>; rel="blocked-by"`` header points at it.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from geogate._engine.decision import Decision

__all__ = ["STATUS", "FeatureDenied", "problem"]

STATUS = 451
_REASON = "Unavailable For Legal Reasons"
#: A citation becomes a Link header only when it is a plain http(s) URL.
_LINKABLE = re.compile(r"https?://[!#-;=?-\[\]_a-z~]+", re.IGNORECASE)


class FeatureDenied(Exception):  # noqa: N818 (it is an outcome, not an error)
    """
    Raised by a guard when the current request may not use a feature.

    The geogate middleware turns it into a 451 response.

    Attributes:
        decision: The denying decision.
    """

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        super().__init__(decision.explanation)


def problem(decision: Decision) -> tuple[int, list[tuple[str, str]], bytes]:
    """Return the status, headers and body of the 451 response for *decision*."""
    body = {
        "type": "about:blank",
        "title": _REASON,
        "status": STATUS,
        "detail": decision.explanation,
        "feature": decision.feature,
        "country": decision.country,
        "subdivision": decision.subdivision,
        "jurisdictions": list(decision.jurisdictions),
        "rule": decision.rule,
        "revision": decision.revision,
        "as_of": decision.as_of.isoformat(),
    }
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = [
        ("content-type", "application/problem+json"),
        ("content-length", str(len(data))),
        ("cache-control", "no-store"),
    ]
    if decision.citation and _LINKABLE.fullmatch(decision.citation):
        headers.append(("link", f'<{decision.citation}>; rel="blocked-by"'))
    return STATUS, headers, data
