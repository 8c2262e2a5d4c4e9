"""Certificates for issued orders, signed by a throwaway CA, so that clients can exercise downloads.

Nothing here is trusted anywhere: the CA key is generated on first use and lives only in memory.
When the order came with a CSR the certificate binds the CSR's key (the client holds the private
key, so none is returned); otherwise a fresh key is generated and returned with the certificate.
V2 instances' certificates (GetUserCertificateDetail, ``instance_actions``) come from the same CA.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import TYPE_CHECKING, Any, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .protocol import DEFAULT_PRODUCT_CODE
from .validation import inspect_csr

if TYPE_CHECKING:
    from .state import EmulatedOrder


class CertificateIssuer:
    """Mints the certificate of an order; not thread-safe on its own (the account lock covers it)."""

    def __init__(self) -> None:
        self._ca: tuple[ec.EllipticCurvePrivateKey, x509.Name] | None = None
        self._next_cert_id = 14_000_000 + secrets.randbelow(1_000_000)

    def _authority(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Name]:
        if self._ca is None:
            ca_key = ec.generate_private_key(ec.SECP256R1())
            ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CAS Emulator Test CA")])
            self._ca = (ca_key, ca_name)
        return self._ca

    def issue(self, order: EmulatedOrder, now: float) -> None:
        """Mint a short-lived certificate for ``order`` (valid from ``now``) and store it on the order."""
        start = dt.datetime.fromtimestamp(now, tz=dt.timezone.utc).replace(microsecond=0)
        end = start + dt.timedelta(days=90 if order.product_code == DEFAULT_PRODUCT_CODE else 365)
        order.certificate_pem, order.private_key_pem = self.mint(order.domains, order.csr, start, end)
        order.cert_id = self._next_cert_id
        self._next_cert_id += 1
        order.cert_start_ms = int(start.timestamp() * 1000)
        order.cert_end_ms = int(end.timestamp() * 1000)

    def mint(self, names: list[str], csr_pem: str | None, start: dt.datetime, end: dt.datetime
             ) -> tuple[str, str | None]:
        """A certificate for ``names`` valid from ``start`` to ``end``: (certificate PEM, private key PEM). With a
        CSR the certificate binds the CSR's key and no key is returned; without one a fresh key is made and
        returned, as CAS returns the key it generated. V1 orders and V2 instances are both minted here."""
        ca_key, ca_name = self._authority()
        private_pem: str | None = None
        if csr_pem:
            _, _, csr = inspect_csr(csr_pem)
            public_key = csr.public_key()
        else:
            leaf_key = ec.generate_private_key(ec.SECP256R1())
            public_key = leaf_key.public_key()
            private_pem = leaf_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode("ascii")
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name)
            .public_key(cast(Any, public_key))
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in names]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode("ascii"), private_pem
