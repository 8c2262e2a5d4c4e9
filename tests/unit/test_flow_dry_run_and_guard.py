"""The dry run and the ledger guard on their own: a fake backend, the memory store, no emulator."""

from __future__ import annotations

import json
import logging

import pytest

from casrelay.config import Settings
from casrelay.errors import LedgerUnavailable
from casrelay.flows.dry_run import DryRun
from casrelay.ledger import guard
from casrelay.ledger.exceptions import LostRace, StoreUnavailable
from casrelay.ledger.key import derived_key
from casrelay.records import OrderRecord
from casrelay.validation import validate_order
from tests.flow_support import FakeBackend, world

ORDER = {"Domain": "dry.example.com", "ValidateType": "DNS"}


def test_a_dry_run_previews_through_the_backend_with_the_key_tag_and_writes_nothing() -> None:
    w = world(order_tag_key="casrelay-idempotency-key")
    dry = DryRun(Settings(), w.backend, "casrelay-idempotency-key")
    record = OrderRecord(dict(ORDER, DryRun="true"), "http")
    assert dry.wanted(record)
    preview = dry.preview(record, None)
    key = derived_key(validate_order(ORDER, Settings()))
    assert preview["IdempotencyKey"] == key and preview["Tags"] == [["casrelay-idempotency-key", key]]
    assert w.backend.created == [] and w.records() == []


@pytest.mark.parametrize(("flag", "setting", "wanted"), [("true", False, True), (True, False, True),
                                                          ("false", False, False), (None, True, True)])
def test_a_dry_run_is_wanted_by_the_order_or_by_the_deployment(flag, setting, wanted) -> None:
    params = dict(ORDER) if flag is None else dict(ORDER, DryRun=flag)
    assert DryRun(Settings(dry_run=setting), FakeBackend(), None).wanted(OrderRecord(params, "http")) is wanted


def _fail(exc: Exception):
    def write():
        raise exc
    return write


def test_a_write_the_order_needs_turns_a_store_failure_into_ledger_unavailable(capsys) -> None:
    with pytest.raises(LedgerUnavailable) as caught:
        guard.must(_fail(StoreUnavailable("redis://:secret@host down")), "key:a")
    assert caught.value.retry_after == 2 and caught.value.transient
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (line["event"], line["key"], line["reason"]) == ("ledger.unavailable", "key:a", "StoreUnavailable")
    assert "secret" not in json.dumps(line)


def test_a_write_after_cas_answered_gives_back_the_fallback_and_logs_it(capsys) -> None:
    assert guard.settle(_fail(LostRace("key:a")), "key:a", fallback="kept", order_id="7") == "kept"
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (line["event"], line["level"], line["order_id"]) == ("ledger.write_failed", "ERROR", "7")
    assert guard.settle(lambda: "written", "key:a", fallback="kept") == "written"


def test_bookkeeping_that_fails_says_so_and_raises_nothing(capsys) -> None:
    assert guard.attempt(_fail(StoreUnavailable("x")), "key:a", "ledger.release_failed") is False
    assert guard.attempt(lambda: None, "key:a", "ledger.release_failed") is True
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (line["event"], line["level"]) == ("ledger.release_failed", logging.getLevelName(logging.WARNING))


def test_a_bug_is_not_a_store_failure_and_goes_through_the_guard_untouched() -> None:
    with pytest.raises(ZeroDivisionError):
        guard.must(lambda: 1 // 0, "key:a")
