"""Never order twice, never lose an OrderId: the order ledger (claim -> ordered -> delivered)."""

from . import guard
from .base import Claim, Ledger
from .config import LedgerConfig, load
from .key import derived_key, explicit_key, payload_hash
from .persistence import open_store
from .record import CLAIMED, DELIVERED, FAILED, ORDERED, UNKNOWN, DamagedRecord, LedgerRecord

__all__ = [
    "CLAIMED",
    "DELIVERED",
    "FAILED",
    "ORDERED",
    "UNKNOWN",
    "Claim",
    "DamagedRecord",
    "Ledger",
    "LedgerConfig",
    "LedgerRecord",
    "derived_key",
    "explicit_key",
    "guard",
    "load",
    "open_store",
    "payload_hash",
]
