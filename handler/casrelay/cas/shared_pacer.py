"""One pacer for every instance: the CAS call slots kept in the Redis the ledger already shares.

CAS counts its 10 QPS per account and API over every caller, and each FC instance's own ``Pacer``
spaces only its own calls: four instances sent four times the limit, and the throttled paid calls
failed their first delivery. With a Redis ledger every instance reserves each call's slot in that
Redis instead, with one Lua script per call, so one round trip and no lock held across the network.
The script reads Redis's own clock (``TIME``), so the instances' clocks never meet; it takes the
later of now and the action's next free slot, moves the slot one interval on, sets the key to
expire once the slot has passed, and answers how long to wait. The caller sleeps that long; if it
wakes up much later than its slot (a starved CPU), it takes a fresh slot rather than crowd the call
ten slots on into one second.

A pacer failure must never fail or block an order. When Redis does not answer within ``TIMEOUT_S``
(or answers with an error), the instance paces its own calls with the local ``Pacer`` and logs that
once (``cas.pacer_fallback``); one call asks Redis again every ``RETRY_S``, and the first answer
logs ``cas.pacer_restored``. A Redis the pacer cannot reach is usually the ledger's outage too, so
this covers a blip, not a way of running.

``redis`` is imported when a ``SharedPacer`` is built, which happens only with a Redis ledger, whose
store imports it anyway: a SQLite or memory ledger never pays for it at a cold start.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from .. import log
from ..config import ConfigError, Settings
from .ratelimit import CallPacer, Pacer

#: ``CAS_PACER``: ``auto`` shares the pacer when the ledger is Redis; ``local`` never does; ``redis``
#: insists (a ledger that is not Redis is then a configuration error, not a silent per-instance pacer).
PACER_MODES = ("auto", "local", "redis")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
KEY_PREFIX = "casrelay:pacer:"
#: Wider than the local pacer's 1.05: calls leave from several hosts, each late by its own scheduling, its
#: network and, on a new connection, a handshake, and ten slots must still span CAS's one-second window
#: when the first leaves late and the eleventh on time. 1.10 leaves 100 ms of such spread per window, for
#: 5% of the throughput; with 1.05, four loaded instances on two cores were throttled about once a run.
SHARED_MARGIN = 1.10
#: A caller that woke too late takes a fresh slot, at most this many reservations in all.
MAX_RESERVATIONS = 3
#: Longer than a loopback or VPC round trip by far, short enough that a hung Redis delays one call only.
TIMEOUT_S = 1.0
#: How long an instance paces alone after Redis failed, before one call asks Redis again.
RETRY_S = 5.0
#: A next slot further ahead than this is not a queue but a clock step back on the Redis host: start over.
MAX_BACKLOG_S = 60.0

#: KEYS[1] the action's key; ARGV[1] the interval and ARGV[2] the largest backlog, in microseconds.
#: Numbers go back to Redis through ``%.0f``: Lua 5.1 would print a microsecond timestamp as 1.7e+15.
SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local slot = tonumber(redis.call('GET', KEYS[1]) or '')
if slot == nil or slot < now or slot - now > tonumber(ARGV[2]) then slot = now end
local free = slot + interval
local ttl = math.ceil((free - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', free), 'PX', string.format('%.0f', ttl))
return slot - now
"""
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode(), usedforsecurity=False).hexdigest()


def pacer_mode(env: Mapping[str, str]) -> str:
    """``CAS_PACER``, checked at start so that a typo is a 503 naming it, not a pacer nobody chose."""
    raw = env.get("CAS_PACER", "").strip().lower() or "auto"
    if raw not in PACER_MODES:
        raise ConfigError(f"CAS_PACER must be auto, local or redis, got {raw[:20]!r}")
    return raw


def open_pacer(settings: Settings, store_url: str, mode: str = "auto") -> CallPacer:
    """The pacer every CAS call of this instance goes through: shared through a Redis ledger, else local."""
    shared = store_url.startswith(REDIS_SCHEMES)
    if mode == "redis" and not shared:
        raise ConfigError("CAS_PACER=redis shares the pacer through the Redis ledger, but IDEMPOTENCY_STORE is "
                          "not redis://, rediss:// or unix://; use CAS_PACER=auto or local")
    if mode == "local" or not shared:
        return Pacer(settings.cas_max_qps)
    return SharedPacer(store_url, settings.cas_max_qps, scope=settings.cas_region)


class SharedPacer:
    """``CallPacer`` over Redis: one slot sequence per (scope, action) for every instance on that Redis.

    The instances that share a ledger are one deployment, in one account, so the account is implied by
    the Redis they share; ``scope`` adds the CAS region, which CAS counts apart."""

    def __init__(self, url: str, qps: float, scope: str, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = SHARED_MARGIN / qps if qps > 0 else 0.0
        #: Half of what the margin leaves per window; the other half is for what happens after waking.
        self.late_s = (SHARED_MARGIN - 1) / 2
        self._args = (str(round(self.interval * 1e6)), str(round(MAX_BACKLOG_S * 1e6)))
        self._prefix = f"{KEY_PREFIX}{scope}:"
        self._local = Pacer(qps, clock, sleep)
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._degraded = False
        self._retry_at = 0.0
        self._no_script: tuple[type[BaseException], ...] = ()
        self._client: Any = None
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            self._no_script = (redis.exceptions.NoScriptError,)
            # No retries of its own: a retry would only lengthen the wait before the local fallback.
            self._client = redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S,
                                                retry=Retry(NoBackoff(), 0))
        except Exception as exc:  # a URL the ledger took but this client refuses: pace locally, and say so
            self._degrade(exc)

    def wait(self, action: str) -> float:
        """Block until ``action``'s reserved slot; never raises, whatever Redis does.

        A caller that wakes up later than ``late_s`` after its slot takes a fresh one: left as it is, its
        call could land inside the same second as the call ten slots on, which is already due."""
        if self.interval <= 0:
            return 0.0
        waited = 0.0
        for _ in range(MAX_RESERVATIONS):
            if not self._may_ask():
                return waited + self._local.wait(action)
            try:
                micros = int(self._reserve(self._prefix + action))
            except Exception as exc:  # any failure of the shared pacer falls back; none reaches the order
                self._degrade(exc)
                return waited + self._local.wait(action)
            if self._degraded:
                self._restore()
            delay = min(max(micros, 0) / 1e6, MAX_BACKLOG_S)
            if delay <= 0:
                return waited
            due = self._clock() + delay
            self._sleep(delay)
            waited += delay
            if self._clock() - due <= self.late_s:
                return waited
        return waited

    def _reserve(self, key: str) -> Any:
        """One round trip: EVALSHA, and EVAL (which also caches the script) only when Redis lacks it."""
        try:
            return self._client.evalsha(SCRIPT_SHA, 1, key, *self._args)
        except self._no_script:
            return self._client.eval(SCRIPT, 1, key, *self._args)

    def _may_ask(self) -> bool:
        """While degraded, one caller per ``RETRY_S`` asks Redis again; the others pace locally at once."""
        if self._client is None:
            return False
        if not self._degraded:
            return True
        with self._lock:
            now = self._clock()
            if now < self._retry_at:
                return False
            self._retry_at = now + RETRY_S
            return True

    def _degrade(self, exc: BaseException) -> None:
        with self._lock:
            self._retry_at = self._clock() + RETRY_S
            first, self._degraded = not self._degraded, True
        if first:  # once per outage: the type only, since a Redis error's text can carry the URL
            log.emit("cas.pacer_fallback", logging.WARNING, error=type(exc).__name__, retry_seconds=RETRY_S,
                     reason="the shared CAS pacer's Redis failed; this instance paces its own calls until it answers")

    def _restore(self) -> None:
        with self._lock:
            was, self._degraded = self._degraded, False
        if was:
            log.emit("cas.pacer_restored", logging.INFO, reason="the shared CAS pacer's Redis answers again")
