"""Map what the SDK raises to relay errors, by what it proves about the order.

Three outcomes matter for a paid call, and each error class says which one happened:
- CAS did not act (``CasThrottled``, ``CasUnavailable``, ``CasFailed``): safe to try again;
- CAS refused the order (``CasRefused``): permanent, and nothing was spent;
- nobody knows (``CasOutcomeUnknown``): the request left and no answer came back, so an order may
  exist. Only this one can hide a spent package, and it is never retried blindly.

CAS's own Message is passed on only for business refusals. Signature and credential errors are
reduced to their code: their messages can echo the string-to-sign or key ids, which help nobody
calling the function.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import (
    FieldError,
    RelayError,
    cas_failed,
    cas_outcome_unknown,
    cas_refused,
    cas_throttled,
    cas_unavailable,
    missing_credentials,
)

#: Codes that prove the request was rejected before CAS looked at the order.
NOT_ACTED_PREFIXES = (
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "IncompleteSignature", "InvalidSecurityToken",
    "InvalidTimeStamp", "SignatureNonceUsed", "InvalidSignatureMethod", "Forbidden", "NoPermission",
    "AccessDenied", "InvalidApi", "InvalidVersion", "UnsupportedHTTPMethod", "InvalidRegionId",
)
QUOTA_CODES = {
    "NotRemainCount": "no package left for this ProductCode; buy more certificate packages",
    "NotFoundPackage": "no certificate package has been bought for this ProductCode",
}
TRANSIENT_CODES = ("ServiceUnavailable", "DeductQuotaFailed")
_MAX_MESSAGE = 240


def _retry_after_seconds(ms: Any) -> int:
    try:
        return max(1, math.ceil(int(ms) / 1000))
    except (TypeError, ValueError):
        return 1


def _from_response(exc: Any) -> RelayError:
    data = exc.data if isinstance(getattr(exc, "data", None), dict) else {}
    code = str(getattr(exc, "code", None) or data.get("Code") or "Unknown")
    status = getattr(exc, "status_code", None) or data.get("statusCode") or 0
    request_id = data.get("RequestId") or getattr(exc, "request_id", None)
    message = str(data.get("Message") or "")[:_MAX_MESSAGE]

    if type(exc).__name__ == "ThrottlingException" or code.startswith("Throttling") or status == 429:
        return cas_throttled(code, _retry_after_seconds(getattr(exc, "retry_after", None)), request_id)
    if code in QUOTA_CODES:
        return cas_refused(402, code, QUOTA_CODES[code], request_id)
    if code.startswith(NOT_ACTED_PREFIXES):
        return cas_failed(code, "check the function's credentials, role policy and clock", request_id)
    if code in TRANSIENT_CODES or status == 503:
        return cas_unavailable(f"CAS is temporarily unavailable ({code})", request_id, cas_code=code)
    if isinstance(status, int) and status >= 500:
        return cas_outcome_unknown(
            f"CAS failed with {code} after receiving the order; it may or may not have been placed", request_id,
            status=502,
        )
    field = code.split(".", 1)[1] if code.startswith(("Invalid", "Missing")) and "." in code else "order"
    errors = (FieldError(field, code, message or "refused by CAS"),)
    return cas_refused(400, code, f"CAS refused the order: {message or code}", request_id, errors)


def _from_transport(exc: BaseException) -> RelayError:
    """darabonba wraps transport errors in ``RetryError(str(e))`` raised inside ``except IOError``, so the
    original ``requests`` exception survives only as ``__context__``; its class tells whether the
    request left the machine."""
    inner: BaseException | None = getattr(exc, "inner_exception", None) or exc
    original = inner.__context__ if inner is not None and inner.__context__ is not None else inner
    try:
        import requests
    except ImportError:  # pragma: no cover - requests ships with the SDK
        return cas_outcome_unknown("the CAS call failed in transport; the order may or may not exist")
    if isinstance(original, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError)):
        return cas_unavailable("CAS could not be reached (connect failed); nothing was ordered")
    if isinstance(original, requests.exceptions.ConnectionError) and not isinstance(
        original, requests.exceptions.ReadTimeout
    ):
        reason = repr(original)
        if "NewConnectionError" in reason or "Connection refused" in reason or "NameResolution" in reason:
            return cas_unavailable("CAS could not be reached (connection refused); nothing was ordered")
    if isinstance(original, requests.exceptions.Timeout):
        return cas_outcome_unknown("CAS did not answer in time after receiving the order; it may or may not exist")
    return cas_outcome_unknown("the connection to CAS failed after the order was sent; it may or may not exist")


def map_exception(exc: BaseException) -> RelayError:
    if isinstance(exc, RelayError):
        return exc
    if getattr(exc, "code", None) == "InvalidCredentials":
        return missing_credentials()
    if hasattr(exc, "status_code") and hasattr(exc, "code"):
        return _from_response(exc)
    return _from_transport(exc)
