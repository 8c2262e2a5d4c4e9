"""The flows' side of a V2.0 instance lease: the ``Reservation`` a backend leases through, for one order.

The ordering backends stand beside the ledger (one layer), so a backend that chooses what to spend
cannot write the lease itself; the order flow hands it this object, bound to the order's own record.
Every lease write is a conditional write on that record (``ledger/lease.py``), so the flow reads the
record back from here (``record``) before its next write. A V1.0 backend never calls it.
"""

from __future__ import annotations

from ..ledger import LedgerRecord, guard
from ..ledger.lease import InstanceLeases


class OrderReservation:
    def __init__(self, leases: InstanceLeases, record: LedgerRecord) -> None:
        self.leases = leases
        self.record = record

    def held(self) -> str | None:
        return self.record.instance_id if self.record.instance_id and self.leases.holds(self.record) else None

    def take(self, instance_id: str) -> bool:
        # A store failure here raises LedgerUnavailable: the instance is not touched, nothing is applied.
        self.record, taken = guard.must(lambda: self.leases.take(self.record, instance_id), self.record.key)
        return taken

    def give_back(self) -> None:
        self.record = guard.must(lambda: self.leases.give_back(self.record), self.record.key)
