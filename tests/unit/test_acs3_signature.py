"""ACS3-HMAC-SHA256 verification used by the CAS emulator.

The emulator is only a faithful double if it rejects exactly what the gateway
rejects, so these tests pin the signer to the official worked example, to a
vector built the way tea-openapi 0.4.6 builds CAS calls, and to the SDK's own
``Utils.get_authorization``, then walk every failure code.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from alibabacloud_tea_openapi.utils import Utils
from darabonba.request import DaraRequest

from devkit import acs3

AK = "YourAccessKeyId"
SECRET = "YourAccessKeySecret"
STS_AK = "STS.test-key"
STS_SECRET = "sts-secret"
STS_TOKEN = "token+/=value"
DATE = "2023-10-26T10:22:32Z"
NOW = acs3.parse_acs_date(DATE)
NONCE = "3156853299f313e23d1673dc12e1703d"

OFFICIAL_QUERY = "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai"
OFFICIAL_HEADERS = {
    "host": "ecs.cn-shanghai.aliyuncs.com",
    "x-acs-action": "RunInstances",
    "x-acs-content-sha256": acs3.EMPTY_PAYLOAD_SHA256,
    "x-acs-date": DATE,
    "x-acs-signature-nonce": NONCE,
    "x-acs-version": "2014-05-26",
}
OFFICIAL_HASH = "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
OFFICIAL_SIGNATURE = "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
OFFICIAL_AUTHORIZATION = (
    "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,"
    "SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
    f"Signature={OFFICIAL_SIGNATURE}"
)

TEA_WIRE_QUERY = (
    "Domain=a.example.com&ProductCode=digicert-free-1-free&Tags.1.Key=k+1&Tags.1.Value=v%2A~&ValidateType=DNS"
)
TEA_CANONICAL_QUERY = (
    "Domain=a.example.com&ProductCode=digicert-free-1-free&Tags.1.Key=k%201&Tags.1.Value=v%2A~&ValidateType=DNS"
)
TEA_HEADERS = {
    "accept": "application/json",
    "host": "cas.aliyuncs.com",
    "user-agent": "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
    "x-acs-action": "CreateCertificateForPackageRequest",
    "x-acs-content-sha256": acs3.EMPTY_PAYLOAD_SHA256,
    "x-acs-credentials-provider": "static_ak",
    "x-acs-date": DATE,
    "x-acs-signature-nonce": NONCE,
    "x-acs-version": "2020-04-07",
}
TEA_HASH = "27244f71b8017e04953d58833b2f10536a8b6d14e5022e806aef6a5643e9529f"
TEA_SIGNATURE = "3f467581fa5e3d3c74797d22bd15a3cecceb830843fdede9a3f3319ef2406b02"

CREDENTIALS = {AK: acs3.Credential(SECRET), STS_AK: acs3.Credential(STS_SECRET, STS_TOKEN)}


def lookup(access_key_id: str) -> acs3.Credential | None:
    return CREDENTIALS.get(access_key_id)


def signed_headers_for(
    *,
    raw_query: str = TEA_WIRE_QUERY,
    headers: Mapping[str, str] = TEA_HEADERS,
    access_key_id: str = AK,
    secret: str = SECRET,
    body: bytes = b"",
    unsigned: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Sign like tea-openapi (every header present), then add ``unsigned`` headers afterwards."""
    out = dict(headers)
    out["authorization"] = acs3.sign_request(
        access_key_id=access_key_id, secret=secret, method="POST", path="/",
        query_pairs=acs3.parse_wire_query(raw_query), headers=headers, payload_hash=acs3.sha256_hex(body))
    out.update(unsigned or {})
    return out


def verify(
    headers: Mapping[str, str],
    *,
    raw_query: str = TEA_WIRE_QUERY,
    body: bytes = b"",
    now: float = NOW,
    nonces: acs3.NonceStore | None = None,
) -> acs3.VerificationResult:
    return acs3.verify_request(method="POST", path="/", raw_query=raw_query, headers=headers, body=body,
                               credentials=lookup, nonces=nonces if nonces is not None else acs3.NonceStore(),
                               now=now)


def failure_code(result: acs3.VerificationResult) -> str:
    assert isinstance(result, acs3.VerificationFailure), f"expected a failure, got {result}"
    return result.code


# --------------------------------------------------------------------------- known vectors


def test_official_worked_example_hashes_and_signs_to_the_documented_values() -> None:
    creq = acs3.canonical_request("POST", "/", acs3.parse_wire_query(OFFICIAL_QUERY), OFFICIAL_HEADERS,
                                  sorted(OFFICIAL_HEADERS), acs3.EMPTY_PAYLOAD_SHA256)
    sts = acs3.string_to_sign(creq)

    assert sts == f"ACS3-HMAC-SHA256\n{OFFICIAL_HASH}"
    assert acs3.sign(SECRET, sts) == OFFICIAL_SIGNATURE
    assert acs3.sign_request(access_key_id=AK, secret=SECRET, method="POST", path="/",
                             query_pairs=acs3.parse_wire_query(OFFICIAL_QUERY),
                             headers=OFFICIAL_HEADERS) == OFFICIAL_AUTHORIZATION


def test_official_worked_example_request_is_accepted_by_the_verifier() -> None:
    headers = {**OFFICIAL_HEADERS, "Authorization": OFFICIAL_AUTHORIZATION}

    result = verify(headers, raw_query=OFFICIAL_QUERY)

    assert isinstance(result, acs3.Verified)
    assert result.access_key_id == AK
    assert not result.is_sts


def test_tea_openapi_vector_reencodes_plus_on_the_wire_as_percent20_in_the_canonical_query() -> None:
    pairs = acs3.parse_wire_query(TEA_WIRE_QUERY)

    assert ("Tags.1.Key", "k 1") in pairs
    assert acs3.canonical_query(pairs) == TEA_CANONICAL_QUERY
    creq = acs3.canonical_request("POST", "/", pairs, TEA_HEADERS, sorted(TEA_HEADERS), acs3.EMPTY_PAYLOAD_SHA256)
    sts = acs3.string_to_sign(creq)
    assert sts == f"ACS3-HMAC-SHA256\n{TEA_HASH}"
    assert acs3.sign(SECRET, sts) == TEA_SIGNATURE


def test_tea_openapi_vector_is_accepted_from_its_wire_query_with_every_header_signed() -> None:
    authorization = acs3.authorization_header(AK, sorted(TEA_HEADERS), TEA_SIGNATURE)
    headers = {**TEA_HEADERS, "Authorization": authorization, "Accept-Encoding": "identity",
               "Content-Length": "0"}

    result = verify(headers)

    assert isinstance(result, acs3.Verified)
    assert "user-agent" in result.signed_headers


@pytest.mark.parametrize(
    "query",
    [
        {"Domain": "a.example.com", "Csr": "-----BEGIN CERTIFICATE REQUEST-----\nMII+ab/c==\n-----END"},
        {"Tags.1.Key": "k 1", "Tags.1.Value": "v*~", "Tags.2.Key": "ümlaut & = ?", "Empty": ""},
        {},
    ],
)
def test_signer_agrees_with_tea_openapi_get_authorization(query: dict[str, str]) -> None:
    request = DaraRequest()
    request.method = "POST"
    request.pathname = "/"
    request.query = dict(query)
    request.headers = dict(TEA_HEADERS)

    expected = Utils.get_authorization(request, acs3.ALGORITHM, acs3.EMPTY_PAYLOAD_SHA256, AK, SECRET)
    ours = acs3.sign_request(access_key_id=AK, secret=SECRET, method="POST", path="/",
                             query_pairs=list(query.items()), headers=TEA_HEADERS)

    assert ours == expected


# --------------------------------------------------------------------------- building blocks


def test_canonical_query_uses_rfc3986_encoding_and_sorts_by_name() -> None:
    pairs = [("b", "x y*~/+"), ("a", "é"), ("a.1", "")]

    assert acs3.canonical_query(pairs) == "a=%C3%A9&a.1=&b=x%20y%2A~%2F%2B"


def test_parse_wire_query_decodes_plus_and_percent_and_keeps_blank_values() -> None:
    assert acs3.parse_wire_query("a=1+2&b=&c&d=%2B%0A&&e=%7E") == [
        ("a", "1 2"), ("b", ""), ("c", ""), ("d", "+\n"), ("e", "~")]


def test_repeated_headers_are_trimmed_and_joined_with_commas() -> None:
    folded = acs3.fold_headers([("X-Acs-Foo", " b "), ("x-acs-foo", "a"), ("Host", " h ")])

    assert folded == {"x-acs-foo": "a,b", "host": "h"}
    assert acs3.canonical_headers(folded, ["host", "x-acs-foo"]) == "host:h\nx-acs-foo:a,b\n"


def test_parse_authorization_returns_key_signed_headers_and_signature() -> None:
    assert acs3.parse_authorization(OFFICIAL_AUTHORIZATION) == (
        AK,
        ["host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce", "x-acs-version"],
        OFFICIAL_SIGNATURE,
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        "ACS3-HMAC-SHA256",
        f"ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature={'0' * 63}",
        f"ACS3-HMAC-SHA256 Credential=a,SignedHeaders=Host,Signature={'0' * 64}",
        f"ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature={'0' * 64}",
        "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host",
        f"ACS3-HMAC-SHA256 Credential=a,Credential=b,SignedHeaders=host,Signature={'0' * 64}",
        f"Bearer Credential=a,SignedHeaders=host,Signature={'0' * 64}",
    ],
)
def test_malformed_authorization_is_rejected_by_the_parser(value: str) -> None:
    with pytest.raises(acs3.AuthorizationFormatError):
        acs3.parse_authorization(value)


# --------------------------------------------------------------------------- verifier failures


def test_correctly_signed_request_is_accepted_with_header_names_in_any_case() -> None:
    headers = {k.title(): v for k, v in signed_headers_for().items()}

    assert isinstance(verify(headers), acs3.Verified)


def test_tampered_query_is_rejected_with_SignatureDoesNotMatch() -> None:
    headers = signed_headers_for()

    result = verify(headers, raw_query=TEA_WIRE_QUERY.replace("a.example.com", "b.example.com"))

    assert failure_code(result) == "SignatureDoesNotMatch"
    assert isinstance(result, acs3.VerificationFailure)
    assert "server string to sign is:ACS3-HMAC-SHA256" in result.message


def test_plus_signed_as_literal_plus_does_not_match_a_space() -> None:
    headers = signed_headers_for(raw_query="Tags.1.Key=k%2B1")

    assert failure_code(verify(headers, raw_query="Tags.1.Key=k+1")) == "SignatureDoesNotMatch"


def test_wrong_secret_is_rejected_with_SignatureDoesNotMatch() -> None:
    assert failure_code(verify(signed_headers_for(secret="not-the-secret"))) == "SignatureDoesNotMatch"


def test_unknown_access_key_is_rejected_with_InvalidAccessKeyId_NotFound() -> None:
    result = verify(signed_headers_for(access_key_id="LTAI-unknown"))

    assert failure_code(result) == "InvalidAccessKeyId.NotFound"
    assert isinstance(result, acs3.VerificationFailure) and result.http_status == 404


def test_missing_authorization_is_rejected_with_IncompleteSignature() -> None:
    assert failure_code(verify(dict(TEA_HEADERS))) == "IncompleteSignature"


@pytest.mark.parametrize("header", ["host", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"])
def test_missing_required_header_is_rejected_with_IncompleteSignature(header: str) -> None:
    reduced = {k: v for k, v in TEA_HEADERS.items() if k != header}

    assert failure_code(verify(signed_headers_for(headers=reduced))) == "IncompleteSignature"


@pytest.mark.parametrize("extra", [{"x-acs-retry-attempts": "1"}, {"content-type": "application/json"}])
def test_unsigned_x_acs_or_content_type_header_is_rejected_with_IncompleteSignature(extra: dict[str, str]) -> None:
    result = verify(signed_headers_for(unsigned=extra))

    assert failure_code(result) == "IncompleteSignature"
    assert isinstance(result, acs3.VerificationFailure) and next(iter(extra)) in result.message


def test_unsigned_ordinary_header_added_by_the_http_library_is_ignored() -> None:
    result = verify(signed_headers_for(unsigned={"accept-encoding": "identity", "connection": "keep-alive"}))

    assert isinstance(result, acs3.Verified)


def test_malformed_authorization_is_rejected_with_IncompleteSignature() -> None:
    headers = signed_headers_for()
    headers["authorization"] = headers["authorization"].replace("SignedHeaders=", "Headers=")

    assert failure_code(verify(headers)) == "IncompleteSignature"


def test_other_acs3_algorithm_is_rejected_with_InvalidSignatureMethod() -> None:
    headers = signed_headers_for()
    headers["authorization"] = headers["authorization"].replace("ACS3-HMAC-SHA256", "ACS3-HMAC-SM3")

    assert failure_code(verify(headers)) == "InvalidSignatureMethod"


@pytest.mark.parametrize("skew_minutes", [-16, 16])
def test_date_more_than_15_minutes_off_is_rejected_with_InvalidTimeStamp_Expired(skew_minutes: int) -> None:
    assert failure_code(verify(signed_headers_for(), now=NOW + skew_minutes * 60)) == "InvalidTimeStamp.Expired"


def test_date_14_minutes_off_is_still_accepted() -> None:
    assert isinstance(verify(signed_headers_for(), now=NOW - 14 * 60), acs3.Verified)


@pytest.mark.parametrize("date", ["2023-10-26 10:22:32", "2023-10-26T10:22:32+08:00", "Thu, 26 Oct 2023 10:22:32 GMT"])
def test_badly_formatted_date_is_rejected_with_InvalidTimeStamp_Format(date: str) -> None:
    headers = signed_headers_for(headers={**TEA_HEADERS, "x-acs-date": date})

    assert failure_code(verify(headers)) == "InvalidTimeStamp.Format"


def test_reused_nonce_is_rejected_with_SignatureNonceUsed() -> None:
    nonces = acs3.NonceStore()
    headers = signed_headers_for()

    assert isinstance(verify(headers, nonces=nonces), acs3.Verified)
    assert failure_code(verify(headers, nonces=nonces, now=NOW + 60)) == "SignatureNonceUsed"


def test_nonce_is_only_remembered_for_15_minutes_and_per_access_key() -> None:
    nonces = acs3.NonceStore()
    assert nonces.check_and_remember(AK, NONCE, NOW)

    assert nonces.check_and_remember(STS_AK, NONCE, NOW + 1)
    assert not nonces.check_and_remember(AK, NONCE, NOW + 15 * 60 - 1)
    assert nonces.check_and_remember(AK, NONCE, NOW + 15 * 60)


def test_rejected_request_does_not_burn_its_nonce() -> None:
    nonces = acs3.NonceStore()

    assert failure_code(verify(signed_headers_for(secret="wrong"), nonces=nonces)) == "SignatureDoesNotMatch"
    assert isinstance(verify(signed_headers_for(), nonces=nonces), acs3.Verified)


def test_sts_key_with_its_token_signed_is_accepted() -> None:
    headers = signed_headers_for(access_key_id=STS_AK, secret=STS_SECRET,
                                 headers={**TEA_HEADERS, "x-acs-security-token": STS_TOKEN})

    result = verify(headers)

    assert isinstance(result, acs3.Verified) and result.is_sts


def test_sts_key_without_token_is_rejected_with_InvalidSecurityToken_Missing() -> None:
    headers = signed_headers_for(access_key_id=STS_AK, secret=STS_SECRET)

    assert failure_code(verify(headers)) == "InvalidSecurityToken.Missing"


def test_sts_key_with_another_token_is_rejected_with_InvalidSecurityToken_Mismatch() -> None:
    headers = signed_headers_for(access_key_id=STS_AK, secret=STS_SECRET,
                                 headers={**TEA_HEADERS, "x-acs-security-token": "someone-elses-token"})

    assert failure_code(verify(headers)) == "InvalidSecurityToken.Mismatch"


def test_sts_token_added_after_signing_is_rejected_with_IncompleteSignature() -> None:
    headers = signed_headers_for(access_key_id=STS_AK, secret=STS_SECRET,
                                 unsigned={"x-acs-security-token": STS_TOKEN})

    assert failure_code(verify(headers)) == "IncompleteSignature"


def test_content_hash_that_does_not_match_the_body_is_rejected_with_SignatureDoesNotMatch() -> None:
    headers = signed_headers_for()  # signs the empty-body hash

    assert failure_code(verify(headers, body=b"Domain=a.example.com")) == "SignatureDoesNotMatch"


def test_form_body_with_matching_content_hash_is_accepted() -> None:
    body = b"Domain=a.example.com&Tags.1.Key=k+1"
    signed = {**TEA_HEADERS, "x-acs-content-sha256": acs3.sha256_hex(body),
              "content-type": "application/x-www-form-urlencoded"}

    assert isinstance(verify(signed_headers_for(headers=signed, body=body), body=body), acs3.Verified)
