"""Promise: never two paid orders, never someone else's order. What reconciliation may adopt, and when an
empty search proves that nothing was placed. A fake ListUserCertificateOrder answers; the ledger is real."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from casrelay.errors import cas_unavailable
from casrelay.flows.reconcile import ABSENT, ADOPTED, CLOCK_MARGIN_SECONDS, UNRESOLVED, Reconciler
from casrelay.ledger import Ledger, LedgerConfig, open_store
from casrelay.ordering import ListedOrder, Listing, OrderingBackend
from casrelay.ordering.package import search_keyword

NOW = 1_800_000_000.0
ATTEMPT = NOW - 10


@dataclass
class FakeGateway(OrderingBackend):
    orders: list[ListedOrder] = field(default_factory=list)
    complete: bool = True
    fail: bool = False
    cancelled: list[int] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)

    action = "CreateCertificateForPackageRequest"

    def find(self, domains, creds):
        self.keywords.append(search_keyword(domains))
        if self.fail:
            raise cas_unavailable("down")
        return Listing(tuple(self.orders), self.complete)

    def cancel(self, order_id, creds):
        self.cancelled.append(order_id)

    def place(self, order, creds, tags=(), attempt=None):
        raise AssertionError("reconciliation never places an order")

    def quota(self, product_code, creds):
        raise AssertionError("reconciliation never reads the quota")

    def progress(self, order_id, instance_id, creds, include_certificate=False):
        raise AssertionError("reconciliation never asks for an order's progress")

    def preview(self, order, creds, tags=()):
        raise AssertionError("reconciliation never previews")


def listed(order_id: int, domain: str = "a.example.com", product: str = "symantec-free-1-free",
           status: str = "PAYED", bought: float | None = ATTEMPT + 1) -> ListedOrder:
    return ListedOrder(order_id, domain, product, status, None if bought is None else int(bought * 1000))


@pytest.fixture()
def ledger() -> Ledger:
    return Ledger(open_store("memory://"), LedgerConfig(), clock=lambda: NOW)


def unknown(ledger: Ledger, key: str = "auto:a", domains=("a.example.com",), product="symantec-free-1-free",
            ended_at: float = ATTEMPT + 1):
    claim = ledger.claim(key, "h-" + key, {"domains": list(domains), "product": product}, {}, 60)
    record = ledger.store.get(key)
    assert claim.owned and record is not None
    from dataclasses import replace

    attempted = replace(record, version=record.version + 1, attempted_at=ATTEMPT)
    assert ledger.store.replace(attempted, record.version)
    unknown = ledger.unknown(attempted, {"Code": "CasOutcomeUnknown"}, "timeout")
    assert unknown.call_ended_at == NOW  # the ledger notes when the failed call ended
    ended = replace(unknown, version=unknown.version + 1, call_ended_at=ended_at)
    assert ledger.store.replace(ended, unknown.version)
    return ended


def reconciler(ledger, gateway, lag=0, cancel=False):
    return Reconciler(ledger, gateway, cancel, lag, clock=lambda: NOW)


def test_exactly_one_matching_order_is_adopted(ledger):
    gw = FakeGateway([listed(7)])
    result = reconciler(ledger, gw).run(unknown(ledger), None)
    assert result.verdict == ADOPTED and result.record.order_id == 7
    assert gw.keywords == ["a.example.com"]


def test_an_order_that_belongs_to_another_key_is_never_adopted(ledger):
    other = unknown(ledger, key="auto:other")
    ledger.ordered(other, 7, "r")
    result = reconciler(ledger, FakeGateway([listed(7)]), lag=3600).run(unknown(ledger), None)
    assert result.verdict == UNRESOLVED and result.record.order_id is None


def test_an_order_placed_before_the_attempt_is_never_adopted(ledger):
    early = ATTEMPT - CLOCK_MARGIN_SECONDS - 5
    result = reconciler(ledger, FakeGateway([listed(7, bought=early)]), lag=3600).run(unknown(ledger), None)
    assert result.verdict == UNRESOLVED and result.record.order_id is None


def test_an_order_without_a_buy_date_is_never_adopted_nor_ruled_out(ledger):
    result = reconciler(ledger, FakeGateway([listed(7, bought=None)])).run(unknown(ledger), None)
    assert result.verdict == UNRESOLVED


def test_an_order_of_another_product_code_is_never_adopted(ledger):
    result = reconciler(ledger, FakeGateway([listed(7, product="geotrust-dv-1-starter")]), lag=3600).run(
        unknown(ledger), None)
    assert result.verdict == UNRESOLVED and result.record.order_id is None


def test_an_order_for_a_different_domain_set_is_never_adopted(ledger):
    record = unknown(ledger, domains=("a.example.com", "b.example.com"))
    result = reconciler(ledger, FakeGateway([listed(7, domain="a.example.com")])).run(record, None)
    assert result.verdict == UNRESOLVED  # and it may be ours in another shape, so it is not absent either


def test_a_revoked_or_failed_order_is_not_adopted(ledger):
    gw = FakeGateway([listed(7, status="REVOKED"), listed(8, status="CHECKED_FAIL")])
    assert reconciler(ledger, gw).run(unknown(ledger), None).verdict == UNRESOLVED


def test_two_matching_orders_are_ambiguous_unless_duplicates_may_be_cancelled(ledger):
    gw = FakeGateway([listed(8, bought=ATTEMPT + 2), listed(7, bought=ATTEMPT + 1)])
    assert reconciler(ledger, gw).run(unknown(ledger), None).verdict == UNRESOLVED
    other = Ledger(open_store("memory://"), LedgerConfig(), clock=lambda: NOW)
    result = reconciler(other, gw, cancel=True).run(unknown(other, key="auto:b"), None)
    assert result.verdict == ADOPTED and result.record.order_id == 7 and gw.cancelled == [8]


def test_an_order_another_key_may_have_placed_is_never_adopted_nor_ruled_out(ledger):
    """Key k2's paid call got an OrderId that its ledger write could not record; k1 (same names, another
    explicit key) must not take that order, or k2 would later find it foreign and order again."""
    from dataclasses import replace

    rival = ledger.claim("key:k2", "h2", {"domains": ["a.example.com"], "product": "symantec-free-1-free"}, {}, 60)
    marked = replace(rival.record, version=rival.record.version + 1, attempted_at=ATTEMPT)
    assert ledger.store.replace(marked, rival.record.version)  # k2 is still claimed, its OrderId unrecorded
    gw = FakeGateway([listed(7)])
    result = reconciler(ledger, gw).run(unknown(ledger, key="key:k1"), None)
    assert result.verdict == UNRESOLVED and result.record.order_id is None


def test_an_empty_complete_search_after_the_list_lag_proves_nothing_was_placed(ledger):
    assert reconciler(ledger, FakeGateway([]), lag=5).run(unknown(ledger), None).verdict == ABSENT


def test_the_list_lag_counts_from_when_the_last_try_ended_not_from_the_attempt_mark(ledger):
    """The pacer's wait and the retries can send the last try long after the mark (a double order in chaos)."""
    record = unknown(ledger, ended_at=NOW - 1)  # marked 10 s ago, the last try ended 1 s ago
    assert reconciler(ledger, FakeGateway([]), lag=5).run(record, None).verdict == UNRESOLVED


def test_a_lapsed_claim_counts_the_list_lag_from_when_its_claim_ran_out(ledger):
    from dataclasses import replace

    claim = ledger.claim("auto:z", "h", {"domains": ["z.example.com"], "product": "p"}, {}, 60).record
    marked = replace(claim, version=claim.version + 1, attempted_at=ATTEMPT, claim_expires_at=NOW - 2)
    assert ledger.store.replace(marked, claim.version)
    lapsed = ledger.lapse(marked)
    assert lapsed.call_ended_at == NOW - 2
    assert reconciler(ledger, FakeGateway([]), lag=5).run(lapsed, None).verdict == UNRESOLVED
    assert reconciler(ledger, FakeGateway([]), lag=1).run(lapsed, None).verdict == ABSENT


def test_an_empty_search_within_the_list_lag_proves_nothing(ledger):
    assert reconciler(ledger, FakeGateway([]), lag=60).run(unknown(ledger), None).verdict == UNRESOLVED


def test_a_truncated_search_never_proves_absence(ledger):
    assert reconciler(ledger, FakeGateway([], complete=False)).run(unknown(ledger), None).verdict == UNRESOLVED


def test_a_failed_search_proves_nothing(ledger):
    assert reconciler(ledger, FakeGateway(fail=True)).run(unknown(ledger), None).verdict == UNRESOLVED


@pytest.mark.parametrize("shape", [
    listed(9, domain="a.example.com,c.example.com"),   # our name among others
    listed(9, status="REVOKED"),                        # our order, already revoked
])
def test_an_order_that_may_be_ours_in_another_shape_keeps_it_from_being_absent(ledger, shape):
    assert reconciler(ledger, FakeGateway([shape])).run(unknown(ledger), None).verdict == UNRESOLVED


def test_someone_elses_order_for_the_same_name_does_not_keep_ours_from_being_absent(ledger):
    other = unknown(ledger, key="auto:other")
    ledger.ordered(other, 9, "r")
    result = reconciler(ledger, FakeGateway([listed(9), listed(10, product="geotrust-dv-1-starter"),
                                             listed(11, bought=ATTEMPT - CLOCK_MARGIN_SECONDS - 1)])).run(
        unknown(ledger), None)
    assert result.verdict == ABSENT


def test_a_wildcard_order_is_searched_by_its_base_name(ledger):
    gw = FakeGateway([])
    reconciler(ledger, gw).run(unknown(ledger, domains=("*.a.example.com",), product="geotrust-dv-w-starter"), None)
    assert gw.keywords == ["a.example.com"]


class _PagedSdk:
    """ListUserCertificateOrder that pages with its own page size (ignoring ShowSize), newest first."""

    def __init__(self, rows, page_size: int, with_total: bool) -> None:
        self.rows, self.page_size, self.with_total, self.pages = rows, page_size, with_total, []

    def list_user_certificate_order_with_options(self, request, runtime):
        from types import SimpleNamespace

        self.pages.append(request.current_page)
        start = (request.current_page - 1) * self.page_size
        body = SimpleNamespace(certificate_order_list=self.rows[start:start + self.page_size],
                               total_count=len(self.rows) if self.with_total else None)
        return SimpleNamespace(body=body)


@pytest.mark.parametrize(("page_size", "with_total"), [(20, True), (50, False), (7, True)])
def test_a_listing_is_complete_only_when_every_counted_row_was_read(page_size, with_total):
    from types import SimpleNamespace

    from casrelay.cas.client import CasClient
    from casrelay.cas.credentials import Credentials
    from casrelay.config import Settings
    from casrelay.ordering import PackageBackend

    def row(i, domain):
        return SimpleNamespace(order_id=i, domain=domain, product_code="symantec-free-1-free", status="PAYED",
                               buy_date=int(ATTEMPT * 1000) + i)

    rows = [row(1000 + i, f"h{i}.a.example.com") for i in range(44)] + [row(7, "a.example.com")]  # ours is last
    sdk = _PagedSdk(rows, page_size, with_total)
    gateway = PackageBackend(CasClient(Settings(cas_max_qps=0)))
    gateway.client.sdk_client = lambda creds: sdk  # type: ignore[method-assign]
    listing = gateway.find(["a.example.com"], Credentials("id", "secret"))
    if listing.complete:
        assert {o.order_id for o in listing.orders} >= {7}
    ledger = Ledger(open_store("memory://"), LedgerConfig(), clock=lambda: NOW)
    result = Reconciler(ledger, gateway, False, 0, clock=lambda: NOW).run(unknown(ledger), Credentials("id", "s"))
    assert result.verdict != ABSENT  # our order is on a late page: never "not placed"
