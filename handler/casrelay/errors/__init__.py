"""Errors are values: a code, a message and the fields at fault, built only in this package.

Every failure that can reach a caller is a ``RelayError``. They are grouped by who caused them:
the caller (``caller``), the deployment (``deployment``), CAS (``cas``), the ledger (``ledger``) and
a sink (``sink``). Field-level problems are ``FieldError`` values collected into one
``InvalidOrder`` so that a caller sees every mistake at once. Nothing else (no exception text, no
stack trace, no credential) is ever rendered, so building errors in this one package is what keeps
that promise checkable. How an error is shown is chosen elsewhere: HTTP statuses and headers in
``casrelay.response``, the stored form in ``values``.
"""

from .base import FieldError, InternalError, RelayError, internal_error
from .caller import (
    UNSIGNED_PARAMETER,
    BadRequest,
    IdempotencyConflict,
    InvalidOrder,
    MethodNotAllowed,
    PayloadTooLarge,
    RouteNotFound,
    Unauthenticated,
    UnreadableMessage,
    UnsignedInput,
    UnsupportedMediaType,
    bad_request,
    idempotency_conflict,
    invalid_order,
    method_not_allowed,
    payload_too_large,
    route_not_found,
    unauthenticated,
    unreadable_message,
    unsigned_input,
    unsupported_media_type,
)
from .cas import (
    NOT_ORDERED_CODE,
    CasError,
    CasFailed,
    CasOutcomeUnknown,
    CasRefused,
    CasThrottled,
    CasUnavailable,
    InstanceInUse,
    InstanceNotUsable,
    NoInstanceLeft,
    NoPackageLeft,
    NotOrdered,
    cas_failed,
    cas_outcome_unknown,
    cas_refused,
    cas_throttled,
    cas_unavailable,
    instance_in_use,
    instance_not_usable,
    no_instance_left,
    no_package_left,
    not_ordered,
    precheck_no_package,
)
from .deployment import MissingCredentials, NotConfigured, missing_credentials, not_configured
from .ledger import (
    LedgerUnavailable,
    OrderInProgress,
    OutcomePending,
    ledger_unavailable,
    order_in_progress,
    outcome_pending,
)
from .sink import DeliveryPending, delivery_pending

__all__ = [
    "NOT_ORDERED_CODE", "UNSIGNED_PARAMETER", "BadRequest", "CasError", "CasFailed", "CasOutcomeUnknown",
    "CasRefused", "CasThrottled", "CasUnavailable", "DeliveryPending", "FieldError", "IdempotencyConflict",
    "InstanceInUse", "InstanceNotUsable", "InternalError", "InvalidOrder", "LedgerUnavailable", "MethodNotAllowed",
    "MissingCredentials", "NoInstanceLeft", "NoPackageLeft", "NotConfigured", "NotOrdered", "OrderInProgress",
    "OutcomePending", "PayloadTooLarge", "RelayError", "RouteNotFound", "Unauthenticated", "UnreadableMessage",
    "UnsignedInput", "UnsupportedMediaType", "bad_request", "cas_failed", "cas_outcome_unknown", "cas_refused",
    "cas_throttled", "cas_unavailable", "delivery_pending", "idempotency_conflict", "instance_in_use",
    "instance_not_usable", "internal_error", "invalid_order", "ledger_unavailable", "method_not_allowed",
    "missing_credentials", "no_instance_left", "no_package_left", "not_configured", "not_ordered",
    "order_in_progress", "outcome_pending", "payload_too_large", "precheck_no_package", "route_not_found",
    "unauthenticated", "unreadable_message", "unsigned_input", "unsupported_media_type",
]
