"""The HTTP order path end to end: FC3 event -> validation -> signed SDK call to the emulator -> response."""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree as ET

import pytest

from devkit.cas_emulator import ACTION_CREATE

ORDER = {"ProductCode": "symantec-free-1-free", "Domain": "www.example.com", "ValidateType": "DNS",
         "Username": "Tom Zhang", "Email": "tom.zhang@example.com", "Phone": "13000000000"}


def test_a_signed_json_order_is_placed_and_answered_with_its_order_id(client, embedded):
    res = client.request(ORDER)
    assert res["statusCode"] == 200
    doc = client.json(res)
    orders = embedded.emulator.orders()
    assert len(orders) == 1
    assert doc["OrderId"] == orders[0].order_id
    assert doc["RequestId"] == orders[0].request_id
    assert doc["Domains"] == ["www.example.com"]
    assert orders[0].params["Domain"] == "www.example.com"
    assert orders[0].params["ProductCode"] == "symantec-free-1-free"


def test_order_id_is_also_given_as_a_string_because_it_exceeds_2_pow_53(client):
    doc = client.json(client.request(ORDER))
    assert doc["OrderId"] > 2**53
    assert doc["OrderIdString"] == str(doc["OrderId"])
    assert float(doc["OrderId"]) != doc["OrderId"] or int(float(doc["OrderIdString"])) != doc["OrderId"]


def test_form_urlencoded_body_is_accepted(client, embedded):
    body = "ProductCode=geotrust-dv-1-starter&Domain=a.example.com%2Cb.example.com&ValidateType=FILE"
    res = client.request(body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert res["statusCode"] == 200, res["body"]
    assert client.json(res)["Domains"] == ["a.example.com", "b.example.com"]
    assert embedded.emulator.orders()[0].params["ValidateType"] == "FILE"


DOCUMENT_QUERY = {"Action": "CreateCertificateForPackageRequest", "ProductCode": "symantec-free-1-free",
                  "Domain": "www.aliyun.com", "ValidateType": "DNS", "Username": "Tom Zhang",
                  "Email": "tom.zhang@example.com", "Phone": "13000000000"}


def test_query_string_order_exactly_as_in_the_document_example_is_accepted_behind_fc_function_auth(
        embedded, monkeypatch):
    """The document's form puts the whole order in the query string. FC's ``function`` authentication
    signs the whole request, so with it (and WEBHOOK_AUTH=none) the form works verbatim."""
    from tests.conftest import HttpClient

    monkeypatch.setenv("WEBHOOK_AUTH", "none")
    import index

    index.reset_for_tests()
    res = HttpClient(embedded).request(b"", query=DOCUMENT_QUERY, signed=False)
    assert res["statusCode"] == 200, res["body"]
    assert embedded.emulator.orders()[0].params["Domain"] == "www.aliyun.com"


def test_query_string_order_signed_over_an_empty_body_is_refused_because_the_signature_covers_no_parameter(
        client, embedded):
    res = client.request(b"", query=DOCUMENT_QUERY)
    assert res["statusCode"] == 400
    assert client.json(res)["Code"] == "UnsignedParameter"
    assert embedded.emulator.orders() == []


def test_format_xml_returns_the_documents_xml_form(client):
    res = client.request(ORDER, query={"Format": "XML"})
    assert res["statusCode"] == 200
    assert res["headers"]["Content-Type"].startswith("application/xml")
    root = ET.fromstring(res["body"].split("\n", 1)[1])
    assert root.tag == "CreateCertificateForPackageRequestResponse"
    assert int(root.findtext("OrderId")) > 2**53
    assert root.findtext("RequestId")


def test_accept_application_xml_selects_xml_and_header_names_are_case_insensitive(client):
    res = client.request(ORDER, headers={"ACCEPT": "application/xml"})
    assert res["headers"]["Content-Type"].startswith("application/xml")
    err = client.request({"Domain": "bad_name.com"}, headers={"accept": "text/xml"})
    assert err["statusCode"] == 400
    root = ET.fromstring(err["body"].split("\n", 1)[1])
    assert root.tag == "Error" and root.findtext("Code") == "InvalidParameter"


def test_invalid_order_is_400_with_every_field_named_and_nothing_is_ordered(client, embedded):
    res = client.request({"ProductCode": "nope", "Domain": "*.a.com,b.com", "ValidateType": "EMAIL",
                          "Email": "x"})
    assert res["statusCode"] == 400
    fields = {e["Field"] for e in client.json(res)["Errors"]}
    assert {"ProductCode", "Domain", "ValidateType", "Email"} <= fields
    assert embedded.emulator.orders() == []


def test_action_other_than_create_is_refused(client):
    res = client.request({**ORDER, "Action": "DeleteCertificateRequest"})
    assert res["statusCode"] == 400
    assert client.json(res)["Errors"][0]["Field"] == "Action"


def test_same_parameter_in_query_and_body_with_different_values_is_refused(client, embedded, monkeypatch):
    res = client.request(ORDER, query={"Domain": "other.example.com"})
    assert res["statusCode"] == 400
    error = client.json(res)["Errors"][0]  # signed: the query string may only repeat the body
    assert (error["Field"], error["Code"]) == ("Domain", "UnsignedParameter")
    monkeypatch.setenv("WEBHOOK_AUTH", "none")
    import index

    index.reset_for_tests()
    res = client.request(ORDER, query={"Domain": "other.example.com"}, signed=False)
    assert res["statusCode"] == 400
    assert client.json(res)["Errors"][0]["Code"] == "DuplicateParameter"
    assert embedded.emulator.orders() == []


def test_malformed_json_is_400_naming_the_body(client):
    res = client.request('{"Domain": ', headers={"Content-Type": "application/json"})
    assert res["statusCode"] == 400
    assert client.json(res)["Errors"][0]["Field"] == "body"


def test_unknown_route_is_404_and_wrong_method_is_405_with_allow(client):
    assert client.request(b"", method="GET", path="/nope", signed=False)["statusCode"] == 404
    res = client.request(b"", method="GET", path="/", signed=False)
    assert res["statusCode"] == 405
    assert res["headers"]["Allow"] == "POST"


def test_health_check_answers_without_authentication(client):
    res = client.request(b"", method="GET", path="/health", signed=False)
    assert res["statusCode"] == 200
    assert client.json(res) == {"Status": "ok"}


def test_body_over_the_limit_is_413(client):
    res = client.request({"Domain": "a.example.com", "Username": "x" * 70000})
    assert res["statusCode"] == 413


def test_unsupported_content_type_is_415(client):
    res = client.request("<order/>", headers={"Content-Type": "text/xml"})
    assert res["statusCode"] == 415


def test_no_package_left_is_402_and_names_the_cas_code(client, embedded):
    embedded.emulator.set_quota("symantec-free-1-free", 1, used=1)
    res = client.request(ORDER)
    assert res["statusCode"] == 402
    doc = client.json(res)
    assert doc["Code"] == "NotRemainCount"
    assert "no package left" in doc["Message"]


def test_no_package_bought_is_402_not_found_package(client, embedded):
    embedded.emulator.set_quota("symantec-free-1-free", 0)
    res = client.request(ORDER)
    assert res["statusCode"] == 402
    assert client.json(res)["Code"] == "NotFoundPackage"


def test_cas_throttling_is_429_with_retry_after(client, embedded):
    embedded.emulator.fail_next(ACTION_CREATE, count=3, status=400, code="Throttling.User",
                                message="Request was denied due to user flow control.")
    res = client.request(ORDER)
    assert res["statusCode"] == 429
    assert int(res["headers"]["Retry-After"]) >= 1
    assert client.json(res)["Code"] == "Throttling"


def test_cas_that_cannot_be_reached_is_503_with_retry_after_and_nothing_ordered(client, embedded, monkeypatch):
    import socket

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    dead = probe.getsockname()[1]
    probe.close()
    monkeypatch.setenv("CAS_ENDPOINT", f"127.0.0.1:{dead}")
    monkeypatch.setenv("CAS_WARM_CONNECTION", "false")
    import index

    index.reset_for_tests()
    res = client.request(ORDER)
    assert res["statusCode"] == 503
    assert client.json(res)["Code"] == "CasUnavailable"
    assert "Retry-After" in res["headers"]
    assert embedded.emulator.orders() == []


def test_a_503_is_not_proof_so_casrelay_searches_before_ordering_again(client, embedded):
    """Promise: never two paid orders. ServiceUnavailable may come after CAS committed."""
    embedded.emulator.fail_next(ACTION_CREATE, count=1, status=503, code="ServiceUnavailable")
    res = client.request(ORDER)
    assert res["statusCode"] == 200
    assert len(embedded.emulator.orders()) == 1
    actions = [r.action for r in embedded.emulator.requests() if r.action != "DescribePackageState"]
    assert actions == [ACTION_CREATE, "ListUserCertificateOrder", ACTION_CREATE]


def test_a_503_after_cas_committed_is_adopted_and_never_ordered_twice(client, embedded):
    embedded.emulator.error_after_commit(ACTION_CREATE, status=503, code="ServiceUnavailable")
    res = client.request(ORDER)
    assert res["statusCode"] == 200
    [order] = embedded.emulator.orders()
    assert client.json(res)["OrderId"] == order.order_id
    assert len(embedded.emulator.requests(ACTION_CREATE)) == 1


def test_a_throttled_call_is_retried_because_cas_did_not_act(client, embedded):
    embedded.emulator.fail_next(ACTION_CREATE, status=400, code="Throttling.User")
    embedded.emulator.fail_next(ACTION_CREATE, status=400, code="SignatureNonceUsed")
    res = client.request(ORDER)
    assert res["statusCode"] == 200
    assert len(embedded.emulator.orders()) == 1
    assert len(embedded.emulator.requests(ACTION_CREATE)) == 3


def test_cas_internal_error_is_502_and_says_the_outcome_is_unknown(client, embedded, listing_lags):
    embedded.emulator.fail_next(ACTION_CREATE, status=500, code="InternalError", message="boom")
    res = client.request(ORDER)
    assert res["statusCode"] == 502
    assert client.json(res)["Code"] == "CasOutcomeUnknown"


def test_cas_business_refusal_is_400_with_cas_code(client, embedded):
    embedded.emulator.fail_next(ACTION_CREATE, status=400, code="InvalidParameter.Domain",
                                message="The domain is not allowed.")
    res = client.request(ORDER)
    assert res["statusCode"] == 400
    doc = client.json(res)
    assert doc["Code"] == "InvalidParameter.Domain"
    assert doc["Errors"][0]["Field"] == "Domain"


def test_wrong_function_credentials_are_502_and_echo_no_secret(embedded, monkeypatch):
    from tests.conftest import HttpClient

    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "not-the-secret")
    import index

    index.reset_for_tests()
    res = HttpClient(embedded).request(ORDER)
    assert res["statusCode"] == 502
    assert "SignatureDoesNotMatch" in res["body"]
    assert "not-the-secret" not in res["body"]
    assert embedded.emulator.orders() == []


def test_missing_credentials_are_503_naming_the_variables(embedded, monkeypatch):
    from tests.conftest import HttpClient

    monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_ID")
    monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    import index

    index.reset_for_tests()
    res = HttpClient(embedded).request(ORDER)
    assert res["statusCode"] == 503
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in res["body"]


def test_cas_unreachable_is_503_and_nothing_was_ordered(embedded, monkeypatch):
    import socket

    from tests.conftest import HttpClient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    monkeypatch.setenv("CAS_ENDPOINT", f"127.0.0.1:{free_port}")
    import index

    index.reset_for_tests()
    res = HttpClient(embedded).request(ORDER)
    assert res["statusCode"] == 503
    assert client_code(res) == "CasUnavailable"


def client_code(res):
    return json.loads(res["body"])["Code"]


def test_read_timeout_after_cas_committed_is_reconciled_and_answered_with_that_order(embedded, monkeypatch):
    from tests.conftest import HttpClient

    monkeypatch.setenv("CAS_READ_TIMEOUT_MS", "300")
    import index

    index.reset_for_tests()
    embedded.emulator.delay_after_commit(ACTION_CREATE, seconds=1.0)
    res = HttpClient(embedded).request(ORDER)
    orders = embedded.emulator.orders()
    assert len(orders) == 1  # the order exists although the call timed out, and it is adopted, not re-ordered
    assert res["statusCode"] == 200
    assert json.loads(res["body"])["OrderId"] == orders[0].order_id


def test_connection_closed_after_commit_is_reconciled_to_the_committed_order(client, embedded):
    embedded.emulator.close_after_commit(ACTION_CREATE)
    res = client.request(ORDER)
    assert res["statusCode"] == 200
    assert client.json(res)["OrderId"] == embedded.emulator.orders()[0].order_id


def test_an_ambiguous_failure_with_no_order_to_find_is_504_and_never_ordered_again(client, embedded, listing_lags):
    embedded.emulator.drop_before_commit(ACTION_CREATE)
    res = client.request(ORDER)
    assert res["statusCode"] == 504
    assert client_code(res) == "CasOutcomeUnknown"
    again = client.request(ORDER)
    assert again["statusCode"] == 409
    assert client_code(again) == "OrderOutcomeUnknown"
    assert embedded.emulator.orders() == []
    assert len(embedded.emulator.requests(ACTION_CREATE)) == 1


def test_no_response_ever_carries_a_stack_trace(client, embedded, monkeypatch):
    import casrelay.validation.base as base

    def explode(*a, **k):
        raise RuntimeError("secret-token-in-message")

    monkeypatch.setattr("casrelay.flows.place.validate_order", explode)
    res = client.request(ORDER)
    assert res["statusCode"] == 500
    assert "Traceback" not in res["body"] and "secret-token-in-message" not in res["body"]
    assert client_code(res) == "InternalError"
    assert base.validate_order is not explode


@pytest.mark.parametrize("fmt", ["JSON", "json", ""])
def test_format_json_or_absent_gives_json(client, fmt):
    query = {"Format": fmt} if fmt else {}
    res = client.request(ORDER, query=query)
    assert res["headers"]["Content-Type"].startswith("application/json")


def test_direct_invocation_places_the_order_and_returns_the_document(embedded):
    from tests.conftest import invoke_direct

    result = invoke_direct({"Domain": "api.example.com", "ValidateType": "DNS"})
    assert result["OrderIdString"] == str(result["OrderId"])
    assert embedded.emulator.orders()[0].params["Domain"] == "api.example.com"


def test_direct_invocation_of_an_invalid_order_returns_field_errors(embedded):
    from tests.conftest import invoke_direct

    result = invoke_direct({"Domain": "not a host"})
    assert result["Status"] == 400
    assert result["Errors"][0]["Field"] == "Domain"


def test_direct_invocation_that_fails_transiently_raises_for_fc_to_retry(embedded):
    from casrelay.entry.redelivery import TransientFailure
    from tests.conftest import invoke_direct

    embedded.emulator.fail_next(ACTION_CREATE, count=3, status=400, code="Throttling.User")
    with pytest.raises(TransientFailure, match="Throttling"):
        invoke_direct({"Domain": "api.example.com"})
    assert embedded.emulator.orders() == []


def test_an_unrecognised_event_gets_an_error_that_says_what_was_seen(embedded):
    import index
    from devkit.fc_local import make_context

    result = index.handler(json.dumps({"hello": "world"}).encode(), make_context())
    assert result["Code"] == "MalformedRequest"
    assert "keys [hello]" in result["Message"]
    result = index.handler(b"\xff\xfe", make_context())
    assert "UTF-8" in result["Message"]
    result = index.handler(b"not json", make_context())
    assert re.search("not JSON", result["Message"])


def test_internal_error_after_cas_committed_is_reconciled_to_that_order(client, embedded):
    embedded.emulator.error_after_commit(ACTION_CREATE)
    res = client.request(ORDER)
    assert res["statusCode"] == 200
    assert client.json(res)["OrderId"] == embedded.emulator.orders()[0].order_id
    assert len(embedded.emulator.orders()) == 1
