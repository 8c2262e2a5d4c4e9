"""Errors are values: stored with their kind and replayed as the same class, and rendered only where
responses are rendered (each kind's HTTP status and headers)."""

from __future__ import annotations

import pytest

from casrelay.errors import (
    NOT_ORDERED_CODE,
    CasOutcomeUnknown,
    CasRefused,
    FieldError,
    IdempotencyConflict,
    InternalError,
    InvalidOrder,
    NoPackageLeft,
    NotOrdered,
    RelayError,
    cas_outcome_unknown,
    cas_refused,
    delivery_pending,
    idempotency_conflict,
    internal_error,
    invalid_order,
    method_not_allowed,
    no_package_left,
    not_ordered,
    precheck_no_package,
    unauthenticated,
)
from casrelay.errors.values import from_value, to_value
from casrelay.response import headers_of, status_of

STORED = [
    cas_refused("InvalidParameter.Domain", "CAS refused the order: bad", "REQ-1",
                (FieldError("Domain", "InvalidParameter.Domain", "bad"),)),
    no_package_left("NotRemainCount", "no package left", "REQ-2"),
    precheck_no_package("symantec-free-1-free"),
    not_ordered(301),
    invalid_order([FieldError("Domain", "Invalid", "no")]),
    idempotency_conflict(),
]


@pytest.mark.parametrize("err", STORED, ids=lambda e: type(e).__name__ + ":" + e.code)
def test_a_stored_error_comes_back_as_the_same_class_with_the_same_fields(err: RelayError) -> None:
    back = from_value(to_value(err))
    assert type(back) is type(err)
    assert (back.code, back.message, back.errors, back.retry_after, back.cas_code) == (
        err.code, err.message, err.errors, err.retry_after, err.cas_code)
    assert back.transient == err.transient
    assert status_of(back) == status_of(err) and headers_of(back) == headers_of(err)


@pytest.mark.parametrize(("legacy", "kind", "status"), [
    ({"Status": 400, "Code": "InvalidParameter", "Message": "m", "Errors": [{"Field": "Domain", "Code": "c",
                                                                            "Message": "x"}]}, CasRefused, 400),
    ({"Status": 402, "Code": "NotRemainCount", "Message": "m"}, NoPackageLeft, 402),
    ({"Status": 503, "Code": NOT_ORDERED_CODE, "Message": "m", "RetryAfter": 1}, NotOrdered, 503),
])
def test_a_record_stored_before_kinds_were_stored_replays_as_it_was_answered_then(legacy, kind, status) -> None:
    back = from_value(legacy)
    assert type(back) is kind and status_of(back) == status and back.code == legacy["Code"]


def test_a_stored_value_carries_what_a_failure_message_needs_and_the_status_older_instances_replay() -> None:
    value = to_value(STORED[0])
    assert "Status" not in value and value["Kind"] == "CasRefused"
    assert {"Code", "Message", "Errors"} <= value.keys()
    from casrelay.response import stored_error

    assert stored_error(precheck_no_package("p"))["Status"] == 402  # an older release replays it as 402
    assert from_value(stored_error(precheck_no_package("p"))).code == "NotRemainCount"


def test_a_replayed_refusal_is_a_new_answer_and_does_not_repeat_the_first_attempts_request_id() -> None:
    stored = to_value(STORED[0])
    assert stored["RequestId"] == "REQ-1" and from_value(stored).cas_request_id is None


def test_an_unknown_stored_kind_is_answered_as_a_refusal_which_orders_nothing() -> None:
    assert type(from_value({"Kind": "SomethingElse", "Code": "X", "Message": "m"})) is CasRefused


@pytest.mark.parametrize(("err", "status"), [
    (invalid_order([FieldError("Domain", "c", "m")]), 400), (unauthenticated("no"), 401),
    (precheck_no_package("p"), 402), (method_not_allowed("PUT", "POST"), 405), (idempotency_conflict(), 422),
    (cas_outcome_unknown("m", answered=True), 502), (cas_outcome_unknown("m"), 504), (not_ordered(1), 503),
    (delivery_pending("1", ("file",)), 503), (internal_error(), 500),
])
def test_each_kind_of_error_is_rendered_with_its_own_http_status(err: RelayError, status: int) -> None:
    assert status_of(err) == status


def test_headers_come_from_the_error_value_when_to_come_back_how_to_sign_what_is_allowed() -> None:
    assert headers_of(unauthenticated("no"))["WWW-Authenticate"].startswith("StandardWebhooks")
    assert headers_of(method_not_allowed("PUT", "GET, HEAD")) == {"Allow": "GET, HEAD"}
    assert headers_of(not_ordered(1)) == {"Retry-After": "1"}
    assert headers_of(delivery_pending("1", ("file",)))["Retry-After"] == "5"
    assert headers_of(invalid_order([])) == {}


def test_every_error_kind_is_a_relay_error_grouped_by_who_caused_it() -> None:
    from casrelay.errors import caller, cas, deployment, ledger, sink

    assert issubclass(InvalidOrder, RelayError) and InvalidOrder.__module__ == caller.__name__
    assert IdempotencyConflict.__module__ == caller.__name__ and CasOutcomeUnknown.__module__ == cas.__name__
    assert {m.__name__.rsplit(".", 1)[1] for m in (caller, cas, deployment, ledger, sink)} == {
        "caller", "cas", "deployment", "ledger", "sink"}
    assert isinstance(internal_error(), InternalError)


def test_a_log_line_names_known_fields_and_hides_names_the_client_made_up() -> None:
    from casrelay.flows.place import loggable_fields

    err = invalid_order([FieldError("Domain", "c", "m"), FieldError("Tags.1.Key", "c", "m"),
                         FieldError("tom.zhang@example.com", "Unknown", "m")])
    assert loggable_fields(err) == ["Domain", "Tags.1.Key", "(other)"]
