"""``redis://…``: shared by every instance, so the ledger holds across FC's scale-out.

Each record is a hash (``v`` = version, ``d`` = JSON) and each conditional write is one Lua
script, which Redis runs atomically: no WATCH/MULTI round trips and no window between the check
and the write. Records that may be forgotten carry a Redis expiry; ``unknown`` records carry none.
The same script keeps a sorted set of the open records, scored by their last write, which is the
sweep's work list: so a sweep reads what needs work, not every key; a sorted set of the placed orders the
follower still polls, scored by their next poll; and a set per names key of the
records whose paid call may be out, which reconciliation reads for rivals (the hash's ``r`` field
names that set, so a delete can leave it too).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..exceptions import RecordUnreadable, StoreUnavailable
from ..record import DamagedRecord, LedgerRecord
from .base import LedgerStore

PREFIX = "casrelay:ledger:"
ORDER_PREFIX = "casrelay:order:"
OPEN_SET = "casrelay:open"
CALLS_OUT_PREFIX = "casrelay:calls-out:"
CALLS_OUT_BACKFILLED = "casrelay:calls-out-backfilled"
FOLLOW_SET = "casrelay:follow"

_WRITE_TAIL = """
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3], 'r', KEYS[4])
if ARGV[4] == '' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIREAT', KEYS[1], ARGV[4]) end
if ARGV[5] ~= '' then
  redis.call('SET', KEYS[2], ARGV[6])
  if ARGV[4] == '' then redis.call('PERSIST', KEYS[2]) else redis.call('PEXPIREAT', KEYS[2], ARGV[4]) end
end
if ARGV[7] == '1' then redis.call('ZADD', KEYS[3], ARGV[8], ARGV[6]) else redis.call('ZREM', KEYS[3], ARGV[6]) end
if ARGV[9] == '1' then redis.call('SADD', KEYS[4], ARGV[6]) else redis.call('SREM', KEYS[4], ARGV[6]) end
if ARGV[10] ~= '' then redis.call('ZADD', KEYS[5], ARGV[10], ARGV[6]) else redis.call('ZREM', KEYS[5], ARGV[6]) end
return 1
"""
_CREATE = "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n" + _WRITE_TAIL
_REPLACE = "if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end\n" + _WRITE_TAIL
_DELETE = """
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
local rivals = redis.call('HGET', KEYS[1], 'r')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
if rivals then redis.call('SREM', rivals, ARGV[2]) end
return 1
"""


class RedisStore(LedgerStore):
    def __init__(self, url: str) -> None:
        try:
            import redis
        except ImportError:
            raise StoreUnavailable("IDEMPOTENCY_STORE is redis:// but the redis package is not installed") from None
        self._redis_errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        self._client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._create = self._client.register_script(_CREATE)
        self._replace = self._client.register_script(_REPLACE)
        self._delete = self._client.register_script(_DELETE)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._redis_errors as exc:
            raise StoreUnavailable(f"Redis ledger error: {type(exc).__name__}") from None

    @staticmethod
    def _args(record: LedgerRecord, expected: int | None) -> tuple[list[str], list[str]]:
        order_key = f"{ORDER_PREFIX}{record.order_id}" if record.order_id is not None else f"{ORDER_PREFIX}-"
        expires = "" if record.expires_at is None else str(int(record.expires_at * 1000))
        return (
            [PREFIX + record.key, order_key, OPEN_SET, CALLS_OUT_PREFIX + record.names_key, FOLLOW_SET],
            ["" if expected is None else str(expected), str(record.version), record.to_json(), expires,
             "" if record.order_id is None else "1", record.key, "1" if record.open else "0",
             repr(record.updated_at), "1" if record.call_out else "0",
             "" if record.next_poll_at is None else repr(record.next_poll_at)],
        )

    @staticmethod
    def _decode(key: str, data: Any) -> LedgerRecord:
        try:
            return LedgerRecord.from_json(data)
        except DamagedRecord:
            raise RecordUnreadable(key) from None

    def get(self, key: str) -> LedgerRecord | None:
        data = self._call(self._client.hget, PREFIX + key, "d")
        return self._decode(key, data) if data else None

    def create(self, record: LedgerRecord) -> bool:
        keys, args = self._args(record, None)
        return bool(self._call(self._create, keys=keys, args=args))

    def replace(self, record: LedgerRecord, expected_version: int) -> bool:
        keys, args = self._args(record, expected_version)
        return bool(self._call(self._replace, keys=keys, args=args))

    def delete(self, key: str, expected_version: int) -> bool:
        return bool(self._call(self._delete, keys=[PREFIX + key, OPEN_SET, FOLLOW_SET],
                               args=[str(expected_version), key]))

    def find_by_order_id(self, order_id: int) -> str | None:
        value = self._call(self._client.get, f"{ORDER_PREFIX}{order_id}")
        return value.decode() if isinstance(value, bytes) else value

    def scan(self, states: Iterable[str] | None = None) -> list[LedgerRecord]:
        wanted = set(states) if states is not None else None
        out = []
        for name in self._call(lambda: list(self._client.scan_iter(match=PREFIX + "*", count=500))):
            data = self._call(self._client.hget, name, "d")
            if data:
                try:
                    record = LedgerRecord.from_json(data)
                except DamagedRecord:
                    continue
                if wanted is None or record.state in wanted:
                    out.append(record)
        return sorted(out, key=lambda r: r.key)

    def scan_open(self, before: float, limit: int) -> tuple[list[LedgerRecord], list[str]]:
        return self._read_set(OPEN_SET, before, limit)

    def due_follow(self, now: float, limit: int) -> tuple[list[LedgerRecord], list[str]]:
        return self._read_set(FOLLOW_SET, now, limit)

    def _read_set(self, zset: str, before: float, limit: int) -> tuple[list[LedgerRecord], list[str]]:
        """The records of a sorted work list scored no later than ``before``, and the damaged ones met."""
        keys = self._call(self._client.zrangebyscore, zset, "-inf", repr(before), start=0, num=limit)
        names = [k.decode() if isinstance(k, bytes) else str(k) for k in keys]
        if not names:
            return [], []
        pipe = self._client.pipeline(transaction=False)
        for name in names:
            pipe.hget(PREFIX + name, "d")
        values = self._call(pipe.execute)
        records, damaged, gone = [], [], []
        for name, data in zip(names, values, strict=True):
            if not data:
                gone.append(name)  # expired by Redis: drop it from the work list
                continue
            try:
                records.append(LedgerRecord.from_json(data))
            except DamagedRecord:
                damaged.append(name)
        if gone:
            self._call(self._client.zrem, zset, *gone)
        return records, damaged

    def calls_out(self, names_key: str) -> list[LedgerRecord]:
        members = self._call(self._client.smembers, CALLS_OUT_PREFIX + names_key)
        names = sorted(k.decode() if isinstance(k, bytes) else str(k) for k in members)
        if not names:
            return []
        pipe = self._client.pipeline(transaction=False)
        for name in names:
            pipe.hget(PREFIX + name, "d")
        out, gone = [], []
        for name, data in zip(names, self._call(pipe.execute), strict=True):
            if not data:
                gone.append(name)  # expired by Redis with its call still marked out: drop it from the set
                continue
            out.append(self._decode(name, data))  # a damaged rival stops reconciliation: it may own the order
        if gone:
            self._call(self._client.srem, CALLS_OUT_PREFIX + names_key, *gone)
        return out

    def compact(self) -> None:
        """Once per ledger, from the sweep: add the calls that are out among records written before the
        calls-out sets existed (a parked ``unknown`` record is never written again), so that reconciliation
        sees them as rivals. A marker key says it was done; the scan runs off the order path."""
        if self._call(self._client.exists, CALLS_OUT_BACKFILLED):
            return
        for name in self._call(lambda: list(self._client.scan_iter(match=PREFIX + "*", count=500))):
            data = self._call(self._client.hget, name, "d")
            try:
                record = LedgerRecord.from_json(data) if data else None
            except DamagedRecord:
                continue
            if record is not None and record.call_out:
                # A record moved meanwhile leaves at most a stale entry, which calls_out drops or rivals skips.
                self._call(self._client.sadd, CALLS_OUT_PREFIX + record.names_key, record.key)
        self._call(self._client.set, CALLS_OUT_BACKFILLED, "1")

    def purge_expired(self, now: float, limit: int) -> int:
        return 0  # every record that may be forgotten carries a Redis expiry

    def close(self) -> None:
        self._client.close()
