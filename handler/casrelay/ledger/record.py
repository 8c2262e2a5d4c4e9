"""One ledger record: what casrelay knows about one idempotency key.

States (the issue's vocabulary):

- ``claimed``   an instance is working on the key. ``claim_expires_at`` follows the function's
                timeout, so a crashed instance does not block the key for ever. ``attempted_at`` is
                set just before the paid call leaves, so a lapsed claim tells whether CAS may have
                been called (then it is treated like ``unknown``) or certainly was not (then the key
                may be claimed again).
- ``ordered``   CAS returned an OrderId; it is saved before any push.
- ``delivered`` every sink confirmed the downstream message (``deliveries`` lists them).
- ``failed``    CAS refused the order, permanently; the error is kept and answered again.
- ``unknown``   the call was sent and its outcome is unknown; nothing is ordered for this key again
                until reconciliation adopts an order or an operator resolves it.

``version`` makes every transition a conditional write: a store only replaces a record whose
version is the one the writer read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from typing import Any

CLAIMED = "claimed"
ORDERED = "ordered"
DELIVERED = "delivered"
FAILED = "failed"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class LedgerRecord:
    key: str
    payload_hash: str
    state: str
    version: int = 1
    created_at: float = 0.0
    updated_at: float = 0.0
    #: When the record may be forgotten; ``None`` for records that must wait for an operator.
    expires_at: float | None = None
    claim_token: str | None = None
    claim_expires_at: float | None = None
    attempted_at: float | None = None
    order_id: int | None = None
    cas_request_id: str | None = None
    #: What was ordered: domains, product, validate type (for reconciliation and messages).
    order: dict[str, Any] = field(default_factory=dict)
    #: The trigger and message id of the first arrival.
    source: dict[str, Any] = field(default_factory=dict)
    #: The last error document for ``failed`` / ``unknown``.
    error: dict[str, Any] | None = None
    #: Sink name -> time the current downstream message was confirmed.
    deliveries: dict[str, float] = field(default_factory=dict)
    note: str | None = None

    def to_json(self) -> str:
        # A shallow dict: the nested fields are plain JSON already, and ``asdict`` would deep-copy them.
        return json.dumps({f.name: getattr(self, f.name) for f in fields(self)}, separators=(",", ":"),
                          sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> LedgerRecord:
        data = json.loads(text)
        return cls(**data)

    def evolve(self, **changes: Any) -> LedgerRecord:
        """A successor of this record: same key, next version."""
        return replace(self, version=self.version + 1, **changes)

    def claim_lapsed(self, now: float) -> bool:
        return self.state == CLAIMED and (self.claim_expires_at or 0) <= now

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now
