"""Errors are values: a field, a code and a message, built only here.

Every failure that can reach a caller is a ``RelayError`` with an HTTP status, a stable ``code``
and a message written for the caller. Field-level problems are ``FieldError`` values collected into
one ``InvalidOrder`` so that a caller sees every mistake at once. Nothing else (no exception text,
no stack trace, no credential) is ever rendered, so building errors in this one module is what keeps
that promise checkable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field; ``field`` uses the API's own parameter name."""

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"Field": self.field, "Code": self.code, "Message": self.message}


@dataclass
class RelayError(Exception):
    """Base of every failure a caller may see.

    ``transient`` tells a queue trigger whether redelivery may succeed (throttling, CAS or a sink
    being down) or whether the record is permanently bad and must be acknowledged.
    """

    status: int
    code: str
    message: str
    errors: tuple[FieldError, ...] = ()
    retry_after: int | None = None
    transient: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    cas_request_id: str | None = None
    #: CAS's own error code, when CAS answered; retry decisions read it.
    cas_code: str | None = None
    #: What the order was (key, domains, product), for the one log line; never rendered to a caller.
    log_fields: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# --- caller mistakes -------------------------------------------------------------------------


class InvalidOrder(RelayError):
    """The order breaks one or more rules of the API document or of host-name and contact syntax."""


def invalid_order(errors: Iterable[FieldError]) -> InvalidOrder:
    errs = tuple(errors)
    fields = ", ".join(dict.fromkeys(e.field for e in errs))
    return InvalidOrder(400, "InvalidParameter", f"the order has {len(errs)} invalid field(s): {fields}", errs)


class BadRequest(RelayError):
    """The request itself (not the order inside it) cannot be read."""


def bad_request(message: str, field_name: str = "body") -> BadRequest:
    return BadRequest(400, "MalformedRequest", message, (FieldError(field_name, "Malformed", message),))


class UnreadableMessage(BadRequest):
    """One queue message that cannot even be read into an order.

    It is its own type so that a batch can set that one message aside as permanently bad (redelivery
    would bring the same bytes back) while the other orders in the batch proceed.
    """


def unreadable_message(field_name: str, problem: str, code: str = "Malformed") -> UnreadableMessage:
    """``problem`` completes a sentence about ``field_name`` ("data.messageBody" + "is not JSON ...")."""
    return UnreadableMessage(400, "MalformedMessage", f"{field_name} {problem}",
                             (FieldError(field_name, code, problem),))


class Unauthenticated(RelayError):
    """A webhook request without a valid Standard Webhooks signature."""


def unauthenticated(reason: str) -> Unauthenticated:
    return Unauthenticated(
        401, "Unauthenticated", reason, headers={"WWW-Authenticate": 'StandardWebhooks realm="casrelay"'}
    )


class UnsignedInput(BadRequest):
    """A signed request that carries an order input outside what its signature covers.

    Standard Webhooks signs ``webhook-id.webhook-timestamp.body`` and nothing else, so a query
    parameter or an ``Idempotency-Key`` header could be changed or added by anyone who holds one
    signed request: each such resend would be a new paid order.
    """


#: The ``Code`` of ``UnsignedInput``; also each of its field errors' code.
UNSIGNED_PARAMETER = "UnsignedParameter"


def unsigned_input(fields: Iterable[tuple[str, str]]) -> UnsignedInput:
    """``fields`` holds (parameter, what is wrong with it) pairs; the parameter names come from the
    request, so each is cut short."""
    errs = tuple(FieldError(name if len(name) <= 64 else name[:61] + "...", UNSIGNED_PARAMETER, problem)
                 for name, problem in fields)
    names = ", ".join(dict.fromkeys(e.field for e in errs))
    return UnsignedInput(
        400, UNSIGNED_PARAMETER,
        f"{len(errs)} order input(s) outside the signed body: {names}. The query string and the "
        "Idempotency-Key header are not covered by the Standard Webhooks signature (it signs "
        "webhook-id.webhook-timestamp.body only), so with WEBHOOK_AUTH=standard every order parameter, "
        "IdempotencyKey included, must go in the signed body; the query string may only repeat the body's "
        "values exactly, or carry Format",
        errs,
    )


class RouteNotFound(RelayError):
    pass


def route_not_found(path: str) -> RouteNotFound:
    shown = path if len(path) <= 80 else path[:77] + "..."
    return RouteNotFound(404, "NotFound", f"no route {shown!r}; orders are POSTed to /")


class MethodNotAllowed(RelayError):
    pass


def method_not_allowed(method: str, allowed: str) -> MethodNotAllowed:
    return MethodNotAllowed(
        405, "MethodNotAllowed", f"{method[:16]} is not allowed here; use {allowed}", headers={"Allow": allowed}
    )


class PayloadTooLarge(RelayError):
    pass


def payload_too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(413, "PayloadTooLarge", f"the body has {size} bytes; the limit is {limit}")


class UnsupportedMediaType(RelayError):
    pass


def unsupported_media_type(content_type: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        415,
        "UnsupportedMediaType",
        f"Content-Type {content_type[:60]!r} is not supported; send application/json or "
        "application/x-www-form-urlencoded",
    )


# --- deployment mistakes ---------------------------------------------------------------------


class NotConfigured(RelayError):
    """The function cannot serve safely as configured (for instance, webhook auth with no secret)."""


def not_configured(message: str) -> NotConfigured:
    return NotConfigured(503, "NotConfigured", message)


class MissingCredentials(RelayError):
    pass


def missing_credentials() -> MissingCredentials:
    # Transient on purpose: once the role is fixed, a redelivery orders; acknowledging would lose the order.
    return MissingCredentials(
        503,
        "MissingCredentials",
        "the function has no Alibaba Cloud credentials: give it a role, or set ALIBABA_CLOUD_ACCESS_KEY_ID "
        "and ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        transient=True,
    )


# --- CAS outcomes ----------------------------------------------------------------------------


class CasError(RelayError):
    """CAS answered, or failed to answer, the signed call; ``cas_code`` keeps CAS's own code."""


class CasThrottled(CasError):
    pass


class CasRefused(CasError):
    """CAS looked at the order and said no; ordering again will not help (permanent)."""


class CasUnavailable(CasError):
    """CAS did not act: the request never arrived or CAS said it was temporarily unavailable."""


class CasFailed(CasError):
    """CAS failed in a way the caller cannot fix, such as the function's own credentials being refused."""


class CasOutcomeUnknown(CasError):
    """The request was sent and no answer came back: an order may or may not exist."""


def cas_throttled(cas_code: str, retry_after: int, request_id: str | None) -> CasThrottled:
    return CasThrottled(
        429,
        "Throttling",
        f"CAS throttled the call ({cas_code}); retry after {retry_after} s",
        retry_after=retry_after,
        transient=True,
        headers={"Retry-After": str(retry_after)},
        cas_request_id=request_id,
        cas_code=cas_code,
    )


def cas_refused(status: int, cas_code: str, message: str, request_id: str | None,
                errors: tuple[FieldError, ...] = ()) -> CasRefused:
    return CasRefused(status, cas_code, message, errors=errors, cas_request_id=request_id, cas_code=cas_code)


def cas_unavailable(message: str, request_id: str | None = None, retry_after: int = 1,
                    cas_code: str | None = None) -> CasUnavailable:
    return CasUnavailable(
        503,
        "CasUnavailable",
        message,
        retry_after=retry_after,
        transient=True,
        headers={"Retry-After": str(retry_after)},
        cas_request_id=request_id,
        cas_code=cas_code,
    )


def cas_failed(cas_code: str, message: str, request_id: str | None) -> CasFailed:
    return CasFailed(502, "CasFailed", f"CAS refused the function's call ({cas_code}): {message}",
                     cas_request_id=request_id, transient=True, cas_code=cas_code)


def cas_outcome_unknown(message: str, request_id: str | None = None, status: int = 504) -> CasOutcomeUnknown:
    """504 when no answer came back; 502 when CAS answered with a server error after taking the order."""
    return CasOutcomeUnknown(status, "CasOutcomeUnknown", message, cas_request_id=request_id)


def internal_error() -> RelayError:
    """The one answer for a bug: it says nothing about the bug, which only the log describes."""
    return RelayError(500, "InternalError", "casrelay failed unexpectedly; the error has been logged")


# --- the ledger ------------------------------------------------------------------------------


class OrderInProgress(RelayError):
    """Another invocation holds the key; the caller should come back shortly."""


def order_in_progress(retry_after: int) -> OrderInProgress:
    return OrderInProgress(
        409, "OrderInProgress", "this order is being placed by another request; retry shortly",
        retry_after=retry_after, transient=True, headers={"Retry-After": str(retry_after)},
    )


class IdempotencyConflict(RelayError):
    """The key was used before for a different order; answering with the old result would mislead."""


def idempotency_conflict() -> IdempotencyConflict:
    return IdempotencyConflict(
        422, "IdempotencyKeyConflict",
        "this idempotency key was used for a different order; use a new key to place a different order",
        (FieldError("IdempotencyKey", "Conflict", "was used before with a different order"),),
    )


class OutcomePending(RelayError):
    """An earlier attempt may have placed the order; casrelay waits for reconciliation or an operator."""


def outcome_pending(order_key: str, retry_after: int = 60) -> OutcomePending:
    return OutcomePending(
        409, "OrderOutcomeUnknown",
        "an earlier attempt for this order may have been placed; casrelay will not order it again until "
        f"reconciliation finds it or an operator resolves key {order_key}",
        retry_after=retry_after, transient=True, headers={"Retry-After": str(retry_after)},
    )


class LedgerUnavailable(RelayError):
    pass


def ledger_unavailable(reason: str) -> LedgerUnavailable:
    return LedgerUnavailable(503, "LedgerUnavailable", f"the order ledger is unavailable ({reason}); nothing was "
                             "ordered", retry_after=2, transient=True, headers={"Retry-After": "2"})


def stored_failure(error: dict[str, Any]) -> RelayError:
    """Answer a repeated order that CAS refused before with the same refusal, without calling CAS."""
    raw = error.get("Errors")
    errors = tuple(
        FieldError(str(e.get("Field", "")), str(e.get("Code", "")), str(e.get("Message", "")))
        for e in (raw if isinstance(raw, list) else [])
        if isinstance(e, dict)
    )
    status = error.get("Status")
    return CasRefused(status if isinstance(status, int) else 400, str(error.get("Code", "CasRefused")),
                      str(error.get("Message", "CAS refused this order earlier")), errors)


#: The code of ``NotOrdered``; a ledger record failed with it may be ordered again by the next arrival.
NOT_ORDERED_CODE = "CasNotOrdered"


class NotOrdered(RelayError):
    """Reconciliation proved that an attempt whose answer was lost placed no order: nothing was spent."""


def not_ordered(waited_seconds: float) -> NotOrdered:
    return NotOrdered(
        503, NOT_ORDERED_CODE,
        f"CAS placed no order for this request (none was listed {waited_seconds:.0f} s after the attempt); nothing "
        "was spent; send the order again to place it", retry_after=1, transient=True, headers={"Retry-After": "1"})


def no_package_left(product_code: str) -> CasRefused:
    return CasRefused(402, "NotRemainCount", f"no package left for ProductCode {product_code}; nothing was ordered")
