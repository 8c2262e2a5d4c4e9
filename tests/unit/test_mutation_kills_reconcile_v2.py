"""Rules of the V2.0 (certificate instance) half of the money path, pinned where the mutation run found
``casrelay.flows.reconcile``, ``flows.new_order`` and ``flows.place`` free to change unnoticed.

Reconciliation of a V2.0 record asks the backend directly (``OrderingBackend.look_up``) instead of reading
CAS's order list: what is recorded and logged when the answer is "applied", when "not applied" proves
absence (at once without a lease, only after ``RECONCILE_LIST_LAG_SECONDS`` on a leased instance), and that
an answer that proves nothing never gives the key back. The lease and tag rules run on the real
``InstanceBackend`` against the CAS emulator; the rest on the doubles of ``tests/flow_support.py``, with a
backend that leases and applies the way ``InstanceBackend`` does."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from casrelay.config import Settings
from casrelay.flows.reconcile import ABSENT, ADOPTED, UNRESOLVED, Reconciler
from casrelay.ledger import ORDERED, UNKNOWN, Ledger, LedgerConfig, LedgerRecord, open_store
from casrelay.ledger.lease import InstanceLeases
from casrelay.ordering import APPLIED, NOT_APPLIED, Finding, PlacedOrder
from casrelay.ordering import UNRESOLVED as NOT_KNOWN
from tests.flow_support import NOW, PRODUCT, Clock, FakeBackend, FlakyStore, world

ATTEMPT = NOW - 1000
DOMAINS = ["v2.example.com"]
INSTANCE = "cas_dv-cn-0001"
SECOND = "cas_dv-cn-0002"
LAG = 300.0
Capsys = pytest.CaptureFixture[str]


def _events(out: str, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == event]


# --- a backend that can be asked directly -----------------------------------------------------------------

@dataclass
class AnsweringBackend(FakeBackend):
    """A backend asked directly what it did for one record, as V2.0's is: ``findings`` are its answers in
    turn; ``asked`` is what it was asked (key, tags, instance)."""

    findings: list[Finding] = field(default_factory=list)
    asked: list[tuple[str, tuple[tuple[str, str], ...], str | None]] = field(default_factory=list)

    def look_up(self, key: str, tags: Any, instance_id: str | None, creds: Any) -> Finding | None:
        self.asked.append((key, tuple(tags), instance_id))
        return self.findings.pop(0)


def _unknown_v2(ledger: Ledger, key: str = "key:v2", *, leased: bool = True, attempted: float = ATTEMPT,
                ended: float | None = None) -> LedgerRecord:
    """A V2.0 record whose paid call's outcome is unknown: attempted at ``attempted``, the call ended at
    ``ended`` (default: now), holding the lease of ``INSTANCE`` unless ``leased`` is False."""
    claim = ledger.claim(key, "h-" + key, {"api": "instance", "domains": DOMAINS, "product": PRODUCT}, {}, 60).record
    marked = replace(claim, version=claim.version + 1, attempted_at=attempted)
    assert ledger.store.replace(marked, claim.version)
    if leased:
        marked, held = InstanceLeases(ledger).take(marked, INSTANCE)
        assert held
    record = ledger.unknown(marked, {"Code": "CasOutcomeUnknown"}, "timeout")
    if ended is not None:
        record = replace(record, version=record.version + 1, call_ended_at=ended)
        assert ledger.store.replace(record, record.version - 1)
    return record


def _asked(findings: list[Finding], *, leased: bool = True, ended: float | None = None,
           lag: float = LAG) -> tuple[Ledger, LedgerRecord, AnsweringBackend, Any]:
    """Reconcile a fresh V2.0 record against ``findings``; the ledger, the record, the backend, the result."""
    clock = Clock()
    ledger = Ledger(open_store("memory://"), LedgerConfig(), clock=clock)
    record = _unknown_v2(ledger, leased=leased, ended=ended)
    backend = AnsweringBackend(findings=list(findings))
    reconciler = Reconciler(ledger, FakeBackend(), False, lag, clock=clock, order_tag_key="casrelay-idempotency-key",
                            backends={"instance": backend})
    return ledger, record, backend, reconciler.run(record, None)


# --- "applied": the instance is adopted --------------------------------------------------------------------

def test_an_instance_found_applied_is_adopted_with_its_certificate_saying_it_came_from_reconciliation() -> None:
    """The certificate's ID goes to the V2.0 message and the follower; the note tells an operator (ledger_admin)
    that the order was adopted, not answered; no request id is invented for an answer CAS never gave."""
    ledger, record, _backend, result = _asked([Finding(APPLIED, "the instance is normal with our tag", INSTANCE,
                                                       4242)])
    assert result.verdict == ADOPTED and result.adopted
    saved = ledger.get(record.key)
    assert saved == result.record
    assert saved is not None and saved.state == ORDERED and saved.placed
    assert (saved.instance_id, saved.certificate_id, saved.order_id) == (INSTANCE, 4242, None)
    assert saved.cas_request_id in ("", None)
    assert "reconciliation" in (saved.note or "")


def test_an_instance_adopted_on_a_direct_answer_is_logged_under_its_key_naming_it_and_why(capsys: Capsys) -> None:
    ledger = Ledger(open_store("memory://"), LedgerConfig(), clock=Clock())
    record = _unknown_v2(ledger)
    capsys.readouterr()
    backend = AnsweringBackend(findings=[Finding(APPLIED, "the instance is pending with our tag", INSTANCE)])
    assert Reconciler(ledger, backend, False, LAG, clock=Clock()).run(record, None).adopted
    [line] = _events(capsys.readouterr().out, "reconcile.adopted")
    assert (line["key"], line["instance_id"], line["reason"]) == (
        "key:v2", INSTANCE, "the instance is pending with our tag")



def test_an_instance_found_applied_is_recorded_even_when_the_key_was_claimed_again_for_another_meanwhile() -> None:
    """Two reconciliations of one key: one found nothing applied yet and gave the key back, a new arrival leased
    another instance; then ours finds the first instance applied. The ledger must name the instance CAS applied
    on (the one spent), not the one the newer claim leased and never applied on."""
    clock = Clock()
    ledger = Ledger(open_store("memory://"), LedgerConfig(), clock=clock)
    stale = _unknown_v2(ledger)
    ledger.release(stale)
    again = ledger.claim(stale.key, "h-" + stale.key, dict(stale.order), {}, 60, attempt=True).record
    _again, held = InstanceLeases(ledger).take(again, SECOND)
    assert held
    backend = AnsweringBackend(findings=[Finding(APPLIED, "the instance is normal with our tag", INSTANCE, 7)])
    result = Reconciler(ledger, backend, False, LAG, clock=clock).run(stale, None)
    assert result.adopted and backend.asked[0][2] == INSTANCE
    saved = ledger.get(stale.key)
    assert saved is not None and saved.placed and (saved.instance_id, saved.certificate_id) == (INSTANCE, 7)

# --- "not applied": absence, at once or after the list lag --------------------------------------------------

def test_a_record_that_leased_no_instance_is_absent_at_once_however_recent_its_call(capsys: Capsys) -> None:
    """No lease, no ApplyCertificate: the key may be ordered again without waiting for anything."""
    capsys.readouterr()
    _ledger, record, backend, result = _asked([Finding(NOT_APPLIED, "the order leased no instance")], leased=False,
                                              ended=NOW - 1)
    assert result.verdict == ABSENT and result.record == record
    assert backend.asked == [("key:v2", (("casrelay-idempotency-key", "key:v2"),), None)]
    [line] = _events(capsys.readouterr().out, "reconcile.absent")
    assert line["key"] == "key:v2" and line["reason"] == "the order leased no instance"


def test_an_instance_with_no_application_proves_absence_exactly_the_list_lag_after_the_call(capsys: Capsys) -> None:
    """An ApplyCertificate still on its way could land on the instance after the key was given back (a second
    paid order): "not applied" proves nothing until the call is ``RECONCILE_LIST_LAG_SECONDS`` old, counted
    from when it ended, not from the attempt mark."""
    inactive = Finding(NOT_APPLIED, "the instance is inactive with no application", INSTANCE)
    capsys.readouterr()
    _ledger, _record, _backend, result = _asked([inactive], ended=NOW - LAG)
    assert result.verdict == ABSENT
    [line] = _events(capsys.readouterr().out, "reconcile.absent")
    assert (line["key"], line["instance_id"], line["reason"]) == ("key:v2", INSTANCE, inactive.reason)

    ledger, record, _backend, result = _asked([inactive], ended=NOW - LAG + 0.001)
    assert result.verdict == UNRESOLVED and "too early" in result.reason
    saved = ledger.get(record.key)
    assert saved is not None and saved.state == UNKNOWN  # the key is not given back
    [line] = _events(capsys.readouterr().out, "reconcile.unresolved")
    assert (line["level"], line["key"], line["instance_id"]) == ("WARNING", "key:v2", INSTANCE)
    assert "too early" in line["reason"]


def test_an_answer_that_proves_nothing_never_gives_the_key_back_however_long_ago_the_call_ended(capsys: Capsys) -> None:
    """The backend's own reason is what ``sweep.parked`` shows the operator for a record it gives up on."""
    failed = Finding(NOT_KNOWN, "GetInstanceDetail failed (CasUnavailable)", INSTANCE)
    capsys.readouterr()
    ledger, record, _backend, result = _asked([failed], ended=NOW - 10 * LAG)
    assert result.verdict == UNRESOLVED and result.reason == failed.reason
    saved = ledger.get(record.key)
    assert saved is not None and saved.state == UNKNOWN
    [line] = _events(capsys.readouterr().out, "reconcile.unresolved")
    assert (line["level"], line["key"], line["instance_id"], line["reason"]) == (
        "WARNING", "key:v2", INSTANCE, failed.reason)


# --- the real InstanceBackend on the CAS emulator: our tag, and whose lease -------------------------------

@pytest.fixture()
def v2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The function in instance mode on the emulator (whose pool the test picks), with a list lag of 300 s."""
    from devkit.embedded import embedded_default

    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)

    def start(pool: str) -> Any:
        return embedded_default(extra_env={"CAS_ORDER_API": "instance", "SWEEP_MIN_AGE_SECONDS": "0",
                                           "CAS_TASK_WAIT_SECONDS": "0", "RECONCILE_LIST_LAG_SECONDS": "300"},
                                instances=pool, application_seconds=0.2)

    yield start


def _app() -> Any:
    import index

    index.reset_for_tests()
    app = index._setup()
    assert app is not None
    return app


def _creds() -> Any:
    from casrelay.cas.credentials import resolve
    from devkit.fc_local import make_context

    return resolve(make_context())


def _v2_claim(ledger: Ledger, key: str) -> LedgerRecord:
    return ledger.claim(key, "h-" + key, {"api": "instance", "domains": DOMAINS, "product": PRODUCT}, {}, 60,
                        attempt=True).record


def test_an_instance_issued_outside_casrelay_is_not_adopted_by_the_order_that_leased_it(v2: Any) -> None:
    """Our key tag is what makes an application ours: an instance already ``normal`` without it (bought and
    issued in the console) is not this order's, so the order stays unknown instead of being answered with a
    certificate it never paid for."""
    with v2("1xDigiCert:DV:1+0:normal") as emb:
        app = _app()
        [instance] = [i.instance_id for i in emb.emulator.instances()]
        record, held = InstanceLeases(app.ledger).take(_v2_claim(app.ledger, "key:console"), instance)
        assert held
        record = app.ledger.unknown(record, {"Code": "CasOutcomeUnknown"}, "timeout")
        result = app.reconciler.run(record, _creds())
        assert result.verdict == UNRESOLVED and "without our tag" in result.reason
        saved = app.ledger.get("key:console")
        assert saved is not None and saved.state == UNKNOWN and not saved.placed


def test_a_record_naming_an_instance_another_order_holds_is_absent_at_once(v2: Any) -> None:
    """The record wrote the instance's name first, then found the lease another order's (and crashed before
    clearing the name): ApplyCertificate is sent only under our own lease, so nothing was applied for this
    key, and the other order's application on that instance is not a reason to keep this key unknown."""
    from tests.conftest import HttpClient

    with v2("2xDigiCert:DV:1+0") as emb:
        first = HttpClient(emb).request({"Domain": "first.example.com", "ValidateType": "DNS"})
        assert first["statusCode"] == 200, first["body"]
        taken = json.loads(first["body"])["InstanceId"]
        app = _app()
        claim = _v2_claim(app.ledger, "key:late")
        named = replace(claim, version=claim.version + 1, instance_id=taken)
        assert app.ledger.store.replace(named, claim.version)
        record = app.ledger.unknown(named, {"Code": "CasOutcomeUnknown"}, "timeout")
        result = app.reconciler.run(record, _creds())  # the call ended just now, within the 300 s list lag
        assert result.verdict == ABSENT, result.reason
        assert [len(i.applications) for i in emb.emulator.instances() if i.instance_id == taken] == [1]


# --- placing on an instance: what is logged, announced and answered -----------------------------------------

@dataclass
class InstancePool(FakeBackend):
    """V2.0 as the flows see it: the paid call leases the first instance nobody applied on through the attempt's
    reservation and applies there, as ``InstanceBackend`` does; ``look_up`` reads what was applied. Hooks in
    ``during_call`` run while a call is out (one per call), ``left_s`` is the time each call was given."""

    pool: tuple[str, ...] = (INSTANCE, SECOND)
    certificates: dict[str, int] = field(default_factory=dict)
    applying: set[str] = field(default_factory=set)
    applied: set[str] = field(default_factory=set)
    during_call: list[Callable[[], None]] = field(default_factory=list)
    left_s: list[float | None] = field(default_factory=list)

    action = "ApplyCertificate"

    def place(self, order: Any, creds: Any, tags: tuple[tuple[str, str], ...] = (), attempt: Any = None) -> PlacedOrder:
        self.created.append((order, tags))
        assert attempt is not None and attempt.reservation is not None
        self.left_s.append(None if attempt.deadline is None else attempt.deadline - time.monotonic())
        lease = attempt.reservation
        instance = lease.held() or next(i for i in self.pool if i not in self.applying and lease.take(i))
        self.applying.add(instance)
        if self.during_call:
            self.during_call.pop(0)()
        self.applied.add(instance)
        return PlacedOrder(None, f"REQ-{len(self.created)}", instance, self.certificates.get(instance))

    def look_up(self, key: str, tags: Any, instance_id: str | None, creds: Any) -> Finding | None:
        if instance_id is None:
            return Finding(NOT_APPLIED, "the order leased no instance")
        if instance_id in self.applied:
            return Finding(APPLIED, "applied with our tag", instance_id, self.certificates.get(instance_id))
        return Finding(NOT_APPLIED, "the instance is inactive with no application", instance_id)


def _instance_world(**kw: Any) -> Any:
    return world(backend=InstancePool(), settings=Settings(order_api="instance"), **kw)


def _order_record(w: Any) -> LedgerRecord:
    """The order's own record (the ledger also holds the instances' leases)."""
    [record] = [r for r in w.records() if not r.key.startswith("lease:")]
    return record


def _created(w: Any) -> list[dict[str, Any]]:
    return [m for _, m in w.sinks[0].accepted if m["Type"] == "certificate.order.created"]


def test_an_applied_instance_logs_one_order_placed_line_naming_its_key_and_instance(capsys: Capsys) -> None:
    w = _instance_world()
    capsys.readouterr()
    done = w.place()
    assert done.document["InstanceId"] == INSTANCE
    [line] = _events(capsys.readouterr().out, "order.placed")
    assert (line["key"], line["instance_id"], line["cas_request_id"]) == (_order_record(w).key, INSTANCE,
                                                                          "REQ-1")


def test_an_applied_instance_the_ledger_could_not_save_is_answered_announced_and_logged_by_it(capsys: Capsys) -> None:
    """The instance is spent and the ledger does not know it: the caller, the sinks and the log line are what
    keep it from being lost until the sweep adopts it."""
    store = FlakyStore()
    w = _instance_world(store=store)
    w.backend.certificates[INSTANCE] = 4242
    store.failing.add("replace:ordered")
    capsys.readouterr()
    done = w.place()
    assert (done.document["InstanceId"], done.document["CertificateId"]) == (INSTANCE, 4242)
    [message] = _created(w)
    assert message["Version"] == 2 and message["Order"]["InstanceId"] == INSTANCE
    assert message["Order"]["CertificateId"] == 4242 and message["Order"]["OrderedAt"] is not None
    assert message["Next"] == {"Action": "GetInstanceDetail", "Parameters": {"InstanceId": INSTANCE}}
    [line] = _events(capsys.readouterr().out, "ledger.order_unrecorded")
    assert (line["key"], line["instance_id"], line["cas_request_id"]) == (_order_record(w).key, INSTANCE,
                                                                          "REQ-1")


def test_a_second_instance_applied_for_a_key_settled_meanwhile_is_announced_and_answered_with_that_instance() -> None:
    """The first call's ApplyCertificate is slow: its claim runs out, reconciliation finds nothing applied yet,
    and a second arrival orders on another instance; then the first application lands. Both instances are
    spent, so both are announced, each under its own InstanceId."""
    w = _instance_world()

    def meanwhile() -> None:
        w.clock.now += 3600
        assert w.place(message_id="m-2").document["InstanceId"] == SECOND

    w.backend.during_call.append(meanwhile)
    done = w.place(message_id="m-1")
    assert done.document["InstanceId"] == INSTANCE
    assert _order_record(w).instance_id == SECOND  # the ledger keeps the order it settled with
    assert sorted(m["Order"]["InstanceId"] for m in _created(w)) == [INSTANCE, SECOND]


class _Crash(BaseException):
    """The invocation dies (its process is killed) at this point."""


def test_an_applied_instance_is_recorded_over_a_newer_claim_that_leased_another_and_died_before_applying() -> None:
    """The first call's ApplyCertificate is slow: its claim runs out, the key is found absent and claimed again,
    and that invocation leases the other instance and dies before applying. When the first call returns, its
    write must record the instance it applied on, not the one the dead claim named."""
    w = _instance_world()

    def meanwhile() -> None:
        w.clock.now += 3600
        with pytest.raises(_Crash):
            w.place(message_id="m-2")

    def die() -> None:
        raise _Crash

    w.backend.during_call.extend([meanwhile, die])
    done = w.place(message_id="m-1")
    assert done.document["InstanceId"] == INSTANCE
    saved = _order_record(w)
    assert saved.placed and saved.instance_id == INSTANCE
    assert [m["Order"]["InstanceId"] for m in _created(w)] == [INSTANCE]


class _Invocation:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.mark.parametrize(("remaining_ms", "left_s"), [(60_000, 57.0), (20_000, 17.0), (0, 0.0)])
def test_the_paid_call_is_given_the_invocation_s_time_less_three_seconds_for_recording(remaining_ms: int,
                                                                                       left_s: float) -> None:
    """The claim outlives the invocation by 5 s and the outcome needs 8 s of it to be recorded, so following an
    application (``CAS_TASK_WAIT_SECONDS``) stops 3 s before the invocation's end, and at once when less is left."""
    w = _instance_world()
    w.clock.now = time.time()  # the claim's end is a wall-clock time; the deadline is taken against it
    w.place(context=_Invocation(remaining_ms))
    [given] = w.backend.left_s
    assert given is not None and left_s - 2.0 <= given <= left_s + 0.05  # less whatever the flow took


def test_a_second_instance_for_one_key_is_an_error_line_naming_both_instances(capsys: Capsys) -> None:
    """The line is how an operator finds the instance spent twice for one key, to refund or use it."""
    w = _instance_world()

    def meanwhile() -> None:
        w.clock.now += 3600
        w.place(message_id="m-2")

    w.backend.during_call.append(meanwhile)
    capsys.readouterr()
    w.place(message_id="m-1")
    [line] = _events(capsys.readouterr().out, "order.second_order")
    assert line["level"] == "ERROR" and line["key"] == _order_record(w).key
    assert INSTANCE in json.dumps(line) and SECOND in json.dumps(line)
    assert "order_id" not in line and "recorded_order_id" not in line  # V2.0 has none: not the text "None"
