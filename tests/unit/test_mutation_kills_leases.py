"""The V2.0 lease and order-parameter rules the mutation run showed untested.

Leases (``ledger/lease.py``, ``flows/lease.py``): what a lease record holds, who may take it over, that a
loser and a given-back order name no instance, and that a reservation reports only an instance it really
holds (the backend applies on whatever ``held()`` answers without asking again). Order parameters
(``flows/instance_order.py``): ``InstanceId``, ``ContactIdList`` and ``CompanyId`` are read in the shapes the
README promises, and each refusal names its field and a code of its own, as the caller's ``Errors`` carry
them; an instance order keeps one tag for casrelay's key; and a refusal reported downstream is in the
message version the deployment sends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from casrelay.config import Settings
from casrelay.config import load as load_settings
from casrelay.errors import InvalidOrder
from casrelay.flows.instance_order import read_instance_order
from casrelay.flows.lease import OrderReservation
from casrelay.ledger import LedgerRecord
from casrelay.ledger import load as load_ledger_config
from casrelay.ledger.base import Ledger
from casrelay.ledger.exceptions import StoreUnavailable
from casrelay.ledger.lease import InstanceLeases, lease_key
from casrelay.ledger.record import LEASED
from devkit.embedded import embedded_default
from tests.conftest import HttpClient, invoke_direct
from tests.flow_support import NOW, Clock, FlakyStore
from tests.functional.test_instance_orders import start

ROOT = Path(__file__).resolve().parents[2]
INSTANCE = "cas_dv-cn-aaa"


# --- leases ------------------------------------------------------------------------------------------------


def _world() -> tuple[FlakyStore, Ledger, InstanceLeases, Clock]:
    store, clock = FlakyStore(), Clock()
    ledger = Ledger(store, load_ledger_config({"IDEMPOTENCY_STORE": "memory://"}), clock=clock)
    return store, ledger, InstanceLeases(ledger), clock


def _claim(ledger: Ledger, key: str) -> LedgerRecord:
    return ledger.claim(key, "h", {"domains": [f"{key[4:]}.example.com"], "product": "p"}, {}, 60,
                        attempt=True).record


def _lease(store: FlakyStore) -> LedgerRecord:
    lease = store.get(lease_key(INSTANCE))
    assert lease is not None
    return lease


def test_a_fresh_lease_names_its_instance_its_owner_and_when_it_was_taken_and_carries_no_order() -> None:
    """The lease record is what the chaos oracle and an operator read to see who holds an instance and since
    when; it is not an order, so it has no payload hash a claim could ever be compared with."""
    store, ledger, leases, _clock = _world()
    record, held = leases.take(_claim(ledger, "key:a"), INSTANCE)
    assert held
    lease = _lease(store)
    assert (lease.state, lease.instance_id, lease.source) == (LEASED, INSTANCE, {"owner": record.key})
    assert lease.created_at == lease.updated_at == NOW
    assert lease.payload_hash == ""


def test_a_stale_lease_taken_over_records_its_new_owner_and_when_it_changed_hands() -> None:
    store, ledger, leases, clock = _world()
    first, _ = leases.take(_claim(ledger, "key:a"), INSTANCE)
    store.delete(first.key, store.get(first.key).version)  # type: ignore[union-attr]  # its order is gone
    clock.now = NOW + 300
    second, held = leases.take(_claim(ledger, "key:b"), INSTANCE)
    assert held and leases.holds(second)
    lease = _lease(store)
    assert lease.source == {"owner": second.key}
    assert (lease.created_at, lease.updated_at) == (NOW, NOW + 300)


def test_an_instance_leased_to_a_live_order_is_refused_and_the_loser_s_record_names_no_instance() -> None:
    """``take``'s promise: on ``False`` the record names no instance again, in the ledger too, so an order
    that lost never looks as if it held (or may have applied on) the other order's instance."""
    store, ledger, leases, _clock = _world()
    holder, _ = leases.take(_claim(ledger, "key:a"), INSTANCE)
    loser, held = leases.take(_claim(ledger, "key:b"), INSTANCE)
    assert not held
    assert loser.instance_id is None and store.get(loser.key).instance_id is None  # type: ignore[union-attr]
    assert leases.holds(holder) and _lease(store).source == {"owner": holder.key}


def test_a_lease_given_back_between_our_create_and_our_read_is_taken_on_the_next_try() -> None:
    """The holder gives the instance back just after our create found its lease: the instance is free, so
    the order takes it, rather than stopping with a lost race (a 503 for an order that could go on)."""
    store, ledger, leases, _clock = _world()
    holder, _ = leases.take(_claim(ledger, "key:a"), INSTANCE)
    real_get = store.get
    armed = {"once": True}

    def get(key: str) -> LedgerRecord | None:
        if key == lease_key(INSTANCE) and armed.pop("once", False):
            leases.give_back(holder)
        return real_get(key)

    store.get = get  # type: ignore[method-assign]
    record, held = leases.take(_claim(ledger, "key:b"), INSTANCE)
    store.get = real_get  # type: ignore[method-assign]
    assert not armed, "the race was not staged"
    assert held and leases.holds(record) and _lease(store).source == {"owner": record.key}


def test_a_record_that_names_no_instance_holds_no_lease() -> None:
    """Reconciliation asks ``holds`` whether an order may have applied on an instance; one that names none
    applied on none."""
    _store, ledger, leases, _clock = _world()
    assert not leases.holds(_claim(ledger, "key:a"))


def test_giving_back_drops_the_lease_and_the_record_s_claim_to_the_instance() -> None:
    store, ledger, leases, _clock = _world()
    record, _ = leases.take(_claim(ledger, "key:a"), INSTANCE)
    returned = leases.give_back(record)
    assert store.get(lease_key(INSTANCE)) is None
    assert returned.instance_id is None and store.get(record.key).instance_id is None  # type: ignore[union-attr]
    assert not leases.holds(returned)


def test_giving_back_an_instance_another_order_has_leased_since_leaves_that_order_s_lease_alone() -> None:
    """An order that died between naming the instance and leasing it gives back a name only: the lease the
    other order took meanwhile still counts, so a third order cannot take the instance from under it."""
    store, ledger, leases, _clock = _world()
    crashed = _claim(ledger, "key:a")
    store.failing_once.add("create")  # the lease write fails after the record named the instance
    with pytest.raises(StoreUnavailable):
        leases.take(crashed, INSTANCE)
    crashed = store.get(crashed.key)  # type: ignore[assignment]
    assert crashed.instance_id == INSTANCE and store.get(lease_key(INSTANCE)) is None
    holder, held = leases.take(_claim(ledger, "key:b"), INSTANCE)
    assert held
    leases.give_back(crashed)
    assert leases.holds(holder) and _lease(store).source == {"owner": holder.key}
    _third, third_held = leases.take(_claim(ledger, "key:c"), INSTANCE)
    assert not third_held


def test_a_reservation_reports_the_instance_it_holds_and_never_one_whose_lease_another_order_took() -> None:
    """``held()`` is what the V2.0 backend applies on without asking again (a retry of the same placement): it
    must name the order's own leased instance, and not an instance its record names but another order holds
    (an order that died between its two lease writes), which would be a second application on one instance."""
    store, ledger, leases, _clock = _world()
    mine = OrderReservation(leases, _claim(ledger, "key:a"))
    assert mine.held() is None
    assert mine.take(INSTANCE)
    assert mine.held() == INSTANCE
    assert OrderReservation(leases, store.get(mine.record.key)).held() == INSTANCE  # type: ignore[arg-type]

    crashed = _claim(ledger, "key:b")
    store.failing_once.add("create")  # the record names the instance, the lease write fails
    with pytest.raises(StoreUnavailable):
        leases.take(crashed, "cas_dv-cn-bbb")
    leases.take(_claim(ledger, "key:c"), "cas_dv-cn-bbb")
    redelivered = OrderReservation(leases, store.get(crashed.key))  # type: ignore[arg-type]
    assert redelivered.record.instance_id == "cas_dv-cn-bbb"
    assert redelivered.held() is None


# --- the V2.0 order parameters -------------------------------------------------------------------------------


def _settings() -> Settings:
    return load_settings({"CAS_ORDER_API": "instance"})


def _read(**params: Any) -> Any:
    return read_instance_order({"Domain": "a.example.com", **params}, _settings())


def _refused(**params: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidOrder) as info:
        _read(**params)
    return [(e.field, e.code) for e in info.value.errors]


def test_contact_ids_are_read_from_a_list_or_a_comma_separated_string() -> None:
    assert _read(ContactIdList=[3, "4"]).contact_ids == (3, 4)
    assert _read(ContactIdList="12,34").contact_ids == (12, 34)
    assert _read(ContactIdList=" 1 , 2 ,3").contact_ids == (1, 2, 3)
    assert _read().contact_ids == ()


def test_one_to_ten_contact_ids_are_accepted_and_none_or_eleven_are_refused_naming_contact_id_list() -> None:
    assert _read(ContactIdList=list(range(1, 11))).contact_ids == tuple(range(1, 11))
    for bad in ([], "", list(range(1, 12)), [1, 0], "1,,2", ["x"]):
        assert _refused(ContactIdList=bad) == [("ContactIdList", "InvalidContactIdList")], bad


def test_a_contact_id_list_that_is_neither_a_list_nor_a_string_is_refused_naming_it() -> None:
    """A bare JSON number or null is not one of the two shapes the README gives: a 400 naming the field,
    neither read as a one-contact list nor a 500."""
    for bad in (7, None, True):
        assert _refused(ContactIdList=bad) == [("ContactIdList", "InvalidContactIdList")], bad


def test_a_company_id_is_a_positive_whole_number_given_as_a_number_or_digits() -> None:
    assert _read(CompanyId=1).company_id == 1
    assert _read(CompanyId="12").company_id == 12
    assert _read(CompanyId=" 7 ").company_id == 7
    for bad in (0, -3, "0", "-3", True, "x", 1.5, None):
        assert _refused(CompanyId=bad) == [("CompanyId", "InvalidCompanyId")], bad


def test_a_company_or_contact_id_in_digits_int_cannot_read_is_refused_naming_its_field() -> None:
    assert _refused(CompanyId="\u00b2") == [("CompanyId", "InvalidCompanyId")]
    assert _refused(ContactIdList="1,\u00b2") == [("ContactIdList", "InvalidContactIdList")]


def test_an_instance_id_that_is_not_an_instance_id_is_refused_naming_it() -> None:
    assert _read(InstanceId=" cas_dv-cn-rp643r82d0i1 ").instance_id == "cas_dv-cn-rp643r82d0i1"
    for bad in ("no spaces", "", "-lead", 12):
        assert _refused(InstanceId=bad) == [("InstanceId", "InvalidInstanceId")], bad


def test_every_bad_v2_parameter_is_refused_at_once_each_with_its_own_code() -> None:
    assert _refused(InstanceId="a b", ContactIdList="x", CompanyId=0) == [
        ("InstanceId", "InvalidInstanceId"), ("ContactIdList", "InvalidContactIdList"),
        ("CompanyId", "InvalidCompanyId")]


def test_an_instance_order_takes_nineteen_own_tags_and_twenty_are_refused_with_too_many_tags() -> None:
    """An instance takes 20 tags and casrelay's key tag is one of them (README: at most 19 in instance mode)."""
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(20)]
    assert len(_read(Tags=tags[:19]).tags) == 19
    assert _refused(Tags=tags) == [("Tags", "TooManyTags")]


def test_the_contacts_an_order_names_are_the_ones_its_instance_is_given() -> None:
    with start("1xDigiCert:DV:1+0") as emb:
        first = emb.emulator.add_contact("Ops A", "13800000001")
        second = emb.emulator.add_contact("Ops B", "13800000002")
        res = HttpClient(emb).request({"Domain": "c.example.com", "ValidateType": "DNS",
                                       "ContactIdList": f"{second},{first}"})
        assert res["statusCode"] == 200, res["body"]
        inst = emb.emulator.get_instance(json.loads(res["body"])["InstanceId"])
        assert inst.contact_ids == [second, first]


@pytest.mark.parametrize("mode,version", [("package", 1), ("instance", 2)])
def test_an_invalid_order_is_reported_downstream_in_the_message_version_the_deployment_sends(mode: str,
                                                                                              version: int) -> None:
    """README: instance mode sends message version 2, package mode keeps version 1; an invalid direct
    invocation's ``certificate.order.failed`` is one of those messages."""
    schema = json.loads((ROOT / "schemas" / f"order-message.v{version}.json").read_text())
    env = {"CAS_ORDER_API": "instance", "CAS_TASK_WAIT_SECONDS": "0"} if mode == "instance" else {}
    with embedded_default(extra_env=env, instances="1xDigiCert:DV:1+0") as emb:
        invoke_direct({"Domain": "bad..example.com", "ValidateType": "DNS"})
        [message] = emb.pushed()
        assert message["Type"] == "certificate.order.failed" and message["Version"] == version
        jsonschema.validate(message, schema)
