"""The pacers: the shared one's Lua slot arithmetic against a real redis-server, its fallback, the wiring.

The shared pacer is what keeps several FC instances under CAS's 10 QPS per account and API together,
so its script is checked on the numbers it stores (the next free slot, in microseconds of Redis's own
clock) and the waits it answers, not only on "it returns something". A pacer failure must never fail
or block an order: an unreachable or hung Redis falls back to the local pacer and logs it once.
"""

from __future__ import annotations

import json
import re
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from casrelay.app import App
from casrelay.cas import shared_pacer
from casrelay.cas.ratelimit import Pacer
from casrelay.cas.shared_pacer import SCRIPT, SCRIPT_SHA, SHARED_MARGIN, SharedPacer, open_pacer, pacer_mode
from casrelay.config import ConfigError, Settings

INTERVAL_US = 100_000
BACKLOG_US = 60_000_000


@pytest.fixture()
def r(redis_url: str) -> Any:
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _now_us(client: Any) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1_000_000 + int(micros)


def _reserve(client: Any, key: str, interval_us: int = INTERVAL_US) -> int:
    return int(client.eval(SCRIPT, 1, key, str(interval_us), str(BACKLOG_US)))


def _key() -> str:
    return f"casrelay:pacer:test-{uuid.uuid4().hex[:8]}:DescribePackageState"


# --- the script's slot arithmetic, on a real redis-server ----------------------------------------------


def test_the_first_call_waits_nothing_and_the_next_slot_is_one_interval_on_redis_clock(r):
    key = _key()
    before = _now_us(r)
    assert _reserve(r, key) == 0
    after = _now_us(r)
    stored = r.get(key).decode()
    assert re.fullmatch(r"\d{16,}", stored), f"a microsecond timestamp, not Lua's 1.7e+15: {stored!r}"
    assert before + INTERVAL_US <= int(stored) <= after + INTERVAL_US


def test_back_to_back_calls_reserve_consecutive_slots_exactly_one_interval_apart(r):
    key = _key()
    started = time.monotonic()
    waits = [_reserve(r, key) for _ in range(8)]
    elapsed_us = (time.monotonic() - started) * 1e6
    first_slot = int(r.get(key)) - 8 * INTERVAL_US  # the slot the first call took
    assert waits[0] == 0
    for i, wait in enumerate(waits):
        # the i-th call's slot is first_slot + i intervals; it waits that minus the time already passed
        assert i * INTERVAL_US - elapsed_us - 1000 <= wait <= i * INTERVAL_US, (i, waits)
    assert waits == sorted(waits)
    assert 1000 <= r.pttl(key) <= 8 * INTERVAL_US // 1000 + 1001  # expires once the queue is past, plus 1 s
    assert first_slot > 0


def test_a_slot_in_the_past_is_free_now(r):
    key = _key()
    r.set(key, str(_now_us(r) - 5_000_000))
    assert _reserve(r, key) == 0
    assert int(r.get(key)) - _now_us(r) <= INTERVAL_US


def test_a_queue_within_the_backlog_is_waited_out(r):
    key = _key()
    r.set(key, str(_now_us(r) + 2_000_000))
    wait = _reserve(r, key)
    assert 1_900_000 <= wait <= 2_000_000


def test_a_slot_beyond_the_backlog_is_a_clock_step_on_the_redis_host_and_starts_over(r):
    key = _key()
    r.set(key, str(_now_us(r) + 3600 * 1_000_000))
    assert _reserve(r, key) == 0
    assert int(r.get(key)) - _now_us(r) <= INTERVAL_US


def test_each_action_has_its_own_slots(r):
    create, package = _key() + "-Create", _key() + "-Package"
    assert _reserve(r, create) == 0
    assert _reserve(r, create) > 0
    assert _reserve(r, package) == 0


def test_the_script_sha_is_what_redis_computes(r):
    assert r.script_load(SCRIPT) == SCRIPT_SHA


# --- SharedPacer over a real redis-server -------------------------------------------------------------


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_two_instances_on_one_redis_take_turns_in_one_sequence(redis_url):
    scope = f"test-{uuid.uuid4().hex[:8]}"
    sleeps = Sleeps()
    a, b = (SharedPacer(redis_url, 10, scope, sleep=sleeps) for _ in range(2))
    waits = [p.wait("CreateCertificateForPackageRequest") for p in (a, b, a, b, a, b)]
    assert waits[0] == 0
    interval = SHARED_MARGIN / 10
    for i, wait in enumerate(waits):
        assert i * interval - 0.05 <= wait <= i * interval + 1e-6, waits
    assert sleeps.calls == [w for w in waits if w > 0]


def test_a_caller_that_wakes_up_late_takes_a_fresh_slot_and_gives_up_after_a_few(redis_url, monkeypatch):
    now = [1000.0]
    overslept = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds + overslept[0]

    pacer = SharedPacer(redis_url, 10, f"test-{uuid.uuid4().hex[:8]}", clock=lambda: now[0], sleep=sleep)
    asked: list[int] = []
    real = pacer._client.evalsha
    monkeypatch.setattr(pacer._client, "evalsha", lambda *args: asked.append(1) or real(*args))
    pacer.wait("DescribePackageState")  # the first slot is now: nothing to be late for
    overslept[0] = pacer.late_s / 2
    pacer.wait("DescribePackageState")
    assert len(asked) == 2  # late within what the margin allows: the slot stands
    overslept[0] = pacer.late_s * 2
    pacer.wait("DescribePackageState")
    assert len(asked) == 2 + shared_pacer.MAX_RESERVATIONS


def test_a_missing_script_is_sent_once_with_eval_and_the_wait_still_answered(redis_url, monkeypatch):
    import redis

    pacer = SharedPacer(redis_url, 10, f"test-{uuid.uuid4().hex[:8]}", sleep=Sleeps())
    calls: list[str] = []
    real_eval = pacer._client.eval

    def no_script(*args: Any) -> Any:
        calls.append("evalsha")
        raise redis.exceptions.NoScriptError("NOSCRIPT No matching script.")

    def eval_(*args: Any) -> Any:
        calls.append("eval")
        return real_eval(*args)

    monkeypatch.setattr(pacer._client, "evalsha", no_script)
    monkeypatch.setattr(pacer._client, "eval", eval_)
    assert pacer.wait("DescribePackageState") == 0
    assert pacer.wait("DescribePackageState") > 0
    assert calls == ["evalsha", "eval", "evalsha", "eval"]


def test_no_pacing_asked_means_no_redis_call():
    pacer = SharedPacer("redis://127.0.0.1:1/0", 0, "x")
    assert pacer.wait("CreateCertificateForPackageRequest") == 0.0


# --- never fail, never block: the local fallback ------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _events(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_an_unreachable_redis_falls_back_to_local_pacing_and_logs_it_once(capsys):
    sleeps = Sleeps()
    pacer = SharedPacer(f"redis://:secret-pw@127.0.0.1:{_closed_port()}/0", 10, "x", sleep=sleeps)
    started = time.monotonic()
    waits = [pacer.wait("CreateCertificateForPackageRequest") for _ in range(3)]
    assert time.monotonic() - started < 0.5
    assert waits[0] == 0 and waits[1] > 0.09 and waits[2] > waits[1]  # the local Pacer's spacing
    out = capsys.readouterr().out
    fallbacks = [e for e in _events(out) if e.get("event") == "cas.pacer_fallback"]
    assert len(fallbacks) == 1 and fallbacks[0]["error"] == "ConnectionError"
    assert "secret-pw" not in out


@pytest.fixture()
def hung_redis() -> Iterator[str]:
    """A port that completes the TCP handshake (the kernel's backlog) and never answers a byte."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"redis://127.0.0.1:{s.getsockname()[1]}/0"


def test_a_hung_redis_delays_one_call_by_the_timeout_at_most_and_then_paces_locally(hung_redis, capsys):
    pacer = SharedPacer(hung_redis, 10, "x", sleep=Sleeps())
    started = time.monotonic()
    pacer.wait("DescribePackageState")
    assert time.monotonic() - started < shared_pacer.TIMEOUT_S + 0.5
    started = time.monotonic()
    for _ in range(5):
        pacer.wait("DescribePackageState")
    assert time.monotonic() - started < 0.1  # no caller asks the hung Redis again before RETRY_S
    assert [e["error"] for e in _events(capsys.readouterr().out) if e.get("event") == "cas.pacer_fallback"] \
        == ["TimeoutError"]


def test_after_an_outage_one_call_per_retry_period_asks_redis_and_recovery_is_logged_once(redis_url, monkeypatch,
                                                                                          capsys):
    import redis

    now = [1000.0]
    pacer = SharedPacer(redis_url, 10, f"test-{uuid.uuid4().hex[:8]}", clock=lambda: now[0], sleep=Sleeps())
    real = pacer._client.evalsha
    asked: list[int] = []

    def down(*args: Any) -> Any:
        asked.append(1)
        raise redis.ConnectionError("down")

    monkeypatch.setattr(pacer._client, "evalsha", down)
    for _ in range(4):
        pacer.wait("DescribePackageState")
    assert len(asked) == 1
    now[0] += shared_pacer.RETRY_S
    pacer.wait("DescribePackageState")
    assert len(asked) == 2  # the probe, still down
    monkeypatch.setattr(pacer._client, "evalsha", real)
    now[0] += shared_pacer.RETRY_S
    pacer.wait("DescribePackageState")
    pacer.wait("DescribePackageState")
    events = [e["event"] for e in _events(capsys.readouterr().out) if e.get("event", "").startswith("cas.pacer")]
    assert events == ["cas.pacer_fallback", "cas.pacer_restored"]


def test_an_answer_that_is_not_a_number_falls_back_too(redis_url, monkeypatch):
    pacer = SharedPacer(redis_url, 10, "x", sleep=Sleeps())
    monkeypatch.setattr(pacer._client, "evalsha", lambda *args: b"not a number")
    assert pacer.wait("DescribePackageState") == 0.0
    assert pacer._degraded


# --- which pacer, and where it is used ----------------------------------------------------------------


@pytest.mark.parametrize(("raw", "mode"), [("", "auto"), ("  ", "auto"), (" Local ", "local"), ("REDIS", "redis")])
def test_cas_pacer_values(raw, mode):
    assert pacer_mode({"CAS_PACER": raw}) == mode
    assert pacer_mode({}) == "auto"


def test_an_unknown_cas_pacer_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match="CAS_PACER"):
        pacer_mode({"CAS_PACER": "shared"})


@pytest.mark.parametrize(("store", "mode", "kind"), [
    ("sqlite:///tmp/x.sqlite3", "auto", Pacer), ("memory://", "auto", Pacer),
    ("redis://127.0.0.1:6379/0", "auto", SharedPacer), ("rediss://h:6380/0", "auto", SharedPacer),
    ("unix:///run/redis.sock", "redis", SharedPacer), ("redis://127.0.0.1:6379/0", "local", Pacer),
])
def test_the_pacer_follows_the_ledger_unless_told(store, mode, kind):
    assert type(open_pacer(Settings(), store, mode)) is kind


def test_cas_pacer_redis_without_a_redis_ledger_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match="CAS_PACER"):
        open_pacer(Settings(), "sqlite:///tmp/x.sqlite3", "redis")


def test_every_cas_api_the_function_calls_waits_on_the_shared_pacer(redis_url, r):
    """The paid call, the pre-check, reconciliation's listing and the cancel all reserve a Redis slot."""
    from casrelay.cas.credentials import Credentials
    from casrelay.validation import validate_order
    from devkit import cas_emulator
    from devkit.cas_emulator.protocol import ACTION_CANCEL

    region = f"test-{uuid.uuid4().hex[:8]}"
    with cas_emulator.CasEmulator() as emu:
        settings = Settings(cas_endpoint=emu.endpoint, cas_protocol="http", cas_region=region)
        app = App(settings, env={"IDEMPOTENCY_STORE": redis_url, "ORDER_SINKS": ""})
        assert isinstance(app.backend.client.pacer, SharedPacer)  # type: ignore[attr-defined]
        creds = Credentials(cas_emulator.DEMO_ACCESS_KEY_ID, cas_emulator.DEMO_ACCESS_KEY_SECRET)
        placed = app.backend.place(validate_order({"Domain": "paced.example.com"}, settings), creds)
        app.backend.quota(settings.default_product_code, creds)
        app.backend.find(["paced.example.com"], creds)
        app.backend.cancel(placed.order_id, creds)
    keys = sorted(k.decode().rsplit(":", 1)[1] for k in r.scan_iter(match=f"casrelay:pacer:{region}:*"))
    assert keys == sorted([cas_emulator.ACTION_CREATE, cas_emulator.ACTION_PACKAGE_STATE,
                           cas_emulator.ACTION_LIST_ORDERS, ACTION_CANCEL])


def test_a_sqlite_ledger_keeps_the_local_pacer(tmp_path):
    app = App(Settings(), env={"IDEMPOTENCY_STORE": f"sqlite://{tmp_path}/l.sqlite3", "ORDER_SINKS": ""})
    assert type(app.backend.client.pacer) is Pacer  # type: ignore[attr-defined]
