"""Who may call the emulator: the key table, and the signature, nonce and timestamp checks.

Two signatures are verified, as real CAS accepts both: ACS3-HMAC-SHA256 (``devkit/acs3.py``, what the
current SDKs send) and the older RPC HMAC-SHA1 (``rpc_signature.py``, older SDKs and hand-written
clients). The checks themselves are pure functions shared with the signature tests; this module picks
the scheme a request uses, binds the checks to the emulator's keys and its one nonce store, and turns
a rejection into the ``ApiError`` the gateway answers. A request that carries neither scheme is told
which two are supported, not only that an ``Authorization`` header is missing. It also redacts the
security token from the headers the emulator records, so that no secret reaches an assertion diff
or a log line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from devkit import acs3

from . import rpc_signature
from .protocol import (
    DEMO_ACCESS_KEY_ID,
    DEMO_ACCESS_KEY_SECRET,
    DEMO_SECURITY_TOKEN,
    DEMO_STS_ACCESS_KEY_ID,
    DEMO_STS_ACCESS_KEY_SECRET,
    ApiError,
)


class SignatureRejected(ApiError):
    """A request the gateway turns away; ``access_key_id`` is the key it claimed, if it got that far."""

    def __init__(self, failure: acs3.VerificationFailure) -> None:
        super().__init__(failure.http_status, failure.code, failure.message)
        self.access_key_id = failure.access_key_id


class Authenticator:
    """The emulator's keys and nonce store. ``access_keys`` maps id -> secret, ``sts_keys`` maps
    id -> (secret, security token); ``None`` stands for the demo key of that kind."""

    def __init__(self, access_keys: Mapping[str, str] | None,
                 sts_keys: Mapping[str, tuple[str, str]] | None) -> None:
        keys = {DEMO_ACCESS_KEY_ID: DEMO_ACCESS_KEY_SECRET} if access_keys is None else dict(access_keys)
        sts = {DEMO_STS_ACCESS_KEY_ID: (DEMO_STS_ACCESS_KEY_SECRET, DEMO_SECURITY_TOKEN)} \
            if sts_keys is None else dict(sts_keys)
        self._credentials: dict[str, acs3.Credential] = {k: acs3.Credential(v) for k, v in keys.items()}
        self._credentials.update({k: acs3.Credential(s, t) for k, (s, t) in sts.items()})
        self._nonces = acs3.NonceStore()

    def authenticate(self, *, method: str, path: str, raw_query: str, headers: list[tuple[str, str]],
                     body: bytes, now: float) -> str:
        """The access key id of a correctly signed, fresh, first-seen request; else ``SignatureRejected``.

        An ``Authorization`` header means ACS3; RPC signature parameters (and no such header) mean RPC.
        """
        folded = acs3.fold_headers(headers)
        verdict: acs3.VerificationResult
        if "authorization" in folded:
            verdict = acs3.verify_request(method=method, path=path, raw_query=raw_query, headers=headers, body=body,
                                          credentials=self._credentials.get, nonces=self._nonces, now=now)
        elif rpc_signature.is_rpc_signed(rpc_signature.signed_pairs(raw_query, folded, body)):
            verdict = rpc_signature.verify_request(method=method, raw_query=raw_query, headers=headers, body=body,
                                                   credentials=self._credentials.get, nonces=self._nonces, now=now)
        else:
            verdict = acs3.VerificationFailure(
                "IncompleteSignature", "The request signature does not conform to Aliyun standards: the request "
                                       f"is not signed. Supported: {rpc_signature.SUPPORTED}.")
        if isinstance(verdict, acs3.VerificationFailure):
            raise SignatureRejected(verdict)
        return verdict.access_key_id


def redact_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    folded = acs3.fold_headers(items)
    if "x-acs-security-token" in folded:
        folded["x-acs-security-token"] = "<redacted>"
    return folded
