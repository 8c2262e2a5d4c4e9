"""Scale: the per-order cost with 100 000 records already in the SQLite ledger, against an empty ledger.

One session of the embedded default (see ``_warm``) and two SQLite ledgers opened through the store's
own ``open_store``, so both have the schema, the migrations and every index the store creates:

* ``empty`` - the session's own ledger, holding only this run's orders;
* ``full``  - a second file pre-filled with ``--records`` records (100 000), then checkpointed.

The records are shaped like real ones: templates are real records written by casrelay (a delivered
order, and a refusal the emulator answers), varied per record (key, domain, OrderId, times, sinks), in
the states a ledger holds after a week of orders under the default 7-day retention: mostly delivered,
some refusals, a few unknown outcomes parked for an operator, and a few live orders (recent claims, one
whose paid call is out, recorded orders not yet delivered). They go in through the store's own
``create`` inside one transaction, which is fast (a few seconds) and writes every column and index
entry exactly as an order does.

Then direct orders alternate between the two ledgers (the store is swapped under the running relay
between orders, untimed), in a shuffled order per round, so load drift hits both alike. The figure is
full / empty per order at the median, with the mean and p99 beside it. The sweep (the timer trigger)
is timed on both ledgers too, for context: it is a periodic cost, not a per-order one.
"""

from __future__ import annotations

import contextlib
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from _common import Metric, Stats, halves, machine_load, parse_args, quantile, report
from _warm import Runner, session, stdout_to

from devkit import cas_emulator

TARGET = 1.05
DAY = 86400.0
#: The share of each state in the pre-filled ledger (the rest is ``delivered``).
MIX = (("failed", 0.04), ("unknown", 0.003), ("ordered", 0.002), ("claimed", 0.001))


def templates(runner: Runner, logs: Path) -> dict[str, Any]:
    """Real records written by casrelay: one delivered order, and one refusal (CAS's 400)."""
    app = runner.index._app
    with stdout_to(logs):
        runner.prepare("direct")()
        runner.emb.emulator.fail_next(cas_emulator.ACTION_CREATE, status=400, code="InvalidParameter",
                                      message="The parameter Domain is invalid.")
        with contextlib.suppress(RuntimeError):  # answered with the refusal, as intended
            runner.prepare("direct")()
    by_state = {r.state: r for r in app.ledger.store.scan()}
    if "delivered" not in by_state:
        raise SystemExit(f"no delivered record to copy (states seen: {sorted(by_state)})")
    return by_state


def _record(base: Any, refusal: Any, state: str, i: int, now: float, rng: random.Random) -> Any:
    """Record ``i``: the delivered template with its own key, names, times, OrderId and per-record values,
    moved into ``state`` the way casrelay's transitions leave it (one ``replace``, for speed)."""
    created = now - rng.uniform(0, 7 * DAY - 3600)
    updated = created + 0.01
    c: dict[str, Any] = {
        "key": "auto:" + f"{rng.getrandbits(256):064x}", "payload_hash": f"{rng.getrandbits(256):064x}",
        "version": rng.getrandbits(52) + 1, "created_at": created, "updated_at": updated,
        "order": {**base.order, "domains": [f"site{i:06d}.example.com"]},
        "source": {**base.source, "message_id": f"{rng.getrandbits(64):016x}"},
        "cas_request_id": f"{rng.getrandbits(128):032X}", "order_id": 10_000_000 + i,
        "deliveries": {k: updated for k in base.deliveries}, "expires_at": updated + 7 * DAY,
    }
    if state == "delivered":
        # The follower's share: an order of the last two days is still followed (its next poll within the
        # backoff's last step, no retention yet); an older one is done, issued.
        if created > now - 2 * DAY:
            c.update(follow={"phase": "validation", "since": created, "polls": 3}, expires_at=None,
                     next_poll_at=now + rng.uniform(0, 1800))
        else:
            c.update(follow={"phase": "issued", "since": created, "polls": 0}, next_poll_at=None)
    if state == "failed":
        c.update(state="failed", follow=None, next_poll_at=None, order_id=None, error=dict(refusal.error or {}),
                 settled=True,
                 deliveries={k: updated for k in refusal.deliveries})
    elif state == "unknown":  # parked for an operator after the sweep's tries, its message delivered
        c.update(state="unknown", follow=None, next_poll_at=None, order_id=None,
                 error={"Code": "CasOutcomeUnknown", "Status": 504},
                 note="no answer from CAS", settled=True, sweeps=10, parked_at=updated + 3600,
                 call_ended_at=updated, expires_at=None)
    elif state in ("ordered", "claimed"):  # live: written a second ago
        c.update(state=state, created_at=now - 1.0, updated_at=now - 1.0, deliveries={}, settled=False,
                 expires_at=None, follow=None, next_poll_at=None)
        if state == "claimed":  # a live claim whose paid call is out (the rivals index holds it)
            c.update(order_id=None, cas_request_id=None, claim_token=f"{i:032x}", claim_expires_at=now + 60,
                     attempted_at=now - 1.0)
    return replace(base, **c)


def records(n: int, tmpl: dict[str, Any], now: float, seed: int = 5) -> Iterator[Any]:
    rng = random.Random(seed)
    refusal = tmpl.get("failed") or replace(tmpl["delivered"], error={"Code": "InvalidParameter", "Status": 400})
    for i in range(n):
        x = rng.random()
        state = "delivered"
        for name, share in MIX:
            if x < share:
                state = name
                break
            x -= share
        yield _record(tmpl["delivered"], refusal, state, i, now, rng)


#: The statement ``SqliteStore.create`` runs (without OR IGNORE: a repeated key must fail the pre-fill).
INSERT = ("INSERT INTO ledger (version, state, order_id, expires_at, data, open, updated_at, call_out, "
          "next_poll_at, key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _row_function() -> Callable[[Any], tuple[object, ...]] | None:
    """The store's own record-to-columns helper, so the pre-filled columns are exactly what it writes."""
    try:
        from casrelay.ledger.persistence import sqlite as sqlite_store
    except ImportError:
        return None
    row = getattr(sqlite_store, "_row", None)
    return row if callable(row) else None


def prefill(path: Path, n: int, tmpl: dict[str, Any]) -> tuple[Any, Counter[str], float]:
    """A new SQLite ledger at ``path`` with ``n`` records, through the store's own ``create``, one transaction."""
    from casrelay.ledger import open_store

    store: Any = open_store(f"sqlite://{path}")
    conn = store._conn()
    started = time.monotonic()
    states: Counter[str] = Counter()
    conn.execute("BEGIN")
    row = _row_function()
    if row is None:  # the store's column helper moved: one ``create`` per record (slower, same rows)
        for rec in records(n, tmpl, time.time()):
            if not store.create(rec):
                raise SystemExit(f"pre-fill: key {rec.key} was taken")
            states[rec.state] += 1
    else:
        batch: list[tuple[object, ...]] = []
        samples: dict[str, Any] = {}
        for rec in records(n, tmpl, time.time()):
            batch.append((*row(rec), rec.key))
            states[rec.state] += 1
            samples.setdefault(rec.state, rec)
        conn.executemany(INSERT, batch)
        for rec in samples.values():  # read back through the store: the columns helper and INSERT agree
            if store.get(rec.key) != rec:
                raise SystemExit(f"pre-fill: a {rec.state} record did not read back as written")
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")  # as a long-lived ledger would have had (no-op for the plans here, but honest)
    return store, states, time.monotonic() - started


def _timed_on(runner: Runner, store: Any, make: Callable[[], Callable[[], Any]]) -> float:
    call = make()
    runner.index._app.ledger.store = store
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def alternate(runner: Runner, stores: dict[str, Any], rounds: int, warmup: int, logs: Path,
              make: Callable[[], Callable[[], Any]], seed: int = 3) -> dict[str, list[float]]:
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {k: [] for k in stores}
    with stdout_to(logs):
        for i in range(-warmup, rounds):
            names = list(stores)
            rng.shuffle(names)
            for name in names:
                t = _timed_on(runner, stores[name], make)
                if i >= 0:
                    samples[name].append(t)
    return samples


def sweep_event() -> Callable[[], Callable[[], Any]]:
    event = json.dumps({"triggerTime": "2026-12-01T08:00:00Z", "triggerName": "sweep",
                        "payload": "{\"casrelay\":\"sweep\"}"}).encode()

    def make() -> Callable[[], Any]:
        from devkit.fc_local import load_index, make_context

        index, ctx = load_index(), make_context()
        return lambda: index.handler(event, ctx)

    return make


def _timed_sweep_answer(runner: Runner, store: Any) -> Any:
    runner.index._app.ledger.store = store
    return sweep_event()()()


def describe(store: Any) -> str:
    conn = store._conn()
    rows = conn.execute("SELECT count(*) FROM ledger").fetchone()[0]
    indexes = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name")]
    size = sum(p.stat().st_size for p in Path(store.path).parent.glob(Path(store.path).name + "*"))
    return f"{rows} rows, {size / 1e6:.0f} MB on disk, indexes {', '.join(indexes)}"


def main() -> None:
    args = parse_args(__doc__ or "", extra={
        "records": (int, 100_000, "records pre-filled into the full ledger"),
        "rounds": (int, 0, "interleaved rounds (default 600, --quick 200); each places one order on each ledger"),
        "warmup": (int, 20, "unmeasured rounds first"),
    })
    rounds = args.rounds or (200 if args.quick else 600)
    with session() as (emb, runner, logs):
        app = runner.index._app
        empty = app.ledger.store
        tmpl = templates(runner, logs)
        full, states, took = prefill(emb.workdir / "full-ledger.sqlite3", args.records, tmpl)
        print(f"ledger scale: pre-filled {sum(states.values())} records in {took:.1f} s ({dict(states)}), "
              f"templates from real records in states {sorted(tmpl)}")
        print(f"  full : {describe(full)}\n  empty: {describe(empty)}")
        stores = {"empty": empty, "full": full}
        samples = alternate(runner, stores, rounds, args.warmup, logs, lambda: runner.prepare("direct"))
        sweeps = alternate(runner, stores, 3 if args.quick else 8, 1, logs, sweep_event())
        with stdout_to(logs):
            print(f"  a sweep's answer on the full ledger: {_timed_sweep_answer(runner, full)}", file=sys.stderr)
        app.ledger.store = empty
        print(f"  after the run: full {describe(full)}")
    print(f"\n  {rounds} interleaved rounds after {args.warmup} warm-up rounds ({machine_load()}); direct orders:")
    st = {k: Stats.of(v) for k, v in samples.items()}
    for k, s in st.items():
        print(f"  {k:5s}: {s.us()}")
    r = st["full"].ratio(st["empty"])
    pairs = [a / b for a, b in zip(samples["full"], samples["empty"], strict=True)]
    first, second = halves(pairs)
    print(f"  full / empty: median {r['median']:.3f}x, mean {r['mean']:.3f}x, p99 {r['p99']:.3f}x; per-round "
          f"ratios p25 {quantile(pairs, 0.25):.3f} / p75 {quantile(pairs, 0.75):.3f}, halves {first:.3f} / "
          f"{second:.3f}; difference at the median {(st['full'].median - st['empty'].median) * 1e6:+.0f} us")
    sw = {k: Stats.of(v) for k, v in sweeps.items()}
    print(f"  sweep (timer event): empty {sw['empty'].median * 1e3:.1f} ms, full {sw['full'].median * 1e3:.1f} ms "
          f"(median of {len(sweeps['empty'])})")
    note = f"direct order, {args.records} records in the ledger vs an empty one; {rounds} interleaved rounds"
    metrics = [
        Metric("ledger_100k_median", st["full"].median * 1e6, st["empty"].median * 1e6, "us/order", TARGET,
               note=note),
        Metric("ledger_100k_mean", st["full"].mean * 1e6, st["empty"].mean * 1e6, "us/order", TARGET,
               note="mean, held to the median's target"),
        Metric("ledger_100k_p99", st["full"].p99 * 1e6, st["empty"].p99 * 1e6, "us/order", 0.0, kind="info",
               note="p99; no target given"),
        Metric("sweep_100k", sw["full"].median * 1e3, sw["empty"].median * 1e3, "ms/sweep", 0.0, kind="info",
               note="one timer-triggered sweep on the full vs the empty ledger (a periodic cost, every 5 min)"),
    ]
    report(metrics, args.json)


if __name__ == "__main__":
    main()
