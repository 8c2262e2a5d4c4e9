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


def load(env: Mapping[str, str] | None = None) -> LedgerConfig:
    env = os.environ if env is None else env
    return LedgerConfig(
        store_url=env.get("IDEMPOTENCY_STORE", "").strip() or DEFAULT_STORE,
        retention_seconds=env_int(env, "IDEMPOTENCY_RETENTION_SECONDS", DEFAULT_RETENTION, 60, MAX_RETENTION,
                                  LedgerConfigError),
        claim_seconds=env_int(env, "IDEMPOTENCY_CLAIM_SECONDS", DEFAULT_CLAIM_SECONDS, 5, 86400, LedgerConfigError),
        precheck_quota=env_flag(env, "PRECHECK_QUOTA", False, LedgerConfigError),
        cancel_duplicates=env_flag(env, "CANCEL_DUPLICATE_ORDERS", False, LedgerConfigError),
        order_tag_key=env.get("ORDER_TAG_KEY", "casrelay-idempotency-key").strip(),
    )
