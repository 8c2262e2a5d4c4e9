"""The V2.0 parameters of an order (``CAS_ORDER_API=instance``): ``InstanceId``, ``ContactIdList``, ``CompanyId``.

The same order is sent in both modes with the same names and the same validation; V2.0 adds three
optional names that only mean something to an instance: the instance to apply on, and contacts and the
company by their CAS IDs. They are read here, beside the shared validation (which does not know them,
so in package mode each is refused as an unknown parameter naming its field), and every problem in
either part is reported in one ``InvalidOrder``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from ..config import Settings
from ..errors import FieldError, InvalidOrder, invalid_order
from ..order import Order
from ..push import message as downstream
from ..validation import validate_order

INSTANCE_PARAMETERS = ("InstanceId", "ContactIdList", "CompanyId")
#: ``cas_dv-cn-rp643r82d0i1``: letters, digits, ``_`` and ``-`` (UNVERIFIED beyond the documented examples).
_INSTANCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MAX_CONTACTS = 10
#: An instance takes 20 tags, and casrelay's key tag must be among them (reconciliation finds an application by it).
MAX_OWN_TAGS = 19

OrderReader = Callable[[Mapping[str, object], Settings], Order]


def message_version(settings: Settings) -> int:
    """The downstream message schema a deployment sends: v2 for V2.0 instances, v1 for packages."""
    return downstream.INSTANCE_VERSION if settings.order_api == "instance" else downstream.VERSION


def order_reader(settings: Settings) -> OrderReader | None:
    """How this deployment reads an order: in instance mode the shared validation plus the V2.0 parameters;
    None (the shared validation alone) in package mode."""
    return read_instance_order if settings.order_api == "instance" else None


def _id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    # ASCII digits only: str.isdigit() also accepts digits int() cannot read (superscripts), a 500 for a 400.
    if text.isascii() and text.isdigit():
        return int(text) or None
    return None


def _contacts(value: Any) -> tuple[tuple[int, ...], FieldError | None]:
    items = value if isinstance(value, list) else str(value).split(",") if isinstance(value, str) else None
    ids = [_id(v) for v in items or []]
    if not ids or None in ids or len(ids) > MAX_CONTACTS:
        return (), FieldError("ContactIdList", "InvalidContactIdList",
                              f"1 to {MAX_CONTACTS} contact IDs (positive whole numbers), as a list or comma-separated")
    return tuple(i for i in ids if i is not None), None


def instance_fields(params: Mapping[str, object]) -> tuple[dict[str, Any], list[FieldError]]:
    """The ``Order`` fields the V2.0 parameters give, and what is wrong with them."""
    fields: dict[str, Any] = {}
    errors: list[FieldError] = []
    if "InstanceId" in params:
        raw = params["InstanceId"]
        if isinstance(raw, str) and _INSTANCE_ID.fullmatch(raw.strip()):
            fields["instance_id"] = raw.strip()
        else:
            errors.append(FieldError("InstanceId", "InvalidInstanceId",
                                     "an instance ID such as cas_dv-cn-rp643r82d0i1 (letters, digits, _ and -)"))
    if "ContactIdList" in params:
        contacts, problem = _contacts(params["ContactIdList"])
        fields["contact_ids"] = contacts
        errors.extend([problem] if problem else [])
    if "CompanyId" in params:
        company = _id(params["CompanyId"])
        if company is None:
            errors.append(FieldError("CompanyId", "InvalidCompanyId", "a company ID (a positive whole number)"))
        fields["company_id"] = company
    return fields, errors


def read_instance_order(params: Mapping[str, object], settings: Settings) -> Order:
    """Validate the shared parameters as always and the V2.0 ones here; one ``InvalidOrder`` for all problems."""
    shared = {k: v for k, v in params.items() if k not in INSTANCE_PARAMETERS}
    fields, errors = instance_fields(params)
    order: Order | None = None
    try:
        order = validate_order(shared, settings)
    except InvalidOrder as err:
        if not errors:
            raise
        errors = [*err.errors, *errors]
    if order is not None and len(order.tags) > MAX_OWN_TAGS:
        errors.append(FieldError("Tags", "TooManyTags", f"at most {MAX_OWN_TAGS} tags on an instance order: "
                                 "casrelay's idempotency tag takes the twentieth, which finds the application"))
    if errors or order is None:
        raise invalid_order(errors)
    return replace(order, **fields)
