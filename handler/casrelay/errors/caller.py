"""Failures the caller caused: what it sent cannot be read, is not allowed, or breaks the API's rules.

Each is permanent for the request as sent: sending the same bytes again fails the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .base import FieldError, RelayError


class InvalidOrder(RelayError):
    """The order breaks one or more rules of the API document or of host-name and contact syntax."""


def invalid_order(errors: Iterable[FieldError]) -> InvalidOrder:
    errs = tuple(errors)
    fields = ", ".join(dict.fromkeys(e.field for e in errs))
    return InvalidOrder("InvalidParameter", f"the order has {len(errs)} invalid field(s): {fields}", errs)


class BadRequest(RelayError):
    """The request itself (not the order inside it) cannot be read."""


def bad_request(message: str, field_name: str = "body") -> BadRequest:
    return BadRequest("MalformedRequest", message, (FieldError(field_name, "Malformed", message),))


class UnreadableMessage(BadRequest):
    """One queue message that cannot even be read into an order.

    It is its own type so that a batch can set that one message aside as permanently bad (redelivery
    would bring the same bytes back) while the other orders in the batch proceed.
    """


def unreadable_message(field_name: str, problem: str, code: str = "Malformed") -> UnreadableMessage:
    """``problem`` completes a sentence about ``field_name`` ("data.messageBody" + "is not JSON ...")."""
    return UnreadableMessage("MalformedMessage", f"{field_name} {problem}", (FieldError(field_name, code, problem),))


class Unauthenticated(RelayError):
    """A webhook request without a valid Standard Webhooks signature."""


def unauthenticated(reason: str) -> Unauthenticated:
    return Unauthenticated("Unauthenticated", reason)


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
        UNSIGNED_PARAMETER,
        f"{len(errs)} order input(s) outside the signed body: {names}. The query string and the "
        "Idempotency-Key header are not covered by the Standard Webhooks signature (it signs "
        "webhook-id.webhook-timestamp.body only), so with WEBHOOK_AUTH=standard every order parameter, "
        "IdempotencyKey included, must go in the signed body; the query string may only repeat the body's "
        "values exactly, or carry Format",
        errs,
    )


class RouteNotFound(RelayError):
    """The request asked for a path casrelay does not serve."""


def route_not_found(path: str) -> RouteNotFound:
    shown = path if len(path) <= 80 else path[:77] + "..."
    return RouteNotFound("NotFound", f"no route {shown!r}; orders are POSTed to /")


@dataclass
class MethodNotAllowed(RelayError):
    """The path exists, but not for this method; ``allowed`` is what the response's ``Allow`` names."""

    allowed: str = ""


def method_not_allowed(method: str, allowed: str) -> MethodNotAllowed:
    return MethodNotAllowed("MethodNotAllowed", f"{method[:16]} is not allowed here; use {allowed}", allowed=allowed)


class PayloadTooLarge(RelayError):
    """The body is longer than ``MAX_BODY_BYTES``."""


def payload_too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge("PayloadTooLarge", f"the body has {size} bytes; the limit is {limit}")


class UnsupportedMediaType(RelayError):
    """The body is in a form casrelay does not read."""


def unsupported_media_type(content_type: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        "UnsupportedMediaType",
        f"Content-Type {content_type[:60]!r} is not supported; send application/json or "
        "application/x-www-form-urlencoded",
    )


class IdempotencyConflict(RelayError):
    """The key was used before for a different order; answering with the old result would mislead."""


def idempotency_conflict() -> IdempotencyConflict:
    return IdempotencyConflict(
        "IdempotencyKeyConflict",
        "this idempotency key was used for a different order; use a new key to place a different order",
        (FieldError("IdempotencyKey", "Conflict", "was used before with a different order"),),
    )
