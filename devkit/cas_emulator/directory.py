"""The account's certificate contacts and companies, and the V2 calls that read and add them.

An UpdateInstance names contacts (``ContactIdList``) and, for OV/EV, a company (``CompanyId``) by ID, and
ApplyCertificate refuses an instance without them, so a client has to find or create them first:
ListContact / CreateContact / GetContact and ListCompanies / GetCompany. Companies cannot be created
through the API the brief covers (CreateCompany exists in the SDK but is not emulated), so tests and the
CLI add them with ``add_company``. Shapes follow the SDK models cited per method. The error codes for an
unknown ID (``InvalidContactId.NotFound``, ``InvalidCompanyId.NotFound``) are UNCONFIRMED.
"""

from __future__ import annotations

import copy
import re
import threading
from dataclasses import asdict, dataclass
from typing import Any

from .actions import Call
from .protocol import ApiError, invalid, missing
from .validation import int_param, paging

FIRST_CONTACT_ID = 6_100_000
FIRST_COMPANY_ID = 7_300_000
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass
class Contact:
    contact_id: int
    name: str
    mobile: str
    email: str = ""
    idcard: str = ""
    webhooks: str = ""

    def item(self) -> dict[str, Any]:
        """A ``ContactList`` entry (models/_list_contact_response_body.py, ``ListContactResponseBodyContactList``)."""
        return {"ContactId": self.contact_id, "Name": self.name, "Mobile": self.mobile, "Email": self.email,
                "MobileStatus": 1, "EmailStatus": 1 if self.email else 0, "Webhooks": self.webhooks,
                "WebhookList": [w for w in self.webhooks.strip("[]").replace('"', "").split(",") if w.strip()]}


@dataclass
class Company:
    company_id: int
    company_name: str
    company_code: str = "91330100000000000X"
    company_type: int = 1
    company_address: str = "969 West Wen Yi Road"
    company_phone: str = "0571-00000000"
    company_email: str = ""
    country_code: str = "CN"
    province: str = "Zhejiang"
    city: str = "Hangzhou"
    department: str = "IT"
    post_code: str = "311121"
    lang: str = "en"

    def item(self) -> dict[str, Any]:
        """A ``CompanyList`` entry (models/_list_companies_response_body.py) and the body of GetCompany
        (models/_get_company_response_body.py): the field names are the attribute names in CamelCase."""
        return {"".join(p.capitalize() for p in k.split("_")): v for k, v in asdict(self).items()}


class Directory:
    """Contacts and companies of the emulated account (one set for V2; V1 orders carry their own)."""

    _lock: threading.RLock
    _contacts: dict[int, Contact]
    _companies: dict[int, Company]

    def _init_directory(self) -> None:
        self._contacts = {}
        self._companies = {}

    def add_contact(self, name: str = "Ops", mobile: str = "13800000000", *, email: str = "", idcard: str = "",
                    webhooks: str = "") -> int:
        """Add a contact as if made in the console; returns its ContactId."""
        with self._lock:
            contact_id = FIRST_CONTACT_ID + len(self._contacts)
            self._contacts[contact_id] = Contact(contact_id, name, mobile, email, idcard, webhooks)
            return contact_id

    def add_company(self, company_name: str = "Example Ltd", **fields: Any) -> int:
        """Add a company (OV/EV organisation) as if made in the console; returns its CompanyId."""
        with self._lock:
            company_id = FIRST_COMPANY_ID + len(self._companies)
            self._companies[company_id] = Company(company_id, company_name, **fields)
            return company_id

    def contacts(self) -> list[Contact]:
        with self._lock:
            return [copy.deepcopy(c) for c in self._contacts.values()]

    def companies(self) -> list[Company]:
        with self._lock:
            return [copy.deepcopy(c) for c in self._companies.values()]

    def _contact(self, contact_id: int) -> Contact:
        contact = self._contacts.get(contact_id)
        if contact is None:
            raise ApiError(404, "InvalidContactId.NotFound", f"The contact {contact_id} does not exist.")
        return contact

    def _company(self, company_id: int) -> Company:
        company = self._companies.get(company_id)
        if company is None:
            raise ApiError(404, "InvalidCompanyId.NotFound", f"The company {company_id} does not exist.")
        return company

    # ------------------------------------------------------------------ the actions

    def _create_contact(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        """CreateContact: ``Name`` and ``Mobile`` are required (models/_create_contact_request.py); the
        answer is ``ContactId`` (models/_create_contact_response_body.py)."""
        for name in ("Name", "Mobile"):
            if not (params.get(name) or "").strip():
                raise missing(name)
        email = (params.get("Email") or "").strip()
        if email and not _EMAIL.fullmatch(email):
            raise invalid("Email", f"{email!r} is not an email address")
        contact_id = self.add_contact(params["Name"].strip(), params["Mobile"].strip(), email=email,
                                      idcard=params.get("Idcard") or "", webhooks=params.get("Webhooks") or "")
        return {"ContactId": contact_id}

    def _get_contact(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        """GetContact (models/_get_contact_response_body.py): the ListContact fields plus ``IdCard``."""
        contact_id = int_param(params, "ContactId", required=True)
        with self._lock:
            contact = self._contact(contact_id or 0)
            return {**contact.item(), "IdCard": contact.idcard}

    def _list_contacts(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        """ListContact (models/_list_contact_response_body.py): ``Keyword`` matches name, email or mobile;
        ``ShowSize`` defaults to 20, as the model documents."""
        page, size = paging(params, default_size=20, max_size=100)
        keyword = (params.get("Keyword") or "").strip().lower()
        with self._lock:
            found = [c for c in self._contacts.values()
                     if not keyword or any(keyword in v.lower() for v in (c.name, c.email, c.mobile))]
            items = [c.item() for c in found[(page - 1) * size: page * size]]
        return {"ContactList": items, "TotalCount": len(found), "CurrentPage": page, "ShowSize": size,
                "Keyword": params.get("Keyword") or ""}

    def _get_company(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        """GetCompany (models/_get_company_response_body.py)."""
        company_id = int_param(params, "CompanyId", required=True)
        with self._lock:
            return self._company(company_id or 0).item()

    def _list_companies(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        """ListCompanies (models/_list_companies_response_body.py): ``CompanyId`` and ``Keyword`` (name,
        province, country code or city) filter; ``ShowSize`` defaults to 10."""
        page, size = paging(params, default_size=10, max_size=100)
        company_id = int_param(params, "CompanyId")
        keyword = (params.get("Keyword") or "").strip().lower()
        with self._lock:
            found = [c for c in self._companies.values()
                     if (company_id is None or c.company_id == company_id)
                     and (not keyword or any(keyword in v.lower()
                                             for v in (c.company_name, c.province, c.country_code, c.city)))]
            items = [c.item() for c in found[(page - 1) * size: page * size]]
        return {"CompanyList": items, "TotalCount": len(found), "CurrentPage": page, "ShowSize": size}
