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
                until reconciliation adopts an order, proves none was placed, or an operator resolves
                it. After ``SWEEP_MAX_TRIES`` sweeps it is *parked* (``parked_at``): the sweep stops
                reconciling it and ``ledger_admin`` lists it for a person.

``settled`` says that every sink confirmed the record's current downstream message (for ``ordered``
that is the move to ``delivered``). A record is *open*, and the sweep looks at it, until there is
nothing left that a machine could finish.

``version`` makes every transition a conditional write: a store only replaces a record whose
version is the one the writer read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any

CLAIMED = "claimed"
ORDERED = "ordered"
DELIVERED = "delivered"
FAILED = "failed"
UNKNOWN = "unknown"
#: Not an order's state: a V2 instance lease (``ledger/lease.py``), never open, never swept.
LEASED = "leased"
STATES = frozenset({CLAIMED, ORDERED, DELIVERED, FAILED, UNKNOWN, LEASED})


def _order_summary_ok(order: dict[str, Any]) -> bool:
    """What reconciliation and the messages read from ``order``: a non-empty list of names, and a product."""
    domains = order.get("domains", [])
    product = order.get("product")
    return (isinstance(domains, list) and all(isinstance(d, str) and d for d in domains)
            and (product is None or isinstance(product, str)))


class DamagedRecord(ValueError):
    """A stored record that cannot be read back; never treated as "no record" (that would order again)."""


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
    #: Every sink confirmed the current downstream message.
    settled: bool = False
    #: How many sweeps worked on this record (the bound before parking).
    sweeps: int = 0
    #: When the sweep gave up and left the record to an operator.
    parked_at: float | None = None
    #: The latest moment the paid call could have reached CAS: when its last try ended, or for a claim that
    #: lapsed, when the claim ran out. Only a search this long after it (the list lag) proves absence;
    #: ``attempted_at`` is the earliest moment, which the pacer's wait and the retries can put seconds before.
    call_ended_at: float | None = None
    #: Until when a sweep holds this record (set by ``Ledger.take_for_sweep``).
    swept_until: float | None = None
    #: V2.0: the certificate instance this order holds (leased before it is touched) or applied on; the
    #: instance stands where V1.0 has the OrderId. On a lease record, the instance it leases.
    instance_id: str | None = None
    #: V2.0: the issued certificate's ID, once known.
    certificate_id: int | None = None
    #: The order's lifecycle after the paid call, as the follower (``casrelay.follow``) last saw it: its phase,
    #: what CAS asked for, the DNS records created for it, which sinks have the phase's message. ``None`` for a
    #: record that was never placed, or placed before the follower existed.
    follow: dict[str, Any] | None = None
    #: When the follower polls CAS next; ``None`` once the lifecycle is final (or never followed). The stores
    #: index it, so a sweep reads only the orders that are due.
    next_poll_at: float | None = None

    def to_json(self) -> str:
        """Once per durable write, so it is on every order's path: the instance's own dict (the fields, no
        copy), unsorted (nothing compares the text), is half the cost of a sorted dump of a rebuilt dict."""
        return json.dumps(self.__dict__, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> LedgerRecord:
        """Read a stored record, or raise ``DamagedRecord``: a row that is not what this code wrote must
        stop the order (503), not look like a missing record (a second order) or crash (a 500)."""
        try:
            data = json.loads(text)
            record = cls(**data)
        except (ValueError, TypeError, RecursionError) as exc:
            raise DamagedRecord(f"unreadable ledger record ({type(exc).__name__})") from None
        record._check()
        return record

    def _check(self) -> None:
        def num(v: object) -> bool:
            return isinstance(v, int | float) and not isinstance(v, bool)

        ok = (
            isinstance(self.key, str) and isinstance(self.payload_hash, str) and self.state in STATES
            and isinstance(self.version, int) and not isinstance(self.version, bool) and self.version >= 1
            and num(self.created_at) and num(self.updated_at)
            and all(v is None or num(v) for v in (self.expires_at, self.claim_expires_at, self.attempted_at,
                                                  self.parked_at, self.call_ended_at, self.swept_until,
                                                  self.next_poll_at))
            and _order_summary_ok(self.order)
            and (self.order_id is None or (isinstance(self.order_id, int) and not isinstance(self.order_id, bool)))
            and isinstance(self.order, dict) and isinstance(self.source, dict)
            and (self.error is None or isinstance(self.error, dict))
            and (self.follow is None or isinstance(self.follow, dict))
            and isinstance(self.deliveries, dict) and all(num(v) for v in self.deliveries.values())
            and isinstance(self.settled, bool) and isinstance(self.sweeps, int)
            and (self.instance_id is None or isinstance(self.instance_id, str))
            and (self.certificate_id is None or (isinstance(self.certificate_id, int)
                                                 and not isinstance(self.certificate_id, bool)))
            and (self.state not in (ORDERED, DELIVERED) or self.order_id is not None or self.instance_id is not None)
        )
        if not ok:
            raise DamagedRecord("a ledger record has fields of the wrong type or an unknown state")

    def evolve(self, **changes: Any) -> LedgerRecord:
        """A successor of this record: same key, next version. Built from a copy of the fields rather than
        through ``dataclasses.replace`` (which re-runs ``__init__`` over every field): each durable write
        makes one, and this is a sixth of the cost. Unknown names are refused, as ``replace`` would."""
        unknown = changes.keys() - _FIELD_NAMES
        if unknown or "version" in changes:
            raise TypeError(f"LedgerRecord.evolve() got unexpected fields: {sorted(unknown) or ['version']}")
        data = dict(self.__dict__)
        data.update(changes)
        data["version"] = self.version + 1
        successor = object.__new__(LedgerRecord)
        object.__setattr__(successor, "__dict__", data)
        return successor

    def claim_lapsed(self, now: float) -> bool:
        return self.state == CLAIMED and (self.claim_expires_at or 0) <= now

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    @property
    def outcome(self) -> tuple[object, ...]:
        """Which downstream message the record stands for; sink confirmations belong to one outcome."""
        if self.state in (ORDERED, DELIVERED):
            return ("created", self.order_id)
        if self.state == FAILED:
            return ("failed", (self.error or {}).get("Code"), self.attempted_at)
        if self.state == UNKNOWN:
            return ("unknown", self.parked_at is not None)
        return (self.state,)

    @property
    def api(self) -> str:
        """Which CAS API generation the key was claimed under (``package`` or ``instance``): reconciliation
        and the downstream message follow the record, not the deployment, so a record written before a
        switch of ``CAS_ORDER_API`` is still asked about, and announced, in its own generation."""
        api = self.order.get("api")
        return api if isinstance(api, str) and api else "package"  # written before the field: V1.0 only

    @property
    def placed(self) -> bool:
        """CAS holds an order for this key: an OrderId (V1.0) or an applied instance (V2.0) is recorded."""
        return self.state in (ORDERED, DELIVERED)

    @property
    def names_key(self) -> str:
        """The names and product this record orders, as one short string: reconciliation asks the store for
        every other key with the same one, so the store indexes it (``rival_of``)."""
        domains = sorted({str(d).lower() for d in self.order.get("domains", [])})
        text = json.dumps([self.order.get("product"), domains], separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @property
    def following(self) -> bool:
        """The follower still has work on this order: a poll of CAS, a lifecycle message, a DNS record to remove.
        Such a record must not expire: a redelivery after it is forgotten would order again."""
        return self.next_poll_at is not None

    @property
    def call_out(self) -> bool:
        """The paid call may have left and no OrderId is recorded: an order CAS lists for these names may be
        this record's. Such records are what ``Ledger.rivals`` must see, however many other records are open."""
        return self.attempted_at is not None and self.order_id is None and self.state in (CLAIMED, UNKNOWN)

    @property
    def open(self) -> bool:
        """Something is left that the sweep could finish: a claim that may lapse, a message a sink has
        not confirmed, or an outcome still to reconcile."""
        if self.state in (CLAIMED, ORDERED):
            return True
        if self.state == FAILED:
            return not self.settled
        if self.state == UNKNOWN:
            return self.parked_at is None or not self.settled
        return False


_FIELD_NAMES = frozenset(f.name for f in fields(LedgerRecord))
