"""The sweep's rules, pinned where the mutation run found ``casrelay.flows.sweep`` free to change unnoticed: its time
budget, what its summary counts, and the operator's ``ledger_admin reconcile`` path. The doubles are in
``tests/flow_support.py``: a memory ledger, a scripted CAS and recording sinks."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from casrelay.cas.credentials import Credentials
from casrelay.errors import CasOutcomeUnknown, CasRefused, cas_outcome_unknown, cas_refused
from casrelay.flows.sweep import RESERVE_SECONDS, remaining_seconds
from casrelay.ledger import FAILED, ORDERED, UNKNOWN
from tests.flow_support import FlakyStore, RecordingSink, listed, sink_down, world

CREDS = Credentials("LTAI-sweep", "sweep-secret")


@dataclass
class Function:
    timeout: Any = None


@dataclass
class Context:
    remaining_ms: Any = None
    function: Any = field(default_factory=Function)
    credentials: Any = None

    def __post_init__(self) -> None:
        if self.remaining_ms is None:
            self.get_remaining_time_in_millis = None

    def get_remaining_time_in_millis(self) -> Any:  # type: ignore[no-redef]
        return self.remaining_ms


@dataclass
class FcCredentials:
    access_key_id: str = CREDS.access_key_id
    access_key_secret: str = CREDS.access_key_secret
    security_token: str | None = None


READ_TIMEOUT_S = 10.0  # Settings().cas_read_timeout_ms / 1000
ENOUGH = Context(remaining_ms=60_000)


# --- the time budget ------------------------------------------------------------------------------

@pytest.mark.parametrize(("context", "seconds"), [
    (Context(remaining_ms=12_345), 12.345),
    (Context(remaining_ms="oops", function=Function(30)), 30.0),
    (Context(function=Function(30)), 30.0),
    (Context(function=Function(2.5)), 2.5),
    (Context(function=Function(0)), 60.0),
    (Context(function=Function(-5)), 60.0),
    (Context(function=Function(True)), 60.0),
    (Context(function=Function("30")), 60.0),
    (Context(function=None), 60.0),
    (None, 60.0),
])
def test_the_sweep_reads_its_time_from_the_remaining_time_else_the_function_timeout_else_60_s(context, seconds):
    assert remaining_seconds(context) == seconds


def _one_open_record(w) -> None:
    w.sinks[0].fail = sink_down("file").fail
    w.place()
    w.sinks[0].fail = None
    assert w.only_record().state == ORDERED and not w.only_record().settled


def test_the_sweep_starts_no_record_once_only_its_reserve_is_left():
    w = world()
    _one_open_record(w)
    budget_ms = (RESERVE_SECONDS + READ_TIMEOUT_S) * 1000
    summary = w.sweeper.run(Context(remaining_ms=budget_ms))
    assert summary["StoppedEarly"] is True and summary["Counts"] == {}
    assert w.sinks[0].accepted == []


def test_the_sweep_works_while_more_than_its_reserve_is_left():
    w = world()
    _one_open_record(w)
    summary = w.sweeper.run(Context(remaining_ms=(RESERVE_SECONDS + READ_TIMEOUT_S) * 1000 + 5))
    assert summary["StoppedEarly"] is False
    assert summary["Counts"] == {"delivered": 1}
    assert summary["Trigger"] == "timer" and summary["Seen"] == 1


def test_a_sweep_that_finished_everything_says_it_did_not_stop_early_and_how_much_is_left():
    w = world()
    summary = w.sweeper.run(ENOUGH)
    assert summary["StoppedEarly"] is False and summary["Remaining"] == 0 and summary["Seen"] == 0
    assert "Error" not in summary


def test_a_sweep_with_the_ledger_down_names_the_store_error():
    store = FlakyStore()
    w = world(store=store)
    store.failing.add("scan_open")
    summary = w.sweeper.run(ENOUGH)
    assert "StoreUnavailable" in summary["Error"]
    assert summary["Remaining"] == -1


# --- what the summary counts -------------------------------------------------------------------------

def test_an_order_a_sink_still_lacks_counts_pending_until_the_sink_takes_it():
    down = sink_down("file")
    w = world(sinks=[down])
    w.place()
    assert w.sweeper.run(ENOUGH)["Counts"] == {"pending": 1}
    down.fail = None
    assert w.sweeper.run(ENOUGH)["Counts"] == {"delivered": 1}
    assert w.only_record().settled


def _refused_order(w) -> None:
    w.backend.answers = [cas_refused("InvalidParameter", "bad", "R")]
    with pytest.raises(CasRefused):
        w.place()
    assert w.only_record().state == FAILED


def test_a_refusal_a_sink_still_lacks_counts_pending_until_the_sink_takes_it():
    down = sink_down("file")
    w = world(sinks=[down])
    _refused_order(w)
    assert w.sweeper.run(ENOUGH)["Counts"] == {"pending": 1}
    down.fail = None
    assert w.sweeper.run(ENOUGH)["Counts"] == {"failure_delivered": 1}
    assert down.types == ["certificate.order.failed"]


def _parked(w) -> None:
    w.backend.answers = [cas_outcome_unknown("read timeout")]
    with pytest.raises(CasOutcomeUnknown):
        w.place()
    assert w.sweeper.run(ENOUGH)["Counts"] == {"parked": 1}
    assert w.only_record().parked_at is not None


def test_a_parked_outcome_whose_message_a_sink_lacks_counts_pending_until_the_sink_takes_it():
    down = sink_down("file")
    w = world(sinks=[down], reconcile_list_lag_seconds=300, sweep_max_tries=1)
    _parked(w)
    assert w.sweeper.run(ENOUGH)["Counts"] == {"pending": 1}
    down.fail = None
    assert w.sweeper.run(ENOUGH)["Counts"] == {"parked": 1}
    assert down.types == ["certificate.order.unknown"]
    assert w.sweeper.run(ENOUGH)["Counts"] == {}  # told once: nothing left to do


def test_the_sweep_reconciles_with_the_invocation_s_credentials():
    w = world(reconcile_list_lag_seconds=300)
    w.backend.answers = [cas_outcome_unknown("read timeout")]
    with pytest.raises(CasOutcomeUnknown):
        w.place()
    w.backend.creds_seen.clear()
    assert w.sweeper.run(Context(remaining_ms=60_000, credentials=FcCredentials()))["Counts"] == {"unresolved": 1}
    assert w.backend.creds_seen == [CREDS]


def test_a_search_that_proves_nothing_was_placed_turns_the_record_into_a_refusal_saying_how_long_it_waited():
    w = world(reconcile_list_lag_seconds=300)
    w.backend.answers = [cas_outcome_unknown("read timeout")]
    with pytest.raises(CasOutcomeUnknown):
        w.place()
    attempted_at = w.only_record().attempted_at
    assert attempted_at is not None
    w.clock.now = attempted_at + 400
    assert w.sweeper.run(ENOUGH)["Counts"] == {"not_ordered": 1}
    record = w.only_record()
    assert record.state == FAILED and record.error is not None
    assert record.error["Code"] == "CasNotOrdered"
    assert "400 s" in record.error["Message"]
    assert "no order" in (record.note or "")
    assert w.sinks[0].types[-1] == "certificate.order.failed"


# --- the operator's reconcile --------------------------------------------------------------------------

def test_the_operator_s_reconcile_of_a_parked_record_adopts_the_order_cas_now_lists():
    w = world(reconcile_list_lag_seconds=300, sweep_max_tries=1)
    _parked(w)
    w.backend.orders = [listed(4242, bought=w.only_record().attempted_at)]
    w.backend.creds_seen.clear()
    assert w.sweeper.reconcile_now(w.only_record(), CREDS) == "adopted"
    assert w.only_record().order_id == 4242
    assert w.backend.creds_seen == [CREDS]
    assert w.sinks[0].types[-1] == "certificate.order.created"


def test_the_operator_s_reconcile_of_a_parked_record_that_cas_still_cannot_settle_leaves_it_parked():
    w = world(reconcile_list_lag_seconds=300, sweep_max_tries=1)
    _parked(w)
    assert w.sweeper.reconcile_now(w.only_record(), CREDS) == "still_parked"
    assert w.only_record().parked_at is not None and w.only_record().state == UNKNOWN


def test_the_operator_s_reconcile_of_a_parked_record_someone_else_moved_is_skipped():
    w = world(reconcile_list_lag_seconds=300, sweep_max_tries=1)
    _parked(w)
    stale = w.only_record()
    assert w.ledger.take_for_sweep(stale, 60.0) is not None  # another sweep holds it now
    assert w.sweeper.reconcile_now(stale, CREDS) == "skipped"
    assert w.sweeper.reconcile_now(w.only_record(), CREDS) == "skipped"  # ... until its lease runs out


def test_the_operator_s_reconcile_of_an_open_record_uses_the_operator_s_credentials():
    w = world(reconcile_list_lag_seconds=300)
    w.backend.answers = [cas_outcome_unknown("read timeout")]
    with pytest.raises(CasOutcomeUnknown):
        w.place()
    w.backend.creds_seen.clear()
    assert w.sweeper.reconcile_now(w.only_record(), CREDS) == "unresolved"
    assert w.backend.creds_seen == [CREDS]


def test_the_operator_s_reconcile_of_an_open_record_gives_it_back_to_the_sweep_at_once():
    w = world(reconcile_list_lag_seconds=300)
    w.backend.answers = [cas_outcome_unknown("read timeout")]
    with pytest.raises(CasOutcomeUnknown):
        w.place()
    assert w.sweeper.reconcile_now(w.only_record(), CREDS) == "unresolved"
    assert w.only_record().swept_until is None
    assert w.sweeper.run(ENOUGH)["Counts"] == {"unresolved": 1}


def test_the_operator_s_reconcile_of_a_parked_record_holds_it_for_a_minute_while_it_asks_cas():
    w = world(reconcile_list_lag_seconds=300, sweep_max_tries=1)
    _parked(w)
    seen: list[float | None] = []
    listing = w.backend.find

    def find(domains: Any, creds: Any) -> Any:
        seen.append(w.only_record().swept_until)
        return listing(domains, creds)

    w.backend.find = find  # type: ignore[method-assign]
    assert w.sweeper.reconcile_now(w.only_record(), CREDS) == "still_parked"
    assert seen == [w.clock.now + 60.0]
    assert w.only_record().swept_until is None  # given back when the operator's try is over


def test_the_operator_can_reconcile_a_parked_record_again_right_after_a_try_that_could_not_settle_it():
    w = world(reconcile_list_lag_seconds=300, sweep_max_tries=1)
    _parked(w)
    assert w.sweeper.reconcile_now(w.only_record(), CREDS) == "still_parked"
    assert w.sweeper.reconcile_now(w.only_record(), CREDS) == "still_parked"


def test_a_refusal_reaches_a_second_sink_that_was_down_while_the_first_already_had_it():
    good, down = RecordingSink("good"), sink_down("bad")
    w = world(sinks=[good, down])
    _refused_order(w)
    down.fail = None
    assert w.sweeper.run(ENOUGH)["Counts"] == {"failure_delivered": 1}
    assert good.types == down.types == ["certificate.order.failed"]
    assert good.accepted[0][0] == down.accepted[0][0]  # one message id for one refusal


def test_a_refusal_after_a_parked_outcome_reaches_the_sinks_that_already_had_the_unknown_message():
    w = world(reconcile_list_lag_seconds=300, sweep_max_tries=1)
    _parked(w)
    assert w.sinks[0].types == ["certificate.order.unknown"] and w.only_record().settled
    w.clock.now += 1000  # long past the list lag: an empty search now proves nothing was placed
    assert w.sweeper.reconcile_now(w.only_record(), CREDS) == "not_ordered"
    assert w.sinks[0].types == ["certificate.order.unknown", "certificate.order.failed"]
    assert w.only_record().state == FAILED and w.only_record().settled


# --- what goes wrong on one record, the purge, the lease ----------------------------------------------------

def _two_unknown(w) -> None:
    for domain in ("a.example.com", "b.example.com"):
        w.backend.answers = [cas_outcome_unknown("read timeout")]
        with pytest.raises(CasOutcomeUnknown):
            w.place({"Domain": domain, "ValidateType": "DNS"})


def test_each_record_the_ledger_fails_on_is_counted_and_the_sweep_goes_on():
    store = FlakyStore()
    w = world(store=store, reconcile_list_lag_seconds=300)
    _two_unknown(w)
    store.failing.add("replace")
    assert w.sweeper.run(ENOUGH)["Counts"] == {"ledger_error": 2}


def test_each_record_a_bug_stops_is_counted_and_the_sweep_goes_on_to_the_purge():
    w = world(reconcile_list_lag_seconds=300)
    _two_unknown(w)
    w.backend.list_error = RuntimeError("a bug in the listing")
    summary = w.sweeper.run(ENOUGH)
    assert summary["Counts"] == {"error": 2}
    assert summary["Remaining"] == 2 and "Error" not in summary


def test_a_record_another_sweep_holds_is_counted_skipped():
    w = world(reconcile_list_lag_seconds=300)
    _two_unknown(w)
    w.ledger.take_for_sweep(w.records()[0], 600)
    w.clock.now += 1
    assert w.sweeper.run(ENOUGH)["Counts"] == {"skipped": 1, "unresolved": 1}


def test_a_record_someone_else_already_settled_is_counted_settled():
    w = world()
    w.place()
    delivered = w.only_record()
    assert delivered.state == "delivered"
    assert w.sweeper.sweep_one(delivered, None) == "settled"


def test_a_sweep_whose_first_read_failed_skips_the_purge_even_when_the_ledger_is_back():
    store = FlakyStore()
    w = world(store=store)
    store.failing_once.add("scan_open")
    summary = w.sweeper.run(ENOUGH)
    assert "StoreUnavailable" in summary["Error"] and summary["Remaining"] == -1


def test_a_failing_purge_is_reported_and_leaves_the_remaining_count_unknown():
    store = FlakyStore()
    w = world(store=store)
    store.failing.add("purge_expired")
    summary = w.sweeper.run(ENOUGH)
    assert "StoreUnavailable" in summary["Error"] and summary["Remaining"] == -1


def _expired_delivered_record(w) -> None:
    w.place()
    assert w.only_record().state == "delivered"
    w.clock.now += w.ledger.config.retention_seconds + 1


@pytest.mark.parametrize(("left_s", "purged"), [(6.0, False), (6.001, True)])
def test_the_purge_runs_only_while_more_than_half_the_reserve_is_left(left_s, purged):
    """The reserve is RESERVE_SECONDS plus one CAS read timeout (12 s); the purge needs more than half of it."""
    w = world(follow_backoff=())  # a followed order keeps no retention: here, only the purge's timing counts
    _expired_delivered_record(w)
    summary = w.sweeper.run(Context(remaining_ms=left_s * 1000))
    if purged:
        assert summary["Counts"] == {"purged": 1} and summary["Remaining"] == 0
    else:
        assert summary["Counts"] == {} and summary["Remaining"] == -1
        assert len(w.records()) == 1


@pytest.mark.parametrize(("left_s", "lease_s"), [(RESERVE_SECONDS + READ_TIMEOUT_S + 30, 30.0),
                                                 (RESERVE_SECONDS + READ_TIMEOUT_S + 0.5, 1.0)])
def test_a_sweep_holds_each_record_for_the_time_it_may_still_run_and_at_least_a_second(left_s, lease_s):
    w = world(reconcile_list_lag_seconds=300)
    w.backend.answers = [cas_outcome_unknown("read timeout")]
    with pytest.raises(CasOutcomeUnknown):
        w.place()
    seen: list[float | None] = []
    listing = w.backend.find

    def find(domains: Any, creds: Any) -> Any:
        seen.append(w.only_record().swept_until)
        return listing(domains, creds)

    w.backend.find = find  # type: ignore[method-assign]
    assert w.sweeper.run(Context(remaining_ms=left_s * 1000))["Counts"] == {"unresolved": 1}
    assert seen == [w.clock.now + lease_s]
    assert w.only_record().swept_until is None  # given back when the sweep is done with it


def test_the_summary_says_how_long_the_sweep_took_to_the_millisecond():
    from casrelay.flows.sweep import Sweeper

    w = world()
    ticks = iter([100.0])
    sweeper = Sweeper(w.ledger, w.ledger.config, w.delivery, w.reconciler, 10000, clock=w.clock,
                      monotonic=lambda: next(ticks, 101.2345678))
    assert sweeper.run(ENOUGH)["Seconds"] == 1.235


def test_a_one_second_function_timeout_is_the_sweep_s_whole_budget():
    """FC's shortest timeout is one second; the sweep must not take it for "no timeout" and plan for 60 s."""
    assert remaining_seconds(Context(function=Function(1))) == 1.0


def test_a_search_that_proves_nothing_was_placed_says_exactly_how_long_after_the_attempt():
    w = world(reconcile_list_lag_seconds=300)
    w.backend.answers = [cas_outcome_unknown("read timeout")]
    with pytest.raises(CasOutcomeUnknown):
        w.place()
    attempted_at = w.only_record().attempted_at
    assert attempted_at is not None
    w.clock.now = attempted_at + 400
    assert w.sweeper.run(ENOUGH)["Counts"] == {"not_ordered": 1}
    error = w.only_record().error
    assert error is not None and re.search(r"(?<![\d.])400 s\b", error["Message"]), error["Message"]


def test_the_operator_s_reconcile_of_an_open_record_holds_it_for_a_minute_while_it_asks_cas():
    w = world(reconcile_list_lag_seconds=300)
    w.backend.answers = [cas_outcome_unknown("read timeout")]
    with pytest.raises(CasOutcomeUnknown):
        w.place()
    seen: list[float | None] = []
    listing = w.backend.find

    def find(domains: Any, creds: Any) -> Any:
        seen.append(w.only_record().swept_until)
        return listing(domains, creds)

    w.backend.find = find  # type: ignore[method-assign]
    assert w.sweeper.reconcile_now(w.only_record(), CREDS) == "unresolved"
    assert seen == [w.clock.now + 60.0]


# --- what the sweep logs -------------------------------------------------------------------------------------

def _events(out: str, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == event]


def test_the_sweep_logs_one_summary_line_with_what_it_did_and_how_long_it_took(capsys):
    from casrelay.flows.sweep import Sweeper

    w = world()
    _one_open_record(w)
    ticks = iter([100.0])
    sweeper = Sweeper(w.ledger, w.ledger.config, w.delivery, w.reconciler, 10000, clock=w.clock,
                      monotonic=lambda: next(ticks, 101.2345678))
    capsys.readouterr()
    sweeper.run(ENOUGH)
    [line] = _events(capsys.readouterr().out, "sweep.summary")
    assert line["level"] == "INFO" and line["trigger"] == "timer" and line["seen"] == 1
    assert line["counts"] == {"delivered": 1} and line["remaining"] == 0 and line["stopped_early"] is False
    assert line["latency_ms"] == 1234.6 and "error" not in line


def test_a_sweep_with_the_ledger_down_logs_its_summary_as_a_warning_naming_the_store_error(capsys):
    store = FlakyStore()
    w = world(store=store)
    store.failing.add("scan_open")
    capsys.readouterr()
    w.sweeper.run(ENOUGH)
    [line] = _events(capsys.readouterr().out, "sweep.summary")
    assert line["level"] == "WARNING" and line["error"] == "StoreUnavailable" and line["remaining"] == -1


def test_a_sweep_whose_recount_after_the_purge_failed_says_the_remaining_count_is_unknown():
    store = FlakyStore()
    w = world(store=store)
    purge = store.purge_expired

    def purge_then_fail_the_next_read(now: float, limit: int) -> int:
        done = purge(now, limit)
        store.failing_once.add("scan_open")
        return done

    store.purge_expired = purge_then_fail_the_next_read  # type: ignore[method-assign]
    summary = w.sweeper.run(ENOUGH)
    assert summary["Remaining"] == -1 and "StoreUnavailable" in summary["Error"]


def test_a_damaged_row_the_sweep_meets_is_logged_as_an_error_under_its_key(tmp_path, capsys):
    import sqlite3

    from casrelay.ledger import open_store

    store = open_store(f"sqlite://{tmp_path}/ledger.sqlite3")
    w = world(store=store)
    _one_open_record(w)
    key = w.only_record().key
    with sqlite3.connect(f"{tmp_path}/ledger.sqlite3") as db:
        db.execute("UPDATE ledger SET data = 'not json' WHERE key = ?", (key,))
    capsys.readouterr()
    assert w.sweeper.run(ENOUGH)["Counts"] == {"damaged": 1}
    [line] = _events(capsys.readouterr().out, "ledger.damaged")
    assert line["level"] == "ERROR" and line["key"] == key
    store.close()


def test_a_bug_on_one_record_is_logged_as_an_internal_error_under_its_key_with_the_exception_type(capsys):
    w = world(reconcile_list_lag_seconds=300)
    w.backend.answers = [cas_outcome_unknown("read timeout")]
    with pytest.raises(CasOutcomeUnknown):
        w.place()
    w.backend.list_error = ZeroDivisionError("a bug in the listing")
    capsys.readouterr()
    assert w.sweeper.run(ENOUGH)["Counts"] == {"error": 1}
    [line] = _events(capsys.readouterr().out, "internal.error")
    assert line["level"] == "ERROR" and line["key"] == w.only_record().key and line["where"] == "ZeroDivisionError"


def test_a_record_the_ledger_fails_on_is_logged_as_a_warning_under_its_key_with_the_store_error(capsys):
    store = FlakyStore()
    w = world(store=store, reconcile_list_lag_seconds=300)
    w.backend.answers = [cas_outcome_unknown("read timeout")]
    with pytest.raises(CasOutcomeUnknown):
        w.place()
    store.failing.add("replace")
    capsys.readouterr()
    assert w.sweeper.run(ENOUGH)["Counts"] == {"ledger_error": 1}
    [line] = _events(capsys.readouterr().out, "sweep.ledger_failed")
    assert line["level"] == "WARNING" and line["key"] == w.only_record().key and line["reason"] == "StoreUnavailable"


def test_parking_a_record_is_logged_as_an_error_under_its_key_with_its_names_tries_and_why(capsys):
    w = world(reconcile_list_lag_seconds=300, sweep_max_tries=1)
    w.backend.answers = [cas_outcome_unknown("read timeout")]
    with pytest.raises(CasOutcomeUnknown):
        w.place()
    capsys.readouterr()
    assert w.sweeper.run(ENOUGH)["Counts"] == {"parked": 1}
    [line] = _events(capsys.readouterr().out, "sweep.parked")
    assert line["level"] == "ERROR" and line["key"] == w.only_record().key and line["sweeps"] == 1
    assert line["domains"] == ["a.example.com"] and "too early" in line["reason"]


def test_the_sweep_folds_the_sqlite_write_ahead_log_back_into_the_database(tmp_path, monkeypatch):
    from casrelay.ledger import open_store

    store = open_store(f"sqlite://{tmp_path}/sweep.sqlite3")
    w = world(store=store)
    compacted: list[bool] = []
    monkeypatch.setattr(store, "compact", lambda: compacted.append(True))
    w.place()
    w.sweeper.run(None)
    assert compacted == [True]
    store.close()
