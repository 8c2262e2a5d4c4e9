"""Switching ``CAS_ORDER_API`` keeps the ledger: a record is reconciled and announced by the API generation it
was placed with, never by the deployment's current one (README, "CAS V2.0 certificate instances")."""

from __future__ import annotations

import json

import index
from devkit.cas_emulator import ACTION_CREATE, ACTION_LIST_ORDERS
from devkit.embedded import embedded_default
from devkit.fc_local import make_context
from tests.conftest import HttpClient

ORDER = {"Domain": "switch.example.com", "ValidateType": "DNS"}
TIMER = json.dumps({"triggerTime": "2026-12-01T00:00:00Z", "triggerName": "sweep", "payload": ""}).encode()
INSTANCE_MODE = {"CAS_ORDER_API": "instance", "SWEEP_MIN_AGE_SECONDS": "0", "CAS_TASK_WAIT_SECONDS": "0"}


def test_a_package_order_left_unknown_before_a_switch_to_instances_is_never_ordered_again_on_an_instance(tmp_path):
    ledger = f"sqlite:///{tmp_path}/ledger.sqlite3"
    with embedded_default(ledger=ledger, list_lag_seconds=3600) as emb:  # CAS lists a new order late
        emb.emulator.error_after_commit(ACTION_CREATE, status=500, code="ServiceUnavailable")
        assert HttpClient(emb).request(ORDER)["statusCode"] == 502  # committed, then a 500: unknown
        assert len(emb.emulator.orders()) == 1
    lagging = {**INSTANCE_MODE, "RECONCILE_LIST_LAG_SECONDS": "3600"}  # the call is minutes old, CAS lists late
    with embedded_default(ledger=ledger, extra_env=lagging, instances="2xDigiCert:DV:1+0") as emb:
        index.reset_for_tests()
        counts = index.handler(TIMER, make_context())["Counts"]
        assert counts.get("not_ordered") is None, counts  # the package listing is too early to prove anything
        assert emb.emulator.requests(ACTION_LIST_ORDERS)  # asked the way it was placed: CAS's order list
        again = HttpClient(emb).request(ORDER)
        assert again["statusCode"] == 409 and json.loads(again["body"])["Code"] == "OrderOutcomeUnknown"
        assert not [i for i in emb.emulator.instances() if i.applications]  # no second paid order on an instance


def test_a_package_order_delivered_after_a_switch_keeps_its_version_1_message_and_order_id(tmp_path):
    ledger = f"sqlite:///{tmp_path}/ledger.sqlite3"
    one_try = {"CALLBACK_MAX_ATTEMPTS": "1"}
    with embedded_default(ledger=ledger, sinks=("file", "callback"), extra_env=one_try) as emb:
        emb.receiver.fail_next(1, 503)  # the callback is down: the order waits in the ledger for it
        first = HttpClient(emb).request(ORDER)
        assert json.loads(first["body"])["Code"] == "DeliveryPending"
        [order] = emb.emulator.orders()
    with embedded_default(ledger=ledger, extra_env={**INSTANCE_MODE, **one_try}, instances="1xDigiCert:DV:1+0",
                          sinks=("file", "callback")) as emb:
        index.reset_for_tests()
        again = json.loads(HttpClient(emb).request(ORDER)["body"])
        assert again["OrderId"] == order.order_id
        [message] = [m for m in (json.loads(a.body) for a in emb.receiver.deliveries())
                     if m["Type"] == "certificate.order.created"]
        assert message["Version"] == 1 and message["Order"]["OrderId"] == order.order_id
        assert not [i for i in emb.emulator.instances() if i.applications]
