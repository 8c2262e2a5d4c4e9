"""The chaos run in instance mode (``CAS_ORDER_API=instance``, devkit/chaos.py ``--api instance``): N unique
orders of three shapes through every trigger kind, against an instance pool with one fitting instance per
order and a few spare, under every fault kind (ApplyCertificate errors before and after the commit, TLS
breaks and a closed connection after it, a 503 on UpdateInstance, applications the CA fails, sinks
failing once or down until the sweep, callers that never retry, replays with altered unsigned parts, and
a process killed between ApplyCertificate's answer and the ledger write), then the sweep. It must end
with N orders on N instances, none applied twice nor shared, every applied instance at every sink under
one message id in message version 2, and no live lease without an applied order.

The second half feeds ``devkit.chaos_instance_check`` hand-made facts: a run that kept the promises
passes, and each way of breaking one is reported (so the run's verdict can fail)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from devkit import chaos
from devkit.cas_emulator import (
    OUTCOME_CLOSED_AFTER_COMMIT,
    OUTCOME_DELAYED_AFTER_COMMIT,
    OUTCOME_ERROR_AFTER_COMMIT,
    OUTCOME_TLS_ERROR_AFTER_COMMIT,
    THROTTLING_CODE,
    parse_pool,
)
from devkit.chaos import CALLER_FAULTS, INSTANCE_CAS_FAULTS, INSTANCE_FAULT_KINDS, KINDS, SINK_FAULTS, make_plan, run
from devkit.chaos_check import CREATED, FAILED, CallerAnswer
from devkit.chaos_instance_check import InstanceMessage, InstanceRecord, Lease, PoolInstance, check_instances
from devkit.chaos_instances import API_INSTANCE, shape_of

N = 30
SINKS = ("file", "callback", "mns")


@pytest.mark.parametrize("seed", [11, 12])
def test_instance_chaos_run_applies_each_order_on_one_instance_none_shared_and_delivers_every_one(
        seed: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chaos, "PROGRESS_MIN_DELIVERIES", 1)  # a short run, but show that progress is told
    progress: list[str] = []

    report = run(n=N, seed=seed, workers=4, progress=progress.append, api=API_INSTANCE)

    with capsys.disabled():
        print()
        for line in report.lines():
            print(f"  chaos-v2[{seed}] {line}")
    assert report.ok, report.problems
    # N orders, N instances, none shared: one application per applied instance, one instance per order.
    assert report.applications == report.applied_instances
    # Every order applied, or refused because the CA failed its application (told so, its instance freed).
    assert report.applied_instances + report.not_placed == N
    assert report.not_placed <= report.applications_failed + report.faults["never-retry"]
    assert report.applied_instances >= N - report.faults["never-retry"] - report.applications_failed
    assert report.spare_left >= 2  # the pool had room to spare, and nobody spent it
    # Every applied instance at every sink.
    assert set(report.sink_order_ids) == set(SINKS)
    assert all(count == report.applied_instances for count in report.sink_order_ids.values())
    # Under fire of every kind, and the faults hit ApplyCertificate where they were aimed.
    assert set(INSTANCE_FAULT_KINDS) <= set(report.faults), set(INSTANCE_FAULT_KINDS) - set(report.faults)
    for outcome in (OUTCOME_ERROR_AFTER_COMMIT, OUTCOME_TLS_ERROR_AFTER_COMMIT, OUTCOME_DELAYED_AFTER_COMMIT,
                    OUTCOME_CLOSED_AFTER_COMMIT, THROTTLING_CODE, "ServiceUnavailable"):
        assert report.cas_answers.get(outcome, 0) >= 1, (outcome, report.cas_answers)
    assert report.update_answers.get("ServiceUnavailable", 0) >= 1, report.update_answers
    assert report.applications_failed >= 1
    assert report.sink_refusals["callback"] >= 1 and report.sink_refusals["mns"] >= 1
    assert report.kills >= 1 and report.replays >= 2 and report.redeliveries > 0
    # The sweep finished what nobody re-sent; what is left are finished records and their leases.
    assert report.sweeps >= 1 and report.sweep_remaining == 0
    assert set(report.ledger_left) <= {"delivered", "failed", "leased"}
    # A lease outlives its order (it is bounded by the pool): one per applied instance, and one per order the CA
    # failed (no longer live, which the checker verified).
    assert report.applied_instances <= report.ledger_left["leased"] <= report.applied_instances \
        + report.applications_failed
    assert all(len(line) <= 100 for line in report.lines())
    assert 1 <= len(progress) <= 11 and progress[-1].startswith(f"chaos: {report.events}/{report.events} ")


def test_the_same_seed_plans_the_same_instance_run_and_another_seed_or_mode_does_not() -> None:
    first, again = make_plan(300, 7, api=API_INSTANCE), make_plan(300, 7, api=API_INSTANCE)

    assert first.digest() == again.digest() and first.pool == again.pool
    assert [d.describe() for d in first.deliveries] == [d.describe() for d in again.deliveries]
    assert make_plan(300, 8, api=API_INSTANCE).digest() != first.digest()
    assert make_plan(300, 7).digest() != first.digest()
    with pytest.raises(ValueError):
        make_plan(3, 7, api="instances")


@pytest.mark.parametrize("seed", [11, 12, 7])
def test_the_instance_plan_has_every_fault_kind_every_order_shape_and_a_pool_that_fits_them(seed: int) -> None:
    plan = make_plan(N if seed != 7 else 300, seed, api=API_INSTANCE)

    first_attempts = {f.split(":")[0] for d in plan.deliveries if d.faults for _, f in d.faults[0]}
    assert set(INSTANCE_CAS_FAULTS + SINK_FAULTS) <= first_attempts
    assert set(CALLER_FAULTS) <= set(plan.fault_counts())
    assert {d.kind for d in plan.deliveries} == set(KINDS)
    orders = [o for d in plan.deliveries for o in d.orders]
    assert sorted(str(o["Domain"]) for o in orders) == sorted(plan.orders)  # each order once
    shapes = {s: sum(1 for o in orders if shape_of(o) == s) for s in ("single", "wildcard", "multi")}
    assert all(shapes.values()), shapes
    inactive = {(s.brand, s.full_domain_count, s.wildcard_domain_count): s.count for s in parse_pool(plan.pool)
                if s.status == "inactive" and s.certificate_type == "DV"}
    assert inactive[("DigiCert", 1, 0)] >= shapes["single"] + 2
    assert inactive[("GeoTrust", 0, 1)] >= shapes["wildcard"] + 2
    assert inactive[("GeoTrust", 2, 0)] >= shapes["multi"] + 2


def test_every_instance_fault_is_aimed_at_an_order_of_its_own_delivery() -> None:
    plan = make_plan(300, 7, api=API_INSTANCE)

    for d in plan.deliveries:
        assert all(order in d.domains for attempt in d.faults for order, _ in attempt)
        if d.policy == "kill":
            assert d.faults == [] and d.kind in chaos.CALLER_KINDS
        if d.down:
            assert d.policy in ("once", "until-placed")


def test_the_plan_only_command_names_the_instance_pool(capsys: pytest.CaptureFixture[str]) -> None:
    assert chaos.main(["--api", "instance", "--orders", "20", "--seed", "3", "--plan-only"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[1] == f"instance pool: {make_plan(20, 3, api=API_INSTANCE).pool}"
    assert any("cas-application-failed" in line for line in out)


# --------------------------------------------------------------------------- the verdict on hand-made facts

A, B, C = "a.example.com", "*.b.example.com", "c.example.com,www.c.example.com"
IA, IB, IS = "cas_dv-cn-aaaa", "cas_dv-cn-bbbb", "cas_dv-cn-spare"


def created(instance_id: str, domains: tuple[str, ...], msg_id: str) -> list[InstanceMessage]:
    return [InstanceMessage(s, msg_id, CREATED, domains, instance_id, 2) for s in SINKS]


def good_run() -> dict[str, Any]:
    """A applied on IA for a caller that retried; B applied on IB for a caller that was killed after
    ApplyCertificate answered (the sweep adopted it); C never applied, and its one answer said so (402:
    no instance left). IS is spare and untouched."""
    return {
        "pool": [PoolInstance(IA, "inactive", "normal", (A,), 1, "auto:a", "success"),
                 PoolInstance(IB, "inactive", "pending", (B,), 1, "auto:b", "processing"),
                 PoolInstance(IS, "inactive", "inactive")],
        "messages": created(IA, (A,), "msg_a") + created(IB, (B,), "msg_b"),
        "answers": [CallerAnswer(A, True, 200, instance_id=IA), CallerAnswer(B, False, code="Killed"),
                    CallerAnswer(C, False, 402, "NoInstanceLeft"),
                    CallerAnswer(A, False, 400, "InvalidParameter", replay="query:Email")],
        "ledger": [InstanceRecord("auto:a", "auto:a", "delivered", (A,), IA),
                   InstanceRecord("auto:b", "auto:b", "delivered", (B,), IB)],
        "leases": [Lease(IA, "auto:a"), Lease(IB, "auto:b")],
    }


def problems(**changes: Any) -> list[str]:
    return check_instances(orders=[A, B, C], sinks=list(SINKS), **{**good_run(), **changes})


def test_a_run_that_kept_the_promises_passes() -> None:
    assert problems() == []


def test_an_instance_applied_twice_is_reported() -> None:
    pool = good_run()["pool"]
    assert problems(pool=[replace(pool[0], commits=2), *pool[1:]]) == [f"instance {IA} was applied 2 times"]


def test_one_order_applied_on_two_instances_is_reported() -> None:
    run = good_run()
    second = PoolInstance(IS, "inactive", "pending", (A,), 1, "auto:a2", "processing")
    found = problems(pool=[*run["pool"][:2], second])
    assert f"{A} was applied on 2 instances: {sorted([IA, IS])}" in found


def test_one_key_on_two_applied_instances_is_reported() -> None:
    run = good_run()
    found = problems(pool=[*run["pool"][:2], PoolInstance(IS, "inactive", "pending", (C,), 1, "auto:a")])
    assert any("key auto:a... was applied on 2 instances" in p for p in found), found


def test_a_spare_instance_that_moved_without_an_application_is_reported() -> None:
    run = good_run()
    assert problems(pool=[*run["pool"][:2], PoolInstance(IS, "inactive", "pending")]) == [
        f"instance {IS} went from inactive to pending with no application"]


def test_a_caller_told_another_instance_or_none_after_retrying_is_reported() -> None:
    run = good_run()
    wrong = [CallerAnswer(A, True, 200, instance_id=IB), *run["answers"][1:]]
    assert problems(answers=wrong) == [f"{A}: its caller was told InstanceId {IB}, but CAS applied ['{IA}'] for it"]
    none = [CallerAnswer(A, True, 503, "CasOutcomeUnknown"), *run["answers"][1:]]
    assert problems(answers=none) == [f"{A}: its caller retried but never got an InstanceId (last answer 503 "
                                      "CasOutcomeUnknown)"]


def test_an_order_not_applied_without_saying_so_is_reported() -> None:
    run = good_run()
    silent = [*run["answers"][:2], CallerAnswer("c.example.com,www.c.example.com", False, None, "Killed")]
    found = problems(answers=silent)
    assert found == ["c.example.com,www.c.example.com: not applied, and neither its caller's answer (None Killed) "
                     f"nor a {FAILED} message at every sink says so"]
    failed = [InstanceMessage(s, "msg_c", FAILED, ("c.example.com", "www.c.example.com"), None, 2) for s in SINKS]
    assert problems(answers=silent, messages=run["messages"] + failed) == []


def test_an_applied_instance_missing_at_a_sink_or_under_two_ids_or_off_schema_is_reported() -> None:
    run = good_run()
    missing = [m for m in run["messages"] if not (m.instance_id == IB and m.sink == "mns")]
    assert problems(messages=missing) == [f"instance {IB} ({B}) never reached mns"]
    twice = run["messages"] + [InstanceMessage("file", "msg_b2", CREATED, (B,), IB, 2)]
    assert problems(messages=twice) == [f"instance {IB} reached the sinks under 2 message ids"]
    v1 = [replace(m, version=1, schema_error="1 is not 2") if m.sink == "file" and m.instance_id == IA else m
          for m in run["messages"]]
    assert problems(messages=v1) == [f"file got a {CREATED} message (version 1) the v2 schema refuses: 1 is not 2"]


def test_a_message_for_an_instance_nobody_applied_is_reported() -> None:
    run = good_run()
    found = problems(messages=run["messages"] + created(IS, (C,), "msg_c"))
    assert found == [f"{s} got {CREATED} for instance {IS}, which was not applied" for s in SINKS]


def test_records_left_open_or_contradicting_cas_are_reported() -> None:
    run = good_run()
    assert problems(ledger=[replace(run["ledger"][0], state="unknown"), run["ledger"][1]]) == [
        f"unknown record left for {A}"]
    assert problems(ledger=[replace(run["ledger"][0], state="claimed", claim_lapsed=True), run["ledger"][1]]) == [
        f"lapsed claim left for {A}"]
    wrong = [replace(run["ledger"][0], instance_id=IS), run["ledger"][1]]
    found = problems(ledger=wrong)
    assert f"the ledger holds instance {IS} for {A}, which CAS never applied" in found
    assert f"applied instance {IA}: the record of its key names {IS}" in found
    assert problems(ledger=run["ledger"][1:], leases=run["leases"][1:]) == [
        f"applied instance {IA} ({A}): no ledger record has its key"]


def test_an_applied_instance_whose_record_lost_its_lease_is_reported() -> None:
    run = good_run()
    assert problems(leases=[Lease(IA, "auto:other"), run["leases"][1]]) == [
        f"the record for {A} holds no lease on its instance {IA}"]


def test_a_live_lease_on_an_instance_its_owner_never_applied_is_a_stuck_lease() -> None:
    run = good_run()
    stuck = InstanceRecord("auto:c", "auto:c", "failed", ("c.example.com", "www.c.example.com"), IS)
    assert problems(ledger=[*run["ledger"], stuck], leases=[*run["leases"], Lease(IS, "auto:c")]) == []  # failed: stale
    held = replace(stuck, state="delivered")
    found = problems(ledger=[*run["ledger"], held], leases=[*run["leases"], Lease(IS, "auto:c")])
    assert f"instance {IS} is leased to c.example.com,www.c.example.com (delivered), which never applied on it" \
        in found
