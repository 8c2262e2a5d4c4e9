"""The chaos run's verdict (devkit/chaos_check.py) on hand-made inputs: a run that kept both promises
passes, and each way of breaking one is reported."""

from __future__ import annotations

from dataclasses import replace

import pytest

from devkit.chaos_check import CREATED, FAILED, CallerAnswer, LedgerEntry, PaidOrder, SinkMessage, check

SINKS = ("file", "callback", "mns")
A, B, C = "a.example.com", "b.example.com", "c.example.com"


def created(order_id: int, domain: str, msg_id: str, sinks: tuple[str, ...] = SINKS) -> list[SinkMessage]:
    return [SinkMessage(s, msg_id, CREATED, (domain,), order_id) for s in sinks]


def good_run() -> dict[str, list]:  # type: ignore[type-arg]
    """A placed, retried until success; B placed for a caller that never retried (its call was killed after
    CAS answered, the sweep delivered it); C never placed, and its single answer said so (throttled)."""
    return {
        "paid": [PaidOrder(1001, (A,)), PaidOrder(1002, (B,))],
        "messages": created(1001, A, "msg_a") + created(1002, B, "msg_b"),
        "answers": [
            CallerAnswer(A, retried=True, status=200, order_id=1001),
            CallerAnswer(B, retried=False, code="Killed"),
            CallerAnswer(C, retried=False, status=429, code="Throttling"),
            CallerAnswer(A, retried=False, status=400, code="InvalidParameter", replay="header:Idempotency-Key"),
        ],
        "ledger": [LedgerEntry("k-a", "delivered", (A,), 1001), LedgerEntry("k-b", "delivered", (B,), 1002)],
    }


def problems(**changes: list) -> list[str]:  # type: ignore[type-arg]
    data = {**good_run(), **changes}
    return check(orders=[A, B, C], sinks=list(SINKS), **data)


def test_a_run_that_kept_both_promises_passes() -> None:
    assert problems() == []


def test_an_order_placed_twice_is_reported() -> None:
    run = good_run()
    found = problems(paid=[*run["paid"], PaidOrder(1003, (A,))])

    assert any(f"{A} was ordered 2 times: [1001, 1003]" in p for p in found)


def test_an_order_id_missing_at_one_sink_is_reported() -> None:
    run = good_run()
    messages = [m for m in run["messages"] if not (m.order_id == 1002 and m.sink == "mns")]

    assert problems(messages=messages) == [f"OrderId 1002 ({B}) never reached mns"]


def test_one_order_under_two_message_ids_is_reported() -> None:
    run = good_run()
    messages = [replace(m, message_id="msg_other") if m.order_id == 1001 and m.sink == "callback" else m
                for m in run["messages"]]

    assert problems(messages=messages) == ["OrderId 1001 reached the sinks under 2 message ids"]


def test_a_leftover_unknown_record_is_reported() -> None:
    run = good_run()
    found = problems(ledger=[*run["ledger"], LedgerEntry("k-c", "unknown", (C,))])

    assert found == [f"unknown record left for {C}"]


@pytest.mark.parametrize("entry, expected", [
    (LedgerEntry("k-c", "unknown", (C,), parked=True), f"unknown record left for {C} (parked)"),
    (LedgerEntry("k-c", "claimed", (C,), claim_lapsed=True), f"lapsed claim left for {C}"),
    (LedgerEntry("k-c", "claimed", (C,)), f"claim left for {C}"),
])
def test_a_leftover_claim_or_parked_record_is_reported(entry: LedgerEntry, expected: str) -> None:
    assert problems(ledger=[*good_run()["ledger"], entry]) == [expected]


def test_an_unsettled_ordered_record_is_reported() -> None:
    ledger = [LedgerEntry("k-a", "ordered", (A,), 1001, pending_sinks=("callback",)),
              LedgerEntry("k-b", "delivered", (B,), 1002)]

    assert problems(ledger=ledger) == [f"ordered record for {A} not delivered to callback"]


def test_an_order_missing_though_its_caller_retried_is_reported() -> None:
    run = good_run()
    paid = [p for p in run["paid"] if p.order_id != 1001]
    messages = [m for m in run["messages"] if m.order_id != 1001]
    ledger = [e for e in run["ledger"] if e.order_id != 1001]

    found = problems(paid=paid, messages=messages, ledger=ledger)

    assert found == [f"{A}: its caller was told OrderId 1001, which CAS does not hold"]


def test_a_retrying_caller_that_never_got_an_order_id_is_reported() -> None:
    answers = [CallerAnswer(A, retried=True, status=503, code="CasUnavailable"), *good_run()["answers"][1:]]

    assert problems(answers=answers) == [f"{A}: its caller retried but never got an OrderId (last answer 503 "
                                         "CasUnavailable)"]


def test_a_caller_told_another_order_id_than_cas_holds_is_reported() -> None:
    answers = [CallerAnswer(A, retried=True, status=200, order_id=9999), *good_run()["answers"][1:]]

    assert problems(answers=answers) == [f"{A}: its caller was told OrderId 9999, but CAS holds [1001]"]


def test_an_order_not_placed_that_nobody_was_told_about_is_reported() -> None:
    answers = [*good_run()["answers"][:2], CallerAnswer(C, retried=False, status=504, code="CasOutcomeUnknown")]

    [found] = problems(answers=answers)

    assert found.startswith(f"{C}: not placed, and neither its caller's answer (504 CasOutcomeUnknown)")


def test_an_order_not_placed_is_fine_when_every_sink_got_its_failure_message() -> None:
    answers = [*good_run()["answers"][:2], CallerAnswer(C, retried=False, status=504, code="CasOutcomeUnknown")]
    failed = [SinkMessage(s, "msg_c", FAILED, (C,), None, "CasNotOrdered") for s in SINKS]

    assert problems(answers=answers, messages=good_run()["messages"] + failed) == []
    assert problems(answers=answers, messages=good_run()["messages"] + failed[:2])  # one sink lacks it


def test_a_replay_that_was_not_refused_with_400_is_reported() -> None:
    answers = [*good_run()["answers"][:3], CallerAnswer(A, False, 200, None, 1001, replay="query:Email")]

    assert problems(answers=answers) == [f"a replay of {A}'s signed request with query:Email altered was "
                                         "answered 200, not 400"]


def test_a_paid_order_for_a_name_nobody_ordered_and_a_message_for_no_paid_order_are_reported() -> None:
    run = good_run()
    found = problems(paid=[*run["paid"], PaidOrder(1004, ("evil.example.com",))],
                     messages=run["messages"] + created(1005, A, "msg_x", ("file",)))

    assert "paid order(s) [1004] for evil.example.com, which no caller ordered" in found
    assert f"file got {CREATED} for OrderId 1005, which is not a paid order" in found


def test_a_ledger_that_contradicts_cas_is_reported() -> None:
    ledger = [LedgerEntry("k-a", "delivered", (A,), 7777), LedgerEntry("k-b", "failed", (B,))]

    found = problems(ledger=ledger)

    assert f"the ledger holds OrderId 7777 for {A}; CAS holds [1001]" in found
    assert f"the ledger says {B} failed, but CAS holds [1002]" in found
