"""Reconciliation rules pinned where the mutation run found ``casrelay.flows.reconcile`` free to change unnoticed:
the exact edges of the "may be ours" window, an unrelated order in CAS's fuzzy keyword search, and when
another key's paid call contests a listed order."""

from __future__ import annotations

from dataclasses import replace

import pytest

from casrelay.flows.reconcile import ABSENT, ADOPTED, CLOCK_MARGIN_SECONDS, UNRESOLVED, Reconciler
from casrelay.ledger import Ledger, LedgerConfig, LedgerRecord, open_store
from tests.flow_support import NOW, PRODUCT, Clock, FakeBackend, listed

ATTEMPT = NOW - 1000
DOMAINS = ["a.example.com"]


def _ledger(clock: Clock) -> Ledger:
    return Ledger(open_store("memory://"), LedgerConfig(), clock=clock)


def _unknown(ledger: Ledger, key: str = "auto:a", attempted: float = ATTEMPT,
             ended: float | None = None) -> LedgerRecord:
    claim = ledger.claim(key, "h-" + key, {"domains": DOMAINS, "product": PRODUCT}, {}, 60).record
    marked = replace(claim, version=claim.version + 1, attempted_at=attempted)
    assert ledger.store.replace(marked, claim.version)
    record = ledger.unknown(marked, {"Code": "CasOutcomeUnknown"}, "timeout")
    if ended is not None:
        record = replace(record, version=record.version + 1, call_ended_at=ended)
        assert ledger.store.replace(record, record.version - 1)
    return record


def _reconciler(ledger: Ledger, gateway: FakeBackend, clock: Clock, lag: float = 0) -> Reconciler:
    return Reconciler(ledger, gateway, False, lag, clock=clock)


# --- "may be ours": what keeps an empty exact search from proving absence -----------------------------

def test_an_order_for_other_names_found_by_the_fuzzy_search_does_not_keep_ours_from_being_absent():
    """CAS matches ``Keyword`` fuzzily: searching a.example.com also lists b.a.example.com.cn."""
    clock = Clock()
    ledger = _ledger(clock)
    gw = FakeBackend(orders=[listed(9, "b.a.example.com.cn", bought=ATTEMPT + 5)])
    assert _reconciler(ledger, gw, clock).run(_unknown(ledger), None).verdict == ABSENT


def test_an_order_in_another_shape_bought_exactly_at_the_attempt_less_the_margin_may_be_ours():
    clock = Clock()
    ledger = _ledger(clock)
    edge = ATTEMPT - CLOCK_MARGIN_SECONDS
    gw = FakeBackend(orders=[listed(9, "a.example.com,c.example.com", bought=edge)])
    assert _reconciler(ledger, gw, clock).run(_unknown(ledger), None).verdict == UNRESOLVED
    gw.orders = [listed(9, "a.example.com,c.example.com", bought=edge - 0.001)]
    ledger = _ledger(clock)
    assert _reconciler(ledger, gw, clock).run(_unknown(ledger), None).verdict == ABSENT


def test_reconciliation_never_adopts_an_order_bought_before_the_attempt_less_the_margin():
    clock = Clock()
    ledger = _ledger(clock)
    edge = ATTEMPT - CLOCK_MARGIN_SECONDS
    gw = FakeBackend(orders=[listed(9, bought=edge - 0.001)])
    assert _reconciler(ledger, gw, clock, lag=10**6).run(_unknown(ledger), None).verdict == UNRESOLVED
    gw.orders = [listed(9, bought=edge)]
    ledger = _ledger(clock)  # a fresh ledger: the first record would be the second one's rival
    result = _reconciler(ledger, gw, clock, lag=10**6).run(_unknown(ledger), None)
    assert result.verdict == ADOPTED and result.record.order_id == 9 and result.candidates == 1


# --- adoption ---------------------------------------------------------------------------------------

def test_an_adopted_order_says_it_was_adopted_by_reconciliation_and_invents_no_request_id():
    clock = Clock()
    ledger = _ledger(clock)
    result = _reconciler(ledger, FakeBackend(orders=[listed(9, bought=ATTEMPT)]), clock).run(_unknown(ledger), None)
    assert result.adopted and result.record.order_id == 9
    assert result.record.cas_request_id in ("", None)
    assert "reconciliation" in (result.record.note or "")
    assert ledger.get("auto:a") == result.record


# --- another key's paid call: contested candidates ------------------------------------------------------

def _rival(ledger: Ledger, attempted: float, ended: float | None) -> LedgerRecord:
    return _unknown(ledger, key="key:rival", attempted=attempted, ended=ended)


def test_a_rival_whose_call_started_well_after_the_order_was_bought_does_not_contest_it():
    clock = Clock()
    ledger = _ledger(clock)
    _rival(ledger, attempted=ATTEMPT + 600, ended=ATTEMPT + 601)
    gw = FakeBackend(orders=[listed(9, bought=ATTEMPT + 1)])
    assert _reconciler(ledger, gw, clock).run(_unknown(ledger), None).verdict == ADOPTED


def test_a_rival_whose_call_ended_well_before_the_order_was_bought_does_not_contest_it():
    clock = Clock()
    ledger = _ledger(clock)
    _rival(ledger, attempted=ATTEMPT - 900, ended=ATTEMPT - 899)
    gw = FakeBackend(orders=[listed(9, bought=ATTEMPT + 1)])
    assert _reconciler(ledger, gw, clock).run(_unknown(ledger), None).verdict == ADOPTED


def test_a_rival_contests_an_order_bought_exactly_at_either_edge_of_its_call_window():
    for bought in (ATTEMPT + 600 - CLOCK_MARGIN_SECONDS, ATTEMPT + 601 + CLOCK_MARGIN_SECONDS):
        clock = Clock()
        ledger = _ledger(clock)
        _rival(ledger, attempted=ATTEMPT + 600, ended=ATTEMPT + 601)
        gw = FakeBackend(orders=[listed(9, bought=bought)])
        result = _reconciler(ledger, gw, clock).run(_unknown(ledger), None)
        assert result.verdict == UNRESOLVED and result.record.order_id is None, bought


# --- which listed orders are exactly ours ------------------------------------------------------------------

def _owned_elsewhere(ledger: Ledger, order_id: int) -> None:
    other = ledger.claim("key:other", "h-other", {"domains": DOMAINS, "product": PRODUCT}, {}, 60).record
    ledger.ordered(ledger.attempting(other), order_id, "R")


@pytest.mark.parametrize("not_ours", ["other-names", "other-product", "revoked", "too-early", "foreign"])
def test_an_order_that_is_not_ours_listed_first_does_not_hide_ours_listed_after_it(not_ours):
    clock = Clock()
    ledger = _ledger(clock)
    first = {
        "other-names": listed(5, "z.example.com", bought=ATTEMPT),
        "other-product": listed(5, product="geotrust-dv-1-starter", bought=ATTEMPT),
        "revoked": listed(5, status="REVOKED", bought=ATTEMPT),
        "too-early": listed(5, bought=ATTEMPT - CLOCK_MARGIN_SECONDS - 60),
        "foreign": listed(5, bought=ATTEMPT),
    }[not_ours]
    if not_ours == "foreign":
        _owned_elsewhere(ledger, 5)
    gw = FakeBackend(orders=[first, listed(9, bought=ATTEMPT + 1)])
    result = _reconciler(ledger, gw, clock).run(_unknown(ledger), None)
    assert result.verdict == ADOPTED and result.record.order_id == 9


def test_cancelling_duplicates_keeps_the_earliest_bought_order_whatever_its_order_id():
    clock = Clock()
    ledger = _ledger(clock)
    gw = FakeBackend(orders=[listed(3, bought=ATTEMPT + 50), listed(8, bought=ATTEMPT + 1)])
    result = Reconciler(ledger, gw, True, 0, clock=clock).run(_unknown(ledger), None)
    assert result.verdict == ADOPTED and result.record.order_id == 8
    assert gw.cancelled == [3] and result.cancelled == (3,)


def test_duplicates_that_could_not_all_be_cancelled_leave_the_record_unresolved():
    clock = Clock()
    ledger = _ledger(clock)
    gw = FakeBackend(orders=[listed(7, bought=ATTEMPT + 1), listed(8, bought=ATTEMPT + 2),
                             listed(9, bought=ATTEMPT + 3)], cancel_fails_for={9})
    result = Reconciler(ledger, gw, True, 0, clock=clock).run(_unknown(ledger), None)
    assert result.verdict == UNRESOLVED and result.record.order_id is None
    assert gw.cancelled == [8]


def test_an_empty_search_proves_absence_from_exactly_the_list_lag_after_the_call_ended():
    clock = Clock()
    ledger = _ledger(clock)
    record = _unknown(ledger, ended=NOW - 300)
    assert _reconciler(ledger, FakeBackend(), clock, lag=300).run(record, None).verdict == ABSENT
    record = _unknown(ledger, key="auto:b", ended=NOW - 299.999)
    assert _reconciler(ledger, FakeBackend(), clock, lag=300).run(record, None).verdict == UNRESOLVED
