"""Promise: never two paid orders across instances. Two processes race on the same keys of one shared store
(a real redis-server, and one SQLite file), key after key in lockstep, and each key must be won by exactly
one of them: the conditional create and the versioned replace are what stand between a redelivery and a
second paid order, so they are tested where a broken condition would show, not through one lucky call."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = 300

RACER = r"""
import json, sys, time
sys.path.insert(0, "handler")
from casrelay.ledger import LedgerRecord, open_store
url, start, name, keys = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
store = open_store(url)
won_create, won_replace = [], []
time.sleep(max(0.0, start - time.time()))
for i in range(keys):
    key = f"race:{i}"
    record = LedgerRecord(key=key, payload_hash="h", state="claimed", version=1, created_at=1.0, updated_at=1.0,
                          claim_token=name)
    if store.create(record):
        won_create.append(key)
    current = store.get(key)
    if current is not None and current.version == 1:
        nxt = LedgerRecord(key=key, payload_hash="h", state="claimed", version=2, created_at=1.0, updated_at=2.0,
                           claim_token=name + "-2")
        if store.replace(nxt, 1):
            won_replace.append(key)
print(json.dumps({"create": won_create, "replace": won_replace}))
"""


def _race(url: str) -> tuple[list[dict], float]:
    start = time.time() + 1.5
    procs = [subprocess.Popen([sys.executable, "-c", RACER, url, str(start), name, str(KEYS)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    return outs, start


def _assert_each_key_won_once(outs: list[dict]) -> None:
    for kind in ("create", "replace"):
        a, b = (set(o[kind]) for o in outs)
        assert not a & b, f"{len(a & b)} keys were won by both processes ({kind})"
        assert a | b == {f"race:{i}" for i in range(KEYS)}, f"some keys were won by nobody ({kind})"


def test_two_processes_on_one_redis_never_both_win_a_key(redis_url):
    outs, _ = _race(redis_url)
    _assert_each_key_won_once(outs)


def test_two_processes_on_one_sqlite_file_never_both_win_a_key(tmp_path):
    outs, _ = _race(f"sqlite://{tmp_path}/ledger.sqlite3")
    _assert_each_key_won_once(outs)


@pytest.mark.parametrize("url", ["memory://"])
def test_a_store_refuses_a_second_create_and_a_stale_replace(url):
    sys.path.insert(0, str(ROOT / "handler"))
    from casrelay.ledger import LedgerRecord, open_store

    store = open_store(url)
    first = LedgerRecord(key="k", payload_hash="h", state="claimed")
    assert store.create(first) and not store.create(first)
    newer = LedgerRecord(key="k", payload_hash="h", state="claimed", version=2)
    assert store.replace(newer, 1) and not store.replace(newer, 1)
