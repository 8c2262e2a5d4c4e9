"""Map what the SDK raises to relay errors, by what it proves about the order.

A paid call can end in four ways, and each error class says which one happened:

- CAS refused the request before acting on it, and a resend may pass (``CasThrottled``,
  ``CasUnavailable`` for a request that never left this machine, and ``CasFailed`` for the two
  signature codes in ``RESEND_SAFE``): the only failures after which the paid call is retried;
- CAS refused it before acting, and a resend would be refused again (``CasFailed`` for the
  deployment's own credentials or permissions, ``CasRefused`` for the order's content or an empty
  package): nothing was spent, nothing is retried;
- nobody knows (``CasOutcomeUnknown``): the request may have reached CAS and no answer that proves
  otherwise came back. Only this one can hide a spent package; it goes to reconciliation.

The rule is "only proof of not acting allows a retry". Proof is either a code on one of the short
lists below, each with its source, or a transport error raised before a byte of the request left
(name resolution, a refused or timed-out connect, a failed TLS handshake). Everything else is
unknown: any 5xx (``ServiceUnavailable`` included: a gateway may answer it after the service
committed), a code on no list, a TLS or socket error while or after sending, a reset, a read
timeout, an answer that cannot be parsed.

Sources: [C10] DeleteCertificateRequest error table (help.aliyun.com/document_detail/455294.html);
[C14] help.aliyun.com/document_detail/149360.htm; [G1] API gateway common error codes
(developer.aliyun.com/ask/278265); [G2] help.aliyun.com/zh/api-gateway (control OpenAPI error
codes); [G3] help.aliyun.com/document_detail/51132.html; [G4] help.aliyun.com/document_detail/435312.html;
[G5] help.aliyun.com/en/document_detail/434846.html; [G6] DataWorks error codes; [V3]
www.alibabacloud.com/help/doc-detail/140976.htm. The letters match shared/reference/cas-api-and-signing.md.

CAS's own Message is passed on only for business refusals. Signature and credential errors are
reduced to their code: their messages can echo the string-to-sign or key ids.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from ..errors import (
    CasFailed,
    CasThrottled,
    CasUnavailable,
    FieldError,
    RelayError,
    cas_failed,
    cas_outcome_unknown,
    cas_refused,
    cas_throttled,
    cas_unavailable,
    missing_credentials,
    no_package_left,
)
from ..log import mask_contacts_in

#: Flow control: the gateway denies the call before the API runs.
THROTTLING_CODES = {
    "Throttling": "[G3][G4]",
    "Throttling.User": "[G1][C14] 'Request was denied due to user flow control.'",
    "Throttling.Api": "[G6]",
}
#: The request's own signature was refused; a newly signed resend (new nonce, new date) may pass.
RESEND_SAFE = {
    "SignatureNonceUsed": "[G1][V3] each request must carry a new x-acs-signature-nonce",
    "InvalidTimeStamp.Expired": "[G1][G5] x-acs-date more than 15 minutes off",
}
#: The function's credentials, permissions or request form were refused before the API ran; a resend
#: fails the same way until the deployment is fixed.
DEPLOYMENT_CODES = {
    "InvalidAccessKeyId.NotFound": "[G1][G3]",
    "InvalidAccessKeyId.Inactive": "[G1]",
    "SignatureDoesNotMatch": "[G1][G4]",
    "IncompleteSignature": "[G3]",
    "InvalidSignatureMethod": "[G1]",
    "InvalidTimeStamp.Format": "[G1]",
    "InvalidSecurityToken.Expired": "STS: the role's temporary credentials expired",
    "InvalidSecurityToken.Malformed": "STS: the security token is damaged",
    "InvalidSecurityToken.MismatchWithAccessKey": "STS: token and AccessKey do not belong together",
    "Forbidden.RAM": "[G3]",
    "NoPermission": "[G2]",
    "InvalidApi.NotFound": "[G1]",
    "UnsupportedHTTPMethod": "[G1][G3]",
}
#: Families of the codes above: the STS token or the AccessKey of this very request was refused.
DEPLOYMENT_PREFIXES = ("InvalidAccessKeyId.", "InvalidSecurityToken.")
#: The package is empty or was never bought [C10]: refused, nothing spent.
QUOTA_CODES = {
    "NotRemainCount": "no package left for this ProductCode; buy more certificate packages",
    "NotFoundPackage": "no certificate package has been bought for this ProductCode",
}
#: Parameter validation answers a 4xx ``Missing{Param}`` / ``Invalid{Param}`` before acting [G1][G3].
PARAMETER_PREFIXES = ("Missing", "Invalid")
_MAX_MESSAGE = 240


def _retry_after_seconds(ms: Any) -> int:
    try:
        return max(1, math.ceil(int(ms) / 1000))
    except (TypeError, ValueError):
        return 1


def resend_is_safe(err: RelayError) -> bool:
    """True only for the failures that prove CAS did not act and may accept the same order if resent."""
    if isinstance(err, CasThrottled | CasUnavailable):
        return True
    return isinstance(err, CasFailed) and (err.cas_code or "") in RESEND_SAFE


def _from_response(exc: Any) -> RelayError:
    data = exc.data if isinstance(getattr(exc, "data", None), dict) else {}
    code = str(getattr(exc, "code", None) or data.get("Code") or "Unknown")
    raw_status = getattr(exc, "status_code", None) or data.get("statusCode") or 0
    status = raw_status if isinstance(raw_status, int) else 0
    request_id = data.get("RequestId") or getattr(exc, "request_id", None)
    # CAS may echo the order's contacts; its message reaches the caller, the ledger and every sink.
    message = mask_contacts_in(str(data.get("Message") or "")[:_MAX_MESSAGE])

    if status >= 500:
        return cas_outcome_unknown(
            f"CAS answered {status} {code}; the order may or may not have been placed", request_id, answered=True)
    # By code only: the SDK raises ThrottlingException for any 4xx carrying x-acs-retry-after, and a 429
    # can come from anything on the way; neither proves that the API did not run.
    if code in THROTTLING_CODES:
        return cas_throttled(code, _retry_after_seconds(getattr(exc, "retry_after", None)), request_id)
    if code in QUOTA_CODES:
        return no_package_left(code, QUOTA_CODES[code], request_id)
    if code in RESEND_SAFE or code in DEPLOYMENT_CODES or code.startswith(DEPLOYMENT_PREFIXES):
        return cas_failed(code, "check the function's credentials, role policy and clock", request_id)
    if 400 <= status < 500 and code.startswith(PARAMETER_PREFIXES):
        field = code.split(".", 1)[1] if "." in code else "order"
        errors = (FieldError(field, code, message or "refused by CAS"),)
        return cas_refused(code, f"CAS refused the order: {message or code}", request_id, errors)
    return cas_outcome_unknown(
        f"CAS answered {status or 'without a status'} {code}, which does not prove the order was refused; it may "
        "or may not have been placed", request_id, answered=True)


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """Every exception reachable from ``exc``: causes, contexts, and the ones requests/urllib3 keep in
    ``args`` and ``reason`` (requests wraps urllib3's MaxRetryError, which holds the real error)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None),
                  getattr(current, "inner_exception", None), *current.args]
        todo.extend(e for e in linked if isinstance(e, BaseException))


#: Frames in which an error proves the request had not been sent: the connection or its TLS handshake
#: was still being set up. urllib3 sends nothing before ``connect`` (and, for HTTPS, the handshake) ends.
_SETUP_FRAMES = frozenset({"do_handshake", "_ssl_wrap_socket_and_match_hostname", "ssl_wrap_socket",
                           "_new_conn", "create_connection"})
_SEND_FRAMES = frozenset({"send", "sendall", "request", "_send_output", "getresponse", "begin", "_read_status",
                          "readinto", "recv_into", "read"})


def _raised_during_setup(exc: BaseException) -> bool:
    """Walk the traceback to the frame that raised: did it die setting the connection up, before sending?"""
    names: list[str] = []
    tb = exc.__traceback__
    while tb is not None:
        names.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    for name in reversed(names):  # innermost first
        if name in _SETUP_FRAMES:
            return True
        if name in _SEND_FRAMES:
            return False
    return False


def request_never_left(exc: BaseException) -> bool:
    """True when the transport error proves not a byte of the request was sent."""
    try:
        from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
    except ImportError:  # pragma: no cover - urllib3 ships with the SDK
        return False
    chain = list(exception_chain(exc))
    # NewConnectionError (and NameResolutionError under it) and ConnectTimeoutError are raised while
    # the TCP connection is being opened.
    if any(isinstance(e, NewConnectionError | ConnectTimeoutError) for e in chain):
        return True
    # Anything else counts only when it was raised inside the connect or the TLS handshake.
    return any(_raised_during_setup(e) for e in chain if e.__traceback__ is not None and isinstance(e, OSError))


def _from_transport(exc: BaseException) -> RelayError:
    if request_never_left(exc):
        return cas_unavailable("CAS could not be reached (the connection or its TLS handshake failed before the "
                               "request was sent); nothing was ordered")
    return cas_outcome_unknown("the connection to CAS failed after the request may have been sent (a reset, a "
                               "timeout or a TLS error); the order may or may not exist")


def map_exception(exc: BaseException) -> RelayError:
    if isinstance(exc, RelayError):
        return exc
    if getattr(exc, "code", None) == "InvalidCredentials":
        return missing_credentials()
    if hasattr(exc, "status_code") and hasattr(exc, "code"):
        return _from_response(exc)
    return _from_transport(exc)
