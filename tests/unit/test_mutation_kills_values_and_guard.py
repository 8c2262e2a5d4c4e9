"""Replaying a stored refusal (``casrelay.errors.values``) and logging a failed bookkeeping write
(``casrelay.ledger.guard.attempt``), pinned where the mutation run found them free to change unnoticed.

A ``failed`` record's error is answered again, without calling CAS, to every later arrival of the order.
The row may be damaged or written by another release: whatever part of it cannot be read is left out
of the answer or replaced by the refusal's own default, never by a made-up value (``"None"``), and the
replay still orders nothing. The doubles are in ``tests/flow_support.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from casrelay.cas.errors import resend_is_safe
from casrelay.errors import CasFailed, CasRefused, LedgerUnavailable, RelayError, cas_failed, cas_refused
from casrelay.ledger import FAILED, guard
from casrelay.ledger.exceptions import StoreUnavailable
from casrelay.response import error_document, headers_of, status_of
from tests.flow_support import FlakyStore, World, world


def _replay(stored_error: dict[str, Any]) -> tuple[World, RelayError]:
    """CAS refuses the order once; the stored refusal is then replaced by ``stored_error`` (a damaged or
    foreign row), and the next arrival of the same order is answered from it."""
    w = world()
    w.backend.answers = [cas_refused("InvalidParameter.Domain", "CAS refused the order: bad", "REQ-1")]
    with pytest.raises(CasRefused):
        w.place()
    record = w.only_record()
    assert record.state == FAILED
    assert w.store.replace(record.evolve(error=stored_error), record.version)
    with pytest.raises(RelayError) as caught:
        w.place(message_id="m-2")
    assert len(w.backend.created) == 1, "a replayed refusal must not order again"
    return w, caught.value


def test_a_stored_field_error_missing_some_of_its_parts_is_answered_with_those_parts_empty() -> None:
    _, err = _replay({"Kind": "CasRefused", "Code": "InvalidParameter", "Message": "bad", "Errors": [
        {"Code": "InvalidParameter.Domain", "Message": "no field"},
        {"Field": "Domain", "Message": "no code"},
        {"Field": "Domain", "Code": "InvalidParameter.Domain"},
    ]})
    assert error_document(err, "REQ-NEW")["Errors"] == [
        {"Field": "", "Code": "InvalidParameter.Domain", "Message": "no field"},
        {"Field": "Domain", "Code": "", "Message": "no code"},
        {"Field": "Domain", "Code": "InvalidParameter.Domain", "Message": ""},
    ]


def test_a_stored_refusal_without_a_code_is_answered_as_cas_refused() -> None:
    _, err = _replay({"Kind": "CasRefused", "Message": "bad"})
    assert status_of(err) == 400
    assert error_document(err, "REQ-NEW")["Code"] == "CasRefused"


def test_a_stored_refusal_without_a_message_still_tells_the_caller_it_was_refused() -> None:
    _, err = _replay({"Kind": "CasRefused", "Code": "InvalidParameter"})
    message = error_document(err, "REQ-NEW")["Message"]
    assert "refused" in message.lower()


@pytest.mark.parametrize("retry_after", ["soon", True, 2.5])
def test_a_stored_retry_hint_that_is_not_a_whole_number_of_seconds_is_not_passed_on(retry_after: Any) -> None:
    _, err = _replay({"Kind": "CasRefused", "Code": "InvalidParameter", "Message": "bad", "RetryAfter": retry_after})
    assert "Retry-After" not in headers_of(err)
    assert "RetryAfter" not in error_document(err, "REQ-NEW")


def test_a_stored_retry_hint_of_whole_seconds_is_passed_on() -> None:
    _, err = _replay({"Kind": "CasRefused", "Code": "InvalidParameter", "Message": "m", "RetryAfter": 3})
    assert headers_of(err)["Retry-After"] == "3" and error_document(err, "REQ-NEW")["RetryAfter"] == 3


@pytest.mark.parametrize("cas_code", [["SignatureNonceUsed"], {"Code": "SignatureNonceUsed"}, 5])
def test_a_stored_cas_code_that_is_not_text_is_dropped_and_never_makes_a_replay_look_resendable(
        cas_code: Any) -> None:
    _, err = _replay({"Kind": "CasFailed", "Code": "CasFailed", "Message": "m", "CasCode": cas_code})
    assert isinstance(err, CasFailed)
    assert err.cas_code is None
    assert not resend_is_safe(err)


# --- a failed ledger write, as the guard logs it --------------------------------------------------------

def _store_down() -> None:
    raise StoreUnavailable("redis://:secret@ledger:6379 refused")


def test_a_write_the_order_cannot_go_on_without_is_logged_as_an_error_naming_its_key_and_the_failure(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Before the paid call: nothing is ordered, the sender is told to retry, and an operator sees an error."""
    with pytest.raises(LedgerUnavailable):
        guard.must(_store_down, "key:c")
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (line["event"], line["level"], line["key"], line["reason"]) == (
        "ledger.unavailable", "ERROR", "key:c", "StoreUnavailable")
    assert "secret" not in json.dumps(line)


def test_a_write_after_cas_answered_that_fails_is_logged_naming_its_key_the_failure_and_the_order(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The record is finished by the sweep; the log line is what ties the key to the OrderId meanwhile."""
    assert guard.settle(_store_down, "key:d", fallback="kept", event="ledger.order_unrecorded", order_id="77") == "kept"
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (line["event"], line["level"], line["key"], line["reason"], line["order_id"]) == (
        "ledger.order_unrecorded", "ERROR", "key:d", "StoreUnavailable", "77")
    assert "secret" not in json.dumps(line)



def test_a_key_that_cannot_be_given_back_is_logged_with_its_key_and_the_store_failure_s_type(
        capsys: pytest.CaptureFixture[str]) -> None:
    """CAS refused the function's own call (nothing was spent) and the key could not be released: the
    caller still gets CAS's answer, and the log names the key (the claim lapses into reconciliation)."""
    store = FlakyStore()
    w = world(store=store)
    store.failing.add("delete")
    w.backend.answers = [cas_failed("Forbidden.RAM", "check the role", "REQ-F")]
    capsys.readouterr()
    with pytest.raises(CasFailed):
        w.place()
    key = w.only_record().key
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    [line] = [x for x in lines if x.get("event") == "ledger.release_failed"]
    assert (line["level"], line["key"], line["reason"]) == ("WARNING", key, "StoreUnavailable")
    assert "failed on cue" not in json.dumps(line)  # a store error's text may hold a URL's password


def test_every_failed_bookkeeping_write_names_its_key_and_the_store_failure_s_type_not_its_text(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The guard logs each failure the same way wherever it is used, whether or not a key is bound."""

    assert guard.attempt(_store_down, "key:b", "ledger.release_failed") is False
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (line["event"], line["key"], line["reason"]) == ("ledger.release_failed", "key:b", "StoreUnavailable")
    assert "secret" not in json.dumps(line)
