"""Reconciliation rules pinned where the mutation run found ``casrelay.flows.reconcile`` free to change unnoticed:
the exact edges of the "may be ours" window, an unrelated order in CAS's fuzzy keyword search, and when
another key's paid call contests a listed order."""

from __future__ import annotations

import json
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


# --- what the operator reads in the log ----------------------------------------------------------------

def _events(out: str, event: str) -> list[dict]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == event]


def test_an_adoption_is_logged_under_its_key_with_the_order_id_and_no_cancellations(capsys):
    clock = Clock()
    ledger = _ledger(clock)
    record = _unknown(ledger)
    capsys.readouterr()
    assert _reconciler(ledger, FakeBackend(orders=[listed(98987582437920968, bought=ATTEMPT)]), clock).run(
        record, None).adopted
    [line] = _events(capsys.readouterr().out, "reconcile.adopted")
    assert line["key"] == "auto:a" and line["order_id"] == "98987582437920968"
    assert "cancelled" not in line


def test_an_adoption_that_cancelled_duplicates_logs_the_cancelled_order_ids(capsys):
    clock = Clock()
    ledger = _ledger(clock)
    record = _unknown(ledger)
    gw = FakeBackend(orders=[listed(8, bought=ATTEMPT + 1), listed(3, bought=ATTEMPT + 50)])
    capsys.readouterr()
    assert Reconciler(ledger, gw, True, 0, clock=clock).run(record, None).adopted
    [line] = _events(capsys.readouterr().out, "reconcile.adopted")
    assert line["key"] == "auto:a" and line["order_id"] == "8" and line["cancelled"] == [3]


def test_a_duplicate_paid_order_that_could_not_be_cancelled_is_logged_as_an_error_naming_it(capsys):
    """The order stays paid and live: the line is what tells an operator which one to cancel by hand."""
    clock = Clock()
    ledger = _ledger(clock)
    record = _unknown(ledger)
    gw = FakeBackend(orders=[listed(7, bought=ATTEMPT + 1), listed(9, bought=ATTEMPT + 3)], cancel_fails_for={9})
    capsys.readouterr()
    Reconciler(ledger, gw, True, 0, clock=clock).run(record, None)
    [line] = _events(capsys.readouterr().out, "reconcile.cancel_failed")
    assert line["level"] == "ERROR"
    assert line["key"] == "auto:a" and line["order_id"] == "9" and line["reason"] == "CasUnavailable"


def test_a_search_that_could_not_be_made_is_logged_under_the_key_with_cas_s_code(capsys):
    from casrelay.errors import cas_unavailable

    clock = Clock()
    ledger = _ledger(clock)
    record = _unknown(ledger)
    capsys.readouterr()
    result = _reconciler(ledger, FakeBackend(list_error=cas_unavailable("down")), clock).run(record, None)
    assert result.verdict == UNRESOLVED and "ListUserCertificateOrder" in result.reason
    assert "CasUnavailable" in result.reason
    [line] = _events(capsys.readouterr().out, "reconcile.skipped")
    assert line["level"] == "WARNING" and line["key"] == "auto:a" and line["reason"] == "CasUnavailable"


def test_an_order_another_key_s_call_may_have_placed_is_logged_unresolved_saying_so(capsys):
    clock = Clock()
    ledger = _ledger(clock)
    _rival(ledger, attempted=ATTEMPT + 600, ended=ATTEMPT + 601)
    record = _unknown(ledger)
    capsys.readouterr()
    result = _reconciler(ledger, FakeBackend(orders=[listed(9, bought=ATTEMPT + 600)]), clock).run(record, None)
    assert result.verdict == UNRESOLVED and "another key" in result.reason
    [line] = _events(capsys.readouterr().out, "reconcile.unresolved")
    assert line["level"] == "WARNING" and line["key"] == "auto:a"
    assert line["candidates"] == 1 and line["domains"] == DOMAINS and "another key" in line["reason"]


@pytest.mark.parametrize(("case", "settled_s", "why"), [
    ("early", 10, "too early"), ("early", 299.9, "too early"), ("truncated", 300, "truncated"),
    ("truncated", 400, "truncated"), ("other-shape", 400, "another shape")])
def test_an_empty_exact_search_that_proves_nothing_is_logged_with_the_reason_it_proves_nothing(capsys, case,
                                                                                               settled_s, why):
    """The reason also goes to ``sweep.parked``: it is how an operator tells a search too early to prove
    anything from a listing CAS cut short or an order that may be ours in another shape."""
    clock = Clock()
    ledger = _ledger(clock)
    record = _unknown(ledger, ended=NOW - settled_s)
    gw = FakeBackend(complete=case != "truncated",
                     orders=[listed(9, "a.example.com,c.example.com", bought=ATTEMPT)] if case == "other-shape" else [])
    capsys.readouterr()
    result = _reconciler(ledger, gw, clock, lag=300).run(record, None)
    assert result.verdict == UNRESOLVED and why in result.reason
    [line] = _events(capsys.readouterr().out, "reconcile.unresolved")
    assert line["level"] == "WARNING" and line["key"] == "auto:a" and line["domains"] == DOMAINS
    assert line["candidates"] == 0 and why in line["reason"]


def test_a_search_that_proves_absence_is_logged_under_the_key_with_how_long_the_call_had_settled(capsys):
    clock = Clock()
    ledger = _ledger(clock)
    record = _unknown(ledger, ended=NOW - 400.123)
    capsys.readouterr()
    assert _reconciler(ledger, FakeBackend(), clock, lag=300).run(record, None).verdict == ABSENT
    [line] = _events(capsys.readouterr().out, "reconcile.absent")
    assert line["key"] == "auto:a" and line["domains"] == DOMAINS and line["waited_s"] == 400.1


def test_a_ledger_that_fails_while_adopting_leaves_the_record_unresolved_and_says_the_ledger_failed(capsys):
    from tests.flow_support import FlakyStore

    clock = Clock()
    store = FlakyStore()
    ledger = Ledger(store, LedgerConfig(), clock=clock)
    record = _unknown(ledger)
    store.failing.add("replace:ordered")
    capsys.readouterr()
    result = _reconciler(ledger, FakeBackend(orders=[listed(9, bought=ATTEMPT)]), clock).run(record, None)
    assert result.verdict == UNRESOLVED and not result.adopted and result.record == record
    assert "ledger" in result.reason
    [line] = _events(capsys.readouterr().out, "ledger.write_failed")
    assert line["key"] == "auto:a" and line["reason"] == "StoreUnavailable"


def test_a_rival_whose_call_is_out_contests_the_order_even_behind_a_backlog_of_a_thousand_open_records():
    clock = Clock()
    ledger = _ledger(clock)
    for i in range(1000):  # orders whose delivery is still pending: open, and older than the two calls below
        ledger.store.create(LedgerRecord(key=f"key:backlog-{i:04d}", payload_hash="h", state="ordered",
                                         order_id=10_000 + i, created_at=NOW - 5000, updated_at=NOW - 5000,
                                         order={"domains": [f"n{i}.example.com"], "product": PRODUCT}))
    _rival(ledger, attempted=ATTEMPT + 600, ended=ATTEMPT + 601)
    gw = FakeBackend(orders=[listed(9, bought=ATTEMPT + 600)])
    result = _reconciler(ledger, gw, clock).run(_unknown(ledger), None)
    assert result.verdict == UNRESOLVED and result.record.order_id is None
