"""Properties of whole orders: generated valid orders (some then damaged in one field) through every trigger.

Unlike the damage-anything properties, these examples are orders a sender could really send, so nearly
all of them reach CAS. For each one, delivered twice (a retry) through a trigger drawn at random:

- a valid order is placed exactly once (one paid call for both deliveries), the answer carries its
  OrderId, and that OrderId is at the sink;
- a damaged order is refused naming a field, and CAS is never called.

A module-level check asserts that most examples did reach CAS. The example count is scaled by
``CASRELAY_PROPERTY_SCALE`` (see tests/property_strategies.py); a slower, deeper run:
``CASRELAY_PROPERTY_SCALE=20 CASRELAY_PROPERTY_RANDOM=1 python3 -m pytest tests/functional/test_properties_orders.py``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casrelay.entry.redelivery import TransientFailure
from casrelay.products import PRODUCT_CODES
from devkit.cas_emulator import ACTION_CREATE
from devkit.embedded import DEMO_WEBHOOK_SECRET, Embedded, embedded_default
from devkit.fc_local import http_event, load_index, make_context, sign_webhook
from tests.property_strategies import bounded

SUFFIXES = ("com", "net", "org", "cn", "com.cn", "co.uk", "de", "io")
_serial = itertools.count()


@pytest.fixture(scope="module")
def emb() -> Iterator[Embedded]:
    quotas = {code: 1_000_000 for code in PRODUCT_CODES}
    with embedded_default(extra_env={"CAS_MAX_QPS": "1000"}, qps=None, quotas=quotas) as e:
        yield e


@pytest.fixture(scope="module")
def stats() -> Iterator[dict[str, int]]:
    counts = {"examples": 0, "reached_cas": 0}
    yield counts
    # Most examples must be orders that CAS sees; otherwise these properties test the validator only.
    print(f"\n  generated orders: {counts}")
    assert counts["reached_cas"] >= 0.6 * counts["examples"], counts


label = st.from_regex(r"[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,4})?", fullmatch=True)


@st.composite
def valid_orders(draw: st.DrawFn) -> dict[str, Any]:
    code = draw(st.sampled_from(sorted(PRODUCT_CODES)))
    product = PRODUCT_CODES[code]
    base = f"p{next(_serial)}-{draw(label)}.{draw(st.sampled_from(SUFFIXES))}"  # unique per example
    count = 1 if product.free else draw(st.integers(1, 3))
    hosts = [base] + [f"{draw(label)}{i}.{base}" for i in range(1, count)]
    names = [f"*.{h}" for h in hosts] if product.wildcard else hosts
    order: dict[str, Any] = {"ProductCode": code, "Domain": ",".join(names)}
    if draw(st.booleans()):
        order["ValidateType"] = draw(st.sampled_from(["DNS", "FILE"]))
    if draw(st.booleans()):
        order["Email"] = f"{draw(label)}@example.com"
        order["Phone"] = "13" + "".join(str(draw(st.integers(0, 9))) for _ in range(9))
    if product.organisation_validated and draw(st.booleans()):
        order["CompanyName"] = "Example Ltd"
    if draw(st.booleans()):
        order["Tags"] = [{"Key": "team", "Value": draw(label)}]
    return order


#: One-field damage a careless sender does; each must be refused before CAS is called.
DAMAGE = {
    "no-domain": lambda o: {k: v for k, v in o.items() if k != "Domain"},
    "bad-label": lambda o: {**o, "Domain": "bad_label." + o["Domain"].split(",")[0].removeprefix("*.")},
    "misspelt-key": lambda o: {**{k: v for k, v in o.items() if k != "Domain"}, "Domian": o["Domain"]},
    "bad-product": lambda o: {**o, "ProductCode": o["ProductCode"] + "-x"},
    "bad-validate": lambda o: {**o, "ValidateType": "dns"},
    "bad-email": lambda o: {**o, "Email": "not-an-email"},
    "number-domain": lambda o: {**o, "Domain": 12345},
    "mixed-wildcard": lambda o: {**o, "Domain": "*.a-" + o["Domain"].split(",")[0].removeprefix("*.") + ",b."
                                 + o["Domain"].split(",")[0].removeprefix("*.")},
}


@st.composite
def orders(draw: st.DrawFn) -> tuple[dict[str, Any], str | None]:
    order = draw(valid_orders())
    if draw(st.integers(0, 4)) == 4:  # about one in five damaged (Hypothesis leans towards 0)
        damage = draw(st.sampled_from(sorted(DAMAGE)))
        return DAMAGE[damage](order), damage
    return order, None


def _deliver(kind: str, order: dict[str, Any], msg_id: str) -> tuple[str, dict[str, Any] | None]:
    """('ok' | 'refused' | 'transient', the answer document)."""
    index = load_index()
    body = json.dumps(order).encode()
    if kind == "http":
        headers = {"Content-Type": "application/json", **sign_webhook(DEMO_WEBHOOK_SECRET, body, msg_id)}
        res = index.handler(json.dumps(http_event("POST", "/", {}, headers, body)).encode(), make_context())
        doc = json.loads(res["body"])
        return ("ok" if res["statusCode"] == 200 else "refused" if res["statusCode"] == 400 else "transient"), doc
    if kind == "invoke":
        try:
            doc = index.handler(body, make_context())
        except TransientFailure:
            return "transient", None
        return ("refused" if doc.get("Status") == 400 else "ok"), doc
    event = [{"id": msg_id, "source": "MNS-prop", "specversion": "1.0", "type": "mns:Queue:SendMessage",
              "data": {"requestId": msg_id, "messageId": msg_id, "messageBody": body.decode()}}]
    try:
        summary = index.handler(json.dumps(event).encode(), make_context())
    except TransientFailure:
        return "transient", None
    [result] = summary["Results"]
    return ("ok" if result["Outcome"] in ("placed", "duplicate") else "refused"), result


@given(orders(), st.sampled_from(["http", "invoke", "mns"]))
@bounded(60)
def test_a_generated_order_is_placed_once_or_refused_without_calling_cas(emb, stats, drawn, kind):
    order, damage = drawn
    before = len(emb.emulator.requests(ACTION_CREATE))
    msg_id = f"msg_prop{next(_serial)}"
    first, doc = _deliver(kind, order, msg_id)
    again, doc_again = _deliver(kind, order, msg_id)  # the sender's retry, the queue's redelivery
    paid = len(emb.emulator.requests(ACTION_CREATE)) - before
    stats["examples"] += 1
    stats["reached_cas"] += paid > 0
    if damage is not None:
        assert (first, again) == ("refused", "refused"), (damage, doc)
        assert paid == 0, damage
        return
    assert (first, again) == ("ok", "ok"), (order, doc, doc_again)
    assert paid == 1, order
    order_id = (doc or {}).get("OrderIdString") or (doc or {}).get("OrderId")
    assert order_id and str(order_id) == str((doc_again or {}).get("OrderIdString") or (doc_again or {})["OrderId"])
    pushed = {str(m["Order"]["OrderId"]) for m in emb.pushed() if m["Type"] == "certificate.order.created"}
    assert str(order_id) in pushed
