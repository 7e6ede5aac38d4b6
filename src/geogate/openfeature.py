"""
OpenFeature integration: a provider for the ``openfeature-sdk`` package.

``GeogateProvider`` answers boolean flags from a `geogate.Gate`; the flag key
is the feature id, and the evaluation context's ``country``,
``subdivision``, ``domicile`` and ``ip`` attributes are the location (with
none of them, the location of the request being handled, set by the web
middleware)::

    from openfeature import api
    from geogate.openfeature import GeogateProvider

    api.set_provider_and_wait(GeogateProvider(gate))
    client = api.get_client()
    if client.get_boolean_value("llama-3.2-vision", False, context):  # False: see below
        ...

It fails closed. An unknown, invalid or malformed location is a decision,
not an error: it resolves to the gate's answer (the feature's ``unknown``
effect, or a deny for a malformed IP or a wrong-typed attribute) with
``value=False`` unless the policy allows it. The OpenFeature error path, on
which the SDK hands back the caller's default value, is used only for an
unknown flag (``FLAG_NOT_FOUND``) and a non-boolean lookup
(``TYPE_MISMATCH``), and that default should be ``False``.

Details of a resolution:

- ``value``: whether the feature may be offered; ``variant``: ``allow`` or ``deny``.
- ``reason``: ``TARGETING_MATCH`` when a rule decided, ``DEFAULT`` when the
  feature's default or its ``unknown`` setting decided, ``ERROR`` when the
  gate denied because the input could not be used (a wrong-typed attribute,
  a malformed IP, no GeoIP database, rules that tie). An ``ERROR``
  resolution carries no OpenFeature error code, on purpose: the SDK would
  replace its ``False`` with the caller's default. Its ``error_message`` is
  the gate's explanation and ``flag_metadata["error_code"]`` the gate's code.
- ``flag_metadata``: ``rule`` and ``source`` (the rule's ``source:``, a URL
  or a citation) only when a rule decided; always ``jurisdictions`` (the
  names containing the decided country, most specific first,
  comma-separated; ``""`` when the location is unknown), ``revision``,
  ``explanation`` and ``location`` (``known``, ``unknown`` or ``invalid``);
  ``error_code`` only with reason ``ERROR``. A key that does not apply is
  left out rather than given an empty value. Resolutions are cached per
  decision and shared between calls: treat the metadata as read-only (the
  SDK types it as a ``Mapping``).

The provider emits ``PROVIDER_CONFIGURATION_CHANGED`` after the gate has
successfully reloaded its policies (a reload that fails, and so keeps the
policy revision, emits nothing), with ``flags_changed`` naming the features
whose definition changed and ``metadata["revision"]`` the new revision.
"""

from __future__ import annotations

import difflib
import threading
from typing import TYPE_CHECKING, Final, TypeVar

from ._engine.decision import ErrorCode as _GateErrorCode
from ._engine.decision import Reason as _GateReason
from ._engine.decision import short_revision
from ._world.countries import describe_value
from .exceptions import UnknownFeatureError

try:
    from openfeature.event import ProviderEventDetails
    from openfeature.exception import ErrorCode
    from openfeature.flag_evaluation import FlagResolutionDetails, Reason
    from openfeature.provider import AbstractProvider, Metadata
except ImportError as error:  # pragma: no cover (the test extra installs the SDK)
    msg = (
        "geogate.openfeature needs the OpenFeature SDK, which is not installed; "
        "install the extra: pip install 'geogate[openfeature]' "
        "(from a checkout: pip install -e '.[openfeature]')"
    )
    raise ImportError(msg, name=error.name) from error

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from openfeature.evaluation_context import EvaluationContext, EvaluationContextAttribute
    from openfeature.flag_evaluation import FlagValueType

    from ._engine.decision import Decision
    from ._gate.gate import Gate
    from ._gate.reload import ReloadResult
    from ._policy.model import PolicySet

__all__ = ["GeogateProvider"]

T = TypeVar("T")

#: How many resolutions are kept, one per distinct decision object; the cache
#: is emptied when full. Decisions for today are memoised by the gate and shared
#: between spellings and addresses of one place, so a few thousand cover a policy
#: set's features times every country and subdivision.
_MAX_CACHED: Final = 16_384
_NO_ATTRIBUTES: Mapping[str, EvaluationContextAttribute] = {}
_REASONS: Final = {
    _GateReason.TARGETING_MATCH: Reason.TARGETING_MATCH,
    _GateReason.DEFAULT: Reason.DEFAULT,
    _GateReason.ERROR: Reason.ERROR,
}


class GeogateProvider(AbstractProvider):
    """
    An OpenFeature provider that answers boolean flags from a `geogate.Gate`.

    Args:
        gate: The gate to ask. While the provider is registered with the SDK,
            it listens to the gate's reloads (`geogate.Gate.reload`, or a
            watcher) and emits ``PROVIDER_CONFIGURATION_CHANGED`` after each
            one that swapped the policies.
    """

    def __init__(self, gate: Gate) -> None:
        super().__init__()
        self._gate = gate
        self._metadata = Metadata(name="geogate")
        self._cache: dict[int, tuple[Decision, FlagResolutionDetails[bool]]] = {}
        self._lock = threading.Lock()
        self._revision = gate.revision
        self._policy: PolicySet = gate.policy
        self._listener: Callable[[ReloadResult], None] = self._reloaded
        self._listening = False

    @property
    def gate(self) -> Gate:
        """The gate this provider asks (read-only)."""
        return self._gate

    def __repr__(self) -> str:
        return f"GeogateProvider({self._gate!r})"

    def get_metadata(self) -> Metadata:
        """Return the provider's metadata: its name is ``geogate``."""
        return self._metadata

    # Life cycle: listen to the gate's reloads while registered with the SDK.

    def initialize(self, evaluation_context: EvaluationContext) -> None:  # noqa: ARG002 (SDK signature)
        """Start listening to the gate's reloads (called by the SDK on registration)."""
        with self._lock:
            self._revision = self._gate.revision
            self._policy = self._gate.policy
            if self._listening:
                return
            self._listening = True
        self._gate.add_reload_listener(self._listener)

    def shutdown(self) -> None:
        """Stop listening to the gate's reloads (called by the SDK when replaced)."""
        with self._lock:
            listening, self._listening = self._listening, False
        if listening:
            self._gate.remove_reload_listener(self._listener)
        self._cache.clear()

    def _reloaded(self, result: ReloadResult) -> None:
        """
        Emit ``PROVIDER_CONFIGURATION_CHANGED`` after a reload that swapped the policies.

        The gate calls this after each reload that swapped its policies or
        failed; a failed one keeps the revision, so it emits nothing.
        """
        if not result.ok:
            return
        policy = self._gate.policy
        with self._lock:
            if not self._listening or policy.revision == self._revision:
                return
            previous, self._policy, self._revision = self._policy, policy, policy.revision
        self._cache.clear()
        self.emit_provider_configuration_changed(
            ProviderEventDetails(
                flags_changed=_changed(previous, policy),
                message=f"geogate policies reloaded: revision {short_revision(policy.revision)}",
                metadata={"revision": policy.revision},
            )
        )

    # Evaluation

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        """
        Decide feature *flag_key* for the context's location.

        Never raises. Only an unknown feature id resolves through the error
        path (``FLAG_NOT_FOUND``, the SDK returns *default_value*); every other
        problem is a denying resolution (see the module's documentation).
        """
        attributes = _NO_ATTRIBUTES if evaluation_context is None else evaluation_context.attributes
        try:
            get = attributes.get
            decision = self._gate.evaluate(
                flag_key,
                country=get("country"),
                subdivision=get("subdivision"),
                domicile=get("domicile"),
                ip=get("ip"),
            )
        except UnknownFeatureError as error:  # a strict gate
            return _error(default_value, ErrorCode.FLAG_NOT_FOUND, str(error))
        except Exception as error:  # noqa: BLE001 (fail closed: the SDK would return the default)
            return _failed(f"{type(error).__name__}: {error}")
        cached = self._cache.get(id(decision))
        if cached is not None and cached[0] is decision:
            return cached[1]
        if decision.error_code is _GateErrorCode.FLAG_NOT_FOUND:
            return self._not_found(flag_key, default_value)
        details = _details(decision)
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        # Holding the decision keeps its id from being reused while cached.
        self._cache[id(decision)] = (decision, details)
        return details

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,  # noqa: ARG002 (SDK signature)
    ) -> FlagResolutionDetails[str]:
        """Answer ``TYPE_MISMATCH`` (or ``FLAG_NOT_FOUND``): geogate flags are boolean."""
        return self._not_boolean(flag_key, default_value, "string")

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,  # noqa: ARG002 (SDK signature)
    ) -> FlagResolutionDetails[int]:
        """Answer ``TYPE_MISMATCH`` (or ``FLAG_NOT_FOUND``): geogate flags are boolean."""
        return self._not_boolean(flag_key, default_value, "integer")

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,  # noqa: ARG002 (SDK signature)
    ) -> FlagResolutionDetails[float]:
        """Answer ``TYPE_MISMATCH`` (or ``FLAG_NOT_FOUND``): geogate flags are boolean."""
        return self._not_boolean(flag_key, default_value, "float")

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,  # noqa: ARG002 (SDK signature)
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        """Answer ``TYPE_MISMATCH`` (or ``FLAG_NOT_FOUND``): geogate flags are boolean."""
        return self._not_boolean(flag_key, default_value, "object")

    def _not_boolean(self, flag_key: str, default_value: T, kind: str) -> FlagResolutionDetails[T]:
        if not isinstance(flag_key, str) or flag_key not in self._gate.policy.features:
            return self._not_found(flag_key, default_value)
        return _error(
            default_value,
            ErrorCode.TYPE_MISMATCH,
            f"geogate feature {flag_key!r} is a boolean flag, asked for as {kind}; "
            "use get_boolean_value or get_boolean_details",
        )

    def _not_found(self, flag_key: object, default_value: T) -> FlagResolutionDetails[T]:
        policy = self._gate.policy
        message = (
            f"no feature {describe_value(flag_key)} in policy {short_revision(policy.revision)}"
        )
        if isinstance(flag_key, str):
            close = difflib.get_close_matches(flag_key, list(policy.features), n=1)
            if close:
                message += f"; did you mean {close[0]!r}?"
        return _error(default_value, ErrorCode.FLAG_NOT_FOUND, message)


def _details(decision: Decision) -> FlagResolutionDetails[bool]:
    """Translate a decision into OpenFeature resolution details (never the error path)."""
    metadata: dict[str, bool | int | float | str] = {}
    if decision.rule is not None:
        metadata["rule"] = decision.rule
    if decision.citation is not None:
        metadata["source"] = decision.citation
    metadata["jurisdictions"] = ",".join(decision.jurisdictions)
    metadata["revision"] = decision.revision
    metadata["explanation"] = decision.explanation
    metadata["location"] = str(decision.location)
    message = None
    if decision.reason is _GateReason.ERROR:
        metadata["error_code"] = str(decision.error_code or _GateErrorCode.GENERAL)
        message = decision.explanation
    return FlagResolutionDetails(
        value=decision.allowed,
        reason=_REASONS[decision.reason],
        variant="allow" if decision.allowed else "deny",
        flag_metadata=metadata,
        error_message=message,
    )


def _failed(problem: str) -> FlagResolutionDetails[bool]:
    """Deny, without the error path, when the gate broke its promise not to raise."""
    return FlagResolutionDetails(
        value=False,
        reason=Reason.ERROR,
        variant="deny",
        flag_metadata={"error_code": str(_GateErrorCode.GENERAL), "location": "unknown"},
        error_message=f"the gate raised {problem}; denying",
    )


def _error(default_value: T, code: ErrorCode, message: str) -> FlagResolutionDetails[T]:
    """Resolve through the error path: the SDK returns the caller's default value."""
    return FlagResolutionDetails(
        value=default_value, reason=Reason.ERROR, error_code=code, error_message=message
    )


def _changed(previous: PolicySet, current: PolicySet) -> list[str]:
    """
    Name the features whose definition differs between two policy sets, sorted.

    Every feature counts as changed when the jurisdictions changed (their
    membership decides). Positions in the files are not compared.
    """
    if previous.jurisdictions.jurisdictions != current.jurisdictions.jurisdictions:
        return sorted({*previous.features, *current.features})
    return sorted(
        fid
        for fid in {*previous.features, *current.features}
        if previous.features.get(fid) != current.features.get(fid)
    )
