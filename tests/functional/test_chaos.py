"""A small chaos run in CI (devkit/chaos.py): N unique orders through every trigger kind, with the CAS
emulator in HTTPS mode and a list lag, under every fault kind (CAS errors before and after commit, TLS
errors after sending, sinks failing once or down until the sweep, callers that never retry, replays
with altered unsigned parts, and a process killed between CAS's answer and the ledger write), then the
sweep. It must end with at most one paid order per order, exactly one for every caller that retried,
every paid OrderId at every sink under one message id, and nothing left in the ledger that a sweep
could resolve. ``python -m devkit.chaos`` runs the large version."""

from __future__ import annotations

import pytest

from devkit import chaos
from devkit.cas_emulator import (
    OUTCOME_DELAYED_AFTER_COMMIT,
    OUTCOME_ERROR_AFTER_COMMIT,
    OUTCOME_TLS_ERROR_AFTER_COMMIT,
    THROTTLING_CODE,
)
from devkit.chaos import CALLER_FAULTS, CAS_FAULTS, FAULT_KINDS, KINDS, SINK_FAULTS, make_plan, run

N = 36


@pytest.mark.parametrize("seed", [11, 12])
def test_chaos_run_never_orders_twice_and_never_loses_an_order_id(seed: int, capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chaos, "PROGRESS_MIN_DELIVERIES", 1)  # a short run, but show that progress is told
    progress: list[str] = []

    report = run(n=N, seed=seed, workers=4, progress=progress.append)

    with capsys.disabled():
        print()
        for line in report.lines():
            print(f"  chaos[{seed}] {line}")
    assert report.ok, report.problems
    # Never twice: with one paid order at most per order, paid + not placed adds up to the orders.
    assert report.paid_orders + report.not_placed == N
    assert report.paid_orders >= N - report.faults["never-retry"]
    # Never lost: every paid OrderId at every sink.
    assert set(report.sink_order_ids) == {"file", "callback", "mns"}
    assert all(count == report.paid_orders for count in report.sink_order_ids.values())
    # The run really was under fire, of every kind, and the faults hit.
    assert set(FAULT_KINDS) <= set(report.faults), set(FAULT_KINDS) - set(report.faults)
    assert sum(report.faults.values()) > 10
    for outcome in (OUTCOME_ERROR_AFTER_COMMIT, OUTCOME_TLS_ERROR_AFTER_COMMIT, OUTCOME_DELAYED_AFTER_COMMIT,
                    THROTTLING_CODE, "ServiceUnavailable"):
        assert report.cas_answers.get(outcome, 0) >= 1, (outcome, report.cas_answers)
    assert report.sink_refusals["callback"] >= 1 and report.sink_refusals["mns"] >= 1
    assert report.kills >= 1 and report.replays >= 2
    assert report.redeliveries > 0
    # The sweep finished what nobody re-sent.
    assert report.sweeps >= 1 and report.sweep_remaining == 0
    assert set(report.ledger_left) <= {"delivered", "failed"}
    # Short, whole lines; progress about every 10% of the deliveries.
    assert all(len(line) <= 100 for line in report.lines())
    assert 1 <= len(progress) <= 11 and progress[-1].startswith(f"chaos: {report.events}/{report.events} ")
    assert len(KINDS) == 9


def test_the_same_seed_plans_the_same_events_and_faults_and_another_seed_does_not() -> None:
    first, again = make_plan(300, 7), make_plan(300, 7)

    assert first.digest() == again.digest()
    assert [d.describe() for d in first.deliveries] == [d.describe() for d in again.deliveries]
    assert make_plan(300, 8).digest() != first.digest()


@pytest.mark.parametrize("seed", [11, 12])
def test_the_ci_plan_has_every_fault_kind_with_cas_and_sink_faults_on_first_attempts(seed: int) -> None:
    plan = make_plan(N, seed)

    first_attempts = {f.split(":")[0] for d in plan.deliveries if d.faults for _, f in d.faults[0]}
    assert set(CAS_FAULTS + SINK_FAULTS) <= first_attempts
    assert set(CALLER_FAULTS) <= set(plan.fault_counts())
    assert sorted(o for d in plan.deliveries for o in d.domains) == sorted(plan.orders)  # each order once
    assert {d.kind for d in plan.deliveries} == set(KINDS)


def test_every_fault_is_aimed_at_an_order_of_its_own_delivery() -> None:
    plan = make_plan(300, 7)

    for d in plan.deliveries:
        assert all(domain in d.domains for attempt in d.faults for domain, _ in attempt)
        assert set(d.down) <= set(d.domains)
        if d.policy == "kill":
            assert d.faults == [] and d.kind in chaos.CALLER_KINDS
        if d.replays:
            assert d.kind == "http" and d.policy in ("retry", "until-placed")
        if d.down:
            assert d.policy in ("once", "until-placed")


def test_the_chaos_command_keeps_the_log_lines_in_a_file_and_prints_short_whole_lines(
        tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    assert chaos.main(["--orders", "4", "--seed", "3", "--workers", "2"]) == 0

    out, err = capsys.readouterr()
    log = tmp_path / "casrelay-devkit" / "chaos.log"
    assert f"chaos: the function's log lines go to {log}" in err
    assert out.splitlines()[-1] == "RESULT: ok"
    assert all(len(line) <= 100 and not line.startswith("{") for line in out.splitlines())
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(x.get("event") == "order.placed" for x in logged)
