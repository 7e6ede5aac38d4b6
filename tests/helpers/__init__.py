"""
What the tests share besides fixtures: paths, builders and strategies.

``pyproject.toml`` puts ``tests/`` on ``sys.path`` (``pythonpath``), so a test
imports ``from helpers.paths import POLICIES`` from any folder. Fixtures live in
the ``conftest.py`` files instead; these are plain modules a test imports.

- `paths`: the repository, the shipped policies and the test data;
- `gates`: a gate of one feature ``f`` from a few lines of rules;
- `properties`: Hypothesis settings scaled by the active profile;
- `mmdb`: small GeoIP databases (also used by ``fuzz/``);
- `policygen`: random policy sets for Hypothesis;
- `diffcheck`: the diff's law, checked against ``Gate.evaluate``.
"""
