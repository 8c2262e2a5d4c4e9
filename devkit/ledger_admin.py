"""``python -m devkit.ledger_admin``: the operator's view of ledger keys that need a person.

    list                               every record that needs a person, one line each: unknown outcomes
                                       (parked by the sweep or not), refusals, lapsed claims, orders the
                                       follower gave up on, and orders whose delivery has been pending
                                       longer than a sweep interval
    reconcile                          run the sweep's reconciliation on every unknown record and lapsed
                                       claim now (calls CAS), parked ones included
    waiting                            placed orders waiting on their domain validation, one line per record
                                       they need (DNS name, type and value, or the file's URI and content),
                                       and what the DNS automation did with it
    resolve KEY --order-id N           adopt order N for KEY (after checking the console)
    resolve KEY --not-ordered          forget KEY, so that the next arrival orders again

It reads the same variables as the function (``IDEMPOTENCY_STORE``, ``CAS_*``, credentials), so it
runs wherever those are set: a shell with the production Redis URL, or beside the local emulator.
Without ``IDEMPOTENCY_STORE`` it opens the devkit's local ledger, the one ``python -m devkit serve``,
``invoke`` and ``demo`` use when that variable is unset (``devkit.embedded.local_ledger_url``): an
operator command that silently opened another, empty, file would report "nothing needs attention"
about a ledger it never looked at. It says which ledger it opened, on stderr, before anything else.
A resolved key that was adopted pushes ``certificate.order.created`` to ``ORDER_SINKS`` on the next
arrival of the order; ``resolve`` pushes it at once when sinks are configured.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone

from .embedded import local_ledger_url, shown
from .fc_local import HANDLER_DIR

if str(HANDLER_DIR) not in sys.path:
    sys.path.insert(0, str(HANDLER_DIR))

from casrelay import config
from casrelay.app import App
from casrelay.cas.credentials import resolve as resolve_credentials
from casrelay.ledger import CLAIMED, UNKNOWN, LedgerRecord
from casrelay.ledger.schedule import FollowSchedule

#: An order whose delivery has been pending this long (several sweeps) is shown to a person.
UNDELIVERED_AFTER_SECONDS = 900


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else "-"


def _why(r: LedgerRecord) -> str:
    if (r.follow or {}).get("abandoned") is True:
        return f"follow-abandoned:{(r.follow or {}).get('phase', '')}"
    if r.state == CLAIMED:
        return "lapsed-claim" + ("(attempted)" if r.attempted_at else "")
    if r.state == UNKNOWN:
        return "parked" if r.parked_at else f"sweeps={r.sweeps}"
    if r.state == "ordered":
        return "undelivered:" + ",".join(sorted(r.deliveries)) if r.deliveries else "undelivered"
    return "settled" if r.settled else "unsettled"


def _line(r: LedgerRecord) -> str:
    domains = ",".join(r.order.get("domains", []))
    code = (r.error or {}).get("Code", "")
    return (f"{r.state:8} {r.key:70} {domains:40} {r.order.get('product', ''):26} {code:22} {_why(r):16} "
            f"{_when(r.updated_at)}")


def _waiting(r: LedgerRecord) -> dict[str, object]:
    follow = r.follow or {}
    dns = {(d.get("rr"), d.get("zone")): d for d in follow.get("dns") or []}
    return {"Key": r.key, "OrderId": r.order_id, "InstanceId": r.instance_id, "Domains": r.order.get("domains", []),
            "Since": _when(follow.get("since")), "NextPoll": _when(r.next_poll_at),
            "Validation": follow.get("validations") or [], "DnsRecords": list(dns.values()),
            "DnsError": follow.get("dns_error") or None}


def _waiting_lines(r: LedgerRecord) -> list[str]:
    follow = r.follow or {}
    placed = r.order_id if r.order_id is not None else r.instance_id
    created = {(str(d.get("rr", "")) + "." + str(d.get("zone", ""))).lower() for d in follow.get("dns") or []}
    lines = []
    for v in follow.get("validations") or []:
        if v.get("method") == "DNS":
            name = str(v.get("record_domain", ""))
            done = "created by the DNS automation" if name.lower().rstrip(".") in created else (
                f"not created ({follow.get('dns_error')})" if follow.get("dns_error") else "to be published")
            need = f"DNS {name} {v.get('record_type', '')} {v.get('record_value', '')}  [{done}]"
        else:
            need = f"FILE {v.get('uri', '')} containing {v.get('content', '')}"
        lines.append(f"{r.key:70} {placed!s:24} {need}  since {_when(follow.get('since'))}")
    return lines or [f"{r.key:70} {placed!s:24} (CAS gave no validation data)"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.ledger_admin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list")
    p_list.add_argument("--json", action="store_true", help="one JSON record per line")
    sub.add_parser("reconcile")
    p_wait = sub.add_parser("waiting")
    p_wait.add_argument("--json", action="store_true", help="one JSON object per order")
    p_res = sub.add_parser("resolve")
    p_res.add_argument("key")
    group = p_res.add_mutually_exclusive_group(required=True)
    group.add_argument("--order-id", type=int)
    group.add_argument("--not-ordered", action="store_true")
    args = parser.parse_args(argv)

    env = dict(os.environ)
    if env.get("IDEMPOTENCY_STORE", "").strip():
        source = "IDEMPOTENCY_STORE"
    else:
        env["IDEMPOTENCY_STORE"] = local_ledger_url()
        source = "the devkit's local ledger, which serve, invoke and demo use; set IDEMPOTENCY_STORE for another"
    print(f"ledger: {shown('IDEMPOTENCY_STORE', env['IDEMPOTENCY_STORE'].strip())} ({source})", file=sys.stderr)
    try:
        app = App(config.load(env), env=env)
    except config.ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    ledger = app.ledger

    if args.command == "list":
        records = ledger.needs_person(undelivered_after=UNDELIVERED_AFTER_SECONDS)
        for r in records:
            print(r.to_json() if args.json else _line(r))
        print(f"{len(records)} record(s) need attention", file=sys.stderr)
        return 0

    if args.command == "waiting":
        waiting = FollowSchedule(ledger).waiting_on_validation()
        for r in waiting:
            print(json.dumps(_waiting(r)) if args.json else "\n".join(_waiting_lines(r)))
        print(f"{len(waiting)} order(s) wait on their domain validation", file=sys.stderr)
        return 0

    if args.command == "reconcile":
        creds = resolve_credentials(None)
        todo = [r for r in ledger.needs_person() if r.state in (UNKNOWN, CLAIMED)]
        outcomes: dict[str, int] = {}
        for i, r in enumerate(todo, 1):
            if r.parked_at is not None:  # an operator asks again on purpose: un-park for this one try
                r = ledger.store.get(r.key) or r
            outcome = app.sweeper.reconcile_now(r, creds)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            print(f"[{i}/{len(todo)}] {r.key}: {outcome}")
        print(f"{len(todo)} record(s) reconciled: {outcomes}", file=sys.stderr)
        return 0

    record = ledger.get(args.key)
    if record is None:
        print(f"no ledger record for {args.key}", file=sys.stderr)
        return 1
    resolved = ledger.resolve(args.key, None if args.not_ordered else args.order_id, note="resolved by an operator")
    if resolved is None:
        print(f"{args.key}: forgotten; the next arrival of this order will order it")
    else:
        done = app.delivery.deliver(resolved, duplicate=True)
        print(json.dumps({"Key": args.key, **done.document, "PendingSinks": list(done.pending_sinks)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
