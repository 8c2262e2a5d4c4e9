"""The rules of UpdateInstance and of a complete application, as pure functions of the parameters.

Parameter names and allowed values are the SDK's (models/_update_instance_request.py, 3.9.4): ``Domain``
(comma-separated; with an uploaded ``Csr`` the CSR's CN wins), ``GenerateCsrMethod`` (``online``, the
default, makes CAS generate the key and ignores ``Csr``; ``upload`` requires ``Csr``), ``ValidationMethod``
(``DNS`` or ``HTTP``), ``KeyAlgorithm`` (RSA_2048 default, RSA_3072, RSA_4096, ECC_256, SM2),
``ContactIdList`` (needed unless the account has contacts), ``CompanyId`` (needed for OV and EV), and
``Tags.N.TagKey``/``TagValue`` (N 1..20; key up to 64 characters, value up to 128, neither starting with
``aliyun`` or ``acs:`` nor containing ``http://``/``https://``). Each refusal names its field
(``InvalidParameter.<Field>``, ``MissingParameter``), as the V1 rules do.

Beyond the model text, and UNCONFIRMED: the names must fit what the instance was bought for
(``FullDomainCount`` exact names, ``WildcardDomainCount`` wildcards); file (``HTTP``) validation cannot
prove a wildcard; an explicit ``KeyAlgorithm`` must match an uploaded CSR's key; what ApplyCertificate
answers for incomplete data (``MissingInstanceInfo.<Field>``, HTTP 400).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .protocol import ApiError, invalid, missing
from .validation import csr_names, int_param, validate_domain

GENERATE_CSR_METHODS = ("online", "upload")
VALIDATION_METHODS = ("DNS", "HTTP")
KEY_ALGORITHMS = ("RSA_2048", "RSA_3072", "RSA_4096", "ECC_256", "SM2")
AUTO_REISSUE = ("enable", "disable")
MAX_TAGS = 20
#: Fields that describe the application itself: fixed once the instance has left ``inactive``.
APPLICATION_FIELDS = ("domains", "csr", "generate_csr_method", "validation_method", "key_algorithm",
                      "company_id", "contact_ids", "country_code", "province", "city")
_TAG = re.compile(r"Tags\.(\d+)\.(TagKey|TagValue)")
_CONTACT = re.compile(r"ContactIdList\.(\d+)")
_PLAIN = {"CertificateName": "certificate_name", "ResourceGroupId": "resource_group_id",
          "CountryCode": "country_code", "Province": "province", "City": "city"}


@dataclass
class InstanceUpdate:
    """What one UpdateInstance changes: attribute values for ``EmulatedInstance`` and tags to merge."""

    fields: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def touches_application(self) -> bool:
        return any(name in APPLICATION_FIELDS for name in self.fields)


def _choice(params: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if value not in allowed:
        raise invalid(name, f"must be one of {', '.join(allowed)}")
    return value


def _check_tag_text(name: str, text: str, limit: int) -> None:
    lowered = text.lower()
    if len(text) > limit:
        raise invalid(name, f"at most {limit} characters")
    if lowered.startswith(("aliyun", "acs:")) or "http://" in lowered or "https://" in lowered:
        raise invalid(name, "must not start with aliyun or acs:, nor contain http:// or https://")


def parse_instance_tags(params: Mapping[str, str]) -> dict[str, str]:
    """``Tags.N.TagKey``/``Tags.N.TagValue`` in N order; a key is required, a value may be empty."""
    found: dict[int, dict[str, str]] = {}
    for name, value in params.items():
        match = _TAG.fullmatch(name)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = value
    if any(n < 1 or n > MAX_TAGS for n in found):
        raise invalid("Tags", f"N must be 1 to {MAX_TAGS}")
    tags: dict[str, str] = {}
    for index in sorted(found):
        key, value = found[index].get("TagKey", ""), found[index].get("TagValue", "")
        if not key:
            raise missing(f"Tags.{index}.TagKey")
        _check_tag_text("Tags.TagKey", key, 64)
        _check_tag_text("Tags.TagValue", value, 128)
        tags[key] = value
    return tags


def parse_contact_ids(params: Mapping[str, str]) -> list[int] | None:
    """``ContactIdList.N`` as integers in N order; None when the call names none."""
    entries = sorted((int(m.group(1)), value) for name, value in params.items() if (m := _CONTACT.fullmatch(name)))
    if not entries:
        return None
    try:
        return [int(value) for _, value in entries]
    except ValueError as exc:
        raise invalid("ContactIdList", "contact IDs are integers") from exc


def csr_key_algorithm(pem: str) -> tuple[list[str], str]:
    """The names an uploaded CSR binds (CN first, then DNS SANs) and its key as a ``KeyAlgorithm`` value."""
    try:
        csr = x509.load_pem_x509_csr(pem.encode("utf-8"))
    except ValueError as exc:
        raise invalid("Csr", "not a PEM certificate signing request") from exc
    if not csr.is_signature_valid:
        raise invalid("Csr", "the CSR signature does not verify")
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size in (2048, 3072, 4096):
        algorithm = f"RSA_{key.key_size}"
    elif isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
        algorithm = "ECC_256"
    else:
        raise invalid("Csr", "the key must be RSA 2048, 3072 or 4096 bits, or ECC P-256")
    return csr_names(csr), algorithm


def check_names(names: list[str], *, full_count: int, wildcard_count: int, field_name: str = "Domain") -> list[str]:
    """Valid, distinct names that fit the instance's exact and wildcard name counts."""
    checked = [validate_domain(n) for n in names]
    lowered = [n.lower() for n in checked]
    if len(set(lowered)) != len(lowered):
        raise invalid(field_name, "a name is given twice")
    wildcards = sum(1 for n in checked if n.startswith("*."))
    if wildcards > wildcard_count or len(checked) - wildcards > full_count:
        raise invalid(field_name, f"{len(checked) - wildcards} exact and {wildcards} wildcard names do not fit "
                                  f"this instance ({full_count} exact, {wildcard_count} wildcard)")
    return checked


def _names_and_key(params: Mapping[str, str], method: str, stored_csr: str | None,
                   counts: tuple[int, int]) -> dict[str, Any]:
    """The name and key fields: from the uploaded CSR when the method is ``upload``, else from ``Domain``."""
    changes: dict[str, Any] = {}
    requested_key = _choice(params, "KeyAlgorithm", KEY_ALGORITHMS)
    if method == "upload":
        csr = params.get("Csr") or stored_csr
        if not csr:
            raise missing("Csr")
        names, algorithm = csr_key_algorithm(csr)
        if requested_key is not None and requested_key != algorithm:
            raise invalid("KeyAlgorithm", f"{requested_key} does not match the CSR's key ({algorithm})")
        changes.update(csr=csr, key_algorithm=algorithm,
                       domains=check_names(names, full_count=counts[0], wildcard_count=counts[1]))
        return changes
    if "GenerateCsrMethod" in params or params.get("Csr"):
        changes["csr"] = None  # online: CAS makes the key, and a Csr given with it is ignored
    if requested_key is not None:
        changes["key_algorithm"] = requested_key
    domain_text = params.get("Domain") or ""
    if domain_text.strip():
        names = [p.strip() for p in domain_text.split(",") if p.strip()]
        changes["domains"] = check_names(names, full_count=counts[0], wildcard_count=counts[1])
    return changes


def parse_update(params: Mapping[str, str], *, generate_csr_method: str, stored_csr: str | None,
                 counts: tuple[int, int]) -> InstanceUpdate:
    """The changes one UpdateInstance asks for, checked against the instance's method, CSR and name counts."""
    update = InstanceUpdate(tags=parse_instance_tags(params))
    method = _choice(params, "GenerateCsrMethod", GENERATE_CSR_METHODS)
    if method is not None:
        update.fields["generate_csr_method"] = method
    update.fields.update(_names_and_key(params, method or generate_csr_method, stored_csr, counts))
    validation = _choice(params, "ValidationMethod", VALIDATION_METHODS)
    if validation is not None:
        update.fields["validation_method"] = validation
    auto = _choice(params, "AutoReissue", AUTO_REISSUE)
    if auto is not None:
        update.fields["auto_reissue"] = auto
    for wire, attribute in _PLAIN.items():
        if params.get(wire):
            update.fields[attribute] = params[wire]
    contact_ids = parse_contact_ids(params)
    if contact_ids is not None:
        update.fields["contact_ids"] = contact_ids
    company_id = int_param(params, "CompanyId")
    if company_id is not None:
        update.fields["company_id"] = company_id
    return update


def check_validation_method(method: str, domains: list[str]) -> None:
    """File validation proves control of one host, so it cannot prove a wildcard."""
    if method == "HTTP" and any(d.startswith("*.") for d in domains):
        raise invalid("ValidationMethod", "HTTP (file) validation cannot validate a wildcard name; use DNS")


def incomplete(field_name: str) -> ApiError:
    return ApiError(400, f"MissingInstanceInfo.{field_name}",
                    f"The instance has no {field_name}: call UpdateInstance to complete it before ApplyCertificate.")
