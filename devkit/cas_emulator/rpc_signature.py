"""The older RPC signature (``SignatureMethod=HMAC-SHA1``, ``SignatureVersion=1.0``) as a verifying gateway sees it.

Real CAS still accepts it beside ACS3, and clients other than the current Python SDK send it: the
older SDKs (Node's ``@alicloud/pop-core``, Java's ``aliyun-java-sdk-core``), tea-openapi with
``signature_algorithm='v2'``, and the hand-written clients of the public recipe. An emulator that
refused it would send their authors hunting for a missing header that their protocol never had.

What is checked, from Alibaba Cloud's "signature method V2 for RPC APIs" (the "Signature mechanism"
pages of the RPC products):

- every signature parameter is in the query (or, for ``POST`` with a form body, in the body):
  ``AccessKeyId``, ``SignatureMethod=HMAC-SHA1``, ``SignatureVersion=1.0``, ``SignatureNonce``,
  ``Timestamp`` (``yyyy-MM-ddTHH:mm:ssZ``, UTC) and ``Signature``;
- ``StringToSign = METHOD & percentEncode("/") & percentEncode(CanonicalizedQueryString)``, where the
  canonicalized query is every parameter but ``Signature`` (query and form body together, as the SDKs
  sign them), sorted by name, each name and value RFC 3986 encoded, joined with ``=`` and ``&``;
- ``Signature = base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))``, compared in constant time;
- the same 15-minute clock window and nonce store as ACS3 (one store: a nonce is spent whichever
  signature carried it), and for an STS key its ``SecurityToken`` parameter.

The error codes for a missing or unsupported parameter are the gateway's documented families
(``Missing{Parameter}``, ``InvalidSignatureMethod``, ``InvalidTimeStamp.*``); the exact code the real
gateway gives a wrong ``SignatureVersion`` is UNCONFIRMED. Pure functions, except the nonce store
passed in, so that the official example can be checked without a server
(``tests/functional/test_emulator_clients.py``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone

from devkit import acs3

SIGNATURE_METHOD = "HMAC-SHA1"
SIGNATURE_VERSION = "1.0"
#: Parameters whose presence marks a request as RPC-signed (an ACS3 request carries none of them).
MARKERS = ("Signature", "SignatureMethod", "SignatureVersion")
#: The signature parameters every RPC-signed request needs, in the order they are checked.
REQUIRED = ("SignatureMethod", "SignatureVersion", "AccessKeyId", "SignatureNonce", "Timestamp", "Signature")
#: What an unsupported request is told this endpoint verifies.
SUPPORTED = ("ACS3-HMAC-SHA256 (an Authorization header), or the RPC signature "
             "(SignatureMethod=HMAC-SHA1 and SignatureVersion=1.0 with Signature in the query)")


def is_rpc_signed(pairs: Iterable[tuple[str, str]]) -> bool:
    """Whether the request carries RPC signature parameters (then it is verified as RPC, not ACS3)."""
    return any(name in MARKERS for name, _ in pairs)


def signed_pairs(raw_query: str, headers: Mapping[str, str], body: bytes) -> list[tuple[str, str]]:
    """The parameters an RPC signature covers: the query's and, for a form body, the body's."""
    pairs = acs3.parse_wire_query(raw_query)
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded") and body:
        pairs += acs3.parse_wire_query(body.decode("utf-8", "replace"))
    return pairs


def canonicalized_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Every parameter but ``Signature``, sorted by name (then value), each side RFC 3986 encoded."""
    return acs3.canonical_query((k, v) for k, v in pairs if k != "Signature")


def string_to_sign(method: str, pairs: Iterable[tuple[str, str]]) -> str:
    return f"{method.upper()}&{acs3.percent_encode('/')}&{acs3.percent_encode(canonicalized_query(pairs))}"


def sign(secret: str, string_to_sign_text: str) -> str:
    """base64 HMAC-SHA1 keyed with the secret followed by ``&`` (the empty token secret of the scheme)."""
    digest = hmac.new(f"{secret}&".encode(), string_to_sign_text.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def parse_timestamp(value: str) -> float:
    """``yyyy-MM-ddTHH:mm:ssZ`` (UTC) to epoch seconds; ValueError if malformed."""
    return acs3.parse_acs_date(value)


def _missing(name: str, access_key_id: str | None = None) -> acs3.VerificationFailure:
    return acs3.VerificationFailure(
        f"Missing{name}", f'The input parameter "{name}" that is mandatory for processing this request is not '
                          f"supplied (RPC signature: {SIGNATURE_METHOD}, {SIGNATURE_VERSION}).",
        access_key_id=access_key_id)


def verify_request(*, method: str, raw_query: str, headers: Mapping[str, str] | Iterable[tuple[str, str]],
                   body: bytes, credentials: acs3.CredentialLookup, nonces: acs3.NonceStore, now: float,
                   max_skew_seconds: float = acs3.MAX_CLOCK_SKEW_SECONDS) -> acs3.VerificationResult:
    """Check an RPC-signed request the way the gateway does; the nonce is recorded last, as for ACS3,
    so that a request refused for another reason can be fixed and sent again with the same nonce."""
    folded = acs3.fold_headers(headers)
    pairs = signed_pairs(raw_query, folded, body)
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in REQUIRED or name == "SecurityToken":
            if name in params and params[name] != value:
                return acs3.VerificationFailure(
                    "IncompleteSignature", f"The signature parameter {name} is given twice with different values.")
            params[name] = value
    access_key_id = params.get("AccessKeyId") or None
    for name in REQUIRED[:2]:
        if not params.get(name):
            return _missing(name, access_key_id)
    if params["SignatureMethod"] != SIGNATURE_METHOD:
        return acs3.VerificationFailure(
            "InvalidSignatureMethod", f"Specified signature method is not supported: {params['SignatureMethod']}. "
                                      f"Supported: {SUPPORTED}.", access_key_id=access_key_id)
    if params["SignatureVersion"] != SIGNATURE_VERSION:
        return acs3.VerificationFailure(
            "InvalidSignatureVersion", f"Specified signature version is not supported: "
                                       f"{params['SignatureVersion']}. Supported: {SUPPORTED}.",
            access_key_id=access_key_id)
    for name in REQUIRED[2:]:
        if not params.get(name):
            return _missing(name, access_key_id)
    assert access_key_id is not None  # checked with REQUIRED above

    stamp = params["Timestamp"]
    try:
        request_time = parse_timestamp(stamp)
    except ValueError:
        return acs3.VerificationFailure(
            "InvalidTimeStamp.Format", f"Specified time stamp or date value is not well formatted: {stamp} "
                                       "(yyyy-MM-ddTHH:mm:ssZ, UTC).", access_key_id=access_key_id)
    if abs(now - request_time) > max_skew_seconds:
        server_time = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return acs3.VerificationFailure(
            "InvalidTimeStamp.Expired", f"Specified time stamp or date value is expired: {stamp} "
                                        f"(server time {server_time}).", access_key_id=access_key_id)

    credential = credentials(access_key_id)
    if credential is None:
        return acs3.VerificationFailure("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404,
                                        access_key_id=access_key_id)

    sts = string_to_sign(method, pairs)
    signature = params["Signature"]
    if not hmac.compare_digest(sign(credential.secret, sts).encode(), signature.encode("utf-8", "replace")):
        hint = (" The Signature parameter has a space: a '+' of the base64 signature must be sent as %2B."
                if " " in signature else "")
        return acs3.VerificationFailure(
            "SignatureDoesNotMatch", f"Specified signature is not matched with our calculation. server string to "
                                     f"sign is:{sts}{hint}", access_key_id=access_key_id)

    if credential.security_token is not None:
        token = params.get("SecurityToken", "")
        if not token:
            return acs3.VerificationFailure("InvalidSecurityToken.Missing",
                                            "The security token is required for an STS access key.",
                                            access_key_id=access_key_id)
        if not hmac.compare_digest(token.encode("utf-8"), credential.security_token.encode("utf-8")):
            return acs3.VerificationFailure("InvalidSecurityToken.Mismatch",
                                            "Specified SecurityToken mismatch with the AccessKey.",
                                            access_key_id=access_key_id)

    if not nonces.check_and_remember(access_key_id, params["SignatureNonce"], now):
        return acs3.VerificationFailure("SignatureNonceUsed", "Specified signature nonce was used already.",
                                        access_key_id=access_key_id)
    return acs3.Verified(access_key_id=access_key_id, signed_headers=(), is_sts=credential.security_token is not None)
