"""What reaches the sinks, pinned where the mutation run found ``casrelay.flows.delivery`` free to change unnoticed.

Every message must validate against the published schema (``schemas/order-message.v1.json``), carry an
``Id`` that is stable for one order outcome (so receivers can drop retries) and distinct between
different outcomes, and tell where the order came from.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from casrelay.errors import FieldError, cas_outcome_unknown, invalid_order
from casrelay.ledger import UNKNOWN
from casrelay.push import message as downstream
from casrelay.records import OrderRecord
from casrelay.validation import validate_order
from tests.flow_support import ORDER, RecordingSink, sink_down, world


class _Context:
    def get_remaining_time_in_millis(self) -> int:
        return 60_000


ENOUGH_TIME = _Context()
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "order-message.v1.json").read_text())


def valid(message: dict) -> dict:
    jsonschema.validate(message, SCHEMA)
    return message


# --- failures of orders that never reached the ledger ---------------------------------------------

def _refused():
    return invalid_order([FieldError("Domain", "Invalid", "not a host name")])


def test_a_refused_record_s_failure_message_names_its_source_and_order():
    w = world()
    record = OrderRecord(dict(ORDER), "mns", "mid-1")
    order = validate_order(record.params, w.settings)
    assert w.delivery.push_failure(record, _refused(), order) == ()
    [(message_id, message)] = w.sinks[0].accepted
    valid(message)
    assert message_id == message["Id"] == downstream.message_id("mns:mid-1", downstream.FAILED)
    assert message["Type"] == downstream.FAILED and message["IdempotencyKey"] is None
    assert message["Source"] == {"Trigger": "mns", "MessageId": "mid-1"}
    assert message["Order"]["Domains"] == ["a.example.com"]
    assert message["Order"]["ProductCode"] == order.product_code
    assert message["Order"]["ValidateType"] == "DNS"
    assert message["Error"]["Code"] == "InvalidParameter"
    assert message["Error"]["Errors"] == [{"Field": "Domain", "Code": "Invalid", "Message": "not a host name"}]


def test_a_refused_record_that_could_not_be_read_as_an_order_is_reported_without_order_details():
    w = world()
    record = OrderRecord({"Domain": "!!"}, "mns", "mid-2")
    w.delivery.push_failure(record, _refused(), None)
    [(_, message)] = w.sinks[0].accepted
    valid(message)
    assert message["Order"]["Domains"] == [] and message["Order"]["ProductCode"] is None
    assert message["Order"]["ValidateType"] is None


def test_the_failure_id_follows_the_source_message_so_a_redelivery_is_recognised():
    w = world()
    first = OrderRecord({"Domain": "!!"}, "mns", "mid-3")
    again = OrderRecord({"Domain": "!!", "Extra": 1}, "mns", "mid-3")
    other = OrderRecord({"Domain": "!!"}, "mns", "mid-4")
    for record in (first, again, other):
        w.delivery.push_failure(record, _refused(), None)
    ids = [message_id for message_id, _ in w.sinks[0].accepted]
    assert ids[0] == ids[1] != ids[2]


def test_without_a_source_message_id_the_failure_id_follows_the_parameters():
    w = world()
    records = [OrderRecord({"Domain": "!!"}, "invoke"), OrderRecord({"Domain": "!!"}, "invoke"),
               OrderRecord({"Domain": "??"}, "invoke")]
    for record in records:
        w.delivery.push_failure(record, _refused(), None)
    ids = [message_id for message_id, _ in w.sinks[0].accepted]
    assert ids[0] == ids[1] != ids[2]
    assert ids[0] == downstream.message_id("invoke:" + repr(records[0].params), downstream.FAILED)


def test_a_failure_push_reports_the_sinks_that_did_not_take_it():
    w = world(sinks=[RecordingSink("good"), sink_down("bad")])
    assert w.delivery.push_failure(OrderRecord({"Domain": "!!"}, "mns", "m"), _refused(), None) == ("bad",)


# --- the unknown outcome ---------------------------------------------------------------------------

def _lapsed_unknown(w):
    """An ``unknown`` record with no error document: a claim that lapsed after the paid call left."""
    claim = w.ledger.claim("auto:k", "h", {"domains": ["a.example.com"], "product": "p"}, {"trigger": "http"}, 60)
    attempted = w.ledger.attempting(claim.record)
    record = w.ledger.lapse(attempted)
    assert record.state == UNKNOWN and record.error is None
    return record


def test_an_unknown_outcome_without_an_error_says_cas_outcome_unknown_with_the_record_s_note():
    w = world()
    record = _lapsed_unknown(w)
    w.delivery.push_unknown(record)
    [(_, message)] = w.sinks[0].accepted
    valid(message)
    assert message["Type"] == downstream.UNKNOWN
    assert message["Error"] == {"Code": "CasOutcomeUnknown", "Message": record.note}


@pytest.mark.parametrize("note", [None, ""])
def test_an_unknown_outcome_without_an_error_or_a_note_still_sends_a_valid_error(note):
    from dataclasses import replace

    w = world()
    record = replace(_lapsed_unknown(w), note=note)
    w.delivery.push_unknown(record)
    [(_, message)] = w.sinks[0].accepted
    assert valid(message)["Error"] == {"Code": "CasOutcomeUnknown", "Message": ""}


def test_an_unknown_outcome_with_an_error_sends_that_error():
    from casrelay.errors.values import to_value as error_doc

    w = world()
    record = _lapsed_unknown(w)
    record = w.ledger.unknown(record, error_doc(cas_outcome_unknown("read timeout", "REQ-7")), note="timeout")
    w.delivery.push_unknown(record)
    [(_, message)] = w.sinks[0].accepted
    assert valid(message)["Error"] == {"Code": "CasOutcomeUnknown", "Message": "read timeout"}


# --- the created message and the answer ---------------------------------------------------------------

def test_a_placed_order_s_message_and_answer_carry_everything_cas_and_the_order_said():
    from datetime import datetime

    from casrelay.ordering import PlacedOrder

    w = world()
    w.backend.answers = [PlacedOrder(555, "REQ-555")]
    done = w.place()
    record = w.only_record()
    assert done.record == record and done.duplicate is False
    assert done.document == {"RequestId": "REQ-555", "OrderId": 555, "OrderIdString": "555",
                             "Domains": ["a.example.com"], "ProductCode": "symantec-free-1-free"}
    [(message_id, message)] = w.sinks[0].accepted
    valid(message)
    assert message_id == downstream.message_id(f"{record.key}#555", downstream.CREATED)
    order = message["Order"]
    assert order["RequestId"] == "REQ-555" and order["ProductCode"] == "symantec-free-1-free"
    assert order["ValidateType"] == "DNS"
    ordered_at = datetime.fromisoformat(order["OrderedAt"].replace("Z", "+00:00"))
    assert abs(ordered_at.timestamp() - record.updated_at) < 0.001


def test_two_orders_for_one_key_are_announced_under_two_ids_but_refusals_under_the_key_s():
    from casrelay.ledger import LedgerRecord

    delivery = world().delivery
    base = LedgerRecord(key="key:k", payload_hash="h", state="ordered", order={"domains": ["a.example.com"],
                                                                               "product": "p"})
    first = delivery.message(downstream.CREATED, base.evolve(order_id=1))
    second = delivery.message(downstream.CREATED, base.evolve(order_id=2))
    assert first["Id"] != second["Id"]
    refused = base.evolve(state="failed", error={"Code": "CasRefused", "Message": "no"})
    assert delivery.message(downstream.FAILED, refused)["Id"] == downstream.message_id("key:k", downstream.FAILED)
    unknown = base.evolve(state="unknown")
    assert delivery.message(downstream.UNKNOWN, unknown)["Id"] == downstream.message_id("key:k", downstream.UNKNOWN)
    assert delivery.message(downstream.FAILED, refused)["Order"]["OrderedAt"] is None


def test_a_record_that_does_not_say_its_trigger_is_announced_as_http():
    from casrelay.ledger import LedgerRecord

    delivery = world().delivery
    record = LedgerRecord(key="key:k", payload_hash="h", state="ordered", order_id=1, source={},
                          order={"domains": ["a.example.com"], "product": "p", "validate": "DNS"})
    message = valid(delivery.message(downstream.CREATED, record))
    assert message["Source"] == {"Trigger": "http", "MessageId": None}


def test_a_not_ordered_verdict_is_announced_under_an_id_of_its_own_not_the_key_s_refusal_id():
    from casrelay.errors import not_ordered
    from casrelay.errors.values import to_value as error_doc

    w = world()
    claim = w.ledger.claim("key:k", "h", {"domains": ["a.example.com"], "product": "p"}, {"trigger": "http"}, 60)
    record = w.ledger.failed(w.ledger.attempting(claim.record), error_doc(not_ordered(400)))
    w.delivery.push_failed(record)
    [(message_id, message)] = w.sinks[0].accepted
    assert valid(message)["Error"]["Code"] == "CasNotOrdered"
    assert message_id != downstream.message_id("key:k", downstream.FAILED)
    assert message_id == downstream.message_id(f"key:k#not-ordered#{record.attempted_at}", downstream.FAILED)


def test_an_order_every_remaining_sink_has_is_settled_once_a_lagging_sink_is_removed_from_the_configuration():
    good, down = RecordingSink("good"), sink_down("gone")
    w = world(sinks=[good, down])
    w.place()
    assert w.only_record().state == "ordered"
    w.delivery.sinks = [good]  # the operator removed the lagging sink
    assert w.sweeper.run(ENOUGH_TIME)["Counts"] == {"delivered": 1}
    assert w.only_record().state == "delivered" and w.only_record().settled
    assert len(good.accepted) == 1  # nothing pushed twice


def test_a_not_ordered_verdict_s_id_follows_the_attempt_it_reports_not_the_moment_the_key_was_claimed():
    """Each attempt that CAS is proven not to have acted on is its own outcome (its own message id)."""
    from casrelay.errors import not_ordered
    from casrelay.errors.values import to_value as error_doc

    w = world()
    claim = w.ledger.claim("key:k", "h", {"domains": ["a.example.com"], "product": "p"}, {"trigger": "http"}, 60)
    w.clock.now += 7  # the pacer held the paid call back for a while
    attempted = w.ledger.attempting(claim.record)
    assert attempted.attempted_at != attempted.created_at
    w.delivery.push_failed(w.ledger.failed(attempted, error_doc(not_ordered(400))))
    [(message_id, _)] = w.sinks[0].accepted
    assert message_id == downstream.message_id(f"key:k#not-ordered#{attempted.attempted_at}", downstream.FAILED)
    assert message_id != downstream.message_id(f"key:k#not-ordered#{attempted.created_at}", downstream.FAILED)


def test_a_refusal_the_ledger_could_not_record_still_reaches_the_sinks_with_cas_s_code():
    from casrelay.errors import RelayError, cas_refused
    from tests.flow_support import FlakyStore

    store = FlakyStore()
    w = world(store=store)
    w.backend.answers = [cas_refused("InvalidParameter.Domain", "refused", "REQ-1")]
    store.failing_once.add("replace:failed")
    with pytest.raises(RelayError):
        w.place()
    [(_, message)] = w.sinks[0].accepted
    assert message["Type"] == downstream.FAILED
    assert valid(message)["Error"]["Code"] == "InvalidParameter.Domain"


def test_the_answer_for_an_order_adopted_by_reconciliation_invents_no_cas_request_id():
    from tests.flow_support import FakeBackend, listed

    w = world(backend=FakeBackend(orders=[listed(4242)]))
    w.backend.answers = [cas_outcome_unknown("read timeout")]
    done = w.place()  # the timeout's own reconciliation finds the order and adopts it
    assert done.record is not None and done.record.order_id == 4242
    assert done.document["OrderId"] == 4242 and done.document["RequestId"] == ""


def test_an_order_from_a_queue_is_announced_with_its_trigger_and_source_message_id():
    w = world()
    w.place(trigger="mns", message_id="M-77")
    [(_, message)] = w.sinks[0].accepted
    assert valid(message)["Source"] == {"Trigger": "mns", "MessageId": "M-77"}


# --- a sink that fails -------------------------------------------------------------------------------------

def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_a_sink_that_fails_is_logged_with_the_message_it_lacks_and_counted_by_that_line(capsys):
    from casrelay.push.exceptions import SinkError

    w = world(sinks=[RecordingSink("good"), RecordingSink("mns", SinkError("mns", "queue full", transient=True))])
    capsys.readouterr()
    w.place()
    [(message_id, message)] = w.sinks[0].accepted
    lines = _lines(capsys.readouterr().out)
    [failed] = [line for line in lines if line.get("event") == "sink.failed"]
    assert failed["level"] == "WARNING" and failed["sink"] == "mns" and failed["message_id"] == message_id
    assert failed["type"] == message["Type"] == downstream.CREATED and failed["transient"] is True
    assert "queue full" in failed["reason"]
    assert not [line for line in lines if line.get("event") == "metric"]  # the sink.failed line is the metric


def test_an_order_whose_deliveries_the_ledger_could_not_note_is_still_answered_and_the_lapse_is_logged(capsys):
    from tests.flow_support import FlakyStore

    store = FlakyStore()
    w = world(store=store)
    store.failing.add("replace:delivered")
    capsys.readouterr()
    done = w.place()
    assert done.document["OrderId"] == 1001 and done.record is not None and done.record.order_id == 1001
    assert w.only_record().state == "ordered"  # the sweep pushes it again; nothing is lost
    [line] = [line for line in _lines(capsys.readouterr().out) if line.get("event") == "ledger.delivery_unrecorded"]
    assert line["level"] == "WARNING" and line["key"] == done.record.key and line["reason"] == "StoreUnavailable"


def test_a_sink_s_long_error_text_is_cut_to_200_characters_in_its_log_line(capsys):
    from casrelay.push.exceptions import SinkError

    page = "<html>" + "x" * 5000 + "</html>"  # a gateway's error page
    w = world(sinks=[RecordingSink("callback", SinkError("callback", page, transient=True))])
    capsys.readouterr()
    w.place()
    [failed] = [line for line in _lines(capsys.readouterr().out) if line.get("event") == "sink.failed"]
    assert len(failed["reason"]) == 200 and failed["reason"] == str(SinkError("callback", page, transient=True))[:200]


def test_a_broken_sink_is_logged_as_an_error_naming_only_the_exception_type_and_counted_as_transient(capsys):
    """A bug in a sink must not lose the order: it stays pending, and the line names the exception's type only
    (its text could hold anything)."""
    w = world(sinks=[RecordingSink("good"), RecordingSink("odd", RuntimeError("secret=hunter2"))])
    capsys.readouterr()
    done = w.place()
    assert done.pending_sinks == ("odd",)
    [(message_id, message)] = w.sinks[0].accepted
    lines = _lines(capsys.readouterr().out)
    [failed] = [line for line in lines if line.get("event") == "sink.failed"]
    assert failed["level"] == "ERROR" and failed["sink"] == "odd" and failed["message_id"] == message_id
    assert failed["type"] == message["Type"] and failed["reason"] == "RuntimeError"
    assert "hunter2" not in json.dumps(lines)
    assert failed["transient"] is True  # counted as a failure that may pass, like a sink that is down
