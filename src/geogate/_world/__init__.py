"""
Places and dates: ISO 3166 countries and subdivisions, and dated jurisdictions.

The bottom layer: it knows no policy. It may import only `geogate.exceptions`.
"""
