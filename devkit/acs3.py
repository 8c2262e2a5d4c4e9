"""ACS3-HMAC-SHA256 (Alibaba Cloud V3 signature) as a verifying server sees it.

The SDK is the only signer we have to agree with, so these functions follow
what tea-openapi 0.4.6 actually puts on the wire rather than an idealised
reading of the spec: canonical headers come from the ``SignedHeaders`` list in
``Authorization`` (the SDK signs *every* header it sets, ``accept`` and
``user-agent`` included), and the wire query is form-encoded (``+`` for space)
while the canonical query is RFC 3986 (``%20``).

Everything except :class:`NonceStore` is a pure function so that signature
vectors can be checked without a server.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote, unquote, unquote_plus

ALGORITHM = "ACS3-HMAC-SHA256"
EMPTY_PAYLOAD_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_CLOCK_SKEW_SECONDS = 15 * 60
NONCE_TTL_SECONDS = 15 * 60

#: Headers that must be present on every signed request.
REQUIRED_HEADERS = ("host", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256")

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_HEX64_RE = re.compile(r"[0-9a-f]{64}")
_HEADER_NAME_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+")


class AuthorizationFormatError(ValueError):
    """The Authorization header cannot be parsed; maps to ``IncompleteSignature``."""


class UnsupportedAlgorithmError(AuthorizationFormatError):
    """Well-formed Authorization for an algorithm we do not verify; maps to ``InvalidSignatureMethod``."""

    def __init__(self, algorithm: str) -> None:
        super().__init__(f"unsupported signature algorithm {algorithm!r}")
        self.algorithm = algorithm


def percent_encode(value: str) -> str:
    """RFC 3986 encoding: only ``A-Za-z0-9-_.~`` survive, space is ``%20``, ``*`` is ``%2A``."""
    return quote(value, safe="~", encoding="utf-8")


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Build CanonicalQueryString.

    Sorted by the raw parameter name (as both the official sample and the SDK
    do), then by value so that a repeated name still gives a stable string.
    """
    ordered = sorted(pairs, key=lambda kv: (kv[0], kv[1]))
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in ordered)


def parse_wire_query(raw_query: str) -> list[tuple[str, str]]:
    """Decode a query exactly as ``urllib.parse.urlencode`` produced it.

    ``+`` must become a space before re-encoding, otherwise a value like
    ``k 1`` (wire ``k+1``) would be signed as ``k%2B1`` and never match.
    Blank values are kept because they are part of the signed string.
    """
    pairs: list[tuple[str, str]] = []
    for segment in raw_query.split("&"):
        if not segment:
            continue
        name, _, value = segment.partition("=")
        pairs.append((unquote_plus(name), unquote_plus(value)))
    return pairs


def canonical_uri(path: str) -> str:
    """Encode a decoded path per segment; an empty path is ``/``."""
    return quote(path or "/", safe="/~", encoding="utf-8")


def fold_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-case names, trim values and join repeated names with ``,``.

    Repeated values are sorted before joining, as tea-openapi's
    ``get_canonicalized_headers`` does, so the result is order independent.
    """
    items: Iterable[tuple[str, str]] = headers.items() if isinstance(headers, Mapping) else headers
    grouped: dict[str, list[str]] = {}
    for name, value in items:
        grouped.setdefault(name.lower(), []).append(str(value).strip())
    return {name: ",".join(sorted(values)) for name, values in grouped.items()}


def canonical_headers(headers: Mapping[str, str], signed_headers: Iterable[str]) -> str:
    """One ``name:value\\n`` line per signed header, in the order given.

    ``headers`` must already be folded (see :func:`fold_headers`). A signed
    header that did not arrive is rendered with an empty value, which makes
    the signature fail rather than the request be rejected as incomplete:
    that is what a proxy stripping a header looks like to the client.
    """
    return "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed_headers)


def canonical_request(
    method: str,
    path: str,
    query_pairs: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: list[str],
    payload_hash: str,
) -> str:
    """Assemble CanonicalRequest; ``path`` is the decoded path, ``headers`` have lower-case names."""
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(query_pairs),
            canonical_headers(headers, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def string_to_sign(canonical_request_text: str) -> str:
    return f"{ALGORITHM}\n{sha256_hex(canonical_request_text.encode('utf-8'))}"


def sign(secret: str, string_to_sign_text: str) -> str:
    return hmac.new(secret.encode("utf-8"), string_to_sign_text.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization_header(access_key_id: str, signed_headers: list[str], signature: str) -> str:
    return f"{ALGORITHM} Credential={access_key_id},SignedHeaders={';'.join(signed_headers)},Signature={signature}"


def sign_request(
    *,
    access_key_id: str,
    secret: str,
    method: str,
    path: str,
    query_pairs: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    payload_hash: str = EMPTY_PAYLOAD_SHA256,
) -> str:
    """Return an Authorization value signing every header given, the way tea-openapi does.

    Exists so tests can hand-craft requests (and tamper with them) without the SDK.
    """
    folded = fold_headers(headers)
    signed = sorted(folded)
    creq = canonical_request(method, path, list(query_pairs), folded, signed, payload_hash)
    return authorization_header(access_key_id, signed, sign(secret, string_to_sign(creq)))


def parse_authorization(value: str) -> tuple[str, list[str], str]:
    """Split ``ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..``.

    Strict on purpose: a double that accepted sloppy headers would hide client
    bugs the real gateway rejects.
    """
    algorithm, sep, rest = value.strip().partition(" ")
    if not sep or not algorithm:
        raise AuthorizationFormatError(
            "Authorization must be '<algorithm> Credential=..,SignedHeaders=..,Signature=..'")
    if algorithm != ALGORITHM:
        if algorithm.startswith("ACS"):
            raise UnsupportedAlgorithmError(algorithm)
        raise AuthorizationFormatError(f"unknown authorization scheme {algorithm!r}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, eq, val = part.strip().partition("=")
        if not eq or key in fields:
            raise AuthorizationFormatError(f"malformed Authorization component {part.strip()!r}")
        fields[key] = val.strip()
    if set(fields) != {"Credential", "SignedHeaders", "Signature"}:
        raise AuthorizationFormatError("Authorization needs exactly Credential, SignedHeaders and Signature")
    access_key_id = fields["Credential"]
    if not access_key_id:
        raise AuthorizationFormatError("empty Credential")
    signed_headers = fields["SignedHeaders"].split(";")
    for name in signed_headers:
        if not _HEADER_NAME_RE.fullmatch(name):
            raise AuthorizationFormatError(f"invalid SignedHeaders entry {name!r} (names must be lower case)")
    signature = fields["Signature"]
    if not _HEX64_RE.fullmatch(signature):
        raise AuthorizationFormatError("Signature must be 64 lower-case hex digits")
    return access_key_id, signed_headers, signature


def parse_acs_date(value: str) -> float:
    """Parse ``x-acs-date`` (``yyyy-MM-ddTHH:mm:ssZ``, UTC) to epoch seconds; ValueError if malformed."""
    if not _DATE_RE.fullmatch(value):
        raise ValueError(f"x-acs-date {value!r} is not yyyy-MM-ddTHH:mm:ssZ")
    parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def format_acs_date(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class Credential:
    """What the server knows about an access key; a token marks it as an STS key."""

    secret: str
    security_token: str | None = None

    def __repr__(self) -> str:  # never let a secret reach a log line or assertion diff
        kind = "sts" if self.security_token is not None else "ak"
        return f"Credential(<{kind}, secret redacted>)"


CredentialLookup = Callable[[str], Credential | None]


class NonceStore:
    """Remembers ``(access key, nonce)`` pairs for the replay window.

    Check-and-insert is one locked step so that two concurrent replays cannot
    both be accepted.
    """

    def __init__(self, ttl_seconds: float = NONCE_TTL_SECONDS) -> None:
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], float] = {}
        self._order: deque[tuple[float, tuple[str, str]]] = deque()

    def check_and_remember(self, access_key_id: str, nonce: str, now: float) -> bool:
        """Return False if the nonce was already used within the TTL, else record it."""
        key = (access_key_id, nonce)
        with self._lock:
            self._expire(now)
            seen_at = self._seen.get(key)
            if seen_at is not None and now - seen_at < self._ttl:
                return False
            self._seen[key] = now
            self._order.append((now, key))
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)

    def __bool__(self) -> bool:  # an empty store is still a store (``nonces or default`` must not replace it)
        return True

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()
            self._order.clear()

    def _expire(self, now: float) -> None:
        while self._order and now - self._order[0][0] >= self._ttl:
            stamp, key = self._order.popleft()
            if self._seen.get(key) == stamp:
                del self._seen[key]


@dataclass(frozen=True)
class Verified:
    access_key_id: str
    signed_headers: tuple[str, ...]
    is_sts: bool

    @property
    def ok(self) -> bool:
        return True


@dataclass(frozen=True)
class VerificationFailure:
    """A rejected request, carrying the CAS error code and HTTP status the gateway uses."""

    code: str
    message: str
    http_status: int = 400
    access_key_id: str | None = None

    @property
    def ok(self) -> bool:
        return False


VerificationResult = Verified | VerificationFailure


def _fail(code: str, message: str, status: int = 400, access_key_id: str | None = None) -> VerificationFailure:
    return VerificationFailure(code=code, message=message, http_status=status, access_key_id=access_key_id)


def verify_request(
    *,
    method: str,
    path: str,
    raw_query: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes,
    credentials: CredentialLookup,
    nonces: NonceStore,
    now: float,
    max_skew_seconds: float = MAX_CLOCK_SKEW_SECONDS,
) -> VerificationResult:
    """Check an incoming request the way the API gateway does.

    ``path`` is the raw request path without the query (percent-encoded as
    on the wire). The order of checks decides which error a client sees when
    several things are wrong; the nonce is recorded last so that a request
    rejected for another reason can be fixed and resent with the same nonce,
    and so that unauthenticated traffic cannot fill the nonce store.
    """
    folded = fold_headers(headers)

    auth = folded.get("authorization")
    if not auth:
        return _fail("IncompleteSignature", "The request signature does not conform to Aliyun standards. "
                     "Authorization header is missing.")
    try:
        access_key_id, signed_headers, signature = parse_authorization(auth)
    except UnsupportedAlgorithmError as exc:
        return _fail("InvalidSignatureMethod",
                     f"Specified signature method is not supported: {exc.algorithm}.")
    except AuthorizationFormatError as exc:
        return _fail("IncompleteSignature",
                     f"The request signature does not conform to Aliyun standards. {exc}.")

    for name in REQUIRED_HEADERS:
        if not folded.get(name):
            return _fail("IncompleteSignature",
                         f"The request signature does not conform to Aliyun standards. "
                         f"Required header {name} is missing.", access_key_id=access_key_id)
    signed_set = set(signed_headers)
    must_sign = sorted(n for n in folded if n == "host" or n == "content-type" or n.startswith("x-acs-"))
    unsigned = [n for n in must_sign if n not in signed_set]
    if unsigned:
        return _fail("IncompleteSignature",
                     f"The request signature does not conform to Aliyun standards. "
                     f"Header(s) {', '.join(unsigned)} must be listed in SignedHeaders.",
                     access_key_id=access_key_id)

    date_value = folded["x-acs-date"]
    try:
        request_time = parse_acs_date(date_value)
    except ValueError:
        return _fail("InvalidTimeStamp.Format",
                     f"Specified time stamp or date value is not well formatted: {date_value}.",
                     access_key_id=access_key_id)
    if abs(now - request_time) > max_skew_seconds:
        return _fail("InvalidTimeStamp.Expired",
                     f"Specified time stamp or date value is expired: {date_value} "
                     f"(server time {format_acs_date(now)}).", access_key_id=access_key_id)

    credential = credentials(access_key_id)
    if credential is None:
        return _fail("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404,
                     access_key_id=access_key_id)

    body_hash = sha256_hex(body)
    if folded["x-acs-content-sha256"] != body_hash:
        return _fail("SignatureDoesNotMatch",
                     "Specified signature does not match our calculation: x-acs-content-sha256 "
                     f"does not match the request body (server payload hash is {body_hash}).",
                     access_key_id=access_key_id)

    creq = canonical_request(method, unquote(path), parse_wire_query(raw_query), folded,
                             signed_headers, body_hash)
    sts = string_to_sign(creq)
    expected = sign(credential.secret, sts)
    if not hmac.compare_digest(expected, signature):
        server_sts = sts.replace("\n", "\\n")
        return _fail("SignatureDoesNotMatch",
                     f"Specified signature does not match our calculation. server string to sign is:{server_sts}",
                     access_key_id=access_key_id)

    if credential.security_token is not None:
        token = folded.get("x-acs-security-token")
        if not token:
            return _fail("InvalidSecurityToken.Missing",
                         "The security token is required for an STS access key.", access_key_id=access_key_id)
        if not hmac.compare_digest(token.encode("utf-8"), credential.security_token.encode("utf-8")):
            return _fail("InvalidSecurityToken.Mismatch",
                         "Specified SecurityToken mismatch with the AccessKey.", access_key_id=access_key_id)

    if not nonces.check_and_remember(access_key_id, folded["x-acs-signature-nonce"], now):
        return _fail("SignatureNonceUsed", "Specified signature nonce was used already.",
                     access_key_id=access_key_id)

    return Verified(access_key_id=access_key_id, signed_headers=tuple(signed_headers),
                    is_sts=credential.security_token is not None)
