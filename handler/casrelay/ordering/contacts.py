"""V2.0 contacts and companies by ID: find the order's own, or create the contact.

UpdateInstance takes ``ContactIdList`` and ``CompanyId`` where a V1.0 order carried Username, Email,
Phone and CompanyName, so the same order is translated here: the order's own IDs when it gives them,
else the account's contact whose name, e-mail and mobile equal every one the order gives (ListContact),
else a new one (CreateContact, which needs a name and a mobile). A company is found by its exact name
(ListCompanies); the API offers no way to create one here, so an OV/EV order without a known company is
refused by ApplyCertificate (``MissingInstanceInfo.CompanyId``), before anything is applied.

CreateContact is not idempotent. It runs before ApplyCertificate, so any failure of it is "nothing
applied" and the whole placement is retried; every placement lists the contacts before creating one,
so a create whose answer was lost is found by the retry instead of made twice (UNVERIFIED: how soon
ListContact shows a new contact on CAS; the emulator shows it at once).
"""

from __future__ import annotations

from typing import Any

from ..cas.client import CasClient
from ..cas.credentials import Credentials
from ..order import Order

LIST_CONTACT = "ListContact"
CREATE_CONTACT = "CreateContact"
LIST_COMPANIES = "ListCompanies"
PAGE_SIZE = 100
MAX_PAGES = 5


def _same(a: str | None, b: Any) -> bool:
    return a is None or a.strip().lower() == str(b or "").strip().lower()


def _digits(text: str | None) -> str | None:
    return None if text is None else "".join(c for c in text if c.isdigit())[-11:]


class Directory:
    def __init__(self, client: CasClient) -> None:
        self.client = client

    def contact_ids(self, order: Order, creds: Credentials | None) -> list[int]:
        """The contacts to name on the instance; empty when the order says nothing of its contact (CAS then
        uses the account's, or refuses with ``MissingInstanceInfo.ContactIdList``)."""
        if order.contact_ids:
            return list(order.contact_ids)
        if not (order.username or order.email or order.phone):
            return []
        found = self._find_contact(order, creds)
        if found is not None:
            return [found]
        if not order.phone:
            return []  # CreateContact needs a mobile
        from alibabacloud_cas20200407 import models

        name = order.username or (order.email or "casrelay").split("@")[0]
        request = models.CreateContactRequest(name=name, mobile=_digits(order.phone), email=order.email)
        body = self.client.call(CREATE_CONTACT, "create_contact_with_options", request, creds).body
        return [int(body.contact_id)] if body is not None and body.contact_id is not None else []

    def _find_contact(self, order: Order, creds: Credentials | None) -> int | None:
        from alibabacloud_cas20200407 import models

        keyword = order.email or _digits(order.phone) or order.username
        for page in range(1, MAX_PAGES + 1):
            request = models.ListContactRequest(keyword=keyword, current_page=page, show_size=PAGE_SIZE)
            body = self.client.call(LIST_CONTACT, "list_contact_with_options", request, creds).body
            items = (body.contact_list or []) if body is not None else []
            for item in items:
                if (_same(order.username, item.name) and _same(order.email, item.email)
                        and (order.phone is None or _digits(order.phone) == _digits(str(item.mobile or "")))
                        and item.contact_id is not None):
                    return int(item.contact_id)
            if len(items) < PAGE_SIZE:
                return None
        return None

    def company_id(self, order: Order, creds: Credentials | None) -> int | None:
        if order.company_id is not None or not order.company_name:
            return order.company_id
        from alibabacloud_cas20200407 import models

        request = models.ListCompaniesRequest(keyword=order.company_name, current_page=1, show_size=PAGE_SIZE)
        body = self.client.call(LIST_COMPANIES, "list_companies_with_options", request, creds).body
        for item in (body.company_list or []) if body is not None else []:
            if _same(order.company_name, item.company_name) and item.company_id is not None:
                return int(item.company_id)
        return None
