"""The public API: `geogate.__all__` is pinned so it cannot drift by accident."""

from __future__ import annotations

import geogate


def test_all_is_pinned():
    """`geogate.__all__` lists exactly these names, sorted."""
    assert [
        "PROVIDERS",
        "Basis",
        "Decision",
        "DecisionLog",
        "DecisionLogError",
        "DecisionSink",
        "Diagnostic",
        "Effect",
        "ErrorCode",
        "Feature",
        "FileSink",
        "Gate",
        "GeoDatabase",
        "GeoDatabaseError",
        "GeoResult",
        "GeogateError",
        "Jurisdiction",
        "JurisdictionTable",
        "LocationStatus",
        "LoggerSink",
        "ParquetSink",
        "PolicyError",
        "PolicySet",
        "Position",
        "Reason",
        "ReloadResult",
        "RequestLocation",
        "RequestResolver",
        "RevisionMismatchError",
        "Rule",
        "RuleKind",
        "Span",
        "Target",
        "TargetKind",
        "UnknownFeatureError",
        "__version__",
        "builtin_jurisdictions",
        "check_paths",
        "current_location",
        "decision_log_schema",
        "load_policies",
        "provider",
    ] == geogate.__all__


def test_every_exported_name_exists():
    """Every name in `__all__` is importable from `geogate`."""
    missing = [name for name in geogate.__all__ if not hasattr(geogate, name)]
    assert [] == missing


def test_exported_members_live_in_private_modules_or_the_package():
    """Public classes and functions are defined in geogate's own modules."""
    for name in geogate.__all__:
        member = getattr(geogate, name)
        module = getattr(member, "__module__", "geogate")
        assert module == "geogate" or module.startswith("geogate."), name


def test_version():
    """`__version__` is a version string."""
    assert isinstance(geogate.__version__, str)
    assert geogate.__version__[0].isdigit()


def test_exception_tree():
    """One root: every geogate exception derives from GeogateError."""
    assert issubclass(geogate.PolicyError, geogate.GeogateError)
    assert issubclass(geogate.GeoDatabaseError, geogate.GeogateError)
    assert issubclass(geogate.UnknownFeatureError, geogate.GeogateError)
    assert issubclass(geogate.UnknownFeatureError, LookupError)
