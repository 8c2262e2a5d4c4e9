"""The composition root: build every part once per instance, and hand each invocation to its adapter.

This is the only module that knows how the parts fit: the ledger and its store, the ordering
backend over the shared CAS client, the sinks, the flows (placing once, delivery, reconciliation,
the sweep, the dry run), the lifecycle follower and one adapter per trigger (HTTP, direct, batch,
timer). The invocation's log context (FC's request id, the trigger) is bound here once, so every line of the invocation
carries it, batch threads included.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from . import log
from .cas.client import CasClient
from .cas.credentials import Credentials
from .cas.ratelimit import CallPacer, Pacer
from .cas.shared_pacer import open_pacer, pacer_mode
from .config import ConfigError, Settings
from .entry.batch import BatchEntry
from .entry.direct import DirectEntry
from .entry.http import HttpEntry
from .entry.redelivery import TransientFailure
from .entry.timer import TimerEntry
from .errors import RelayError, bad_request, not_configured
from .flows.delivery import Delivery
from .flows.dry_run import DryRun
from .flows.instance_order import message_version, order_reader
from .flows.new_order import NewOrder
from .flows.place import PlaceOnce
from .flows.reconcile import Reconciler
from .flows.retry import PaidCall
from .flows.sweep import FollowStep, Sweeper
from .follow.config import load as load_follow_config
from .follow.dns import open_dns
from .ledger import Ledger, LedgerConfig, open_store
from .ledger import load as load_ledger_config
from .ordering import OrderingBackend, open_backends
from .push import build_sinks
from .response import error_document, http_error, status_document, status_of
from .triggers import BatchInvocation, DirectInvocation, HttpInvocation, TimerInvocation, classify

#: The longest tag key a V2.0 instance takes (the SDK model of UpdateInstance's Tags).
MAX_INSTANCE_TAG_KEY = 64


class App:
    def __init__(self, settings: Settings, backend: OrderingBackend | None = None,
                 ledger_config: LedgerConfig | None = None, env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        source = os.environ if env is None else env
        self.ledger_config = config = ledger_config or load_ledger_config(env)
        if settings.order_api == "instance" and not 0 < len(config.order_tag_key) <= MAX_INSTANCE_TAG_KEY:
            # Reconciliation tells our application from anyone else's by this tag alone: without it, or with
            # a key longer than an instance tag may be, an ambiguous ApplyCertificate could never be adopted.
            raise ConfigError(f"ORDER_TAG_KEY must be 1 to {MAX_INSTANCE_TAG_KEY} characters with "
                              "CAS_ORDER_API=instance: it is how an application is known to be this order's")
        store = open_store(config.store_url)  # first: a bad IDEMPOTENCY_STORE is named as the store's error
        # One pacer under every CAS call: shared by all instances through a Redis ledger, else this one's own.
        # A backend per API generation, so that records placed before a switch of CAS_ORDER_API are still
        # reconciled by their own; an injected backend (tests) answers for every record.
        backends: dict[str, OrderingBackend] = {}
        self.pacer: CallPacer | None = None
        if backend is None:
            self.pacer = open_pacer(settings, config.store_url, pacer_mode(source))
            backends = open_backends(settings, CasClient(settings, self.pacer))
            backend = backends[settings.order_api]
        self.backend = backend
        self.ledger = Ledger(store, config)
        self.sinks = build_sinks(source.get("ORDER_SINKS", ""), env)
        self.delivery = Delivery(self.ledger, self.sinks, message_version(settings))
        self.reconciler = Reconciler(self.ledger, self.backend, config.cancel_duplicates,
                                     config.reconcile_list_lag_seconds, order_tag_key=config.order_tag_key,
                                     backends=backends)
        self.paid_call = PaidCall(self.backend)
        new_order = NewOrder(config, self.ledger, self.backend, self.paid_call, self.delivery, self.reconciler)
        self.place = PlaceOnce(settings, config, self.ledger, self.delivery, self.reconciler, new_order,
                               read_order=order_reader(settings))
        self.dry_run = DryRun(settings, self.backend, config.order_tag_key)
        # The follower polls each record with the API it was placed with; an injected backend answers for both.
        # Its settings are read now (a bad one is a 503 naming it, like every other); the follower itself is
        # built by the first sweep, so that an order's cold start never pays for its imports.
        follow_config = load_follow_config(env)
        dns = open_dns(source, settings, self.pacer or Pacer(settings.cas_max_qps))
        follow_backends = backends or {"package": backend, "instance": backend}

        def follower() -> FollowStep:
            from .follow.base import Follower

            return Follower(self.ledger, follow_backends, self.delivery, follow_config, dns=dns,
                            enabled=bool(config.follow_backoff))

        self.sweeper = Sweeper(self.ledger, config, self.delivery, self.reconciler, settings.cas_read_timeout_ms,
                               follower=FollowOnFirstSweep(follower))
        self.http = HttpEntry(settings, self.place, self.dry_run)
        self.direct = DirectEntry(self.place, self.dry_run, self.delivery)
        self.batch = BatchEntry(self.place, self.dry_run, self.delivery, settings.batch_concurrency)
        self.timer = TimerEntry(self.sweeper)

    def handle(self, event: Any, context: Any) -> Any:
        request_id = getattr(context, "request_id", None)
        with log.bound(fc_request_id=request_id):
            try:
                invocation = classify(event, request_id)
            except RelayError as err:
                log.emit("event.rejected", logging.WARNING, code=err.code, reason=err.message)
                return error_document(err, request_id)
            with log.bound(trigger=_trigger(invocation)):
                return self._dispatch(invocation, context)

    def _dispatch(self, invocation: Any, context: Any) -> Any:
        if isinstance(invocation, HttpInvocation):
            if invocation.request is None:  # an HTTP event that cannot be read is still answered as HTTP
                unreadable = invocation.error or bad_request("the HTTP trigger event cannot be read", "event")
                log.emit("http.rejected", logging.WARNING, status=status_of(unreadable), code=unreadable.code)
                return http_error(unreadable, getattr(context, "request_id", None), xml=False)
            return self.http.handle(invocation.request, context)
        if isinstance(invocation, BatchInvocation):
            return self.batch.handle(invocation, context)
        if isinstance(invocation, TimerInvocation):
            return self.timer.handle(invocation, context)
        assert isinstance(invocation, DirectInvocation)
        return self.direct.handle(invocation.record, context)


class FollowOnFirstSweep:
    """The lifecycle follower, built when the first sweep needs it (``build``), then kept."""

    def __init__(self, build: Callable[[], FollowStep]) -> None:
        self._build = build
        self._follower: FollowStep | None = None

    def run(self, creds: Credentials | None, stop_at: float) -> dict[str, int]:
        if self._follower is None:
            self._follower = self._build()
        return self._follower.run(creds, stop_at)


def _trigger(invocation: Any) -> str:
    if isinstance(invocation, HttpInvocation):
        return "http"
    if isinstance(invocation, TimerInvocation):
        return "timer"
    if isinstance(invocation, BatchInvocation):
        return "batch"
    return "invoke"


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
        return status_document(err, request_id)
    raise TransientFailure(f"{err.code}: {err.message}")
