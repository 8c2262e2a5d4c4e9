"""How a record name CAS asks for is split into the Alidns zone (DomainName) and RR.

The zone is the longest of the account's zones that holds the name on a label boundary; the name is compared
in one form (lower case, A-labels, no trailing dot) whatever spelling CAS used.
"""

from __future__ import annotations

import pytest

from casrelay.follow.dns.zones import canonical_zones, find_zone, normalise, split
from casrelay.follow.exceptions import ZoneNotFound

ZONES = ("example.com", "example.org", "shop.example.org", "example.com.cn")


@pytest.mark.parametrize(("name", "expected"), [
    ("_dnsauth.www.example.com", ("example.com", "_dnsauth.www")),
    ("_dnsauth.example.com", ("example.com", "_dnsauth")),
    ("_dnsauth.a.example.org", ("example.org", "_dnsauth.a")),
])
def test_a_name_is_split_at_the_zone_that_holds_it(name: str, expected: tuple[str, str]) -> None:
    assert split(name, ZONES) == expected


def test_the_longest_zone_wins_when_a_delegated_zone_sits_under_another() -> None:
    assert split("_dnsauth.a.shop.example.org", ZONES) == ("shop.example.org", "_dnsauth.a")
    assert split("_dnsauth.a.shop.example.org", reversed(ZONES)) == ("shop.example.org", "_dnsauth.a")


def test_a_multi_label_public_suffix_zone_is_a_zone_like_any_other() -> None:
    assert split("www.example.com.cn", ZONES) == ("example.com.cn", "www")
    assert split("_dnsauth.www.example.com.cn", ZONES) == ("example.com.cn", "_dnsauth.www")


def test_a_name_equal_to_its_zone_has_the_rr_at() -> None:
    assert split("example.com", ZONES) == ("example.com", "@")
    assert split("Shop.Example.Org.", ZONES) == ("shop.example.org", "@")


def test_a_zone_matches_only_on_a_label_boundary() -> None:
    with pytest.raises(ZoneNotFound):
        split("badexample.com", ("example.com",))
    with pytest.raises(ZoneNotFound):
        split("_dnsauth.notshop.example.org", ("shop.example.org",))
    assert split("_dnsauth.badexample.com", ("example.com", "badexample.com")) == ("badexample.com", "_dnsauth")


def test_case_and_a_trailing_dot_do_not_matter_on_either_side() -> None:
    assert split("_DNSAUTH.WWW.Example.COM.", ("EXAMPLE.com.",)) == ("example.com", "_dnsauth.www")


def test_a_u_label_name_is_split_in_a_labels() -> None:
    assert normalise("_dnsauth.Bücher.example") == "_dnsauth.xn--bcher-kva.example"
    assert split("_dnsauth.www.bücher.example", ("xn--bcher-kva.example",)) == (
        "xn--bcher-kva.example", "_dnsauth.www")
    assert split("_dnsauth.xn--bcher-kva.example", ("bücher.example",)) == ("xn--bcher-kva.example", "_dnsauth")
    assert split("_dnsauth.中文。com", ("中文.com",)) == ("xn--fiq228c.com", "_dnsauth")


def test_a_name_no_zone_holds_is_zone_not_found_and_not_transient() -> None:
    with pytest.raises(ZoneNotFound) as info:
        split("_dnsauth.www.example.net", ZONES)
    assert not info.value.transient
    assert "_dnsauth.www.example.net" in info.value.message
    with pytest.raises(ZoneNotFound):
        split("_dnsauth.example.com", ())
    assert find_zone("_dnsauth.example.net", ZONES) is None


@pytest.mark.parametrize("name", ["", "   ", ".", "a..example.com", "bad name.example.com", "-x-.example.com",
                                  "xn--zz.example.com", "☃.example.com", "a" * 64 + ".example.com",
                                  ".".join(["a" * 60] * 5)])
def test_a_name_that_is_no_valid_dns_name_is_refused_as_a_record_to_create_by_hand(name: str) -> None:
    with pytest.raises(ZoneNotFound) as info:
        normalise(name)
    assert "create the record by hand" in info.value.message


def test_an_underscore_label_is_a_valid_record_name() -> None:
    assert normalise(" _acme-challenge.Example.com ") == "_acme-challenge.example.com"


def test_zones_that_are_no_valid_names_are_skipped_not_matched() -> None:
    assert canonical_zones(["Example.com.", "", "bad zone", "中文.com"]) == ["example.com", "xn--fiq228c.com"]
    assert split("_dnsauth.example.com", ["", "example.com"]) == ("example.com", "_dnsauth")
