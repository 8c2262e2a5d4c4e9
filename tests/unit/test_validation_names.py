"""The names a certificate binds: trailing dots, public suffixes, homographs, and a CSR's subjectAltNames.

``Domain`` names, a CSR's CN and its SubjectAlternativeName DNS names all pass the same host-name rules
(``normalise_host``); the CSR's names, CN first and each once, are what the order binds.
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from casrelay import config
from casrelay.errors import FieldError, InvalidOrder
from casrelay.ledger.key import derived_key
from casrelay.order import Order
from casrelay.validation import validate_order
from casrelay.validation.csr import MAX_SAN_ENTRIES, inspect_csr
from casrelay.validation.domains import normalise_host
from tests.csr_factory import make_csr

SETTINGS = config.load({})
HOST = "www.example.com"
PAID_SINGLE = "geotrust-dv-1-starter"
PAID_WILD = "geotrust-dv-w-starter"
FREE = "symantec-free-1-free"
HANDLER = Path(__file__).resolve().parents[2] / "handler"


def accept(params: Mapping[str, object]) -> Order:
    return validate_order(params, SETTINGS)


def refuse(params: Mapping[str, object]) -> tuple[FieldError, ...]:
    with pytest.raises(InvalidOrder) as info:
        validate_order(params, SETTINGS)
    return info.value.errors


def pairs(errors: Iterable[FieldError]) -> set[tuple[str, str]]:
    return {(e.field, e.code) for e in errors}


def refused_with(params: Mapping[str, object], field: str, code: str) -> tuple[FieldError, ...]:
    errors = refuse(params)
    assert (field, code) in pairs(errors), errors
    return errors


def product_for(name: str) -> str:
    return PAID_WILD if name.startswith("*.") else PAID_SINGLE


# --- trailing dots -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["www.example.com..", "www.example.com...", "*.example.com..", "..",
                                  "www.example.com.\u3002"])
def test_a_domain_with_two_or_more_trailing_dots_is_refused(name):
    refused_with({"ProductCode": product_for(name), "Domain": name}, "Domain", "InvalidDomain.TrailingDot")


def test_a_csr_cn_with_two_trailing_dots_is_refused():
    errors = refused_with({"ProductCode": PAID_SINGLE, "Csr": make_csr("www.example.com..")},
                          "Csr", "InvalidCsr.CommonName")
    assert "more than one dot" in errors[0].message


@pytest.mark.parametrize("dot", ["\u3002", "\uff0e", "\uff61"])
def test_a_trailing_ideographic_full_stop_is_dropped_like_a_dot(dot):
    order = accept({"ProductCode": PAID_SINGLE, "Domain": f"a.example.com{dot},b.example.com"})
    assert order.domains == ("a.example.com", "b.example.com")
    refused_with({"ProductCode": PAID_SINGLE, "Domain": f"a.example.com{dot},a.example.com"},
                 "Domain", "InvalidDomain.Duplicate")


def test_a_san_with_a_trailing_dot_is_the_same_name_as_the_cn_and_the_key_ignores_the_dot():
    with_dot = accept({"ProductCode": FREE, "Csr": make_csr(HOST, sans=[HOST + "."])})
    assert with_dot.domains == (HOST,)
    without = accept({"ProductCode": FREE, "Csr": make_csr(HOST, sans=[HOST])})
    assert derived_key(with_dot) == derived_key(without)
    refused_with({"ProductCode": FREE, "Csr": make_csr(HOST, sans=[HOST + ".."])},
                 "Csr", "InvalidCsr.SubjectAlternativeName")


# --- public suffixes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["co.uk", "com.cn", "org.uk", "gov.cn", "公司.cn", "xn--55qx5d.cn"])
def test_a_name_that_is_itself_a_public_suffix_is_refused(name):
    errors = refused_with({"ProductCode": PAID_SINGLE, "Domain": name}, "Domain", "InvalidDomain.PublicSuffix")
    assert "is itself a public suffix" in errors[0].message


@pytest.mark.parametrize("name", ["*.co.uk", "*.com.cn", "*.org.uk"])
def test_a_wildcard_directly_under_a_public_suffix_is_refused(name):
    errors = refused_with({"ProductCode": PAID_WILD, "Domain": name}, "Domain", "InvalidDomain.PublicSuffix")
    assert "wildcard directly under the public suffix" in errors[0].message


def test_a_wildcard_over_a_registered_domain_is_accepted_but_not_over_its_public_suffix():
    for name in ("*.example.co.uk", "*.example.com.cn", "*.github.io"):  # github.io: a private, not ICANN, suffix
        assert accept({"ProductCode": PAID_WILD, "Domain": name}).domains == (name,)
    refused_with({"ProductCode": PAID_WILD, "Domain": "*.co.uk"}, "Domain", "InvalidDomain.PublicSuffix")


@pytest.mark.parametrize("name", ["host.internal", "printer.lan", "nas.local", "www.example.test", "shop.example",
                                  "x.invalid", "app.localhost", "*.corp.local", "例子.测试"])
def test_a_name_under_no_listed_public_suffix_is_refused(name):
    errors = refused_with({"ProductCode": product_for(name), "Domain": name}, "Domain", "InvalidDomain.UnknownSuffix")
    assert "does not end in a public suffix" in errors[0].message


def test_a_name_under_an_unlisted_suffix_is_refused_for_it_while_a_single_label_stays_a_syntax_error():
    assert normalise_host("printer.lan", "Domain")[1].code == "InvalidDomain.UnknownSuffix"
    for name in ("lan", "localhost", "*.local", "*.com"):
        refused_with({"ProductCode": product_for(name), "Domain": name}, "Domain", "InvalidDomain.Syntax")


@pytest.mark.parametrize(("cn", "code"), [("printer.lan", "does not end in a public suffix"),
                                          ("co.uk", "is itself a public suffix")])
def test_a_csr_cn_must_end_under_a_public_suffix_too(cn, code):
    errors = refused_with({"ProductCode": PAID_SINGLE, "Csr": make_csr(cn)}, "Csr", "InvalidCsr.CommonName")
    assert code in errors[0].message


def test_the_public_suffix_list_is_loaded_on_first_use_and_then_kept():
    script = (
        "import sys\n"
        "from casrelay.validation import validate_order\n"
        "from casrelay.validation import domains\n"
        "assert 'publicsuffixlist' not in sys.modules, 'imported before any name was checked'\n"
        "from casrelay import config\n"
        "validate_order({'Domain': 'www.example.com'}, config.load({}))\n"
        "first = domains.public_suffix_list()\n"
        "validate_order({'Domain': 'www.example.org'}, config.load({}))\n"
        "assert domains.public_suffix_list() is first\n"
        "assert first.publicsuffix('example.co.uk') == 'co.uk'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=HANDLER, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# --- homographs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "p\u0430ypal.com",  # Cyrillic а among Latin letters
    "\u0430pple.com",  # Cyrillic а, then Latin
    "www.g\u043e\u043egle.com",  # two Cyrillic о in an inner label
    "p\u03b1ypal.com",  # Greek α
    "xn--pypal-4ve.com",  # 'pаypal' with the Cyrillic а, already as punycode
    "XN--PYPAL-4VE.COM",
    "*.xn--pypal-4ve.com",
])
def test_a_label_mixing_latin_with_cyrillic_or_greek_letters_is_refused(name):
    errors = refused_with({"ProductCode": product_for(name), "Domain": name}, "Domain", "InvalidDomain.MixedScript")
    assert "mixes Latin letters with Cyrillic or Greek" in errors[0].message


def test_labels_of_one_script_are_accepted_but_one_that_mixes_two_is_refused():
    assert accept({"Domain": "пример.рф"}).domains == ("xn--e1afmkfd.xn--p1ai",)
    assert accept({"Domain": "пример-1.com"}).domains == ("xn---1-mlcluqhd.com",)  # digits, hyphens: neutral
    assert accept({"Domain": "ελλάδα.gr"}).domains == ("xn--hxakic4aa.gr",)
    assert accept({"Domain": "пример.example.com"}).domains == ("xn--e1afmkfd.example.com",)  # per label
    refused_with({"Domain": "примeр.рф"}, "Domain", "InvalidDomain.MixedScript")  # a Latin e


@pytest.mark.parametrize("name", ["xn--zz.com", "xn--.com", "xn--abc-.com", "www.xn--a.example.com"])
def test_a_punycode_label_that_does_not_decode_is_refused_as_syntax_and_one_that_does_is_checked(name):
    refused_with({"Domain": name}, "Domain", "InvalidDomain.Syntax")
    refused_with({"Domain": "xn--pypal-4ve.com"}, "Domain", "InvalidDomain.MixedScript")


def test_a_csr_cn_or_san_mixing_scripts_is_refused():
    refused_with({"ProductCode": PAID_SINGLE, "Csr": make_csr("p\u0430ypal.com")}, "Csr", "InvalidCsr.CommonName")
    errors = refused_with({"ProductCode": PAID_SINGLE, "Csr": make_csr(HOST, sans=["xn--pypal-4ve.com"])},
                          "Csr", "InvalidCsr.SubjectAlternativeName")
    assert "mixes Latin letters" in errors[0].message


# --- a CSR's subjectAltNames ---------------------------------------------------------------------------


def test_a_csr_binds_its_cn_then_its_sans_each_once():
    pem = make_csr(HOST, sans=[HOST, "example.com", "Shop.Example.com", "example.com", "shop.example.com."])
    order = accept({"ProductCode": PAID_SINGLE, "Csr": pem})
    assert order.domains == (HOST, "example.com", "shop.example.com")
    assert order.domain_param is None
    assert order.cas_parameters() == {"ProductCode": PAID_SINGLE, "Csr": pem}
    info, errors = inspect_csr(pem)
    assert errors == [] and info is not None
    assert (info.common_name, info.names) == (HOST, order.domains)


def test_a_csr_listing_its_cn_only_among_its_sans_binds_one_name():
    assert accept({"ProductCode": FREE, "Csr": make_csr(HOST, sans=[HOST])}).domains == (HOST,)
    refused_with({"ProductCode": FREE, "Csr": make_csr(HOST, sans=[HOST, "example.com"])},
                 "Csr", "InvalidDomain.TooMany")


def test_the_response_lists_every_name_the_certificate_binds(client, embedded):
    pem = make_csr(HOST, sans=["example.com", HOST, "api.example.com"])
    res = client.request({"ProductCode": PAID_SINGLE, "Csr": pem})
    assert res["statusCode"] == 200, res["body"]
    assert client.json(res)["Domains"] == [HOST, "example.com", "api.example.com"]
    assert len(embedded.emulator.orders()) == 1


@pytest.mark.parametrize("san", ["bad_name.example.com", "printer.lan", "co.uk", "192.0.2.1", "a.*.example.com",
                                 "", "localhost", "www.example.com.."])
def test_a_csr_san_that_breaks_the_host_name_rules_is_refused(san):
    errors = refused_with({"ProductCode": PAID_SINGLE, "Csr": make_csr(HOST, sans=["example.com", san])},
                          "Csr", "InvalidCsr.SubjectAlternativeName")
    assert errors[0].message.startswith("SAN 2 ")


@pytest.mark.parametrize(("general_name", "kind"), [
    (x509.IPAddress(ipaddress.ip_address("192.0.2.1")), "an IP address"),
    (x509.IPAddress(ipaddress.ip_address("2001:db8::1")), "an IP address"),
    (x509.RFC822Name("tom.zhang@example.com"), "an e-mail address"),
    (x509.UniformResourceIdentifier("https://www.example.com/"), "a URI"),
    (x509.RegisteredID(ObjectIdentifier("1.2.3.4")), "a registered ID"),
    (x509.DirectoryName(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, HOST)])), "a directory name"),
    (x509.OtherName(ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"), b"\x0c\x03abc"), "an otherName"),
], ids=["ipv4", "ipv6", "email", "uri", "registered-id", "directory-name", "other-name"])
def test_a_csr_with_a_san_that_is_not_a_dns_name_is_refused_without_echoing_it(general_name, kind):
    pem = make_csr(HOST, sans=["example.com"], other_sans=[general_name])
    errors = refused_with({"ProductCode": PAID_SINGLE, "Csr": pem}, "Csr", "InvalidCsr.SubjectAlternativeName")
    assert errors[0].message == f"SAN 2 is {kind}; only DNS names can be certified here"
    assert "tom.zhang" not in errors[0].message and "192.0.2.1" not in errors[0].message


def test_every_bad_san_is_reported_at_once_with_a_bad_cn():
    pem = make_csr("printer.lan", sans=["co.uk", "ok.example.com", "bad_name.example.com"],
                   other_sans=[x509.RFC822Name("ops@example.com")])
    errors = refuse({"ProductCode": PAID_SINGLE, "Csr": pem})
    assert [e.code for e in errors] == ["InvalidCsr.CommonName"] + ["InvalidCsr.SubjectAlternativeName"] * 3
    assert [e.message.split(" ", 2)[:2] for e in errors[1:]] == [["SAN", "1"], ["SAN", "3"], ["SAN", "4"]]


def test_csr_names_must_fit_the_product_as_domain_names_do():
    five = [f"h{i}.example.com" for i in range(1, 5)]
    assert accept({"ProductCode": PAID_SINGLE, "Csr": make_csr(HOST, sans=five)}).domains == (HOST, *five)
    refused_with({"ProductCode": PAID_SINGLE, "Csr": make_csr(HOST, sans=[*five, "h5.example.com"])},
                 "Csr", "InvalidDomain.TooMany")
    refused_with({"ProductCode": PAID_WILD, "Csr": make_csr("*.example.com", sans=["example.com"])},
                 "Csr", "InvalidDomain.Mixed")
    refused_with({"ProductCode": PAID_WILD, "Csr": make_csr("*.example.com", sans=["www.example.org"])},
                 "Csr", "InvalidDomain.ProductMismatch")
    refused_with({"ProductCode": PAID_SINGLE, "Csr": make_csr(HOST, sans=["*.example.org"])},
                 "Csr", "InvalidDomain.ProductMismatch")
    wild = accept({"ProductCode": PAID_WILD, "Csr": make_csr("*.example.com", sans=["*.example.com", "*.example.org"])})
    assert wild.domains == ("*.example.com", "*.example.org")


def test_the_csrs_sans_win_over_domain_which_is_still_validated():
    order = accept({"ProductCode": PAID_SINGLE, "Domain": "other.example.com",
                    "Csr": make_csr(HOST, sans=["api.example.com"])})
    assert order.domains == (HOST, "api.example.com")
    assert order.domain_param == "other.example.com"


def test_a_csr_with_more_san_entries_than_are_read_is_refused():
    sans = [f"h{i}.example.com" for i in range(MAX_SAN_ENTRIES + 1)]
    errors = refused_with({"ProductCode": PAID_SINGLE, "Csr": make_csr(HOST, "ec256", sans=sans)},
                          "Csr", "InvalidCsr.SubjectAlternativeName")
    assert f"has {MAX_SAN_ENTRIES + 1} subjectAltNames" in errors[0].message


def test_csrs_with_one_key_and_cn_but_other_sans_get_other_idempotency_keys():
    alone = accept({"ProductCode": PAID_SINGLE, "Csr": make_csr(HOST)})
    more = accept({"ProductCode": PAID_SINGLE, "Csr": make_csr(HOST, sans=["api.example.com"])})
    assert alone.csr_public_key_sha256 == more.csr_public_key_sha256
    assert derived_key(alone) != derived_key(more)


def test_a_name_over_both_length_limits_is_refused_for_its_label_whichever_limit_idna_tests_first(monkeypatch):
    """idna 3.13 reports the label, 3.20 the whole name: casrelay's answer must not depend on the release."""
    import idna

    from casrelay.validation.domains import normalise_host

    name = "ü" * 60 + "." + ".".join(["a" * 63] * 3) + ".com"  # its first A-label and the whole name are too long
    real = idna.encode

    def whole_name_first(text, *args, **kwargs):
        if len(text) > 253 and "." in text:
            raise idna.IDNAError("Domain too long")
        return real(text, *args, **kwargs)

    for encode in (real, whole_name_first):
        monkeypatch.setattr(idna, "encode", encode)
        for fast in (True, False):
            _value, error = normalise_host(name, "Domain", fast=fast)
            assert error is not None and error.code == "InvalidDomain.LabelLength", (encode, fast, error)
