"""Properties of order validation and CSR inspection.

``validate_order`` only ever returns an ``Order`` or raises one ``InvalidOrder`` whose errors each name a
field of the order, whatever parameters it is given; a validated order's own CAS parameters validate
to the same order. ``inspect_csr`` never raises; the repairs README promises (newlines turned into
spaces, escaped ``\\n``, ``+`` read as a space) give back the same CSR, and damage to the signed bytes
never yields a CSR with another key or another name.
"""

from __future__ import annotations

import base64
import textwrap
from functools import cache
from typing import Any

import idna
from hypothesis import example, given
from hypothesis import strategies as st

from casrelay import config
from casrelay.errors import InvalidOrder
from casrelay.ledger.key import derived_key
from casrelay.order import Order
from casrelay.products import PRODUCT_CODES
from casrelay.response import status_of
from casrelay.validation import KNOWN_PARAMETERS, validate_order
from casrelay.validation.base import ACTION
from casrelay.validation.csr import MAX_CSR_CHARS, CsrInfo, inspect_csr
from casrelay.validation.domains import normalise_host
from casrelay.validation.tags import MAX_KEY, MAX_TAGS, MAX_VALUE
from tests.csr_factory import BEGIN, END, body_lines, der_of, make_csr, pem_of
from tests.property_strategies import PUBLIC_SUFFIXES, any_text, bounded, json_scalars, mutated, registered_domains

SETTINGS = config.load({})

# --- CSR pools (built once: EC signatures are random, and RSA keys are slow to make) --------------------

#: CSRs that must be accepted: (key kind, CN).
GOOD_CSR_SPECS = (("rsa2048", "www.example.com"), ("ec256", "shop.example.org"), ("rsa2048", "*.example.net"),
                  ("ec256", "*.example.com"))
#: CSRs that must be refused: a weak key, keys CAS does not take, no CN, a bad CN, a broken signature.
BAD_CSR_SPECS: tuple[dict[str, Any], ...] = (
    {"key": "rsa1024"}, {"key": "ed25519"}, {"key": "dsa2048"}, {"cn": None}, {"cn": "localhost"},
    {"cn": "1.2.3.4"}, {"tamper": True},
)


@cache
def good_csrs() -> tuple[str, ...]:
    return tuple(make_csr(cn, kind) for kind, cn in GOOD_CSR_SPECS)


@cache
def bad_csrs() -> tuple[str, ...]:
    return tuple(make_csr(**spec) for spec in BAD_CSR_SPECS)


good_csr = st.integers(0, len(GOOD_CSR_SPECS) - 1).map(lambda i: good_csrs()[i])
any_csr = good_csr | st.integers(0, len(BAD_CSR_SPECS) - 1).map(lambda i: bad_csrs()[i])


@cache
def reference(pem: str) -> CsrInfo:
    info, errors = inspect_csr(pem)
    assert info is not None, errors
    return info


# --- order parameters ----------------------------------------------------------------------------------

PARAMETER_NAMES = [*sorted(KNOWN_PARAMETERS), "Tags.1.Key", "Tags.1.Value", "Tags.2.Key", "Tags.0.Key",
                   "Tags.999.Value", "Tags.1000.Key", "Domian", "validatetype"]
REALISTIC_TEXT = (
    *PRODUCT_CODES, "DNS", "FILE", "EMAIL", ACTION, "XML", "JSON", "www.example.com", "*.example.com",
    "a.example.com,b.example.com", "*.example.com,www.example.com", "bücher.de", "example", "1.2.3.4",
    "-bad-.example.com", "a..example.com", "www.example.com.", "www.example.com..", "*.*.example.com",
    "co.uk", "*.co.uk", "printer.lan", "host.internal", "p\u0430ypal.com", "xn--pypal-4ve.com", "xn--zz.com",
    "tom.zhang@example.com",
    "not-an-address", "13000000000", "+86 130 0000 0000", "call me", "Tom Zhang", "\x00", " ", "",
)
param_text = st.sampled_from(REALISTIC_TEXT) | any_text | any_csr
tag_lists = st.lists(st.fixed_dictionaries({"Key": param_text}, optional={"Value": param_text}), max_size=4)
param_values = (param_text | st.integers() | st.floats() | st.booleans() | st.none() | tag_lists
                | st.lists(json_scalars, max_size=3)
                | st.dictionaries(st.sampled_from(["Key", "Value"]) | any_text, json_scalars, max_size=3))
arbitrary_params = st.dictionaries(st.sampled_from(PARAMETER_NAMES) | any_text, param_values, max_size=10)


# Orders valid by construction, with the variations the validator normalises (case, Unicode names,
# a trailing dot, white space around names, flat tags, numbers given as JSON numbers).
ascii_label = st.from_regex(r"[a-z0-9]{1,8}(-[a-z0-9]{1,4})?", fullmatch=True)
parent = registered_domains()  # every name ends under a real public suffix, as the rules require


@st.composite
def host_names(draw: st.DrawFn, count: int, wildcard: bool) -> list[str]:
    firsts = draw(st.lists(ascii_label, min_size=count, max_size=count, unique=True))
    names = []
    for first in firsts:
        name = f"{first}.{draw(parent)}"
        if draw(st.booleans()):
            name = name.upper() if draw(st.booleans()) else name + "."
        names.append(("*." if wildcard else "") + name)
    # distinct first labels may still meet under a different parent, once lower-cased: keep the first
    return list(dict.fromkeys(names))


def contact_text(limit: int) -> st.SearchStrategy[str]:
    """Short text without control characters, or text of exactly the limit (long draws are slow)."""
    short = st.text(st.characters(exclude_categories=("C",)), min_size=1, max_size=16).filter(str.strip)
    return short | short.map(lambda s: (s * limit)[:limit])


tag_text = st.text(st.characters(min_codepoint=32, exclude_categories=("Cs",)), max_size=12)
tag_key = (tag_text | tag_text.map(lambda s: ("k" + s) * MAX_KEY)).map(lambda s: s[:MAX_KEY]).filter(
    lambda k: k.strip() and not k.lower().startswith(("aliyun", "acs:")))
tag_value = (tag_text | tag_text.map(lambda s: ("v" + s) * MAX_VALUE)).map(lambda s: s[:MAX_VALUE])


@st.composite
def valid_tags(draw: st.DrawFn) -> dict[str, Any]:
    pairs = draw(st.lists(st.tuples(tag_key, tag_value), max_size=MAX_TAGS, unique_by=lambda p: p[0]))
    if not pairs:
        return {}
    if draw(st.booleans()):
        return {"Tags": [{"Key": k, "Value": v} for k, v in pairs]}
    numbers = sorted(draw(st.lists(st.integers(1, 999), min_size=len(pairs), max_size=len(pairs), unique=True)))
    flat: dict[str, Any] = {}
    for n, (k, v) in zip(numbers, pairs, strict=True):
        flat[f"Tags.{n}.Key"] = k
        flat[f"Tags.{n}.Value"] = v
    return flat


@st.composite
def valid_orders(draw: st.DrawFn) -> dict[str, Any]:
    product = PRODUCT_CODES[draw(st.sampled_from(sorted(PRODUCT_CODES)))]
    params: dict[str, Any] = {}
    if draw(st.booleans()) or product.code != SETTINGS.default_product_code:
        params["ProductCode"] = product.code
    use_csr = draw(st.booleans())
    if not use_csr or draw(st.booleans()):
        count = 1 if product.free else draw(st.integers(1, 5))
        names = draw(host_names(count, product.wildcard))
        params["Domain"] = ",".join(f" {n} " if draw(st.booleans()) else n for n in names)
    if use_csr:
        fitting = [i for i, (_, cn) in enumerate(GOOD_CSR_SPECS) if cn.startswith("*.") == product.wildcard]
        params["Csr"] = good_csrs()[draw(st.sampled_from(fitting))]
    optional = {
        "ValidateType": st.sampled_from(["DNS", "FILE"]),
        "Username": contact_text(64),
        "Email": st.sampled_from(["tom.zhang@example.com", "Ops@Example.COM", "a+b@xn--fiqs8s.cn",
                                  "用户@例子.广告", " ops@example.org "]),
        "Phone": st.sampled_from(["13000000000", "+86 130 0000 0000", "+1 (650) 253-0000", " 13000000000 "])
        | st.just(13000000000),
        "Action": st.just(ACTION),
        "Format": st.sampled_from(["JSON", "XML"]),
        "IdempotencyKey": st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=255),
    }
    if product.organisation_validated:
        optional["CompanyName"] = contact_text(128)
    for name, strategy in optional.items():
        if draw(st.booleans()):
            params[name] = draw(strategy)
    params.update(draw(valid_tags()))
    return params


def validate_or_refuse(params: dict[str, Any]) -> Order | InvalidOrder:
    try:
        order = validate_order(params, SETTINGS)
    except InvalidOrder as err:
        assert status_of(err) == 400 and err.code == "InvalidParameter"
        assert err.errors, "an InvalidOrder must list at least one field error"
        for e in err.errors:
            assert e.code and e.message
            assert e.field in params or e.field.split(".", 1)[0] in KNOWN_PARAMETERS, \
                f"{e.code} names {e.field!r}, which is neither a given nor a known parameter"
        return err
    assert isinstance(order, Order)
    return order


@given(arbitrary_params)
@bounded(200)
@example({"Domain": "a" * 300 + ".com", "Csr": "-----BEGIN CERTIFICATE REQUEST-----"})
@example({"Tags.1.Value": "x"})
@example({"Tags": [{"Key": "k"}, {"Key": "k"}], "Tags.1.Key": "k"})
def test_validate_order_returns_an_order_or_names_the_bad_fields(params):
    validate_or_refuse(params)


@given(valid_orders().flatmap(lambda order: mutated(order, values=param_values)))
@bounded(150)
def test_validate_order_returns_an_order_or_names_the_bad_fields_of_a_damaged_order(params):
    if isinstance(params, dict):
        validate_or_refuse(params)


@given(valid_orders())
@bounded(100)
def test_orders_built_by_the_rules_are_accepted_and_their_cas_parameters_validate_to_the_same_order(params):
    order = validate_or_refuse(params)
    assert isinstance(order, Order), order
    again = validate_order(order.cas_parameters(), SETTINGS)
    assert again == order
    assert again.cas_parameters() == order.cas_parameters()


# --- the names themselves: trailing dots, homographs ---------------------------------------------------

#: The full stops UTS 46 reads as a dot.
DOTS = ".\u3002\uff0e\uff61"
PAID_SINGLE = "geotrust-dv-1-starter"
PAID_WILD = "geotrust-dv-w-starter"

one_name = st.booleans().flatmap(lambda wild: host_names(1, wild)).map(lambda names: names[0].rstrip("."))
name_text = (one_name | st.sampled_from(REALISTIC_TEXT) | any_text).filter(
    lambda n: n and n == n.strip() and n[-1] not in DOTS)


@given(name_text)
@bounded(300)
@example("www.example.com")
@example("*.example.co.uk")
@example("co.uk")
@example("*")
def test_a_name_with_one_trailing_dot_validates_like_the_name_without_it_and_with_two_is_refused(name):
    plain, plain_err = normalise_host(name, "Domain")
    dotted, dotted_err = normalise_host(name + ".", "Domain")
    assert dotted == plain
    assert (dotted_err and dotted_err.code) == (plain_err and plain_err.code)
    for dots in ("..", ".\u3002", "..."):
        _, err = normalise_host(name + dots, "Domain")
        assert err is not None and err.code == "InvalidDomain.TrailingDot", err


@given(st.tuples(st.integers(1, 5), st.booleans()).flatmap(lambda c: host_names(*c)))
@bounded(100)
def test_an_order_whose_names_carry_one_trailing_dot_is_the_same_order_with_the_same_key(names):
    names = [n.rstrip(".") for n in names]
    product = PAID_WILD if names[0].startswith("*.") else PAID_SINGLE
    plain = validate_order({"ProductCode": product, "Domain": ",".join(names)}, SETTINGS)
    dotted = validate_order({"ProductCode": product, "Domain": ",".join(n + "." for n in names)}, SETTINGS)
    assert dotted == plain
    assert derived_key(dotted) == derived_key(plain)
    twice = validate_or_refuse({"ProductCode": product, "Domain": ",".join([*names, names[0] + ".."])})
    assert isinstance(twice, InvalidOrder)
    assert ("Domain", "InvalidDomain.TrailingDot") in {(e.field, e.code) for e in twice.errors}


LATIN_LETTERS = "abcdefghijklmnopqrstuvwxyzéüñ"
LOOKALIKE_LETTERS = "абвгдежзийклмнопрстуфхцчшщъыьэюяёαβγδεζηθικλμνξοπρστυφχψω"


@st.composite
def mixed_labels(draw: st.DrawFn) -> str:
    """A valid IDN label with at least one Latin and one Cyrillic or Greek letter, maybe digits and a hyphen."""
    chars = [draw(st.sampled_from(LATIN_LETTERS)), draw(st.sampled_from(LOOKALIKE_LETTERS)),
             *draw(st.lists(st.sampled_from(LATIN_LETTERS + LOOKALIKE_LETTERS + "0123456789"), max_size=12))]
    label = "".join(draw(st.permutations(chars)))
    if draw(st.booleans()):
        at = draw(st.integers(1, len(label) - 1))
        label = label[:at] + "-" + label[at:]
    return label.upper() if draw(st.booleans()) else label


@st.composite
def names_with_a_mixed_label(draw: st.DrawFn) -> str:
    label = draw(mixed_labels())
    where = draw(st.sampled_from(["leftmost", "registrable", "wildcard"]))
    suffix = draw(st.sampled_from(PUBLIC_SUFFIXES))
    name = {"leftmost": f"{label}.{draw(registered_domains())}", "registrable": f"www.{label}.{suffix}",
            "wildcard": f"*.{label}.{suffix}"}[where]
    if draw(st.booleans()):  # the same name already as punycode
        prefix = "*." if name.startswith("*.") else ""
        name = prefix + idna.encode(name.removeprefix(prefix), uts46=True).decode("ascii")
    return name


@given(names_with_a_mixed_label())
@bounded(200)
@example("p\u0430ypal.com")
@example("xn--pypal-4ve.com")
def test_a_label_mixing_a_latin_and_a_cyrillic_or_greek_letter_is_refused(name):
    _, err = normalise_host(name, "Domain")
    assert err is not None and err.code == "InvalidDomain.MixedScript", (name, err)
    product = PAID_WILD if name.startswith("*.") else PAID_SINGLE
    refused = validate_or_refuse({"ProductCode": product, "Domain": name})
    assert isinstance(refused, InvalidOrder)
    assert {(e.field, e.code) for e in refused.errors} == {("Domain", "InvalidDomain.MixedScript")}


# --- a CSR's names: the CN, then its subjectAltNames -----------------------------------------------------


def _a_label_form(name: str) -> str:
    """A name as a DNSName SAN must carry it: ASCII, with the Unicode labels as punycode (case and dot kept)."""
    prefix = "*." if name.startswith("*.") else ""
    rest = name.removeprefix(prefix)
    if rest.isascii():
        return name
    dot = "." if rest.endswith(".") else ""
    return prefix + idna.encode(rest.removesuffix("."), uts46=True).decode("ascii") + dot


def _bound_form(name: str) -> str:
    """What the certificate binds for ``name``, worked out here independently of casrelay."""
    prefix = "*." if name.startswith("*.") else ""
    rest = name.removeprefix(prefix).removesuffix(".")
    return prefix + idna.encode(rest, uts46=True).decode("ascii").lower()


@st.composite
def csr_name_sets(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A CN and SANs drawn from one pool of names (so SANs repeat the CN and each other), in varied spellings."""
    pool = draw(host_names(draw(st.integers(1, 7)), draw(st.booleans())))
    sans = draw(st.lists(st.sampled_from(pool) | st.just(pool[0].upper()), max_size=7))
    if draw(st.booleans()):  # every name of the pool, so that more than 5 distinct names come up too
        sans = [*draw(st.permutations(pool)), *sans]
    return pool[0], sans


@given(csr_name_sets())
@bounded(60)
def test_a_csr_binds_its_cn_followed_by_its_sans_each_once(case):
    cn, sans = case
    pem = make_csr(cn, "ec256", sans=[_a_label_form(s) for s in sans])
    expected = tuple(dict.fromkeys(_bound_form(n) for n in (cn, *sans)))
    product = PAID_WILD if cn.startswith("*.") else PAID_SINGLE
    result = validate_or_refuse({"ProductCode": product, "Csr": pem})
    if len(expected) <= 5:
        assert isinstance(result, Order), result
        assert result.domains == expected
        assert reference(pem).names == expected
    else:
        assert isinstance(result, InvalidOrder)
        assert {(e.field, e.code) for e in result.errors} == {("Csr", "InvalidDomain.TooMany")}


# --- CSR inspection ------------------------------------------------------------------------------------


def inspect_or_refuse(text: str) -> CsrInfo | None:
    info, errors = inspect_csr(text)
    if info is None:
        assert errors, "a refused CSR must say why"
        assert all(e.field == "Csr" and e.code.startswith("InvalidCsr") and e.message for e in errors)
    else:
        assert errors == []
        assert isinstance(info, CsrInfo) and info.pem.startswith(BEGIN)
    return info


def armoured(body: str, begin: str = BEGIN, end: str = END) -> str:
    return f"{begin}\n{body}\n{end}\n"


arbitrary_csr_text = st.one_of(
    any_text,
    st.integers(MAX_CSR_CHARS - 80, MAX_CSR_CHARS).map(lambda n: armoured("MIIB" * (n // 4))),
    st.text(st.sampled_from("ABCDEFGHabcdefgh0123456789+/= \n\\"), max_size=200).map(armoured),
    st.binary(max_size=300).map(pem_of),
)


@given(arbitrary_csr_text)
@bounded(200)
@example(armoured("", "-----BEGIN NEW CERTIFICATE REQUEST-----", "-----END NEW CERTIFICATE REQUEST-----"))
@example(armoured("MA=="))
def test_inspect_csr_never_raises_on_arbitrary_text(text):
    inspect_or_refuse(text)


@st.composite
def damaged_pem(draw: st.DrawFn, pem: str) -> str:
    lines = body_lines(pem)
    body = "\n".join(lines)
    how = draw(st.sampled_from(["flip-char", "truncate", "drop-line", "whitespace", "lose-armour", "rewrap"]))
    if how == "flip-char":
        at = draw(st.integers(0, len(body) - 1))
        body = body[:at] + draw(st.sampled_from("Aa0+/=- .\\é")) + body[at + 1:]
    elif how == "truncate":
        return pem[: draw(st.integers(0, len(pem) - 1))]
    elif how == "drop-line":
        del lines[draw(st.integers(0, len(lines) - 1))]
        body = "\n".join(lines)
    elif how == "whitespace":
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.sampled_from([" ", "\t", "\r\n", "\\n", "  \n ", "\n\n"])) + body[at:]
    elif how == "lose-armour":
        return pem.replace(draw(st.sampled_from([BEGIN, END, "-----"])), "", 1)
    else:
        return armoured("\n".join(textwrap.wrap(body.replace("\n", ""), draw(st.integers(1, 120)))))
    return armoured(body)


@given(any_csr.flatmap(damaged_pem))
@bounded(200)
def test_inspect_csr_never_raises_on_damaged_pem(text):
    inspect_or_refuse(text)


@st.composite
def transport_repaired(draw: st.DrawFn, pem: str) -> str:
    """The damage README says casrelay repairs, one kind at a time, plus harmless framing changes."""
    lines = body_lines(pem)
    how = draw(st.sampled_from(["newlines-to-spaces", "json-escaped", "plus-to-space", "crlf", "rewrap",
                                "surrounding-text", "new-armour"]))
    if how == "newlines-to-spaces":
        seps = draw(st.lists(st.sampled_from([" ", "\n"]), min_size=len(lines) + 1, max_size=len(lines) + 1))
        return BEGIN + seps[0] + "".join(ln + sep for ln, sep in zip(lines, seps[1:], strict=True)) + END
    if how == "json-escaped":
        return pem.replace("\n", "\\n")
    if how == "plus-to-space":
        return pem.replace("+", " ")
    if how == "crlf":
        return pem.replace("\n", "\r\n")
    if how == "rewrap":
        return armoured("\n".join(textwrap.wrap("".join(lines), draw(st.integers(4, 200)))))
    if how == "surrounding-text":
        return draw(st.sampled_from(["my csr: ", "\n\n", "  "])) + pem + draw(st.sampled_from(["thanks", "\n", ""]))
    return pem.replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")


@given(good_csr.flatmap(lambda pem: st.tuples(st.just(pem), transport_repaired(pem))))
@bounded(150)
def test_a_csr_damaged_the_documented_ways_is_repaired_to_the_same_canonical_csr(case):
    pem, damaged = case
    info = inspect_or_refuse(damaged)
    assert info == reference(pem)


@st.composite
def der_flips(draw: st.DrawFn) -> tuple[str, str]:
    """A good CSR and the same CSR with one DER byte changed (XORed with a non-zero mask)."""
    pem = draw(good_csr)
    der = bytearray(der_of(pem))
    at = draw(st.integers(0, len(der) - 1))
    der[at] ^= draw(st.integers(1, 255))
    return pem, pem_of(bytes(der))


@st.composite
def base64_flips(draw: st.DrawFn) -> tuple[str, str]:
    """A good CSR and the same PEM with one base64 character replaced by another base64 character."""
    pem = draw(good_csr)
    body = "".join(body_lines(pem))
    at = draw(st.integers(0, len(body.rstrip("=")) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    new = draw(st.sampled_from(alphabet).filter(lambda c: c != body[at]))
    return pem, armoured("\n".join(textwrap.wrap(body[:at] + new + body[at + 1:], 64)))


@given(der_flips() | base64_flips())
@bounded(250)
def test_a_changed_byte_never_yields_a_csr_with_another_key_or_name(case):
    """The signature covers the key and the subject: a change there is refused. A change that leaves the
    CSR accepted (only conceivable in unsigned framing, or in base64 bits that decode to nothing) must
    still give the original key and name."""
    pem, changed = case
    info = inspect_or_refuse(changed)
    if info is not None:
        original = reference(pem)
        assert (info.public_key_sha256, info.common_name, info.key_type) == \
            (original.public_key_sha256, original.common_name, original.key_type)


def test_csr_pools_are_what_they_claim():
    for pem in good_csrs():
        assert inspect_or_refuse(pem) is not None
    for pem in bad_csrs():
        assert inspect_or_refuse(pem) is None
    assert base64.b64decode("".join(body_lines(good_csrs()[0])))
