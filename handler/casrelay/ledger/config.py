"""Ledger settings, read from the environment with the rest of the configuration."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..config import ConfigError, env_flag, env_int

DEFAULT_STORE = "sqlite:///tmp/casrelay-ledger.sqlite3"
DEFAULT_RETENTION = 7 * 24 * 3600
DEFAULT_CLAIM_SECONDS = 60
MAX_RETENTION = 366 * 24 * 3600
DEFAULT_SWEEP_MIN_AGE = 60
DEFAULT_SWEEP_MAX_TRIES = 10
DEFAULT_LIST_LAG = 300


class LedgerConfigError(ConfigError):
    pass


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


def _tag_key(env: Mapping[str, str]) -> str:
    """The tag key goes into every paid call: CAS's tag rules, checked before one is spent on it."""
    raw = env.get("ORDER_TAG_KEY", "casrelay-idempotency-key").strip()
    if raw and (len(raw) > 128 or not raw.isprintable() or raw.lower().startswith(("aliyun", "acs:"))):
        raise LedgerConfigError("ORDER_TAG_KEY must be 1 to 128 printable characters and must not start with "
                                "'aliyun' or 'acs:' (empty turns tagging off)")
    return raw


def load(env: Mapping[str, str] | None = None) -> LedgerConfig:
    env = os.environ if env is None else env
    return LedgerConfig(
        store_url=env.get("IDEMPOTENCY_STORE", "").strip() or DEFAULT_STORE,
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
    )
