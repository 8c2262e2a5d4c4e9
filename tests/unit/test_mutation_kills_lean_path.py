"""Rules of the lean order path pinned where the mutation run found them free to change unnoticed: the claim
that inserts before it reads (and may carry the attempt mark), ``LedgerRecord.evolve`` over a copy of the
fields, the first version of a record, the write of every transition, the refusal written when its ledger
write lost a race, and the one log line per order. The doubles are in ``tests/flow_support.py``; fields such
as ``claim_token`` are asserted because ``ledger_admin list --json`` shows the whole record to the operator."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from casrelay import log
from casrelay.errors import CasRefused, OrderInProgress, cas_refused
from casrelay.ledger import CLAIMED, FAILED, ORDERED, UNKNOWN, Ledger, LedgerConfig, LedgerRecord, open_store
from casrelay.ledger.exceptions import LostRace, StoreUnavailable
from casrelay.ledger.key import derived_key, payload_hash
from casrelay.ledger.persistence.base import LedgerStore
from casrelay.ledger.persistence.memory import MemoryStore
from casrelay.ledger.record import DamagedRecord
from casrelay.ordering import PlacedOrder
from casrelay.records import OrderRecord
from casrelay.validation import validate_order
from tests.flow_support import ORDER, Clock, FakeBackend, world

KEY = "auto:k"
HASH = "h-k"
SUMMARY = {"domains": ["a.example.com"], "product": "symantec-free-1-free", "validate": "DNS"}
SOURCE = {"trigger": "http", "message_id": "m-1"}
LATER_SOURCE = {"trigger": "kafka", "message_id": "topic/0/9"}


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path) -> Iterator[LedgerStore]:
    s = open_store("memory://" if request.param == "memory" else f"sqlite://{tmp_path}/ledger.sqlite3")
    yield s
    s.close()


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def ledger(store, clock) -> Ledger:
    return Ledger(store, LedgerConfig(retention_seconds=3600, follow_backoff=()), clock=clock)


def _read(ledger: Ledger, key: str = KEY) -> LedgerRecord:
    record = ledger.get(key)
    assert record is not None
    return record


class _RacedStore(MemoryStore):
    """A memory store where a rival writes first: ``rival`` runs once, just before the first ``replace``
    (or, with ``rival_on_create``, the first ``create``) of the caller under test."""

    def __init__(self) -> None:
        super().__init__()
        self.rival: Callable[[], object] | None = None
        self.refuse_creates = 0
        self.creates = 0

    def replace(self, record: LedgerRecord, expected_version: int) -> bool:
        rival, self.rival = self.rival, None
        if rival is not None:
            rival()
        return super().replace(record, expected_version)

    def create(self, record: LedgerRecord) -> bool:
        self.creates += 1
        if self.refuse_creates:
            self.refuse_creates -= 1
            return False  # as though another writer's record were there
        return super().create(record)


def _raced(clock: Clock) -> tuple[Ledger, Ledger, _RacedStore]:
    store = _RacedStore()
    config = LedgerConfig(retention_seconds=3600, follow_backoff=())
    return Ledger(store, config, clock=clock), Ledger(store, config, clock=clock), store


# --- a fresh claim ---------------------------------------------------------------------------------------

def test_a_fresh_claim_is_owned_and_says_who_holds_the_key_since_when_and_until_when(ledger, clock):
    claim = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 30)
    assert claim.owned and not claim.conflict
    record = claim.record
    assert record.state == CLAIMED and record.key == KEY and record.payload_hash == HASH
    assert record.created_at == clock.now and record.updated_at == clock.now
    assert record.claim_expires_at == clock.now + 30
    assert isinstance(record.claim_token, str) and re.fullmatch(r"[0-9a-f]{32}", record.claim_token)
    assert record.attempted_at is None  # no attempt mark unless asked for
    assert record.order == SUMMARY and record.source == SOURCE
    assert _read(ledger) == record


def test_each_claim_gets_a_token_of_its_own(ledger):
    first = ledger.claim("auto:a", HASH, SUMMARY, SOURCE, 30).record
    second = ledger.claim("auto:b", HASH, SUMMARY, SOURCE, 30).record
    assert first.claim_token and second.claim_token and first.claim_token != second.claim_token


def test_a_claim_taken_as_the_attempt_mark_records_that_the_call_is_about_to_leave(ledger, clock):
    record = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 30, attempt=True).record
    assert record.attempted_at == clock.now and record.call_out
    assert _read(ledger).attempted_at == clock.now


def test_a_claim_keeps_its_own_copy_of_the_order_and_of_its_source(ledger):
    order, source = {**SUMMARY, "domains": ["a.example.com"]}, dict(SOURCE)
    record = ledger.claim(KEY, HASH, order, source, 30).record
    order["product"] = "changed"
    source["message_id"] = "changed"
    assert record.order == SUMMARY and record.source == SOURCE
    assert _read(ledger).order == SUMMARY and _read(ledger).source == SOURCE


def test_a_fresh_claim_is_not_old_enough_for_the_sweep(ledger):
    ledger.claim(KEY, HASH, SUMMARY, SOURCE, 30)
    assert ledger.open_records(60, 10) == ([], [])


# --- versions --------------------------------------------------------------------------------------------

def test_a_key_given_back_and_claimed_again_does_not_repeat_the_old_record_s_version(ledger):
    """A writer still holding the old record must not pass a conditional write on the new one (ABA)."""
    old = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 30).record
    ledger.release(old)
    new = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 30).record
    assert new.version != old.version
    assert not ledger.store.delete(KEY, old.version)  # the stale writer's give-back misses the live claim
    assert _read(ledger) == new


def test_a_new_record_is_valid_even_at_the_lowest_random_start(ledger, monkeypatch):
    import secrets

    monkeypatch.setattr(secrets, "randbits", lambda bits: 0)
    record = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 30).record
    assert record.version >= 1
    assert _read(ledger) == record  # a version below 1 reads back as a damaged record


def test_an_expired_record_is_claimed_afresh_at_the_next_version_of_the_old_one(ledger, clock):
    old = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 30, attempt=True).record
    ordered = ledger.ordered(old, 4242, "REQ")
    done = ledger.delivered(ordered, ["file"], ["file"])
    assert done.expires_at is not None
    clock.now = done.expires_at + 1
    claim = ledger.claim(KEY, HASH, SUMMARY, LATER_SOURCE, 30)
    assert claim.owned
    renewed = claim.record
    assert renewed.version == done.version + 1
    assert renewed.state == CLAIMED and renewed.order_id is None and renewed.created_at == clock.now
    assert renewed.source == LATER_SOURCE and renewed.claim_expires_at == clock.now + 30
    # A writer that read the old record before its last write cannot write over the new claim.
    assert not ledger.store.replace(ordered.evolve(note="stale"), ordered.version)
    assert not ledger.store.replace(ordered.evolve(note="stale"), old.version)
    assert _read(ledger) == renewed


# --- races between the insert, the read and the write -----------------------------------------------------

def test_a_record_deleted_between_the_insert_and_the_read_is_claimed_by_inserting_again(clock):
    ledger, _, store = _raced(clock)
    store.refuse_creates = 1  # the key is taken at the insert, and gone by the read
    claim = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 30)
    assert claim.owned and store.get(KEY) == claim.record
    assert store.creates == 2


def test_a_key_that_keeps_changing_under_the_claim_gives_up_with_store_unavailable(clock):
    ledger, _, store = _raced(clock)
    store.refuse_creates = 1000
    with pytest.raises(StoreUnavailable):
        ledger.claim(KEY, HASH, SUMMARY, SOURCE, 30)
    assert store.creates == 8


def test_an_arrival_that_loses_the_renewal_of_an_expired_record_is_told_the_key_is_taken(clock):
    ledger, rival, store = _raced(clock)
    first = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 30, attempt=True).record
    done = ledger.delivered(ledger.ordered(first, 4242, "REQ"), ["file"], ["file"])
    assert done.expires_at is not None
    clock.now = done.expires_at + 1
    won: list[LedgerRecord] = []
    store.rival = lambda: won.append(rival.claim(KEY, HASH, SUMMARY, LATER_SOURCE, 30).record)
    claim = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 30)
    assert won and not claim.owned and claim.record == won[0] == store.get(KEY)


def test_an_arrival_that_loses_the_take_over_of_a_lapsed_claim_is_told_the_key_is_in_progress(clock):
    ledger, rival, store = _raced(clock)
    ledger.claim(KEY, HASH, SUMMARY, SOURCE, 10)
    clock.now += 11
    won: list[LedgerRecord] = []
    store.rival = lambda: won.append(rival.claim(KEY, HASH, SUMMARY, LATER_SOURCE, 30).record)
    claim = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 30)
    assert won and not claim.owned and claim.record == won[0] == store.get(KEY)
    assert claim.record.state == CLAIMED and claim.record.source == LATER_SOURCE


def test_an_arrival_that_loses_the_lapse_into_unknown_still_learns_the_outcome_is_unknown(clock):
    ledger, rival, store = _raced(clock)
    ledger.claim(KEY, HASH, SUMMARY, SOURCE, 10, attempt=True)
    clock.now += 11
    store.rival = lambda: rival.claim(KEY, HASH, SUMMARY, LATER_SOURCE, 30)
    claim = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 30)
    assert not claim.owned and claim.record.state == UNKNOWN and claim.record == store.get(KEY)


# --- a taken key -----------------------------------------------------------------------------------------

def test_a_different_payload_under_a_taken_key_is_a_conflict_that_nobody_owns(ledger):
    held = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 30).record
    claim = ledger.claim(KEY, "another-payload", SUMMARY, SOURCE, 30)
    assert claim.conflict and not claim.owned and claim.record == held


def test_a_claim_that_lapsed_before_the_call_left_is_taken_over_with_a_new_token_and_a_new_term(ledger, clock):
    old = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 10).record
    clock.now += 11
    claim = ledger.claim(KEY, HASH, SUMMARY, LATER_SOURCE, 30)
    assert claim.owned and not claim.conflict
    taken = claim.record
    assert taken.state == CLAIMED and taken.version == old.version + 1
    assert taken.claim_token and taken.claim_token != old.claim_token
    assert taken.claim_expires_at == clock.now + 30
    assert taken.updated_at == clock.now and taken.created_at == old.created_at
    assert taken.source == LATER_SOURCE  # the arrival that orders now
    assert taken.attempted_at is None
    assert _read(ledger) == taken


def test_a_taken_over_claim_keeps_the_key_from_the_next_arrival(ledger, clock):
    """Two owners of one key would be two paid orders."""
    ledger.claim(KEY, HASH, SUMMARY, SOURCE, 10)
    clock.now += 11
    taken = ledger.claim(KEY, HASH, SUMMARY, LATER_SOURCE, 30).record
    clock.now += 1
    third = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 30)
    assert not third.owned and third.record == taken == _read(ledger)


def test_a_take_over_as_the_attempt_mark_carries_the_mark_so_its_own_lapse_is_reconciled(ledger, clock):
    ledger.claim(KEY, HASH, SUMMARY, SOURCE, 10)
    clock.now += 11
    taken = ledger.claim(KEY, HASH, SUMMARY, LATER_SOURCE, 30, attempt=True).record
    assert taken.attempted_at == clock.now and _read(ledger).attempted_at == clock.now
    clock.now += 31
    after = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 30)
    assert not after.owned and after.record.state == UNKNOWN  # its call may have left: never taken over


# --- every transition's write ----------------------------------------------------------------------------

def test_each_transition_records_when_it_was_written(ledger, clock):
    claimed = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 300).record
    clock.now += 5
    attempted = ledger.attempting(claimed)
    assert attempted.updated_at == clock.now and _read(ledger).updated_at == clock.now
    clock.now += 7
    ordered = ledger.ordered(attempted, 4242, "REQ")
    assert ordered.updated_at == clock.now and _read(ledger).updated_at == clock.now
    # the sweep and the operator's "undelivered for long" list go by the last write
    clock.now += 20
    assert ledger.open_records(60, 10) == ([], [])
    assert ledger.needs_person(undelivered_after=60) == []


def test_a_transition_that_lost_its_race_names_the_key(ledger):
    """Not every caller turns it into an answer: ``ledger_admin reconcile`` shows it to the operator as it is."""
    claimed = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 300).record
    ledger.attempting(claimed)
    with pytest.raises(LostRace, match=KEY):
        ledger.attempting(claimed)  # written from the record as it was before the mark


# --- V2.0: an order applied on a certificate instance ----------------------------------------------------

def test_an_order_applied_on_an_instance_records_the_instance_and_its_certificate(ledger):
    claimed = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 30, attempt=True).record
    saved = ledger.ordered(claimed, None, "REQ", instance_id="cas-ins-1", certificate_id=77)
    assert (saved.state, saved.order_id, saved.instance_id, saved.certificate_id) == (ORDERED, None, "cas-ins-1", 77)
    assert saved.placed and _read(ledger) == saved


def test_an_order_saved_without_naming_the_instance_keeps_the_one_its_record_leased(ledger):
    claimed = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 30, attempt=True).record
    leased = ledger._write(claimed, instance_id="cas-ins-1")
    saved = ledger.ordered(leased, None, "REQ", certificate_id=77)
    assert (saved.instance_id, saved.certificate_id) == ("cas-ins-1", 77) and _read(ledger) == saved


def test_an_instance_order_another_writer_saved_first_is_kept_not_overwritten(clock):
    ledger, rival, store = _raced(clock)
    claimed = ledger.claim(KEY, HASH, SUMMARY, SOURCE, 30, attempt=True).record
    store.rival = lambda: rival.ordered(claimed, None, "REQ-A", instance_id="cas-ins-A")
    saved = ledger.ordered(claimed, None, "REQ-B", instance_id="cas-ins-B")
    assert saved.instance_id == "cas-ins-A" and saved.cas_request_id == "REQ-A"
    assert store.get(KEY) == saved


def _stored(**fields: Any) -> str:
    return json.dumps({"key": KEY, "payload_hash": HASH, "state": ORDERED, "version": 3, "order": SUMMARY,
                       **fields})


def test_a_stored_instance_order_reads_back_with_its_certificate():
    record = LedgerRecord.from_json(_stored(instance_id="cas-ins-1", certificate_id=77))
    assert (record.instance_id, record.certificate_id) == ("cas-ins-1", 77)
    assert LedgerRecord.from_json(_stored(order_id=4242)).order_id == 4242


@pytest.mark.parametrize("fields", [
    {"instance_id": "cas-ins-1", "certificate_id": "77"},
    {"instance_id": "cas-ins-1", "certificate_id": 7.5},
    {"instance_id": "cas-ins-1", "certificate_id": True},
    {},  # an order that names neither an OrderId nor an instance
], ids=["certificate-as-text", "certificate-as-float", "certificate-as-bool", "nothing-placed"])
def test_a_stored_order_with_a_wrong_certificate_or_nothing_placed_is_damaged(fields):
    with pytest.raises(DamagedRecord):
        LedgerRecord.from_json(_stored(**fields))


# --- LedgerRecord.evolve ---------------------------------------------------------------------------------

_RECORD = LedgerRecord(key=KEY, payload_hash=HASH, state=CLAIMED, version=7, order=dict(SUMMARY),
                       source=dict(SOURCE), claim_token="t")


def test_evolve_refuses_a_name_that_is_not_a_field_and_names_it():
    with pytest.raises(TypeError, match="bogus"):
        _RECORD.evolve(bogus=1)
    with pytest.raises(TypeError, match="bogus"):
        _RECORD.evolve(state=FAILED, bogus=1)


def test_evolve_refuses_to_set_the_version_and_says_so():
    with pytest.raises(TypeError, match=r"\['version'\]"):
        _RECORD.evolve(version=99)


def test_evolve_makes_the_next_version_and_leaves_the_original_as_it_was():
    successor = _RECORD.evolve(state=FAILED, error={"Code": "X"}, claim_token=None)
    assert successor.version == _RECORD.version + 1
    assert (successor.state, successor.error, successor.claim_token) == (FAILED, {"Code": "X"}, None)
    assert successor.key == KEY and successor.order == SUMMARY and successor.source == SOURCE
    assert (_RECORD.version, _RECORD.state, _RECORD.error, _RECORD.claim_token) == (7, CLAIMED, None, "t")
    assert successor.__dict__ is not _RECORD.__dict__
    assert successor == LedgerRecord(**{**_RECORD.__dict__, "state": FAILED, "error": {"Code": "X"},
                                        "claim_token": None, "version": 8})


# --- a refusal whose ledger write lost the race to the claim's lapse -------------------------------------

class _LapsesWhileCasWorks(FakeBackend):
    """CAS refuses, but so slowly that the claim lapsed meanwhile and an arrival turned it ``unknown``."""

    ledger: Ledger | None = None

    def place(self, order: Any, creds: Any, tags: tuple[tuple[str, str], ...] = (), attempt: Any = None) -> PlacedOrder:
        assert self.ledger is not None
        self.created.append((order, tags))
        [record] = self.ledger.store.scan()
        self.ledger.lapse(record)
        raise cas_refused("InvalidParameter.Domain", "bad domain", "R-1")


@pytest.mark.parametrize("store_url", ["memory://", "sqlite"])
def test_a_refusal_that_lost_its_write_to_the_claim_s_lapse_still_lands_as_the_key_s_refusal(store_url, tmp_path):
    backend = _LapsesWhileCasWorks()
    url = store_url if store_url == "memory://" else f"sqlite://{tmp_path}/ledger.sqlite3"
    w = world(backend=backend, store=open_store(url))
    backend.ledger = w.ledger
    with pytest.raises(CasRefused):
        w.place()
    record = w.only_record()
    assert record.state == FAILED and (record.error or {}).get("Code") == "InvalidParameter.Domain"
    assert record.claim_token is None and record.claim_expires_at is None
    assert w.sinks[0].types == ["certificate.order.failed"]
    # The next arrival is answered with the refusal, not ordered again.
    with pytest.raises(CasRefused):
        w.place(message_id="m-2")
    assert len(backend.created) == 1


# --- the order's one log line ----------------------------------------------------------------------------

def _order_lines(capsys) -> list[dict]:
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    return [x for x in lines if x["event"].startswith("order.")]


def _hold_the_key(w) -> None:
    order = validate_order(ORDER, w.settings)
    assert w.ledger.claim(derived_key(order), payload_hash(order), {"domains": list(order.domains)}, {}, 60).owned


def test_an_arrival_told_the_order_is_in_progress_gets_its_order_failed_line(capsys):
    w = world()
    _hold_the_key(w)
    capsys.readouterr()
    with pytest.raises(OrderInProgress):
        w.place()
    [line] = _order_lines(capsys)
    assert (line["event"], line["code"], line["outcome"]) == ("order.failed", "OrderInProgress", "transient")


def test_a_batch_that_will_retry_an_in_progress_record_logs_no_line_for_that_answer_but_logs_a_refusal(capsys):
    w = world()
    _hold_the_key(w)
    capsys.readouterr()
    with pytest.raises(OrderInProgress):
        w.placement.place(OrderRecord(dict(ORDER), "kafka", "t/0/1", None), None, will_retry_in_progress=True)
    assert _order_lines(capsys) == []
    w.backend.answers = [cas_refused("InvalidParameter", "bad", "R")]
    other = {"Domain": "b.example.com", "ValidateType": "DNS"}
    with pytest.raises(CasRefused):
        w.placement.place(OrderRecord(other, "kafka", "t/0/2", None), None, will_retry_in_progress=True)
    [line] = _order_lines(capsys)
    assert (line["event"], line["code"]) == ("order.failed", "InvalidParameter")


class _TalliedBackend(FakeBackend):
    """Measures its calls the way the CAS client does: into the order's tally."""

    def place(self, order: Any, creds: Any, tags: tuple[tuple[str, str], ...] = (), attempt: Any = None) -> PlacedOrder:
        assert log.add_to_tally(cas_ms=12.5, cas_calls=1)
        return super().place(order, creds, tags, attempt)


@pytest.mark.parametrize("refused", [False, True])
def test_the_order_line_carries_what_its_cas_calls_cost(capsys, refused):
    w = world(backend=_TalliedBackend())
    if refused:
        w.backend.answers = [cas_refused("InvalidParameter", "bad", "R")]
        with pytest.raises(CasRefused):
            w.place()
    else:
        w.place()
    [line] = _order_lines(capsys)
    assert line["event"] == ("order.failed" if refused else "order.placed")
    assert (line["cas_calls"], line["cas_ms"]) == (1, 12.5)
