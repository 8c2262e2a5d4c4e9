"""Every CAS failure maps to one relay error, by what it proves about whether an order exists."""

from __future__ import annotations

import pytest
import requests
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException
from darabonba.exceptions import RetryError

from casrelay.cas.errors import map_exception
from casrelay.errors import CasFailed, CasOutcomeUnknown, CasRefused, CasThrottled
from casrelay.response import headers_of, status_of


def _body(code: str, message: str = "msg") -> dict:
    return {"RequestId": "REQ-1", "HostId": "cas.aliyuncs.com", "Code": code, "Message": message}


def _transport(original: BaseException) -> BaseException:
    """Build what darabonba raises: RetryError(str(e)) inside ``except IOError``, so __context__ is the cause."""
    try:
        try:
            raise original
        except OSError as e:
            raise RetryError(str(e)) from None
    except RetryError as wrapped:
        wrapped.__context__ = original
        return wrapped


@pytest.mark.parametrize(
    ("exc", "cls", "status"),
    [
        (ClientException(code="Throttling.User", status_code=400, data=_body("Throttling.User")), CasThrottled, 429),
        (ThrottlingException(code="Throttling", status_code=400, retry_after=2500, data=_body("Throttling")),
         CasThrottled, 429),
        (ClientException(code="NotRemainCount", status_code=404, data=_body("NotRemainCount")), CasRefused, 402),
        (ClientException(code="NotFoundPackage", status_code=404, data=_body("NotFoundPackage")), CasRefused, 402),
        (ClientException(code="InvalidParameter", status_code=400, data=_body("InvalidParameter")), CasRefused, 400),
        (ClientException(code="SignatureDoesNotMatch", status_code=400,
                         data=_body("SignatureDoesNotMatch", "server string to sign is: ...")), CasFailed, 502),
        (ClientException(code="InvalidAccessKeyId.NotFound", status_code=404,
                         data=_body("InvalidAccessKeyId.NotFound")), CasFailed, 502),
        (ClientException(code="Forbidden.RAM", status_code=403, data=_body("Forbidden.RAM")), CasFailed, 502),
        (ClientException(code="InvalidTimeStamp.Expired", status_code=400, data=_body("InvalidTimeStamp.Expired")),
         CasFailed, 502),
        (ServerException(code="ServiceUnavailable", status_code=503, data=_body("ServiceUnavailable")),
         CasOutcomeUnknown, 502),
        (ServerException(code="InternalError", status_code=500, data=_body("InternalError")), CasOutcomeUnknown, 502),
    ],
)
def test_cas_error_responses_map_to_a_status_and_class(exc, cls, status):
    err = map_exception(exc)
    assert isinstance(err, cls)
    assert status_of(err) == status
    assert err.cas_request_id == "REQ-1"


def test_throttling_retry_after_is_whole_seconds_rounded_up():
    err = map_exception(ThrottlingException(code="Throttling", status_code=400, retry_after=2500,
                                            data=_body("Throttling")))
    assert err.retry_after == 3
    assert headers_of(err)["Retry-After"] == "3"


def test_signature_error_messages_are_not_echoed():
    err = map_exception(ClientException(code="SignatureDoesNotMatch", status_code=400,
                                        data=_body("SignatureDoesNotMatch", "server string to sign is: SECRETISH")))
    assert "SECRETISH" not in err.message


def test_transient_errors_are_marked_transient_and_refusals_are_not():
    assert map_exception(ClientException(code="Throttling.User", status_code=400, data=_body("x"))).transient
    assert not map_exception(ClientException(code="NotRemainCount", status_code=404, data=_body("x"))).transient


@pytest.mark.parametrize(
    "original",
    [
        requests.exceptions.ConnectionError("Failed to establish a new connection: [Errno 111] Connection refused"),
        requests.exceptions.ConnectTimeout("connect timeout"),
        requests.exceptions.SSLError("handshake failed"),
        requests.exceptions.ReadTimeout("Read timed out. (read timeout=10)"),
    ],
)
def test_a_transport_error_named_like_a_connect_failure_is_not_proof_by_its_name_alone(original):
    """Only where it was raised counts (tests/unit/test_paid_call_failure_classes.py raises each one for real)."""
    assert isinstance(map_exception(_transport(original)), CasOutcomeUnknown)


def test_an_unknown_exception_is_treated_as_an_unknown_outcome_never_as_safe():
    assert isinstance(map_exception(RuntimeError("Failed to parse the value as json format")), CasOutcomeUnknown)


def test_no_credentials_in_the_sdk_maps_to_missing_credentials():
    err = map_exception(ClientException(code="InvalidCredentials", message="Please set up the credentials"))
    assert err.code == "MissingCredentials"
