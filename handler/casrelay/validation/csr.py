"""CSR inspection with ``cryptography``, imported only when an order carries a CSR.

The API document requires an RSA key of at least 2048 bits or an ECC key, and takes the CSR's CN as
the bound name. A CSR that also carries a subjectAltName extension binds those names too, so every
SAN must be a DNS name that passes the same host-name rules as ``Domain`` (an IP address, e-mail
address or URI SAN is refused). The names the certificate binds are the CN and then the SANs, each
once. A CSR whose own signature does not verify was altered or mis-pasted, so it is refused before a
package is spent on it.

CSRs reach us mangled in predictable ways: newlines turned into spaces (the document's own example),
JSON-escaped ``\\n`` sequences, and ``+`` decoded to a space by a form or query parser. The body is
rebuilt from the base64 text, and the CSR is re-emitted as canonical PEM.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import FieldError
from .domains import MAX_DOMAINS, normalise_host

if TYPE_CHECKING:  # ``cryptography`` itself is imported only when an order carries a CSR
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

_PEM = re.compile(
    r"-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----(?P<body>.*?)-----END (?:NEW )?CERTIFICATE REQUEST-----",
    re.DOTALL,
)
MAX_CSR_CHARS = 16384
MIN_RSA_BITS = 2048
#: More subjectAltName entries than this cannot come down to the ``MAX_DOMAINS`` names an order may
#: bind; such a CSR is refused before each entry is checked.
MAX_SAN_ENTRIES = 64


#: What a SAN that is not a DNS name is, by the ``cryptography`` class name of its GeneralName.
_SAN_KINDS = {
    "IPAddress": "an IP address", "RFC822Name": "an e-mail address", "UniformResourceIdentifier": "a URI",
    "DirectoryName": "a directory name", "RegisteredID": "a registered ID", "OtherName": "an otherName",
}


@dataclass(frozen=True)
class CsrInfo:
    pem: str
    common_name: str  # normalised host name
    key_type: str  # "RSA-2048", "EC-secp256r1", ...
    public_key_sha256: str  # hex SHA-256 of the SubjectPublicKeyInfo, for the idempotency key
    #: The names the certificate binds: the CN, then the subjectAltName DNS names, each once (normalised).
    names: tuple[str, ...]


class _Refused(Exception):
    """A rule the CSR breaks that leaves nothing more worth checking: it is the only problem reported."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


def _der_candidates(body: str) -> list[bytes]:
    body = body.replace("\\n", "\n").replace("\\r", "")
    lines = [ln for ln in re.split(r"[\r\n\t]+", body) if ln.strip()]
    candidates = ["".join(ln.strip() for ln in lines).replace(" ", "")]
    if any(" " in ln for ln in lines):
        # A space inside a base64 line is either a line break that became a space or a '+' that a
        # URL decoder turned into one; try the second reading when the first does not decode. Real
        # line breaks stay line breaks, and a space at either end of a line may be a '+' as well.
        candidates.append("".join(ln.replace(" ", "+") for ln in lines))
        candidates.append("".join(ln.strip().replace(" ", "+") for ln in lines))
    out = []
    for text in dict.fromkeys(candidates):
        try:
            out.append(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            continue
    return out


def inspect_csr(value: str, field: str = "Csr") -> tuple[CsrInfo | None, list[FieldError]]:
    """The CSR's key and the names it binds, or every problem with them.

    A CSR that cannot be read, is altered, or has an unusable key or subject is refused for that one
    reason; a CSR that can be read is refused for each bad name it carries (its CN and its SANs).
    """
    try:
        csr = _load_csr(value)
        key, key_type = _public_key(csr)
        errors: list[FieldError] = []
        cn = _common_name(csr, field, errors)
        sans = _subject_alt_names(csr, field, errors)
    except _Refused as refused:
        return None, [FieldError(field, refused.code, refused.message)]
    if errors:
        return None, errors
    assert cn is not None

    from cryptography.hazmat.primitives import serialization

    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pem = csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
    names = tuple(dict.fromkeys((cn, *sans)))
    return CsrInfo(pem, cn, key_type, hashlib.sha256(spki).hexdigest(), names), []


def _load_csr(value: str) -> x509.CertificateSigningRequest:
    """The certificate request in a PEM text, however mangled in transit, whose own signature verifies."""
    if len(value) > MAX_CSR_CHARS:
        raise _Refused("InvalidCsr.TooLong", f"is {len(value)} characters; at most {MAX_CSR_CHARS} are accepted")
    match = _PEM.search(value.replace("\\n", "\n"))
    if match is None:
        raise _Refused("InvalidCsr.Format", "is not a PEM CSR (-----BEGIN CERTIFICATE REQUEST----- ... END)")

    from cryptography import x509

    csr = None
    for der in _der_candidates(match.group("body")):
        try:
            csr = x509.load_der_x509_csr(der)
            break
        except (ValueError, x509.InvalidVersion):  # InvalidVersion: a version other than v1 (0)
            continue
    if csr is None:
        raise _Refused("InvalidCsr.Format", "does not decode as a DER certificate request")
    try:
        signature_ok = csr.is_signature_valid
    except Exception:  # an unsupported signature algorithm cannot be checked
        signature_ok = False
    if not signature_ok:
        raise _Refused("InvalidCsr.Signature", "has a signature that does not verify; was it altered?")
    return csr


def _public_key(csr: x509.CertificateSigningRequest) -> tuple[rsa.RSAPublicKey | ec.EllipticCurvePublicKey, str]:
    """The CSR's key and its type ("RSA-2048", "EC-secp256r1"): RSA of at least 2048 bits, or ECC."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        key = csr.public_key()
    except Exception:
        raise _Refused("InvalidCsr.KeyType", "has a public key that cannot be read; use an RSA or ECC key") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise _Refused("InvalidCsr.KeySize",
                           f"has a {key.key_size}-bit RSA key; at least {MIN_RSA_BITS} is needed")
        return key, f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key, f"EC-{key.curve.name}"
    raise _Refused("InvalidCsr.KeyType", "must use an RSA or an ECC key")


def _common_name(csr: x509.CertificateSigningRequest, field: str, errors: list[FieldError]) -> str | None:
    """The one CN, as a normalised host name; a CN that is not a valid one is added to ``errors``."""
    from cryptography.x509.oid import NameOID

    try:
        cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        raise _Refused("InvalidCsr.Subject", "has a subject that cannot be read") from None
    if len(cns) != 1:
        raise _Refused("InvalidCsr.CommonName", "must have exactly one CN, the name the certificate binds")
    raw_cn = cns[0].value
    cn_text = raw_cn if isinstance(raw_cn, str) else raw_cn.decode("utf-8", "replace")
    cn, err = normalise_host(cn_text, field)
    if err is not None:
        errors.append(FieldError(field, "InvalidCsr.CommonName", f"CN {err.message}"))
    return cn


def _subject_alt_names(csr: x509.CertificateSigningRequest, field: str, errors: list[FieldError]) -> list[str]:
    """The subjectAltName DNS names, normalised; each SAN that is not a valid DNS name is added to ``errors``."""
    from cryptography import x509

    try:
        general_names = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        general_names = []  # a CSR without SANs binds its CN only
    except Exception:  # a malformed or duplicated extension, an unsupported GeneralName
        raise _Refused("InvalidCsr.SubjectAlternativeName",
                       "has a subjectAltName extension that cannot be read") from None
    if len(general_names) > MAX_SAN_ENTRIES:
        raise _Refused("InvalidCsr.SubjectAlternativeName",
                       f"has {len(general_names)} subjectAltNames; at most {MAX_SAN_ENTRIES} are read, and a "
                       f"certificate here binds at most {MAX_DOMAINS} names")
    sans: list[str] = []
    for number, general_name in enumerate(general_names, 1):
        if not isinstance(general_name, x509.DNSName):
            kind = _SAN_KINDS.get(type(general_name).__name__, "not a DNS name")
            errors.append(FieldError(field, "InvalidCsr.SubjectAlternativeName",
                                     f"SAN {number} is {kind}; only DNS names can be certified here"))
            continue
        san, err = normalise_host(general_name.value, field)
        if err is not None:
            errors.append(FieldError(field, "InvalidCsr.SubjectAlternativeName", f"SAN {number} {err.message}"))
            continue
        assert san is not None
        sans.append(san)
    return sans
