"""Chaos run: N unique orders through every trigger kind, under faults, redelivered until they succeed.

    python -m devkit.chaos --orders 300 --seed 7

Faults are queued at random before each delivery: CAS throttling, CAS 503, a 500 after the order was
committed, a read timeout after the order was committed, and failing sinks (callback 5xx, MNS 5xx).
Every event is redelivered until it succeeds, as FC and EventBridge would: an HTTP sender retries a
non-2xx with the same ``webhook-id``; an invocation that raised is invoked again with the same event.

At the end the run checks the two promises: exactly N paid orders exist, every OrderId reached every
sink (repeats carrying the same message id), and no ``unknown`` key is left that reconciliation
could resolve. ``tests/test_chaos.py`` runs a small instance; this module runs a large one.
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import random
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .cas_emulator import ACTION_CREATE
from .embedded import Embedded, embedded_default
from .fc_local import call_handler, http_event, sign_webhook

KINDS = ("http", "invoke", "mns", "rocketmq", "kafka", "kafka-strings", "rabbitmq", "rawdata", "mns-topic")
MAX_DELIVERIES = 60


def _cloud_event(kind_type: str, source: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "source": source, "specversion": "1.0", "type": kind_type,
            "datacontenttype": "application/json; charset=utf-8", "subject": "acs:chaos",
            "time": "2026-11-28T00:00:00Z",
            "aliyunaccountid": "1234567890", "data": data}


def _queue_event(kind: str, orders: list[dict[str, Any]], rng: random.Random) -> Any:
    def body(o: dict[str, Any]) -> str:
        text = json.dumps(o)
        return base64.b64encode(text.encode()).decode() if rng.random() < 0.3 else text

    if kind == "mns":
        return [_cloud_event("mns:Queue:SendMessage", "MNS-chaos", {
            "requestId": uuid.uuid4().hex, "messageId": uuid.uuid4().hex.upper(), "messageBody": body(o)})
            for o in orders]
    if kind == "rocketmq":
        return [_cloud_event("mq:Topic:SendMessage", "RocketMQ-chaos", {
            "topic": "orders", "systemProperties": {"UNIQ_KEY": uuid.uuid4().hex.upper()}, "userProperties": {},
            "body": json.dumps(o)}) for o in orders]
    if kind in ("kafka", "kafka-strings"):
        events = [_cloud_event("alikafka:Topic:Message", "acs:alikafka", {
            "topic": "orders", "partition": 0, "offset": rng.randrange(10**9), "timestamp": 0,
            "headers": {"headers": [], "isReadOnly": False}, "key": "k", "value": json.dumps(o)}) for o in orders]
        return [json.dumps(e) for e in events] if kind == "kafka-strings" else events
    if kind == "rabbitmq":
        return [_cloud_event("amqp:Queue:SendMessage", "RabbitMQ-chaos", {
            "envelope": {"deliveryTag": 1, "exchange": "", "redeliver": False, "routingKey": "orders"},
            "body": o, "props": {"contentEncoding": "UTF-8", "messageId": str(uuid.uuid4())}}) for o in orders]
    if kind == "rawdata":
        return [{"requestId": uuid.uuid4().hex, "messageId": uuid.uuid4().hex.upper(), "messageBody": body(o)}
                for o in orders]
    if kind == "mns-topic":
        [o] = orders
        return {"TopicOwner": "1", "Message": json.dumps(o), "Subscriber": "1", "PublishTime": 0,
                "SubscriptionName": "chaos", "MessageMD5": "0", "TopicName": "orders",
                "MessageId": uuid.uuid4().hex.upper()}
    raise ValueError(kind)


@dataclass
class Delivery:
    kind: str
    orders: list[dict[str, Any]]
    make: Callable[[], bytes]
    attempts: int = 0


@dataclass
class ChaosReport:
    orders: int
    events: int
    deliveries: int = 0
    redeliveries: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    paid_orders: int = 0
    sink_messages: dict[str, int] = field(default_factory=dict)
    duplicates_with_same_id: int = 0
    callback_attempts: int = 0
    unknown_left: int = 0
    resolvable_unknown: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        return [
            f"orders {self.orders} in {self.events} events; {self.deliveries} deliveries "
            f"({self.redeliveries} redeliveries) in {self.seconds:.1f} s",
            f"faults injected: {dict(sorted(self.faults.items()))}",
            f"delivery outcomes: {dict(sorted(self.outcomes.items()))}",
            f"paid orders in the emulator: {self.paid_orders} (expected {self.orders})",
            f"messages accepted per sink: {self.sink_messages}; accepted repeats (same id): "
            f"{self.duplicates_with_same_id}; callback attempts incl. refused: {self.callback_attempts}",
            f"unknown keys left: {self.unknown_left}, of which reconciliation could resolve: "
            f"{self.resolvable_unknown}",
            "RESULT: " + ("ok" if self.ok else "FAILED: " + "; ".join(self.problems)),
        ]


def _plan(n: int, rng: random.Random, secret: str) -> list[Delivery]:
    orders = [{"ProductCode": "symantec-free-1-free", "Domain": f"chaos{i}.example.com", "ValidateType": "DNS"}
              for i in range(n)]
    plan: list[Delivery] = []
    i = 0
    while i < n:
        kind = KINDS[len(plan) % len(KINDS)]
        size = 1 if kind in ("http", "invoke", "mns-topic") else rng.randint(1, 4)
        chunk = orders[i:i + size]
        i += size
        if kind == "http":
            body = json.dumps(chunk[0]).encode()
            msg_id = f"msg_{uuid.uuid4().hex}"

            def make_http(body: bytes = body, msg_id: str = msg_id) -> bytes:
                headers = {"Content-Type": "application/json", **sign_webhook(secret, body, msg_id)}
                return json.dumps(http_event("POST", "/", {}, headers, body)).encode()

            plan.append(Delivery(kind, chunk, make_http))
        else:
            event = chunk[0] if kind == "invoke" else _queue_event(kind, chunk, rng)
            plan.append(Delivery(kind, chunk, functools.partial(bytes, json.dumps(event).encode())))
    rng.shuffle(plan)
    return plan


def _inject(emb: Embedded, rng: random.Random, report: ChaosReport, lock: threading.Lock) -> None:
    emu = emb.emulator
    roll = rng.random()
    with lock:
        if roll < 0.10:
            emu.fail_next(ACTION_CREATE, status=400, code="Throttling.User",
                          message="Request was denied due to user flow control.")
            report.faults["cas-throttling"] += 1
        elif roll < 0.18:
            emu.fail_next(ACTION_CREATE, status=503, code="ServiceUnavailable")
            report.faults["cas-503"] += 1
        elif roll < 0.26:
            emu.error_after_commit(ACTION_CREATE)
            report.faults["cas-500-after-commit"] += 1
        elif roll < 0.34:
            emu.delay_after_commit(ACTION_CREATE, seconds=0.8)
            report.faults["cas-timeout-after-commit"] += 1
        roll = rng.random()
        if roll < 0.12 and emb.receiver is not None:
            emb.receiver.fail_next(1, 503)
            report.faults["callback-503"] += 1
        elif roll < 0.22 and emb.mns is not None:
            emb.mns.fail_next(1, 500, code="InternalError")
            report.faults["mns-500"] += 1


def _succeeded(kind: str, result: Any) -> bool:
    if kind == "http":
        return isinstance(result, dict) and result.get("statusCode") == 200
    return isinstance(result, dict) and not result.get("errorType")


def run(n: int = 30, seed: int = 1, workers: int = 4, sinks: tuple[str, ...] = ("file", "callback", "mns"),
        echo: Callable[[str], None] | None = None) -> ChaosReport:
    rng = random.Random(seed)
    lock = threading.Lock()
    extra = {"CAS_READ_TIMEOUT_MS": "400", "CALLBACK_MAX_ATTEMPTS": "1", "BATCH_CONCURRENCY": "4"}
    started = time.monotonic()
    with embedded_default(extra_env=extra, sinks=sinks) as emb:
        plan = _plan(n, rng, emb.webhook_secret)
        report = ChaosReport(orders=n, events=len(plan))

        def deliver(d: Delivery) -> None:
            local = random.Random(rng.random())
            while d.attempts < MAX_DELIVERIES:
                for _ in d.orders:  # faults in proportion to the paid calls the delivery makes
                    _inject(emb, local, report, lock)
                d.attempts += 1
                try:
                    result: Any = call_handler(d.make())
                except Exception as exc:  # what FC reports when the handler raised
                    result = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
                ok = _succeeded(d.kind, result)
                with lock:
                    report.deliveries += 1
                    report.redeliveries += d.attempts > 1
                    report.outcomes["ok" if ok else "redeliver"] += 1
                if ok:
                    return
                time.sleep(0.05)
            with lock:
                report.problems.append(f"a {d.kind} event never succeeded in {MAX_DELIVERIES} deliveries")

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(deliver, plan))
        emb.emulator.clear_faults()
        _check(emb, report, n)
    report.seconds = time.monotonic() - started
    if echo:
        for line in report.lines():
            echo(line)
    return report


def _check(emb: Embedded, report: ChaosReport, n: int) -> None:
    import index
    from casrelay.cas.credentials import resolve
    from casrelay.ledger import UNKNOWN

    placed = [o for o in emb.emulator.orders() if o.status != "CANCELLED"]
    report.paid_orders = len(placed)
    if len(placed) != n:
        report.problems.append(f"{len(placed)} paid orders for {n} unique orders")
    by_domain = Counter(o.domain for o in placed)
    twice = [d for d, c in by_domain.items() if c > 1]
    if twice:
        report.problems.append(f"ordered twice: {twice[:5]}")
    ids = {o.order_id for o in placed}
    for sink, pairs in emb.pushed_by_sink().items():
        report.sink_messages[sink] = len(pairs)
        seen: dict[int, set[str]] = defaultdict(set)
        for msg_id, message in pairs:
            if message["Type"] == "certificate.order.created":
                seen[message["Order"]["OrderId"]].add(msg_id)
        missing = ids - set(seen)
        if missing:
            report.problems.append(f"{len(missing)} OrderIds never reached {sink}")
        if any(len(v) != 1 for v in seen.values()):
            report.problems.append(f"{sink} got one order under different message ids")
        created = sum(1 for _, m in pairs if m["Type"] == "certificate.order.created")
        report.duplicates_with_same_id += created - len(seen)
    if emb.receiver is not None:
        # Every attempt the callback receiver saw, accepted or not: one order, one webhook-id, however often.
        ids_by_order: dict[int, set[str]] = defaultdict(set)
        attempts = [a for a in emb.receiver.attempts() if a.verified]
        for attempt in attempts:
            message = attempt.json()
            if message["Type"] == "certificate.order.created":
                ids_by_order[message["Order"]["OrderId"]].add(attempt.webhook_id or "")
        report.callback_attempts = len(attempts)
        if any(len(v) != 1 for v in ids_by_order.values()):
            report.problems.append("the callback got one order under different webhook-ids")
    relay = index._relay
    if relay is None:
        relay = index._setup()
    assert relay is not None
    unknown = [r for r in relay.ledger.store.scan([UNKNOWN])]
    report.unknown_left = len(unknown)
    for record in unknown:
        listed = relay.gateway.list_orders(record.order["domains"][0], resolve(None))
        if len(relay.placement.reconciler.candidates(record, listed)) == 1:
            report.resolvable_unknown += 1
    if report.resolvable_unknown:
        report.problems.append(f"{report.resolvable_unknown} unknown keys that reconciliation could resolve")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--with-sqs", action="store_true", help="also push to moto's SQS server")
    args = parser.parse_args(argv)
    sinks = ("file", "callback", "mns", "sqs") if args.with_sqs else ("file", "callback", "mns")
    import logging

    logging.getLogger("casrelay").setLevel(logging.CRITICAL)  # the figures, not thousands of log lines
    report = run(args.orders, args.seed, args.workers, sinks, echo=print)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
