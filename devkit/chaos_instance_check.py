"""The instance-mode chaos run's verdict (``CAS_ORDER_API=instance``), as a pure function of plain data.

On CAS V2.0 the paid step is ApplyCertificate on one certificate instance that casrelay chose and
leased, so "never twice" is about instances, not OrderIds: what CAS holds is the pool, each instance
with the ApplyCertificate calls that committed on it (the emulator's ``applications``: the bill), the
names it binds and the idempotency tag UpdateInstance gave it. ``check_instances`` returns one short
line per problem; an empty list means the promises held:

- **never twice**: no instance applied more than once; no order applied on two instances; no key's tag
  on two applied instances; no instance applied for names nobody ordered; no instance that nobody
  applied moved out of the status it started in; a replay with altered unsigned parts refused with 400;
- **never lost**: a caller that retried holds an InstanceId, and it is the one instance applied for its
  order; a caller told an InstanceId was told the right one; an order nobody applied was answered as
  not placed (or ``certificate.order.failed`` reached every sink); every applied instance reached
  every sink under one message id, as message version 2 valid against ``order-message.v2.json``
  (the caller validates each message and passes what the schema said);
- **nothing left behind**: no ``unknown``, no claim, no ``ordered`` record with a sink missing; every
  ``ordered``/``delivered`` record names an instance applied with its own key's tag, and holds that
  instance's lease; every applied instance is named by the record of the key its tag names (the sweep
  finished what nobody re-sent); no ``failed`` record for an order CAS applied; and no live lease (its
  owner's record names the instance and has not failed, the rule of ``ledger/lease.py``, re-stated here
  as an independent oracle) on an instance its owner did not apply, unless the owner is still at work.

Like ``chaos_check`` it imports nothing from the handler, so that broken inputs can be fed to it and
each kind of breakage shown to be reported (``tests/functional/test_chaos_instances.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .chaos_check import CREATED, FAILED, REPLAY_STATUS, CallerAnswer, _name

#: The only version a deployment in instance mode sends.
MESSAGE_VERSION = 2
ORDER_STATES_DONE = ("ordered", "delivered")


#: The refusal of an application the CA failed (casrelay's ``ApplicationFailed``).
APPLICATION_FAILED = "ApplicationFailed"


@dataclass(frozen=True)
class PoolInstance:
    """One instance of the emulated account's pool, as it is after the run."""

    instance_id: str
    #: The status it was bought in (``inactive`` for the ones an order may take).
    start_status: str
    status: str
    #: The names UpdateInstance made it bind (empty if no order touched it).
    domains: tuple[str, ...] = ()
    #: ApplyCertificate calls that committed on it.
    commits: int = 0
    #: The value of its idempotency tag (``ORDER_TAG_KEY``), if any.
    tag: str | None = None
    #: Its application task's status (``processing``, ``success``, ``failed``; empty: never applied).
    task_status: str = ""
    #: Commits the CA failed: each left the instance ``inactive`` and unused, free for another order.
    failed: int = 0

    @property
    def live(self) -> int:
        """Applications that used the instance up (or may still): the bill."""
        return self.commits - self.failed


def counts_as_applied(p: PoolInstance, by_tag: Mapping[str, InstanceRecord]) -> bool:
    """An application that used the instance, or one the CA failed only after casrelay had answered it as
    placed (its record is ordered or delivered: following it to the failure is the lifecycle's work). One
    the CA failed while casrelay waited was refused, and left the instance unused for another order."""
    if p.live:
        return True
    owner = by_tag.get(p.tag) if p.tag is not None else None
    return bool(p.commits) and owner is not None and owner.state in ("ordered", "delivered") \
        and owner.instance_id == p.instance_id


@dataclass(frozen=True)
class InstanceMessage:
    """One message a sink accepted, with what the v2 schema said of it (``None``: valid)."""

    sink: str
    message_id: str
    type: str
    domains: tuple[str, ...]
    instance_id: str | None = None
    version: int | None = None
    schema_error: str | None = None


@dataclass(frozen=True)
class InstanceRecord:
    """One order record of the ledger after the final sweeps; ``tag`` is the tag value its key gives."""

    key: str
    tag: str
    state: str  # claimed | ordered | delivered | failed | unknown
    domains: tuple[str, ...]
    instance_id: str | None = None
    pending_sinks: tuple[str, ...] = ()
    claim_lapsed: bool = False
    parked: bool = False


@dataclass(frozen=True)
class Lease:
    """One lease record (``lease:<InstanceId>``) and the key of the order record that owns it."""

    instance_id: str
    owner: str | None


def check_instances(*, orders: Sequence[str], sinks: Sequence[str], pool: Sequence[PoolInstance],
                    messages: Sequence[InstanceMessage], answers: Sequence[CallerAnswer],
                    ledger: Sequence[InstanceRecord], leases: Sequence[Lease]) -> list[str]:
    """Every problem found, one short line each (empty: the run kept the promises)."""
    problems: list[str] = []
    wanted = {_name(o.split(",")) for o in orders}
    records = {r.key: r for r in ledger}
    by_tag = {r.tag: r for r in ledger}
    applied = {p.instance_id: p for p in pool if counts_as_applied(p, by_tag)}

    # --- never twice ---------------------------------------------------------------------------
    on_order: dict[str, list[str]] = defaultdict(list)
    on_tag: dict[str, list[str]] = defaultdict(list)
    for p in pool:
        if p.live > 1:
            problems.append(f"instance {p.instance_id} was applied {p.live} times")
        if not p.commits and p.status != p.start_status:
            problems.append(f"instance {p.instance_id} went from {p.start_status} to {p.status} with no application")
    for p in sorted(applied.values(), key=lambda p: p.instance_id):
        name = _name(p.domains)
        if name not in wanted:
            problems.append(f"instance {p.instance_id} was applied for {name or 'no names'}, which no caller ordered")
        on_order[name].append(p.instance_id)
        if p.tag is None:
            problems.append(f"applied instance {p.instance_id} carries no idempotency tag")
        else:
            on_tag[p.tag].append(p.instance_id)
    for name, ids in sorted(on_order.items()):
        if name in wanted and len(ids) > 1:
            problems.append(f"{name} was applied on {len(ids)} instances: {sorted(ids)}")
    for tag, ids in sorted(on_tag.items()):
        if len(ids) > 1:
            problems.append(f"key {tag[:24]}... was applied on {len(ids)} instances: {sorted(ids)}")
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
        ids = on_order.get(name, [])
        a = caller.get(name)
        if a is None:
            problems.append(f"{name}: no caller answer was recorded")
            continue
        told = f"{a.status} {a.code}" if a.status is not None or a.code else "no answer"
        if a.instance_id is not None and a.instance_id not in ids:
            problems.append(f"{name}: its caller was told InstanceId {a.instance_id}, but CAS applied "
                            f"{sorted(ids) or 'none'} for it")
        elif a.retried and a.instance_id is None and not (a.code == APPLICATION_FAILED and not ids
                                                          and set(sinks) <= failed_at.get(name, set())):
            # (A caller may be refused because the CA failed its application: told so, with nothing applied.)
            problems.append(f"{name}: its caller retried but never got an InstanceId (last answer {told})"
                            + ("" if ids else "; no instance was applied"))
        elif not a.retried and not ids and not (a.says_not_placed and a.instance_id is None) \
                and not set(sinks) <= failed_at.get(name, set()):
            problems.append(f"{name}: not applied, and neither its caller's answer ({told}) nor a {FAILED} "
                            "message at every sink says so")

    # --- never lost: sinks ---------------------------------------------------------------------
    ids_of: dict[str, set[str]] = defaultdict(set)
    sinks_of: dict[str, set[str]] = defaultdict(set)
    for m in messages:
        if m.schema_error is not None or m.version != MESSAGE_VERSION:
            problems.append(f"{m.sink} got a {m.type} message (version {m.version}) the v2 schema refuses: "
                            f"{(m.schema_error or 'wrong version')[:80]}")
        if m.type != CREATED:
            continue
        if m.instance_id is None or m.instance_id not in applied:
            problems.append(f"{m.sink} got {CREATED} for instance {m.instance_id}, which was not applied")
            continue
        ids_of[m.instance_id].add(m.message_id)
        sinks_of[m.instance_id].add(m.sink)
        if _name(m.domains) != _name(applied[m.instance_id].domains):
            problems.append(f"{m.sink} got {CREATED} for instance {m.instance_id} naming {_name(m.domains)}; "
                            f"it binds {_name(applied[m.instance_id].domains)}")
    for instance_id, p in sorted(applied.items()):
        missing = [s for s in sinks if s not in sinks_of.get(instance_id, set())]
        if missing:
            problems.append(f"instance {instance_id} ({_name(p.domains)}) never reached {', '.join(missing)}")
        if len(ids_of.get(instance_id, ())) > 1:
            problems.append(f"instance {instance_id} reached the sinks under {len(ids_of[instance_id])} message ids")

    # --- nothing left behind: the ledger -------------------------------------------------------
    lease_of = {lease.instance_id: lease for lease in leases}
    for r in sorted(ledger, key=lambda r: r.key):
        name = _name(r.domains)
        if r.state == "unknown":
            problems.append(f"unknown record left for {name}" + (" (parked)" if r.parked else ""))
        elif r.state == "claimed":
            problems.append(f"{'lapsed ' if r.claim_lapsed else ''}claim left for {name}")
        elif r.state == "ordered" and r.pending_sinks:
            problems.append(f"ordered record for {name} not delivered to {', '.join(r.pending_sinks)}")
        if r.state in ORDER_STATES_DONE:
            held_instance = applied.get(r.instance_id or "")
            if held_instance is None:
                problems.append(f"the ledger holds instance {r.instance_id} for {name}, which CAS never applied")
            elif held_instance.tag != r.tag:
                problems.append(f"the ledger holds instance {r.instance_id} for {name}; its tag names another key")
            held = lease_of.get(r.instance_id or "")
            if held is None or held.owner != r.key:
                problems.append(f"the record for {name} holds no lease on its instance {r.instance_id}")
        if r.state == "failed" and on_order.get(name):
            problems.append(f"the ledger says {name} failed, but CAS applied {sorted(on_order[name])}")
    for instance_id, p in sorted(applied.items()):
        owner = by_tag.get(p.tag or "")
        if owner is None:
            problems.append(f"applied instance {instance_id} ({_name(p.domains)}): no ledger record has its key")
        elif owner.state in ORDER_STATES_DONE and owner.instance_id != instance_id:
            problems.append(f"applied instance {instance_id}: the record of its key names {owner.instance_id}")

    # --- nothing left behind: leases -----------------------------------------------------------
    for lease in sorted(leases, key=lambda x: x.instance_id):
        owner = records.get(lease.owner or "")
        live = owner is not None and owner.instance_id == lease.instance_id and owner.state != "failed"
        if not live or owner is None or owner.state in ("claimed", "unknown"):
            continue  # stale (the instance is free again), or its order is still at work (reported above)
        if lease.instance_id not in applied:
            problems.append(f"instance {lease.instance_id} is leased to {_name(owner.domains)} ({owner.state}), "
                            "which never applied on it")
    return problems
