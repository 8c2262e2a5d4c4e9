"""Several FC instances on one Redis ledger stay under CAS's 10 QPS per account and API together.

Four processes, each the function as FC runs it (``index.initialize``, then one MNS batch of ten
orders), start at one start line against the CAS emulator, which counts its windows per account and
API as CAS does (the STS key two of the instances sign with and the long-term key of the other two are
one account) and answers ``Throttling.User`` beyond them. ``PRECHECK_QUOTA=true`` makes each order call
two APIs. The harness is ``bench/shared_pacer.py``, which prints the same figures.

With the shared pacer: no throttled call, every order placed once at its first delivery, and the
wall time near N / QPS (a loose bound: this machine has 2 cores and other jobs). With the per-instance
pacer the same run must be throttled, or the harness would prove nothing.
"""

from __future__ import annotations

import pytest

from bench.shared_pacer import Figures, run

INSTANCES = 4
ORDERS = 40
QPS = 10
#: The time the instances take to start is outside the measurement (they wait at the start line), but
#: the last answer includes one CAS round trip and each batch's summary and pushes.
SLACK_S = 1.0


def _show(capsys: pytest.CaptureFixture[str], got: Figures) -> None:
    with capsys.disabled():
        print("\n  " + "\n  ".join(got.lines()))


def test_four_instances_sharing_one_redis_never_throttle_and_place_every_order_once(redis_url, capsys):
    got = run(redis_url, instances=INSTANCES, orders=ORDERS, qps=QPS, pacer="auto", precheck=True)
    _show(capsys, got)
    assert got.throttled == 0, got.throttled_by_action
    assert got.placed_once and got.placed == ORDERS
    assert got.first_delivery_failed == 0
    assert got.calls_by_action == {"DescribePackageState": ORDERS, "CreateCertificateForPackageRequest": ORDERS}
    assert got.wall_s <= 1.6 * ORDERS / QPS + SLACK_S, f"{got.wall_s:.2f} s for a floor of {ORDERS / QPS:.1f} s"
    assert got.wall_s >= (ORDERS - 1) / QPS - 0.2  # paced, not merely lucky: 40 calls of one API take ~4 s


def test_the_per_instance_pacer_is_throttled_in_the_same_run_so_the_harness_can_tell(redis_url, capsys):
    got = run(redis_url, instances=INSTANCES, orders=ORDERS, qps=QPS, pacer="local")
    _show(capsys, got)
    assert got.throttled > 0
    assert got.placed_twice == 0  # throttled calls are retried only because CAS did not act
