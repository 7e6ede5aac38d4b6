"""
The web integrations' shared core: the middleware and problem documents.

Used by `geogate.asgi` and `geogate.wsgi`. May import every layer below it
(`_policytests` down to `_world`).
"""
