"""Ledger settings, read from the environment with the rest of the configuration."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..config import ConfigError

DEFAULT_STORE = "sqlite:///tmp/casrelay-ledger.sqlite3"
DEFAULT_RETENTION = 7 * 24 * 3600
DEFAULT_CLAIM_SECONDS = 60


class LedgerConfigError(ConfigError):
    pass


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise LedgerConfigError(f"{name} must be true or false, got {raw[:20]!r}")


def _seconds(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise LedgerConfigError(f"{name} must be a whole number of seconds, got {raw[:20]!r}") from None
    if not lo <= value <= hi:
        raise LedgerConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


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
        retention_seconds=_seconds(env, "IDEMPOTENCY_RETENTION_SECONDS", DEFAULT_RETENTION, 60, 366 * 24 * 3600),
        claim_seconds=_seconds(env, "IDEMPOTENCY_CLAIM_SECONDS", DEFAULT_CLAIM_SECONDS, 5, 86400),
        precheck_quota=_flag(env, "PRECHECK_QUOTA", False),
        cancel_duplicates=_flag(env, "CANCEL_DUPLICATE_ORDERS", False),
        order_tag_key=env.get("ORDER_TAG_KEY", "casrelay-idempotency-key").strip(),
    )
