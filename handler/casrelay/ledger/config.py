"""Ledger settings, read from the environment with the rest of the configuration.

The ledger is what stops a redelivery from becoming a second paid order, so it must outlive the
instance that wrote it. Inside FC (``FC_FUNCTION_NAME`` is set) an instance-local store (SQLite in
the instance's ``/tmp``, or memory) vanishes when FC recycles the instance, and a redelivery an hour
later orders again; it is therefore refused as a configuration error unless the deployment chose it
with ``ALLOW_INSTANCE_LEDGER=true``, the way ``WEBHOOK_AUTH=none`` must be chosen. Outside FC (the
devkit, the tests) the local default stays usable as it is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..config import ConfigError, env_flag, env_int, env_seconds_list

DEFAULT_STORE = "sqlite:///tmp/casrelay-ledger.sqlite3"
DEFAULT_RETENTION = 7 * 24 * 3600
DEFAULT_CLAIM_SECONDS = 60
MAX_RETENTION = 366 * 24 * 3600
DEFAULT_SWEEP_MIN_AGE = 60
DEFAULT_SWEEP_MAX_TRIES = 10
DEFAULT_LIST_LAG = 300
#: ``FOLLOW_BACKOFF_SECONDS``: the follower's waits between polls of one order, the last one repeated.
DEFAULT_FOLLOW_BACKOFF = (60.0, 120.0, 300.0, 600.0, 1800.0)
MAX_FOLLOW_WAIT = 86400.0
#: ``IDEMPOTENCY_STORE`` schemes whose records live inside one instance (what ``open_store`` opens them by).
INSTANCE_LOCAL_SCHEMES = ("sqlite://", "memory://")


class LedgerConfigError(ConfigError):
    """A ledger variable is unusable; the message names it, and the function answers 503 ``NotConfigured``."""


def is_instance_local(store_url: str) -> bool:
    """Whether the store's records belong to one instance: another instance, or this one once FC
    recycles it, cannot see them, so they cannot stop a redelivery from ordering again."""
    return store_url.startswith(INSTANCE_LOCAL_SCHEMES)


@dataclass(frozen=True)
class LedgerConfig:
    store_url: str = DEFAULT_STORE
    retention_seconds: int = DEFAULT_RETENTION
    #: Used when the context does not say the function's timeout.
    claim_seconds: int = DEFAULT_CLAIM_SECONDS
    precheck_quota: bool = False
    cancel_duplicates: bool = False
    #: Tag key under which each order carries its idempotency key; empty turns tagging off.
    order_tag_key: str = "casrelay-idempotency-key"
    #: The sweep leaves a record alone until its last write is this old, so it never races a live invocation.
    sweep_min_age_seconds: int = DEFAULT_SWEEP_MIN_AGE
    #: Reconciliation tries (by the sweep) before an unresolved record is parked for an operator.
    sweep_max_tries: int = DEFAULT_SWEEP_MAX_TRIES
    #: How long after an attempt CAS is assumed to list the order it placed; only a search made after
    #: this long that finds nothing proves the order was not placed.
    reconcile_list_lag_seconds: int = DEFAULT_LIST_LAG
    #: The deployment chose an instance-local store inside FC (``ALLOW_INSTANCE_LEDGER=true``).
    allow_instance_ledger: bool = False
    #: The follower's waits between polls (``FOLLOW_BACKOFF_SECONDS``); empty when ``FOLLOW_ORDERS=false``, and
    #: then a placed order is not followed. The ledger schedules an order's first poll when it saves the OrderId.
    follow_backoff: tuple[float, ...] = DEFAULT_FOLLOW_BACKOFF

    def follow_wait(self, polls: int) -> float:
        """How long after its ``polls``-th poll an order is polled again (the list's last wait, repeated)."""
        return self.follow_backoff[min(polls, len(self.follow_backoff) - 1)]

    @property
    def instance_local(self) -> bool:
        return is_instance_local(self.store_url)


def _tag_key(env: Mapping[str, str]) -> str:
    """The tag key goes into every paid call: CAS's tag rules, checked before one is spent on it."""
    raw = env.get("ORDER_TAG_KEY", "casrelay-idempotency-key").strip()
    if raw and (len(raw) > 128 or not raw.isprintable() or raw.lower().startswith(("aliyun", "acs:"))):
        raise LedgerConfigError("ORDER_TAG_KEY must be 1 to 128 printable characters and must not start with "
                                "'aliyun' or 'acs:' (empty turns tagging off)")
    return raw


def _store_url(env: Mapping[str, str], allow_instance_ledger: bool) -> str:
    """``IDEMPOTENCY_STORE``, refused inside FC when it is instance-local and not chosen explicitly.

    The default is instance-local too, so a deployment that forgot the variable is refused as well:
    an order taken on a ledger that FC throws away with the instance is a second paid order waiting
    for the next redelivery. The check is made here, before any order, so every invocation gets the
    503 that names both ways out instead of the function ordering on a ledger it will lose.
    """
    url = env.get("IDEMPOTENCY_STORE", "").strip() or DEFAULT_STORE
    in_fc = bool(env.get("FC_FUNCTION_NAME", "").strip())
    if in_fc and is_instance_local(url) and not allow_instance_ledger:
        scheme = url.split(":", 1)[0]
        raise LedgerConfigError(
            f"IDEMPOTENCY_STORE is {scheme}://, which keeps the ledger inside one FC instance (FC_FUNCTION_NAME "
            "is set): other instances do not see it and it is lost when FC recycles the instance, so a "
            "redelivered order would be ordered again. Use a redis:// IDEMPOTENCY_STORE, or set "
            "ALLOW_INSTANCE_LEDGER=true to accept that risk")
    return url


def load(env: Mapping[str, str] | None = None) -> LedgerConfig:
    env = os.environ if env is None else env
    allow_instance_ledger = env_flag(env, "ALLOW_INSTANCE_LEDGER", False, LedgerConfigError)
    return LedgerConfig(
        store_url=_store_url(env, allow_instance_ledger),
        retention_seconds=env_int(env, "IDEMPOTENCY_RETENTION_SECONDS", DEFAULT_RETENTION, 60, MAX_RETENTION,
                                  LedgerConfigError),
        claim_seconds=env_int(env, "IDEMPOTENCY_CLAIM_SECONDS", DEFAULT_CLAIM_SECONDS, 5, 86400, LedgerConfigError),
        precheck_quota=env_flag(env, "PRECHECK_QUOTA", False, LedgerConfigError),
        cancel_duplicates=env_flag(env, "CANCEL_DUPLICATE_ORDERS", False, LedgerConfigError),
        order_tag_key=_tag_key(env),
        sweep_min_age_seconds=env_int(env, "SWEEP_MIN_AGE_SECONDS", DEFAULT_SWEEP_MIN_AGE, 0, 86400,
                                      LedgerConfigError),
        sweep_max_tries=env_int(env, "SWEEP_MAX_TRIES", DEFAULT_SWEEP_MAX_TRIES, 1, 1000, LedgerConfigError),
        reconcile_list_lag_seconds=env_int(env, "RECONCILE_LIST_LAG_SECONDS", DEFAULT_LIST_LAG, 0, 86400,
                                           LedgerConfigError),
        allow_instance_ledger=allow_instance_ledger,
        follow_backoff=(env_seconds_list(env, "FOLLOW_BACKOFF_SECONDS", DEFAULT_FOLLOW_BACKOFF, MAX_FOLLOW_WAIT,
                                         LedgerConfigError)
                        if env_flag(env, "FOLLOW_ORDERS", True, LedgerConfigError) else ()),
    )
