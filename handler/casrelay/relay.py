"""The orchestrator: walk one invocation through trigger -> record -> validated order -> CAS -> response.

It is the only module that knows the order of the steps; each step lives in the module named after
it. Every failure inside becomes a ``RelayError`` rendered by ``response``; anything unexpected is
logged by type and place (never with a stack trace or its message, which could carry input or
secrets) and answered with a bare 500.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from . import log
from .auth import WebhookVerifier
from .batch_processor import BatchProcessor
from .cas import CasGateway
from .config import Settings
from .errors import (
    CasOutcomeUnknown,
    InvalidOrder,
    OutcomePending,
    RelayError,
    UnsignedInput,
    bad_request,
    internal_error,
    method_not_allowed,
    not_configured,
    payload_too_large,
    route_not_found,
)
from .ledger import Ledger, LedgerConfig, open_store
from .ledger import load as load_ledger_config
from .placement import Delivered, Placement
from .push import build_sinks
from .records import OrderRecord
from .response import error_document, http_error, http_response, wants_xml
from .sweep import Sweeper
from .triggers import BatchInvocation, DirectInvocation, HttpInvocation, TimerInvocation, classify
from .triggers.http import HttpRequest, params_from_http
from .validation.base import KNOWN_PARAMETERS, check_idempotency_header

ORDER_PATHS = ("/", "")
DRY_RUN_ROOT = "CreateCertificateForPackageRequestDryRun"
HEALTH_PATH = "/health"
#: Input names a log line may carry as they are; any other name is the client's text (an e-mail, say).
_NAMED_INPUTS = KNOWN_PARAMETERS | {"Idempotency-Key"}


class TransientFailure(Exception):
    """Raised out of the handler so that FC or the trigger redelivers; the message names the cause only."""


def _where(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return type(exc).__name__
    return f"{type(exc).__name__} at {tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"


class Relay:
    def __init__(self, settings: Settings, gateway: CasGateway | None = None,
                 ledger_config: LedgerConfig | None = None, env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.gateway = gateway or CasGateway(settings)
        self.verifier = WebhookVerifier(settings.webhook_secrets)
        self.ledger_config = ledger_config or load_ledger_config(env)
        self.ledger = Ledger(open_store(self.ledger_config.store_url), self.ledger_config)
        sinks_spec = (os.environ if env is None else env).get("ORDER_SINKS", "")
        self.sinks = build_sinks(sinks_spec, env)
        self.placement = Placement(settings, self.ledger_config, self.ledger, self.gateway, self.sinks)
        self.batches = BatchProcessor(self.placement, settings.batch_concurrency)
        self.sweeper = Sweeper(self.ledger, self.ledger_config, self.placement)

    # --- entry -------------------------------------------------------------------------------

    def handle(self, event: Any, context: Any) -> Any:
        request_id = getattr(context, "request_id", None)
        try:
            invocation = classify(event, request_id)
        except RelayError as err:
            log.emit("event.rejected", logging.WARNING, fc_request_id=request_id, code=err.code, reason=err.message)
            return error_document(err, request_id)
        if isinstance(invocation, HttpInvocation):
            if invocation.request is None:  # an HTTP event that cannot be read is still answered as HTTP
                unreadable = invocation.error or bad_request("the HTTP trigger event cannot be read", "event")
                log.emit("http.rejected", logging.WARNING, fc_request_id=request_id, status=unreadable.status,
                         code=unreadable.code)
                return http_error(unreadable, request_id, xml=False)
            return self.handle_http(invocation.request, context)
        if isinstance(invocation, BatchInvocation):
            return self.handle_batch(invocation, context)
        if isinstance(invocation, TimerInvocation):
            return self.sweeper.run(context, trigger=invocation.trigger_name)
        assert isinstance(invocation, DirectInvocation)
        return self.handle_direct(invocation.record, context)

    # --- the steps shared by every trigger -----------------------------------------------------

    def place(self, record: OrderRecord, context: Any) -> Delivered:
        started = time.monotonic()
        fc_request_id = getattr(context, "request_id", None)
        try:
            done = self.placement.place(record, context)
        except RelayError as err:
            outcome = "unknown" if isinstance(err, CasOutcomeUnknown | OutcomePending) else (
                "transient" if err.transient else "failed")
            log.emit(
                "order.failed", logging.WARNING, fc_request_id=fc_request_id, trigger=record.trigger,
                message_id=record.message_id, key=err.log_fields.get("key"), domains=err.log_fields.get("domains"),
                product=err.log_fields.get("product"), outcome=outcome, code=err.code, status=err.status,
                cas_request_id=err.cas_request_id, fields=[e.field for e in err.errors] or None,
                latency_ms=round((time.monotonic() - started) * 1000, 1),
            )
            log.metric("orders", 1, outcome=outcome, trigger=record.trigger, code=err.code)
            raise
        rec = done.record
        log.emit(
            "order.placed" if not done.duplicate else "order.duplicate", fc_request_id=fc_request_id,
            trigger=record.trigger, message_id=record.message_id, key=rec.key if rec else None,
            domains=done.document["Domains"], product=done.document["ProductCode"],
            outcome="duplicate" if done.duplicate else "placed", order_id=done.document["OrderIdString"],
            cas_request_id=done.document["RequestId"], pending_sinks=list(done.pending_sinks) or None,
            email=rec.order.get("email") if rec else None, phone=rec.order.get("phone") if rec else None,
            latency_ms=round((time.monotonic() - started) * 1000, 1),
        )
        log.metric("orders", 1, outcome="duplicate" if done.duplicate else "placed", trigger=record.trigger)
        return done

    # --- HTTP trigger ----------------------------------------------------------------------------

    def _route(self, req: HttpRequest) -> dict[str, Any] | None:
        if req.path == HEALTH_PATH:
            if req.method not in ("GET", "HEAD"):
                raise method_not_allowed(req.method, "GET, HEAD")
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
            # The signature covers the body only: with it on, the query string and the Idempotency-Key
            # header may only repeat the signed body (README, "Inbound authentication").
            params = params_from_http(req, signed_body_only=self.settings.webhook_auth_required)
            xml = wants_xml(params, req.header("accept"))
            key = check_idempotency_header(req.header("idempotency-key"))
            record = OrderRecord(params=params, trigger="http", message_id=message_id, idempotency_key=key)
            if self.placement.is_dry_run(record):
                return http_response(200, self.placement.dry_run(record, context), xml, root=DRY_RUN_ROOT)
            return self._http_placed(self.place(record, context), xml)
        except RelayError as err:
            if isinstance(err, UnsignedInput):  # a possible replay: say which inputs, by known name only
                log.emit("http.rejected", logging.WARNING, fc_request_id=request_id, status=err.status,
                         code=err.code, fields=sorted({e.field if e.field in _NAMED_INPUTS else "(other)"
                                                       for e in err.errors}))
            elif err.status in (401, 404, 405, 413, 415, 503) and err.code != "CasUnavailable":
                log.emit("http.rejected", logging.WARNING, fc_request_id=request_id, status=err.status,
                         code=err.code, path=req.path[:80], method=req.method[:10])
            return http_error(err, request_id, xml)
        except Exception as exc:  # a bug: the caller learns nothing about it, the log learns where
            log.emit("internal.error", logging.ERROR, fc_request_id=request_id, where=_where(exc))
            return http_error(internal_error(), request_id, xml)

    # --- direct invocation -----------------------------------------------------------------------

    @staticmethod
    def _http_placed(done: Delivered, xml: bool) -> dict[str, Any]:
        headers = {"Idempotent-Replayed": "true"} if done.duplicate else {}
        if done.pending_sinks:
            # The order exists but a sink has not confirmed it: a non-2xx makes webhook senders retry,
            # and the retry re-pushes from the ledger without ordering again.
            doc = {**done.document, "Code": "DeliveryPending",
                   "Message": "the order was placed but not yet delivered to every sink; retry this request to "
                              "complete delivery (it will not order again)",
                   "PendingSinks": list(done.pending_sinks)}
            return http_response(503, doc, xml, headers={**headers, "Retry-After": "5"})
        return http_response(200, done.document, xml, headers=headers)

    # --- queue triggers ----------------------------------------------------------------------------

    def handle_batch(self, invocation: BatchInvocation, context: Any) -> dict[str, Any]:
        summary = self.batches.run(invocation.batch, context)
        if summary["Transient"]:
            raise TransientFailure(
                f"{summary['Transient']} of {summary['Records']} record(s) failed transiently "
                f"({summary['Counts']}); the batch must be redelivered"
            )
        return summary

    # --- direct invocation -----------------------------------------------------------------------

    def handle_direct(self, record: OrderRecord, context: Any) -> dict[str, Any]:
        request_id = getattr(context, "request_id", None)
        try:
            if self.placement.is_dry_run(record):
                return self.placement.dry_run(record, context)
            done = self.place(record, context)
        except InvalidOrder as err:
            # An asynchronous invocation has nobody to read the answer: report it downstream too.
            if self.placement.push_failure(record, err, None):
                raise TransientFailure(f"{err.code}: the failure could not be delivered to every sink") from None
            return {"Status": err.status, **error_document(err, request_id)}
        except RelayError as err:
            # An unknown outcome is retried too: the ledger keeps the retry from ordering again, and the
            # retry runs reconciliation, which adopts the order once CAS lists it.
            if err.transient or isinstance(err, CasOutcomeUnknown):
                raise TransientFailure(f"{err.code}: {err.message}") from None
            return {"Status": err.status, **error_document(err, request_id)}
        except Exception as exc:  # FC retries an asynchronous invocation; the ledger keeps that safe
            log.emit("internal.error", logging.ERROR, fc_request_id=request_id, where=_where(exc))
            raise TransientFailure("InternalError: casrelay failed unexpectedly; the error has been logged") from None
        if done.pending_sinks:
            raise TransientFailure(f"DeliveryPending: order {done.document['OrderIdString']} is not yet "
                                   f"delivered to {', '.join(done.pending_sinks)}")
        return done.document


def unconfigured_response(event: Any, message: str, request_id: str | None) -> Any:
    """What every invocation gets while the configuration is unusable: a 503 that names the variable."""
    err = not_configured(message)
    try:
        invocation = classify(event, request_id)
    except RelayError:
        return error_document(err, request_id)
    if isinstance(invocation, HttpInvocation):
        return http_error(err, request_id, xml=False)
    if isinstance(invocation, TimerInvocation):  # nothing to redeliver: the next tick sweeps again
        return {"Status": err.status, **error_document(err, request_id)}
    raise TransientFailure(f"{err.code}: {err.message}")
