"""A timer trigger's adapter: every tick runs the sweep, and its summary is the answer.

A timer has nothing to redeliver (the next tick sweeps again), so nothing here raises.
"""

from __future__ import annotations

from typing import Any

from ..flows.sweep import Sweeper
from ..triggers import TimerInvocation


class TimerEntry:
    def __init__(self, sweeper: Sweeper) -> None:
        self.sweeper = sweeper

    def handle(self, invocation: TimerInvocation, context: Any) -> dict[str, Any]:
        return self.sweeper.run(context, trigger=invocation.trigger_name)
