"""The CAS emulator driven by the real SDK (alibabacloud_cas20200407 + tea-openapi 0.4.6).

Every call here goes through the SDK's own signing, URL encoding and
exception mapping over loopback HTTP, so a passing test means the relay's
real client code will see the same bytes and the same exceptions.
"""

from __future__ import annotations

import concurrent.futures
import random
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from alibabacloud_cas20200407 import models as cas_models
from alibabacloud_cas20200407.client import Client
from alibabacloud_tea_openapi import utils_models as open_api_models
from alibabacloud_tea_openapi.client import Client as OpenApiClient
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException
from alibabacloud_tea_openapi.utils_models import Config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from darabonba.exceptions import UnretryableException
from darabonba.policy.retry import RetryOptions
from darabonba.runtime import RuntimeOptions

from devkit.cas_emulator import (
    ACTION_CREATE,
    ACTION_LIST_ORDERS,
    ACTION_PACKAGE_STATE,
    DEMO_ACCESS_KEY_ID,
    DEMO_ACCESS_KEY_SECRET,
    DEMO_SECURITY_TOKEN,
    DEMO_STS_ACCESS_KEY_ID,
    DEMO_STS_ACCESS_KEY_SECRET,
    DOCUMENTED_STATUSES,
    FIRST_ORDER_ID,
    OUTCOME_CLOSED_AFTER_COMMIT,
    OUTCOME_DELAYED_AFTER_COMMIT,
    OUTCOME_DROPPED,
    OUTCOME_ERROR_AFTER_COMMIT,
    THROTTLING_CODE,
    THROTTLING_MESSAGE,
    CasEmulator,
)

Tag = cas_models.CreateCertificateForPackageRequestRequestTags


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """darabonba hands HTTP(S)_PROXY to requests without honouring NO_PROXY; loopback must stay direct."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emu() -> Iterator[CasEmulator]:
    with CasEmulator() as emulator:
        yield emulator


def make_client(emulator: CasEmulator, *, access_key_id: str = DEMO_ACCESS_KEY_ID,
                secret: str = DEMO_ACCESS_KEY_SECRET, security_token: str | None = None,
                read_timeout_ms: int | None = None) -> Client:
    config = Config(access_key_id=access_key_id, access_key_secret=secret, security_token=security_token,
                    endpoint=emulator.endpoint, protocol="http", region_id="cn-hangzhou",
                    read_timeout=read_timeout_ms)
    return Client(config)


def create(client: Client, domain: str = "www.example.com", **kwargs: object) -> int:
    request = cas_models.CreateCertificateForPackageRequestRequest(domain=domain, **kwargs)
    order_id = client.create_certificate_for_package_request(request).body.order_id
    assert isinstance(order_id, int)
    return order_id


@pytest.fixture(scope="module")
def csr_with_plus() -> str:
    """A 2048-bit RSA CSR whose PEM contains '+' (base64 almost always does; loop to be certain)."""
    for _ in range(50):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "csr.example.com")]))
            .sign(key, hashes.SHA256())
        )
        pem = csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
        if "+" in pem:
            return pem
    raise AssertionError("could not produce a CSR containing '+'")


# --------------------------------------------------------------------------- authentication


def test_access_key_round_trip_creates_an_order_and_spends_one_quota_unit(emu: CasEmulator) -> None:
    client = make_client(emu)

    order_id = create(client, "www.example.com", validate_type="DNS")

    assert order_id == FIRST_ORDER_ID
    order = emu.get_order(order_id)
    assert (order.domain, order.product_code, order.status, order.validate_type) == (
        "www.example.com", "digicert-free-1-free", "PAYED", "DNS")
    assert order.access_key_id == DEMO_ACCESS_KEY_ID
    assert emu.quota().used == 1
    assert emu.request_count(outcome=THROTTLING_CODE) == 0


def test_order_ids_above_2_pow_53_survive_the_sdk_exactly(emu: CasEmulator) -> None:
    client = make_client(emu)

    first, second = create(client, "a.example.com"), create(client, "b.example.com")

    assert first > 2**53
    assert second == first + 1
    assert emu.get_order(second).domain == "b.example.com"


def test_sts_round_trip_is_accepted_and_the_token_is_redacted_from_records(emu: CasEmulator) -> None:
    client = make_client(emu, access_key_id=DEMO_STS_ACCESS_KEY_ID, secret=DEMO_STS_ACCESS_KEY_SECRET,
                         security_token=DEMO_SECURITY_TOKEN)

    order_id = create(client)

    assert emu.get_order(order_id).access_key_id == DEMO_STS_ACCESS_KEY_ID
    (record,) = emu.requests(ACTION_CREATE)
    assert record.headers["x-acs-security-token"] == "<redacted>"
    assert DEMO_SECURITY_TOKEN not in repr(emu.requests())


def test_sts_key_with_wrong_token_is_rejected_with_InvalidSecurityToken_Mismatch(emu: CasEmulator) -> None:
    client = make_client(emu, access_key_id=DEMO_STS_ACCESS_KEY_ID, secret=DEMO_STS_ACCESS_KEY_SECRET,
                         security_token="stolen-token")

    with pytest.raises(ClientException) as info:
        create(client)

    assert info.value.code == "InvalidSecurityToken.Mismatch"
    assert emu.orders() == []


def test_wrong_secret_raises_ClientException_SignatureDoesNotMatch_with_the_gateway_error_body(
    emu: CasEmulator,
) -> None:
    client = make_client(emu, secret="not-the-secret")

    with pytest.raises(ClientException) as info:
        create(client)

    err = info.value
    assert (err.code, err.status_code) == ("SignatureDoesNotMatch", 400)
    assert set(err.data) == {"RequestId", "HostId", "Code", "Message", "Recommend", "statusCode"}
    assert err.data["Recommend"] == (
        f"https://api.aliyun.com/troubleshoot?q=SignatureDoesNotMatch&product=cas&requestId={err.request_id}")
    assert emu.orders() == [] and emu.quota().used == 0


def test_unknown_access_key_raises_InvalidAccessKeyId_NotFound(emu: CasEmulator) -> None:
    with pytest.raises(ClientException) as info:
        create(make_client(emu, access_key_id="LTAI-nobody"))

    assert (info.value.code, info.value.status_code) == ("InvalidAccessKeyId.NotFound", 404)


def test_client_clock_20_minutes_off_is_rejected_with_InvalidTimeStamp_Expired() -> None:
    with CasEmulator(clock=lambda: time.time() + 20 * 60) as skewed, pytest.raises(ClientException) as info:
        create(make_client(skewed))

    assert info.value.code == "InvalidTimeStamp.Expired"


def test_unknown_action_is_InvalidApi_NotFound_and_wrong_version_is_InvalidVersion(emu: CasEmulator) -> None:
    client = OpenApiClient(Config(access_key_id=DEMO_ACCESS_KEY_ID, access_key_secret=DEMO_ACCESS_KEY_SECRET,
                                  endpoint=emu.endpoint, protocol="http"))

    def call(action: str, version: str) -> ClientException:
        params = open_api_models.Params(action=action, version=version, protocol="HTTPS", pathname="/",
                                        method="POST", auth_type="AK", style="RPC", req_body_type="formData",
                                        body_type="json")
        with pytest.raises(ClientException) as info:
            client.call_api(params, open_api_models.OpenApiRequest(query={}), RuntimeOptions())
        return info.value

    assert (call("DescribeNothing", "2020-04-07").code, call("DescribeNothing", "2020-04-07").status_code) == (
        "InvalidApi.NotFound", 404)
    assert call(ACTION_PACKAGE_STATE, "2019-01-01").code == "InvalidVersion"


def test_parameters_in_a_form_urlencoded_body_are_accepted(emu: CasEmulator) -> None:
    client = OpenApiClient(Config(access_key_id=DEMO_ACCESS_KEY_ID, access_key_secret=DEMO_ACCESS_KEY_SECRET,
                                  endpoint=emu.endpoint, protocol="http"))
    params = open_api_models.Params(action=ACTION_CREATE, version="2020-04-07", protocol="HTTPS", pathname="/",
                                    method="POST", auth_type="AK", style="RPC", req_body_type="formData",
                                    body_type="json")

    result = client.call_api(params, open_api_models.OpenApiRequest(
        body={"Domain": "form.example.com", "Tags": [{"Key": "a b", "Value": "c+d"}]}), RuntimeOptions())

    order = emu.get_order(result["body"]["OrderId"])
    assert order.domain == "form.example.com"
    assert order.tags == [{"Key": "a b", "Value": "c+d"}]


# --------------------------------------------------------------------------- what arrives


def test_csr_with_plus_and_newlines_arrives_byte_exact_and_its_cn_wins_over_domain(
    emu: CasEmulator, csr_with_plus: str,
) -> None:
    assert "+" in csr_with_plus and "\n" in csr_with_plus

    order_id = create(make_client(emu), "ignored.example.com", csr=csr_with_plus)

    order = emu.get_order(order_id)
    assert order.params["Csr"] == csr_with_plus
    assert order.csr == csr_with_plus
    assert order.domain == "csr.example.com"
    assert order.key_algorithm == "RSA"


def test_tags_with_spaces_and_asterisks_arrive_intact(emu: CasEmulator) -> None:
    tags = [Tag(key="cost center", value="team *a* ~ 1"), Tag(key="relay", value="")]

    order_id = create(make_client(emu), tags=tags)

    order = emu.get_order(order_id)
    assert order.tags == [{"Key": "cost center", "Value": "team *a* ~ 1"}, {"Key": "relay", "Value": ""}]
    assert order.params["Tags.1.Key"] == "cost center"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"domain": None}, "MissingParameter"),
        ({"product_code": "no-such-product"}, "InvalidParameter.ProductCode"),
        ({"validate_type": "EMAIL"}, "InvalidParameter.ValidateType"),
        ({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nnope\n-----END CERTIFICATE REQUEST-----\n"},
         "InvalidParameter.Csr"),
        ({"domain": "a.example.com,*.example.com"}, "InvalidParameter.Domain"),
        ({"domain": "a.com,b.com,c.com,d.com,e.com,f.com"}, "InvalidParameter.Domain"),
    ],
)
def test_invalid_create_parameters_are_rejected_without_spending_quota(
    emu: CasEmulator, kwargs: dict[str, object], code: str,
) -> None:
    request = cas_models.CreateCertificateForPackageRequestRequest(**{"domain": "www.example.com", **kwargs})

    with pytest.raises(ClientException) as info:
        make_client(emu).create_certificate_for_package_request(request)

    assert (info.value.code, info.value.status_code) == (code, 400)
    assert emu.quota().used == 0 and emu.orders() == []


def test_csr_with_a_1024_bit_rsa_key_is_rejected(emu: CasEmulator) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - must be rejected
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak.example.com")]))
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode("ascii"))

    with pytest.raises(ClientException) as info:
        create(make_client(emu), csr=csr)

    assert info.value.code == "InvalidParameter.Csr"


# --------------------------------------------------------------------------- quota and orders


def test_exhausted_quota_is_NotRemainCount_and_a_product_without_package_is_NotFoundPackage() -> None:
    with CasEmulator(quotas={"digicert-free-1-free": 1}) as emu:
        client = make_client(emu)
        create(client, "one.example.com")

        with pytest.raises(ClientException) as exhausted:
            create(client, "two.example.com")
        with pytest.raises(ClientException) as no_package:
            create(client, "three.example.com", product_code="geotrust-dv-1-starter")

        assert (exhausted.value.code, exhausted.value.status_code) == ("NotRemainCount", 404)
        assert (no_package.value.code, no_package.value.status_code) == ("NotFoundPackage", 404)
        assert len(emu.orders()) == 1

        emu.set_quota("digicert-free-1-free", 2)
        create(client, "two.example.com")
        assert emu.quota().used == 2


def test_describe_package_state_reports_total_used_and_issued(emu: CasEmulator) -> None:
    client = make_client(emu)
    emu.set_quota("digicert-free-1-free", 20)
    first = create(client, "a.example.com")
    create(client, "b.example.com")
    emu.set_order_status(first, "ISSUED")

    body = client.describe_package_state(cas_models.DescribePackageStateRequest()).body

    assert (body.product_code, body.total_count, body.used_count, body.issued_count) == (
        "digicert-free-1-free", 20, 2, 1)
    assert body.request_id


def test_describe_certificate_state_gives_dns_or_file_validation_data(emu: CasEmulator) -> None:
    client = make_client(emu)
    dns_id = create(client, "*.wild.example.com", validate_type="DNS", product_code="geotrust-dv-w-starter")
    file_id = create(client, "file.example.com", validate_type="FILE")

    dns = client.describe_certificate_state(cas_models.DescribeCertificateStateRequest(order_id=dns_id)).body
    file = client.describe_certificate_state(cas_models.DescribeCertificateStateRequest(order_id=file_id)).body

    assert (dns.type, dns.validate_type, dns.record_type, dns.record_domain) == (
        "domain_verify", "DNS", "TXT", "_dnsauth.wild.example.com")
    assert dns.record_value
    assert (file.type, file.validate_type, file.domain) == ("domain_verify", "FILE", "file.example.com")
    assert file.uri == "http://file.example.com/.well-known/pki-validation/fileauth.txt" and file.content

    emu.set_order_status(file_id, "ISSUED")
    issued = client.describe_certificate_state(cas_models.DescribeCertificateStateRequest(order_id=file_id)).body
    assert issued.type == "certificate"
    assert x509.load_pem_x509_certificate(issued.certificate.encode()).subject.rfc4514_string() == (
        "CN=file.example.com")
    assert issued.private_key.startswith("-----BEGIN PRIVATE KEY-----")

    with pytest.raises(ClientException) as info:
        client.describe_certificate_state(cas_models.DescribeCertificateStateRequest(order_id=12345))
    assert (info.value.code, info.value.status_code) == ("NotFoundOrder", 404)


def test_list_user_certificate_order_filters_by_keyword_and_status_and_pages(emu: CasEmulator) -> None:
    client = make_client(emu)
    ids = [create(client, f"host{i}.shop.example.com") for i in range(3)]
    other = create(client, "blog.example.org")
    emu.set_order_status(ids[0], "ISSUED")

    def listing(**kwargs: object) -> cas_models.ListUserCertificateOrderResponseBody:
        request = cas_models.ListUserCertificateOrderRequest(**kwargs)
        return client.list_user_certificate_order(request).body

    everything = listing()
    assert (everything.total_count, everything.current_page, everything.show_size) == (4, 1, 50)
    assert [o.order_id for o in everything.certificate_order_list] == [other, *reversed(ids)]
    item = everything.certificate_order_list[0]
    assert (item.domain, item.status, item.product_code, item.cert_type, item.source_type) == (
        "blog.example.org", "PAYED", "digicert-free-1-free", "FREE", "cpack")
    assert item.instance_id

    assert [o.order_id for o in listing(keyword="shop").certificate_order_list] == list(reversed(ids))
    assert [o.order_id for o in listing(keyword=str(other)[-6:]).certificate_order_list] == [other]
    issued = listing(status="ISSUED").certificate_order_list
    assert [o.order_id for o in issued] == [ids[0]]
    assert issued[0].cert_end_time > issued[0].cert_start_time > 0

    page2 = listing(keyword="shop", current_page=2, show_size=2)
    assert (page2.total_count, [o.order_id for o in page2.certificate_order_list]) == (3, [ids[0]])
    assert listing(order_type="UPLOAD").total_count == 0


def _cancel(client: Client, order_id: int) -> cas_models.CancelCertificateForPackageRequestResponseBody:
    return client.cancel_certificate_for_package_request(
        cas_models.CancelCertificateForPackageRequestRequest(order_id=order_id)).body


Listed = cas_models.ListUserCertificateOrderResponseBodyCertificateOrderList


def _listed(client: Client, **kwargs: object) -> list[Listed]:
    body = client.list_user_certificate_order(cas_models.ListUserCertificateOrderRequest(**kwargs)).body
    return list(body.certificate_order_list or [])


def test_cancelling_a_pending_order_returns_its_quota_unit_and_unlists_it(emu: CasEmulator) -> None:
    client = make_client(emu)
    order_id = create(client)
    kept = create(client, "kept.example.com")
    assert emu.quota().used == 2

    body = _cancel(client, order_id)

    assert body.request_id
    order = emu.get_order(order_id)
    assert order.cancelled and order.status == "PAYED"  # no invented CANCELLED status
    assert client.describe_package_state(cas_models.DescribePackageStateRequest()).body.used_count == 1
    assert [o.order_id for o in _listed(client)] == [kept]
    assert [o.order_id for o in emu.orders()] == [order_id, kept]  # tests still see it
    assert [o.order_id for o in emu.paid_orders()] == [kept]
    with pytest.raises(ClientException) as described:
        client.describe_certificate_state(cas_models.DescribeCertificateStateRequest(order_id=order_id))
    with pytest.raises(ClientException) as again:
        _cancel(client, order_id)
    assert (described.value.code, again.value.code) == ("NotFoundOrder", "NotFoundOrder")


def test_cancelling_an_issued_order_revokes_it_without_returning_quota(emu: CasEmulator) -> None:
    client = make_client(emu)
    order_id = create(client)
    emu.set_order_status(order_id, "ISSUED")

    _cancel(client, order_id)

    order = emu.get_order(order_id)
    assert (order.status, order.cancelled) == ("REVOKED", False)
    assert emu.quota().used == 1 and [o.order_id for o in emu.paid_orders()] == [order_id]
    assert [(o.order_id, o.status) for o in _listed(client)] == [(order_id, "REVOKED")]
    with pytest.raises(ClientException) as again:
        _cancel(client, order_id)
    assert again.value.code == "OrderStateError"


def test_only_the_documented_statuses_exist(emu: CasEmulator) -> None:
    assert DOCUMENTED_STATUSES == ("PAYED", "CHECKING", "CHECKED_FAIL", "ISSUED", "WILLEXPIRED", "EXPIRED",
                                   "NOTACTIVATED", "REVOKED")
    client = make_client(emu)
    order_id = create(client)
    with pytest.raises(ValueError, match="documented"):
        emu.set_order_status(order_id, "CANCELLED")
    with pytest.raises(ValueError, match="documented"):
        CasEmulator(initial_order_status="CANCELED")
    with pytest.raises(ClientException) as info:
        _listed(client, status="CANCELLED")
    assert info.value.code == "InvalidParameter.Status"
    for status in DOCUMENTED_STATUSES:
        emu.set_order_status(order_id, status)
        assert [o.status for o in _listed(client, status=status)] == [status]


# --------------------------------------------------------------------------- flow control


def test_eleventh_call_within_one_second_is_throttled_with_Throttling_User(emu: CasEmulator) -> None:
    client = make_client(emu)
    request = cas_models.DescribePackageStateRequest()
    started = time.monotonic()
    for _ in range(10):
        client.describe_package_state(request)

    with pytest.raises(ClientException) as info:
        client.describe_package_state(request)

    assert time.monotonic() - started < 1.0, "loopback too slow for a one-second window"
    assert (info.value.code, info.value.status_code) == (THROTTLING_CODE, 400)
    assert info.value.data["Message"] == THROTTLING_MESSAGE
    assert [r.action for r in emu.throttled_requests()] == [ACTION_PACKAGE_STATE]
    # The window is per action and per access key.
    create(client)
    sts = make_client(emu, access_key_id=DEMO_STS_ACCESS_KEY_ID, secret=DEMO_STS_ACCESS_KEY_SECRET,
                      security_token=DEMO_SECURITY_TOKEN)
    sts.describe_package_state(request)
    assert emu.request_count(outcome=THROTTLING_CODE) == 1


def test_retry_after_option_turns_throttling_into_ThrottlingException() -> None:
    with CasEmulator(qps=1, throttle_retry_after_ms=250) as emu:
        client = make_client(emu)
        client.describe_package_state(cas_models.DescribePackageStateRequest())

        with pytest.raises(ThrottlingException) as info:
            client.describe_package_state(cas_models.DescribePackageStateRequest())

        assert (info.value.code, info.value.retry_after) == (THROTTLING_CODE, 250)


# --------------------------------------------------------------------------- fault injection


def test_fail_next_returns_injected_503_as_ServerException_without_creating_an_order(emu: CasEmulator) -> None:
    client = make_client(emu)
    emu.fail_next(ACTION_CREATE, count=2)

    for _ in range(2):
        with pytest.raises(ServerException) as info:
            create(client)
        assert (info.value.code, info.value.status_code) == ("ServiceUnavailable", 503)
    assert emu.orders() == [] and emu.quota().used == 0

    create(client)
    assert emu.counts_by_outcome(ACTION_CREATE) == {"ServiceUnavailable": 2, "ok": 1}


def test_sdk_retry_after_injected_503_is_signed_with_retry_headers_and_orders_once(emu: CasEmulator) -> None:
    retry = RetryOptions({"retryable": True, "retryCondition": [
        {"maxAttempts": 3, "exception": ["ServerException"], "backoff": {"policy": "Fixed", "period": 10}}]})
    client = Client(Config(access_key_id=DEMO_ACCESS_KEY_ID, access_key_secret=DEMO_ACCESS_KEY_SECRET,
                           endpoint=emu.endpoint, protocol="http", retry_options=retry))
    emu.fail_next(ACTION_CREATE)

    create(client, "retried.example.com")

    first, second = emu.requests(ACTION_CREATE)
    assert (first.outcome, second.outcome) == ("ServiceUnavailable", "ok")
    assert second.headers["x-acs-retry-attempts"] == "1"
    assert first.headers["x-acs-signature-nonce"] != second.headers["x-acs-signature-nonce"]
    assert [o.domain for o in emu.orders()] == ["retried.example.com"]


def test_added_latency_delays_responses(emu: CasEmulator) -> None:
    client = make_client(emu)
    emu.set_latency(300, action=ACTION_PACKAGE_STATE)

    started = time.monotonic()
    client.describe_package_state(cas_models.DescribePackageStateRequest())
    slow = time.monotonic() - started
    started = time.monotonic()
    create(client)
    fast = time.monotonic() - started

    assert slow >= 0.3 > fast


def test_timeout_after_commit_leaves_an_order_while_the_sdk_raises_a_read_timeout(emu: CasEmulator) -> None:
    client = make_client(emu, read_timeout_ms=300)
    emu.delay_after_commit(ACTION_CREATE, seconds=1.5)

    started = time.monotonic()
    with pytest.raises(UnretryableException) as info:
        create(client, "ambiguous.example.com")

    assert time.monotonic() - started < 1.2
    assert "timed out" in str(info.value.inner_exception).lower()
    (order,) = emu.orders()
    assert order.domain == "ambiguous.example.com"
    assert emu.quota().used == 1
    assert emu.request_count(ACTION_CREATE, OUTCOME_DELAYED_AFTER_COMMIT) == 1
    # Only one call was affected; the next one is answered normally.
    assert create(client, "next.example.com") == order.order_id + 1


def test_close_after_commit_stores_the_order_but_sends_no_response(emu: CasEmulator) -> None:
    client = make_client(emu)
    emu.close_after_commit(ACTION_CREATE)

    with pytest.raises(UnretryableException):
        create(client, "lost-reply.example.com")

    assert [o.domain for o in emu.orders()] == ["lost-reply.example.com"]
    assert emu.request_count(ACTION_CREATE, OUTCOME_CLOSED_AFTER_COMMIT) == 1


def test_drop_before_commit_closes_the_connection_and_changes_nothing(emu: CasEmulator) -> None:
    client = make_client(emu)
    emu.drop_before_commit(ACTION_CREATE)

    with pytest.raises(UnretryableException):
        create(client)

    assert emu.orders() == [] and emu.quota().used == 0
    assert emu.request_count(ACTION_CREATE, OUTCOME_DROPPED) == 1
    create(client)
    assert emu.counts_by_action() == {ACTION_CREATE: 2}


# --------------------------------------------------------------------------- list lag


def test_a_new_order_is_listed_only_after_the_list_lag_on_the_emulators_clock() -> None:
    offset = [0.0]
    with CasEmulator(list_lag_seconds=30, clock=lambda: time.time() + offset[0]) as emu:
        client = make_client(emu)
        order_id = create(client, "lag.example.com")

        assert _listed(client) == [] and _listed(client, keyword="lag") == []
        offset[0] = 29.0
        assert _listed(client) == []
        offset[0] = 30.5
        assert [o.order_id for o in _listed(client, keyword="lag")] == [order_id]
        assert emu.get_order(order_id).status == "PAYED"  # the order existed all along


def test_the_list_lag_can_change_while_running_and_defaults_to_none(emu: CasEmulator) -> None:
    client = make_client(emu)
    assert emu.list_lag_seconds == 0
    first = create(client, "a.example.com")
    assert [o.order_id for o in _listed(client)] == [first]

    emu.set_list_lag(3600)
    second = create(client, "b.example.com")
    assert _listed(client) == []  # neither is an hour old
    emu.set_list_lag(0)
    assert [o.order_id for o in _listed(client)] == [second, first]


# --------------------------------------------------------------------------- product rules


@pytest.mark.parametrize(
    ("product", "domain", "extra", "code"),
    [
        ("symantec-free-1-free", "a.example.com,b.example.com", {}, "InvalidParameter.Domain"),
        ("digicert-free-1-free", "*.example.com", {}, "InvalidParameter.Domain"),
        ("geotrust-dv-w-starter", "www.example.com", {}, "InvalidParameter.Domain"),
        ("globalsign-ov-w-advanced", "*.a.example.com,b.example.com", {}, "InvalidParameter.Domain"),
        ("geotrust-dv-1-starter", "*.example.com", {}, "InvalidParameter.Domain"),
        ("geotrust-dv-1-starter", "www.example.com", {"company_name": "ACME Ltd"}, "InvalidParameter.CompanyName"),
        ("symantec-free-1-free", "www.example.com", {"company_name": "ACME Ltd"}, "InvalidParameter.CompanyName"),
    ],
)
def test_the_product_code_decides_which_names_and_fields_an_order_may_have(
    emu: CasEmulator, product: str, domain: str, extra: dict[str, str], code: str,
) -> None:
    with pytest.raises(ClientException) as info:
        create(make_client(emu), domain, product_code=product, **extra)

    assert (info.value.code, info.value.status_code) == (code, 400)
    assert emu.orders() == [] and emu.quota(product).used == 0


@pytest.mark.parametrize(
    ("product", "domain", "extra"),
    [
        ("symantec-free-1-free", "www.example.com", {}),
        ("geotrust-ov-1-personal", "a.example.com,b.example.com", {"company_name": "ACME Ltd"}),
        ("globalsign-dv-w-advanced", "*.a.example.com,*.b.example.com", {}),
        ("cfca-ev-w-advanced", "*.example.com", {"company_name": "ACME Ltd"}),
        ("symantec-dv-1-starter", "a.example.com,b.example.com,c.example.com", {}),
    ],
)
def test_orders_that_fit_their_product_are_placed(emu: CasEmulator, product: str, domain: str,
                                                  extra: dict[str, str]) -> None:
    order_id = create(make_client(emu), domain, product_code=product, **extra)

    assert emu.get_order(order_id).domain == domain
    assert emu.quota(product).used == 1


# --------------------------------------------------------------------------- CSR names


def _csr(cn: str, sans: list[str]) -> str:
    key = _rsa_key()
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]),
                                        critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode("ascii")


_KEYS: list[rsa.RSAPrivateKey] = []


def _rsa_key() -> rsa.RSAPrivateKey:
    if not _KEYS:
        _KEYS.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _KEYS[0]


def test_a_csr_order_binds_its_cn_first_then_its_sans_de_duplicated(emu: CasEmulator) -> None:
    csr = _csr("www.example.com", ["www.example.com", "example.com", "WWW.Example.com", "api.example.com."])
    client = make_client(emu)

    order_id = create(client, "ignored.example.com", csr=csr, product_code="symantec-dv-1-starter")

    order = emu.get_order(order_id)
    assert order.domains == ["www.example.com", "example.com", "api.example.com"]
    assert order.domain == "www.example.com,example.com,api.example.com"
    [item] = _listed(client, keyword="api.example.com")
    assert item.domain == "www.example.com,example.com,api.example.com"


@pytest.mark.parametrize(
    ("product", "cn", "sans", "code"),
    [
        ("symantec-free-1-free", "www.example.com", ["www.example.com", "example.com"], "InvalidParameter.Domain"),
        ("symantec-dv-1-starter", "www.example.com", ["*.example.com"], "InvalidParameter.Domain"),
        ("symantec-dv-1-starter", "a.example.com", [f"n{i}.example.com" for i in range(5)], "InvalidParameter.Domain"),
        ("symantec-dv-1-starter", "www.example.com", ["not a name"], "InvalidParameter.Domain"),
    ],
)
def test_the_names_a_csr_binds_follow_the_domain_and_product_rules(emu: CasEmulator, product: str, cn: str,
                                                                   sans: list[str], code: str) -> None:
    with pytest.raises(ClientException) as info:
        create(make_client(emu), "ignored.example.com", csr=_csr(cn, sans), product_code=product)

    assert info.value.code == code
    assert emu.orders() == []


def test_a_free_product_takes_a_csr_whose_sans_repeat_its_cn(emu: CasEmulator) -> None:
    order_id = create(make_client(emu), csr=_csr("one.example.com", ["one.example.com"]))

    assert emu.get_order(order_id).domains == ["one.example.com"]


# --------------------------------------------------------------------------- after commit, any answer


@pytest.mark.parametrize(
    ("status", "code", "raw_body", "raised"),
    [
        (500, "InternalError", None, ServerException),
        (502, "BadGateway", "<html><body><h1>502 Bad Gateway</h1></body></html>", UnretryableException),
        (502, "BadGateway", None, ServerException),
        (503, "ServiceUnavailable", None, ServerException),
        (504, "GatewayTimeout", None, ServerException),
        (504, "GatewayTimeout", "<html><body><h1>504 Gateway Time-out</h1></body></html>", UnretryableException),
        (400, THROTTLING_CODE, None, ClientException),
    ],
)
def test_error_after_commit_answers_any_status_and_code_while_the_order_stays_committed(
    emu: CasEmulator, status: int, code: str, raw_body: str | None, raised: type[Exception],
) -> None:
    emu.error_after_commit(ACTION_CREATE, status=status, code=code, message="after commit", raw_body=raw_body)

    with pytest.raises(raised) as info:
        create(make_client(emu), "committed.example.com")

    if raw_body is None:
        assert (info.value.code, info.value.status_code) == (code, status)  # type: ignore[attr-defined]
    else:
        assert "json" in str(info.value.inner_exception).lower()  # type: ignore[attr-defined]
    assert [o.domain for o in emu.paid_orders()] == ["committed.example.com"]
    assert emu.quota().used == 1
    assert emu.request_count(ACTION_CREATE, OUTCOME_ERROR_AFTER_COMMIT) == 1


def test_throttling_after_commit_with_retry_after_is_a_ThrottlingException_yet_the_order_exists(
    emu: CasEmulator,
) -> None:
    emu.error_after_commit(ACTION_CREATE, status=400, code=THROTTLING_CODE, message=THROTTLING_MESSAGE,
                           retry_after_ms=500)

    with pytest.raises(ThrottlingException) as info:
        create(make_client(emu), "throttled-after.example.com")

    assert (info.value.code, info.value.retry_after) == (THROTTLING_CODE, 500)
    assert [o.domain for o in emu.paid_orders()] == ["throttled-after.example.com"]


# --------------------------------------------------------------------------- targeted faults


def _expect_failure(client: Client, domain: str) -> None:
    with pytest.raises((ServerException, ClientException, UnretryableException)):
        create(client, domain)


TARGETED_FAULTS = {
    "fail_next": (lambda emu, d: emu.fail_next(ACTION_CREATE, domain=d), False),
    "drop_before_commit": (lambda emu, d: emu.drop_before_commit(ACTION_CREATE, domain=d), False),
    "error_after_commit": (lambda emu, d: emu.error_after_commit(ACTION_CREATE, domain=d), True),
    "close_after_commit": (lambda emu, d: emu.close_after_commit(ACTION_CREATE, domain=d), True),
    "delay_after_commit": (lambda emu, d: emu.delay_after_commit(ACTION_CREATE, seconds=1.5, domain=d), True),
    # tls_error_after_commit is aimed the same way; it is meant for TLS and tested there (test_emulator_tls.py)
}


@pytest.mark.parametrize("method", sorted(TARGETED_FAULTS))
def test_a_fault_aimed_at_a_domain_hits_only_calls_for_that_domain(emu: CasEmulator, method: str) -> None:
    inject, committed = TARGETED_FAULTS[method]
    client = make_client(emu, read_timeout_ms=400)
    inject(emu, "Target.Example.com")

    create(client, "other.example.com")
    create(client, "a.target.example.com")  # names match exactly, not by suffix
    _expect_failure(client, "target.example.com")
    emu.close_idle_connections()  # the broken connection must not come back from the SDK's pool
    create(make_client(emu, read_timeout_ms=400), "target.example.com")  # the one fault is used up

    domains = [o.domain for o in emu.orders()]
    assert domains == ["other.example.com", "a.target.example.com"] + ["target.example.com"] * (1 + committed)


def test_latency_aimed_at_a_domain_delays_only_its_calls(emu: CasEmulator) -> None:
    client = make_client(emu)
    emu.set_latency(400, ACTION_CREATE, domain="slow.example.com")

    started = time.monotonic()
    create(client, "fast.example.com")
    fast = time.monotonic() - started
    started = time.monotonic()
    create(client, "slow.example.com")
    slow = time.monotonic() - started

    assert slow >= 0.4 > fast


def test_a_targeted_fault_matches_a_csr_cn_and_sans_and_a_list_keyword(emu: CasEmulator) -> None:
    client = make_client(emu)
    csr = _csr("csr.example.com", ["csr.example.com", "alt.example.com"])
    emu.fail_next(ACTION_CREATE, domain="csr.example.com")
    emu.fail_next(ACTION_CREATE, domain="alt.example.com")
    emu.fail_next(ACTION_LIST_ORDERS, domain="listed.example.com")

    for _ in range(2):
        with pytest.raises(ServerException):
            create(client, "ignored.example.com", csr=csr, product_code="symantec-dv-1-starter")
    create(client, "ignored.example.com", csr=csr, product_code="symantec-dv-1-starter")
    assert _listed(client, keyword="other.example.com") == []
    with pytest.raises(ServerException):
        _listed(client, keyword="listed.example.com")


def test_clear_faults_for_a_domain_leaves_the_faults_for_other_domains(emu: CasEmulator) -> None:
    client = make_client(emu)
    for domain in ("a.example.com", "b.example.com"):
        emu.fail_next(ACTION_CREATE, domain=domain)
        emu.error_after_commit(ACTION_CREATE, domain=domain)
    emu.fail_next(ACTION_CREATE, count=1)  # untargeted: not cleared by a domain

    emu.clear_faults(domain="A.example.com")
    _expect_failure(client, "a.example.com")  # the untargeted fault
    create(client, "a.example.com")
    _expect_failure(client, "b.example.com")
    _expect_failure(client, "b.example.com")

    assert emu.counts_by_outcome(ACTION_CREATE) == {"ServiceUnavailable": 2, "ok": 1, OUTCOME_ERROR_AFTER_COMMIT: 1}


def test_targeted_faults_hit_the_same_orders_whatever_the_thread_timing() -> None:
    with CasEmulator(qps=None) as emu:  # flow control off: only the injected faults may refuse a call
        _race_targeted_calls(emu)


def _race_targeted_calls(emu: CasEmulator) -> None:
    domains = [f"t{i}.example.com" for i in range(20)]
    targeted = set(domains[::2])
    for domain in sorted(targeted):
        emu.fail_next(ACTION_CREATE, domain=domain)
    random.Random(5).shuffle(domains)
    client = make_client(emu)  # one client, its connection pool shared by the threads

    def attempt(domain: str) -> tuple[str, bool]:
        try:
            create(client, domain)
            return domain, True
        except ServerException:
            return domain, False

    with concurrent.futures.ThreadPoolExecutor(max_workers=5) as pool:
        results = dict(pool.map(attempt, domains))

    assert {d for d, ok in results.items() if not ok} == targeted
    assert {o.domain for o in emu.orders()} == set(domains) - targeted


# --------------------------------------------------------------------------- CLI


def test_cli_prints_endpoint_and_demo_credentials_and_serves() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "devkit.cas_emulator", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        banner = first + "".join(proc.stdout.readline() for _ in range(3))
        endpoint = first.rsplit(" ", 1)[-1].strip()
        assert endpoint.startswith("127.0.0.1:")
        assert DEMO_ACCESS_KEY_ID in banner and DEMO_STS_ACCESS_KEY_ID in banner

        config = Config(access_key_id=DEMO_ACCESS_KEY_ID, access_key_secret=DEMO_ACCESS_KEY_SECRET,
                        endpoint=endpoint, protocol="http")
        body = Client(config).describe_package_state(cas_models.DescribePackageStateRequest()).body
        assert body.total_count == 1000
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()


def test_cli_in_tls_mode_stops_on_sigterm_and_removes_its_test_ca() -> None:
    import os
    import re

    proc = subprocess.Popen([sys.executable, "-m", "devkit.cas_emulator", "--port", "0", "--tls"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        banner = "".join(proc.stdout.readline() for _ in range(3))
        found = re.search(r"CAS_CA_FILE=(\S+)", banner)
        assert found, banner
        ca_file = found.group(1)
        assert os.path.exists(ca_file)
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        if proc.stdout is not None:
            proc.stdout.close()
    assert not os.path.exists(os.path.dirname(ca_file))
