from devkit.mutation_explained import Explanation

_BOUND_KEY = (
    "equivalent: NewOrder (and the PaidCall it owns) runs only from PlaceOnce._place, inside PlaceOnce.place's "
    "log.bound(key=key) with that same key, and log.emit drops None fields, so the line carries the order's key "
    "from the bound context either way (tests/unit/test_mutation_kills_new_order.py and "
    "test_mutation_kills_placement.py assert the key on these lines)")
_BUG_MESSAGE = (
    "wording only: the words of the CasOutcomeUnknown a bug after the paid call turns into; the tests pin its code, "
    "its status (504), that it carries a message, the record becoming unknown and the call not being sent again "
    "(tests/unit/test_mutation_kills_new_order.py::test_a_bug_while_the_paid_call_is_out_is_logged_by_type_and_"
    "leaves_the_outcome_to_reconciliation)")

ENTRIES = [
    # The state of _orphan's record is read since V2.0 (Delivery.message asks record.placed): those mutants are
    # killed by tests/unit/test_mutation_kills_reconcile_v2.py, and their explanation was withdrawn.
    Explanation("flows/new_order.py", "NewOrder._record", '"order.second_order", logging.ERROR,', _BOUND_KEY,
                original='log.emit("order.second_order", logging.ERROR, key=key,'),
    Explanation("flows/new_order.py", "NewOrder._call",
                'log.emit("internal.error", logging.ERROR, key=None, where=type(exc).__name__)', _BOUND_KEY),
    Explanation("flows/new_order.py", "NewOrder._call",
                'log.emit("internal.error", logging.ERROR, where=type(exc).__name__)', _BOUND_KEY,
                original='log.emit("internal.error", logging.ERROR, key=key,'),
    Explanation("flows/new_order.py", "NewOrder._call",
                'cas_outcome_unknown("XXcasrelay failed while placing the orderXX")', _BUG_MESSAGE),
    Explanation("flows/new_order.py", "NewOrder._call",
                'cas_outcome_unknown("CASRELAY FAILED WHILE PLACING THE ORDER")', _BUG_MESSAGE),
    Explanation("flows/retry.py", "PaidCall.send", "or 0.2 * 2 * attempt, MAX_BACKOFF_SECONDS)",
                "equivalent: a wait follows only attempts 1 and 2 (the third of MAX_ATTEMPTS = 3 raises), where "
                "2 * attempt and 2 ** attempt are both 2 and 4; the waits 0.4 s and 0.8 s are pinned by "
                "tests/unit/test_mutation_kills_placement.py::test_without_a_wait_from_cas_the_retries_back_off_"
                "exponentially", original="or 0.2 * 2**attempt,"),
    Explanation("flows/retry.py", "PaidCall.send", 'log.emit("cas.retry", key=None, attempt=attempt,', _BOUND_KEY),
    Explanation("flows/retry.py", "PaidCall.send", 'log.emit("cas.retry", attempt=attempt,', _BOUND_KEY,
                original='log.emit("cas.retry", key=key,'),
]
