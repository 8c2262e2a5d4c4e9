"""A small chaos run in CI: N unique orders through every trigger kind under CAS and sink faults,
redelivered until they succeed, end with exactly N paid orders, every OrderId at every sink, and no
unknown key that reconciliation could resolve. ``python -m devkit.chaos`` runs the large version."""

from __future__ import annotations

import pytest

from devkit.chaos import KINDS, run


@pytest.mark.parametrize("seed", [11, 12])
def test_chaos_run_places_each_order_once_and_delivers_every_order_id(seed, capsys):
    report = run(n=36, seed=seed, workers=4)
    with capsys.disabled():
        print()
        for line in report.lines():
            print(f"  chaos[{seed}] {line}")
    assert report.ok, report.problems
    assert report.paid_orders == 36
    assert set(report.sink_messages) == {"file", "callback", "mns"}
    assert all(count >= 36 for count in report.sink_messages.values())
    assert sum(report.faults.values()) > 10  # the run really was under fire
    assert report.redeliveries > 0
    assert len(KINDS) == 9
