"""The lifecycle follower's promises, over a memory ledger, a scripted CAS and a recording DNS automation.

Each placed order is polled on its backoff until its certificate is issued or it failed; each phase is
announced once, under one id, to every sink; a DNS record is created once and removed once; nothing is done
again once the order is final; and a record the follower still works on never expires.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from casrelay.errors import cas_refused, cas_throttled
from casrelay.follow.base import Follower
from casrelay.follow.config import FollowConfig
from casrelay.follow.dns.base import DnsAutomation, DnsRecordRef
from casrelay.follow.exceptions import dns_unavailable, zone_not_found
from casrelay.follow.messages import DEADLINE_PASSED, VALIDATION_FAILED
from casrelay.ledger import DELIVERED
from casrelay.ordering.progress import FAILED, ISSUED, VALIDATION, WAITING, IssuedCertificate, Progress, Validation
from casrelay.push import message as downstream
from casrelay.push.exceptions import SinkError
from tests.flow_support import FakeBackend, RecordingSink, sink_down, world

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "order-message.v1.json").read_text())
TXT = Validation("DNS", domain="a.example.com", record_domain="_dnsauth.a.example.com", record_type="TXT",
                 record_value="token-1")
ISSUED_CERT = IssuedCertificate(certificate_id=777, domains=("a.example.com",), not_before=1.8e9, not_after=1.83e9)


@dataclass
class ScriptedCas(FakeBackend):
    """CAS whose answers to the follower's polls are scripted: each poll takes the next one (the last repeats)."""

    script: list[Any] = field(default_factory=list)
    released: list[int | None] = field(default_factory=list)
    release_error: Exception | None = None

    def progress(self, order_id: int | None, instance_id: str | None, creds: Any,
                 include_certificate: bool = False) -> Progress:
        self.progress_calls.append((order_id, instance_id))
        answer = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def release(self, order_id: int | None, instance_id: str | None, creds: Any) -> bool:
        if self.release_error is not None:
            raise self.release_error
        self.released.append(order_id)
        return True


class RecordingDns(DnsAutomation):
    name = "alidns"

    def __init__(self) -> None:
        self.records: dict[tuple[str, str, str], str] = {}
        self.ensured: list[str] = []
        self.removed: list[str] = []
        self.fail_next: Exception | None = None

    def ensure(self, validation: Validation, creds: Any) -> DnsRecordRef:
        if self.fail_next is not None:
            err, self.fail_next = self.fail_next, None
            raise err
        self.ensured.append(validation.record_domain)
        key = (validation.record_domain, validation.record_type, validation.record_value)
        record_id = self.records.setdefault(key, f"rec-{len(self.records) + 1}")
        rr = validation.record_domain.removesuffix(".example.com")
        return DnsRecordRef("example.com", rr, validation.record_type, validation.record_value, record_id)

    def locate(self, validation: Validation, creds: Any) -> DnsRecordRef:
        return DnsRecordRef("example.com", validation.record_domain.removesuffix(".example.com"),
                            validation.record_type, validation.record_value)

    def remove(self, ref: DnsRecordRef, creds: Any) -> None:
        if ref.record_id is None:
            ref = DnsRecordRef(ref.zone, ref.rr, ref.type, ref.value,
                               self.records.get((ref.name, ref.type, ref.value)))
            if ref.record_id is None:
                return
        self.removed.append(str(ref.record_id))
        self.records = {k: v for k, v in self.records.items() if v != ref.record_id}


def setup(script: list[Any], *, sinks: list[RecordingSink] | None = None, dns: DnsAutomation | None = None,
          config: FollowConfig | None = None, **ledger: Any) -> Any:
    cas = ScriptedCas(script=script)
    w = world(backend=cas, sinks=sinks, **ledger)
    follower = Follower(w.ledger, {"package": cas}, w.delivery, config or FollowConfig(), dns=dns, clock=w.clock,
                        monotonic=w.clock)
    return w, cas, follower


def follow(w: Any, follower: Follower, after: float = 0.0) -> dict[str, int]:
    w.clock.now += after
    return follower.run(None, stop_at=w.clock.now + 60)


def lifecycle_messages(sink: RecordingSink) -> list[dict[str, Any]]:
    return [m for _, m in sink.accepted if m["Type"] != downstream.CREATED]


def test_placing_an_order_schedules_its_first_poll_one_backoff_step_later() -> None:
    w, cas, follower = setup([Progress(WAITING, status="payed")])
    w.place()
    record = w.only_record()
    assert record.state == DELIVERED
    assert record.next_poll_at == w.clock.now + 60
    assert record.follow == {"phase": "waiting", "since": w.clock.now, "polls": 0}
    assert record.expires_at is None  # followed: it must not be forgotten while the order is alive
    assert follow(w, follower, after=59) == {}
    assert cas.progress_calls == []
    assert follow(w, follower, after=1) == {"waiting": 1}
    assert cas.progress_calls == [(1001, None)]


def test_polls_back_off_along_the_configured_steps_and_repeat_the_last() -> None:
    w, _cas, follower = setup([Progress(WAITING, status="process")], follow_backoff=(10.0, 20.0, 40.0))
    w.place()
    placed = w.clock.now
    polled_at = []
    for _ in range(200):
        w.clock.now += 1
        if follower.run(None, stop_at=w.clock.now + 60):
            polled_at.append(w.clock.now - placed)
        if len(polled_at) == 5:
            break
    assert polled_at == [10, 30, 70, 110, 150]


def test_a_zero_backoff_polls_at_every_sweep() -> None:
    w, cas, follower = setup([Progress(WAITING)], follow_backoff=(0.0,))
    w.place()
    for _ in range(3):
        follow(w, follower)
    assert len(cas.progress_calls) == 3


def test_validation_required_is_pushed_once_to_every_sink_under_one_id() -> None:
    sinks = [RecordingSink("file"), RecordingSink("callback")]
    w, cas, follower = setup([Progress(VALIDATION, (TXT,), status="domain_verify")], sinks=sinks)
    w.place()
    for _ in range(4):
        follow(w, follower, after=3600)
    assert len(cas.progress_calls) == 4
    for sink in sinks:
        [message] = lifecycle_messages(sink)
        jsonschema.validate(message, SCHEMA)
        assert message["Type"] == downstream.VALIDATION_REQUIRED
        assert message["Validation"] == [{"Method": "DNS", "Domain": "a.example.com",
                                          "RecordDomain": "_dnsauth.a.example.com", "RecordType": "TXT",
                                          "RecordValue": "token-1"}]
        assert message["Order"]["OrderId"] == 1001
    assert lifecycle_messages(sinks[0])[0]["Id"] == lifecycle_messages(sinks[1])[0]["Id"]


def test_a_sink_that_was_down_gets_the_phase_message_later_with_the_same_id_and_the_others_not_again() -> None:
    up, down = RecordingSink("file"), sink_down("callback")
    w, _cas, follower = setup([Progress(VALIDATION, (TXT,), status="domain_verify")], sinks=[up, down])
    w.place()
    follow(w, follower, after=60)
    assert len(lifecycle_messages(up)) == 1 and down.accepted == []
    record = w.only_record()
    assert record.next_poll_at == w.clock.now + 60  # a message still owed is retried on the backoff
    down.fail = None
    follow(w, follower, after=60)
    assert lifecycle_messages(down) == []  # it lacks the order itself: it hears of the phases after that
    w.sweeper.run(None)  # the sweep re-pushes the created message
    follow(w, follower, after=120)  # the next step of the backoff
    assert len(lifecycle_messages(up)) == 1
    assert [m["Type"] for _, m in down.accepted] == [downstream.CREATED, downstream.VALIDATION_REQUIRED]
    [late] = lifecycle_messages(down)
    assert late["Id"] == lifecycle_messages(up)[0]["Id"]


def test_a_new_validation_value_is_a_new_message_and_the_same_one_again_is_not() -> None:
    other = Validation("DNS", domain="a.example.com", record_domain="_dnsauth.a.example.com", record_type="TXT",
                       record_value="token-2")
    w, _cas, follower = setup([Progress(VALIDATION, (TXT,)), Progress(VALIDATION, (TXT,)),
                              Progress(VALIDATION, (other,))])
    w.place()
    for _ in range(3):
        follow(w, follower, after=3600)
    ids = [m["Id"] for m in lifecycle_messages(w.sinks[0])]
    assert len(ids) == 2 and ids[0] != ids[1]


def test_the_dns_record_is_created_once_and_removed_once_the_certificate_is_issued() -> None:
    dns = RecordingDns()
    w, cas, follower = setup([Progress(VALIDATION, (TXT,), status="domain_verify"),
                              Progress(VALIDATION, (TXT,), status="domain_verify"),
                              Progress(WAITING, status="process"),
                              Progress(ISSUED, certificate=ISSUED_CERT, status="certificate")], dns=dns)
    w.place()
    follow(w, follower, after=60)
    [required] = lifecycle_messages(w.sinks[0])
    assert required["Lifecycle"] == {"Phase": "validation", "CasStatus": "domain_verify", "DnsAutomation": "alidns",
                                     "DnsRecordsCreated": 1}
    assert dns.ensured == ["_dnsauth.a.example.com"] and dns.removed == []
    follow(w, follower, after=3600)
    follow(w, follower, after=3600)
    assert dns.ensured == ["_dnsauth.a.example.com"]  # the same validation again creates nothing more
    assert follow(w, follower, after=3600) == {"issued": 1}
    assert dns.removed == ["rec-1"] and dns.records == {}
    issued = lifecycle_messages(w.sinks[0])[-1]
    jsonschema.validate(issued, SCHEMA)
    assert issued["Type"] == downstream.ISSUED
    assert issued["Certificate"]["CertificateId"] == 777 and issued["Certificate"]["Domains"] == ["a.example.com"]
    assert issued["Certificate"]["NotAfter"].startswith("2027-")
    record = w.only_record()
    assert record.next_poll_at is None and record.expires_at is not None  # done: its retention starts now
    polls = len(cas.progress_calls)
    for _ in range(3):
        assert follow(w, follower, after=86400) == {}
    assert len(cas.progress_calls) == polls and len(w.sinks[0].accepted) == 3 and dns.removed == ["rec-1"]


def test_a_dns_failure_is_retried_at_the_next_poll_without_holding_back_the_message() -> None:
    dns = RecordingDns()
    dns.fail_next = dns_unavailable("AddDomainRecord", "throttled")
    w, _cas, follower = setup([Progress(VALIDATION, (TXT,))], dns=dns)
    w.place()
    follow(w, follower, after=60)
    assert dns.ensured == [] and len(lifecycle_messages(w.sinks[0])) == 1
    assert (w.only_record().follow or {})["dns_error"] == "DnsUnavailable"
    follow(w, follower, after=3600)
    assert dns.ensured == ["_dnsauth.a.example.com"]
    assert (w.only_record().follow or {})["dns_error"] == ""


def test_an_order_the_ca_failed_is_announced_once_as_failed_and_its_dns_record_removed() -> None:
    dns = RecordingDns()
    w, cas, follower = setup([Progress(VALIDATION, (TXT,)), Progress(FAILED, status="verify_fail",
                                                                     reason="the review failed")], dns=dns)
    w.place()
    follow(w, follower, after=60)
    assert follow(w, follower, after=3600) == {"failed": 1}
    failed = lifecycle_messages(w.sinks[0])[-1]
    jsonschema.validate(failed, SCHEMA)
    assert failed["Type"] == downstream.FAILED
    assert failed["Error"] == {"Code": VALIDATION_FAILED, "Message": "the review failed"}
    assert failed["Lifecycle"]["QuotaReleased"] is False
    assert dns.removed == ["rec-1"] and cas.released == []
    assert follow(w, follower, after=86400) == {}


def test_delete_failed_orders_gives_the_quota_back_once_and_says_so() -> None:
    w, cas, follower = setup([Progress(FAILED, status="verify_fail")], config=FollowConfig(delete_failed=True))
    w.place()
    follow(w, follower, after=60)
    assert cas.released == [1001]
    [failed] = lifecycle_messages(w.sinks[0])
    assert failed["Lifecycle"]["QuotaReleased"] is True
    follow(w, follower, after=86400)
    assert cas.released == [1001]


def test_a_release_that_fails_for_a_passing_reason_is_tried_again_before_the_failure_is_announced() -> None:
    w, cas, follower = setup([Progress(FAILED, status="verify_fail")], config=FollowConfig(delete_failed=True))
    cas.release_error = cas_throttled("Throttling.User", 1, None)
    w.place()
    follow(w, follower, after=60)
    assert lifecycle_messages(w.sinks[0]) == []
    cas.release_error = None
    follow(w, follower, after=60)
    [failed] = lifecycle_messages(w.sinks[0])
    assert failed["Lifecycle"]["QuotaReleased"] is True and cas.released == [1001]


def test_a_release_cas_refuses_is_not_tried_again_and_the_failure_says_the_quota_was_not_released() -> None:
    w, cas, follower = setup([Progress(FAILED, status="verify_fail")], config=FollowConfig(delete_failed=True))
    cas.release_error = cas_refused("OrderStateError", "not deletable", None)
    w.place()
    follow(w, follower, after=60)
    [failed] = lifecycle_messages(w.sinks[0])
    assert failed["Lifecycle"]["QuotaReleased"] is False
    assert w.only_record().next_poll_at is None


def _place_product(w: Any, product: str) -> float:
    params = {"Domain": "a.example.com", "ValidateType": "DNS", "ProductCode": product}
    if "ov" in product:
        params["CompanyName"] = "Example Ltd"
    w.place(params)
    return float(w.clock.now)


def _failures(w: Any) -> list[dict[str, Any]]:
    return [m for m in lifecycle_messages(w.sinks[0]) if m["Type"] == downstream.FAILED]


@pytest.mark.parametrize(("product", "days"), [("symantec-free-1-free", 2), ("geotrust-ov-1-personal", 30)])
def test_an_order_cas_never_fails_is_reported_failed_a_grace_day_after_the_cas_deadline(product: str,
                                                                                       days: int) -> None:
    w, _cas, follower = setup([Progress(VALIDATION, (TXT,), status="domain_verify")], follow_backoff=(3600.0,))
    placed = _place_product(w, product)
    while w.clock.now < placed + (days + 1) * 86400 - 3600:
        follow(w, follower, after=3600)
        assert _failures(w) == []
    follow(w, follower, after=3600)
    [failed] = _failures(w)
    jsonschema.validate(failed, SCHEMA)
    assert failed["Error"]["Code"] == DEADLINE_PASSED and f"{days} days" in failed["Error"]["Message"]
    assert w.only_record().next_poll_at is None


def test_an_order_the_ca_is_still_reviewing_at_its_deadline_is_not_reported_failed() -> None:
    """A live order reported as failed could make its owner buy another: ``process`` is followed much longer."""
    w, cas, follower = setup([Progress(WAITING, status="process")], follow_backoff=(86400.0,),
                             config=FollowConfig(delete_failed=True))
    placed = _place_product(w, "symantec-free-1-free")
    while w.clock.now < placed + 20 * 86400:
        follow(w, follower, after=86400)
    assert _failures(w) == [] and cas.released == []
    cas.script = [Progress(ISSUED, certificate=ISSUED_CERT, status="certificate")]
    follow(w, follower, after=86400)
    assert [m["Type"] for m in lifecycle_messages(w.sinks[0])] == [downstream.ISSUED]


def test_an_order_given_up_at_the_deadline_is_never_deleted_only_one_cas_failed() -> None:
    w, cas, follower = setup([Progress(VALIDATION, (TXT,), status="domain_verify")], follow_backoff=(86400.0,),
                             config=FollowConfig(delete_failed=True))
    _place_product(w, "symantec-free-1-free")
    for _ in range(4):
        follow(w, follower, after=86400)
    [failed] = _failures(w)
    assert failed["Lifecycle"]["QuotaReleased"] is False and cas.released == []


def test_an_order_cas_cannot_be_asked_about_is_still_reported_failed_after_its_deadline() -> None:
    w, _cas, follower = setup([cas_refused("NotFoundOrder", "gone", None)], follow_backoff=(3600.0,))
    placed = _place_product(w, "symantec-free-1-free")
    while w.clock.now < placed + 3 * 86400 + 3600:
        follow(w, follower, after=3600)
    [failed] = _failures(w)
    assert failed["Error"]["Code"] == DEADLINE_PASSED
    assert w.only_record().next_poll_at is None


def test_the_followers_writes_do_not_hold_back_the_sweeps_re_push_of_a_created_message() -> None:
    """The sweep re-pushes a record only once its last write is SWEEP_MIN_AGE_SECONDS old: a follower writing at
    every sweep must not look like a write, or a sink that missed the OrderId would wait the whole lifecycle."""
    up, down = RecordingSink("file"), sink_down("callback")
    w, _cas, follower = setup([Progress(VALIDATION, (TXT,))], sinks=[up, down], follow_backoff=(0.0,),
                              sweep_min_age_seconds=300)
    w.sweeper.follower = follower
    w.place()
    placed_at = w.only_record().updated_at
    down.fail = None
    w.clock.now += 150
    w.sweeper.run(None)  # the follower polls and writes; the record is not yet SWEEP_MIN_AGE_SECONDS old
    assert down.accepted == []  # and a sink hears of the phases only once it has the order itself
    w.clock.now += 150
    w.sweeper.run(None)
    assert w.only_record().updated_at != placed_at  # the re-push itself is a write of the order
    assert [m["Type"] for _, m in down.accepted] == [downstream.CREATED, downstream.VALIDATION_REQUIRED]


def test_a_record_on_which_every_poll_dies_half_way_is_given_up_not_polled_for_ever() -> None:
    w, _cas, follower = setup([Progress(VALIDATION, (TXT,))], follow_backoff=(0.0,))
    w.place()

    def broken(*_: Any) -> Any:
        raise RuntimeError("a bug after the poll was taken")

    follower._announce = broken  # type: ignore[method-assign]
    outcomes = [follow(w, follower, after=200) for _ in range(12)]
    assert outcomes[:10] == [{"error": 1}] * 10 and outcomes[10] == {"abandoned": 1} and outcomes[11] == {}
    assert w.only_record().next_poll_at is None


def test_orders_still_scheduled_when_following_is_turned_off_end_their_schedule_and_can_expire() -> None:
    w, cas, _follower = setup([Progress(WAITING)])
    w.place()
    off = Follower(w.ledger, {"package": cas}, w.delivery, FollowConfig(), clock=w.clock, monotonic=w.clock,
                   enabled=False)
    assert follow(w, off, after=60) == {"stopped": 1}
    record = w.only_record()
    assert record.next_poll_at is None and record.expires_at is not None and cas.progress_calls == []


def test_validations_listed_in_another_order_are_not_news_and_a_changed_value_replaces_its_record() -> None:
    other = Validation("DNS", domain="b.example.com", record_domain="_dnsauth.b.example.com", record_type="TXT",
                       record_value="token-b")
    renewed = Validation("DNS", domain="a.example.com", record_domain="_dnsauth.a.example.com", record_type="TXT",
                         record_value="token-2")
    dns = RecordingDns()
    w, _cas, follower = setup([Progress(VALIDATION, (TXT, other)), Progress(VALIDATION, (other, TXT)),
                               Progress(VALIDATION, (TXT, other)), Progress(VALIDATION, (renewed, other))], dns=dns)
    w.place({"Domain": "a.example.com,b.example.com", "ValidateType": "DNS", "ProductCode": "geotrust-dv-1-starter"})
    for _ in range(3):
        follow(w, follower, after=3600)
    assert len(lifecycle_messages(w.sinks[0])) == 1 and sorted(dns.ensured) == ["_dnsauth.a.example.com",
                                                                                "_dnsauth.b.example.com"]
    follow(w, follower, after=3600)
    assert len(lifecycle_messages(w.sinks[0])) == 2
    assert sorted(k[2] for k in dns.records) == ["token-2", "token-b"]  # token-1's record was removed
    assert dns.removed == ["rec-1"]


def test_a_name_the_dns_automation_can_never_serve_is_not_tried_again_for_that_order() -> None:
    dns = RecordingDns()
    dns.fail_next = zone_not_found("_dnsauth.a.example.com")
    w, _cas, follower = setup([Progress(VALIDATION, (TXT,))], dns=dns)
    w.place()
    for _ in range(3):
        follow(w, follower, after=3600)
    assert dns.ensured == []
    assert (w.only_record().follow or {})["dns_given_up"] == ["_dnsauth.a.example.com"]


def test_a_failed_poll_changes_nothing_and_backs_off() -> None:
    w, _cas, follower = setup([cas_throttled("Throttling.User", 1, None), Progress(ISSUED, certificate=ISSUED_CERT)])
    w.place()
    assert follow(w, follower, after=60) == {"poll_failed": 1}
    record = w.only_record()
    assert record.follow is not None and record.follow["phase"] == WAITING
    assert record.next_poll_at == w.clock.now + 120
    assert lifecycle_messages(w.sinks[0]) == []
    assert follow(w, follower, after=120) == {"issued": 1}


def test_no_order_is_followed_when_following_is_off() -> None:
    w, cas, follower = setup([Progress(ISSUED)], follow_backoff=())
    w.place()
    record = w.only_record()
    assert record.next_poll_at is None and record.follow is None and record.expires_at is not None
    assert follow(w, follower, after=86400) == {}
    assert cas.progress_calls == []


def test_a_record_whose_created_message_is_pending_still_does_not_expire_after_the_follower_finished() -> None:
    up, down = RecordingSink("file"), sink_down("callback")
    w, _cas, follower = setup([Progress(ISSUED, certificate=ISSUED_CERT)], sinks=[up, down])
    w.place()
    down.fail = None
    follow(w, follower, after=60)
    record = w.only_record()
    assert record.state != DELIVERED and record.expires_at is None  # the created message is still owed
    w.sweeper.run(None)
    assert w.only_record().expires_at is None  # the issued message is still owed to the sink that was behind
    follow(w, follower, after=60)
    record = w.only_record()
    assert record.state == DELIVERED and record.expires_at is not None and record.next_poll_at is None
    assert [m["Type"] for _, m in down.accepted] == [downstream.CREATED, downstream.ISSUED]


def test_the_sweep_runs_the_follower_and_reports_what_it_did() -> None:
    w, _cas, follower = setup([Progress(VALIDATION, (TXT,))])
    w.sweeper.follower = follower
    w.place()
    w.clock.now += 60
    summary = w.sweeper.run(None)
    assert summary["Followed"] == {"validation": 1}


def test_a_sink_that_stays_down_costs_one_attempt_per_backoff_step_not_one_per_sweep() -> None:
    up, flaky = RecordingSink("file"), RecordingSink("callback")
    w, cas, follower = setup([Progress(VALIDATION, (TXT,))], sinks=[up, flaky])
    w.place()
    flaky.fail = sink_down("callback").fail  # it has the order, then goes down for good
    before = flaky.attempts
    for _ in range(120):  # two hours of one-minute sweeps
        follow(w, follower, after=60)
    # At 1, 2, 4, 9, 19, 49, 79 and 109 minutes (the first step again after the phase began, then 120, 300,
    # 600 and every 1800 s): eight polls of CAS and eight pushes in two hours, not 120.
    assert flaky.attempts - before == len(cas.progress_calls) == 8
    assert len(lifecycle_messages(up)) == 1


# --- the second review's cases ---------------------------------------------------------------------------


def test_one_unreadable_poll_past_the_deadline_does_not_fail_an_order_the_ca_was_reviewing() -> None:
    w, cas, follower = setup([Progress(WAITING, status="process")], follow_backoff=(86400.0,))
    _place_product(w, "symantec-free-1-free")
    for _ in range(9):
        follow(w, follower, after=86400)
    cas.script = [cas_throttled("Throttling.User", 1, None)]
    follow(w, follower, after=86400)
    assert _failures(w) == []


def test_a_v2_order_still_processing_gets_the_review_limit_not_the_grace_day() -> None:
    w, _cas, follower = setup([Progress(WAITING, status="processing")], follow_backoff=(86400.0,))
    _place_product(w, "symantec-free-1-free")
    for _ in range(10):
        follow(w, follower, after=86400)
    assert _failures(w) == []


class FlakyLocateDns(RecordingDns):
    def __init__(self) -> None:
        super().__init__()
        self.locate_fails = 1

    def locate(self, validation: Validation, creds: Any) -> DnsRecordRef:
        if self.locate_fails:
            self.locate_fails -= 1
            raise dns_unavailable("DescribeDomains", "timed out")
        return super().locate(validation, creds)


def test_a_record_whose_id_was_lost_is_looked_for_again_when_alidns_did_not_answer() -> None:
    dns = FlakyLocateDns()
    dns.records[("_dnsauth.a.example.com", "TXT", "token-1")] = "rec-lost"  # created by a sweep that died
    w, _cas, follower = setup([Progress(VALIDATION, (TXT,)), Progress(ISSUED, certificate=ISSUED_CERT)])
    w.place()
    follow(w, follower, after=60)  # no automation yet: the validation is known, no reference held
    follower = Follower(w.ledger, follower.backends, w.delivery, FollowConfig(), dns=dns, clock=w.clock,
                        monotonic=w.clock)
    follow(w, follower, after=3600)
    assert dns.removed == [] and w.only_record().next_poll_at is not None  # unsure: not done
    follow(w, follower, after=3600)
    assert dns.removed == ["rec-lost"] and w.only_record().next_poll_at is None


def test_an_order_whose_records_were_made_before_dns_automation_was_turned_off_still_finishes() -> None:
    dns = RecordingDns()
    w, cas, follower = setup([Progress(VALIDATION, (TXT,)), Progress(ISSUED, certificate=ISSUED_CERT)], dns=dns)
    w.place()
    follow(w, follower, after=60)
    off = Follower(w.ledger, {"package": cas}, w.delivery, FollowConfig(), clock=w.clock, monotonic=w.clock)
    assert follow(w, off, after=3600) == {"issued": 1}
    assert w.only_record().next_poll_at is None


def test_a_sink_that_refuses_a_phase_for_good_is_given_up_after_a_day_of_tries_and_retention_starts() -> None:
    up, refusing = RecordingSink("file"), RecordingSink("callback")
    w, _cas, follower = setup([Progress(ISSUED, certificate=ISSUED_CERT)], sinks=[up, refusing])
    w.place()
    refusing.fail = SinkError("callback", "410 Gone", transient=False)
    for _ in range(60):
        follow(w, follower, after=1800)
    record = w.only_record()
    assert record.next_poll_at is None and record.expires_at is not None
    assert 40 <= refusing.attempts <= 52


def test_a_sink_added_after_every_sink_had_the_order_is_not_waited_for() -> None:
    w, _cas, follower = setup([Progress(ISSUED, certificate=ISSUED_CERT)])
    w.place()
    late = RecordingSink("late")
    w.delivery.sinks.append(late)
    assert follow(w, follower, after=60) == {"issued": 1}
    assert late.accepted == [] and w.only_record().next_poll_at is None


def test_an_abandoned_order_stays_for_an_operator_and_is_listed_as_needing_a_person() -> None:
    w, _cas, follower = setup([Progress(VALIDATION, (TXT,))], follow_backoff=(0.0,))
    w.place()
    follower._announce = lambda *_: (_ for _ in ()).throw(RuntimeError("bug"))  # type: ignore[method-assign]
    for _ in range(11):
        follow(w, follower, after=200)
    record = w.only_record()
    assert record.next_poll_at is None and record.expires_at is None
    assert [r.key for r in w.ledger.needs_person()] == [record.key]


def test_the_sweep_answers_even_when_the_follower_breaks() -> None:
    class Broken:
        def run(self, creds: Any, stop_at: float) -> dict[str, int]:
            raise RuntimeError("a bug")

    w, _cas, _follower = setup([Progress(WAITING)])
    w.sweeper.follower = Broken()
    assert w.sweeper.run(None)["Followed"] == {"error": 1}


def test_the_operator_keeps_seeing_why_a_record_was_not_created() -> None:
    dns = RecordingDns()
    dns.fail_next = zone_not_found("_dnsauth.a.example.com")
    w, _cas, follower = setup([Progress(VALIDATION, (TXT,))], dns=dns)
    w.place()
    for _ in range(3):
        follow(w, follower, after=3600)
    assert (w.only_record().follow or {})["dns_error"] == "ZoneNotFound"


def test_a_record_name_outside_the_order_s_own_names_is_never_created_whatever_cas_answers() -> None:
    foreign = Validation("DNS", domain="a.example.com", record_domain="_dnsauth.victim.example.net",
                         record_type="TXT", record_value="token-x")
    lookalike = Validation("DNS", domain="a.example.com", record_domain="_dnsauth.xa.example.com",
                           record_type="TXT", record_value="token-y")
    dns = RecordingDns()
    w, _cas, follower = setup([Progress(VALIDATION, (TXT, foreign, lookalike))], dns=dns)
    w.place()
    follow(w, follower, after=60)
    assert dns.ensured == ["_dnsauth.a.example.com"]
