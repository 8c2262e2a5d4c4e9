"""The emulator's checks of business parameters: domain names, CSRs, product rules, tags, integers.

These are the rules CAS documents (section 1 of shared/reference/cas-api-and-signing.md), checked
here on their own so that the emulator stays an independent oracle for the handler's validation.
They are pure functions of the decoded parameters; each raises ``ApiError`` with the code CAS
answers. The fault targeting reuses ``csr_names`` to tell which names a call is about.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from .protocol import invalid, missing

_TAG_RE = re.compile(r"Tags\.(\d+)\.(Key|Value)")
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)


def validate_domain(name: str) -> str:
    candidate = name.strip()
    bare = candidate[2:] if candidate.startswith("*.") else candidate
    labels = bare.split(".")
    if (
        not bare
        or len(bare) > 253
        or len(labels) < 2
        or not all(_LABEL_RE.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise invalid("Domain", f"{candidate!r} is not a domain name")
    return candidate


def check_name_set(names: list[str]) -> list[str]:
    if not names:
        raise missing("Domain")
    if len(names) > 5:
        raise invalid("Domain", "at most 5 domain names may be given")
    wildcard = {n.startswith("*.") for n in names}
    if len(wildcard) > 1:
        raise invalid("Domain", "single and wildcard domain names cannot be mixed")
    return names


def parse_domains(value: str) -> list[str]:
    return check_name_set([validate_domain(part) for part in value.split(",") if part.strip()])


def csr_names(csr: x509.CertificateSigningRequest) -> list[str]:
    """The names a CSR asks for: its CN first, then its DNS SubjectAlternativeNames, de-duplicated
    (case-insensitively, first spelling kept; other SAN types are ignored). Raises
    ApiError(InvalidParameter.Csr) without a CN."""
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cns:
        raise invalid("Csr", "the CSR subject has no CN")
    raw_cn = cns[0].value
    names = [raw_cn.decode("utf-8") if isinstance(raw_cn, bytes) else raw_cn]
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names.extend(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        pass
    except ValueError as exc:  # a malformed extension
        raise invalid("Csr", "the CSR's extensions cannot be parsed") from exc
    seen: dict[str, str] = {}
    for name in names:
        # An absolute name (one trailing dot) is taken as the same name; how CAS treats it is UNCONFIRMED.
        bare = name.strip()
        bare = bare[:-1] if bare.endswith(".") and not bare.endswith("..") else bare
        seen.setdefault(bare.lower(), bare)
    return list(seen.values())


def inspect_csr(pem: str) -> tuple[list[str], str, x509.CertificateSigningRequest]:
    """Return (bound names, key algorithm, parsed CSR), enforcing the documented key rules.

    The bound names are the CN and the CSR's DNS SANs, CN first, de-duplicated; each must be a valid
    host name and together they follow the same rules as ``Domain`` (at most 5, no mix).
    """
    try:
        csr = x509.load_pem_x509_csr(pem.encode("utf-8"))
    except ValueError as exc:
        raise invalid("Csr", "not a PEM certificate signing request") from exc
    if not csr.is_signature_valid:
        raise invalid("Csr", "the CSR signature does not verify")
    names = csr_names(csr)
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise invalid("Csr", f"RSA keys must be at least 2048 bits (got {key.key_size})")
        algorithm = "RSA"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        algorithm = "ECC"
    else:
        raise invalid("Csr", "only RSA and ECC keys are accepted")
    return check_name_set([validate_domain(n) for n in names]), algorithm, csr


def check_product_rules(product_code: str, domains: list[str], params: Mapping[str, str]) -> None:
    """What the product code says about the names and the company, as CAS's product list describes it
    (section 1 of the reference): ``-free-`` products bind exactly one name, ``-w-`` products take
    wildcards only, ``-1-`` products single names only, and ``CompanyName`` is for OV/EV products only."""
    wildcards = [d for d in domains if d.startswith("*.")]
    if "-free-" in product_code and len(domains) != 1:
        raise invalid("Domain", f"a free product ({product_code}) binds exactly one name, not {len(domains)}")
    if "-w-" in product_code and len(wildcards) != len(domains):
        raise invalid("Domain", f"a wildcard product ({product_code}) takes wildcard names only")
    if "-1-" in product_code and wildcards:
        raise invalid("Domain", f"a single-name product ({product_code}) takes no wildcard names")
    if (params.get("CompanyName") or "").strip() and not ("-ov-" in product_code or "-ev-" in product_code):
        raise invalid("CompanyName", f"CompanyName is accepted only for OV and EV products, not {product_code}")


def parse_tags(params: Mapping[str, str]) -> list[dict[str, str]]:
    found: dict[int, dict[str, str]] = {}
    for name, value in params.items():
        match = _TAG_RE.fullmatch(name)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = value
    tags: list[dict[str, str]] = []
    for index in sorted(found):
        entry = found[index]
        if not entry.get("Key"):
            raise missing(f"Tags.{index}.Key")
        tag = {"Key": entry["Key"]}
        if "Value" in entry:
            tag["Value"] = entry["Value"]
        tags.append(tag)
    return tags


def int_param(params: Mapping[str, str], name: str, *, required: bool = False,
              default: int | None = None, minimum: int | None = None) -> int | None:
    raw = params.get(name, "")
    if raw == "":
        if required:
            raise missing(name)
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise invalid(name, f"{raw!r} is not an integer") from exc
    if minimum is not None and value < minimum:
        raise invalid(name, f"must be >= {minimum}")
    return value


def paging(params: Mapping[str, str], *, default_size: int, max_size: int | None = None) -> tuple[int, int]:
    """``CurrentPage`` (default 1) and ``ShowSize`` (``default_size``); a size above ``max_size`` is refused,
    not clamped (whether CAS clamps it instead is UNCONFIRMED)."""
    page = int_param(params, "CurrentPage", default=1, minimum=1)
    size = int_param(params, "ShowSize", default=default_size, minimum=1)
    assert page is not None and size is not None  # both have defaults
    if max_size is not None and size > max_size:
        raise invalid("ShowSize", f"must be <= {max_size}")
    return page, size
