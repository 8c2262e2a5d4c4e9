"""The host-name fast path says exactly what ``idna`` says.

``normalise_host`` takes shortcuts for plain ASCII names (see ``casrelay.validation.domains``); with
``fast=False`` every name goes through ``idna`` (UTS 46). For every name generated here both ways give
the same value, or the same refusal (same field, code and message). The names sit on the shortcuts'
boundaries: valid-looking ASCII names and their near misses (case, digits, hyphens at the edges and in
the 3rd and 4th position, 63/64-octet labels, 253/254-octet names, trailing dots, '*' in odd places,
punycode, mixed scripts, white space, empty labels). ``CASRELAY_PROPERTY_SCALE`` multiplies the
example counts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from casrelay.validation.domains import normalise_host
from tests.property_strategies import bounded

HANDLER = Path(__file__).resolve().parents[2] / "handler"


def assert_same_host(raw: str) -> None:
    assert normalise_host(raw, "Domain") == normalise_host(raw, "Domain", fast=False), raw


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


# --- the shortcut is taken, and idna is not loaded for it -------------------------------------------------


def test_the_fast_path_takes_the_common_names():
    """Equivalence would hold trivially for a shortcut that never fires: the everyday names must take it."""
    from casrelay.validation.domains import _PLAIN_NAME

    for name in ("www.example.com", "*.example.com", "Shop-1.Example.CO.UK", "a1.b2.example.cn"):
        assert _PLAIN_NAME.fullmatch(name), name


def test_an_ascii_name_does_not_load_idna_and_an_idn_one_does():
    script = (
        "import sys\n"
        "from casrelay.validation.domains import normalise_host\n"
        "assert normalise_host('www.example.com', 'Domain')[0] == 'www.example.com'\n"
        "assert 'idna' not in sys.modules\n"
        "assert normalise_host('www.bücher.de', 'Domain')[0] == 'www.xn--bcher-kva.de'\n"
        "assert 'idna' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=HANDLER, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
