"""The signed Alidns calls beneath ``AlidnsAutomation``: one SDK client per credential set, the pacer, and
what a failure means for the follower.

Built the way ``casrelay.cas.client`` builds the CAS client, for the same reasons: the SDK is imported on
first use (a function that never validates through DNS never pays for it at cold start), one client is kept
per credential set because FC rotates STS tokens, and the SDK's own retry stays off (``autoretry=False``,
one attempt) so that every attempt waits on the pacer and the follower decides when to try again.

Unlike a paid CAS call, no Alidns failure can hide anything expensive: ``ensure`` looks before it adds, so a
timed-out add is found by the next poll. A failure therefore only has to say whether the next poll may do
better (``DnsUnavailable``: throttling, 5xx, no answer at all) or an operator must act (``DnsRefused``: the
signature, the role's permissions, a parameter Alidns will not take). Messages carry the action and the
code only: the SDK's own text can echo a URL with a signature, or the string-to-sign.
"""

from __future__ import annotations

import re
from typing import Any

from ...cas.credentials import Credentials
from ...cas.errors import exception_chain
from ...cas.ratelimit import CallPacer
from ...cas.sdk_clients import Endpoint, SdkClients
from ..exceptions import FollowError, dns_missing_credentials, dns_refused, dns_unavailable

#: The SDK method behind each action (alibabacloud_alidns20150109 4.6.1 ``client.py``).
METHODS = {
    "DescribeDomains": "describe_domains_with_options",
    "DescribeSubDomainRecords": "describe_sub_domain_records_with_options",
    "AddDomainRecord": "add_domain_record_with_options",
    "DeleteDomainRecord": "delete_domain_record_with_options",
}
#: Flow control (``Throttling``, ``Throttling.User``, ``Throttling.Api``...): the gateway denied the call
#: before it ran; the next poll, paced, may pass.
THROTTLING_PREFIX = "Throttling"
#: 4xx answers about this request's own signing, which a newly signed request (new nonce, new date) passes.
RESEND_CODES = frozenset({"SignatureNonceUsed", "InvalidTimeStamp.Expired"})
_CODE_CHARS = re.compile(r"[^A-Za-z0-9._-]")


class ExpectedAnswer(Exception):
    """Alidns refused the call with one of the codes the caller named (``expected=``): an answer that means
    something to the caller (the record exists already, the record is gone), not a failure."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _clean_code(raw: Any) -> str:
    """The error code as sent, reduced to the characters a code has; the SDK writes ``None`` as text."""
    code = _CODE_CHARS.sub("", str(raw or ""))[:80]
    return "Unknown" if code in ("", "None") else code


def answered(exc: BaseException) -> tuple[int, str] | None:
    """``(status, code)`` when ``exc`` is Alidns's answer (a tea ``ResponseException``), else None."""
    if not (hasattr(exc, "status_code") and hasattr(exc, "code")):
        return None
    raw_data = getattr(exc, "data", None)
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    raw_status = getattr(exc, "status_code", None) or data.get("statusCode") or 0
    status = raw_status if isinstance(raw_status, int) else 0
    return status, _clean_code(getattr(exc, "code", None) or data.get("Code"))


def map_exception(action: str, exc: BaseException) -> FollowError:
    """What the SDK raised for ``action``, as the follower's error; never the SDK's text."""
    if isinstance(exc, FollowError):
        return exc
    if getattr(exc, "code", None) == "InvalidCredentials":  # raised by the SDK before anything is sent
        return dns_missing_credentials(action)
    answer = answered(exc)
    if answer is not None:
        status, code = answer
        if code.startswith(THROTTLING_PREFIX) or status == 429:
            return dns_unavailable(action, f"throttled: {code}")
        if status >= 500 or code in RESEND_CODES:
            return dns_unavailable(action, f"HTTP {status or 'without a status'} {code}")
        return dns_refused(action, code)
    if any("timeout" in type(e).__name__.lower() for e in exception_chain(exc)):
        return dns_unavailable(action, "no answer in time")
    return dns_unavailable(action, "no usable answer: the connection failed or the answer could not be read")


def _alidns_client_class() -> Any:
    from alibabacloud_alidns20150109.client import Client

    return Client


class AlidnsClient:
    """Signed, paced Alidns calls for one endpoint."""

    def __init__(self, endpoint: str, protocol: str, pacer: CallPacer, *, region: str = "cn-hangzhou",
                 connect_timeout_ms: int = 5000, read_timeout_ms: int = 10000, ca_file: str | None = None) -> None:
        """``pacer`` is the composition root's (every call waits on ``alidns:<Action>``); ``ca_file`` is
        ``CAS_CA_FILE``, so that a test CA (the emulators' HTTPS mode) is trusted for Alidns as for CAS."""
        self.endpoint = endpoint
        self.protocol = protocol
        self.region = region
        self.connect_timeout_ms = connect_timeout_ms
        self.read_timeout_ms = read_timeout_ms
        self.ca_file = ca_file
        self.pacer = pacer
        self._sdk = SdkClients(Endpoint(endpoint, protocol, region, connect_timeout_ms, read_timeout_ms, ca_file),
                               _alidns_client_class)

    def warm(self) -> None:
        """Import the SDK now (an initializer may call this) instead of during the first sweep."""
        import alibabacloud_alidns20150109.client
        import alibabacloud_alidns20150109.models  # noqa: F401

    def sdk_client(self, creds: Credentials) -> Any:
        return self._sdk.get(creds)

    def _runtime(self) -> Any:
        return self._sdk.runtime()

    def call(self, action: str, request: Any, creds: Credentials | None,
             expected: frozenset[str] = frozenset()) -> Any:
        """One paced, signed call of ``action``; the SDK's response. Raises ``ExpectedAnswer`` for a refusal
        whose code is in ``expected``, else a ``FollowError``."""
        if creds is None:
            raise dns_missing_credentials(action)
        client = self.sdk_client(creds)
        self.pacer.wait("alidns:" + action)
        try:
            return getattr(client, METHODS[action])(request, self._runtime())
        except Exception as exc:
            answer = answered(exc)
            if answer is not None and answer[1] in expected:
                raise ExpectedAnswer(answer[1]) from None
            raise map_exception(action, exc) from None
