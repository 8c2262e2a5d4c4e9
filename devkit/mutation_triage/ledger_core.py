"""Explained survivors of the mutation run's second half: ledger/base.py, ledger/record.py, flows/new_order.py
and flows/place.py after the lean order path."""

from devkit.mutation_explained import Explanation

ENTRIES: list[Explanation] = [
    # --- ledger/base.py --------------------------------------------------------------------------------------
    Explanation(
        "ledger/base.py", "_first_version", "secrets.randbits(53) + 1",
        "equivalent: only the width of the random start changes (a collision between two starts gets rarer, not "
        "likelier). Nothing reads a version as a float: Python compares ints, SQLite's INTEGER column holds 63 "
        "bits, and the Redis scripts compare the version as a string (HGET 'v' ~= ARGV[1])"),
    Explanation(
        "ledger/base.py", "_first_version", "secrets.randbits(52) + 2",
        "equivalent: the start is random in [2, 2**52 + 1] instead of [1, 2**52]; every value is a valid version "
        "(>= 1, which tests/unit/test_mutation_kills_lean_path.py pins at the lowest draw) and no caller relies on "
        "any particular start, only on starts not repeating"),
    Explanation(
        "ledger/base.py", "Ledger.claim", "raise StoreUnavailable(",
        original='raise StoreUnavailable("the ledger record kept changing under concurrent writers")',
        reason="the text of this StoreUnavailable is read by nothing: Ledger.claim's only caller, PlaceOnce._place, "
               "runs it through guard.must, which logs and answers (LedgerUnavailable, 503) with the exception's "
               "type name only; the type and the give-up after _MAX_RACES are pinned by "
               "test_a_key_that_keeps_changing_under_the_claim_gives_up_with_store_unavailable"),
    # --- ledger/record.py ------------------------------------------------------------------------------------
    Explanation(
        "ledger/record.py", "LedgerRecord.to_json", "json.dumps(self.__dict__,",
        original='json.dumps(self.__dict__, separators=(",", ":"))',
        reason="equivalent but for the size of the text: json.dumps's default separators only add spaces after ',' "
               "and ':'. Every reader parses the text (LedgerRecord.from_json in the SQLite and Redis stores; the "
               "Redis scripts store ARGV[3] without looking into it; ledger_admin list --json prints it, still one "
               "JSON object per line), so the record read back is the same"),
    # --- flows/place.py --------------------------------------------------------------------------------------
    Explanation(
        "flows/place.py", "_log_placed", "key=rec.key if (rec) and False else key",
        "equivalent: a Delivered's record is always the order's own key's record (the claim of key, its "
        "delivered/ordered successor or the store's latest under record.key, or reconciliation's record of that "
        "key), or None for an order the ledger could not save; so rec.key == key whenever rec is set"),
]
