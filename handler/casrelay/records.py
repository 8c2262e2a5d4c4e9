"""Order records: one order's raw parameters plus where it came from, whatever the trigger.

Every trigger (HTTP, direct invocation, queues) reduces its event to records of this one shape, so
everything downstream of the trigger step is the same for all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ORDER_FIELDS = frozenset(
    ("ProductCode", "Domain", "Csr", "ValidateType", "Username", "Email", "Phone", "CompanyName", "Tags")
)


@dataclass(frozen=True)
class OrderRecord:
    params: Mapping[str, Any]
    trigger: str  # "http", "invoke", ...
    message_id: str | None = None
    #: An explicit idempotency key from outside the parameters (the ``Idempotency-Key`` header).
    idempotency_key: str | None = None


def looks_like_order(data: Mapping[str, Any]) -> bool:
    return any(k in ORDER_FIELDS or str(k).startswith("Tags.") for k in data) or data.get("Action") is not None
