"""Which V2.0 certificate instance fits an order: brand and type from the ProductCode, and the name counts.

A V1.0 order names a product and CAS spends a package of it; a V2.0 account holds instances bought per
brand, type and number of names, and casrelay chooses one. The ProductCode keeps meaning what it
meant: its first part is the brand (``symantec`` is sold as DigiCert since DigiCert bought Symantec's
CA business; UNVERIFIED that CAS's V2.0 pool lists such instances under ``DigiCert``), its second the
validation type (a free product is DV). An instance fits when its ``FullDomainCount`` covers the
single names and its ``WildcardDomainCount`` the wildcards (the emulator's rule; UNVERIFIED whether CAS
lets a wildcard slot take a single name). Pure functions, so the choice is testable without CAS.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..order import Order

BRANDS = {"symantec": "DigiCert", "digicert": "DigiCert", "geotrust": "GeoTrust", "globalsign": "GlobalSign",
          "cfca": "CFCA"}
TYPES = {"free": "DV", "dv": "DV", "ov": "OV", "ev": "EV"}


@dataclass(frozen=True)
class Wanted:
    """What the order needs of an instance, and how a refusal names it."""

    brand: str
    certificate_type: str
    single: int
    wildcard: int

    def describe(self) -> str:
        return (f"Brand {self.brand}, CertificateType {self.certificate_type}, {self.single} single and "
                f"{self.wildcard} wildcard name(s)")


def wanted(order: Order) -> Wanted:
    parts = order.product_code.split("-")
    wildcards = sum(1 for d in order.domains if d.startswith("*."))
    return Wanted(BRANDS.get(parts[0], parts[0]), TYPES.get(parts[1] if len(parts) > 1 else "", "DV"),
                  len(order.domains) - wildcards, wildcards)


def _count(item: Any, name: str) -> int:
    try:
        return int(getattr(item, name, None) or 0)
    except (TypeError, ValueError):
        return 0


def fits(item: Any, want: Wanted) -> bool:
    """``item`` is a ListInstances entry or a GetInstanceDetail body (the same field names)."""
    return (str(getattr(item, "brand", "") or "") == want.brand
            and str(getattr(item, "certificate_type", "") or "") == want.certificate_type
            and _count(item, "full_domain_count") >= want.single
            and _count(item, "wildcard_domain_count") >= want.wildcard)


def why_not(item: Any, want: Wanted) -> str | None:
    """Why the order's own instance cannot take it, or None when it can."""
    status = str(getattr(item, "status", "") or "")
    if status != "inactive":
        return f"it is {status or 'in an unknown status'}, and only an inactive instance can apply"
    if not fits(item, want):
        return (f"it is {getattr(item, 'brand', '?')} {getattr(item, 'certificate_type', '?')} for "
                f"{_count(item, 'full_domain_count')}+{_count(item, 'wildcard_domain_count')} names; the order "
                f"needs {want.describe()}")
    return None


def ranked(items: Iterable[Any], want: Wanted) -> list[str]:
    """The fitting instances' IDs, smallest first (the order spends no more names than it needs)."""
    fitting = [i for i in items if fits(i, want) and str(getattr(i, "status", "")) == "inactive"
               and getattr(i, "instance_id", None)]
    fitting.sort(key=lambda i: (_count(i, "full_domain_count") + _count(i, "wildcard_domain_count"),
                                str(i.instance_id)))
    return [str(i.instance_id) for i in fitting]


def tag_matches(detail_tags: Sequence[Any] | None, ours: Iterable[tuple[str, str]]) -> bool:
    """The instance carries one of our tags (GetInstanceDetail's ``Tags``; ListInstances has none)."""
    seen = {(str(getattr(t, "tag_key", "")), str(getattr(t, "tag_value", ""))) for t in detail_tags or ()}
    return any(tag in seen for tag in ours)
