"""The instance-mode parts of the chaos run (``python -m devkit.chaos --api instance``): the orders, the
pool, and what CAS, the sinks and the ledger hold afterwards, in ``devkit.chaos_instance_check``'s terms.

``devkit.chaos`` plans, drives and settles both modes the same way; what differs in V2.0 is kept here:

- **the orders** come in three shapes, so that the choice of an instance is under fire too: one name on
  a DigiCert DV product (most of them, DNS or FILE validation), a wildcard on GeoTrust DV, and two names
  on GeoTrust DV. An order is known in the run by its ``Domain`` parameter; faults are aimed at its first
  name, which is what the instance binds once UpdateInstance filled it in (ApplyCertificate carries only
  the InstanceId; the emulator matches a fault on the names the instance binds);
- **the pool** has one fitting instance per order and a few spare of each kind, a larger GeoTrust instance
  that "smallest first" must leave alone, and instances that must never be touched: two already
  ``normal`` (issued outside casrelay) and a GeoTrust OV one that fits no order;
- **the facts**: every instance with its ApplyCertificate commits (the bill) and its idempotency tag;
  every sink message, validated against ``schemas/order-message.v2.json``; the order records and the
  lease records of the ledger.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .chaos_instance_check import InstanceMessage, InstanceRecord, Lease, PoolInstance
from .embedded import Embedded
from .fc_local import ROOT

API_PACKAGE, API_INSTANCE = "package", "instance"
APIS = (API_PACKAGE, API_INSTANCE)
#: (shape, share of the orders): most orders take the common single-name instance.
SHAPES = (("single", 0.7), ("wildcard", 0.15), ("multi", 0.15))
SINGLE_PRODUCTS = ("symantec-free-1-free", "digicert-free-1-free")
#: How long an application stays ``processing`` in the emulator, and how long casrelay follows it: some
#: orders are answered with their CertificateId, the rest with ``null`` (still processing), both valid.
APPLICATION_SECONDS = 0.4
TASK_WAIT_SECONDS = 1
TAG_KEY = "casrelay-idempotency-key"  # ORDER_TAG_KEY's default
SCHEMA_V2 = ROOT / "schemas" / "order-message.v2.json"
#: Instances the run must leave as they were: issued elsewhere, or of a kind no order asks for.
UNTOUCHABLE = "2xDigiCert:DV:1+0:normal,1xGeoTrust:OV:1+0"


def order_of(i: int, shape: str, rng: random.Random) -> dict[str, Any]:
    """Order ``i`` in one of the ``SHAPES``; its name(s) are unique to it."""
    if shape == "wildcard":
        return {"ProductCode": "geotrust-dv-w-starter", "Domain": f"*.chaos{i}.example.com", "ValidateType": "DNS"}
    if shape == "multi":
        return {"ProductCode": "geotrust-dv-1-starter", "Domain": f"chaos{i}.example.com,www.chaos{i}.example.com",
                "ValidateType": "DNS"}
    return {"ProductCode": rng.choice(SINGLE_PRODUCTS), "Domain": f"chaos{i}.example.com",
            "ValidateType": rng.choice(("DNS", "FILE"))}


def plan_orders(n: int, rng: random.Random) -> list[dict[str, Any]]:
    """``n`` orders of the ``SHAPES``, drawn from the plan's generator (so the seed decides them too)."""
    out = []
    for i in range(n):
        roll, edge, shape = rng.random(), 0.0, SHAPES[0][0]
        for name, share in SHAPES:
            edge += share
            if roll < edge:
                shape = name
                break
        out.append(order_of(i, shape, rng))
    return out


def shape_of(order: dict[str, Any]) -> str:
    domain = str(order["Domain"])
    return "wildcard" if domain.startswith("*.") else "multi" if "," in domain else "single"


def pool_for(orders: Sequence[dict[str, Any]], spare_share: float = 0.05) -> str:
    """The pool (``pool_spec``'s one-line form): an instance per order, a few spare of each kind, one larger
    GeoTrust instance, and the ``UNTOUCHABLE`` ones."""
    counts = {name: 0 for name, _ in SHAPES}
    for o in orders:
        counts[shape_of(o)] += 1
    spare = max(2, math.ceil(len(orders) * spare_share))
    return (f"{counts['single'] + spare}xDigiCert:DV:1+0,{counts['wildcard'] + spare}xGeoTrust:DV:0+1,"
            f"{counts['multi'] + spare}xGeoTrust:DV:2+0,1xGeoTrust:DV:3+0,{UNTOUCHABLE}")


def target(order: str) -> str:
    """The name a fault for an order is aimed at: its first name, which the instance will bind."""
    return order.split(",", 1)[0].strip()


# --------------------------------------------------------------------------- the facts


def pool_state(emb: Embedded, start: dict[str, str]) -> list[PoolInstance]:
    """Every instance as it is now; ``start`` maps each InstanceId to the status it was bought in."""
    return [PoolInstance(i.instance_id, start.get(i.instance_id, "?"), i.status, tuple(i.domains),
                         len(i.applications), i.tags.get(TAG_KEY), i.task_status, i.failed_applications)
            for i in emb.emulator.instances()]


def _validator() -> Any:
    import jsonschema

    schema = json.loads(Path(SCHEMA_V2).read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def instance_messages(emb: Embedded) -> list[InstanceMessage]:
    """What every sink accepted, each message checked against the v2 schema."""
    validator = _validator()
    out = []
    for sink, pairs in emb.pushed_by_sink().items():
        for msg_id, m in pairs:
            order = m.get("Order") or {}
            error = next(iter(validator.iter_errors(m)), None)
            version = m.get("Version")
            out.append(InstanceMessage(sink, msg_id, str(m.get("Type")), tuple(order.get("Domains") or ()),
                                       order.get("InstanceId"), version if isinstance(version, int) else None,
                                       None if error is None else error.message))
    return out


def instance_ledger(sink_names: Sequence[str]) -> tuple[list[InstanceRecord], list[Lease]]:
    """The order records and the lease records of the ledger the function uses."""
    import index
    from casrelay.ledger.key import short_tag_value
    from casrelay.ledger.lease import PREFIX

    relay = index._app or index._setup()
    assert relay is not None
    now = time.time()
    configured = [s.name for s in getattr(relay, "sinks", [])] or list(sink_names)
    records, leases = [], []
    for r in relay.ledger.store.scan(None):
        if r.key.startswith(PREFIX):
            owner = r.source.get("owner")
            leases.append(Lease(r.key[len(PREFIX):], owner if isinstance(owner, str) else None))
            continue
        confirmed = set(getattr(r, "deliveries", {}) or {})
        records.append(InstanceRecord(
            key=r.key, tag=short_tag_value(r.key), state=r.state, domains=tuple(r.order.get("domains", [])),
            instance_id=r.instance_id, pending_sinks=tuple(s for s in configured if s not in confirmed),
            claim_lapsed=r.claim_lapsed(now), parked=getattr(r, "parked_at", None) is not None))
    return records, leases
