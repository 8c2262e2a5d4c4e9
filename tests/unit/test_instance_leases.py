"""Instance leases (ledger/lease.py): one instance per order and one order per instance, also when a lease
is given back and taken afresh while a slower writer still holds an old read of it."""

from __future__ import annotations

from casrelay.ledger import load as load_ledger_config
from casrelay.ledger.base import Ledger
from casrelay.ledger.lease import InstanceLeases, lease_key
from casrelay.ledger.persistence.memory import MemoryStore

INSTANCE = "cas_dv-cn-aaa"


def _world() -> tuple[MemoryStore, Ledger, InstanceLeases]:
    store = MemoryStore()
    ledger = Ledger(store, load_ledger_config({"IDEMPOTENCY_STORE": "memory://"}))
    return store, ledger, InstanceLeases(ledger)


def _claim(ledger: Ledger, key: str):
    return ledger.claim(key, "h", {"domains": [f"{key[4:]}.example.com"], "product": "p"}, {}, 60,
                        attempt=True).record


def test_a_lease_given_back_and_taken_afresh_is_never_won_by_a_writer_holding_the_old_one():
    store, ledger, leases = _world()
    stale = _claim(ledger, "key:z")
    stale, held = leases.take(stale, INSTANCE)
    assert held
    store.delete(stale.key, store.get(stale.key).version)  # its order went away: the lease is stale
    real_get = store.get
    meanwhile: dict[str, object] = {}

    def get(key):
        record = real_get(key)
        if key == lease_key(INSTANCE) and not meanwhile:
            meanwhile["armed"] = True
            # The slow writer has read the stale lease; before its conditional replace, X takes it over and
            # gives it back (its order did not fit), and Y leases the instance afresh.
            x, _ = leases.take(_claim(ledger, "key:x"), INSTANCE)
            leases.give_back(x)
            y, y_held = leases.take(_claim(ledger, "key:y"), INSTANCE)
            meanwhile.update(y=y, y_held=y_held)
        return record

    store.get = get  # type: ignore[method-assign]
    slow, slow_held = leases.take(_claim(ledger, "key:t"), INSTANCE)
    store.get = real_get  # type: ignore[method-assign]
    y = meanwhile["y"]
    assert meanwhile["y_held"] and leases.holds(y)  # type: ignore[arg-type]
    assert not (slow_held and leases.holds(slow))  # never both: the slow writer's old read does not win
