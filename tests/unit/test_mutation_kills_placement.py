"""Placement rules pinned where the mutation run found the order flow (``casrelay.flows.place``,
``casrelay.flows.new_order``) free to change unnoticed: what a second arrival is told while the first holds
the key, whether an answer is a replay, what happens to an OrderId or a refusal when the ledger write
after CAS's answer fails, what the one log line and metric per order say, how long a claim is held, how
many rounds one arrival may take, and whose credentials its calls carry. The doubles are in
``tests/flow_support.py``."""

from __future__ import annotations

import contextlib
import json
import time
import types
from typing import Any

import pytest

from casrelay.errors import (
    CasOutcomeUnknown,
    CasRefused,
    LedgerUnavailable,
    OrderInProgress,
    cas_outcome_unknown,
    cas_refused,
)
from casrelay.flows.place import claim_seconds
from casrelay.ledger import FAILED
from casrelay.ledger.key import derived_key, payload_hash
from casrelay.ordering import PlacedOrder
from casrelay.response import headers_of
from casrelay.validation import validate_order
from tests.flow_support import ORDER, PRODUCT, FakeBackend, FlakyStore, RecordingSink, listed, sink_down, world


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


# --- the one log line per order, which is its metric ---------------------------------------------------------------

CONTACTS = {**ORDER, "Email": "tom.zhang@example.com", "Phone": "13012345678"}
_LINE_FIELDS = ("trigger", "message_id", "key", "domains", "product", "outcome", "order_id", "cas_request_id",
                "pending_sinks", "email", "phone")


def _lines(capsys) -> list[dict]:
    return [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]


def _order_lines(lines: list[dict]) -> list[dict]:
    return [x for x in lines if x["event"].startswith("order.")]


def _metric_lines(lines: list[dict]) -> list[dict]:
    """The order's line is its metric: an order writes no metric line of its own."""
    return [m for m in lines if m["event"] == "metric"]


def test_a_placed_order_logs_one_order_placed_line_naming_its_source_key_order_and_masked_contacts(capsys):
    w = world(sinks=[RecordingSink("good"), sink_down("bad")])
    w.backend.answers = [PlacedOrder(98987582437920968, "REQ-1")]
    w.place(CONTACTS, trigger="kafka", message_id="topic/0/7")
    out = capsys.readouterr().out
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    key = w.only_record().key
    [line] = _order_lines(lines)
    assert (line["event"], line["level"]) == ("order.placed", "INFO")
    assert {k: line.get(k) for k in _LINE_FIELDS} == {
        "trigger": "kafka", "message_id": "topic/0/7", "key": key, "domains": ["a.example.com"], "product": PRODUCT,
        "outcome": "placed", "order_id": "98987582437920968", "cas_request_id": "REQ-1", "pending_sinks": ["bad"],
        "email": "t***@example.com", "phone": "***5678"}
    assert "tom.zhang" not in out and "13012345678" not in out
    assert _metric_lines(lines) == []
    [sink_failed] = [x for x in lines if x["event"] == "sink.failed"]
    assert sink_failed["key"] == key  # every line of the order carries its key, bound once


def test_a_repeated_order_logs_order_duplicate_with_the_recorded_order_and_counts_as_a_duplicate(capsys):
    w = world()
    w.backend.answers = [PlacedOrder(4242, "REQ-1")]
    w.place(CONTACTS, message_id="m-1")
    w.place(CONTACTS, message_id="m-2")
    lines = _lines(capsys)
    placed, duplicate = _order_lines(lines)
    assert (placed["event"], duplicate["event"]) == ("order.placed", "order.duplicate")
    assert {k: duplicate.get(k) for k in _LINE_FIELDS} == {
        "trigger": "http", "message_id": "m-2", "key": w.only_record().key, "domains": ["a.example.com"],
        "product": PRODUCT, "outcome": "duplicate", "order_id": "4242", "cas_request_id": "REQ-1",
        "pending_sinks": None, "email": "t***@example.com", "phone": "***5678"}
    assert "pending_sinks" not in placed  # every sink has it: nothing to name
    assert _metric_lines(lines) == []
    assert len(w.backend.created) == 1


def test_an_order_id_the_ledger_could_not_save_is_logged_as_placed_under_its_key(capsys):
    store = FlakyStore()
    w = world(store=store)
    store.failing.add("replace:ordered")
    w.backend.answers = [PlacedOrder(777, "REQ-777")]
    w.place()
    [line] = _order_lines(_lines(capsys))
    assert (line["event"], line["order_id"]) == ("order.placed", "777")
    assert line.get("key") == w.only_record().key


def test_a_refused_order_logs_one_order_failed_warning_naming_key_code_status_and_cas_s_request_id(capsys):
    from casrelay.errors import FieldError

    w = world()
    w.backend.answers = [cas_refused("InvalidParameter.Domain", "bad domain", "R-9",
                                     errors=(FieldError("Domain", "Invalid", "bad domain"),))]
    with pytest.raises(CasRefused):
        w.place(CONTACTS, trigger="rocketmq", message_id="UNIQ-1")
    lines = _lines(capsys)
    [line] = _order_lines(lines)
    assert (line["event"], line["level"]) == ("order.failed", "WARNING")
    assert {k: line.get(k) for k in ("trigger", "message_id", "key", "domains", "product", "outcome", "code",
                                     "status", "cas_request_id", "fields")} == {
        "trigger": "rocketmq", "message_id": "UNIQ-1", "key": w.only_record().key, "domains": ["a.example.com"],
        "product": PRODUCT, "outcome": "failed", "code": "InvalidParameter.Domain", "status": 400,
        "cas_request_id": "R-9", "fields": ["Domain"]}
    assert _metric_lines(lines) == []
    assert len(w.backend.created) == 1  # a refusal is not sent again


def test_an_invalid_order_logs_order_failed_with_the_fields_at_fault_and_no_key_or_order(capsys):
    from casrelay.errors import InvalidOrder

    w = world()
    with pytest.raises(InvalidOrder):
        w.place({"Domain": ""})
    [line] = _order_lines(_lines(capsys))
    assert (line["event"], line["outcome"], line["fields"]) == ("order.failed", "failed", ["Domain"])
    assert not {"key", "domains", "product"} & set(line)
    assert w.backend.created == [] and w.records() == []


def _unknown_after_a_lost_answer(w) -> type:
    w.backend.answers = [cas_outcome_unknown("read timeout")]
    return CasOutcomeUnknown


def _transient_after_cas_stays_down(w) -> type:
    from casrelay.errors import CasUnavailable, cas_unavailable

    w.backend.answers = [cas_unavailable("down"), cas_unavailable("down"), cas_unavailable("down")]
    return CasUnavailable


def _pending_while_an_earlier_outcome_is_unknown(w) -> type:
    from casrelay.errors import OutcomePending

    w.backend.answers = [cas_outcome_unknown("read timeout")]
    with pytest.raises(CasOutcomeUnknown):
        w.place()
    return OutcomePending


@pytest.mark.parametrize(("stage", "outcome", "code", "status"), [
    (_unknown_after_a_lost_answer, "unknown", "CasOutcomeUnknown", 504),
    (_pending_while_an_earlier_outcome_is_unknown, "unknown", "OrderOutcomeUnknown", 409),
    (_transient_after_cas_stays_down, "transient", "CasUnavailable", 503),
])
def test_a_failed_order_line_and_metric_say_whether_the_outcome_is_unknown_or_worth_retrying(capsys, stage, outcome,
                                                                                            code, status):
    w = world(reconcile_list_lag_seconds=300)
    expected = stage(w)
    capsys.readouterr()
    with pytest.raises(expected):
        w.place()
    lines = _lines(capsys)
    [line] = _order_lines(lines)
    assert (line["event"], line["outcome"], line["code"], line["status"]) == ("order.failed", outcome, code, status)
    assert _metric_lines(lines) == []


class _Ticks:
    """``time.monotonic`` for the order flow: a start, then an end 12.34 ms later."""

    def __init__(self) -> None:
        self.values = [500.0, 500.01234]

    def monotonic(self) -> float:
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]

    @staticmethod
    def time() -> float:
        return time.time()


@pytest.mark.parametrize("refused", [False, True])
def test_the_order_line_gives_the_placement_s_latency_in_milliseconds_to_a_tenth(capsys, monkeypatch, refused):
    import casrelay.flows.place as place_module

    w = world()
    if refused:
        w.backend.answers = [cas_refused("InvalidParameter", "bad", "R")]
    monkeypatch.setattr(place_module, "time", _Ticks())
    with pytest.raises(CasRefused) if refused else contextlib.nullcontext():
        w.place()
    [line] = _order_lines(_lines(capsys))
    assert line["latency_ms"] == 12.3 and isinstance(line["latency_ms"], float)


# --- what the ledger and the sinks keep of where an order came from ------------------------------------

def test_the_ledger_keeps_the_order_s_summary_with_its_contacts_masked_and_its_source():
    w = world()
    w.place(CONTACTS, trigger="kafka", message_id="topic/0/7")
    record = w.only_record()
    assert record.order == {"api": "package", "domains": ["a.example.com"], "product": PRODUCT, "validate": "DNS",
                            "email": "t***@example.com", "phone": "***5678"}
    assert record.source == {"trigger": "kafka", "message_id": "topic/0/7"}
    [(_, message)] = w.sinks[0].accepted
    assert message["Source"] == {"Trigger": "kafka", "MessageId": "topic/0/7"}
    assert {k: message["Order"][k] for k in ("Domains", "ProductCode", "ValidateType")} == {
        "Domains": ["a.example.com"], "ProductCode": PRODUCT, "ValidateType": "DNS"}


# --- how long a claim is held ----------------------------------------------------------------------------

class _Context:
    """An FC context: the invocation's remaining time, the function's configured timeout, or neither."""

    def __init__(self, remaining_ms: Any = None, timeout: Any = None) -> None:
        if remaining_ms is not None:
            self.get_remaining_time_in_millis = (remaining_ms if callable(remaining_ms) else lambda: remaining_ms)
        if timeout is not None:
            self.function = types.SimpleNamespace(timeout=timeout)


def _broken() -> Any:
    raise TypeError("not a number")


@pytest.mark.parametrize(("context", "seconds"), [
    (_Context(remaining_ms=20_000), 25.0),  # past the invocation's end by five seconds
    (_Context(remaining_ms=2_500), 7.5),
    (_Context(remaining_ms=0), 5.0),  # never shorter than five seconds
    (_Context(remaining_ms=20_000, timeout=600), 25.0),  # the remaining time wins over the configured timeout
    (_Context(remaining_ms="soon", timeout=60), 65.0),  # an unreadable remaining time: the function's timeout
    (_Context(remaining_ms=_broken, timeout=60), 65.0),
    (_Context(timeout=60), 65.0),
    (_Context(timeout=1), 6.0),
    (_Context(timeout=0), 42.0),  # no usable timeout: IDEMPOTENCY_CLAIM_SECONDS
    (_Context(timeout="60"), 42.0),
    (_Context(), 42.0),
    (None, 42.0),
])
def test_the_claim_outlives_the_invocation_by_five_seconds_and_lasts_at_least_five(context, seconds):
    assert claim_seconds(context, 42.0) == seconds


@pytest.mark.parametrize(("context", "seconds"), [(_Context(remaining_ms=20_000), 25.0), (None, 60.0)])
def test_the_claim_held_while_the_paid_call_is_out_lasts_as_long_as_the_invocation_may(context, seconds):
    w = world(claim_seconds=60)
    expiry: list[float | None] = []
    place = w.backend.place

    def place_and_look(order: Any, creds: Any, tags: Any = (), attempt: Any = None) -> PlacedOrder:
        expiry.append(w.only_record().claim_expires_at)
        return place(order, creds, tags)

    w.backend.place = place_and_look  # type: ignore[method-assign]
    w.place(context=context)
    assert expiry == [w.clock.now + seconds]


# --- the rounds of one arrival, and whose credentials it uses --------------------------------------------

def test_an_arrival_whose_calls_keep_proving_nothing_was_placed_stops_after_two_and_names_the_key():
    from casrelay.errors import OutcomePending

    w = world()  # the search proves at once that an unanswered call placed nothing
    w.backend.answers = [cas_outcome_unknown("read timeout") for _ in range(3)]
    with pytest.raises(OutcomePending) as caught:
        w.place()
    assert len(w.backend.created) == 2
    assert derived_key(validate_order(ORDER, w.settings)) in caught.value.message


def test_an_arrival_after_a_not_ordered_verdict_places_the_order():
    w = world()
    w.backend.answers = [cas_refused("InvalidParameter", "bad", "R")]
    with pytest.raises(CasRefused):
        w.place()
    record = w.only_record()
    assert w.store.replace(record.evolve(error={"Code": "CasNotOrdered", "Message": "none"}), record.version)
    w.backend.answers = [PlacedOrder(55, "R2")]
    done = w.place()
    assert done.document["OrderId"] == 55 and done.duplicate is False
    assert len(w.backend.created) == 2


CREDS = types.SimpleNamespace(access_key_id="AK-ctx", access_key_secret="SK-ctx", security_token="T-ctx")


class _SeeingBackend(FakeBackend):
    """The fake CAS, also noting whose credentials the quota pre-check used."""

    def quota(self, product_code: str, creds: Any) -> Any:
        self.creds_seen.append(creds)
        return super().quota(product_code, creds)


def _lost_answer() -> Exception:
    return cas_outcome_unknown("read timeout")


def _bug_after_the_call_left() -> Exception:
    return RuntimeError("the answer could not be read")


def _failure_of_no_known_kind() -> Exception:
    from casrelay.errors import RelayError

    return RelayError("Unexpected", "an error of no kind the flow knows")


@pytest.mark.parametrize("precheck", [False, True])
@pytest.mark.parametrize("failure", [_lost_answer, _bug_after_the_call_left, _failure_of_no_known_kind])
def test_the_invocation_s_credentials_sign_the_precheck_the_paid_call_and_the_reconciliation(precheck, failure):
    from casrelay.cas.credentials import Credentials
    from casrelay.errors import RelayError

    backend = _SeeingBackend()
    w = world(backend=backend, precheck_quota=precheck, reconcile_list_lag_seconds=300)
    context = types.SimpleNamespace(credentials=CREDS)
    backend.answers = [failure()]
    with pytest.raises(RelayError):
        w.place(context=context)  # the pre-check, the call, its own reconciliation
    backend.orders = [listed(99, bought=w.only_record().attempted_at)]
    assert w.place(context=context).document["OrderId"] == 99  # a later arrival's reconciliation
    mine = Credentials("AK-ctx", "SK-ctx", "T-ctx")
    assert backend.creds_seen == [mine] * (4 if precheck else 3)


def test_a_throttled_paid_call_is_sent_at_most_three_times_and_each_retry_is_logged(capsys):
    from casrelay.errors import CasThrottled, cas_throttled

    w = world()
    w.backend.answers = [cas_throttled("Throttling.User", 1, f"R{i}") for i in range(4)]
    with pytest.raises(CasThrottled):
        w.place()
    assert len(w.backend.created) == 3
    retries = [x for x in _lines(capsys) if x["event"] == "cas.retry"]
    key = derived_key(validate_order(ORDER, w.settings))
    assert [(x["key"], x["attempt"], x["code"], x["wait_s"]) for x in retries] == [
        (key, 1, "Throttling.User", 1.0), (key, 2, "Throttling.User", 1.0)]


def test_a_retry_after_a_failure_without_cas_s_own_code_is_logged_under_casrelay_s_code(capsys):
    from casrelay.errors import cas_unavailable

    w = world()
    w.backend.answers = [cas_unavailable("connection refused", retry_after=0), PlacedOrder(9, "R")]
    assert w.place().document["OrderId"] == 9
    [retry] = [x for x in _lines(capsys) if x["event"] == "cas.retry"]
    assert (retry["attempt"], retry["code"], retry["wait_s"]) == (1, "CasUnavailable", 0.4)
