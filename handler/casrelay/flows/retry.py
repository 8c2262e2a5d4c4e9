"""The paid call's retry policy: send again only after a failure that proves CAS did not act.

Which failures prove that is decided in ``casrelay.cas.errors.resend_is_safe`` (flow control, a
request that never left, a refused signature). Anything else is raised at once, for the order flow
to record first. The wait is CAS's own ``Retry-After`` when it gave one, else a short exponential
backoff; both are capped, because the claim on the key runs out with the invocation.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .. import log
from ..cas.credentials import Credentials
from ..cas.errors import resend_is_safe
from ..errors import RelayError
from ..order import Order
from ..ordering import Attempt, OrderingBackend, PlacedOrder, Tags

MAX_ATTEMPTS = 3
MAX_BACKOFF_SECONDS = 2.0


class PaidCall:
    def __init__(self, backend: OrderingBackend, sleep: Callable[[float], None] = time.sleep) -> None:
        self.backend = backend
        self._sleep = sleep

    def send(self, order: Order, creds: Credentials | None, key: str, tags: Tags,
             attempt: Attempt | None = None) -> PlacedOrder:
        """Place ``order``, retrying at most ``MAX_ATTEMPTS`` times over failures that prove nothing was spent."""
        tries = 0
        while True:
            tries += 1
            try:
                return self.backend.place(order, creds, tags, attempt)
            except RelayError as err:
                if not resend_is_safe(err) or tries >= MAX_ATTEMPTS:
                    raise
                wait = min(float(err.retry_after or 0) or 0.2 * 2**tries, MAX_BACKOFF_SECONDS)
                log.emit("cas.retry", key=key, attempt=tries, code=err.cas_code or err.code, wait_s=wait)
                self._sleep(wait)
