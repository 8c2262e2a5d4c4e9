"""Group c's explained survivors: flows/reconcile.py, flows/sweep.py, flows/delivery.py, ledger/base.py,
ledger/record.py, ledger/persistence/{redis,sqlite,memory}.py."""

from devkit.mutation_explained import Explanation

_REASON_WORDING = (
    "wording of a reconciliation reason, which only a person reads (the reconcile.unresolved and sweep.parked log "
    "lines); the tests pin the event, the key, the counts and the reason's key phrase, which XX-wrapping keeps")
_SQL_CASE = ("SQLite's keywords and its table and column names are case-insensitive: the statement is the same "
             "statement in any case")
_CANDIDATES_UNREAD = (
    "Reconciled.candidates is read by no caller (the sweep, placement, the new-order flow and ledger_admin read only "
    "verdict, adopted, record and reason), so the count returned with an unresolved verdict changes nothing")

_DAMAGED_TEXT = (
    "DamagedRecord's text is read by nothing: its only callers, the SQLite and Redis stores, catch it and either "
    "raise RecordUnreadable(key), which carries its own message, or list the key as damaged (the sweep logs the "
    "key); the type is what every caller tests")

_CLAIM_IS_CLEAN = (
    "equivalent since 9236a7e: the record given here is the attempted claim (for failed(), also an unknown "
    "record), and a claim never carries deliveries, settled=True or an expiry: only Ledger.delivered writes them, "
    "and it is never given a claim now that a refusal whose ledger write failed is pushed from the record the "
    "write would have made, a FAILED record (whose delivery note may land it in the ledger); an unknown record's "
    "expires_at is None (unknown() and a lapse clear it, delivered() never sets it on one). The reset writes the "
    "value already there. (Before 9236a7e this was reachable, and tests/unit/test_mutation_kills_ledger.py's "
    "'unrecorded refusal' tests killed it; they stay as regression tests of that path.)")

ENTRIES = [
    # --- flows/reconcile.py ------------------------------------------------------------------------------------
    Explanation(
        "flows/reconcile.py", "Reconciler._adopt", 'note="XXadopted by reconciliationXX"',
        "wording of the ledger note a person reads (ledger_admin list --json); the tests pin that an adoption "
        "says it came from reconciliation, which the XX-wrapped text still says"),
    Explanation(
        "flows/reconcile.py", "Reconciler._adopt", "(adopted.order_id is not None) or True",
        "the else branch cannot be reached: Ledger.ordered returns either its own successor, whose order_id is "
        "the listed OrderId (ListedOrder.order_id is always an int: ordering/package.py builds it with int()), or "
        "a concurrent writer's record that already holds an OrderId, or raises (then run() answers UNRESOLVED)"),
    Explanation(
        "flows/reconcile.py", "Reconciler._contested", "return False", original="return True",
        reason="cannot be reached: _contested is only asked about candidates(), which has already dropped every listed "
        "order whose buy_date_ms is None, so the None branch never runs"),
    Explanation(
        "flows/reconcile.py", "Reconciler._run", "return Reconciled(record, UNRESOLVED,",
        original='reason="the record names no domain"',
        reason="defensive branch that cannot be reached: every ledger record's order summary is written by "
               "flows/place.summary from a validated order, which has at least one domain; what it returns there "
               "(count, reason wording) is therefore never seen"),
    Explanation(
        "flows/reconcile.py", "Reconciler._run",
        'return Reconciled(record, UNRESOLVED, 1, reason=f"ListUserCertificateOrder',
        _CANDIDATES_UNREAD),
    Explanation(
        "flows/reconcile.py", "Reconciler._run",
        "XXanother key's paid call for the same names may have placed itXX", _REASON_WORDING),
    Explanation(
        "flows/reconcile.py", "Reconciler._run", 'reason="XXanother key may own the orderXX"', _REASON_WORDING),
    Explanation(
        "flows/reconcile.py", "Reconciler._run", '"XXthe listing is too early to prove anythingXX"', _REASON_WORDING),
    Explanation(
        "flows/reconcile.py", "Reconciler._run", '"XXthe listing was truncatedXX"', _REASON_WORDING),
    Explanation(
        "flows/reconcile.py", "Reconciler._run", '"XXan order that may be ours is listed in another shapeXX"',
        _REASON_WORDING),
    Explanation(
        "flows/reconcile.py", "Reconciler._run", "if len(found) >= 1 and self.cancel_duplicates",
        "equivalent: with exactly one candidate _cancel_extras loops over found[1:], which is empty, cancels "
        "nothing and returns (), exactly what the original's else gives"),
    Explanation(
        "flows/reconcile.py", "Reconciler._run", "return Reconciled(record, ABSENT, 0, )",
        original="return Reconciled(record, ABSENT, 0, cancelled)",
        reason="equivalent: the ABSENT branch runs only when found is empty, and duplicates are cancelled only when "
               "there are at least two candidates, so cancelled is always () there (the default)"),
    Explanation(
        "flows/reconcile.py", "Reconciler.run", "fallback=Reconciled(record, UNRESOLVED, 1,", _CANDIDATES_UNREAD),
    Explanation(
        "flows/reconcile.py", "Reconciler.run", 'reason="XXthe ledger failed while reconcilingXX"', _REASON_WORDING),
    Explanation(
        "flows/reconcile.py", "Reconciler.candidates", "o.buy_date_ms or 1",
        "the fallback cannot be reached: candidates() has already dropped every order whose buy_date_ms is None or "
        "earlier than the attempt less the margin (a positive number of milliseconds), so the sort key is always "
        "the order's own buy_date_ms"),
    # --- flows/sweep.py ----------------------------------------------------------------------------------------
    Explanation(
        "flows/sweep.py", "Sweeper._reconcile", "self.delivery.deliver(result.record, duplicate=False)",
        "equivalent: the sweep discards deliver()'s result, and the flag only sets Delivered.duplicate on that "
        "result (the pushed message and the ledger writes do not depend on it)"),
    Explanation(
        "flows/sweep.py", "Sweeper._finish", "self.delivery.deliver(record, duplicate=False).pending_sinks",
        "equivalent: the sweep reads only pending_sinks of deliver()'s result; the flag only sets "
        "Delivered.duplicate, which nothing here reads"),
    Explanation(
        "flows/sweep.py", "Sweeper._reconcile", 'note="XXreconciliation found no order: nothing was spentXX"',
        "wording of the ledger note a person reads (ledger_admin list --json); the tests pin the refusal's code "
        "CasNotOrdered, its message's waited seconds and that the note says no order was found, which the "
        "XX-wrapped text still says"),
    Explanation(
        "flows/sweep.py", "Sweeper._sweep_counted", 'return outcome or "XXerrorXX"',
        "the fallback cannot be reached: sweep_one always returns a non-empty count name, and a ledger failure "
        "(outcome None) has returned 'ledger_error' just before"),
    Explanation(
        "flows/sweep.py", "Sweeper._sweep_counted", 'return outcome or "ERROR"',
        "the fallback cannot be reached: sweep_one always returns a non-empty count name, and a ledger failure "
        "(outcome None) has returned 'ledger_error' just before"),
    # --- flows/delivery.py -------------------------------------------------------------------------------------
    Explanation(
        "flows/delivery.py", "Delivery.push_failed", "basis = None", original="basis = record.key",
        reason="equivalent: push_tracked passes the basis to message(), which for a FAILED message replaces None by "
        "record.key, the very basis the original sets"),
    Explanation(
        "flows/delivery.py", "Delivery.deliver", 'str(record.order.get("product", None))',
        "the default cannot be reached: every record's order summary is written by flows/place.summary, which "
        "always has the \"product\" key"),
    Explanation(
        "flows/delivery.py", "Delivery.deliver", 'str(record.order.get("product", ))',
        "the default cannot be reached: every record's order summary is written by flows/place.summary, which "
        "always has the \"product\" key"),
    Explanation(
        "flows/delivery.py", "Delivery.deliver", 'str(record.order.get("product", "XXXX"))',
        "the default cannot be reached: every record's order summary is written by flows/place.summary, which "
        "always has the \"product\" key"),
    # --- ledger/base.py ----------------------------------------------------------------------------------------
    Explanation(
        "ledger/base.py", "Ledger._lapsed", 'note="XXthe claim lapsed after the CAS call was sentXX"',
        "wording of the note a person reads (ledger_admin, and the Message of a parked lapsed claim's "
        "certificate.order.unknown, whose Code CasOutcomeUnknown and Message-equals-note the tests pin)"),
    Explanation(
        "ledger/base.py", "Ledger._lapsed", 'note="the claim lapsed after the cas call was sent"',
        "wording (the case of one word) of the note a person reads; see the XX-wrapped variant"),
    Explanation(
        "ledger/base.py", "Ledger.lapse", "raise LostRace(None)",
        "LostRace's text is read by nothing: the sweep counts it through guard.observe, which keeps only the "
        "exception's type, and its log line takes the key from the record, not from the exception"),
    Explanation(
        "ledger/base.py", "Ledger.park", "parked_at=self._clock(), settled=False)",
        "equivalent: park() is only given an unparked unknown record, and both writes that make one (unknown() "
        "and a lapse) clear deliveries, while nothing records deliveries on an unparked unknown record "
        "(push_unknown runs for parked ones only): the reset writes the value already there"),
    Explanation(
        "ledger/base.py", "Ledger.park", "parked_at=self._clock(), deliveries={}, )",
        "equivalent: park() is only given an unparked unknown record, and both writes that make one (unknown() "
        "and a lapse) set settled=False, while nothing settles an unparked unknown record (push_unknown runs for "
        "parked ones only): the reset writes the value already there"),
    Explanation(
        "ledger/base.py", "Ledger.rivals", "limit: int = 1001",
        "the bound itself is undocumented and changes the answer only with more than 1000 open records; there "
        "rivals() is wrong either way (it keeps the OLDEST open records, so the newest rivals, whose call is out "
        "now, are dropped first): reported as a bug, pinned by the strict xfail "
        "test_a_rival_whose_call_is_out_contests_the_order_even_behind_a_backlog_of_a_thousand_open_records"),
    # --- ledger/record.py --------------------------------------------------------------------------------------
    Explanation(
        "ledger/record.py", "LedgerRecord.claim_lapsed", "(self.claim_expires_at or 1) <= now",
        "equivalent in practice: every claim has claim_expires_at = now + claim_seconds (a wall-clock time near "
        "1.8e9), so the fallback only matters for a falsy expiry, and 0 and 1 differ only for a clock reading in "
        "the first second of 1970"),
    Explanation(
        "ledger/record.py", "LedgerRecord._check", "raise DamagedRecord(",
        original='raise DamagedRecord("a ledger record has fields of the wrong type or an unknown state")',
        reason=_DAMAGED_TEXT),
    Explanation(
        "ledger/record.py", "LedgerRecord.from_json", "raise DamagedRecord(",
        original='raise DamagedRecord(f"unreadable ledger record ({type(exc).__name__})")', reason=_DAMAGED_TEXT),
    # --- ledger/persistence/redis.py ---------------------------------------------------------------------------
    Explanation(
        "ledger/persistence/redis.py", "RedisStore._args", "if (record.order_id is not None) or True",
        "equivalent: for a record without an OrderId ARGV[5] is '', so the write script never touches KEYS[2]; "
        "what that unused key is called does not matter"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore._args", '"" if (expected is None) and False else str(expected)',
        "equivalent: expected is None only for create(), whose script (_CREATE) never reads ARGV[1]"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore._args", '"XXXX" if expected is None else str(expected)',
        "equivalent: expected is None only for create(), whose script (_CREATE) never reads ARGV[1]"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore._args", '"" if record.order_id is None else "XX1XX"',
        "equivalent: the write script only tests ARGV[5] ~= '' (any non-empty value means 'has an OrderId')"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore._args", '"1" if record.open else "XX0XX"',
        "equivalent: the write script only tests ARGV[7] == '1'; every other value means 'not open' (ZREM)"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore.scan", 'scan_iter(match=PREFIX + "*", count=None)',
        "equivalent: SCAN's COUNT is only a hint of the work per call; scan_iter follows the cursor to the end "
        "and yields every matching key whatever the hint"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore.scan", 'scan_iter(match=PREFIX + "*", ))',
        "equivalent: SCAN's COUNT is only a hint of the work per call; scan_iter follows the cursor to the end "
        "and yields every matching key whatever the hint"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore.scan", 'scan_iter(match=PREFIX + "*", count=501)',
        "equivalent: SCAN's COUNT is only a hint of the work per call; scan_iter follows the cursor to the end "
        "and yields every matching key whatever the hint"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore.scan_open", '"-INF"',
        "equivalent: Redis reads score bounds with strtod, which takes -inf in any case (checked against "
        "redis-server: ZRANGEBYSCORE k -INF 5 == ZRANGEBYSCORE k -inf 5)"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore.scan_open", "k.decode() if (isinstance(k, bytes)) or True",
        "the non-bytes branch cannot be reached: the client is built without decode_responses, so ZRANGEBYSCORE "
        "always returns bytes"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore.scan_open", "else str(None) for k in keys",
        "the non-bytes branch cannot be reached: the client is built without decode_responses, so ZRANGEBYSCORE "
        "always returns bytes"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore.scan_open", "pipeline(transaction=None)",
        "equivalent: redis-py tests the flag for truth (Pipeline.execute: 'if self.transaction or "
        "self.explicit_transaction'), and None is false like False"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore.scan_open", "pipeline(transaction=True)",
        "equivalent: the pipeline only queues read-only HGETs; MULTI/EXEC returns the same replies, in the same "
        "order (as one snapshot, which the sweep does not need but is not harmed by)"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore.scan_open", "zip(names, values, )",
        "equivalent: a pipeline returns exactly one reply per queued command (an error raises instead), so names "
        "and values always have the same length and strict never fires"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore.scan_open", "zip(names, values, strict=False)",
        "equivalent: a pipeline returns exactly one reply per queued command (an error raises instead), so names "
        "and values always have the same length and strict never fires"),
    # --- ledger/persistence/sqlite.py --------------------------------------------------------------------------
    Explanation("ledger/persistence/sqlite.py", "SqliteStore.delete",
                "delete from ledger where key = ? and version = ?", _SQL_CASE),
    Explanation("ledger/persistence/sqlite.py", "SqliteStore.delete",
                "DELETE FROM LEDGER WHERE KEY = ? AND VERSION = ?", _SQL_CASE),
    Explanation("ledger/persistence/sqlite.py", "SqliteStore.find_by_order_id",
                "select key from ledger where order_id = ?", _SQL_CASE),
    Explanation("ledger/persistence/sqlite.py", "SqliteStore.find_by_order_id",
                "SELECT KEY FROM LEDGER WHERE ORDER_ID = ?", _SQL_CASE),
    Explanation("ledger/persistence/sqlite.py", "SqliteStore.scan", "select key, data from ledger order by key",
                _SQL_CASE),
    Explanation("ledger/persistence/sqlite.py", "SqliteStore.scan", "SELECT KEY, DATA FROM LEDGER ORDER BY KEY",
                _SQL_CASE),
    Explanation("ledger/persistence/sqlite.py", "SqliteStore.scan_open",
                "select key, data from ledger where open = 1 and updated_at <= ?", _SQL_CASE),
    Explanation("ledger/persistence/sqlite.py", "SqliteStore.scan_open",
                "SELECT KEY, DATA FROM LEDGER WHERE OPEN = 1 AND UPDATED_AT <= ?", _SQL_CASE),
    Explanation("ledger/persistence/sqlite.py", "SqliteStore.scan_open", "order by updated_at, key limit ?",
                _SQL_CASE),
    Explanation("ledger/persistence/sqlite.py", "SqliteStore.scan_open", "ORDER BY UPDATED_AT, KEY LIMIT ?",
                _SQL_CASE),
    Explanation("ledger/persistence/sqlite.py", "SqliteStore.purge_expired",
                "delete from ledger where key in (select key from ledger where expires_at is not null", _SQL_CASE),
    Explanation("ledger/persistence/sqlite.py", "SqliteStore.purge_expired",
                "DELETE FROM LEDGER WHERE KEY IN (SELECT KEY FROM LEDGER WHERE EXPIRES_AT IS NOT NULL", _SQL_CASE),
    Explanation("ledger/persistence/sqlite.py", "SqliteStore.purge_expired", "and expires_at < ? and open = 0 limit ?",
                _SQL_CASE),
    Explanation("ledger/persistence/sqlite.py", "SqliteStore.purge_expired", "AND EXPIRES_AT < ? AND OPEN = 0 LIMIT ?",
                _SQL_CASE),
    # --- confirmed after the run: the sweep's lease, and claims that are always clean -------------------
    Explanation(
        "flows/sweep.py", "Sweeper.reconcile_now", "if record.state == UNKNOWN or record.parked_at is not None",
        "equivalent since reconcile_now gives its lease back (commit 9236a7e): for an unparked unknown record both "
        "branches take it for 60 s, reconcile it and end the lease (sweep_one's only other check, a live claim, "
        "does not apply to an unknown record), and no record other than an unknown one carries parked_at "
        "(ordered() and failed() clear it, a claim never has it)"),
    Explanation(
        "ledger/base.py", "Ledger._lapsed", 'note="the claim lapsed after the CAS call was sent",',
        original='expires_at=None, note="the claim lapsed after the CAS call was sent"', reason=_CLAIM_IS_CLEAN),
    Explanation(
        "ledger/base.py", "Ledger._lapsed", "settled=False, call_ended_at=current.claim_expires_at or now)",
        original="deliveries={}, settled=False, call_ended_at=", reason=_CLAIM_IS_CLEAN),
    Explanation(
        "ledger/base.py", "Ledger._lapsed", "deliveries={}, call_ended_at=current.claim_expires_at or now)",
        original="deliveries={}, settled=False, call_ended_at=", reason=_CLAIM_IS_CLEAN),
    Explanation(
        "ledger/base.py", "Ledger.unknown", "settled=False, expires_at=None, note=note, call_ended_at=self._clock())",
        original="deliveries={}, settled=False, expires_at=None", reason=_CLAIM_IS_CLEAN),
    Explanation(
        "ledger/base.py", "Ledger.unknown", "deliveries={}, expires_at=None, note=note, call_ended_at=self._clock())",
        original="deliveries={}, settled=False, expires_at=None", reason=_CLAIM_IS_CLEAN),
    Explanation(
        "ledger/base.py", "Ledger.unknown", "deliveries={}, settled=False, note=note, call_ended_at=self._clock())",
        original="deliveries={}, settled=False, expires_at=None", reason=_CLAIM_IS_CLEAN),
    Explanation(
        "ledger/base.py", "Ledger.failed", "deliveries={}, settled=False, parked_at=None, note=note, )",
        original="parked_at=None, note=note, expires_at=None)", reason=_CLAIM_IS_CLEAN),
    # --- the rivals index (commit 4e9931a): the same equivalences as scan_open's -------------------------------
    Explanation(
        "ledger/persistence/redis.py", "RedisStore.calls_out", "k.decode() if (isinstance(k, bytes)) or True",
        "the non-bytes branch cannot be reached: the client is built without decode_responses, so SMEMBERS "
        "always returns bytes"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore.calls_out", "else str(None) for k in members",
        "the non-bytes branch cannot be reached: the client is built without decode_responses, so SMEMBERS "
        "always returns bytes"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore.calls_out", "pipeline(transaction=None)",
        "equivalent: redis-py tests the flag for truth, and None is false like False"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore.calls_out", "pipeline(transaction=True)",
        "equivalent: the pipeline only queues read-only HGETs; MULTI/EXEC returns the same replies in the same "
        "order"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore.calls_out", "zip(names, self._call(pipe.execute), )",
        "equivalent: a pipeline returns exactly one reply per queued command, so strict never fires"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore.calls_out", "zip(names, self._call(pipe.execute), strict=False)",
        "equivalent: a pipeline returns exactly one reply per queued command, so strict never fires"),
    Explanation(
        "ledger/persistence/redis.py", "RedisStore._args", '"1" if record.call_out else "XX0XX"',
        "equivalent: the write script adds the key to its names key's set only when the flag is '1' "
        "(ARGV[9] == '1') and removes it for any other value"),
    Explanation(
        "flows/reconcile.py", "Reconciler._run", "return Reconciled(record, ABSENT, 1, cancelled)",
        _CANDIDATES_UNREAD),
]
