"""The orchestrator: walk one invocation through trigger -> record -> validated order -> CAS -> response.

It is the only module that knows the order of the steps; each step lives in the module named after
it. Every failure inside becomes a ``RelayError`` rendered by ``response``; anything unexpected is
logged by type and place (never with a stack trace or its message, which could carry input or
secrets) and answered with a bare 500.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from . import log
from .auth import WebhookVerifier
from .cas import CasGateway, PlacedOrder
from .cas.credentials import resolve as resolve_credentials
from .config import Settings
from .errors import (
    RelayError,
    internal_error,
    method_not_allowed,
    not_configured,
    payload_too_large,
    route_not_found,
)
from .order import Order
from .records import OrderRecord
from .response import error_document, http_error, http_response, success_document, wants_xml
from .triggers import DirectInvocation, HttpInvocation, classify
from .triggers.http import HttpRequest, params_from_http
from .validation import validate_order

ORDER_PATHS = ("/", "")
HEALTH_PATH = "/health"


class TransientFailure(Exception):
    """Raised out of the handler so that FC or the trigger redelivers; the message names the cause only."""


@dataclass(frozen=True)
class Outcome:
    order: Order
    placed: PlacedOrder


def _where(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return type(exc).__name__
    return f"{type(exc).__name__} at {tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"


class Relay:
    def __init__(self, settings: Settings, gateway: CasGateway | None = None) -> None:
        self.settings = settings
        self.gateway = gateway or CasGateway(settings)
        self.verifier = WebhookVerifier(settings.webhook_secrets)

    # --- entry -------------------------------------------------------------------------------

    def handle(self, event: Any, context: Any) -> Any:
        request_id = getattr(context, "request_id", None)
        try:
            invocation = classify(event, request_id)
        except RelayError as err:
            log.emit("event.rejected", logging.WARNING, fc_request_id=request_id, code=err.code, reason=err.message)
            return error_document(err, request_id)
        if isinstance(invocation, HttpInvocation):
            return self.handle_http(invocation.request, context)
        assert isinstance(invocation, DirectInvocation)
        return self.handle_direct(invocation.record, context)

    # --- the steps shared by every trigger -----------------------------------------------------

    def place(self, record: OrderRecord, context: Any) -> Outcome:
        started = time.monotonic()
        order: Order | None = None
        fc_request_id = getattr(context, "request_id", None)
        try:
            order = validate_order(record.params, self.settings)
            placed = self.gateway.create_order(order, resolve_credentials(context))
        except RelayError as err:
            log.emit(
                "order.failed", logging.WARNING, fc_request_id=fc_request_id, trigger=record.trigger,
                message_id=record.message_id, domains=list(order.domains) if order else None,
                product=order.product_code if order else None, outcome=err.code, status=err.status,
                cas_request_id=err.cas_request_id, fields=[e.field for e in err.errors] or None,
                latency_ms=round((time.monotonic() - started) * 1000, 1),
            )
            raise
        log.emit(
            "order.placed", fc_request_id=fc_request_id, trigger=record.trigger, message_id=record.message_id,
            domains=list(order.domains), product=order.product_code, outcome="placed",
            order_id=str(placed.order_id), cas_request_id=placed.request_id,
            email=log.mask_email(order.email), phone=log.mask_phone(order.phone),
            latency_ms=round((time.monotonic() - started) * 1000, 1),
        )
        return Outcome(order, placed)

    @staticmethod
    def _success(outcome: Outcome) -> dict[str, Any]:
        return success_document(outcome.placed.order_id, outcome.placed.request_id, outcome.order.domains,
                                outcome.order.product_code)

    # --- HTTP trigger ----------------------------------------------------------------------------

    def _route(self, req: HttpRequest) -> dict[str, Any] | None:
        if req.path == HEALTH_PATH:
            if req.method not in ("GET", "HEAD"):
                raise method_not_allowed(req.method, "GET")
            return http_response(200, {"Status": "ok"}, xml=False)
        if req.path not in ORDER_PATHS:
            raise route_not_found(req.path)
        if req.method != "POST":
            raise method_not_allowed(req.method, "POST")
        return None

    def _authenticate(self, req: HttpRequest) -> str | None:
        if not self.settings.webhook_auth_required:
            return req.header("webhook-id") or None
        if not self.verifier.configured:
            raise not_configured("webhook authentication is on but WEBHOOK_SECRETS is empty; set it, or set "
                                 "WEBHOOK_AUTH=none when the trigger authenticates callers itself")
        return self.verifier.verify(req.headers, req.body)

    def handle_http(self, req: HttpRequest, context: Any) -> dict[str, Any]:
        request_id = req.request_id or getattr(context, "request_id", None)
        xml = wants_xml(req.query, req.header("accept"))
        try:
            routed = self._route(req)
            if routed is not None:
                return routed
            if len(req.body) > self.settings.max_body_bytes:
                raise payload_too_large(len(req.body), self.settings.max_body_bytes)
            message_id = self._authenticate(req)
            params = params_from_http(req)
            xml = wants_xml(params, req.header("accept"))
            outcome = self.place(OrderRecord(params=params, trigger="http", message_id=message_id), context)
            return http_response(200, self._success(outcome), xml)
        except RelayError as err:
            if err.status in (401, 404, 405, 413, 415, 503) and err.code != "CasUnavailable":
                log.emit("http.rejected", logging.WARNING, fc_request_id=request_id, status=err.status,
                         code=err.code, path=req.path[:80], method=req.method[:10])
            return http_error(err, request_id, xml)
        except Exception as exc:  # a bug: the caller learns nothing about it, the log learns where
            log.emit("internal.error", logging.ERROR, fc_request_id=request_id, where=_where(exc))
            return http_error(internal_error(), request_id, xml)

    # --- direct invocation -----------------------------------------------------------------------

    def handle_direct(self, record: OrderRecord, context: Any) -> dict[str, Any]:
        request_id = getattr(context, "request_id", None)
        try:
            return self._success(self.place(record, context))
        except RelayError as err:
            if err.transient:
                raise TransientFailure(f"{err.code}: {err.message}") from None
            return {"Status": err.status, **error_document(err, request_id)}
        except Exception as exc:
            log.emit("internal.error", logging.ERROR, fc_request_id=request_id, where=_where(exc))
            return {"Status": 500, **error_document(internal_error(), request_id)}


def unconfigured_response(event: Any, message: str, request_id: str | None) -> Any:
    """What every invocation gets while the configuration is unusable: a 503 that names the variable."""
    err = not_configured(message)
    try:
        invocation = classify(event, request_id)
    except RelayError:
        return error_document(err, request_id)
    if isinstance(invocation, HttpInvocation):
        return http_error(err, request_id, xml=False)
    raise TransientFailure(f"{err.code}: {err.message}")
