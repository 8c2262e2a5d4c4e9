"""Promise: never two paid orders. A key given back and claimed again must not repeat its old record's
versions, or a writer still holding the old record passes a conditional write on the new one (ABA)."""

from __future__ import annotations

import json
import threading
import time

import index
from casrelay.ledger import Ledger, LedgerConfig, open_store
from devkit.cas_emulator import ACTION_CREATE
from devkit.embedded import embedded_default
from tests.conftest import HttpClient


def test_a_stale_holder_of_a_given_back_key_cannot_write_or_delete_its_new_record():
    ledger = Ledger(open_store("memory://"), LedgerConfig())
    stale = ledger.claim("auto:k", "h", {"domains": ["a.example.com"]}, {}, 60).record
    ledger.release(ledger.attempting(stale))  # CAS proved not to have acted: the key is given back
    fresh = ledger.claim("auto:k", "h", {"domains": ["a.example.com"]}, {}, 60)
    assert fresh.owned
    assert fresh.record.version != stale.version
    assert not ledger.store.replace(stale.evolve(state="unknown"), stale.version)
    assert not ledger.store.delete("auto:k", stale.version)
    assert ledger.store.get("auto:k") == fresh.record


def test_two_arrivals_that_both_prove_an_order_absent_place_it_once():
    extra = {"RECONCILE_LIST_LAG_SECONDS": "1"}
    with embedded_default(extra_env=extra) as emb:
        client = HttpClient(emb)
        order = {"Domain": "aba.example.com", "ValidateType": "DNS"}
        emb.emulator.drop_before_commit(ACTION_CREATE)  # the first attempt never reached CAS; nobody knows yet
        assert client.request(order)["statusCode"] == 504
        time.sleep(1.1)  # past the list lag: an empty search now proves nothing was placed
        relay = index._app or index._setup()
        real = relay.backend.find
        first_listed, go_on = threading.Event(), threading.Event()
        calls = []

        def find(domains, creds):
            listing = real(domains, creds)
            calls.append(domains[0])
            if len(calls) == 1:  # arrival A has its (empty) answer, but is slow to act on it
                first_listed.set()
                go_on.wait(20)
            return listing

        relay.backend.find = find
        results = {}
        a = threading.Thread(target=lambda: results.setdefault("A", client.request(order)))
        a.start()
        assert first_listed.wait(10)
        b = threading.Thread(target=lambda: results.setdefault("B", client.request(order)))
        b.start()
        b.join(30)  # B proves absence too, gives the key back, claims it afresh and orders
        go_on.set()
        a.join(30)  # A now acts on its stale record
        assert len(emb.emulator.paid_orders()) == 1, [json.loads(r["body"]) for r in results.values()]
        ids = {json.loads(r["body"]).get("OrderId") for r in results.values() if r["statusCode"] == 200}
        assert ids <= {emb.emulator.paid_orders()[0].order_id}
