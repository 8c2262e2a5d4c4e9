"""Placement rules pinned where the mutation run found the order flow (``casrelay.flows.place``,
``casrelay.flows.new_order``) free to change unnoticed: what a second arrival is told while the first holds
the key, whether an answer is a replay, and what happens to an OrderId or a refusal when the ledger write
after CAS's answer fails. The doubles are in ``tests/flow_support.py``."""

from __future__ import annotations

import time

import pytest

from casrelay.errors import (
    CasOutcomeUnknown,
    CasRefused,
    LedgerUnavailable,
    OrderInProgress,
    cas_outcome_unknown,
    cas_refused,
)
from casrelay.ledger import FAILED
from casrelay.ledger.key import derived_key, payload_hash
from casrelay.ordering import PlacedOrder
from casrelay.response import headers_of
from casrelay.validation import validate_order
from tests.flow_support import ORDER, FlakyStore, RecordingSink, listed, sink_down, world


def _hold_the_key(w, seconds: float) -> None:
    """Another invocation claimed the order's key ``seconds`` ago... and is still working on it."""
    order = validate_order(ORDER, w.settings)
    claim = w.ledger.claim(derived_key(order), payload_hash(order), {"domains": list(order.domains)}, {}, seconds)
    assert claim.owned


@pytest.mark.parametrize(("claim_seconds", "retry_after"), [(12, 12), (100, 30), (0.2, 1)])
def test_a_second_arrival_while_the_key_is_claimed_is_told_to_retry_when_the_claim_runs_out(claim_seconds,
                                                                                            retry_after):
    w = world()
    w.clock.now = time.time()
    _hold_the_key(w, claim_seconds)
    with pytest.raises(OrderInProgress) as caught:
        w.place()
    assert caught.value.retry_after == retry_after
    assert headers_of(caught.value)["Retry-After"] == str(retry_after)
    assert w.backend.created == []


def test_an_unknown_outcome_that_a_later_arrival_resolves_is_answered_as_a_replay():
    w = world(reconcile_list_lag_seconds=300)
    w.backend.answers = [cas_outcome_unknown("read timeout")]
    with pytest.raises(CasOutcomeUnknown):
        w.place()
    attempted_at = w.only_record().attempted_at
    w.backend.orders = [listed(4242, bought=attempted_at)]
    done = w.place()
    assert done.duplicate is True and done.document["OrderId"] == 4242
    assert len(w.backend.created) == 1


def test_an_unknown_outcome_resolved_in_the_same_invocation_is_answered_as_new():
    w = world(reconcile_list_lag_seconds=300)
    w.backend.answers = [cas_outcome_unknown("read timeout")]
    w.backend.orders = [listed(4242, bought=w.clock.now)]
    done = w.place()
    assert done.duplicate is False and done.document["OrderId"] == 4242
    assert w.sinks[0].types == ["certificate.order.created"]


def test_a_not_ordered_key_that_cannot_be_given_back_answers_ledger_unavailable_naming_the_store_error():
    store = FlakyStore()
    w = world(store=store)
    w.backend.answers = [cas_refused("InvalidParameter", "bad", "R")]
    with pytest.raises(CasRefused):
        w.place()
    record = w.only_record()
    assert store.replace(record.evolve(error={"Code": "CasNotOrdered", "Message": "none"}), record.version)
    store.failing.add("delete")
    with pytest.raises(LedgerUnavailable) as caught:
        w.place()
    assert "StoreUnavailable" in caught.value.message
    assert len(w.backend.created) == 1  # nothing ordered while the key could not be given back


def test_a_refusal_whose_ledger_write_fails_still_reaches_the_sinks_and_the_caller():
    store = FlakyStore()
    w = world(store=store)
    store.failing.add(f"replace:{FAILED}")
    w.backend.answers = [cas_refused("InvalidParameter", "bad domain", "R")]
    with pytest.raises(CasRefused):
        w.place()
    assert w.sinks[0].types == ["certificate.order.failed"]


def test_an_order_id_the_ledger_could_not_save_is_still_answered_and_announced_with_cas_s_request_id():
    store = FlakyStore()
    good, down = RecordingSink("good"), sink_down("bad")
    w = world(store=store, sinks=[good, down])
    store.failing.add("replace:ordered")
    w.backend.answers = [PlacedOrder(777, "REQ-777")]
    done = w.place()
    assert done.document["OrderId"] == 777 and done.document["RequestId"] == "REQ-777"
    assert done.duplicate is False and done.record is None
    assert done.pending_sinks == ("bad",)
    [(_, message)] = good.accepted
    assert message["Type"] == "certificate.order.created"
    assert message["Order"]["OrderId"] == 777 and message["Order"]["RequestId"] == "REQ-777"


# --- the paid call -------------------------------------------------------------------------------------

def test_the_paid_call_carries_the_idempotency_key_as_a_tag():
    from casrelay.ledger.key import short_tag_value

    w = world()
    w.place()
    [(_order, tags)] = w.backend.created
    key = w.only_record().key
    assert tags == (("casrelay-idempotency-key", short_tag_value(key)),)


def test_without_a_tag_key_the_paid_call_carries_no_tag():
    w = world(order_tag_key="")
    w.place()
    assert [tags for _, tags in w.backend.created] == [()]


def _with_user_tags(n: int) -> dict:
    return {**ORDER, "Tags": [{"Key": f"k{i}", "Value": "v"} for i in range(n)]}


def test_the_idempotency_tag_is_added_while_there_is_room_for_it_among_cas_s_20_tags():
    w = world()
    w.place(_with_user_tags(19))
    w.place({**_with_user_tags(20), "Domain": "b.example.com"})
    assert [len(tags) for _, tags in w.backend.created] == [1, 0]


def test_a_resend_safe_refusal_is_retried_after_the_wait_cas_asked_for_capped_at_two_seconds():
    from casrelay.errors import cas_throttled

    w = world()
    w.backend.answers = [cas_throttled("Throttling.User", 1, "R1"), cas_throttled("Throttling.User", 5, "R2"),
                         PlacedOrder(9, "R3")]
    assert w.place().document["OrderId"] == 9
    assert w.sleeps == [1.0, 2.0]


def test_without_a_wait_from_cas_the_retries_back_off_exponentially():
    from casrelay.errors import cas_failed

    w = world()
    w.backend.answers = [cas_failed("SignatureNonceUsed", "nonce", "R1"), cas_failed("SignatureNonceUsed", "n", "R2"),
                         PlacedOrder(9, "R3")]
    assert w.place().document["OrderId"] == 9
    assert w.sleeps == [0.4, 0.8]
    assert len(w.backend.created) == 3
