"""Ledger transitions: one owner per key, the OrderId saved before anything else, nothing ordered twice."""

from __future__ import annotations

import pytest

from casrelay.ledger import CLAIMED, DELIVERED, FAILED, ORDERED, UNKNOWN, Ledger, LedgerConfig, open_store
from casrelay.ledger.exceptions import LostRace
from casrelay.ledger.key import derived_key, explicit_key, payload_hash
from casrelay.order import Order


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def ledger(clock) -> Ledger:
    # Not followed: these are the retention's own rules (a followed order keeps none: tests/unit/test_follower.py).
    return Ledger(open_store("memory://"), LedgerConfig(retention_seconds=3600, follow_backoff=()), clock=clock)


SUMMARY = {"domains": ["a.example.com"], "product": "symantec-free-1-free", "validate": "DNS"}


def _claim(ledger, key="auto:k", payload="p1", seconds=60):
    return ledger.claim(key, payload, SUMMARY, {"trigger": "http", "message_id": "m"}, seconds)


def test_the_first_claim_owns_the_key_and_a_second_sees_it_claimed(ledger):
    first = _claim(ledger)
    second = _claim(ledger)
    assert first.owned and not second.owned
    assert second.record.state == CLAIMED


def test_the_same_key_with_a_different_payload_is_a_conflict(ledger):
    _claim(ledger)
    assert _claim(ledger, payload="p2").conflict


def test_a_lapsed_claim_whose_call_never_left_is_taken_over(ledger, clock):
    _claim(ledger, seconds=10)
    clock.now += 11
    again = _claim(ledger)
    assert again.owned and again.record.state == CLAIMED


def test_a_lapsed_claim_whose_call_left_becomes_unknown_and_is_not_ordered_again(ledger, clock):
    first = _claim(ledger, seconds=10)
    ledger.attempting(first.record)
    clock.now += 11
    again = _claim(ledger)
    assert not again.owned
    assert again.record.state == UNKNOWN
    assert _claim(ledger).record.state == UNKNOWN


def test_the_order_id_is_saved_and_deliveries_complete_the_record(ledger):
    rec = ledger.attempting(_claim(ledger).record)
    rec = ledger.ordered(rec, 98987582437920968, "REQ")
    assert rec.state == ORDERED and ledger.owner_of(98987582437920968) == "auto:k"
    rec = ledger.delivered(rec, ["a"], ["a", "b"])
    assert rec.state == ORDERED and set(rec.deliveries) == {"a"}
    rec = ledger.delivered(rec, ["b"], ["a", "b"])
    assert rec.state == DELIVERED
    assert _claim(ledger).record.order_id == 98987582437920968


def test_deliveries_from_racing_writers_are_merged(ledger):
    rec = ledger.ordered(ledger.attempting(_claim(ledger).record), 7, "REQ")
    ledger.delivered(rec, ["a"], ["a", "b"])
    merged = ledger.delivered(rec, ["b"], ["a", "b"])  # written from a stale copy
    assert set(merged.deliveries) == {"a", "b"} and merged.state == DELIVERED


def test_a_stale_writer_loses_the_race(ledger):
    rec = _claim(ledger).record
    ledger.attempting(rec)
    with pytest.raises(LostRace):
        ledger.attempting(rec)


def test_saving_the_order_id_survives_a_race_with_a_concurrent_writer(ledger):
    rec = _claim(ledger).record
    newer = ledger.attempting(rec)
    saved = ledger.ordered(rec, 42, "REQ")  # from the stale copy: retried on the newer version
    assert saved.order_id == 42 and saved.version > newer.version


def test_failed_is_answered_until_retention_ends_then_the_key_is_free(ledger, clock):
    failed = ledger.failed(ledger.attempting(_claim(ledger).record), {"Code": "NotRemainCount", "Status": 402})
    clock.now += 3601
    assert _claim(ledger).record.state == FAILED  # retention starts once every sink has the refusal
    ledger.delivered(ledger.get(failed.key), [], [])
    assert _claim(ledger).record.state == FAILED
    clock.now += 3601
    assert _claim(ledger).owned


def test_an_order_some_sink_lacks_never_expires_until_it_is_delivered(ledger, clock):
    """Promise: no OrderId lost. Retention must not forget an OrderId a sink has never received."""
    ordered = ledger.ordered(ledger.attempting(_claim(ledger).record), 77, "r")
    ordered = ledger.delivered(ordered, ["file"], ["file", "callback"])
    clock.now += 10 * 3601
    assert ledger.purge_expired(100) == 0
    again = _claim(ledger)
    assert not again.owned and again.record.order_id == 77
    ledger.delivered(ledger.get(ordered.key), ["callback"], ["file", "callback"])
    clock.now += 3601
    assert ledger.purge_expired(100) == 1


def test_a_confirmation_for_one_outcome_never_counts_for_another(ledger):
    """Promise: no OrderId lost. A late delivery write about a refusal must not mark the order as delivered."""
    record = ledger.failed(ledger.attempting(_claim(ledger).record), {"Code": "CasNotOrdered"})
    stale = record
    ordered = ledger.ordered(record, 77, "r")  # meanwhile the key was ordered
    ordered = ledger.delivered(ordered, ["file"], ["file", "callback"])
    ledger.delivered(stale, ["callback"], ["file", "callback"])  # the refusal reached the callback, late
    latest = ledger.get(ordered.key)
    assert latest.state == ORDERED and "callback" not in latest.deliveries


def test_unknown_records_never_expire(ledger, clock):
    ledger.unknown(ledger.attempting(_claim(ledger).record), {"Code": "CasOutcomeUnknown"}, "timeout")
    clock.now += 10 * 365 * 86400
    assert _claim(ledger).record.state == UNKNOWN


def test_an_operator_can_adopt_an_order_or_free_the_key(ledger):
    ledger.unknown(ledger.attempting(_claim(ledger).record), {"Code": "X"}, "timeout")
    assert ledger.resolve("auto:k", 99, "operator").order_id == 99
    ledger.unknown(ledger.attempting(_claim(ledger, key="auto:j").record), {"Code": "X"}, "timeout")
    assert ledger.resolve("auto:j", None, "operator") is None
    assert _claim(ledger, key="auto:j").owned
    assert [r.key for r in ledger.pending()] == []


def _order(**kw) -> Order:
    base = {"product_code": "symantec-free-1-free", "domains": ("a.example.com",), "domain_param": "a.example.com",
            "validate_type": "DNS"}
    base.update(kw)
    return Order(**base)


def test_derived_keys_ignore_contacts_and_domain_order_but_payload_hashes_do_not():
    a = _order(email="a@example.com")
    b = _order(email="b@example.com")
    assert derived_key(a) == derived_key(b)
    assert payload_hash(a) != payload_hash(b)
    c = _order(product_code="geotrust-dv-1-starter", domains=("b.example.com", "a.example.com"))
    d = _order(product_code="geotrust-dv-1-starter", domains=("a.example.com", "b.example.com"))
    assert derived_key(c) == derived_key(d)
    assert derived_key(a) != derived_key(_order(validate_type="FILE"))
    assert derived_key(a) != derived_key(_order(csr_public_key_sha256="ab"))


def test_explicit_and_derived_keys_live_in_separate_namespaces():
    assert explicit_key("abc").startswith("key:") and derived_key(_order()).startswith("auto:")
