"""Group B's explained survivors (flows/reconcile.py's V2.0 path, flows/new_order.py, flows/place.py), for
``devkit/mutation_explained.py``. Every other survivor of the group is killed by
tests/unit/test_mutation_kills_reconcile_v2.py."""

from devkit.mutation_explained import Explanation

_CANDIDATES_UNREAD = (
    "Reconciled.candidates is read by no caller (the sweep, placement, the new-order flow and ledger_admin read only "
    "verdict, adopted, record and reason), so the count returned with a direct answer's verdict changes nothing")

ENTRIES = [
    Explanation(
        "flows/reconcile.py", "Reconciler._settle", 'note="XXadopted by reconciliationXX"',
        "wording of the ledger note a person reads (ledger_admin list --json); tests/unit/test_mutation_kills_"
        "reconcile_v2.py::test_an_instance_the_backend_finds_applied_is_adopted_with_its_certificate_saying_it_came_"
        "from_reconciliation pins that a V2.0 adoption says it came from reconciliation, which the XX-wrapped text "
        "still says"),
    Explanation(
        "flows/reconcile.py", "Reconciler._settle", "ADOPTED if (adopted.placed) or True else UNRESOLVED",
        "the else branch cannot be reached: Ledger.ordered returns its own successor (state ORDERED, so placed), or "
        "after a lost race a concurrent writer's record that is placed or holds an OrderId, or raises (then run() "
        "answers UNRESOLVED); a record holding an OrderId is always ORDERED or DELIVERED, since only ordered() "
        "writes an OrderId (with ORDERED) and only delivered() moves such a record on (to DELIVERED)"),
    Explanation(
        "flows/reconcile.py", "Reconciler._settle", "return Reconciled(adopted, ADOPTED if adopted.placed else "
        "UNRESOLVED, 2)", _CANDIDATES_UNREAD),
    Explanation("flows/reconcile.py", "Reconciler._settle", "return Reconciled(record, ABSENT, 1)", _CANDIDATES_UNREAD),
    Explanation(
        "flows/reconcile.py", "Reconciler._settle", "return Reconciled(record, UNRESOLVED, 1, reason=reason)",
        _CANDIDATES_UNREAD),
    Explanation(
        "flows/reconcile.py", "Reconciler._settle", '"XXtoo early to prove nothing was appliedXX"',
        "wording of a reconciliation reason, which only a person reads (the reconcile.unresolved and sweep.parked log "
        "lines); tests/unit/test_mutation_kills_reconcile_v2.py pins the verdict, the event, level, key and instance "
        "and the reason's key phrase 'too early', which XX-wrapping keeps"),
    Explanation(
        "flows/place.py", "summary", 'api: str = "XXpackageXX"',
        "equivalent: summary's only caller, PlaceOnce._place, always passes api (self.settings.order_api, which "
        "config.load validates to 'package' or 'instance'), so the default is never used"),
    Explanation(
        "flows/place.py", "summary", 'api: str = "PACKAGE"',
        "equivalent: summary's only caller, PlaceOnce._place, always passes api (self.settings.order_api, which "
        "config.load validates to 'package' or 'instance'), so the default is never used"),
]
