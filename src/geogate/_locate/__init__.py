"""
Locating a request: headers, CDN providers, trusted proxies and GeoIP to a location.

Knows no policy and no engine. May import `_world` (and `geogate.exceptions`).
"""
