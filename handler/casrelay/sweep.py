"""The sweep: finish, on a timer, what nobody re-sends (placeholder; filled in by the money-safety work)."""

from __future__ import annotations

from typing import Any

from .ledger import Ledger, LedgerConfig
from .placement import Placement


class Sweeper:
    def __init__(self, ledger: Ledger, config: LedgerConfig, placement: Placement) -> None:
        self.ledger = ledger
        self.config = config
        self.placement = placement

    def run(self, context: Any, trigger: str = "timer") -> dict[str, Any]:
        return {"Sweep": "not implemented yet"}
