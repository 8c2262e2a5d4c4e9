"""What each CAS failure proves, pinned where the mutation run (``python3 -m devkit.mutation``) found the
mapping in ``casrelay.cas.errors`` free to change unnoticed.

The SDK raises exceptions that carry a code, a status and a request id both as attributes and in the
answer's body (``data``); either source alone must classify the answer the same way. The transport
side is specified by where an error was raised: only an OS-level error raised while the connection
was being set up proves that no byte of the paid request left.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests
from alibabacloud_tea_openapi.exceptions import ClientException, ThrottlingException
from urllib3.exceptions import MaxRetryError, NewConnectionError

from casrelay.cas.errors import map_exception, request_never_left, resend_is_safe
from casrelay.errors import (
    CasFailed,
    CasOutcomeUnknown,
    CasRefused,
    CasThrottled,
    CasUnavailable,
)
from casrelay.response import headers_of, status_of

_UNSET = object()
NO_CONNECTION: Any = None  # urllib3 keeps the connection on the error; these tests have none


class SdkAnswer(Exception):
    """An SDK-style answer exception with only the attributes given (the real ones always set all)."""

    def __init__(self, *, code: Any = None, status_code: Any = None, data: Any = _UNSET, request_id: Any = _UNSET,
                 retry_after: Any = _UNSET, name: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.status_code = status_code
        if data is not _UNSET:
            self.data = data
        if request_id is not _UNSET:
            self.request_id = request_id
        if retry_after is not _UNSET:
            self.retry_after = retry_after


# --- retry hints ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("retry_after_ms", "seconds"), [(500, 1), (1001, 2), (2000, 2), (None, 1), ("soon", 1)])
def test_a_throttling_answer_asks_for_whole_seconds_rounded_up_and_at_least_one(retry_after_ms, seconds):
    err = map_exception(ThrottlingException(code="Throttling", status_code=400, retry_after=retry_after_ms,
                                            data={"Code": "Throttling", "RequestId": "R"}))
    assert isinstance(err, CasThrottled)
    assert err.retry_after == seconds
    assert headers_of(err)["Retry-After"] == str(seconds)


def test_a_throttling_answer_without_any_retry_hint_still_asks_for_one_second():
    err = map_exception(SdkAnswer(code="Throttling.User", status_code=400, data={}))
    assert isinstance(err, CasThrottled) and err.retry_after == 1


def test_a_throttling_answer_keeps_cas_s_own_code():
    err = map_exception(ClientException(code="Throttling.User", status_code=400, data={"Code": "Throttling.User"}))
    assert err.cas_code == "Throttling.User"


def test_an_http_429_with_a_code_on_no_list_proves_nothing_and_is_not_resent():
    """Anything on the way can answer 429; only CAS's own throttling codes prove the API did not run."""
    err = map_exception(ClientException(code="TooManyRequests", status_code=429, data={"Code": "TooManyRequests"}))
    assert isinstance(err, CasOutcomeUnknown) and not resend_is_safe(err)


def test_the_sdk_s_throttling_exception_with_a_code_on_no_list_proves_nothing():
    """The SDK raises ThrottlingException for any 4xx that carries x-acs-retry-after."""
    err = map_exception(ThrottlingException(code="Throttling.Concurrency", status_code=400, retry_after=1000,
                                            data={"Code": "Throttling.Concurrency"}))
    assert isinstance(err, CasOutcomeUnknown) and not resend_is_safe(err)


# --- where the code, the status and the request id come from --------------------------------------

def test_an_answer_whose_code_is_only_in_the_body_is_classified_by_it():
    err = map_exception(SdkAnswer(code=None, status_code=404, data={"Code": "NotRemainCount", "RequestId": "R"}))
    assert isinstance(err, CasRefused) and status_of(err) == 402 and err.cas_code == "NotRemainCount"


def test_an_answer_with_no_body_at_all_is_classified_by_its_attributes():
    err = map_exception(ClientException(code="NotRemainCount", status_code=404))
    assert isinstance(err, CasRefused) and status_of(err) == 402


def test_an_answer_whose_status_is_only_on_the_exception_is_classified_by_it():
    err = map_exception(SdkAnswer(code="InvalidParameter", status_code=400, data={"Code": "InvalidParameter"}))
    assert isinstance(err, CasRefused) and status_of(err) == 400


def test_an_answer_whose_status_is_only_in_the_body_is_classified_by_it():
    err = map_exception(SdkAnswer(code="InvalidParameter", status_code=None,
                                  data={"Code": "InvalidParameter", "statusCode": 400}))
    assert isinstance(err, CasRefused) and status_of(err) == 400


def test_a_status_that_is_not_a_number_counts_as_no_status_and_proves_nothing():
    err = map_exception(SdkAnswer(code="InvalidParameter", status_code="400", data={"Code": "InvalidParameter"}))
    assert isinstance(err, CasOutcomeUnknown)
    assert not resend_is_safe(err)


def test_the_request_id_is_taken_from_the_exception_when_the_body_lacks_it():
    err = map_exception(SdkAnswer(code="NotRemainCount", status_code=404, data={"Code": "NotRemainCount"},
                                  request_id="REQ-ATTR"))
    assert err.cas_request_id == "REQ-ATTR"


def test_the_request_id_in_the_body_wins_over_the_exception_s():
    err = map_exception(SdkAnswer(code="NotRemainCount", status_code=404,
                                  data={"Code": "NotRemainCount", "RequestId": "REQ-BODY"}, request_id="REQ-ATTR"))
    assert err.cas_request_id == "REQ-BODY"


# --- parameter refusals ---------------------------------------------------------------------------

def test_a_parameter_refusal_passes_cas_s_message_on_in_the_answer_and_the_field_error():
    err = map_exception(ClientException(code="InvalidParameter.Domain", status_code=400,
                                        data={"Code": "InvalidParameter.Domain", "Message": "the domain is bad"}))
    assert isinstance(err, CasRefused) and status_of(err) == 400
    assert "the domain is bad" in err.message
    [field] = err.errors
    assert (field.field, field.code, field.message) == ("Domain", "InvalidParameter.Domain", "the domain is bad")


def test_a_parameter_refusal_without_a_message_says_it_was_refused_by_cas_and_names_the_code():
    err = map_exception(ClientException(code="MissingDomain", status_code=400, data={"Code": "MissingDomain"}))
    assert isinstance(err, CasRefused)
    assert "MissingDomain" in err.message
    [field] = err.errors
    assert (field.field, field.code, field.message) == ("order", "MissingDomain", "refused by CAS")


def test_a_parameter_refusal_names_everything_after_the_code_s_first_dot_as_the_field():
    err = map_exception(ClientException(code="InvalidParameter.Csr.Content", status_code=400,
                                        data={"Code": "InvalidParameter.Csr.Content"}))
    assert [f.field for f in err.errors] == ["Csr.Content"]


# --- codes on no list -----------------------------------------------------------------------------

def test_an_answer_with_a_code_on_no_list_is_an_unknown_outcome_with_a_502_and_cas_s_request_id():
    err = map_exception(ClientException(code="SomethingNew", status_code=400,
                                        data={"Code": "SomethingNew", "RequestId": "REQ-9"}))
    assert isinstance(err, CasOutcomeUnknown)
    assert status_of(err) == 502 and err.cas_request_id == "REQ-9"
    assert "SomethingNew" in err.message
    assert not resend_is_safe(err)


def test_an_unknown_outcome_names_the_http_status_and_the_code_cas_answered_with():
    """The outcome goes to reconciliation; its message is the caller's and the operator's only account of
    what CAS said."""
    err = map_exception(ClientException(code="SomethingNew", status_code=409, data={"Code": "SomethingNew"}))
    assert isinstance(err, CasOutcomeUnknown)
    assert "409 SomethingNew" in err.message


@pytest.mark.parametrize("status", [None, "400"], ids=["no status", "a status that is not a number"])
def test_an_unknown_outcome_without_a_usable_status_says_it_had_none_instead_of_making_one_up(status):
    err = map_exception(SdkAnswer(code="SomethingNew", status_code=status, data={"Code": "SomethingNew"}))
    assert isinstance(err, CasOutcomeUnknown)
    assert "without a status" in err.message.lower()


# --- transport errors: what proves the request never left ------------------------------------------

def test_a_connection_error_found_only_in_a_retry_error_s_reason_proves_nothing_was_sent():
    """requests wraps urllib3's MaxRetryError, which keeps the real error in ``reason``."""
    refused = NewConnectionError(NO_CONNECTION, "Failed to establish a new connection: [Errno 111] Connection refused")
    err = map_exception(requests.exceptions.ConnectionError(MaxRetryError(NO_CONNECTION, "/", reason=refused)))
    assert isinstance(err, CasUnavailable) and resend_is_safe(err)


def test_the_whole_chain_is_searched_even_when_an_error_is_reached_twice():
    refused = NewConnectionError(NO_CONNECTION, "Connection refused")
    middle = OSError("wrapper")
    outer = RuntimeError(middle)  # ``args`` reach ``middle`` first ...
    outer.__context__ = middle  # ... then the context reaches it again ...
    outer.__cause__ = refused  # ... and the proof is only behind both
    assert isinstance(map_exception(outer), CasUnavailable)


def test_a_cycle_in_an_exception_chain_ends_the_search():
    first, second = OSError("a"), OSError("b")
    first.__context__, second.__context__ = second, first
    answers: list[object] = []
    worker = threading.Thread(target=lambda: answers.append(map_exception(first)), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "map_exception never returned for a cyclic chain"
    assert isinstance(answers[0], CasOutcomeUnknown)


def _raise_in(frame_name: str, exc: BaseException) -> BaseException:
    """Raise ``exc`` from a helper called by a function named ``frame_name`` (the frame the rule reads)."""

    def helper() -> None:
        raise exc

    def outer() -> None:
        helper()

    outer.__code__ = outer.__code__.replace(co_name=frame_name)
    try:
        outer()
    except BaseException as raised:  # the point is to keep it, with its traceback
        return raised
    raise AssertionError("unreachable")


def test_an_os_error_raised_anywhere_beneath_the_connection_setup_proves_nothing_was_sent():
    assert request_never_left(_raise_in("create_connection", OSError("no route to host")))
    assert isinstance(map_exception(_raise_in("_new_conn", OSError("no route"))), CasUnavailable)


def test_an_os_error_raised_beneath_the_send_proves_nothing():
    assert not request_never_left(_raise_in("sendall", OSError("broken pipe")))


def test_an_error_that_is_not_an_os_error_proves_nothing_even_during_the_connection_setup():
    assert not request_never_left(_raise_in("create_connection", ValueError("bad port")))
    assert isinstance(map_exception(_raise_in("_new_conn", ValueError("bad"))), CasOutcomeUnknown)


def test_a_refused_call_with_the_deployment_s_credentials_is_failed_and_not_resent():
    err = map_exception(ClientException(code="Forbidden.RAM", status_code=403, data={"Code": "Forbidden.RAM"}))
    assert isinstance(err, CasFailed) and not resend_is_safe(err)
