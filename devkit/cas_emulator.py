"""A loopback double of the CAS (SSL Certificates Service, API 2020-04-07) RPC endpoint.

Tests and local runs point the real SDK at it (``Config(endpoint=emu.endpoint,
protocol=emu.protocol)``) so that everything below our code is exercised for real:
the SDK's V3 signing, URL encoding of ``Csr``/``Tags``, its exception mapping,
its timeouts and, with ``tls=True``, its TLS stack against a test CA. Only the
service behind the gateway is simulated: package quotas, orders, the product
rules, the 10 QPS flow control, the delay before a new order shows up in
ListUserCertificateOrder, and faults (errors, latency, lost or broken responses,
failed TLS handshakes) that are impossible to provoke on demand against the real
service but decide whether a client's retry logic double-orders. Every fault can
be aimed at the calls for one domain name, so that a seeded run injects the same
faults whatever the thread timing.

The emulator is meant as an independent oracle: it imports nothing from the
handler, and checks what CAS documents (section 1 of
shared/reference/cas-api-and-signing.md) by itself. Behaviour the public
documentation leaves open (HTTP status per code, what a cancelled order looks
like, DNS record naming) is a documented guess; see the constants and docstrings
below, where such guesses say UNCONFIRMED.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as dt
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from devkit import acs3
from devkit.loopback import DispatchingHandler, LoopbackHTTPServer, LoopbackServer

API_VERSION = "2020-04-07"
HOST_ID = "cas.aliyuncs.com"

# Demo credentials: public by design, printed by the CLI, never valid anywhere else.
DEMO_ACCESS_KEY_ID = "LTAI-emulator-demo"
DEMO_ACCESS_KEY_SECRET = "emulator-demo-secret"  # noqa: S105 - public demo value
DEMO_STS_ACCESS_KEY_ID = "STS.emulator-demo"
DEMO_STS_ACCESS_KEY_SECRET = "emulator-demo-sts-secret"  # noqa: S105 - public demo value
DEMO_SECURITY_TOKEN = "emulator-demo-security-token"  # noqa: S105 - public demo value

DEFAULT_PRODUCT_CODE = "digicert-free-1-free"
PRODUCT_CODES: tuple[str, ...] = (
    "digicert-free-1-free",
    "symantec-free-1-free",
    "symantec-dv-1-starter",
    "symantec-ov-1-personal",
    "symantec-ov-w-personal",
    "geotrust-dv-1-starter",
    "geotrust-dv-w-starter",
    "geotrust-ov-1-personal",
    "geotrust-ov-w-personal",
    "globalsign-dv-1-personal",
    "globalsign-dv-w-advanced",
    "globalsign-ov-1-personal",
    "globalsign-ov-w-advanced",
    "cfca-ov-1-personal",
    "cfca-ev-w-advanced",
)
DEFAULT_QUOTA = 1000
DEFAULT_QPS = 10
FIRST_ORDER_ID = 98987582437920968  # > 2**53 on purpose: catches clients that round-trip ids through floats
DEFAULT_SHOW_SIZE = 50
MAX_BODY_BYTES = 1 << 20

ACTION_CREATE = "CreateCertificateForPackageRequest"
ACTION_PACKAGE_STATE = "DescribePackageState"
ACTION_CERT_STATE = "DescribeCertificateState"
ACTION_LIST_ORDERS = "ListUserCertificateOrder"
ACTION_CANCEL = "CancelCertificateForPackageRequest"
SUPPORTED_ACTIONS: frozenset[str] = frozenset(
    {ACTION_CREATE, ACTION_PACKAGE_STATE, ACTION_CERT_STATE, ACTION_LIST_ORDERS, ACTION_CANCEL}
)

THROTTLING_CODE = "Throttling.User"
THROTTLING_MESSAGE = "Request was denied due to user flow control."
SERVICE_UNAVAILABLE_MESSAGE = "The request has failed due to a temporary failure of the server."

#: The order statuses ListUserCertificateOrder documents (its ``Status`` filter); an order never has another.
DOCUMENTED_STATUSES: tuple[str, ...] = (
    "PAYED", "CHECKING", "CHECKED_FAIL", "ISSUED", "WILLEXPIRED", "EXPIRED", "NOTACTIVATED", "REVOKED",
)
#: Status a freshly created order gets. The brief asks for PAYED; the real
#: console may show CHECKING while domain validation is pending (UNCONFIRMED).
INITIAL_ORDER_STATUS = "PAYED"
#: Pending orders: CancelCertificateForPackageRequest cancels them and returns their quota unit.
REFUNDABLE_STATUSES = frozenset({"PAYED", "CHECKING", "CHECKED_FAIL"})
#: Orders in these states are revoked (no refund) by CancelCertificateForPackageRequest.
REVOCABLE_STATUSES = frozenset({"ISSUED", "WILLEXPIRED"})
#: ``Type`` of DescribeCertificateState per order status; anything else is ``unknow`` (SDK spelling).
STATE_TYPE_BY_STATUS: Mapping[str, str] = {
    "PAYED": "domain_verify",
    "CHECKING": "process",
    "CHECKED_FAIL": "verify_fail",
    "ISSUED": "certificate",
    "WILLEXPIRED": "certificate",
}
ORDER_TYPES = frozenset({"CPACK", "BUY", "UPLOAD", "CERT"})

# Outcomes recorded besides "ok" and error codes.
OUTCOME_OK = "ok"
OUTCOME_DROPPED = "dropped_before_commit"
OUTCOME_CLOSED_AFTER_COMMIT = "closed_after_commit"
OUTCOME_DELAYED_AFTER_COMMIT = "delayed_after_commit"
OUTCOME_ERROR_AFTER_COMMIT = "error_after_commit"
OUTCOME_TLS_ERROR_AFTER_COMMIT = "tls_error_after_commit"

#: How ``tls_error_after_commit`` breaks the stream once the order is committed.
TLS_BREAK_GARBAGE = "garbage"  # plaintext bytes on the TLS stream: the client's TLS layer fails to parse them
TLS_BREAK_CLOSE = "close"  # the TCP connection is closed without an answer and without close_notify
TLS_BREAK_RESET = "reset"  # the TCP connection is reset (RST) without an answer
TLS_BREAK_MODES = (TLS_BREAK_GARBAGE, TLS_BREAK_CLOSE, TLS_BREAK_RESET)
#: How ``fail_tls_handshakes`` makes a handshake fail.
HANDSHAKE_UNTRUSTED = "untrusted"  # the server presents a certificate from a CA the client does not trust
HANDSHAKE_GARBAGE = "garbage"  # the server answers the ClientHello with bytes that are not TLS
HANDSHAKE_MODES = (HANDSHAKE_UNTRUSTED, HANDSHAKE_GARBAGE)
#: What the stream-breaking faults write: a plaintext HTTP answer, which on a TLS stream is not a TLS record.
GARBAGE_BYTES = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nnot TLS data"
HANDSHAKE_TIMEOUT_S = 10.0
#: The names the HTTPS mode's server certificate is issued for.
TLS_SERVER_NAMES = ("127.0.0.1", "localhost", "::1")

_TAG_RE = re.compile(r"Tags\.(\d+)\.(Key|Value)")
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)


# --------------------------------------------------------------------------- public records


@dataclass
class Order:
    """A stored order. ``params`` is every business parameter exactly as decoded from the wire."""

    order_id: int
    instance_id: str
    domain: str
    domains: list[str]
    product_code: str
    validate_type: str
    tags: list[dict[str, str]]
    status: str
    params: dict[str, str]
    access_key_id: str
    request_id: str
    created_ms: int
    key_algorithm: str
    csr: str | None
    validation_token: str
    #: Cancelled while pending (quota returned). Not a status: CAS documents none for it, and the order is
    #: no longer listed; ``orders()`` still returns it so that tests can tell it apart.
    cancelled: bool = False
    cert_id: int | None = None
    cert_start_ms: int | None = None
    cert_end_ms: int | None = None
    certificate_pem: str | None = None
    private_key_pem: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PackageState:
    product_code: str
    total: int
    used: int
    issued: int

    @property
    def remaining(self) -> int:
        return max(self.total - self.used, 0)


@dataclass(frozen=True)
class RequestRecord:
    """One request as the emulator saw it; security tokens are redacted from ``headers``."""

    seq: int
    received_at: float
    action: str
    access_key_id: str | None
    outcome: str
    http_status: int | None
    request_id: str
    params: dict[str, str]
    headers: dict[str, str]


class ApiError(Exception):
    """An error answered with the standard gateway error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


# --------------------------------------------------------------------------- internals


@dataclass
class _Package:
    total: int
    used: int = 0


@dataclass
class _InjectedError:
    remaining: int
    status: int
    code: str
    message: str
    domain: str | None = None


@dataclass(frozen=True)
class _ErrorReply:
    status: int
    code: str
    message: str
    headers: tuple[tuple[str, str], ...] = ()
    #: Sent verbatim (as text/html) instead of the gateway's JSON error body, like a load balancer's page.
    raw_body: str | None = None


@dataclass
class _AfterCommit:
    remaining: int
    delay_seconds: float | None  # None (and no error/tls): close the connection without answering
    #: Answer this error instead of the result (the order stays committed): CAS's InternalError case.
    error: _ErrorReply | None = None
    #: Break the stream this way (one of TLS_BREAK_MODES) instead of answering.
    tls: str | None = None
    domain: str | None = None


@dataclass
class _Drop:
    remaining: int
    domain: str | None = None


@dataclass(frozen=True)
class _Call:
    access_key_id: str
    request_id: str
    now_ms: int


_ANY_ACTION = "*"
_FaultT = TypeVar("_FaultT", _InjectedError, _AfterCommit, _Drop)


def _norm_name(name: str) -> str:
    return name.strip().lower().rstrip(".")


class _CallNames:
    """The names one call is about, worked out only if a targeted fault asks: the ``Domain`` list, the
    CSR's CN and DNS SANs, and ``Keyword`` (so that ListUserCertificateOrder can be targeted too)."""

    def __init__(self, params: Mapping[str, str]) -> None:
        self._params = params
        self._names: frozenset[str] | None = None

    def _compute(self) -> frozenset[str]:
        names = {_norm_name(n) for n in (self._params.get("Domain") or "").split(",") if n.strip()}
        keyword = self._params.get("Keyword") or ""
        if keyword.strip():
            names.add(_norm_name(keyword))
        csr = self._params.get("Csr") or ""
        if csr:
            with contextlib.suppress(ValueError, ApiError):
                names.update(_norm_name(n) for n in _csr_names(x509.load_pem_x509_csr(csr.encode("utf-8"))))
        return frozenset(names)

    def __contains__(self, name: object) -> bool:
        if self._names is None:
            self._names = self._compute()
        return isinstance(name, str) and _norm_name(name) in self._names


def _targets(domain: str | None, names: _CallNames) -> bool:
    return domain is None or domain in names


def _drop_targeted(table: Mapping[str, list[_FaultT]], name: str) -> None:
    for entries in table.values():
        entries[:] = [e for e in entries if e.domain is None or _norm_name(e.domain) != name]


def _new_request_id() -> str:
    return str(uuid.uuid4()).upper()


def _missing(name: str) -> ApiError:
    return ApiError(400, "MissingParameter",
                    f'The input parameter "{name}" that is mandatory for processing this request is not supplied.')


def _invalid(name: str, detail: str) -> ApiError:
    return ApiError(400, f"InvalidParameter.{name}", f"The specified parameter {name} is not valid: {detail}")


def _validate_domain(name: str) -> str:
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
        raise _invalid("Domain", f"{candidate!r} is not a domain name")
    return candidate


def _check_name_set(names: list[str]) -> list[str]:
    if not names:
        raise _missing("Domain")
    if len(names) > 5:
        raise _invalid("Domain", "at most 5 domain names may be given")
    wildcard = {n.startswith("*.") for n in names}
    if len(wildcard) > 1:
        raise _invalid("Domain", "single and wildcard domain names cannot be mixed")
    return names


def _parse_domains(value: str) -> list[str]:
    return _check_name_set([_validate_domain(part) for part in value.split(",") if part.strip()])


def _csr_names(csr: x509.CertificateSigningRequest) -> list[str]:
    """The names a CSR asks for: its CN first, then its DNS SubjectAlternativeNames, de-duplicated
    (case-insensitively, first spelling kept; other SAN types are ignored). Raises
    ApiError(InvalidParameter.Csr) without a CN."""
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cns:
        raise _invalid("Csr", "the CSR subject has no CN")
    raw_cn = cns[0].value
    names = [raw_cn.decode("utf-8") if isinstance(raw_cn, bytes) else raw_cn]
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names.extend(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        pass
    except ValueError as exc:  # a malformed extension
        raise _invalid("Csr", "the CSR's extensions cannot be parsed") from exc
    seen: dict[str, str] = {}
    for name in names:
        # An absolute name (one trailing dot) is taken as the same name; how CAS treats it is UNCONFIRMED.
        bare = name.strip()
        bare = bare[:-1] if bare.endswith(".") and not bare.endswith("..") else bare
        seen.setdefault(bare.lower(), bare)
    return list(seen.values())


def _inspect_csr(pem: str) -> tuple[list[str], str, x509.CertificateSigningRequest]:
    """Return (bound names, key algorithm, parsed CSR), enforcing the documented key rules.

    The bound names are the CN and the CSR's DNS SANs, CN first, de-duplicated; each must be a valid
    host name and together they follow the same rules as ``Domain`` (at most 5, no mix).
    """
    try:
        csr = x509.load_pem_x509_csr(pem.encode("utf-8"))
    except ValueError as exc:
        raise _invalid("Csr", "not a PEM certificate signing request") from exc
    if not csr.is_signature_valid:
        raise _invalid("Csr", "the CSR signature does not verify")
    names = _csr_names(csr)
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise _invalid("Csr", f"RSA keys must be at least 2048 bits (got {key.key_size})")
        algorithm = "RSA"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        algorithm = "ECC"
    else:
        raise _invalid("Csr", "only RSA and ECC keys are accepted")
    return _check_name_set([_validate_domain(n) for n in names]), algorithm, csr


def _check_product_rules(product_code: str, domains: list[str], params: Mapping[str, str]) -> None:
    """What the product code says about the names and the company, as CAS's product list describes it
    (section 1 of the reference): ``-free-`` products bind exactly one name, ``-w-`` products take
    wildcards only, ``-1-`` products single names only, and ``CompanyName`` is for OV/EV products only."""
    wildcards = [d for d in domains if d.startswith("*.")]
    if "-free-" in product_code and len(domains) != 1:
        raise _invalid("Domain", f"a free product ({product_code}) binds exactly one name, not {len(domains)}")
    if "-w-" in product_code and len(wildcards) != len(domains):
        raise _invalid("Domain", f"a wildcard product ({product_code}) takes wildcard names only")
    if "-1-" in product_code and wildcards:
        raise _invalid("Domain", f"a single-name product ({product_code}) takes no wildcard names")
    if (params.get("CompanyName") or "").strip() and not ("-ov-" in product_code or "-ev-" in product_code):
        raise _invalid("CompanyName", f"CompanyName is accepted only for OV and EV products, not {product_code}")


def _parse_tags(params: Mapping[str, str]) -> list[dict[str, str]]:
    found: dict[int, dict[str, str]] = {}
    for name, value in params.items():
        match = _TAG_RE.fullmatch(name)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = value
    tags: list[dict[str, str]] = []
    for index in sorted(found):
        entry = found[index]
        if not entry.get("Key"):
            raise _missing(f"Tags.{index}.Key")
        tag = {"Key": entry["Key"]}
        if "Value" in entry:
            tag["Value"] = entry["Value"]
        tags.append(tag)
    return tags


def _int_param(params: Mapping[str, str], name: str, *, required: bool = False,
               default: int | None = None, minimum: int | None = None) -> int | None:
    raw = params.get(name, "")
    if raw == "":
        if required:
            raise _missing(name)
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise _invalid(name, f"{raw!r} is not an integer") from exc
    if minimum is not None and value < minimum:
        raise _invalid(name, f"must be >= {minimum}")
    return value


def _cert_type(product_code: str) -> str:
    if "free" in product_code:
        return "FREE"
    for kind in ("ev", "ov", "dv"):
        if f"-{kind}-" in product_code:
            return kind.upper()
    return "DV"


def _root_brand(product_code: str) -> str:
    brands = {"digicert": "DigiCert", "symantec": "DigiCert", "geotrust": "GeoTrust",
              "globalsign": "GlobalSign", "cfca": "CFCA"}
    return brands.get(product_code.split("-", 1)[0], product_code.split("-", 1)[0])


def _domain_type(domains: list[str]) -> str:
    wildcard = domains[0].startswith("*.")
    if len(domains) == 1:
        return "WILDCARD" if wildcard else "ONE"
    return "M_WILDCARD" if wildcard else "MULTIPLE"


def _redact_headers(items: list[tuple[str, str]]) -> dict[str, str]:
    folded = acs3.fold_headers(items)
    if "x-acs-security-token" in folded:
        folded["x-acs-security-token"] = "<redacted>"
    return folded


class _RateLimiter:
    """Sliding one-second window per (access key, action); only admitted calls use up the window."""

    def __init__(self, qps: int | None) -> None:
        self.qps = qps
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], deque[float]] = {}

    def admit(self, access_key_id: str, action: str, now: float) -> bool:
        if not self.qps:
            return True
        with self._lock:
            window = self._windows.setdefault((access_key_id, action), deque())
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= self.qps:
                return False
            window.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


class _Handler(DispatchingHandler):
    protocol_version = "HTTP/1.1"  # the SDK pools keep-alive connections; so do we
    server_version = "CasEmulator/1.0"
    timeout = 60  # drop idle keep-alive connections eventually
    tcp_nodelay = True  # "11 calls in one second" must not depend on Nagle's algorithm

    @property
    def emulator(self) -> CasEmulator:
        return cast(CasEmulator, self.loopback)

    def setup(self) -> None:
        # In HTTPS mode the handshake runs here, in the request thread (the listening socket defers it),
        # so that an injected or genuine handshake failure ends this connection only.
        self.tls_failed = False
        if isinstance(self.request, ssl.SSLSocket):
            self.tls_failed = not self.emulator._handshake(self.request)
        super().setup()

    def handle(self) -> None:
        if self.tls_failed:
            return
        with contextlib.suppress(ConnectionError, TimeoutError, ssl.SSLError):
            super().handle()

    def handle_one_request(self) -> None:
        # Idle while waiting for the next request line: ``close_idle_connections`` may cut it then. A
        # kept-alive connection that comes back to idle while a handshake fault is queued closes itself,
        # so that the client's next call needs a new connection (and with it a handshake).
        served = getattr(self, "served", 0)
        if not self.emulator._set_idle(self.connection, idle=True, kept_alive=served > 0):
            self.close_connection = True
            _raw_shutdown(self.connection)
            return
        try:
            super().handle_one_request()  # parse_request marks the connection busy, the answer idle again
        finally:
            self.served = served + 1

    def parse_request(self) -> bool:
        self.emulator._set_idle(self.connection, idle=False)
        return super().parse_request()

    def finish(self) -> None:
        self.emulator._set_idle(self.connection, idle=False)
        with contextlib.suppress(OSError):
            super().finish()


def _raw_shutdown(conn: socket.socket, how: int = socket.SHUT_RDWR) -> None:
    """Shut the TCP connection down under any TLS layer (``SSLSocket.shutdown`` would also drop its state)."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(conn, how)


def _break_stream(conn: socket.socket, mode: str) -> None:
    """End a connection without a proper answer: bytes that are not TLS, a silent close, or a reset."""
    if mode == TLS_BREAK_GARBAGE:
        with contextlib.suppress(OSError):
            socket.socket.sendall(conn, GARBAGE_BYTES)
        _raw_shutdown(conn)
    elif mode == TLS_BREAK_RESET:
        # SO_LINGER 0 makes close() send RST. Detach first: the handler's file objects would otherwise
        # defer the close, and the server's own shutdown(SHUT_WR) would send a FIN before it.
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            os.close(conn.detach())
    else:
        _raw_shutdown(conn)


class _TlsMaterial:
    """A throwaway test CA (trustme), a server certificate for loopback, and a CA file for clients."""

    def __init__(self) -> None:
        import trustme

        self.ca = trustme.CA(organization_name="CAS emulator test CA")
        self.server_cert = self.ca.issue_cert(*TLS_SERVER_NAMES)
        self.directory = tempfile.mkdtemp(prefix="cas-emulator-tls-")
        self.ca_file = os.path.join(self.directory, "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        self._untrusted: ssl.SSLContext | None = None
        weakref.finalize(self, shutil.rmtree, self.directory, True)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(context)
        return context

    def untrusted_context(self) -> ssl.SSLContext:
        """A server context whose certificate chains to another CA: every client handshake fails."""
        if self._untrusted is None:
            import trustme

            other = trustme.CA(organization_name="not the CAS emulator test CA")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            other.issue_cert(*TLS_SERVER_NAMES).configure_cert(context)
            self._untrusted = context
        return self._untrusted


# --------------------------------------------------------------------------- the emulator


class CasEmulator(LoopbackServer):
    """In-process CAS endpoint; start it, hand ``endpoint`` to the SDK, inspect state afterwards.

    All public methods are thread-safe and may be called while requests are in flight.
    """

    name = "cas-emulator"
    handler_class = _Handler
    not_running_message = "CasEmulator is not running; call start() first"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_keys: Mapping[str, str] | None = None,
        sts_keys: Mapping[str, tuple[str, str]] | None = None,
        quotas: Mapping[str, int] | None = None,
        qps: int | None = DEFAULT_QPS,
        throttle_retry_after_ms: int | None = None,
        initial_order_status: str = INITIAL_ORDER_STATUS,
        list_lag_seconds: float = 0.0,
        tls: bool = False,
        clock: Callable[[], float] = time.time,
        verbose: bool = False,
    ) -> None:
        """
        ``access_keys`` maps id -> secret, ``sts_keys`` maps id -> (secret, security token);
        both default to the demo keys. ``quotas`` maps product code -> TotalCount and
        defaults to DEFAULT_QUOTA for every documented product; a product missing from
        it has no package (NotFoundPackage). ``qps`` of None or 0 disables flow control.
        ``throttle_retry_after_ms`` adds ``x-acs-retry-after`` to Throttling answers,
        which turns them into the SDK's ThrottlingException. ``list_lag_seconds`` is how
        long after its creation an order first shows up in ListUserCertificateOrder,
        measured on ``clock`` (the real service's search index lags behind; its lag is
        UNCONFIRMED). ``tls=True`` serves HTTPS with a server certificate for
        127.0.0.1/localhost from a throwaway CA whose PEM is at ``ca_file``. ``clock`` is
        the wall clock used for x-acs-date checks, timestamps and the list lag (flow
        control uses a monotonic clock).
        """
        super().__init__(host=host, port=port, verbose=verbose)
        if initial_order_status not in DOCUMENTED_STATUSES:
            raise ValueError(f"{initial_order_status!r} is not a documented status: {DOCUMENTED_STATUSES}")
        self._clock = clock
        self._throttle_retry_after_ms = throttle_retry_after_ms
        self._initial_status = initial_order_status
        self._list_lag_s = float(list_lag_seconds)
        self._tls = _TlsMaterial() if tls else None

        keys = {DEMO_ACCESS_KEY_ID: DEMO_ACCESS_KEY_SECRET} if access_keys is None else dict(access_keys)
        sts = {DEMO_STS_ACCESS_KEY_ID: (DEMO_STS_ACCESS_KEY_SECRET, DEMO_SECURITY_TOKEN)} \
            if sts_keys is None else dict(sts_keys)
        self._credentials: dict[str, acs3.Credential] = {k: acs3.Credential(v) for k, v in keys.items()}
        self._credentials.update({k: acs3.Credential(s, t) for k, (s, t) in sts.items()})
        self._nonces = acs3.NonceStore()
        self._limiter = _RateLimiter(qps)

        self._lock = threading.RLock()
        initial = {code: DEFAULT_QUOTA for code in PRODUCT_CODES} if quotas is None else dict(quotas)
        self._packages: dict[str, _Package] = {code: _Package(total) for code, total in initial.items()}
        self._orders: dict[int, Order] = {}
        self._next_order_id = FIRST_ORDER_ID
        self._next_cert_id = 14_000_000 + secrets.randbelow(1_000_000)
        self._ca: tuple[ec.EllipticCurvePrivateKey, x509.Name] | None = None

        self._latency_ms: dict[tuple[str, str | None], float] = {}
        self._failures: dict[str, list[_InjectedError]] = {}
        self._after_commit: dict[str, list[_AfterCommit]] = {}
        self._drops: dict[str, list[_Drop]] = {}
        self._handshake_faults: list[str] = []
        self._handshakes: Counter[str] = Counter()
        self._idle: set[socket.socket] = set()
        self._answer_lock = threading.Lock()

        self._seq = 0
        self._records: deque[RequestRecord] = deque(maxlen=10_000)
        self._throttled: list[RequestRecord] = []
        self._counts: Counter[tuple[str, str]] = Counter()

        self._handlers: dict[str, Callable[[dict[str, str], _Call], dict[str, Any]]] = {
            ACTION_CREATE: self._create_order,
            ACTION_PACKAGE_STATE: self._describe_package_state,
            ACTION_CERT_STATE: self._describe_certificate_state,
            ACTION_LIST_ORDERS: self._list_orders,
            ACTION_CANCEL: self._cancel_order,
        }

    # ------------------------------------------------------------------ lifecycle (start/stop/port: LoopbackServer)

    def _make_server(self) -> LoopbackHTTPServer:
        server = super()._make_server()
        if self._tls is not None:
            server.socket = self._tls.server_context().wrap_socket(server.socket, server_side=True,
                                                                   do_handshake_on_connect=False)
        return server

    @property
    def endpoint(self) -> str:
        """``host:port`` for ``Config(endpoint=..., protocol=emu.protocol)``; the SDK rejects a scheme here."""
        return f"{self._host}:{self.port}"

    @property
    def protocol(self) -> str:
        """``https`` in TLS mode, else ``http``: the SDK's ``Config.protocol``."""
        return "https" if self._tls is not None else "http"

    @property
    def ca_file(self) -> str:
        """The PEM file of the test CA (TLS mode only): ``RuntimeOptions(ca=...)`` / ``CAS_CA_FILE``."""
        if self._tls is None:
            raise RuntimeError("the emulator serves plain HTTP; construct it with tls=True for a CA file")
        return self._tls.ca_file

    # ------------------------------------------------------------------ quotas

    def quota(self, product_code: str = DEFAULT_PRODUCT_CODE) -> PackageState:
        with self._lock:
            pkg = self._packages.get(product_code)
            total, used = (pkg.total, pkg.used) if pkg else (0, 0)
            return PackageState(product_code, total, used, self._issued_count(product_code))

    def quotas(self) -> dict[str, PackageState]:
        with self._lock:
            return {code: self.quota(code) for code in self._packages}

    def set_quota(self, product_code: str, total: int | None, *, used: int | None = None) -> None:
        """Set TotalCount (and optionally UsedCount); ``total=None`` removes the package entirely."""
        with self._lock:
            if total is None:
                self._packages.pop(product_code, None)
                return
            pkg = self._packages.setdefault(product_code, _Package(total))
            pkg.total = total
            if used is not None:
                pkg.used = used

    # ------------------------------------------------------------------ orders

    def orders(self) -> list[Order]:
        """Copies of all orders, oldest first, cancelled ones included (see ``Order.cancelled``)."""
        with self._lock:
            return [copy.deepcopy(o) for o in self._orders.values()]

    def paid_orders(self) -> list[Order]:
        """Copies of the orders that spent a package unit: every order not cancelled (revoked ones too)."""
        return [o for o in self.orders() if not o.cancelled]

    def get_order(self, order_id: int) -> Order:
        with self._lock:
            return copy.deepcopy(self._orders[order_id])

    def set_order_status(self, order_id: int, status: str) -> None:
        """Move an order along (e.g. to ISSUED, which also mints a certificate signed by a throwaway CA).

        Only the statuses CAS documents are accepted (``DOCUMENTED_STATUSES``)."""
        if status not in DOCUMENTED_STATUSES:
            raise ValueError(f"{status!r} is not a documented status: {DOCUMENTED_STATUSES}")
        with self._lock:
            order = self._orders[order_id]
            order.status = status
            if status in ("ISSUED", "WILLEXPIRED") and order.certificate_pem is None:
                self._issue(order)

    @property
    def list_lag_seconds(self) -> float:
        with self._lock:
            return self._list_lag_s

    def set_list_lag(self, seconds: float) -> None:
        """How long after its creation (on the emulator's clock) an order shows up in ListUserCertificateOrder."""
        with self._lock:
            self._list_lag_s = float(seconds)

    # ------------------------------------------------------------------ faults
    #
    # Every fault below takes ``domain``: the fault then hits only calls about that name (a name in
    # ``Domain``, the CSR's CN or SANs, or ``Keyword``), and calls about other names pass it by. That is
    # what lets a seeded run inject the same faults into the same orders whatever the thread timing.
    # Faults queue in order; a call takes the first one (action-specific before ``action=None``) it matches.

    def set_latency(self, milliseconds: float, action: str | None = None, *, domain: str | None = None) -> None:
        """Delay every matching request before processing; ``action=None`` means all; 0 clears."""
        with self._lock:
            key = (action or _ANY_ACTION, _norm_name(domain) if domain else None)
            if milliseconds > 0:
                self._latency_ms[key] = milliseconds
            else:
                self._latency_ms.pop(key, None)

    def fail_next(self, action: str | None, count: int = 1, *, status: int = 503,
                  code: str = "ServiceUnavailable", message: str = SERVICE_UNAVAILABLE_MESSAGE,
                  domain: str | None = None) -> None:
        """Answer the next ``count`` authenticated, admitted calls with this error and do nothing else."""
        with self._lock:
            self._failures.setdefault(action or _ANY_ACTION, []).append(
                _InjectedError(count, status, code, message, domain))

    def delay_after_commit(self, action: str | None = ACTION_CREATE, seconds: float = 2.0,
                           count: int = 1, *, domain: str | None = None) -> None:
        """Commit the next ``count`` successful calls but hold the response back ``seconds``.

        Use a delay above the client's read timeout to get "the order exists but the
        caller saw a timeout". Failed calls do not consume this fault.
        """
        self._queue_after_commit(action, _AfterCommit(count, seconds, domain=domain))

    def close_after_commit(self, action: str | None = ACTION_CREATE, count: int = 1, *,
                           domain: str | None = None) -> None:
        """Commit the next ``count`` successful calls, then close the connection without answering."""
        self._queue_after_commit(action, _AfterCommit(count, None, domain=domain))

    def error_after_commit(self, action: str | None = ACTION_CREATE, count: int = 1, *, status: int = 500,
                           code: str = "InternalError",
                           message: str = "The request processing has failed due to some unknown error.",
                           retry_after_ms: int | None = None, raw_body: str | None = None,
                           domain: str | None = None) -> None:
        """Commit the next ``count`` successful calls, then answer with an error anyway.

        Any status and code: 500 ``InternalError``, a gateway's 502/503/504, even a 400
        ``Throttling.User`` (with ``retry_after_ms``, sent as ``x-acs-retry-after``), all after the
        order was committed. ``raw_body`` replaces the JSON error body with this text (``text/html``),
        as a load balancer's error page would.
        """
        headers = (("x-acs-retry-after", str(retry_after_ms)),) if retry_after_ms is not None else ()
        reply = _ErrorReply(status, code, message, headers, raw_body)
        self._queue_after_commit(action, _AfterCommit(count, None, error=reply, domain=domain))

    def tls_error_after_commit(self, action: str | None = ACTION_CREATE, count: int = 1, *,
                               mode: str = TLS_BREAK_GARBAGE, domain: str | None = None) -> None:
        """Read the request and commit the next ``count`` successful calls, then break the stream instead of
        answering: ``garbage`` writes plaintext bytes on the TLS stream (the client's TLS layer raises),
        ``close`` closes without an answer or close_notify, ``reset`` resets the connection. Meant for
        ``tls=True`` (on plain HTTP, ``garbage`` is merely an unparsable answer)."""
        if mode not in TLS_BREAK_MODES:
            raise ValueError(f"mode must be one of {TLS_BREAK_MODES}")
        self._queue_after_commit(action, _AfterCommit(count, None, tls=mode, domain=domain))

    def _queue_after_commit(self, action: str | None, fault: _AfterCommit) -> None:
        with self._lock:
            self._after_commit.setdefault(action or _ANY_ACTION, []).append(fault)

    def drop_before_commit(self, action: str | None = ACTION_CREATE, count: int = 1, *,
                           domain: str | None = None) -> None:
        """Close the connection on the next ``count`` calls without checking or changing anything."""
        with self._lock:
            self._drops.setdefault(action or _ANY_ACTION, []).append(_Drop(count, domain))

    def fail_tls_handshakes(self, count: int = 1, *, mode: str = HANDSHAKE_UNTRUSTED) -> None:
        """Make the next ``count`` TLS handshakes fail (TLS mode only): nothing is read, nothing ordered.

        ``untrusted`` presents a server certificate from a CA the client does not trust (the client's
        ``do_handshake`` raises a certificate verification error); ``garbage`` answers the ClientHello
        with bytes that are not TLS. A handshake cannot be aimed at a domain: nothing has been read yet.
        Kept-alive idle connections are closed at once, so that the client's next call needs a new
        connection, and with it a handshake, instead of reusing a pooled one.
        """
        if self._tls is None:
            raise RuntimeError("TLS handshake faults need tls=True")
        if mode not in HANDSHAKE_MODES:
            raise ValueError(f"mode must be one of {HANDSHAKE_MODES}")
        with self._lock:
            self._handshake_faults.extend([mode] * count)
        self.close_idle_connections()

    def close_idle_connections(self) -> int:
        """Close every kept-alive connection that is waiting for its next request; return how many."""
        with self._answer_lock, self._lock:  # an answer being written marks its connection idle first
            idle = list(self._idle)
            self._idle.clear()
        for conn in idle:
            _raw_shutdown(conn)
        return len(idle)

    def clear_faults(self, *, domain: str | None = None) -> None:
        """Drop queued faults and latency: all of them, or (``domain``) only those aimed at that name."""
        with self._lock:
            if domain is None:
                self._latency_ms.clear()
                self._failures.clear()
                self._after_commit.clear()
                self._drops.clear()
                self._handshake_faults.clear()
                return
            name = _norm_name(domain)
            self._latency_ms = {k: v for k, v in self._latency_ms.items() if k[1] != name}
            _drop_targeted(self._failures, name)
            _drop_targeted(self._after_commit, name)
            _drop_targeted(self._drops, name)

    # ------------------------------------------------------------------ inspection

    def requests(self, action: str | None = None) -> list[RequestRecord]:
        """The most recent requests (bounded), oldest first."""
        with self._lock:
            return [r for r in self._records if action is None or r.action == action]

    def throttled_requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._throttled)

    def request_count(self, action: str | None = None, outcome: str | None = None) -> int:
        with self._lock:
            return sum(n for (a, o), n in self._counts.items()
                       if (action is None or a == action) and (outcome is None or o == outcome))

    def counts_by_action(self) -> dict[str, int]:
        with self._lock:
            result: Counter[str] = Counter()
            for (action, _), n in self._counts.items():
                result[action] += n
            return dict(result)

    def counts_by_outcome(self, action: str | None = None) -> dict[str, int]:
        with self._lock:
            result: Counter[str] = Counter()
            for (a, outcome), n in self._counts.items():
                if action is None or a == action:
                    result[outcome] += n
            return dict(result)

    def tls_handshakes(self) -> dict[str, int]:
        """TLS handshakes by result (``ok``, ``failed``, ``injected:<mode>``); empty on plain HTTP."""
        with self._lock:
            return dict(self._handshakes)

    @property
    def tls_handshake_failures(self) -> int:
        """Handshakes that failed, injected or not."""
        with self._lock:
            return sum(n for k, n in self._handshakes.items() if k != "ok")

    def reset_stats(self) -> None:
        with self._lock:
            self._records.clear()
            self._throttled.clear()
            self._counts.clear()
            self._handshakes.clear()

    # ------------------------------------------------------------------ TLS

    def _set_idle(self, conn: socket.socket, *, idle: bool, kept_alive: bool = False) -> bool:
        """Mark a connection idle or busy; False when a kept-alive connection should close instead."""
        with self._lock:
            if not idle:
                self._idle.discard(conn)
                return True
            if kept_alive and self._handshake_faults:
                return False
            self._idle.add(conn)
            return True

    def _handshake(self, conn: ssl.SSLSocket) -> bool:
        """Run (or, when a fault is queued, fail) the server side of one TLS handshake."""
        assert self._tls is not None
        with self._lock:
            fault = self._handshake_faults.pop(0) if self._handshake_faults else None
        conn.settimeout(HANDSHAKE_TIMEOUT_S)
        if fault == HANDSHAKE_GARBAGE:
            with contextlib.suppress(OSError):
                socket.socket.recv(conn, 65536)  # the ClientHello, read raw and ignored
                socket.socket.sendall(conn, GARBAGE_BYTES)
                socket.socket.shutdown(conn, socket.SHUT_WR)
                socket.socket.recv(conn, 65536)  # until the client gives up, so the close is clean
            with self._lock:
                self._handshakes[f"injected:{fault}"] += 1
            return False
        if fault == HANDSHAKE_UNTRUSTED:
            conn.context = self._tls.untrusted_context()
        try:
            conn.do_handshake()
        except (ssl.SSLError, OSError):
            with self._lock:
                self._handshakes[f"injected:{fault}" if fault else "failed"] += 1
            return False
        if fault is not None:  # the client accepted a certificate it should not trust: still a failure to count
            with self._lock:
                self._handshakes[f"accepted:{fault}"] += 1
            return True
        with self._lock:
            self._handshakes["ok"] += 1
        return True

    # ------------------------------------------------------------------ request pipeline

    @staticmethod
    def _take_entry(table: Mapping[str, list[_FaultT]], action: str, names: _CallNames) -> _FaultT | None:
        """The first queued fault for ``action`` (then for any action) whose target matches the call."""
        for key in (action, _ANY_ACTION):
            entries = table.get(key)
            if not entries:
                continue
            entries[:] = [e for e in entries if e.remaining > 0]
            for entry in entries:
                if _targets(entry.domain, names):
                    entry.remaining -= 1
                    return entry
        return None

    def _record(self, *, action: str, access_key_id: str | None, outcome: str, status: int | None,
                request_id: str, params: dict[str, str], headers: dict[str, str], received_at: float) -> None:
        with self._lock:
            self._seq += 1
            record = RequestRecord(self._seq, received_at, action, access_key_id, outcome, status,
                                   request_id, params, headers)
            self._records.append(record)
            self._counts[(action, outcome)] += 1
            if outcome == THROTTLING_CODE:
                self._throttled.append(record)
        if self.verbose:
            sys.stderr.write(f"cas-emulator {action or '-'} ak={access_key_id or '-'} -> {outcome} "
                             f"({status if status is not None else 'no response'})\n")

    def _serve(self, handler: _Handler) -> None:
        received_at = self._clock()
        request_id = _new_request_id()
        raw_path, _, raw_query = handler.path.partition("?")
        try:
            length = int(handler.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            handler.close_connection = True
            self._send_error(handler, ApiError(400, "InvalidParameter", "Bad or oversized Content-Length."),
                             request_id)
            return
        body = handler.rfile.read(length) if length else b""
        header_items = list(handler.headers.items())
        folded = acs3.fold_headers(header_items)
        params = dict(acs3.parse_wire_query(raw_query))
        if folded.get("content-type", "").startswith("application/x-www-form-urlencoded") and body:
            params.update(acs3.parse_wire_query(body.decode("utf-8", "replace")))
        action = folded.get("x-acs-action") or params.get("Action", "")
        version = folded.get("x-acs-version") or params.get("Version", "")

        def record(outcome: str, status: int | None, access_key_id: str | None) -> None:
            self._record(action=action, access_key_id=access_key_id, outcome=outcome, status=status,
                         request_id=request_id, params=params, headers=_redact_headers(header_items),
                         received_at=received_at)

        names = _CallNames(params)
        with self._lock:
            drop = self._take_entry(self._drops, action, names) is not None
            latency = sum(ms for (a, d), ms in self._latency_ms.items()
                          if a in (action, _ANY_ACTION) and _targets(d, names))
        if drop:
            record(OUTCOME_DROPPED, None, None)
            handler.close_connection = True
            return
        if latency > 0:
            self._stopping.wait(latency / 1000.0)

        access_key_id: str | None = None
        after: _AfterCommit | None = None
        extra_headers: dict[str, str] = {}
        try:
            self._check_route(handler.command, raw_path, action, version)
            verdict = acs3.verify_request(
                method=handler.command, path=raw_path, raw_query=raw_query, headers=header_items, body=body,
                credentials=self._credentials.get, nonces=self._nonces, now=self._clock())
            if isinstance(verdict, acs3.VerificationFailure):
                access_key_id = verdict.access_key_id
                raise ApiError(verdict.http_status, verdict.code, verdict.message)
            access_key_id = verdict.access_key_id
            if not self._limiter.admit(access_key_id, action, time.monotonic()):
                if self._throttle_retry_after_ms:
                    extra_headers["x-acs-retry-after"] = str(self._throttle_retry_after_ms)
                raise ApiError(400, THROTTLING_CODE, THROTTLING_MESSAGE)
            with self._lock:
                injected = self._take_entry(self._failures, action, names)
            if injected is not None:
                raise ApiError(injected.status, injected.code, injected.message)
            call = _Call(access_key_id, request_id, int(self._clock() * 1000))
            result = self._handlers[action](params, call)
            with self._lock:
                after = self._take_entry(self._after_commit, action, names)
        except ApiError as err:
            record(err.code, err.status, access_key_id)
            self._send_error(handler, err, request_id, extra_headers)
            return
        except Exception as exc:  # a bug in the double must still look like a server error, not a hang
            internal = ApiError(500, "InternalError", "The request processing has failed due to some "
                                                      f"unknown error ({type(exc).__name__}).")
            record(internal.code, internal.status, access_key_id)
            self._send_error(handler, internal, request_id)
            return

        payload = {"RequestId": request_id, **result}
        if after is not None and after.tls is not None:
            record(OUTCOME_TLS_ERROR_AFTER_COMMIT, None, access_key_id)
            handler.close_connection = True
            _break_stream(handler.connection, after.tls)
            return
        if after is not None and after.error is not None:
            reply = after.error
            record(OUTCOME_ERROR_AFTER_COMMIT, reply.status, access_key_id)
            if reply.raw_body is not None:
                self._send_raw(handler, reply.status, reply.raw_body, request_id, dict(reply.headers))
            else:
                self._send_error(handler, ApiError(reply.status, reply.code, reply.message), request_id,
                                 dict(reply.headers))
            return
        if after is not None and after.delay_seconds is None:
            record(OUTCOME_CLOSED_AFTER_COMMIT, None, access_key_id)
            handler.close_connection = True
            return
        if after is not None and after.delay_seconds is not None:
            record(OUTCOME_DELAYED_AFTER_COMMIT, 200, access_key_id)
            if self._stopping.wait(after.delay_seconds):
                handler.close_connection = True
                return
        else:
            record(OUTCOME_OK, 200, access_key_id)
        self._send_json(handler, 200, payload, request_id)

    def _check_route(self, method: str, path: str, action: str, version: str) -> None:
        if method not in ("GET", "POST"):
            raise ApiError(400, "UnsupportedHTTPMethod", f"Specified http method {method} is not supported.")
        if path not in ("/", "") or action not in SUPPORTED_ACTIONS:
            raise ApiError(404, "InvalidApi.NotFound",
                           "Specified api is not found, please check your url and method.")
        if version != API_VERSION:
            raise ApiError(400, "InvalidVersion", f"Specified parameter Version {version!r} is not valid.")

    def _send_error(self, handler: _Handler, err: ApiError, request_id: str,
                    extra_headers: Mapping[str, str] | None = None) -> None:
        body = {
            "RequestId": request_id,
            "HostId": HOST_ID,
            "Code": err.code,
            "Message": err.message,
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={err.code}&product=cas&requestId={request_id}",
        }
        self._send_json(handler, err.status, body, request_id, extra_headers)

    def _send_json(self, handler: _Handler, status: int, payload: Mapping[str, Any], request_id: str,
                   extra_headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._send_bytes(handler, status, data, "application/json;charset=utf-8", request_id, extra_headers)

    def _send_raw(self, handler: _Handler, status: int, text: str, request_id: str,
                  extra_headers: Mapping[str, str] | None = None) -> None:
        self._send_bytes(handler, status, text.encode("utf-8"), "text/html;charset=utf-8", request_id,
                         extra_headers)

    def _send_bytes(self, handler: _Handler, status: int, data: bytes, content_type: str, request_id: str,
                    extra_headers: Mapping[str, str] | None = None) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            handler.send_header("x-acs-request-id", request_id)
            for name, value in (extra_headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            # The connection is idle once the answer is out, and the client may reuse it at once (even before
            # this thread runs again). The answer lock makes ``close_idle_connections`` wait for that mark, so
            # that a handshake fault queued right after an answer still finds the connection to close.
            with self._answer_lock:
                if handler.command != "HEAD":
                    handler.wfile.write(data)
                handler.wfile.flush()
                if not handler.close_connection and self._tls is not None:
                    with self._lock:
                        self._idle.add(handler.connection)
        except OSError:  # the client gave up (e.g. read timeout during a delayed reply)
            handler.close_connection = True

    # ------------------------------------------------------------------ actions

    def _known_product(self, product_code: str) -> bool:
        return product_code in PRODUCT_CODES or product_code in self._packages

    def _issued_count(self, product_code: str) -> int:
        return sum(1 for o in self._orders.values() if o.product_code == product_code and o.cert_id is not None)

    def _create_order(self, params: dict[str, str], call: _Call) -> dict[str, Any]:
        product = params.get("ProductCode") or DEFAULT_PRODUCT_CODE
        validate_type = params.get("ValidateType") or ""
        if validate_type and validate_type not in ("DNS", "FILE"):
            raise _invalid("ValidateType", "must be DNS or FILE")
        csr_text = params.get("Csr") or ""
        domain_text = params.get("Domain") or ""
        if not csr_text and not domain_text:
            raise _missing("Domain")
        if csr_text:
            # The CSR's names win over Domain: its CN, then its DNS SANs (the certificate binds them all).
            domains, algorithm, _ = _inspect_csr(csr_text)
        else:
            domains, algorithm = _parse_domains(domain_text), "RSA"
        tags = _parse_tags(params)
        with self._lock:
            if not self._known_product(product):
                raise _invalid("ProductCode", f"unknown product {product!r}")
            _check_product_rules(product, domains, params)
            pkg = self._packages.get(product)
            if pkg is None or pkg.total <= 0:
                raise ApiError(404, "NotFoundPackage", f"No certificate package of {product} was purchased.")
            if pkg.used >= pkg.total:
                raise ApiError(404, "NotRemainCount", f"The certificate package of {product} has no quota left.")
            pkg.used += 1
            order_id = self._next_order_id
            self._next_order_id += 1
            self._orders[order_id] = Order(
                order_id=order_id,
                instance_id=f"cas-ivauto-{secrets.token_hex(4)}",
                domain=",".join(domains),
                domains=domains,
                product_code=product,
                validate_type=validate_type or "DNS",
                tags=tags,
                status=self._initial_status,
                params=dict(params),
                access_key_id=call.access_key_id,
                request_id=call.request_id,
                created_ms=call.now_ms,
                key_algorithm=algorithm,
                csr=csr_text or None,
                validation_token=secrets.token_hex(16),
            )
        return {"OrderId": order_id}

    def _describe_package_state(self, params: dict[str, str], call: _Call) -> dict[str, Any]:
        product = params.get("ProductCode") or DEFAULT_PRODUCT_CODE
        with self._lock:
            if not self._known_product(product):
                raise _invalid("ProductCode", f"unknown product {product!r}")
            state = self.quota(product)
        return {"ProductCode": product, "TotalCount": state.total, "UsedCount": state.used,
                "IssuedCount": state.issued}

    def _lookup(self, params: Mapping[str, str]) -> Order:
        """The order named by ``OrderId``; a cancelled order is gone, as far as callers can tell (UNCONFIRMED)."""
        order_id = _int_param(params, "OrderId", required=True)
        order = self._orders.get(cast(int, order_id))
        if order is None or order.cancelled:
            raise ApiError(404, "NotFoundOrder", f"The order {order_id} does not exist.")
        return order

    def _describe_certificate_state(self, params: dict[str, str], call: _Call) -> dict[str, Any]:
        with self._lock:
            order = self._lookup(params)
            kind = STATE_TYPE_BY_STATUS.get(order.status, "unknow")
            result: dict[str, Any] = {"Type": kind}
            if kind == "domain_verify":
                domain = order.domains[0]
                bare = domain[2:] if domain.startswith("*.") else domain
                result["ValidateType"] = order.validate_type
                if order.validate_type == "FILE":
                    result.update(Uri=f"http://{bare}/.well-known/pki-validation/fileauth.txt",
                                  Content=order.validation_token, Domain=bare)
                else:
                    # Full name of the TXT record; CAS documents this as the "host record" (UNCONFIRMED form).
                    result.update(RecordType="TXT", RecordDomain=f"_dnsauth.{bare}",
                                  RecordValue=order.validation_token)
            elif kind == "certificate":
                result.update(Certificate=order.certificate_pem, PrivateKey=order.private_key_pem or "",
                              CertId=order.cert_id)
            return result

    def _list_orders(self, params: dict[str, str], call: _Call) -> dict[str, Any]:
        order_type = (params.get("OrderType") or "CPACK").upper()
        if order_type not in ORDER_TYPES:
            raise _invalid("OrderType", "must be one of CPACK, BUY, UPLOAD, CERT")
        page = cast(int, _int_param(params, "CurrentPage", default=1, minimum=1))
        size = cast(int, _int_param(params, "ShowSize", default=DEFAULT_SHOW_SIZE, minimum=1))
        keyword = (params.get("Keyword") or "").lower()
        status = params.get("Status") or ""
        if status and status not in DOCUMENTED_STATUSES:
            raise _invalid("Status", f"must be one of {', '.join(DOCUMENTED_STATUSES)}")
        with self._lock:
            listed_before_ms = call.now_ms - int(self._list_lag_s * 1000)
            matches = [
                o for o in reversed(self._orders.values())  # newest first, as the console lists them
                if order_type == "CPACK"
                and not o.cancelled
                and o.created_ms <= listed_before_ms  # the search index lags behind new orders
                and (not status or o.status == status)
                and (not keyword or keyword in o.domain.lower() or keyword in str(o.order_id)
                     or keyword in o.instance_id.lower())
            ]
            page_items = [self._order_item(o) for o in matches[(page - 1) * size: page * size]]
        return {"CertificateOrderList": page_items, "TotalCount": len(matches), "CurrentPage": page,
                "ShowSize": size}

    def _order_item(self, order: Order) -> dict[str, Any]:
        item: dict[str, Any] = {
            "OrderId": order.order_id,
            "InstanceId": order.instance_id,
            "Domain": order.domain,
            "Status": order.status,
            "ProductCode": order.product_code,
            "ProductName": order.product_code,
            "CertType": _cert_type(order.product_code),
            "SourceType": "cpack",
            "BuyDate": order.created_ms,
            "DomainType": _domain_type(order.domains),
            "DomainCount": sum(1 for d in order.domains if not d.startswith("*.")),
            "WildDomainCount": sum(1 for d in order.domains if d.startswith("*.")),
            "Algorithm": order.key_algorithm,
            "RootBrand": _root_brand(order.product_code),
            "TrusteeStatus": "unTrustee",
        }
        if order.cert_start_ms is not None:
            item["CertStartTime"] = order.cert_start_ms
            item["CertEndTime"] = order.cert_end_ms
        return item

    def _cancel_order(self, params: dict[str, str], call: _Call) -> dict[str, Any]:
        """CancelCertificateForPackageRequest [C7]: a pending order is cancelled and its quota unit returned;
        an issued one is revoked (status REVOKED, no refund).

        What a cancelled pending order looks like afterwards is UNCONFIRMED. CAS documents no status for
        it, so the emulator keeps its last status, sets ``Order.cancelled``, stops listing it, and answers
        NotFoundOrder for it (DescribeCertificateState, a second cancel), as if it were deleted.
        """
        with self._lock:
            order = self._lookup(params)
            if order.status in REFUNDABLE_STATUSES:
                order.cancelled = True
                pkg = self._packages.get(order.product_code)
                if pkg is not None and pkg.used > 0:
                    pkg.used -= 1
            elif order.status in REVOCABLE_STATUSES:
                order.status = "REVOKED"
            else:
                raise ApiError(403, "OrderStateError", f"The order {order.order_id} is {order.status} "
                                                      "and cannot be cancelled.")
        return {}

    def _issue(self, order: Order) -> None:
        """Mint a short-lived certificate so clients can exercise the download path."""
        if self._ca is None:
            ca_key = ec.generate_private_key(ec.SECP256R1())
            ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CAS Emulator Test CA")])
            self._ca = (ca_key, ca_name)
        ca_key, ca_name = self._ca
        private_pem: str | None = None
        if order.csr:
            _, _, csr = _inspect_csr(order.csr)
            public_key = csr.public_key()
        else:
            leaf_key = ec.generate_private_key(ec.SECP256R1())
            public_key = leaf_key.public_key()
            private_pem = leaf_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode("ascii")
        start = dt.datetime.fromtimestamp(self._clock(), tz=dt.timezone.utc).replace(microsecond=0)
        end = start + dt.timedelta(days=90 if order.product_code == DEFAULT_PRODUCT_CODE else 365)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, order.domains[0])]))
            .issuer_name(ca_name)
            .public_key(cast(Any, public_key))
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in order.domains]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        order.certificate_pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
        order.private_key_pem = private_pem
        order.cert_id = self._next_cert_id
        self._next_cert_id += 1
        order.cert_start_ms = int(start.timestamp() * 1000)
        order.cert_end_ms = int(end.timestamp() * 1000)


# --------------------------------------------------------------------------- CLI


def _banner(emulator: CasEmulator) -> Iterator[str]:
    yield f"CAS emulator (API {API_VERSION}) listening on {emulator.endpoint}"
    yield f"  Config(endpoint='{emulator.endpoint}', protocol='{emulator.protocol}', region_id='cn-hangzhou')"
    if emulator.protocol == "https":
        yield f"  test CA: RuntimeOptions(ca='{emulator.ca_file}') or CAS_CA_FILE={emulator.ca_file}"
    yield f"  demo AccessKey: id={DEMO_ACCESS_KEY_ID} secret={DEMO_ACCESS_KEY_SECRET}"
    yield (f"  demo STS:       id={DEMO_STS_ACCESS_KEY_ID} secret={DEMO_STS_ACCESS_KEY_SECRET} "
           f"security_token={DEMO_SECURITY_TOKEN}")
    yield "  (demo credentials only work against this emulator)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.cas_emulator", description=__doc__.splitlines()[0]
                                     if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8089, help="port, 0 for any free port (default 8089)")
    parser.add_argument("--qps", type=int, default=DEFAULT_QPS, help="per action and key, 0 disables")
    parser.add_argument("--quota", type=int, default=DEFAULT_QUOTA, help="TotalCount for every product")
    parser.add_argument("--retry-after-ms", type=int, default=None,
                        help="send x-acs-retry-after on Throttling.User")
    parser.add_argument("--list-lag", type=float, default=0.0,
                        help="seconds before a new order shows up in ListUserCertificateOrder")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a throwaway test CA")
    parser.add_argument("--verbose", action="store_true", help="log each request (never secrets)")
    args = parser.parse_args(argv)

    emulator = CasEmulator(host=args.host, port=args.port, qps=args.qps,
                           quotas={code: args.quota for code in PRODUCT_CODES},
                           throttle_retry_after_ms=args.retry_after_ms, list_lag_seconds=args.list_lag,
                           tls=args.tls, verbose=args.verbose)
    emulator.start()
    for line in _banner(emulator):
        print(line, flush=True)
    emulator.serve_until_interrupted()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
