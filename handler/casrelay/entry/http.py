"""The HTTP trigger's adapter: route, authenticate, read the order, place it, and render the answer.

Rendering is chosen here and in ``casrelay.response``: the API document's JSON or XML, the HTTP
status of each error, and the headers (``Retry-After``, ``Allow``, ``Idempotent-Replayed``).
"""

from __future__ import annotations

import logging
from typing import Any

from .. import log
from ..auth import WebhookVerifier
from ..config import Settings
from ..errors import (
    CasUnavailable,
    RelayError,
    UnsignedInput,
    delivery_pending,
    internal_error,
    method_not_allowed,
    not_configured,
    payload_too_large,
    route_not_found,
)
from ..flows.delivery import Delivered
from ..flows.dry_run import ROOT as DRY_RUN_ROOT
from ..flows.dry_run import DryRun
from ..flows.place import PlaceOnce, loggable_fields
from ..records import OrderRecord
from ..response import headers_of, http_error, http_response, status_of, wants_xml
from ..triggers.http import HttpRequest, params_from_http
from ..validation.base import check_idempotency_header

ORDER_PATHS = ("/", "")
HEALTH_PATH = "/health"
#: Refusals worth a log line of their own (the order flow logs the order's own failures).
_LOGGED_STATUSES = (401, 404, 405, 413, 415, 503)


class HttpEntry:
    def __init__(self, settings: Settings, place: PlaceOnce, dry_run: DryRun) -> None:
        self.settings = settings
        self.place = place
        self.dry_run = dry_run
        self.verifier = WebhookVerifier(settings.webhook_secrets)

    def handle(self, req: HttpRequest, context: Any) -> dict[str, Any]:
        xml = wants_xml(req.query, req.header("accept"))
        # The HTTP event's own request id is the one the answer's RequestId carries, so the log says the same.
        with log.bound(fc_request_id=req.request_id or getattr(context, "request_id", None)):
            try:
                routed = _route(req)
                if routed is not None:
                    return routed
                return self._order(req, context)
            except Exception as exc:
                return _failed(req, context, exc, xml)

    def _order(self, req: HttpRequest, context: Any) -> dict[str, Any]:
        if len(req.body) > self.settings.max_body_bytes:
            raise payload_too_large(len(req.body), self.settings.max_body_bytes)
        message_id = self._authenticate(req)
        # The signature covers the body only: with it on, the query string and the Idempotency-Key
        # header may only repeat the signed body (README, "Inbound authentication").
        params = params_from_http(req, signed_body_only=self.settings.webhook_auth_required)
        xml = wants_xml(params, req.header("accept"))
        try:
            key = check_idempotency_header(req.header("idempotency-key"))
            record = OrderRecord(params=params, trigger="http", message_id=message_id, idempotency_key=key)
            if self.dry_run.wanted(record):
                return http_response(200, self.dry_run.preview(record, context), xml, root=DRY_RUN_ROOT)
            return _placed(self.place.place(record, context), xml)
        except Exception as exc:  # rendered in the form the order asked for (Format=XML)
            return _failed(req, context, exc, xml)

    def _authenticate(self, req: HttpRequest) -> str | None:
        if not self.settings.webhook_auth_required:
            return req.header("webhook-id") or None
        if not self.verifier.configured:
            raise not_configured("webhook authentication is on but WEBHOOK_SECRETS is empty; set it, or set "
                                 "WEBHOOK_AUTH=none when the trigger authenticates callers itself")
        return self.verifier.verify(req.headers, req.body)


def _route(req: HttpRequest) -> dict[str, Any] | None:
    if req.path == HEALTH_PATH:
        if req.method not in ("GET", "HEAD"):
            raise method_not_allowed(req.method, "GET, HEAD")
        return http_response(200, {"Status": "ok"}, xml=False)
    if req.path not in ORDER_PATHS:
        raise route_not_found(req.path)
    if req.method != "POST":
        raise method_not_allowed(req.method, "POST")
    return None


def _failed(req: HttpRequest, context: Any, exc: Exception, xml: bool) -> dict[str, Any]:
    request_id = req.request_id or getattr(context, "request_id", None)
    if isinstance(exc, RelayError):
        _log_rejected(req, exc)
        return http_error(exc, request_id, xml)
    # A bug: the caller learns nothing about it, the log learns where.
    log.emit("internal.error", logging.ERROR, where=log.where(exc))
    return http_error(internal_error(), request_id, xml)


def _placed(done: Delivered, xml: bool) -> dict[str, Any]:
    headers = {"Idempotent-Replayed": "true"} if done.duplicate else {}
    if done.pending_sinks:
        # The order exists but a sink has not confirmed it: a non-2xx makes webhook senders retry,
        # and the retry re-pushes from the ledger without ordering again.
        pending = delivery_pending(done.reference, done.pending_sinks)
        doc = {**done.document, "Code": pending.code, "Message": pending.message,
               "PendingSinks": list(pending.pending_sinks)}
        return http_response(status_of(pending), doc, xml, headers={**headers, **headers_of(pending)})
    return http_response(200, done.document, xml, headers=headers)


def _log_rejected(req: HttpRequest, err: RelayError) -> None:
    if isinstance(err, UnsignedInput):  # a possible replay: say which inputs, by known name only
        log.emit("http.rejected", logging.WARNING, status=status_of(err), code=err.code,
                 fields=sorted(set(loggable_fields(err))))
    elif status_of(err) in _LOGGED_STATUSES and not isinstance(err, CasUnavailable):
        log.emit("http.rejected", logging.WARNING, status=status_of(err), code=err.code, path=req.path[:80],
                 method=req.method[:10])
