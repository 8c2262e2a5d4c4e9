"""The chaos run's verdict, as a pure function of plain data: what CAS holds, what each sink received,
what each caller was answered, and what the ledger still holds.

``check`` returns one short line per problem found; an empty list means both promises held:

- **never twice**: at most one paid order per order; none for names nobody ordered; and a replay of a
  signed request with altered unsigned parts is refused with 400 (so it cannot order anything);
- **never lost**: an order whose caller retried until it succeeded has exactly one paid order, and the
  OrderId the caller was told is that one; an order whose caller never retried has one paid order, or
  none, and then its caller's answer or a ``certificate.order.failed`` message at every sink says it
  was not placed; every paid OrderId reached every sink, under one message id;
- **nothing left behind**: no ``unknown`` record, no ``ordered`` record with a sink missing, and no
  claim (lapsed or not) is left in the ledger after the final sweeps; no ledger record contradicts CAS.

It imports nothing from the handler, so that ``tests/unit/test_chaos_checker.py`` can feed it broken inputs
and show that each kind of breakage is reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CREATED = "certificate.order.created"
FAILED = "certificate.order.failed"

#: Error codes of an answer that says the order was not placed (CAS refused before acting, or the
#: order was refused outright, or reconciliation proved nothing was spent).
NOT_PLACED_CODES = frozenset({
    "Throttling", "CasUnavailable", "CasFailed", "CasNotOrdered", "LedgerUnavailable", "NotRemainCount",
    "NotFoundPackage", "InvalidParameter", "IdempotencyKeyConflict", "CasRefused",
})
#: HTTP statuses (or a direct invocation's ``Status``) that say the order was not placed.
NOT_PLACED_STATUSES = frozenset({400, 402, 422, 429})
#: What a replay with altered unsigned parts must be answered with.
REPLAY_STATUS = 400


@dataclass(frozen=True)
class PaidOrder:
    """An order CAS holds that spent a package unit (not cancelled)."""

    order_id: int
    domains: tuple[str, ...]


@dataclass(frozen=True)
class SinkMessage:
    """One message a sink accepted."""

    sink: str
    message_id: str
    type: str
    domains: tuple[str, ...]
    order_id: int | None = None
    error_code: str | None = None


@dataclass(frozen=True)
class CallerAnswer:
    """The last answer a caller got for one order (or, with ``replay``, the answer to one replay).

    ``retried`` is True for a caller that redelivers until it succeeds, False for one that sent the
    order exactly once whatever the answer (including one whose invocation was killed). ``status`` is
    the HTTP status, or a direct invocation's ``Status``; ``code`` the error code (``None`` on
    success); ``order_id`` the OrderId the answer carried, if any.
    """

    order: str
    retried: bool
    status: int | None = None
    code: str | None = None
    order_id: int | None = None
    #: For a replay: which unsigned part was altered (e.g. ``query:Email`` or ``header:Idempotency-Key``).
    replay: str | None = None
    #: Instance mode (``chaos_instance_check``): the InstanceId the answer carried, where V1.0 has the OrderId.
    instance_id: str | None = None

    @property
    def says_not_placed(self) -> bool:
        return (self.code in NOT_PLACED_CODES or self.status in NOT_PLACED_STATUSES) and self.order_id is None


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger record after the final sweeps."""

    key: str
    state: str  # claimed | ordered | delivered | failed | unknown
    domains: tuple[str, ...]
    order_id: int | None = None
    #: Sinks that have not confirmed the record's message.
    pending_sinks: tuple[str, ...] = ()
    claim_lapsed: bool = False
    parked: bool = False


def _name(domains: Iterable[str]) -> str:
    """An order's identity in the run: its names, lower-cased, sorted, comma-joined."""
    return ",".join(sorted(d.strip().lower() for d in domains))


def check(*, orders: Sequence[str], sinks: Sequence[str], paid: Sequence[PaidOrder],
          messages: Sequence[SinkMessage], answers: Sequence[CallerAnswer],
          ledger: Sequence[LedgerEntry]) -> list[str]:
    """Every problem found, one short line each (empty: the run kept both promises)."""
    problems: list[str] = []
    wanted = {_name(o.split(",")) for o in orders}

    # --- never twice ---------------------------------------------------------------------------
    paid_by_order: dict[str, list[int]] = defaultdict(list)
    for p in paid:
        paid_by_order[_name(p.domains)].append(p.order_id)
    for name, ids in sorted(paid_by_order.items()):
        if name not in wanted:
            problems.append(f"paid order(s) {sorted(ids)} for {name}, which no caller ordered")
        elif len(ids) > 1:
            problems.append(f"{name} was ordered {len(ids)} times: {sorted(ids)}")
    paid_ids = {p.order_id for p in paid}

    for replayed in answers:
        if replayed.replay is not None and replayed.status != REPLAY_STATUS:
            problems.append(f"a replay of {replayed.order}'s signed request with {replayed.replay} altered was "
                            f"answered {replayed.status} {replayed.code or ''}".rstrip() + f", not {REPLAY_STATUS}")

    # --- never lost: callers -------------------------------------------------------------------
    failed_at: dict[str, set[str]] = defaultdict(set)
    for m in messages:
        if m.type == FAILED:
            failed_at[_name(m.domains)].add(m.sink)
    caller = {_name(a.order.split(",")): a for a in answers if a.replay is None}
    for name in sorted(wanted):
        ids = paid_by_order.get(name, [])
        a = caller.get(name)
        if a is None:
            problems.append(f"{name}: no caller answer was recorded")
            continue
        told = f"{a.status} {a.code}" if a.status is not None or a.code else "no answer"
        if a.order_id is not None and ids and a.order_id not in ids:
            problems.append(f"{name}: its caller was told OrderId {a.order_id}, but CAS holds {sorted(ids)}")
        elif a.order_id is not None and not ids:
            problems.append(f"{name}: its caller was told OrderId {a.order_id}, which CAS does not hold")
        elif a.retried and a.order_id is None:
            problems.append(f"{name}: its caller retried but never got an OrderId (last answer {told})"
                            + ("" if ids else "; no paid order exists"))
        elif not a.retried and not ids and not a.says_not_placed \
                and not set(sinks) <= failed_at.get(name, set()):
            problems.append(f"{name}: not placed, and neither its caller's answer ({told}) nor a {FAILED} "
                            "message at every sink says so")

    # --- never lost: sinks ---------------------------------------------------------------------
    ids_by_order: dict[int, set[str]] = defaultdict(set)
    sinks_by_order: dict[int, set[str]] = defaultdict(set)
    for m in messages:
        if m.type != CREATED or m.order_id is None:
            continue
        ids_by_order[m.order_id].add(m.message_id)
        sinks_by_order[m.order_id].add(m.sink)
        if m.order_id not in paid_ids:
            problems.append(f"{m.sink} got {CREATED} for OrderId {m.order_id}, which is not a paid order")
    for p in sorted(paid, key=lambda p: p.order_id):
        missing = [s for s in sinks if s not in sinks_by_order.get(p.order_id, set())]
        if missing:
            problems.append(f"OrderId {p.order_id} ({_name(p.domains)}) never reached {', '.join(missing)}")
        if len(ids_by_order.get(p.order_id, ())) > 1:
            problems.append(f"OrderId {p.order_id} reached the sinks under {len(ids_by_order[p.order_id])} "
                            "message ids")

    # --- nothing left behind -------------------------------------------------------------------
    for r in sorted(ledger, key=lambda r: r.key):
        name = _name(r.domains)
        ids = paid_by_order.get(name, [])
        if r.state == "unknown":
            problems.append(f"unknown record left for {name}" + (" (parked)" if r.parked else ""))
        elif r.state == "claimed":
            problems.append(f"{'lapsed ' if r.claim_lapsed else ''}claim left for {name}")
        elif r.state == "ordered" and r.pending_sinks:
            problems.append(f"ordered record for {name} not delivered to {', '.join(r.pending_sinks)}")
        if r.state in ("ordered", "delivered") and r.order_id is not None and r.order_id not in ids:
            problems.append(f"the ledger holds OrderId {r.order_id} for {name}; CAS holds {sorted(ids)}")
        if r.state == "failed" and ids:
            problems.append(f"the ledger says {name} failed, but CAS holds {sorted(ids)}")
    return problems
