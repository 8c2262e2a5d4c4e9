"""Chaos run: N unique orders through every trigger kind, under planned faults, then the sweep.

    python -m devkit.chaos --orders 300 --seed 7                  # V1.0 packages (the default)
    python -m devkit.chaos --api instance --orders 300 --seed 7   # V2.0 certificate instances

Everything random is planned up front, in one thread, from one ``random.Random(seed)``: the events,
which caller retries and which never does, and every fault of every delivery attempt. Each fault is
aimed at the domain of the order it belongs to (the doubles' targeted faults), so the same seed
injects the same faults into the same orders whatever the worker threads' timing; the plan's digest
is printed so that two runs can be compared.

The CAS emulator runs in HTTPS mode with a test CA, and lists a new order only after a lag. Faults:

- at CAS: throttling and a 503 before the order is committed; after it is committed, a 500, 502, 503
  or 504 (the 502 and 504 as a gateway's HTML page), a read timeout, and a TLS error (plaintext
  garbage on the TLS stream, or the connection closed without an answer);
- at the sinks: a callback 503 and an MNS 500 for one push, and sinks that stay down for some orders
  until the final sweep;
- callers: most redeliver until they succeed (as FC and EventBridge would: an HTTP sender retries a
  non-2xx with the same ``webhook-id``; an invocation that raised is invoked again with the same
  event); some send their order exactly once whatever the answer; some stop once they hold the
  OrderId (their sinks are down);
- replays of a signed HTTP request with unsigned parts altered (an added query parameter, a new
  ``Idempotency-Key`` header): each must be refused with 400;
- a kill between CAS's answer and the ledger write: a child process (``devkit.chaos_child``) places
  the order with the same environment, ledger file and sinks, and SIGKILLs itself as soon as CAS has
  answered. Its claim lapses after 5 s, and only the sweep can finish the order.

At the end the faults are cleared, the sinks come back up, the run waits out the claims of the killed
invocations, and invokes the timer event (the sweep) until it reports nothing ``Remaining`` (at most
``MAX_SWEEPS`` times). Then ``devkit.chaos_check.check`` judges what CAS, the sinks, the callers and
the ledger hold. ``tests/functional/test_chaos.py`` runs a small instance; this module's command runs a large one.

``--api instance`` runs the same plan structure with ``CAS_ORDER_API=instance`` against an instance
pool with one fitting instance per order and a few spare (``devkit.chaos_instances``): the CAS faults hit
ApplyCertificate (aimed at the name the chosen instance binds, since the instance is chosen at run
time), plus a 503 on UpdateInstance, a connection closed after the commit, and applications that the CA
fails; the killed child dies between ApplyCertificate's answer and the ledger write. The verdict is
``devkit.chaos_instance_check``'s: N orders, at most (and for every retrying caller exactly) one
instance each, none applied twice or for two keys, every applied instance at every sink under one
message id in message version 2, and no live lease left without an applied order.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from . import chaos_instances as v2
from .cas_emulator import (
    ACTION_APPLY,
    ACTION_CREATE,
    ACTION_UPDATE_INSTANCE,
    THROTTLING_CODE,
    THROTTLING_MESSAGE,
    TLS_BREAK_CLOSE,
    TLS_BREAK_GARBAGE,
)
from .chaos_check import CallerAnswer, LedgerEntry, PaidOrder, SinkMessage, check
from .chaos_instance_check import check_instances, counts_as_applied
from .embedded import DEMO_WEBHOOK_SECRET, Embedded, devkit_dir, embedded_default, function_logs_to
from .fc_local import ROOT, call_handler, http_event, sign_webhook

KINDS = ("http", "invoke", "mns", "rocketmq", "kafka", "kafka-strings", "rabbitmq", "rawdata", "mns-topic")
#: The order in which deliveries take their trigger kind: every kind, and the kinds whose callers can
#: behave differently (a webhook sender, a direct invoker) more often than the queues.
KIND_CYCLE = ("http", "mns", "invoke", "rocketmq", "http", "kafka", "invoke", "kafka-strings", "http",
              "rabbitmq", "invoke", "rawdata", "mns-topic")
SINGLE_KINDS = ("http", "invoke", "mns-topic")
#: Kinds whose caller may send once, be killed, or stop once it holds the OrderId.
CALLER_KINDS = ("http", "invoke")
DEFAULT_SINKS = ("file", "callback", "mns")
#: Sinks a run can keep down for one order (the file sink cannot fail; moto's SQS has no such fault).
DOWNABLE_SINKS = ("callback", "mns")

CAS_FAULTS = ("cas-throttling", "cas-503", "cas-5xx-after-commit", "cas-timeout-after-commit",
              "cas-tls-after-commit")
#: Instance mode: the same faults on ApplyCertificate, and what only V2.0 has: a 503 on UpdateInstance
#: (before the paid call), a connection closed after the commit, and an application the CA fails.
INSTANCE_CAS_FAULTS = (*CAS_FAULTS, "cas-closed-after-commit", "cas-update-503", "cas-application-failed")
SINK_FAULTS = ("callback-503", "mns-500")
CALLER_FAULTS = ("never-retry", "kill-after-cas", "sink-down-until-sweep", "replay-query", "replay-header")
FAULT_KINDS = CAS_FAULTS + SINK_FAULTS + CALLER_FAULTS
INSTANCE_FAULT_KINDS = INSTANCE_CAS_FAULTS + SINK_FAULTS + CALLER_FAULTS

MAX_DELIVERIES = 60
#: Faults are planned for a delivery's first attempts; later attempts run clean, so every order converges.
FAULTY_ATTEMPTS = 5
MAX_SWEEPS = 20
PROGRESS_MIN_DELIVERIES = 50  # a run with fewer deliveries is short: no progress lines
SWEEP_PAUSE_S = 0.5
CLAIM_SECONDS = 5  # the minimum claim (IDEMPOTENCY_CLAIM_SECONDS)
LIST_LAG_SECONDS = 1.0
READ_TIMEOUT_MS = 400
AFTER_COMMIT_DELAY_S = 0.8  # above the read timeout
REPLAY_QUERIES = ("Email=replay%40example.com", "Username=replay", "Tags.1.Key=replay&Tags.1.Value=1")
GATEWAY_PAGE = "<html><head><title>{0}</title></head><body><center><h1>{0}</h1></center></body></html>"
TIMER_EVENT = {"triggerTime": "2026-11-28T00:00:00Z", "triggerName": "sweep", "payload": ""}
_AFTER_COMMIT_CODES = {500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}

# Fault probabilities, per order and attempt (CAS, then sinks) and per delivery (callers).
P_CAS = (("cas-throttling", 0.07), ("cas-503", 0.06), ("cas-5xx-after-commit", 0.08),
         ("cas-timeout-after-commit", 0.05), ("cas-tls-after-commit", 0.07))
P_SINK = (("callback-503", 0.10), ("mns-500", 0.08))
P_CAS_INSTANCE = (("cas-throttling", 0.05), ("cas-503", 0.05), ("cas-5xx-after-commit", 0.06),
                  ("cas-timeout-after-commit", 0.04), ("cas-tls-after-commit", 0.05),
                  ("cas-closed-after-commit", 0.03), ("cas-update-503", 0.04), ("cas-application-failed", 0.03))
P_ONCE, P_KILL, P_DOWN, P_REPLAY = 0.2, 0.1, 0.15, 0.35


def cas_faults(api: str) -> tuple[str, ...]:
    """The CAS fault kinds a run of ``api`` plans."""
    return INSTANCE_CAS_FAULTS if api == v2.API_INSTANCE else CAS_FAULTS


def fault_kinds(api: str) -> tuple[str, ...]:
    return INSTANCE_FAULT_KINDS if api == v2.API_INSTANCE else FAULT_KINDS


# --------------------------------------------------------------------------- the plan


@dataclass
class Delivery:
    index: int
    kind: str
    orders: list[dict[str, Any]]
    #: The event, except for http, whose event is built (and signed afresh) at each attempt from ``body``.
    event: Any = None
    body: bytes = b""
    msg_id: str = ""
    #: retry (until it succeeds) | until-placed (until it holds the OrderId) | once | kill
    policy: str = "retry"
    #: Per attempt: (domain, fault) pairs, each injected aimed at that domain.
    faults: list[list[tuple[str, str]]] = field(default_factory=list)
    #: For http: unsigned parts to alter in replays of the first attempt's signed request.
    replays: list[str] = field(default_factory=list)
    #: domain -> sinks kept down for it until the final sweep
    down: dict[str, tuple[str, ...]] = field(default_factory=dict)
    attempts: int = 0

    @property
    def domains(self) -> list[str]:
        return [str(o["Domain"]) for o in self.orders]

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "domains": self.domains, "policy": self.policy, "faults": self.faults,
                "replays": self.replays, "down": self.down, "msg_id": self.msg_id,
                "event": hashlib.sha256(json.dumps(self.event, sort_keys=True).encode()).hexdigest()
                if self.event is not None else None}


@dataclass
class Plan:
    seed: int
    #: Each order's identity in the run: its ``Domain`` parameter (one name, or names comma-joined).
    orders: list[str]
    deliveries: list[Delivery]
    api: str = v2.API_PACKAGE
    #: Instance mode: the emulator's instance pool (``pool_spec``'s one-line form).
    pool: str = ""

    def fault_counts(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for d in self.deliveries:
            for attempt in d.faults:
                counts.update(fault.split(":", 1)[0] for _, fault in attempt)
            counts["never-retry"] += d.policy == "once"
            counts["kill-after-cas"] += d.policy == "kill"
            counts["sink-down-until-sweep"] += len(d.down)
            counts.update(r.split(":", 1)[0] for r in d.replays)
        return Counter({k: v for k, v in counts.items() if v})

    def digest(self) -> str:
        text = json.dumps([d.describe() for d in self.deliveries], sort_keys=True)
        if self.api != v2.API_PACKAGE:  # a package plan's digest stays what it always was
            text += json.dumps({"api": self.api, "pool": self.pool})
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _hex(rng: random.Random, chars: int = 32) -> str:
    return f"{rng.getrandbits(chars * 4):0{chars}x}"


def _uuid(rng: random.Random) -> str:
    h = _hex(rng)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _cloud_event(rng: random.Random, kind_type: str, source: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": _uuid(rng), "source": source, "specversion": "1.0", "type": kind_type,
            "datacontenttype": "application/json; charset=utf-8", "subject": "acs:chaos",
            "time": "2026-11-28T00:00:00Z", "aliyunaccountid": "1234567890", "data": data}


def _queue_event(kind: str, orders: list[dict[str, Any]], rng: random.Random) -> Any:
    def body(o: dict[str, Any]) -> str:
        text = json.dumps(o)
        return base64.b64encode(text.encode()).decode() if rng.random() < 0.3 else text

    if kind == "mns":
        return [_cloud_event(rng, "mns:Queue:SendMessage", "MNS-chaos", {
            "requestId": _hex(rng), "messageId": _hex(rng).upper(), "messageBody": body(o)}) for o in orders]
    if kind == "rocketmq":
        return [_cloud_event(rng, "mq:Topic:SendMessage", "RocketMQ-chaos", {
            "topic": "orders", "systemProperties": {"UNIQ_KEY": _hex(rng).upper()}, "userProperties": {},
            "body": json.dumps(o)}) for o in orders]
    if kind in ("kafka", "kafka-strings"):
        events = [_cloud_event(rng, "alikafka:Topic:Message", "acs:alikafka", {
            "topic": "orders", "partition": 0, "offset": rng.randrange(10**9), "timestamp": 0,
            "headers": {"headers": [], "isReadOnly": False}, "key": "k", "value": json.dumps(o)})
            for o in orders]
        return [json.dumps(e) for e in events] if kind == "kafka-strings" else events
    if kind == "rabbitmq":
        return [_cloud_event(rng, "amqp:Queue:SendMessage", "RabbitMQ-chaos", {
            "envelope": {"deliveryTag": 1, "exchange": "", "redeliver": False, "routingKey": "orders"},
            "body": o, "props": {"contentEncoding": "UTF-8", "messageId": _uuid(rng)}}) for o in orders]
    if kind == "rawdata":
        return [{"requestId": _hex(rng), "messageId": _hex(rng).upper(), "messageBody": body(o)} for o in orders]
    if kind == "mns-topic":
        [o] = orders
        return {"TopicOwner": "1", "Message": json.dumps(o), "Subscriber": "1", "PublishTime": 0,
                "SubscriptionName": "chaos", "MessageMD5": "0", "TopicName": "orders",
                "MessageId": _hex(rng).upper()}
    raise ValueError(kind)


def _roll(rng: random.Random, table: Sequence[tuple[str, float]]) -> str | None:
    roll, edge = rng.random(), 0.0
    for name, p in table:
        edge += p
        if roll < edge:
            return name
    return None


def _cas_fault(rng: random.Random, kind: str) -> str:
    if kind == "cas-5xx-after-commit":
        return f"{kind}:{rng.choice(sorted(_AFTER_COMMIT_CODES))}"
    if kind == "cas-tls-after-commit":
        return f"{kind}:{rng.choice((TLS_BREAK_GARBAGE, TLS_BREAK_CLOSE))}"
    return kind


def _attempt_faults(rng: random.Random, domains: Sequence[str], sinks: Sequence[str],
                    api: str = v2.API_PACKAGE) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for domain in domains:
        cas = _roll(rng, P_CAS_INSTANCE if api == v2.API_INSTANCE else P_CAS)
        if cas is not None:
            out.append((domain, _cas_fault(rng, cas)))
        sink = _roll(rng, [(k, p) for k, p in P_SINK if k.split("-")[0] in sinks])
        if sink is not None:
            out.append((domain, sink))
    return out


def make_plan(n: int, seed: int, sinks: Sequence[str] = DEFAULT_SINKS, api: str = v2.API_PACKAGE) -> Plan:
    """Every order, delivery, caller behaviour and fault of a run (and in instance mode the pool), from
    ``random.Random(seed)`` alone."""
    if api not in v2.APIS:
        raise ValueError(f"api must be one of {v2.APIS}")
    rng = random.Random(seed)
    if api == v2.API_INSTANCE:
        orders = v2.plan_orders(n, rng)
    else:
        orders = [{"ProductCode": "symantec-free-1-free", "Domain": f"chaos{i}.example.com", "ValidateType": "DNS"}
                  for i in range(n)]
    downable = [s for s in DOWNABLE_SINKS if s in sinks]
    deliveries: list[Delivery] = []
    i = 0
    while i < n:
        kind = KIND_CYCLE[len(deliveries) % len(KIND_CYCLE)]
        size = 1 if kind in SINGLE_KINDS else rng.randint(1, 4)
        chunk = orders[i:i + size]
        i += size
        d = Delivery(len(deliveries), kind, chunk)
        if kind == "http":
            d.body, d.msg_id = json.dumps(chunk[0]).encode(), f"msg_{_hex(rng)}"
        else:
            d.event = chunk[0] if kind == "invoke" else _queue_event(kind, chunk, rng)
        if kind in CALLER_KINDS:
            roll = rng.random()
            d.policy = "once" if roll < P_ONCE else "kill" if roll < P_ONCE + P_KILL else "retry"
            if d.policy != "kill" and downable and rng.random() < P_DOWN:
                d.down = {d.domains[0]: tuple(s for s in downable if rng.random() < 0.6) or (rng.choice(downable),)}
                if d.policy == "retry":
                    d.policy = "until-placed"
            if kind == "http" and d.policy in ("retry", "until-placed") and rng.random() < P_REPLAY:
                d.replays = [_replay_part(rng, rng.random() < 0.5) for _ in range(rng.randint(1, 2))]
        attempts = {"once": 1, "kill": 0}.get(d.policy, FAULTY_ATTEMPTS)
        d.faults = [_attempt_faults(rng, d.domains, sinks, api) for _ in range(attempts)]
        deliveries.append(d)
    _guarantee(rng, deliveries, sinks, api)
    rng.shuffle(deliveries)
    pool = v2.pool_for(orders) if api == v2.API_INSTANCE else ""
    return Plan(seed, [str(o["Domain"]) for o in orders], deliveries, api, pool)


def _replay_part(rng: random.Random, query: bool) -> str:
    if query:
        return f"replay-query:{rng.choice(REPLAY_QUERIES)}"
    return f"replay-header:Idempotency-Key=chaos-replay-{_hex(rng, 12)}"


def _unfaulted(d: Delivery, family: Sequence[str]) -> list[str]:
    """The orders of ``d`` whose first attempt has no fault of ``family`` yet."""
    return [o for o in d.domains if not any(x == o and f.split(":")[0] in family for x, f in d.faults[0])]


def _guarantee(rng: random.Random, deliveries: list[Delivery], sinks: Sequence[str],
               api: str = v2.API_PACKAGE) -> None:
    """Give every fault kind at least one occurrence when the run has somewhere to put it, so that a small
    run (the CI one) still exercises all of them; the choice is made with the same generator."""
    def pick(candidates: list[Delivery]) -> Delivery | None:
        return rng.choice(candidates) if candidates else None

    def callers(*policies: str, kind: str | None = None) -> list[Delivery]:
        return [d for d in deliveries if d.kind in CALLER_KINDS and d.policy in policies
                and (kind is None or d.kind == kind) and not d.replays and not d.down]

    present = Plan(0, [], deliveries).fault_counts()
    downable = [s for s in DOWNABLE_SINKS if s in sinks]
    if not present["kill-after-cas"] and (d := pick(callers("retry"))):
        d.policy, d.faults = "kill", []
    if not present["never-retry"] and (d := pick(callers("retry"))):
        d.policy, d.faults = "once", d.faults[:1]
    if not present["sink-down-until-sweep"] and downable and (d := pick(callers("retry"))):
        d.policy, d.down = "until-placed", {d.domains[0]: tuple(downable)}
    for part, query in (("replay-query", True), ("replay-header", False)):
        if not present[part] and (d := pick([x for x in deliveries if x.kind == "http"
                                             and x.policy in ("retry", "until-placed")])):
            d.replays.append(_replay_part(rng, query))
    # CAS and sink faults: on a first attempt, which always runs and always calls CAS for every order.
    retrying = [d for d in deliveries if d.policy in ("retry", "until-placed") and d.faults]
    first_attempts = {f.split(":", 1)[0] for d in deliveries if d.faults for _, f in d.faults[0]}
    cas = cas_faults(api)
    for kind in cas + SINK_FAULTS:
        if kind in first_attempts or (kind in SINK_FAULTS and kind.split("-")[0] not in sinks):
            continue
        family = cas if kind in cas else SINK_FAULTS
        if api == v2.API_INSTANCE:
            # More CAS kinds than a small run has orders to spare: aim at an order with none of the family
            # yet, so that one guaranteed kind does not replace another. (Package plans keep their old draw.)
            d = pick([x for x in retrying if _unfaulted(x, family)] or retrying)
            if d is None:
                continue
            domain = rng.choice(_unfaulted(d, family) or d.domains)
        else:
            d = pick(retrying)
            if d is None:
                continue
            domain = rng.choice(d.domains)
        first = [(dom, f) for dom, f in d.faults[0] if not (dom == domain and f.split(":")[0] in family)]
        d.faults[0] = [*first, (domain, _cas_fault(rng, kind) if kind in cas else kind)]
        first_attempts = {f.split(":", 1)[0] for x in deliveries if x.faults for _, f in x.faults[0]}


# --------------------------------------------------------------------------- running it


@dataclass
class ChaosReport:
    orders: int
    events: int
    seed: int = 0
    plan_digest: str = ""
    api: str = v2.API_PACKAGE
    deliveries: int = 0
    redeliveries: int = 0
    #: Faults injected (CAS and sink faults of the attempts that ran) and caller faults (all planned ones).
    faults: Counter[str] = field(default_factory=Counter)
    cas_answers: dict[str, int] = field(default_factory=dict)
    #: Instance mode: what UpdateInstance answered (the 503s of ``cas-update-503`` among them).
    update_answers: dict[str, int] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    paid_orders: int = 0
    not_placed: int = 0
    sink_order_ids: dict[str, int] = field(default_factory=dict)
    #: Pushes a sink double refused because of an injected fault or a down mode.
    sink_refusals: dict[str, int] = field(default_factory=dict)
    sink_messages: dict[str, int] = field(default_factory=dict)
    callback_attempts: int = 0
    replays: int = 0
    kills: int = 0
    sweeps: int = 0
    sweep_remaining: int | None = None
    ledger_left: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    #: Instance mode: the pool's size, how many instances were applied (with how many ApplyCertificate
    #: commits in all), and how many fitting instances were left ``inactive``.
    pool_size: int = 0
    applied_instances: int = 0
    applications: int = 0
    #: Applied instances whose application the CA failed (``cas-application-failed``): applied all the same.
    applications_failed: int = 0
    spare_left: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self, max_problems: int = 20) -> list[str]:
        mode = " on V2.0 instances" if self.api == v2.API_INSTANCE else ""
        out = [
            f"seed {self.seed}, plan {self.plan_digest}: {self.orders} orders{mode} in {self.events} events",
            f"{self.deliveries} deliveries ({self.redeliveries} redeliveries, {self.replays} replays, "
            f"{self.kills} killed) in {self.seconds:.1f} s",
        ]
        out += _wrapped("faults injected:", self.faults)
        instance = self.api == v2.API_INSTANCE
        out += _wrapped("CAS ApplyCertificate answers:" if instance else "CAS create answers:", self.cas_answers)
        if instance:
            out += _wrapped("CAS UpdateInstance answers:", self.update_answers)
        out += _wrapped("delivery outcomes:", self.outcomes)
        if instance:
            out.append(f"paid applications: {self.applications} on {self.applied_instances} instances of "
                       f"{self.pool_size} ({self.applications_failed} failed by the CA)")
            out.append(f"orders not applied: {self.not_placed}; unused instances left inactive: {self.spare_left}")
        else:
            out.append(f"paid orders: {self.paid_orders}; orders not placed: {self.not_placed}")
        out += _wrapped("distinct InstanceIds per sink:" if instance else "distinct OrderIds per sink:",
                        self.sink_order_ids)
        out += _wrapped("pushes refused by the sink doubles:", self.sink_refusals)
        out.append(f"callback attempts incl. refused: {self.callback_attempts}")
        out.append(f"sweeps: {self.sweeps}, last Remaining: {self.sweep_remaining}")
        out += _wrapped("ledger after the sweeps:", self.ledger_left)
        if self.ok:
            out.append("RESULT: ok")
        else:
            out.append(f"RESULT: FAILED, {len(self.problems)} problem(s)")
            out += [f"  {p}" for p in self.problems[:max_problems]]
            if len(self.problems) > max_problems:
                out.append(f"  ... and {len(self.problems) - max_problems} more")
        return out


def _wrapped(title: str, counts: Mapping[str, int], width: int = 96) -> list[str]:
    """``title k v, k v, ...`` over as many short lines as needed, each item whole."""
    items = [f"{k} {v}" for k, v in sorted(counts.items())] or ["none"]
    lines, line = [], title
    for item in items:
        if len(line) + len(item) + 2 > width and line != title:
            lines.append(line.rstrip(","))
            line = "  "
        line += (" " if line.strip() else "") + item + ","
    lines.append(line.rstrip(","))
    return lines


def _quoted(domain: str) -> str:
    """How an order's domain appears in its JSON messages: matching the quoted name never hits a longer one."""
    return f'"{domain}"'


def _inject(emb: Embedded, order: str, fault: str, api: str = v2.API_PACKAGE) -> None:
    """Queue one planned fault, aimed at ``order``'s first name. In instance mode the CAS faults hit
    ApplyCertificate, which the emulator matches on the names of the instance it names: those UpdateInstance
    gave it for this order, whichever instance the order was given."""
    emu = emb.emulator
    domain = v2.target(order)
    action = ACTION_APPLY if api == v2.API_INSTANCE else ACTION_CREATE
    kind, _, arg = fault.partition(":")
    if kind == "cas-throttling":
        emu.fail_next(action, status=400, code=THROTTLING_CODE, message=THROTTLING_MESSAGE, domain=domain)
    elif kind == "cas-503":
        emu.fail_next(action, status=503, code="ServiceUnavailable", domain=domain)
    elif kind == "cas-5xx-after-commit":
        status = int(arg)
        page = GATEWAY_PAGE.format(f"{status} {_AFTER_COMMIT_CODES[status]}") if status in (502, 504) else None
        emu.error_after_commit(action, status=status, code=_AFTER_COMMIT_CODES[status], raw_body=page,
                               domain=domain)
    elif kind == "cas-timeout-after-commit":
        emu.delay_after_commit(action, seconds=AFTER_COMMIT_DELAY_S, domain=domain)
    elif kind == "cas-tls-after-commit":
        emu.tls_error_after_commit(action, mode=arg, domain=domain)
    elif kind == "cas-closed-after-commit":
        emu.close_after_commit(action, domain=domain)
    elif kind == "cas-update-503":
        emu.fail_next(ACTION_UPDATE_INSTANCE, status=503, code="ServiceUnavailable", domain=domain)
    elif kind == "cas-application-failed":
        # Not cleared with the attempt's other faults (the emulator has no such control): it stays aimed at
        # this order's names, so it fails this order's one application, whenever that commits.
        emu.fail_applications(target=domain)
    elif kind == "callback-503" and emb.receiver is not None:
        emb.receiver.fail_matching(_quoted(domain), 1, 503)
    elif kind == "mns-500" and emb.mns is not None:
        emb.mns.fail_matching(_quoted(domain), 1, 500, code="InternalError")


def _clear_targeted(emb: Embedded, orders: Sequence[str]) -> None:
    for domain in map(v2.target, orders):
        emb.emulator.clear_faults(domain=domain)
        if emb.receiver is not None:
            emb.receiver.clear_faults(_quoted(domain))
        if emb.mns is not None:
            emb.mns.clear_faults(_quoted(domain))


_CODE_RE = re.compile(r"^([A-Za-z][\w.]*): ")
#: DeliveryPending's message names the order by its OrderId (V1.0) or its InstanceId (V2.0).
_ORDER_RE = re.compile(r"\border ([\w-]+) is not yet\b")


@dataclass
class _Answer:
    status: int | None = None
    code: str | None = None
    #: What the answer said was placed: the OrderId (as text) or the InstanceId.
    placed: str | None = None
    done: bool = False  # a definitive answer for this order: success, or a batch that acknowledged it


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) and str(value) else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _answers(d: Delivery, result: Any) -> list[_Answer]:
    """What the caller learns about each order of the delivery from one answer."""
    if isinstance(result, dict) and "errorType" in result:  # the invocation raised
        message = str(result.get("errorMessage", ""))
        match = _CODE_RE.match(message)
        code = match.group(1) if match else str(result["errorType"])
        found = _ORDER_RE.search(message) if code == "DeliveryPending" else None
        return [_Answer(None, code, found.group(1) if found else None) for _ in d.orders]
    if d.kind == "http":
        status = int(result.get("statusCode", 0)) if isinstance(result, dict) else None
        try:
            body = json.loads(result.get("body") or "{}") if isinstance(result, dict) else {}
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        placed = _text(body.get("OrderIdString")) or _text(body.get("InstanceId"))
        return [_Answer(status, body.get("Code"), placed, status == 200)]
    if d.kind == "invoke":
        doc = result if isinstance(result, dict) else {}
        if "Status" in doc:
            return [_Answer(_int(doc.get("Status")), doc.get("Code"), None, True)]
        placed = _text(doc.get("OrderIdString")) or _text(doc.get("InstanceId"))
        return [_Answer(200 if placed is not None else None, doc.get("Code"), placed, placed is not None)]
    summary = result if isinstance(result, dict) else {}
    by_index = {r.get("Index"): r for r in summary.get("Results", []) if isinstance(r, dict)}
    out = []
    for i in range(len(d.orders)):
        r = by_index.get(i, {})
        out.append(_Answer(None, r.get("Code"), _text(r.get("OrderId")) or _text(r.get("InstanceId")), bool(r)))
    return out


def _caller_answer(api: str, order: str, retried: bool, a: _Answer, replay: str | None = None) -> CallerAnswer:
    """The checker's view of one answer: an OrderId (V1.0) or an InstanceId (V2.0)."""
    if api == v2.API_INSTANCE:
        return CallerAnswer(order, retried, a.status, a.code, None, replay=replay, instance_id=a.placed)
    return CallerAnswer(order, retried, a.status, a.code, _int(a.placed), replay=replay)


class _Runner:
    def __init__(self, emb: Embedded, plan: Plan, report: ChaosReport, workers: int,
                 progress: Callable[[str], None] | None, child_log: Path | None = None) -> None:
        self.emb = emb
        self.child_log = child_log
        self.plan = plan
        self.report = report
        self.workers = workers
        self.progress = progress
        self.lock = threading.Lock()
        self.answers: dict[str, CallerAnswer] = {}
        self.replays: list[CallerAnswer] = []
        self.last_kill: float | None = None
        self.finished = 0
        self.started = time.monotonic()

    # ------------------------------------------------------------------ one delivery

    def _http_event(self, d: Delivery, signed: dict[str, str], query: Mapping[str, str] | None = None,
                    extra: Mapping[str, str] | None = None) -> bytes:
        headers = {"Content-Type": "application/json", **signed, **(extra or {})}
        return json.dumps(http_event("POST", "/", query or {}, headers, d.body)).encode()

    def _invoke(self, event: bytes) -> Any:
        try:
            return call_handler(event)
        except Exception as exc:  # what FC reports when the handler raised
            return {"errorType": type(exc).__name__, "errorMessage": str(exc)}

    def _run_child(self, d: Delivery, event: bytes) -> Any:
        result_file = self.emb.workdir / f"child-{d.index}.json"
        env = dict(os.environ)
        env["IDEMPOTENCY_CLAIM_SECONDS"] = str(CLAIM_SECONDS)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        with contextlib.ExitStack() as stack:  # the child's log lines join the run's log file, if it has one
            out: Any = (stack.enter_context(self.child_log.open("ab")) if self.child_log is not None
                        else subprocess.DEVNULL)
            proc = subprocess.run([sys.executable, "-m", "devkit.chaos_child", str(result_file)],
                                  input=event, env=env, cwd=ROOT, stdout=out, stderr=out, timeout=180,
                                  check=False)
        data = json.loads(result_file.read_text()) if result_file.exists() else {}
        if proc.returncode == -signal.SIGKILL and data.get("Killed"):
            with self.lock:
                self.report.kills += 1
                self.last_kill = time.monotonic()
            return {"errorType": "Killed", "errorMessage": "Killed: the instance died after CAS answered"}
        if proc.returncode != 0 or "Result" not in data:
            with self.lock:
                self.report.problems.append(f"the kill child for {d.domains[0]} failed (exit {proc.returncode})")
            return {"errorType": "ChildFailed", "errorMessage": f"ChildFailed: exit {proc.returncode}"}
        return data["Result"]

    def _replay(self, d: Delivery, signed: dict[str, str], part: str) -> None:
        kind, _, what = part.partition(":")
        if kind == "replay-query":
            event = self._http_event(d, signed, query=dict(parse_qsl(what)))
            altered = "query:" + ",".join(k for k, _ in parse_qsl(what))
        else:
            name, _, value = what.partition("=")
            event = self._http_event(d, signed, extra={name: value})
            altered = f"header:{name}"
        result = self._invoke(event)
        [answer] = _answers(d, result)
        with self.lock:
            self.report.replays += 1
            self.replays.append(_caller_answer(self.plan.api, d.domains[0], False, answer, replay=altered))

    def deliver(self, d: Delivery) -> None:
        last: list[_Answer] = [_Answer() for _ in d.orders]
        while d.attempts < MAX_DELIVERIES:
            k = d.attempts
            for domain, fault in d.faults[k] if k < len(d.faults) else []:
                _inject(self.emb, domain, fault, self.plan.api)
                with self.lock:
                    self.report.faults[fault.split(":", 1)[0]] += 1
            d.attempts += 1
            signed = sign_webhook(DEMO_WEBHOOK_SECRET, d.body, d.msg_id) if d.kind == "http" else {}
            event = self._http_event(d, signed) if d.kind == "http" else json.dumps(d.event).encode()
            result = self._run_child(d, event) if d.policy == "kill" and k == 0 else self._invoke(event)
            _clear_targeted(self.emb, d.domains)
            if k == 0:
                for part in d.replays:
                    self._replay(d, signed, part)
            now = _answers(d, result)
            # Keep the most telling answer per order: a later one, unless only an earlier one carried the OrderId.
            last = [n if n.placed is not None or n.done or o.placed is None else o
                    for n, o in zip(now, last, strict=True)]
            finished = (d.policy in ("once", "kill")
                        or (d.policy == "until-placed" and all(a.placed is not None for a in last))
                        or all(a.done for a in now))
            ok = all(a.done for a in now)
            with self.lock:
                self.report.deliveries += 1
                self.report.redeliveries += d.attempts > 1
                self.report.outcomes["ok" if ok else "not ok, not retried" if finished else "redeliver"] += 1
            if finished:
                break
            time.sleep(min(0.05 * 1.5 ** k, 1.0))
        retried = d.policy in ("retry", "until-placed")
        with self.lock:
            for domain, a in zip(d.domains, last, strict=True):
                self.answers[domain] = _caller_answer(self.plan.api, domain, retried, a)
            self.finished += 1
            total = len(self.plan.deliveries)
            step = max(1, math.ceil(total / 10))
            if self.progress is not None and total >= PROGRESS_MIN_DELIVERIES and (
                    self.finished % step == 0 or self.finished == total):
                self.progress(f"chaos: {self.finished}/{total} deliveries done "
                              f"({100 * self.finished // total}%), {time.monotonic() - self.started:.0f} s")

    # ------------------------------------------------------------------ the whole run

    def run(self) -> None:
        for d in self.plan.deliveries:
            for domain, down in d.down.items():
                if "callback" in down and self.emb.receiver is not None:
                    self.emb.receiver.set_down(_quoted(domain))
                if "mns" in down and self.emb.mns is not None:
                    self.emb.mns.set_down(_quoted(domain))
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="chaos") as pool:
            list(pool.map(self.deliver, self.plan.deliveries))
        self._settle()

    def _settle(self) -> None:
        """Clear faults, bring the sinks up, wait out the killed claims, then sweep until nothing remains."""
        emb = self.emb
        emb.emulator.clear_faults()
        for double in (emb.receiver, emb.mns):
            if double is not None:
                double.clear_faults()
        if self.last_kill is not None:
            wait = self.last_kill + CLAIM_SECONDS + 0.5 - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        event = json.dumps(TIMER_EVENT).encode()
        for _ in range(MAX_SWEEPS):
            result = self._invoke(event)
            self.report.sweeps += 1
            remaining = result.get("Remaining") if isinstance(result, dict) else None
            if not isinstance(remaining, int) or isinstance(remaining, bool):
                keys = ", ".join(sorted(result)) if isinstance(result, dict) else type(result).__name__
                self.report.problems.append(f"the sweep answered without a Remaining count (it answered: {keys})")
                return
            self.report.sweep_remaining = remaining
            if remaining == 0:
                return
            time.sleep(SWEEP_PAUSE_S)
        self.report.problems.append(f"{self.report.sweep_remaining} open record(s) left after {MAX_SWEEPS} sweeps")


def _ledger_entries(sink_names: Sequence[str]) -> list[LedgerEntry]:
    import index

    relay = index._app or index._setup()
    assert relay is not None
    now = time.time()
    configured = [s.name for s in getattr(relay, "sinks", [])] or list(sink_names)
    out = []
    for r in relay.ledger.store.scan(None):
        confirmed = set(getattr(r, "deliveries", {}) or {})
        out.append(LedgerEntry(
            key=r.key, state=r.state, domains=tuple(r.order.get("domains", [])), order_id=r.order_id,
            pending_sinks=tuple(s for s in configured if s not in confirmed),
            claim_lapsed=r.claim_lapsed(now), parked=getattr(r, "parked_at", None) is not None))
    return out


def _sink_messages(emb: Embedded) -> list[SinkMessage]:
    out = []
    for sink, pairs in emb.pushed_by_sink().items():
        for msg_id, m in pairs:
            order = m.get("Order") or {}
            out.append(SinkMessage(sink, msg_id, str(m.get("Type")), tuple(order.get("Domains") or ()),
                                   _int(order.get("OrderId")), (m.get("Error") or {}).get("Code")))
    return out


def _judge_packages(emb: Embedded, plan: Plan, runner: _Runner, sinks: Sequence[str]) -> None:
    """Package mode: what CAS holds is its paid orders; ``chaos_check.check`` judges them."""
    report = runner.report
    paid = [PaidOrder(o.order_id, tuple(o.domains)) for o in emb.emulator.paid_orders()]
    messages = _sink_messages(emb)
    ledger = _ledger_entries(sinks)
    report.problems += check(orders=plan.orders, sinks=list(sinks), paid=paid, messages=messages,
                             answers=list(runner.answers.values()) + runner.replays, ledger=ledger)
    report.paid_orders = len(paid)
    report.not_placed = len(set(plan.orders) - {d for p in paid for d in p.domains})
    report.cas_answers = emb.emulator.counts_by_outcome(ACTION_CREATE)
    for sink in sinks:
        created = [m for m in messages if m.sink == sink and m.type == "certificate.order.created"]
        report.sink_order_ids[sink] = len({m.order_id for m in created})
        report.sink_messages[sink] = sum(1 for m in messages if m.sink == sink)
    report.ledger_left = Counter(e.state for e in ledger)


def _judge_instances(emb: Embedded, plan: Plan, runner: _Runner, sinks: Sequence[str],
                     start: dict[str, str]) -> None:
    """Instance mode: what CAS holds is the pool and each instance's applications;
    ``chaos_instance_check.check_instances`` judges them."""
    report = runner.report
    pool = v2.pool_state(emb, start)
    messages = v2.instance_messages(emb)
    records, leases = v2.instance_ledger(sinks)
    report.problems += check_instances(orders=plan.orders, sinks=list(sinks), pool=pool, messages=messages,
                                       answers=list(runner.answers.values()) + runner.replays, ledger=records,
                                       leases=leases)
    by_tag = {r.tag: r for r in records}
    applied = [p for p in pool if counts_as_applied(p, by_tag)]  # see there: a failed application may not count
    report.pool_size = len(pool)
    report.applied_instances = report.paid_orders = len(applied)
    report.applications = sum(max(p.live, 1) for p in applied)
    report.applications_failed = sum(p.failed for p in pool)
    report.spare_left = sum(1 for p in pool if p.start_status == "inactive" and not p.live)
    names = {",".join(sorted(p.domains)) for p in applied}
    report.not_placed = sum(1 for o in plan.orders if ",".join(sorted(o.split(","))) not in names)
    report.cas_answers = emb.emulator.counts_by_outcome(ACTION_APPLY)
    report.update_answers = emb.emulator.counts_by_outcome(ACTION_UPDATE_INSTANCE)
    for sink in sinks:
        created = [m for m in messages if m.sink == sink and m.type == "certificate.order.created"]
        report.sink_order_ids[sink] = len({m.instance_id for m in created})
        report.sink_messages[sink] = sum(1 for m in messages if m.sink == sink)
    report.ledger_left = Counter(r.state for r in records) + Counter(leased=len(leases))


def run(n: int = 30, seed: int = 1, workers: int = 4, sinks: tuple[str, ...] = DEFAULT_SINKS,
        echo: Callable[[str], None] | None = None, progress: Callable[[str], None] | None = None,
        list_lag_seconds: float = LIST_LAG_SECONDS, child_log: Path | None = None,
        api: str = v2.API_PACKAGE) -> ChaosReport:
    """Plan, run and check one chaos run; ``echo`` gets the report lines, ``progress`` a line about every
    10% of the deliveries, ``child_log`` (a file) the log lines of the processes the run kills. ``api`` is
    ``CAS_ORDER_API``: ``package`` (V1.0) or ``instance`` (V2.0, against the plan's instance pool)."""
    plan = make_plan(n, seed, sinks, api)
    planned = plan.fault_counts()
    report = ChaosReport(orders=n, events=len(plan.deliveries), seed=seed, plan_digest=plan.digest(), api=api,
                         faults=Counter({k: v for k, v in planned.items() if k in CALLER_FAULTS}))
    extra = {"CAS_READ_TIMEOUT_MS": str(READ_TIMEOUT_MS), "CALLBACK_MAX_ATTEMPTS": "1", "BATCH_CONCURRENCY": "4",
             "SWEEP_MIN_AGE_SECONDS": "0", "IDEMPOTENCY_CLAIM_SECONDS": str(CLAIM_SECONDS),
             "RECONCILE_LIST_LAG_SECONDS": str(math.floor(list_lag_seconds) + 1)}
    emulator_args: dict[str, Any] = {}
    if api == v2.API_INSTANCE:
        extra.update(CAS_ORDER_API=v2.API_INSTANCE, CAS_TASK_WAIT_SECONDS=str(v2.TASK_WAIT_SECONDS))
        emulator_args.update(instances=plan.pool, application_seconds=v2.APPLICATION_SECONDS)
    started = time.monotonic()
    with embedded_default(extra_env=extra, sinks=sinks, https=True, list_lag_seconds=list_lag_seconds,
                          **emulator_args) as emb:
        start = {i.instance_id: i.status for i in emb.emulator.instances()}
        runner = _Runner(emb, plan, report, workers, progress, child_log)
        runner.run()
        if api == v2.API_INSTANCE:
            _judge_instances(emb, plan, runner, sinks, start)
        else:
            _judge_packages(emb, plan, runner, sinks)
        if emb.receiver is not None:
            report.callback_attempts = len(emb.receiver.attempts())
            report.sink_refusals["callback"] = sum(1 for a in emb.receiver.attempts() if a.status >= 500)
        if emb.mns is not None:
            report.sink_refusals["mns"] = sum(1 for r in emb.mns.requests() if r.status >= 500)
    report.seconds = time.monotonic() - started
    if echo:
        for line in report.lines():
            echo(line)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--api", choices=v2.APIS, default=v2.API_PACKAGE,
                        help="CAS_ORDER_API: V1.0 packages or V2.0 certificate instances (default %(default)s)")
    parser.add_argument("--list-lag", type=float, default=LIST_LAG_SECONDS,
                        help="seconds before the emulator lists a new order (default %(default)s)")
    parser.add_argument("--with-sqs", action="store_true", help="also push to moto's SQS server")
    parser.add_argument("--plan-only", action="store_true", help="print the plan's digest and faults, run nothing")
    parser.add_argument("--logs", action="store_true",
                        help="print the function's JSON log lines here (default: into a file, whose path is printed)")
    args = parser.parse_args(argv)
    sinks = (*DEFAULT_SINKS, "sqs") if args.with_sqs else DEFAULT_SINKS
    if args.plan_only:
        plan = make_plan(args.orders, args.seed, sinks, args.api)
        print(f"seed {args.seed}, plan {plan.digest()}: {args.orders} orders in {len(plan.deliveries)} events")
        if plan.pool:
            print(f"instance pool: {plan.pool}")
        for line in _wrapped("faults planned:", plan.fault_counts()):
            print(line)
        return 0

    def to_stderr(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.logs:
        report = run(args.orders, args.seed, args.workers, sinks, echo=print, progress=to_stderr,
                     list_lag_seconds=args.list_lag, api=args.api)
        return 0 if report.ok else 1
    # The figures, not thousands of log lines: those go to a file, kept for a look afterwards.
    log_path = devkit_dir() / "chaos.log"
    print(f"chaos: the function's log lines go to {log_path} (--logs prints them here)", file=sys.stderr,
          flush=True)
    log_path.write_text("")  # a fresh file; both this process and the killed children append to it
    with log_path.open("a", encoding="utf-8") as log_file, function_logs_to(log_file):
        report = run(args.orders, args.seed, args.workers, sinks, echo=print, progress=to_stderr,
                     list_lag_seconds=args.list_lag, child_log=log_path, api=args.api)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
