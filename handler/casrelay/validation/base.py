"""Turn one order's parameters into an ``Order``, or one ``InvalidOrder`` listing every problem.

The rules are the API document's (ProductCode values, Domain count and wildcard mix, Csr key and CN,
ValidateType values, Domain-or-Csr) plus what a careful CA front end checks (host-name syntax, public
suffixes, the CSR's subjectAltNames, contact syntax, tags, and whether the names fit the product).
Unknown parameters are refused rather than ignored: a misspelt ``ValidateTyp`` silently dropped would
order the wrong certificate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..config import Settings
from ..errors import FieldError, invalid_order
from ..order import Order
from ..products import PRODUCT_CODES, Product
from .contacts import MAX_COMPANY_CHARS, MAX_NAME_CHARS, check_email, check_phone, check_text
from .csr import CsrInfo, inspect_csr
from .domains import check_name_set, parse_domain_list
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
    """The ``Order`` that ``params`` describe, or one ``InvalidOrder`` listing every problem in them.

    Each step below reads its own parameters and adds its problems to one list, so the order of the
    steps is the order in which a caller sees the problems.
    """
    reader = _Reader(params)
    _check_parameter_names(reader)
    _check_request_parameters(reader)
    product = _read_product(reader, settings.default_product_code)
    names = _read_names(reader)
    validate_type = _read_validate_type(reader)
    contacts = _read_contacts(reader, product)
    tags = _read_tags(reader)
    bound = _bound_names(reader, names, product)
    if reader.errors:
        raise invalid_order(reader.errors)
    assert product is not None
    return Order(
        product_code=product.code,
        domains=bound,
        domain_param=names.domain_param,
        csr=names.csr.pem if names.csr else None,
        csr_public_key_sha256=names.csr.public_key_sha256 if names.csr else None,
        validate_type=validate_type,
        username=contacts.username,
        email=contacts.email,
        phone=contacts.phone,
        company_name=contacts.company_name,
        tags=tags,
    )


class _Reader:
    """One order's parameters, and every problem found in them so far, in the order found."""

    def __init__(self, params: Mapping[str, object]) -> None:
        self.params = params
        self.errors: list[FieldError] = []

    def text(self, name: str) -> str | None:
        """The parameter as text (a number counts, as a form would send it); None when absent or not text."""
        value = self.params.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.errors.append(FieldError(name, "Invalid" + name, "must be a string"))
            return None
        return str(value)


@dataclass(frozen=True)
class _Names:
    """What ``Domain`` and ``Csr`` gave: the Domain list (normalised) as a tuple and as sent, and the CSR."""

    domains: tuple[str, ...] = ()
    domain_param: str | None = None
    csr: CsrInfo | None = None


@dataclass(frozen=True)
class _Contacts:
    username: str | None
    company_name: str | None
    email: str | None
    phone: str | None


def _check_parameter_names(reader: _Reader) -> None:
    """Refuse unknown parameters: a misspelt one silently dropped would order the wrong certificate."""
    for name in reader.params:
        if name not in KNOWN_PARAMETERS and not FLAT.match(name):
            reader.errors.append(FieldError(name, "UnknownParameter",
                                            f"is not a parameter of {ACTION}{_suggest(name)}"))


def _check_request_parameters(reader: _Reader) -> None:
    """The parameters about the request rather than the certificate: IdempotencyKey, DryRun, Action."""
    key = reader.text("IdempotencyKey")
    if key is not None and _bad_key(key):
        reader.errors.append(FieldError("IdempotencyKey", "InvalidIdempotencyKey",
                                        f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters"))

    dry_run = reader.params.get("DryRun")
    if dry_run is not None and not isinstance(dry_run, bool) and str(dry_run).lower() not in ("true", "false"):
        reader.errors.append(FieldError("DryRun", "InvalidDryRun", "must be true or false"))

    action = reader.text("Action")
    if action is not None and action != ACTION:
        reader.errors.append(FieldError("Action", "InvalidAction", f"must be {ACTION}"))


def _read_product(reader: _Reader, default_code: str) -> Product | None:
    """The product ordered (the deployment's default when ProductCode is absent); None when it is unknown."""
    product_code = reader.text("ProductCode")
    if product_code is None:
        product_code = default_code
    product = PRODUCT_CODES.get(product_code)
    if product is None:
        reader.errors.append(FieldError("ProductCode", "InvalidProductCode",
                                        f"{product_code[:60]!r} is not one of: {', '.join(PRODUCT_CODES)}"))
    return product


def _read_names(reader: _Reader) -> _Names:
    """Domain and Csr, each checked on its own; at least one of them must be given."""
    domain_value = reader.text("Domain")
    domains: tuple[str, ...] = ()
    domain_param = None
    if domain_value is not None:
        domains, domain_errors = parse_domain_list(domain_value)
        reader.errors.extend(domain_errors)
        domain_param = ",".join(domains)

    csr_value = reader.text("Csr")
    csr_info = None
    if csr_value is not None:
        csr_info, csr_errors = inspect_csr(csr_value)
        reader.errors.extend(csr_errors)

    if domain_value is None and csr_value is None:
        reader.errors.append(FieldError("Domain", "MissingDomainOrCsr", "Domain or Csr is required"))
    return _Names(domains, domain_param, csr_info)


def _read_validate_type(reader: _Reader) -> str | None:
    validate_type = reader.text("ValidateType")
    if validate_type is not None and validate_type not in VALIDATE_TYPES:
        reader.errors.append(FieldError("ValidateType", "InvalidValidateType", "must be DNS or FILE"))
    return validate_type


def _read_contacts(reader: _Reader, product: Product | None) -> _Contacts:
    """Username, CompanyName (which only an OV product takes), Email and Phone, each normalised."""
    username = reader.text("Username")
    if username is not None:
        reader.errors.extend(check_text(username, "Username", MAX_NAME_CHARS))
    company = reader.text("CompanyName")
    if company is not None:
        reader.errors.extend(check_text(company, "CompanyName", MAX_COMPANY_CHARS))
        if product is not None and not product.organisation_validated:
            reader.errors.append(FieldError("CompanyName", "InvalidCompanyName",
                                            f"applies only to OV certificates, and {product.code} is not one"))
    email = reader.text("Email")
    if email is not None:
        email, email_errors = check_email(email)
        reader.errors.extend(email_errors)
    phone = reader.text("Phone")
    if phone is not None:
        phone, phone_errors = check_phone(phone)
        reader.errors.extend(phone_errors)
    return _Contacts(username, company, email, phone)


def _read_tags(reader: _Reader) -> tuple[tuple[str, str], ...]:
    """Tags, given either as a list or flattened as Tags.N.Key / Tags.N.Value, never both."""
    tags: tuple[tuple[str, str], ...] = ()
    flat_tags, flat_errors = collect_flat_tags(reader.params)
    reader.errors.extend(flat_errors)
    if flat_tags is not None and "Tags" in reader.params:
        reader.errors.append(FieldError("Tags", "InvalidTags",
                                        "give Tags either as a list or as Tags.N.Key, not both"))
    raw_tags = reader.params.get("Tags", flat_tags)
    if raw_tags is not None:
        tags, tag_errors = check_tags(raw_tags)
        reader.errors.extend(tag_errors)
    return tags


def _bound_names(reader: _Reader, names: _Names, product: Product | None) -> tuple[str, ...]:
    """The names the certificate binds, checked together and against the product.

    The CSR's names (its CN, then its SANs) win over Domain (API document: the CN does), so they decide
    what the certificate binds, and they must fit the product just as a Domain list must.
    """
    bound = names.csr.names if names.csr is not None else names.domains
    if names.csr is not None:
        reader.errors.extend(check_name_set(bound, "Csr"))
    if product is not None and bound:
        field = "Csr" if names.csr is not None else "Domain"
        reader.errors.extend(_product_mismatches(product, bound, field))
    return bound


def _product_mismatches(product: Product, names: tuple[str, ...], field: str) -> list[FieldError]:
    """What a product binds: all wildcards or no wildcard, and exactly one name for a free certificate."""
    errors: list[FieldError] = []
    wild = [d for d in names if d.startswith("*.")]
    if product.wildcard and len(wild) != len(names):
        errors.append(FieldError(field, "InvalidDomain.ProductMismatch",
                                 f"{product.code} is a wildcard product; every name must start with '*.'"))
    if not product.wildcard and wild:
        errors.append(FieldError(field, "InvalidDomain.ProductMismatch",
                                 f"{product.code} binds single names; use a -w- product for wildcards"))
    if product.free and len(names) > 1:
        errors.append(FieldError(field, "InvalidDomain.TooMany",
                                 f"{product.code} is a free certificate and binds exactly one name"))
    return errors
