"""What reaches the sinks, pinned where the mutation run found ``casrelay.delivery`` free to change unnoticed.

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
from tests.mutation_kills_support import ORDER, RecordingSink, sink_down, world

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "order-message.v1.json").read_text())


def valid(message: dict) -> dict:
    jsonschema.validate(message, SCHEMA)
    return message


# --- failures of orders that never reached the ledger ---------------------------------------------

def _refused():
    return invalid_order([FieldError("Domain", "Invalid", "not a host name")])


def test_a_refused_record_s_failure_message_names_its_source_and_order():
    w = world()
    record = OrderRecord(dict(ORDER), "mns", "mid-1")
    order = validate_order(record.params, w.placement.settings)
    assert w.placement.push_failure(record, _refused(), order) == ()
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
    w.placement.push_failure(record, _refused(), None)
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
        w.placement.push_failure(record, _refused(), None)
    ids = [message_id for message_id, _ in w.sinks[0].accepted]
    assert ids[0] == ids[1] != ids[2]


def test_without_a_source_message_id_the_failure_id_follows_the_parameters():
    w = world()
    records = [OrderRecord({"Domain": "!!"}, "invoke"), OrderRecord({"Domain": "!!"}, "invoke"),
               OrderRecord({"Domain": "??"}, "invoke")]
    for record in records:
        w.placement.push_failure(record, _refused(), None)
    ids = [message_id for message_id, _ in w.sinks[0].accepted]
    assert ids[0] == ids[1] != ids[2]
    assert ids[0] == downstream.message_id("invoke:" + repr(records[0].params), downstream.FAILED)


def test_a_failure_push_reports_the_sinks_that_did_not_take_it():
    w = world(sinks=[RecordingSink("good"), sink_down("bad")])
    assert w.placement.push_failure(OrderRecord({"Domain": "!!"}, "mns", "m"), _refused(), None) == ("bad",)


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
    w.placement.delivery.push_unknown(record)
    [(_, message)] = w.sinks[0].accepted
    valid(message)
    assert message["Type"] == downstream.UNKNOWN
    assert message["Error"] == {"Code": "CasOutcomeUnknown", "Message": record.note}


@pytest.mark.parametrize("note", [None, ""])
def test_an_unknown_outcome_without_an_error_or_a_note_still_sends_a_valid_error(note):
    from dataclasses import replace

    w = world()
    record = replace(_lapsed_unknown(w), note=note)
    w.placement.delivery.push_unknown(record)
    [(_, message)] = w.sinks[0].accepted
    assert valid(message)["Error"] == {"Code": "CasOutcomeUnknown", "Message": ""}


def test_an_unknown_outcome_with_an_error_sends_that_error():
    from casrelay.delivery import error_doc

    w = world()
    record = _lapsed_unknown(w)
    record = w.ledger.unknown(record, error_doc(cas_outcome_unknown("read timeout", "REQ-7")), note="timeout")
    w.placement.delivery.push_unknown(record)
    [(_, message)] = w.sinks[0].accepted
    assert valid(message)["Error"] == {"Code": "CasOutcomeUnknown", "Message": "read timeout"}
