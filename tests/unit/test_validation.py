"""validate_order against the API document (CreateCertificateForPackageRequest) and casrelay's own rules.

Each rule has a case that passes and a case that fails; failures are checked by (field, code) on the
``InvalidOrder`` that lists every problem at once.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from functools import cache

import pytest
from cryptography.hazmat.primitives import serialization

from casrelay import config
from casrelay.errors import FieldError, InvalidOrder, UnreadableMessage
from casrelay.jsontext import DuplicateKeyError, loads_strict
from casrelay.order import Order
from casrelay.products import PRODUCT_CODES
from casrelay.records import OrderRecord
from casrelay.response import status_of
from casrelay.triggers import BatchInvocation, RecordProblem, classify
from casrelay.validation import validate_order
from devkit.fc_local import load_index, make_context
from tests.csr_factory import BEGIN, END, body_lines, make_csr, private_key

SETTINGS = config.load({})
ACTION = "CreateCertificateForPackageRequest"
HOST = "www.example.com"
WILD = "*.example.com"
PAID_SINGLE = "geotrust-dv-1-starter"
PAID_WILD = "geotrust-dv-w-starter"
OV_SINGLE = "geotrust-ov-1-personal"

#: The API document's list, plus digicert-free-1-free from the current API reference.
DOCUMENTED_PRODUCT_CODES = (
    "symantec-free-1-free",
    "symantec-dv-1-starter",
    "symantec-ov-1-personal",
    "symantec-ov-w-personal",
    "geotrust-dv-1-starter",
    "geotrust-dv-w-starter",
    "geotrust-ov-1-personal",
    "geotrust-ov-w-personal",
    "globalsign-dv-1-personal",
    "globalsign-dv-w-advanced",
    "globalsign-ov-1-personal",
    "globalsign-ov-w-advanced",
    "cfca-ov-1-personal",
    "cfca-ev-w-advanced",
    "digicert-free-1-free",
)


def accept(params: Mapping[str, object], settings: config.Settings = SETTINGS) -> Order:
    return validate_order(params, settings)


def refuse(params: Mapping[str, object]) -> tuple[FieldError, ...]:
    with pytest.raises(InvalidOrder) as info:
        validate_order(params, SETTINGS)
    assert info.value.errors, "an InvalidOrder must name at least one field"
    return info.value.errors


def pairs(errors: Iterable[FieldError]) -> set[tuple[str, str]]:
    return {(e.field, e.code) for e in errors}


def refused_with(params: Mapping[str, object], field: str, code: str) -> tuple[FieldError, ...]:
    errors = refuse(params)
    assert (field, code) in pairs(errors), errors
    return errors


def host_of_length(total: int) -> str:
    """A valid host name of exactly ``total`` octets (196 <= total <= 259), every label at most 63."""
    name = ".".join(["a" * 63] * 3) + "." + "b" * (total - 196) + ".com"
    assert len(name) == total
    return name


# --- Action ----------------------------------------------------------------------------------


def test_action_may_be_absent_or_the_documented_action():
    assert accept({"Domain": HOST}).domains == (HOST,)
    assert accept({"Action": ACTION, "Domain": HOST}).domains == (HOST,)


@pytest.mark.parametrize("action", ["CreateCertificateRequest", ACTION.lower(), "", ACTION + " "])
def test_action_refuses_any_other_action(action):
    refused_with({"Action": action, "Domain": HOST}, "Action", "InvalidAction")


def test_document_request_example_is_accepted_verbatim():
    order = accept({
        "Action": ACTION, "ProductCode": "symantec-free-1-free", "Domain": "www.aliyun.com",
        "ValidateType": "DNS", "Username": "Tom Zhang", "Email": "tom.zhang@example.com", "Phone": "13000000000",
    })
    assert order.product_code == "symantec-free-1-free"
    assert order.domains == ("www.aliyun.com",)


# --- ProductCode -----------------------------------------------------------------------------


def test_product_codes_are_exactly_the_documented_ones():
    assert len(DOCUMENTED_PRODUCT_CODES) == 15
    assert set(PRODUCT_CODES) == set(DOCUMENTED_PRODUCT_CODES)


@pytest.mark.parametrize("code", DOCUMENTED_PRODUCT_CODES)
def test_product_code_accepts_each_documented_value(code):
    domain = WILD if "-w-" in code else HOST
    order = accept({"ProductCode": code, "Domain": domain})
    assert order.product_code == code
    assert order.cas_parameters()["ProductCode"] == code


@pytest.mark.parametrize("code", ["symantec-free-2-free", "SYMANTEC-FREE-1-FREE", "digicert-dv-1-starter", ""])
def test_product_code_refuses_unknown_values(code):
    refused_with({"ProductCode": code, "Domain": HOST}, "ProductCode", "InvalidProductCode")


def test_product_code_defaults_to_symantec_free_when_absent():
    order = accept({"Domain": HOST})
    assert order.product_code == "symantec-free-1-free"
    assert order.cas_parameters()["ProductCode"] == "symantec-free-1-free"


def test_default_product_code_env_overrides_the_default_but_not_an_explicit_code():
    settings = config.load({"DEFAULT_PRODUCT_CODE": "digicert-free-1-free"})
    assert accept({"Domain": HOST}, settings).product_code == "digicert-free-1-free"
    assert accept({"Domain": HOST, "ProductCode": PAID_SINGLE}, settings).product_code == PAID_SINGLE


def test_default_product_code_env_refuses_an_unknown_code():
    with pytest.raises(config.ConfigError, match="DEFAULT_PRODUCT_CODE"):
        config.load({"DEFAULT_PRODUCT_CODE": "symantec-free-9-free"})


# --- Domain: count, wildcards ----------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
def test_domain_accepts_one_to_five_names(count):
    names = tuple(f"h{i}.example.com" for i in range(count))
    order = accept({"ProductCode": PAID_SINGLE, "Domain": ",".join(names)})
    assert order.domains == names
    assert order.domain_param == ",".join(names)


def test_domain_refuses_six_names():
    names = ",".join(f"h{i}.example.com" for i in range(6))
    refused_with({"ProductCode": PAID_SINGLE, "Domain": names}, "Domain", "InvalidDomain.TooMany")


def test_domain_accepts_all_wildcards_and_refuses_a_mix():
    order = accept({"ProductCode": PAID_WILD, "Domain": "*.a.com,*.b.com"})
    assert order.domains == ("*.a.com", "*.b.com")
    refused_with({"ProductCode": PAID_WILD, "Domain": "*.a.com,www.b.com"}, "Domain", "InvalidDomain.Mixed")
    refused_with({"ProductCode": PAID_SINGLE, "Domain": "www.a.com,*.b.com"}, "Domain", "InvalidDomain.Mixed")


def test_domain_accepts_a_wildcard_as_the_whole_leftmost_label():
    assert accept({"ProductCode": PAID_WILD, "Domain": "*.a.com"}).domains == ("*.a.com",)


@pytest.mark.parametrize("name", ["a.*.com", "*a.com", "*.*.a.com", "www.a.*", "*", "w*.a.com"])
def test_domain_refuses_a_wildcard_anywhere_else(name):
    refused_with({"ProductCode": PAID_WILD, "Domain": name}, "Domain", "InvalidDomain.Wildcard")


# --- Domain: host-name syntax ----------------------------------------------------------------


def test_domain_accepts_a_63_octet_label_and_refuses_64():
    assert accept({"Domain": "a" * 63 + ".com"}).domains == ("a" * 63 + ".com",)
    refused_with({"Domain": "a" * 64 + ".com"}, "Domain", "InvalidDomain.LabelLength")


def test_domain_accepts_253_octets_and_refuses_254():
    assert accept({"Domain": host_of_length(253)}).domains == (host_of_length(253),)
    refused_with({"Domain": host_of_length(254)}, "Domain", "InvalidDomain.Length")


def test_domain_counts_the_wildcard_label_in_the_253_octet_limit():
    fits = "*." + host_of_length(251)
    assert accept({"ProductCode": PAID_WILD, "Domain": fits}).domains == (fits,)
    refused_with({"ProductCode": PAID_WILD, "Domain": "*." + host_of_length(252)}, "Domain", "InvalidDomain.Length")


def test_domain_accepts_hyphens_but_refuses_underscores():
    assert accept({"Domain": "my-host.example.com"}).domains == ("my-host.example.com",)
    refused_with({"Domain": "my_host.example.com"}, "Domain", "InvalidDomain.Syntax")


@pytest.mark.parametrize("name", ["-www.example.com", "www-.example.com", "www.example-.com"])
def test_domain_refuses_a_label_with_a_leading_or_trailing_hyphen(name):
    refused_with({"Domain": name}, "Domain", "InvalidDomain.Syntax")


@pytest.mark.parametrize("name", ["localhost", "com", "*.com"])
def test_domain_refuses_a_single_label_name(name):
    refused_with({"ProductCode": PAID_WILD if name.startswith("*") else PAID_SINGLE, "Domain": name},
                 "Domain", "InvalidDomain.Syntax")


def test_domain_accepts_numeric_inner_labels_but_refuses_an_all_numeric_tld():
    assert accept({"Domain": "www.123.com"}).domains == ("www.123.com",)
    refused_with({"Domain": "www.example.123"}, "Domain", "InvalidDomain.Syntax")


@pytest.mark.parametrize("literal", ["192.0.2.1", "2001:db8::1", "[2001:db8::1]", "::1"])
def test_domain_refuses_ip_literals(literal):
    refused_with({"Domain": literal}, "Domain", "InvalidDomain.IpAddress")


def test_domain_accepts_a_host_name_that_merely_contains_an_address():
    assert accept({"Domain": "192.0.2.1.nip.io"}).domains == ("192.0.2.1.nip.io",)


@pytest.mark.parametrize(
    ("given", "normalised"),
    [("bücher.de", "xn--bcher-kva.de"), ("BÜCHER.DE", "xn--bcher-kva.de"), ("WWW.Example.COM", HOST),
     ("www.example.com.", HOST)],
)
def test_domain_is_normalised_to_lower_case_punycode(given, normalised):
    order = accept({"Domain": given})
    assert order.domains == (normalised,)
    assert order.cas_parameters()["Domain"] == normalised


@pytest.mark.parametrize("value", ["a.com,a.com", "A.com,a.com", "bücher.de,xn--bcher-kva.de", "a.com,a.com."])
def test_domain_refuses_a_name_given_twice_even_after_normalisation(value):
    refused_with({"ProductCode": PAID_SINGLE, "Domain": value}, "Domain", "InvalidDomain.Duplicate")


def test_domain_tolerates_spaces_around_commas():
    order = accept({"ProductCode": PAID_SINGLE, "Domain": " a.com , b.com ,c.com "})
    assert order.domains == ("a.com", "b.com", "c.com")
    assert order.domain_param == "a.com,b.com,c.com"


@pytest.mark.parametrize("value", ["a.com,,b.com", "a.com,", ",a.com", "", "  "])
def test_domain_refuses_an_empty_entry(value):
    refused_with({"ProductCode": PAID_SINGLE, "Domain": value}, "Domain", "InvalidDomain.Empty")


def test_domain_refuses_white_space_inside_a_name():
    refused_with({"Domain": "www.exam ple.com"}, "Domain", "InvalidDomain.Syntax")


def test_domain_must_be_a_string():
    refused_with({"Domain": ["www.example.com"]}, "Domain", "InvalidDomain")


# --- Domain or Csr ---------------------------------------------------------------------------


def test_domain_or_csr_is_required():
    assert accept({"Domain": HOST}).domains == (HOST,)
    assert accept({"Csr": make_csr(HOST)}).domains == (HOST,)
    errors = refused_with({"ProductCode": PAID_SINGLE}, "Domain", "MissingDomainOrCsr")
    assert len(errors) == 1


# --- Csr -------------------------------------------------------------------------------------


def test_csr_rsa_2048_is_accepted_and_its_cn_becomes_the_domain():
    pem = make_csr(HOST, "rsa2048")
    order = accept({"Csr": pem})
    assert order.domains == (HOST,)
    assert order.domain_param is None
    assert order.csr == pem
    spki = private_key("rsa2048").public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert order.csr_public_key_sha256 == hashlib.sha256(spki).hexdigest()
    assert order.cas_parameters() == {"ProductCode": "symantec-free-1-free", "Csr": pem}


def test_csr_ec_p256_is_accepted():
    assert accept({"Csr": make_csr(HOST, "ec256")}).domains == (HOST,)


def test_csr_rsa_1024_is_refused_for_its_key_size():
    refused_with({"Csr": make_csr(HOST, "rsa1024")}, "Csr", "InvalidCsr.KeySize")


def test_csr_ed25519_is_refused_for_its_key_type():
    refused_with({"Csr": make_csr(HOST, "ed25519")}, "Csr", "InvalidCsr.KeyType")


def test_csr_without_a_cn_is_refused():
    refused_with({"Csr": make_csr(None, sans=[HOST])}, "Csr", "InvalidCsr.CommonName")


def test_csr_with_a_tampered_signed_region_is_refused():
    refused_with({"Csr": make_csr(HOST, tamper=True)}, "Csr", "InvalidCsr.Signature")


@pytest.mark.parametrize(
    "garbage",
    [
        "not a csr",
        f"{BEGIN}\n!!!! not base64 !!!!\n{END}",
        f"{BEGIN}\n{base64.b64encode(b'hello, this is not DER at all').decode()}\n{END}",
        make_csr(HOST).replace("CERTIFICATE REQUEST", "CERTIFICATE"),
        make_csr(HOST).split("\n", 3)[0] + "\n",  # BEGIN line only
    ],
)
def test_csr_garbage_is_refused_as_a_format_error(garbage):
    refused_with({"Csr": garbage}, "Csr", "InvalidCsr.Format")


def test_csr_longer_than_16384_characters_is_refused():
    refused_with({"Csr": make_csr(HOST) + " " * 16384}, "Csr", "InvalidCsr.TooLong")


def test_csr_new_certificate_request_armour_is_accepted():
    pem = make_csr(HOST).replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
    assert accept({"Csr": pem}).csr == make_csr(HOST)


def test_csr_with_newlines_turned_into_spaces_is_accepted_as_in_the_document_example():
    pem = make_csr(HOST)
    order = accept({"Csr": pem.replace("\n", " ").strip()})
    assert order.domains == (HOST,)
    assert order.csr == pem


def test_csr_with_crlf_line_ends_is_accepted():
    pem = make_csr(HOST)
    assert accept({"Csr": pem.replace("\n", "\r\n")}).csr == pem


def test_csr_with_json_escaped_newlines_is_accepted():
    pem = make_csr(HOST)
    escaped = pem.replace("\n", "\\n")
    assert "\n" not in escaped
    assert accept({"Csr": escaped}).csr == pem


@cache
def _csr_with_plus_at_a_line_edge() -> str:
    """An RSA CSR whose base64 has a '+' inside a line and one at the start or end of a line."""
    for i in range(500):
        pem = make_csr(f"w{i}.example.com")
        lines = body_lines(pem)
        if any(ln[0] == "+" or ln[-1] == "+" for ln in lines) and any("+" in ln[1:-1] for ln in lines):
            return pem
    raise AssertionError("no CSR with a '+' at a line edge in 500 tries")


def test_csr_whose_plus_signs_became_spaces_is_accepted():
    pem = _csr_with_plus_at_a_line_edge()
    damaged = pem.replace("+", " ")  # a form or query decoder read each '+' as a space
    order = accept({"Csr": damaged})
    assert order.csr == pem
    assert order.domains[0].endswith(".example.com")


def test_csr_whose_plus_signs_became_spaces_on_a_single_line_is_accepted():
    pem = _csr_with_plus_at_a_line_edge()
    one_line = BEGIN + "".join(body_lines(pem)).replace("+", " ") + END
    assert accept({"Csr": one_line}).csr == pem


def test_csr_cn_wins_over_domain_but_domain_is_still_validated():
    pem = make_csr(HOST)
    order = accept({"Domain": "other.example.com", "Csr": pem})
    assert order.domains == (HOST,)
    assert order.domain_param == "other.example.com"
    refused_with({"Domain": "bad_name.example.com", "Csr": pem}, "Domain", "InvalidDomain.Syntax")


def test_csr_cn_wins_over_a_domain_list_that_a_free_product_could_not_bind():
    order = accept({"Domain": "a.example.com,b.example.com", "Csr": make_csr(HOST)})
    assert order.domains == (HOST,)


def test_csr_idn_cn_is_normalised_to_punycode():
    assert accept({"Csr": make_csr("bücher.de")}).domains == ("xn--bcher-kva.de",)


@pytest.mark.parametrize("cn", ["not a host name", "localhost", "192.0.2.1", "bad_name.example.com", "a.*.com"])
def test_csr_cn_that_is_not_a_host_name_is_refused(cn):
    refused_with({"ProductCode": PAID_SINGLE, "Csr": make_csr(cn)}, "Csr", "InvalidCsr.CommonName")


# --- ValidateType ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["DNS", "FILE"])
def test_validate_type_accepts_dns_and_file(value):
    order = accept({"Domain": HOST, "ValidateType": value})
    assert order.validate_type == value
    assert order.cas_parameters()["ValidateType"] == value


@pytest.mark.parametrize("value", ["dns", "EMAIL", "HTTP", ""])
def test_validate_type_refuses_anything_else(value):
    refused_with({"Domain": HOST, "ValidateType": value}, "ValidateType", "InvalidValidateType")


# --- contacts --------------------------------------------------------------------------------


def test_email_accepts_the_documented_example():
    assert accept({"Domain": HOST, "Email": "tom.zhang@example.com"}).email == "tom.zhang@example.com"


@pytest.mark.parametrize("value", ["no-at-sign", "a@b", "", "tom zhang@example.com"])
def test_email_refuses_malformed_addresses(value):
    refused_with({"Domain": HOST, "Email": value}, "Email", "InvalidEmail")


@pytest.mark.parametrize("value", ["13000000000", "+86 130 0000 0000", "+1 650 253 0000"])
def test_phone_accepts_chinese_and_international_numbers(value):
    assert accept({"Domain": HOST, "Phone": value}).phone == value


def test_phone_accepts_a_json_number():
    assert accept({"Domain": HOST, "Phone": 13000000000}).phone == "13000000000"


@pytest.mark.parametrize("value", ["abc", "123", "1" * 33, "+86 " + "1" * 20, "130-0000-000x", ""])
def test_phone_refuses_letters_too_short_and_too_long(value):
    refused_with({"Domain": HOST, "Phone": value}, "Phone", "InvalidPhone")


@pytest.mark.parametrize("value", ["Tom Zhang", "张三", "x" * 64])
def test_username_accepts_a_name_of_up_to_64_characters(value):
    assert accept({"Domain": HOST, "Username": value}).username == value


@pytest.mark.parametrize("value", ["", "   ", "x" * 65, "Tom\x00Zhang", "Tom\nZhang", "Tom\x7fZhang"])
def test_username_refuses_empty_overlong_and_control_characters(value):
    refused_with({"Domain": HOST, "Username": value}, "Username", "InvalidUsername")


@pytest.mark.parametrize(("product", "domain"), [(OV_SINGLE, HOST), ("cfca-ev-w-advanced", WILD)])
def test_company_name_is_accepted_for_ov_and_ev_products(product, domain):
    assert accept({"ProductCode": product, "Domain": domain, "CompanyName": "阿里云"}).company_name == "阿里云"


@pytest.mark.parametrize("product", ["symantec-free-1-free", "digicert-free-1-free", PAID_SINGLE])
def test_company_name_is_refused_for_dv_and_free_products(product):
    refused_with({"ProductCode": product, "Domain": HOST, "CompanyName": "阿里云"}, "CompanyName", "InvalidCompanyName")


def test_company_name_refuses_an_empty_name_even_for_ov():
    refused_with({"ProductCode": OV_SINGLE, "Domain": HOST, "CompanyName": " "}, "CompanyName", "InvalidCompanyName")


# --- Tags ------------------------------------------------------------------------------------


def test_tags_list_and_flattened_forms_are_accepted_and_equal():
    listed = accept({"Domain": HOST, "Tags": [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "web"}]})
    flat = accept({"Domain": HOST, "Tags.2.Key": "team", "Tags.2.Value": "web",
                   "Tags.1.Key": "env", "Tags.1.Value": "prod"})
    assert listed.tags == (("env", "prod"), ("team", "web"))
    assert flat == listed


def test_tags_accepts_twenty_and_refuses_twenty_one():
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(21)]
    assert len(accept({"Domain": HOST, "Tags": tags[:20]}).tags) == 20
    refused_with({"Domain": HOST, "Tags": tags}, "Tags", "InvalidTags")


@pytest.mark.parametrize("key", ["", "   ", None])
def test_tags_refuses_an_empty_key(key):
    refused_with({"Domain": HOST, "Tags": [{"Key": key, "Value": "v"}]}, "Tags.1.Key", "InvalidTags")


def test_tags_refuses_a_flattened_value_without_a_key():
    refused_with({"Domain": HOST, "Tags.1.Value": "v"}, "Tags.1.Key", "InvalidTags")


@pytest.mark.parametrize("key", ["aliyun", "aliyunEnv", "ALIYUN-env", "acs:env"])
def test_tags_refuses_keys_reserved_by_alibaba_cloud(key):
    refused_with({"Domain": HOST, "Tags": [{"Key": key, "Value": "v"}]}, "Tags.1.Key", "InvalidTags")


def test_tags_accepts_reserved_words_that_are_not_a_prefix():
    order = accept({"Domain": HOST, "Tags": [{"Key": "env-aliyun", "Value": "acs:x"}]})
    assert order.tags == (("env-aliyun", "acs:x"),)


def test_tags_accepts_128_character_keys_and_values_and_refuses_129():
    assert accept({"Domain": HOST, "Tags": [{"Key": "k" * 128, "Value": "v" * 128}]}).tags == (("k" * 128, "v" * 128),)
    refused_with({"Domain": HOST, "Tags": [{"Key": "k" * 129, "Value": "v"}]}, "Tags.1.Key", "InvalidTags")
    refused_with({"Domain": HOST, "Tags": [{"Key": "k", "Value": "v" * 129}]}, "Tags.1.Value", "InvalidTags")


def test_tags_refuses_a_key_given_twice():
    tags = [{"Key": "env", "Value": "a"}, {"Key": "env", "Value": "b"}]
    refused_with({"Domain": HOST, "Tags": tags}, "Tags.2.Key", "InvalidTags")


def test_tags_refuses_both_forms_at_once():
    refused_with({"Domain": HOST, "Tags": [{"Key": "env", "Value": "a"}], "Tags.1.Key": "team"}, "Tags", "InvalidTags")


@pytest.mark.parametrize("value", ["env=prod", {"Key": "env", "Value": "prod"}, 7])
def test_tags_refuses_anything_but_a_list(value):
    refused_with({"Domain": HOST, "Tags": value}, "Tags", "InvalidTags")


# --- names against the product ---------------------------------------------------------------


def test_wildcard_product_refuses_a_single_name_and_single_product_refuses_a_wildcard():
    assert accept({"ProductCode": PAID_WILD, "Domain": WILD}).domains == (WILD,)
    refused_with({"ProductCode": PAID_WILD, "Domain": HOST}, "Domain", "InvalidDomain.ProductMismatch")
    refused_with({"ProductCode": PAID_SINGLE, "Domain": WILD}, "Domain", "InvalidDomain.ProductMismatch")


def test_product_fit_is_judged_on_the_csr_cn():
    assert accept({"ProductCode": PAID_WILD, "Csr": make_csr(WILD)}).domains == (WILD,)
    refused_with({"ProductCode": PAID_WILD, "Csr": make_csr(HOST)}, "Csr", "InvalidDomain.ProductMismatch")


def test_free_product_binds_exactly_one_name():
    assert accept({"ProductCode": "symantec-free-1-free", "Domain": HOST}).domains == (HOST,)
    refused_with({"ProductCode": "symantec-free-1-free", "Domain": "a.example.com,b.example.com"},
                 "Domain", "InvalidDomain.TooMany")


def test_paid_dv_single_product_accepts_three_names():
    order = accept({"ProductCode": PAID_SINGLE, "Domain": "a.example.com,b.example.com,c.example.com"})
    assert order.domains == ("a.example.com", "b.example.com", "c.example.com")


# --- unknown and common parameters -----------------------------------------------------------


def test_unknown_parameter_is_refused_with_a_suggestion():
    errors = refused_with({"Domian": HOST}, "Domian", "UnknownParameter")
    message = next(e.message for e in errors if e.field == "Domian")
    assert "did you mean Domain?" in message


def test_unknown_parameter_in_the_wrong_case_is_refused_with_its_spelling():
    errors = refused_with({"Domain": HOST, "validatetype": "DNS"}, "validatetype", "UnknownParameter")
    assert "did you mean ValidateType?" in errors[0].message


def test_common_request_parameters_are_ignored():
    order = accept({
        "Domain": HOST, "Format": "JSON", "Version": "2020-04-07", "RegionId": "cn-hangzhou",
        "Timestamp": "2024-01-01T00:00:00Z", "SignatureNonce": "abc",
    })
    assert order.cas_parameters() == {"ProductCode": "symantec-free-1-free", "Domain": HOST}


# --- every error at once ---------------------------------------------------------------------


def test_all_errors_are_reported_at_once():
    with pytest.raises(InvalidOrder) as info:
        validate_order({"Action": "Nope", "Domain": "bad_name.example.com", "ValidateType": "dns",
                        "Email": "no-at-sign", "Phone": "abc"}, SETTINGS)
    error = info.value
    assert status_of(error) == 400
    assert error.code == "InvalidParameter"
    assert len(error.errors) >= 4
    assert {"Action", "Domain", "ValidateType", "Email", "Phone"} <= {e.field for e in error.errors}
    assert pairs(error.errors) >= {
        ("Action", "InvalidAction"), ("Domain", "InvalidDomain.Syntax"), ("ValidateType", "InvalidValidateType"),
        ("Email", "InvalidEmail"), ("Phone", "InvalidPhone"),
    }


# --- what goes to CAS ------------------------------------------------------------------------


def test_cas_parameters_of_a_full_order():
    pem = make_csr(HOST)
    order = accept({
        "Action": ACTION, "ProductCode": OV_SINGLE, "Domain": "WWW.Example.com", "Csr": pem.replace("\n", " "),
        "ValidateType": "DNS", "Username": "Tom Zhang", "Email": "tom.zhang@example.com",
        "Phone": " +86 130 0000 0000 ", "CompanyName": "阿里云",
        "Tags.1.Key": "env", "Tags.1.Value": "prod", "Tags.2.Key": "team", "Tags.2.Value": "",
        "Format": "JSON", "Version": "2020-04-07", "RegionId": "cn-hangzhou",
    })
    assert order.cas_parameters() == {
        "ProductCode": OV_SINGLE,
        "Domain": HOST,
        "Csr": pem,
        "ValidateType": "DNS",
        "Username": "Tom Zhang",
        "Email": "tom.zhang@example.com",
        "Phone": "+86 130 0000 0000",
        "CompanyName": "阿里云",
        "Tags": [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": ""}],
    }


def test_cas_parameters_of_a_minimal_order_hold_only_what_was_given():
    assert accept({"Domain": HOST}).cas_parameters() == {"ProductCode": "symantec-free-1-free", "Domain": HOST}


# --- JSON that gives a key twice -------------------------------------------------------------
#
# json.loads keeps the last of two equal keys, so {"DryRun": true, "DryRun": false} would be a paid order;
# which value the sender meant cannot be known, so such JSON is refused wherever an order is read from it.

DUPLICATE_DRY_RUN = '{"Domain": "www.example.com", "DryRun": true, "DryRun": false}'
DUPLICATE_TAG_VALUE = '{"Domain": "www.example.com", "Tags": [{"Key": "env", "Value": "a", "Value": "b"}]}'
DUPLICATE_EMAIL = '{"Domain": "www.example.com", "Email": "tom.zhang@example.com", "Email": "ops@example.org"}'


def test_the_strict_json_loader_names_a_key_repeated_at_any_depth():
    assert loads_strict('{"a": [{"b": 1}, {"b": 2}], "c": {"b": 3}}') == {"a": [{"b": 1}, {"b": 2}], "c": {"b": 3}}
    for text, key in [(DUPLICATE_DRY_RUN, "DryRun"), (DUPLICATE_TAG_VALUE, "Value"),
                      ('[[{"x": {"y": 1, "y": 1}}]]', "y")]:
        with pytest.raises(DuplicateKeyError) as info:
            loads_strict(text)
        assert info.value.key == key
        assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("content_type", ["application/json", None])
def test_a_json_body_with_a_duplicate_key_is_refused_naming_the_key(client, embedded, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    res = client.request(DUPLICATE_DRY_RUN, headers=headers)
    assert res["statusCode"] == 400, res["body"]
    doc = client.json(res)
    assert doc["Code"] == "MalformedRequest"
    assert [(e["Field"], e["Code"]) for e in doc["Errors"]] == [("DryRun", "DuplicateKey")]
    assert "'DryRun'" in doc["Message"]
    assert embedded.emulator.orders() == []


def test_a_json_body_with_a_duplicate_key_inside_tags_is_refused_naming_the_key(client, embedded):
    res = client.request(DUPLICATE_TAG_VALUE, headers={"Content-Type": "application/json"})
    assert res["statusCode"] == 400, res["body"]
    assert [(e["Field"], e["Code"]) for e in client.json(res)["Errors"]] == [("Value", "DuplicateKey")]
    assert embedded.emulator.orders() == []


def test_a_duplicate_key_error_names_the_key_cut_short_and_never_a_value(client):
    res = client.request(DUPLICATE_EMAIL, headers={"Content-Type": "application/json"})
    assert res["statusCode"] == 400
    assert "tom.zhang" not in res["body"] and "ops@" not in res["body"]
    assert [e["Field"] for e in client.json(res)["Errors"]] == ["Email"]
    long_key = "K" * 100
    res = client.request(f'{{"Domain": "www.example.com", "{long_key}": 1, "{long_key}": 2}}',
                         headers={"Content-Type": "application/json"})
    [error] = client.json(res)["Errors"]
    assert error["Field"] == "K" * 37 + "..." and error["Code"] == "DuplicateKey"
    assert long_key not in res["body"]


@pytest.mark.parametrize("text", [DUPLICATE_DRY_RUN, DUPLICATE_TAG_VALUE])
def test_a_direct_invocation_with_a_duplicate_key_is_refused_naming_the_key_and_places_no_order(embedded, text):
    result = load_index().handler(text.encode(), make_context())
    assert result["Code"] == "MalformedRequest", result
    assert [(e["Field"], e["Code"]) for e in result["Errors"]] == [(loads_strict_key(text), "DuplicateKey")]
    assert embedded.emulator.orders() == []


def loads_strict_key(text: str) -> str:
    with pytest.raises(DuplicateKeyError) as info:
        loads_strict(text)
    return info.value.key


def _mns_event(body: str, message_id: str) -> dict[str, object]:
    return {"id": f"ce-{message_id}", "source": "MNS-test", "specversion": "1.0", "type": "mns:Queue:SendMessage",
            "data": {"requestId": "r", "messageId": message_id, "messageBody": body}}


@pytest.mark.parametrize("encode", [str, lambda t: base64.b64encode(t.encode()).decode()], ids=["text", "base64"])
def test_a_queue_message_with_a_duplicate_key_is_unreadable_naming_the_field_and_key(encode):
    event = [_mns_event('{"Domain": "a.example.com"}', "m-0"), _mns_event(encode(DUPLICATE_TAG_VALUE), "m-1")]
    invocation = classify(json.dumps(event).encode())
    assert isinstance(invocation, BatchInvocation)
    good, bad = invocation.batch.items
    assert isinstance(good, OrderRecord) and good.params == {"Domain": "a.example.com"}
    assert isinstance(bad, RecordProblem) and bad.message_id == "m-1"
    assert isinstance(bad.error, UnreadableMessage) and not bad.error.transient
    assert [(e.field, e.code) for e in bad.error.errors] == [("data.messageBody", "DuplicateKey")]
    assert "'Value'" in bad.error.message and "data.messageBody" in bad.error.message


def test_a_decoded_queue_message_with_a_duplicate_key_is_set_aside_while_the_others_proceed():
    """RabbitMQ and Kafka's JSON format deliver the order as an object inside the event itself."""
    def rabbitmq(body: str, message_id: str) -> str:
        event = {"id": f"ce-{message_id}", "source": "RabbitMQ-test", "specversion": "1.0",
                 "type": "amqp:Queue:SendMessage",
                 "data": {"envelope": {"deliveryTag": 1}, "body": "BODY", "props": {"messageId": message_id}}}
        return json.dumps(event).replace('"BODY"', body)  # the body as it arrives: JSON text, keys and all
    text = "[" + ",".join([rabbitmq('{"Domain": "a.example.com"}', "m-0"), rabbitmq(DUPLICATE_DRY_RUN, "m-1"),
                           rabbitmq('{"Domain": "c.example.com"}', "m-2")]) + "]"
    invocation = classify(text.encode())
    assert isinstance(invocation, BatchInvocation)
    first, bad, last = invocation.batch.items
    assert isinstance(first, OrderRecord) and isinstance(last, OrderRecord)
    assert isinstance(bad, RecordProblem) and bad.message_id == "m-1"
    assert [(e.field, e.code) for e in bad.error.errors] == [("data.body", "DuplicateKey")]


def test_a_queued_order_with_a_duplicate_key_is_reported_and_not_placed(embedded):
    event = {"TopicOwner": "1186", "TopicName": "cert-orders", "MessageId": "M-dup", "Message": DUPLICATE_DRY_RUN}
    summary = load_index().handler(json.dumps(event).encode(), make_context())
    assert summary["Transient"] == 0 and summary["Counts"] == {"invalid": 1}
    assert embedded.emulator.orders() == []
    [reported] = embedded.pushed()
    assert reported["Type"] == "certificate.order.failed"
    assert [e["Code"] for e in reported["Error"]["Errors"]] == ["DuplicateKey"]
