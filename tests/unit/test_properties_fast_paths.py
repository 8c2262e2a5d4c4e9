"""The fast paths say exactly what the libraries say.

``normalise_host``, ``check_email`` and ``check_phone`` take shortcuts for plain ASCII input (see their
modules); with ``fast=False`` every input goes through ``idna``, ``email-validator`` and ``phonenumbers``.
For every input generated here both ways give the same value, or the same refusal (same field, code and
message). The inputs sit on the shortcuts' boundaries: valid-looking ASCII names and their near misses
(case, digits, hyphens at the edges and in the 3rd and 4th position, 63/64-octet labels, 253/254-octet
names, trailing dots, '*' in odd places, punycode, mixed scripts, white space, empty labels); addresses
around the dot-atom form (quotes, '+', dots, IP literals, Unicode, length limits); and phone numbers
around the bare Chinese mobile form. ``CASRELAY_PROPERTY_SCALE`` multiplies the example counts.

The shortcuts also rest on a few facts about the libraries' current data (CN's dialling prefixes,
email-validator's reserved names); those are checked here directly, so an upgrade that changes them
fails loudly instead of letting a shortcut drift from its library.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from casrelay.validation import contacts
from casrelay.validation.contacts import check_email, check_phone
from casrelay.validation.domains import normalise_host
from tests.property_strategies import bounded

HANDLER = Path(__file__).resolve().parents[2] / "handler"


def assert_same_host(raw: str) -> None:
    assert normalise_host(raw, "Domain") == normalise_host(raw, "Domain", fast=False), raw


def assert_same_email(raw: str) -> None:
    assert check_email(raw) == check_email(raw, fast=False), raw


def assert_same_phone(raw: str) -> None:
    assert check_phone(raw) == check_phone(raw, fast=False), raw


# --- host names -----------------------------------------------------------------------------------------

plain_label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,14}[a-z0-9])?", fullmatch=True)
#: Labels one step off (or just on) the LDH rules, and labels that only the library can judge.
odd_label = st.one_of(
    st.text(st.sampled_from("abcxyzABCXYZ0189-_* "), max_size=8),
    st.sampled_from(["", "-a", "a-", "-", "ab--cd", "a--b", "ab---c", "xn--", "xn--fiqs8s", "XN--FIQS8S",
                     "xn--pypal-4ve", "xn--zz", "xn--a-", "xn--bcher-kva", "bücher", "例子", "p\u0430ypal",
                     "\u0430\u0440\u0440\u04cf\u0435", "ΑΒΓ", "ﬁle", "\u212aelvin", "a\u200db", "ａｂｃ",
                     "a\u3002b", "a\uff0eb", "e\u0301", "\u00df", "١٢٣", "a_b", "*", "**", "a*"]),
    st.integers(60, 66).map(lambda n: "a" * n),
    st.integers(60, 66).map(lambda n: "b" + "-" * (n - 2) + "c"),
)
label = st.one_of(plain_label, plain_label, odd_label)
suffix = st.sampled_from(["com", "co.uk", "com.cn", "de", "io", "uk", "lan", "internal", "test", "example",
                          "123", "1a", "a1", "xn--fiqs8s", "xn--p1ai", "中国", "", "COM", "Co.Uk"])


@st.composite
def host_like(draw: st.DrawFn) -> str:
    """Labels before a suffix, then maybe a wildcard, a case change, trailing dots and white space."""
    labels = draw(st.lists(label, min_size=0, max_size=4))
    name = ".".join([*labels, draw(suffix)]) if draw(st.integers(0, 5)) else ".".join(labels)
    if draw(st.booleans()):
        name = draw(st.sampled_from(["*.", "*", "*.*.", "a.*.", " *.", "[", "xn--."])) + name
    case = draw(st.sampled_from(["keep", "keep", "upper", "title"]))
    name = {"keep": name, "upper": name.upper(), "title": name.title()}[case]
    name += draw(st.sampled_from(["", "", "", ".", "..", "\u3002", " ", "\t", ":443", "]"]))
    return draw(st.sampled_from(["", "", " ", "\n"])) + name


@st.composite
def names_near_the_length_limits(draw: st.DrawFn) -> str:
    """A name of 250 to 256 octets (wildcard included), from labels of up to 62, 63 or 64 octets."""
    total = draw(st.integers(250, 256))
    longest = draw(st.sampled_from([62, 63, 64]))
    head = "*." if draw(st.booleans()) else ""
    tail = "." + draw(st.sampled_from(["com", "co.uk", "lan", "123"]))
    body_len = total - len(head) - len(tail)
    labels = []
    while body_len > 0:
        size = min(longest, body_len)
        if body_len - size == 1:  # a lone dot would be left over
            size -= 1
        labels.append(draw(st.sampled_from("abz9")) * size)
        body_len -= size + 1
    name = head + ".".join(labels) + tail
    return name.upper() if draw(st.booleans()) else name


@given(st.lists(plain_label, min_size=1, max_size=4).map(lambda labels: ".".join([*labels, "example.com"])))
@bounded(100)
def test_a_plain_ascii_name_normalises_the_same_with_or_without_the_fast_path(name):
    assert_same_host(name)
    assert_same_host("*." + name.upper())


@given(host_like())
@bounded(300)
@example("www.example.com.")
@example("1.2.3.4")
@example("a.b.123")
@example("ab--cd.example.com")
@example("*.co.uk")
@example("printer.lan")
@example("xn--pypal-4ve.com")
def test_a_near_miss_name_is_refused_or_accepted_the_same_with_or_without_the_fast_path(name):
    assert_same_host(name)


@given(names_near_the_length_limits())
@bounded(150)
@example("a" * 63 + ".com")
@example("a" * 64 + ".com")
def test_a_name_at_the_label_and_name_length_limits_is_judged_the_same_with_or_without_the_fast_path(name):
    assert_same_host(name)


# --- e-mail addresses -----------------------------------------------------------------------------------

ATEXT = "abcXYZ09!#$%&'*+/=?^_`{|}~-"
dot_atom = st.lists(st.text(st.sampled_from(ATEXT), min_size=1, max_size=10), min_size=1, max_size=3).map(".".join)
odd_local = st.one_of(
    st.text(st.sampled_from(ATEXT + '." ()<>[]\\,;:@é中'), max_size=12),
    st.sampled_from(['"tom zhang"', '"a@b"', '"a\\"b"', '"plain"', ".a", "a.", "a..b", "tom zhang", "用户",
                     "Info", "SUPPORT", "www", "postmaster", "tom.zhang", "a+tag", "e\u0301", "\u0301a", "a\u200bb"]),
    st.integers(62, 66).map(lambda n: "l" * n),
)
email_domain = st.one_of(
    st.lists(plain_label, min_size=1, max_size=3).map(lambda labels: ".".join([*labels, "com"])),
    host_like().map(str.strip),
    st.sampled_from(["[1.2.3.4]", "[IPv6:::1]", "[ipv6:2001:db8::1]", "[300.1.1.1]", "[foo:bar]", "localhost",
                     "mail.local", "x.onion", "a.arpa", "b.invalid", "EXAMPLE.TEST", "example.com.", "a--b.com",
                     "xn--fiqs8s.cn", "例子.广告", "example.c0m", "example.c-m", "example.9", "ex_ample.com"]),
)


@st.composite
def emails_near_the_dot_atom_form(draw: st.DrawFn) -> str:
    local = draw(st.one_of(dot_atom, dot_atom, odd_local))
    domain = draw(email_domain)
    address = draw(st.sampled_from(["{l}@{d}", "{l}@{d}", "{l}@@{d}", "{l}{d}", "{l}@{d}@x.com", "Tom <{l}@{d}>",
                                    " {l}@{d} ", "{l} @{d}", "{l}＠{d}"])).format(l=local, d=domain)
    return address.upper() if draw(st.integers(0, 5)) == 0 else address


@st.composite
def emails_near_the_length_limits(draw: st.DrawFn) -> str:
    """A plain address of 250 to 258 characters, with a local part of 60 to 66 and labels of up to 64."""
    local = draw(st.sampled_from("xY.")).join(["a" * 30, "b" * (draw(st.integers(60, 66)) - 31)])
    total = draw(st.integers(250, 258))
    longest = draw(st.sampled_from([62, 63, 64]))
    domain_len = total - len(local) - 1 - len(".com")
    labels = []
    while domain_len > 0:
        size = min(longest, domain_len)
        if domain_len - size == 1:
            size -= 1
        labels.append("d" * size)
        domain_len -= size + 1
    return f"{local}@{'.'.join([*labels, 'com'])}"


@given(st.tuples(dot_atom, st.lists(plain_label, min_size=1, max_size=3)))
@bounded(100)
@example(("tom.zhang", ["example"]))
def test_a_plain_address_normalises_the_same_with_or_without_the_fast_path(case):
    local, labels = case
    assert_same_email(f"{local}@{'.'.join(labels)}.com")
    assert_same_email(f"{local}@{'.'.join(labels).upper()}.CN")


@given(emails_near_the_dot_atom_form())
@bounded(300)
@example("Ops@Example.COM")
@example("Info@example.com")
@example("a+b@xn--fiqs8s.cn")
@example("tom@[1.2.3.4]")
@example('"tom"@example.com')
def test_an_address_near_the_dot_atom_form_is_judged_the_same_with_or_without_the_fast_path(address):
    assert_same_email(address)


@given(emails_near_the_length_limits())
@bounded(150)
def test_an_address_at_the_length_limits_is_judged_the_same_with_or_without_the_fast_path(address):
    assert_same_email(address)


def test_the_email_fast_path_rests_on_email_validators_own_rules():
    """Its local part is a subset of the library's atext, and every name the library lower-cases or
    refuses as reserved is one the fast path leaves to the library."""
    import email_validator
    from email_validator import rfc_constants

    ours = re.compile(contacts._ATEXT)
    for ch in map(chr, range(0x110000)):
        if ours.fullmatch(ch):
            assert re.fullmatch(f"[{rfc_constants.ATEXT}]", ch), ch
    assert set(rfc_constants.CASE_INSENSITIVE_MAILBOX_NAMES) <= contacts._CASE_INSENSITIVE_MAILBOXES
    assert set(email_validator.SPECIAL_USE_DOMAIN_NAMES) <= set(contacts._SPECIAL_USE_DOMAINS)
    assert (rfc_constants.EMAIL_MAX_LENGTH, rfc_constants.DOMAIN_MAX_LENGTH, rfc_constants.DNS_LABEL_LENGTH_LIMIT) \
        == (contacts._MAX_ADDRESS, contacts._MAX_DOMAIN, 63)


# --- phone numbers --------------------------------------------------------------------------------------

digits = st.text(st.sampled_from("0123456789"), min_size=0, max_size=13)
phone_like = st.one_of(
    st.from_regex(r"1[0-9]{10}", fullmatch=True),
    st.from_regex(r"17[0-9]{9}", fullmatch=True),
    st.from_regex(r"1[0-9]{9,11}", fullmatch=True),
    digits,
    st.from_regex(r"(\+86|0086|86|0|\+1|\+)? ?1[3-9][0-9] ?[0-9]{4}[ -]?[0-9]{4}", fullmatch=True),
    st.sampled_from(["１３０００００００００", "١٣٠٠٠٠٠٠٠٠٠", "130000000O0", "13000000000x", "(130)00000000",
                     "+8613000000000", "17912001234", "11200123456", "12593123456", "13000000000\u200b"]),
)


@given(st.tuples(phone_like, st.sampled_from(["", " ", "\t", "\u3000"])).map(lambda c: c[1] + c[0] + c[1]))
@bounded(250)
@example("13000000000")
@example("17900000000")
@example(" 19999999999 ")
def test_a_phone_number_is_judged_the_same_with_or_without_the_fast_path(number):
    assert_same_phone(number)


def test_every_mobile_prefix_is_judged_the_same_with_or_without_the_fast_path():
    """Prefixes decide every step of ``phonenumbers.parse`` the fast path relies on (none is longer than
    seven digits: 179dd00); every four-digit one is tried with suffixes that complete the seven."""
    for prefix in range(1000, 2000):
        for tail in ("0000000", "0012345", "9999999", "1200000"):
            assert_same_phone(f"{prefix}{tail}")


def test_the_phone_fast_path_rests_on_cn_metadata_that_has_not_changed():
    """If ``phonenumbers`` changes CN's prefixes or lengths, ``_plain_phone``'s argument must be redone."""
    import phonenumbers

    cn = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    assert cn is not None and cn.country_code == 86
    assert cn.international_prefix == "00|1(?:[12]\\d|79)\\d\\d00"
    assert cn.national_prefix_for_parsing == "(1(?:[12]\\d|79)\\d\\d)|0"
    assert cn.national_prefix_transform_rule is None
    assert 11 in cn.general_desc.possible_length


# --- the shortcuts are taken -----------------------------------------------------------------------------


def test_the_fast_paths_take_the_common_inputs():
    """Equivalence would hold trivially for a shortcut that never fires: the everyday inputs must take it."""
    from casrelay.validation.domains import _PLAIN_NAME

    for name in ("www.example.com", "*.example.com", "Shop-1.Example.CO.UK", "a1.b2.example.cn"):
        assert _PLAIN_NAME.fullmatch(name), name
    for address in ("tom.zhang@example.com", "Ops@Example.COM", "a+b@mail.example.org", "o'neil@x.co.uk"):
        assert contacts._plain_email(address) is not None, address
    for number in ("13000000000", "18612345678", "19999999999"):
        assert contacts._plain_phone(number), number


# --- what the first order loads -------------------------------------------------------------------------


def test_an_order_of_plain_values_loads_none_of_the_libraries_and_an_unusual_one_loads_them():
    script = (
        "import sys\n"
        "from casrelay import config\n"
        "from casrelay.validation import validate_order\n"
        "libraries = ('idna', 'email_validator', 'phonenumbers')\n"
        "validate_order({'Domain': 'www.example.com', 'Email': 'tom.zhang@example.com',"
        " 'Phone': '13000000000'}, config.load({}))\n"
        "assert not [m for m in libraries if m in sys.modules], [m for m in libraries if m in sys.modules]\n"
        "validate_order({'ProductCode': 'geotrust-dv-1-starter', 'Domain': 'www.bücher.de',"
        " 'Email': 'ops@例子.广告', 'Phone': '+86 130 0000 0000'}, config.load({}))\n"
        "assert all(m in sys.modules for m in libraries)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=HANDLER, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
