"""The public facts of an issued certificate's PEM, read with ``cryptography`` (imported on first use).

CAS answers an issued order with the certificate text, and on V1.0 with the private key in a field beside it.
What leaves a backend is only what the follower needs: the names the certificate binds, its validity, and the
certificate blocks themselves. ``certificate_blocks`` keeps the ``CERTIFICATE`` blocks of a text and nothing
else, so that a key pasted into the same field (a bundle, a console export) never travels on; a text that
cannot be read yields what could be read, never an exception, because the order is issued whatever its PEM.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]*?-----END CERTIFICATE-----")
#: Longer answers than this are not parsed (a chain is a few kilobytes).
MAX_PEM_CHARS = 65536


@dataclass(frozen=True)
class PemFacts:
    """What the leaf (the first certificate of the chain) says of itself."""

    domains: tuple[str, ...]
    #: Validity, epoch seconds.
    not_before: float
    not_after: float


def certificate_blocks(text: str | None) -> str | None:
    """Only the ``CERTIFICATE`` blocks of ``text``, one per line group; ``None`` when it holds none."""
    if not text or len(text) > MAX_PEM_CHARS:
        return None
    blocks = _CERTIFICATE.findall(text)
    return "\n".join(blocks) + "\n" if blocks else None


def read_certificate(pem: str | None) -> PemFacts | None:
    """The leaf's DNS subjectAltNames (its CN when it has none) and validity; ``None`` when it cannot be read."""
    blocks = certificate_blocks(pem)
    if blocks is None:
        return None
    from cryptography import x509

    try:
        leaf = x509.load_pem_x509_certificate(_CERTIFICATE.findall(blocks)[0].encode("ascii"))
        return PemFacts(_names(leaf), _epoch(leaf, "not_valid_before"), _epoch(leaf, "not_valid_after"))
    except Exception:  # a damaged block, an unsupported extension: the order is issued all the same
        return None


def _names(leaf: Any) -> tuple[str, ...]:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n) for n in sans.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        names = []
    if not names:
        names = [str(a.value) for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return tuple(dict.fromkeys(names))


def _epoch(leaf: Any, name: str) -> float:
    """``not_valid_before``/``after`` as epoch seconds: the aware ``_utc`` properties (cryptography >= 42), else
    the older naive ones, which are UTC."""
    aware = getattr(leaf, f"{name}_utc", None)
    if isinstance(aware, dt.datetime):
        return aware.timestamp()
    naive: dt.datetime = getattr(leaf, name)
    return naive.replace(tzinfo=dt.timezone.utc).timestamp()
