"""Rules of the webhook signature check (``casrelay.auth``) and of reading a ledger record back
(``casrelay.ledger.record``), pinned where the mutation run found them free to change unnoticed."""

from __future__ import annotations

import json

import pytest

from casrelay.auth import WebhookVerifier
from casrelay.errors import Unauthenticated
from casrelay.ledger import LedgerRecord
from casrelay.ledger.record import DamagedRecord
from casrelay.response import status_of
from devkit.embedded import DEMO_WEBHOOK_SECRET
from devkit.fc_local import sign_webhook

BODY = b'{"Domain": "a.example.com"}'


def _verify(msg_id: str) -> str:
    return WebhookVerifier((DEMO_WEBHOOK_SECRET,)).verify(sign_webhook(DEMO_WEBHOOK_SECRET, BODY, msg_id), BODY)


def test_a_correctly_signed_webhook_id_of_exactly_256_characters_is_accepted():
    msg_id = "m" * 256
    assert _verify(msg_id) == msg_id


def test_a_correctly_signed_webhook_id_of_257_characters_is_refused():
    with pytest.raises(Unauthenticated) as caught:
        _verify("m" * 257)
    assert "256" in caught.value.message


def test_a_correctly_signed_short_webhook_id_with_a_dot_is_refused():
    """Standard Webhooks signs "id.timestamp.body": a '.' in the id would make the signed text ambiguous."""
    with pytest.raises(Unauthenticated) as caught:
        _verify("msg.1")
    assert "'.'" in caught.value.message


def test_a_request_missing_signature_headers_is_told_exactly_which_ones_are_missing():
    with pytest.raises(Unauthenticated) as caught:
        WebhookVerifier((DEMO_WEBHOOK_SECRET,)).verify({"webhook-id": "msg_1"}, BODY)
    named = caught.value.message.rsplit(": ", 1)[1].split(", ")
    assert named == ["webhook-timestamp", "webhook-signature"]


def test_a_body_that_is_not_utf8_text_is_refused_as_unauthenticated_not_as_a_crash():
    """Standard Webhooks signs text; bytes that are not UTF-8 cannot carry a valid signature."""
    headers = sign_webhook(DEMO_WEBHOOK_SECRET, BODY, "msg_1")
    with pytest.raises(Unauthenticated) as caught:
        WebhookVerifier((DEMO_WEBHOOK_SECRET,)).verify(headers, b'{"Domain": "\xff.example.com"}')
    assert status_of(caught.value) == 401


# --- reading a record back ------------------------------------------------------------------------------

def _stored(**fields: object) -> str:
    data = json.loads(LedgerRecord(key="k", payload_hash="h", state="unknown",
                                   order={"domains": ["a.example.com"], "product": "p"}).to_json())
    data.update(fields)
    return json.dumps(data)


@pytest.mark.parametrize("order", [
    {"domains": "a.example.com", "product": "p"},   # a string, not a list
    {"domains": [""], "product": "p"},              # an empty name
    {"domains": [1], "product": "p"},               # not a name
    {"domains": ["a.example.com"], "product": 5},   # a product that is not text
])
def test_a_stored_order_summary_reconciliation_could_not_read_makes_the_record_damaged(order):
    with pytest.raises(DamagedRecord):
        LedgerRecord.from_json(_stored(order=order))


@pytest.mark.parametrize("fields", [
    {"created_at": "yesterday"},
    {"updated_at": None},
    {"order_id": True},
    {"sweeps": "1"},
])
def test_a_stored_record_with_a_field_of_the_wrong_type_is_damaged(fields):
    with pytest.raises(DamagedRecord):
        LedgerRecord.from_json(_stored(**fields))


def test_a_stored_record_written_by_this_code_reads_back_unchanged():
    record = LedgerRecord(key="k", payload_hash="h", state="ordered", order_id=7, created_at=1.5, updated_at=2,
                          order={"domains": ["a.example.com"], "product": None})
    assert LedgerRecord.from_json(record.to_json()) == record
