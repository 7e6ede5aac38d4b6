"""
geogate: decide whether a model or feature may be offered to a request, by jurisdiction.

    >>> from geogate import Gate
    >>> gate = Gate.from_path("policies")  # doctest: +SKIP
    >>> gate.is_allowed("llama-3.2-vision", country="GB")  # doctest: +SKIP
    True
"""

from __future__ import annotations

from ._engine.decision import Decision, ErrorCode, Reason
from ._gate.context import current_location
from ._gate.decisionlog import (
    DecisionLog,
    DecisionSink,
    FileSink,
    LoggerSink,
    decision_log_schema,
)
from ._gate.gate import Gate
from ._gate.parquetsink import ParquetSink
from ._gate.reload import ReloadResult
from ._load.loader import check_paths, load_policies
from ._locate.geo import GeoDatabase, GeoResult
from ._locate.providers import PROVIDERS, provider
from ._locate.request import RequestLocation, RequestResolver
from ._policy.diagnostics import Diagnostic, Position
from ._policy.model import Basis, Effect, Feature, PolicySet, Rule, RuleKind, Target, TargetKind
from ._version import __version__  # written once, there; hatch reads it for the metadata
from ._world.countries import LocationStatus
from ._world.jurisdictions import Jurisdiction, JurisdictionTable, Span, builtin_jurisdictions
from .exceptions import (
    DecisionLogError,
    GeoDatabaseError,
    GeogateError,
    PolicyError,
    RevisionMismatchError,
    UnknownFeatureError,
)

__all__ = [
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
]
