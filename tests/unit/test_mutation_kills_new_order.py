"""Rules of the step from an owned claim to a paid order (``casrelay.flows.new_order``) pinned where the
mutation run found it free to change unnoticed: when the quota pre-check lets an order through, when the
key is given back, and what an operator is told when a key cannot be given back, when an OrderId cannot be
saved, when a second order exists for one key, and when casrelay itself fails while the call is out.
The doubles are in ``tests/flow_support.py``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from casrelay.errors import CasFailed, CasOutcomeUnknown, CasRefused, LedgerUnavailable, cas_failed, cas_refused
from casrelay.ledger import ORDERED, UNKNOWN
from casrelay.ordering import PlacedOrder
from tests.flow_support import FlakyStore, listed, world


def _lines(capsys) -> list[dict]:
    return [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]


def _events(lines: list[dict], event: str) -> list[dict]:
    return [x for x in lines if x["event"] == event]


# --- the quota pre-check ---------------------------------------------------------------------------------

def test_with_the_precheck_an_order_is_placed_while_one_certificate_is_left_in_the_package():
    w = world(precheck_quota=True)
    w.backend.remaining = 1
    assert w.place().document["OrderId"] == 1001
    assert len(w.backend.created) == 1


def test_with_the_precheck_an_empty_package_refuses_the_order_without_a_paid_call():
    from casrelay.errors import NoPackageLeft

    w = world(precheck_quota=True)
    w.backend.remaining = 0
    with pytest.raises(NoPackageLeft):
        w.place()
    assert w.backend.created == []


# --- giving the key back ---------------------------------------------------------------------------------

def test_an_attempt_mark_the_ledger_cannot_write_stops_the_paid_call_and_gives_the_key_back():
    store = FlakyStore()
    w = world(store=store, precheck_quota=True)  # with a pre-check, the mark is a write of its own
    store.failing_once.add("replace")  # the attempt mark, the first write after the claim
    with pytest.raises(LedgerUnavailable):
        w.place()
    assert w.backend.created == [] and w.records() == []
    assert w.place().document["OrderId"] == 1001  # the next arrival orders at once


def test_without_a_precheck_the_claim_is_the_attempt_mark_and_an_order_costs_three_writes():
    writes: list[tuple[str, str, float | None]] = []

    class Counting(FlakyStore):
        def create(self, record):
            writes.append(("create", record.state, record.attempted_at))
            return super().create(record)

        def replace(self, record, expected_version):
            writes.append(("replace", record.state, record.attempted_at))
            return super().replace(record, expected_version)

    w = world(store=Counting())
    w.place()
    assert [(op, state) for op, state, _ in writes] == [("create", "claimed"), ("replace", "ordered"),
                                                          ("replace", "delivered")]
    assert writes[0][2] is not None  # the claim that reaches the paid call already says the call may leave


def test_a_claim_that_cannot_be_written_stops_the_order_before_the_paid_call():
    store = FlakyStore()
    w = world(store=store)
    store.failing_once.add("create")
    with pytest.raises(LedgerUnavailable):
        w.place()
    assert w.backend.created == [] and w.records() == []


def test_a_call_cas_refused_before_acting_gives_the_key_back_so_the_next_arrival_orders_at_once():
    w = world()
    w.backend.answers = [cas_failed("InvalidAccessKeyId.NotFound", "no such key", "R1")]
    with pytest.raises(CasFailed):
        w.place()
    assert w.records() == []
    assert w.place().document["OrderId"] == 1002
    assert len(w.backend.created) == 2


def test_a_key_that_cannot_be_given_back_after_a_refused_call_is_logged_as_a_release_failure(capsys):
    store = FlakyStore()
    w = world(store=store)
    store.failing.add("delete")
    w.backend.answers = [cas_failed("InvalidAccessKeyId.NotFound", "no such key", "R1")]
    with pytest.raises(CasFailed):  # the caller still learns what CAS said; the claim lapses on its own
        w.place()
    [line] = _events(_lines(capsys), "ledger.release_failed")
    assert (line["level"], line["key"], line["reason"]) == ("WARNING", w.only_record().key, "StoreUnavailable")


def test_a_key_proved_not_ordered_that_cannot_be_given_back_is_logged_as_a_release_failure(capsys):
    store = FlakyStore()
    w = world(store=store)
    w.backend.answers = [cas_refused("InvalidParameter", "bad", "R")]
    with pytest.raises(CasRefused):
        w.place()
    record = w.only_record()
    assert store.replace(record.evolve(error={"Code": "CasNotOrdered", "Message": "none"}), record.version)
    store.failing.add("delete")
    capsys.readouterr()
    with pytest.raises(LedgerUnavailable):
        w.place()
    [line] = _events(_lines(capsys), "ledger.release_failed")
    assert (line["level"], line["key"], line["reason"]) == ("WARNING", record.key, "StoreUnavailable")
    assert len(w.backend.created) == 1


# --- an OrderId the ledger cannot save, and a second order for one key -----------------------------------

def test_an_order_id_the_ledger_could_not_save_is_logged_with_the_key_the_order_id_and_cas_s_request_id(capsys):
    store = FlakyStore()
    w = world(store=store)
    store.failing.add("replace:ordered")
    w.backend.answers = [PlacedOrder(98987582437920968, "REQ-777")]
    assert w.place().document["OrderId"] == 98987582437920968
    [line] = _events(_lines(capsys), "ledger.order_unrecorded")
    assert {k: line.get(k) for k in ("level", "key", "reason", "order_id", "cas_request_id")} == {
        "level": "ERROR", "key": w.only_record().key, "reason": "StoreUnavailable", "order_id": "98987582437920968",
        "cas_request_id": "REQ-777"}


def _a_second_arrival_adopts_another_order_while_the_call_is_out(w, order_id: int) -> None:
    """The first invocation's call is slow: its claim runs out, and a second arrival reconciles the key and
    adopts an order CAS lists for it, before CAS answers the first call with another OrderId."""
    place = w.backend.place

    def slow_place(order: Any, creds: Any, tags: Any = (), attempt: Any = None) -> PlacedOrder:
        w.clock.now += 3600
        w.backend.orders = [listed(order_id, bought=w.clock.now)]
        assert w.place(message_id="m-2").document["OrderId"] == order_id
        return place(order, creds, tags)

    w.backend.place = slow_place  # type: ignore[method-assign]


def test_a_second_order_for_a_key_settled_while_the_call_was_out_is_an_error_naming_both_orders(capsys):
    w = world()
    _a_second_arrival_adopts_another_order_while_the_call_is_out(w, 555)
    w.backend.answers = [PlacedOrder(777, "REQ-777")]
    done = w.place(message_id="m-1")
    assert done.document["OrderId"] == 777 and done.document["RequestId"] == "REQ-777"
    [line] = _events(_lines(capsys), "order.second_order")
    assert {k: line.get(k) for k in ("level", "key", "order_id", "recorded_order_id", "cas_request_id")} == {
        "level": "ERROR", "key": w.only_record().key, "order_id": "777", "recorded_order_id": "555",
        "cas_request_id": "REQ-777"}
    assert w.only_record().order_id == 555  # the ledger keeps the order it settled with
    orders = sorted(m["Order"]["OrderId"] for _, m in w.sinks[0].accepted if m["Type"] == "certificate.order.created")
    assert orders == [555, 777]  # the second order is announced too, so that it does not vanish


# --- casrelay itself failing while the call is out -------------------------------------------------------

def test_a_bug_while_the_paid_call_is_out_is_logged_by_type_and_leaves_the_outcome_to_reconciliation(capsys):
    w = world(reconcile_list_lag_seconds=300)
    w.backend.answers = [RuntimeError("the answer could not be read")]
    with pytest.raises(CasOutcomeUnknown) as caught:
        w.place()
    assert isinstance(caught.value.message, str) and caught.value.message
    [line] = _events(_lines(capsys), "internal.error")
    record = w.only_record()
    assert (line["level"], line["key"], line["where"]) == ("ERROR", record.key, "RuntimeError")
    assert "could not be read" not in json.dumps(line)
    assert record.state == UNKNOWN and len(w.backend.created) == 1  # never sent again blindly


def test_a_bug_while_the_paid_call_is_out_is_resolved_by_adopting_the_order_cas_lists():
    w = world(reconcile_list_lag_seconds=300)
    w.backend.answers = [RuntimeError("the answer could not be read")]
    w.backend.orders = [listed(31337, bought=w.clock.now)]
    done = w.place()
    assert done.document["OrderId"] == 31337 and done.duplicate is False
    assert w.only_record().state in (ORDERED, "delivered") and len(w.backend.created) == 1
    assert [m["Type"] for _, m in w.sinks[0].accepted] == ["certificate.order.created"]


def test_a_failure_of_no_known_kind_after_the_call_left_is_reconciled_never_sent_again():
    from casrelay.errors import RelayError

    w = world(reconcile_list_lag_seconds=300)
    w.backend.answers = [RelayError("Unexpected", "an error of no kind the flow knows")]
    with pytest.raises(RelayError) as caught:
        w.place()
    assert caught.value.code == "Unexpected"
    record = w.only_record()
    assert record.state == UNKNOWN and record.error is not None and record.error["Code"] == "Unexpected"
    w.backend.orders = [listed(4711, bought=record.attempted_at)]
    assert w.place().document["OrderId"] == 4711
    assert len(w.backend.created) == 1


def test_the_paid_call_orders_exactly_the_validated_order():
    from casrelay.validation import validate_order
    from tests.flow_support import ORDER

    w = world()
    w.place(ORDER)
    assert [order for order, _tags in w.backend.created] == [validate_order(ORDER, w.settings)]
