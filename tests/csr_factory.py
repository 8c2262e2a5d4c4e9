"""Build PEM certificate signing requests for tests, with ``cryptography``.

    make_csr("www.example.com")                      # RSA-2048, CN=www.example.com
    make_csr("www.example.com", "ec256", sans=["www.example.com", "example.com"])
    make_csr("www.example.com", other_sans=[x509.IPAddress(ipaddress.ip_address("192.0.2.1"))])
    make_csr(None, "rsa2048")                        # a subject with no CN
    make_csr("www.example.com", tamper=True)         # parses, but its signature does not verify

Private keys are generated once per key kind and cached for the whole test session (RSA and DSA key
generation is slow), so every CSR of one kind carries the same public key. RSA (PKCS#1 v1.5) and
Ed25519 signatures are deterministic, so the same arguments give the same PEM; ECDSA and DSA ones
are not. ``der_of`` and ``pem_of`` convert between the two encodings, and ``body_lines`` returns the
base64 lines between the PEM armour, for tests that mangle a CSR the way transports do.
"""

from __future__ import annotations

import base64
import textwrap
from collections.abc import Sequence
from functools import cache
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import NameOID

KeyKind = Literal["rsa2048", "rsa1024", "ec256", "ed25519", "dsa2048"]
KEY_KINDS: tuple[KeyKind, ...] = ("rsa2048", "rsa1024", "ec256", "ed25519", "dsa2048")

BEGIN = "-----BEGIN CERTIFICATE REQUEST-----"
END = "-----END CERTIFICATE REQUEST-----"
#: Every subject carries this O attribute; ``tamper=True`` alters one byte of it.
ORGANIZATION = "casrelay tests"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | dsa.DSAPrivateKey


@cache
def private_key(kind: KeyKind = "rsa2048") -> PrivateKey:
    """The cached private key of one kind (generated on first use)."""
    if kind == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "rsa1024":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the weak key is the point)
    if kind == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "dsa2048":
        return dsa.generate_private_key(key_size=2048)
    raise ValueError(f"unknown key kind {kind!r}; use one of {', '.join(KEY_KINDS)}")


def der_of(pem: str) -> bytes:
    """The DER bytes of a PEM CSR."""
    return x509.load_pem_x509_csr(pem.encode("ascii")).public_bytes(serialization.Encoding.DER)


def pem_of(der: bytes) -> str:
    """Wrap DER bytes as a PEM CSR (64-character lines), without parsing them."""
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    return f"{BEGIN}\n{body}\n{END}\n"


def body_lines(pem: str) -> list[str]:
    """The base64 lines between the BEGIN and END lines."""
    lines = pem.strip().splitlines()
    assert lines[0] == BEGIN and lines[-1] == END, "not a PEM CSR"
    return lines[1:-1]


def _tampered(pem: str) -> str:
    der = bytearray(der_of(pem))
    at = bytes(der).find(ORGANIZATION.encode("ascii"))
    assert at > 0, "the O attribute is missing from the DER"
    der[at] ^= 0x01  # 'c' -> 'b': still a valid UTF8String, so the CSR still parses
    out = pem_of(bytes(der))
    csr = x509.load_pem_x509_csr(out.encode("ascii"))  # it must still parse ...
    assert not csr.is_signature_valid  # ... and only its signature must be wrong
    return out


def make_csr(
    cn: str | None = "www.example.com",
    key: KeyKind = "rsa2048",
    sans: Sequence[str] = (),
    tamper: bool = False,
    other_sans: Sequence[x509.GeneralName] = (),
) -> str:
    """A canonical PEM CSR (``\\n`` line ends) for ``cn`` signed with the cached ``key``.

    ``cn=None`` leaves the CN out of the subject. ``sans`` adds a subjectAltName extension with those
    DNS names, and ``other_sans`` appends other GeneralName values (IP addresses, e-mail addresses,
    URIs) after them. ``tamper=True`` flips one bit inside the signed CertificationRequestInfo, so
    the result still parses but its signature does not verify.
    """
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)]
    if cn is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    if sans or other_sans:
        general_names = [*(x509.DNSName(s) for s in sans), *other_sans]
        builder = builder.add_extension(x509.SubjectAlternativeName(general_names), critical=False)
    pk = private_key(key)
    algorithm = None if isinstance(pk, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    pem = builder.sign(pk, algorithm).public_bytes(serialization.Encoding.PEM).decode("ascii")
    return _tampered(pem) if tamper else pem
