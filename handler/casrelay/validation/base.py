"""Turn one order's parameters into an ``Order``, or one ``InvalidOrder`` listing every problem.

The rules are the API document's (ProductCode values, Domain count and wildcard mix, Csr key and CN,
ValidateType values, Domain-or-Csr) plus what a careful CA front end checks (host-name syntax, public
suffixes, the CSR's subjectAltNames, contact syntax, tags, and whether the names fit the product).
Unknown parameters are refused rather than ignored: a misspelt ``ValidateTyp`` silently dropped would
order the wrong certificate.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..config import Settings
from ..errors import FieldError, invalid_order
from ..order import Order
from .contacts import MAX_COMPANY_CHARS, MAX_NAME_CHARS, check_email, check_phone, check_text
from .csr import inspect_csr
from .domains import check_name_set, parse_domain_list
from .products import PRODUCT_CODES
from .tags import FLAT, check_tags, collect_flat_tags

ACTION = "CreateCertificateForPackageRequest"
VALIDATE_TYPES = ("DNS", "FILE")
ORDER_PARAMETERS = (
    "ProductCode", "Domain", "Csr", "ValidateType", "Username", "Email", "Phone", "CompanyName", "Tags",
)
#: Alibaba Cloud common request parameters: accepted so that the document's request form works
#: verbatim, and otherwise ignored (the function signs its own call).
COMMON_PARAMETERS = (
    "Action", "Format", "Version", "AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion",
    "SignatureNonce", "Timestamp", "RegionId", "SecurityToken", "ResourceOwnerAccount",
)
#: casrelay's own parameters, beside the API's.
RELAY_PARAMETERS = ("IdempotencyKey", "DryRun")
KNOWN_PARAMETERS = frozenset(ORDER_PARAMETERS + COMMON_PARAMETERS + RELAY_PARAMETERS)
MAX_IDEMPOTENCY_KEY = 255


def _suggest(name: str) -> str:
    import difflib  # only a misspelt parameter needs it

    close = difflib.get_close_matches(name, ORDER_PARAMETERS, n=1, cutoff=0.6)
    if not close:
        lowered = {p.lower(): p for p in ORDER_PARAMETERS}
        close = [lowered[name.lower()]] if name.lower() in lowered else []
    return f"; did you mean {close[0]}?" if close else ""


def _bad_key(value: str) -> bool:
    return not value.strip() or len(value) > MAX_IDEMPOTENCY_KEY or not value.isprintable()


def check_idempotency_header(value: str) -> str | None:
    """The ``Idempotency-Key`` header follows the ``IdempotencyKey`` field's rule; absent or blank means none."""
    if not value.strip():
        return None
    if _bad_key(value):
        raise invalid_order([FieldError("Idempotency-Key", "InvalidIdempotencyKey",
                                        f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters")])
    return value.strip()


def validate_order(params: Mapping[str, object], settings: Settings) -> Order:
    errors: list[FieldError] = []

    def text(name: str) -> str | None:
        value = params.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            errors.append(FieldError(name, "Invalid" + name, "must be a string"))
            return None
        return str(value)

    for name in params:
        if name not in KNOWN_PARAMETERS and not FLAT.match(name):
            errors.append(FieldError(name, "UnknownParameter", f"is not a parameter of {ACTION}{_suggest(name)}"))

    key = text("IdempotencyKey")
    if key is not None and _bad_key(key):
        errors.append(FieldError("IdempotencyKey", "InvalidIdempotencyKey",
                                 f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters"))

    dry_run = params.get("DryRun")
    if dry_run is not None and not isinstance(dry_run, bool) and str(dry_run).lower() not in ("true", "false"):
        errors.append(FieldError("DryRun", "InvalidDryRun", "must be true or false"))

    action = text("Action")
    if action is not None and action != ACTION:
        errors.append(FieldError("Action", "InvalidAction", f"must be {ACTION}"))

    product_code = text("ProductCode")
    if product_code is None:
        product_code = settings.default_product_code
    product = PRODUCT_CODES.get(product_code)
    if product is None:
        errors.append(FieldError("ProductCode", "InvalidProductCode",
                                 f"{product_code[:60]!r} is not one of: {', '.join(PRODUCT_CODES)}"))

    domain_value = text("Domain")
    domains: tuple[str, ...] = ()
    domain_param = None
    if domain_value is not None:
        domains, domain_errors = parse_domain_list(domain_value)
        errors.extend(domain_errors)
        domain_param = ",".join(domains)

    csr_value = text("Csr")
    csr_info = None
    if csr_value is not None:
        csr_info, csr_errors = inspect_csr(csr_value)
        errors.extend(csr_errors)

    if domain_value is None and csr_value is None:
        errors.append(FieldError("Domain", "MissingDomainOrCsr", "Domain or Csr is required"))

    validate_type = text("ValidateType")
    if validate_type is not None and validate_type not in VALIDATE_TYPES:
        errors.append(FieldError("ValidateType", "InvalidValidateType", "must be DNS or FILE"))

    username = text("Username")
    if username is not None:
        errors.extend(check_text(username, "Username", MAX_NAME_CHARS))
    company = text("CompanyName")
    if company is not None:
        errors.extend(check_text(company, "CompanyName", MAX_COMPANY_CHARS))
        if product is not None and not product.organisation_validated:
            errors.append(FieldError("CompanyName", "InvalidCompanyName",
                                     f"applies only to OV certificates, and {product.code} is not one"))
    email = text("Email")
    if email is not None:
        email, email_errors = check_email(email)
        errors.extend(email_errors)
    phone = text("Phone")
    if phone is not None:
        phone, phone_errors = check_phone(phone)
        errors.extend(phone_errors)

    tags: tuple[tuple[str, str], ...] = ()
    flat_tags, flat_errors = collect_flat_tags(params)
    errors.extend(flat_errors)
    if flat_tags is not None and "Tags" in params:
        errors.append(FieldError("Tags", "InvalidTags", "give Tags either as a list or as Tags.N.Key, not both"))
    raw_tags = params.get("Tags", flat_tags)
    if raw_tags is not None:
        tags, tag_errors = check_tags(raw_tags)
        errors.extend(tag_errors)

    # The CSR's names (its CN, then its SANs) win over Domain (API document: the CN does), so they decide
    # what the certificate binds, and they must fit the product just as a Domain list must.
    effective = csr_info.names if csr_info is not None else domains
    if csr_info is not None:
        errors.extend(check_name_set(effective, "Csr"))
    if product is not None and effective:
        wild = [d for d in effective if d.startswith("*.")]
        field = "Csr" if csr_info is not None else "Domain"
        if product.wildcard and len(wild) != len(effective):
            errors.append(FieldError(field, "InvalidDomain.ProductMismatch",
                                     f"{product.code} is a wildcard product; every name must start with '*.'"))
        if not product.wildcard and wild:
            errors.append(FieldError(field, "InvalidDomain.ProductMismatch",
                                     f"{product.code} binds single names; use a -w- product for wildcards"))
        if product.free and len(effective) > 1:
            errors.append(FieldError(field, "InvalidDomain.TooMany",
                                     f"{product.code} is a free certificate and binds exactly one name"))

    if errors:
        raise invalid_order(errors)
    assert product is not None
    return Order(
        product_code=product.code,
        domains=effective,
        domain_param=domain_param,
        csr=csr_info.pem if csr_info else None,
        csr_public_key_sha256=csr_info.public_key_sha256 if csr_info else None,
        validate_type=validate_type,
        username=username,
        email=email,
        phone=phone,
        company_name=company,
        tags=tags,
    )
