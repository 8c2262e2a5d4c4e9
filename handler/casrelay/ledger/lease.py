"""V2.0 instance leases: two orders never take one instance, one order never takes two.

On CAS V2.0 the thing a paid application spends is a certificate instance, chosen by casrelay from
the account's pool. Choosing is a race (two orders may list the same ``inactive`` instance), so an
instance is leased in the ledger, with conditional writes, before anything touches it:

1. the order's own record names the instance (``LedgerRecord.instance_id``, a conditional replace of
   the record the order owns): one order holds at most one instance, and a redelivery of the order
   finds the one it holds;
2. then a lease record keyed by the instance (``lease:<InstanceId>``, state ``leased``) is created,
   or taken over with a conditional replace when the lease it finds is ours or stale.

The order of the two writes is what makes the check of a lease safe: a lease is *live* only while its
owner's record still names that instance, and the owner wrote its record first, so a lease is never
seen before the record that makes it live. A lease is *stale* (the instance is free again) when its
owner's record is gone (given back, forgotten, purged) or names another instance, or failed (a refusal
that proves nothing was applied). ApplyCertificate is sent only after both writes, so an order whose
instance's lease belongs to someone else never applied on it.

Taking a lease that is already ours is a conditional write too: a rival that found the same lease
stale at the same moment loses on the version, so exactly one of them goes on.
"""

from __future__ import annotations

from .base import Ledger, _first_version
from .exceptions import LostRace
from .record import FAILED, LEASED, LedgerRecord

PREFIX = "lease:"
_MAX_RACES = 4


def lease_key(instance_id: str) -> str:
    return PREFIX + instance_id


def _owner(lease: LedgerRecord) -> str | None:
    owner = lease.source.get("owner")
    return owner if isinstance(owner, str) else None


class InstanceLeases:
    """The lease writes of ``ledger/lease.py``'s scheme, over the ledger's store."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.store = ledger.store

    def _live(self, lease: LedgerRecord) -> bool:
        owner = _owner(lease)
        record = self.store.get(owner) if owner else None
        return record is not None and record.instance_id == lease.instance_id and record.state != FAILED

    def take(self, record: LedgerRecord, instance_id: str) -> tuple[LedgerRecord, bool]:
        """Lease ``instance_id`` for ``record`` (an order record this caller owns). Returns the record as
        written and whether the lease is held; on ``False`` the record names no instance again."""
        if record.instance_id != instance_id:
            record = self.ledger._write(record, instance_id=instance_id)  # first: see the module docstring
        now = self.ledger._clock()
        # Versions start at random, as a claim's do (``_first_version``): a lease given back and taken afresh
        # must not repeat the version a writer still holding the old one would pass a replace with (ABA).
        fresh = LedgerRecord(key=lease_key(instance_id), payload_hash="", state=LEASED, version=_first_version(),
                             created_at=now,
                             updated_at=now, source={"owner": record.key}, instance_id=instance_id)
        for _ in range(_MAX_RACES):
            if self.store.create(fresh):
                return record, True
            current = self.store.get(fresh.key)
            if current is None:
                continue
            if _owner(current) != record.key and self._live(current):
                return self.ledger._write(record, instance_id=None), False
            taken = current.evolve(source={"owner": record.key}, updated_at=now)
            if self.store.replace(taken, current.version):
                return record, True
        raise LostRace(fresh.key)

    def holds(self, record: LedgerRecord) -> bool:
        """The record's instance is leased to it: only then can its order have applied on that instance."""
        if record.instance_id is None:
            return False
        lease = self.store.get(lease_key(record.instance_id))
        return lease is not None and _owner(lease) == record.key

    def give_back(self, record: LedgerRecord) -> LedgerRecord:
        """Free the record's instance (nothing was applied on it): drop the lease, then the record's claim
        to it. Best kept in that order: a lease left behind by a crash is stale by the rule above."""
        if record.instance_id is None:
            return record
        lease = self.store.get(lease_key(record.instance_id))
        if lease is not None and _owner(lease) == record.key:
            self.store.delete(lease.key, lease.version)
        return self.ledger._write(record, instance_id=None)
