"""The validated order: what casrelay will ask CAS for, already normalised.

Every later step (the CAS call, the response, the downstream message, the idempotency key) reads
this one value, so they can never disagree about which names or which product were ordered.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Order:
    product_code: str
    #: The names the certificate will bind: when a CSR is given, its CN and then its subjectAltName DNS
    #: names, each once; else the Domain list.
    domains: tuple[str, ...]
    domain_param: str | None = None
    csr: str | None = None
    csr_public_key_sha256: str | None = None
    validate_type: str | None = None
    username: str | None = None
    email: str | None = None
    phone: str | None = None
    company_name: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    #: V2.0 only (``CAS_ORDER_API=instance``): the instance to apply on, else one is chosen from the pool.
    instance_id: str | None = None
    #: V2.0 only: contacts and company by their CAS IDs, instead of finding them by Username/Email/Phone.
    contact_ids: tuple[int, ...] = ()
    company_id: int | None = None

    def cas_parameters(self) -> dict[str, object]:
        """The API parameters exactly as they go to CreateCertificateForPackageRequest."""
        params: dict[str, object] = {"ProductCode": self.product_code}
        optional = {
            "Domain": self.domain_param,
            "Csr": self.csr,
            "ValidateType": self.validate_type,
            "Username": self.username,
            "Email": self.email,
            "Phone": self.phone,
            "CompanyName": self.company_name,
        }
        params.update({k: v for k, v in optional.items() if v is not None})
        if self.tags:
            params["Tags"] = [{"Key": k, "Value": v} for k, v in self.tags]
        return params

    def instance_parameters(self) -> dict[str, object]:
        """The V2.0 parameters the order names itself (empty for a V1.0 order)."""
        params: dict[str, object] = {}
        if self.instance_id is not None:
            params["InstanceId"] = self.instance_id
        if self.contact_ids:
            params["ContactIdList"] = list(self.contact_ids)
        if self.company_id is not None:
            params["CompanyId"] = self.company_id
        return params
