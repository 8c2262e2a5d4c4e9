"""The callback SSRF guard: every address checked, literal IPs in every spelling, no DNS for literals.

Literal hosts are checked with a resolver that fails the test if called, which proves ``127.1`` or
``0x7f000001`` are read as addresses by casrelay itself and cannot slip past an injected resolver.
Names are resolved by an injected table, never by real DNS; nothing here connects anywhere except
the end-to-end cases, which use the loopback receiver.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

from casrelay.push import CallbackSink, SinkConfigError, SinkUnavailable, UnsafeDestination, build_sinks
from casrelay.push.ssrf import address_problem, check_url, literal_address
from devkit.callback_receiver import CallbackReceiver
from tests.sink_fixtures import CALLBACK_SECRET, FakeResolver, Sleeps, no_dns

REFUSED_LITERALS = [
    ("https://100.100.100.200/latest/meta-data/", "100.100.100.200", "shared address"),
    ("https://[::ffff:100.100.100.200]/", "100.100.100.200", "IPv4-mapped"),
    ("https://127.1/", "127.0.0.1", "loopback"),
    ("https://0x7f000001/", "127.0.0.1", "loopback"),
    ("https://2130706433/", "127.0.0.1", "loopback"),
    ("https://0177.0.0.1/", "127.0.0.1", "loopback"),
    ("https://169.254.169.254/latest/meta-data", "169.254.169.254", "link-local"),
    ("https://10.0.0.1/", "10.0.0.1", "private"),
    ("https://192.168.1.1/", "192.168.1.1", "private"),
    ("https://172.16.0.1/", "172.16.0.1", "private"),
    ("https://[::1]/", "::1", "loopback"),
    ("https://[fe80::1]/", "fe80::1", "link-local"),
    ("https://[fc00::1]/", "fc00::1", "unique local"),
    ("https://[fd00:ec2::254]/", "fd00:ec2::254", "unique local"),
    ("https://0.0.0.0/", "0.0.0.0", "unspecified"),
    ("https://[::]/", "::", "unspecified"),
    ("https://224.0.0.1/", "224.0.0.1", "multicast"),
    ("https://[ff02::1]/", "ff02::1", "multicast"),
    ("https://100.64.0.1/", "100.64.0.1", "shared address"),
    ("https://240.0.0.1/", "240.0.0.1", "reserved"),
    ("https://[fec0::1]/", "fec0::1", "site-local"),
    ("https://[64:ff9b::7f00:1]/", "127.0.0.1", "NAT64"),
    ("https://[64:ff9b::6464:64c8]/", "100.100.100.200", "NAT64"),
    ("https://[2002:a00:1::]/", "10.0.0.1", "6to4"),
    ("https://[::ffff:169.254.169.254]:8443/", "169.254.169.254", "link-local"),
]


@pytest.mark.parametrize(("url", "address", "reason"), REFUSED_LITERALS)
def test_literal_addresses_are_refused_without_dns(url: str, address: str, reason: str) -> None:
    with pytest.raises(UnsafeDestination) as info:
        check_url(url, resolver=no_dns)
    err = info.value
    assert not err.transient
    assert address in str(err) and reason in str(err)
    assert "refused to call" in str(err)


def test_the_ipaddress_pitfall_is_covered() -> None:
    # CPython 3.11.7: ipaddress calls the mapped metadata address global; the guard must not.
    mapped = ipaddress.ip_address("::ffff:100.100.100.200")
    assert address_problem(mapped) is not None
    assert address_problem(ipaddress.ip_address("100.100.100.200")) is not None


@pytest.mark.parametrize(("spelling", "canonical"), [
    ("127.1", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"),
    ("[::ffff:100.100.100.200]", "::ffff:6464:64c8"), ("8.8.8.8", "8.8.8.8"),
])
def test_literal_spellings_are_read_like_the_c_resolver(spelling: str, canonical: str) -> None:
    assert str(literal_address(spelling)) == canonical


@pytest.mark.parametrize("name", ["hooks.example.com", "1.2.3.4.nip.io", "deadbeef.example", "0xdead.example"])
def test_names_are_not_mistaken_for_literals(name: str) -> None:
    assert literal_address(name) is None


def test_a_name_resolving_to_loopback_is_refused() -> None:
    resolver = FakeResolver({"evil.example.com": ["127.0.0.1"]})
    with pytest.raises(UnsafeDestination) as info:
        check_url("https://evil.example.com/hook", resolver=resolver)
    assert "'evil.example.com'" in str(info.value)
    assert "resolves to 127.0.0.1, a loopback address" in str(info.value)


@pytest.mark.parametrize("bad", ["10.1.2.3", "::ffff:100.100.100.200", "169.254.169.254", "fd00::1"])
def test_one_bad_address_among_good_ones_is_enough_to_refuse(bad: str) -> None:
    resolver = FakeResolver({"mixed.example.com": ["93.184.216.34", bad, "2606:2800:220:1::1"]})
    with pytest.raises(UnsafeDestination):
        check_url("https://mixed.example.com/", resolver=resolver)


def test_a_public_name_is_allowed_and_pinned_to_the_checked_addresses() -> None:
    resolver = FakeResolver({"hooks.example.com": ["93.184.216.34", "2606:2800:220:1::1", "93.184.216.34"]})
    target = check_url("https://Hooks.Example.COM./cas", resolver=resolver)
    assert target.host == "hooks.example.com"
    assert target.port == 443
    assert target.addresses == ("93.184.216.34", "2606:2800:220:1::1")
    assert target.checked
    assert resolver.calls == ["hooks.example.com"]


@pytest.mark.parametrize("url", ["https://8.8.8.8/", "https://[2001:4860:4860::8888]/", "https://[::ffff:8.8.8.8]/"])
def test_public_literals_are_allowed(url: str) -> None:
    assert check_url(url, resolver=no_dns).checked


def test_plain_http_needs_an_allowed_host() -> None:
    resolver = FakeResolver({"hooks.example.com": ["93.184.216.34"]})
    with pytest.raises(UnsafeDestination) as info:
        check_url("http://hooks.example.com/", resolver=resolver)
    assert "CALLBACK_ALLOW_HOSTS" in str(info.value)
    with pytest.raises(SinkConfigError, match="CALLBACK_ALLOW_HOSTS"):
        build_sinks("http://hooks.example.com/", {"CALLBACK_SECRET": CALLBACK_SECRET})


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/", "gopher://127.0.0.1/", "file:///etc/passwd"])
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(UnsafeDestination, match="not allowed"):
        check_url(url, resolver=no_dns)


def test_allowed_hosts_skip_the_address_check() -> None:
    target = check_url("http://127.0.0.1:8080/", allow_hosts={"127.0.0.1"}, resolver=no_dns)
    assert target.addresses == ("127.0.0.1",) and not target.checked
    resolver = FakeResolver({"localhost": ["127.0.0.1", "::1"]})
    target = check_url("http://localhost:8080/", allow_hosts={"localhost"}, resolver=resolver)
    assert target.addresses == ("127.0.0.1", "::1")


def test_a_dns_failure_is_transient() -> None:
    with pytest.raises(SinkUnavailable) as info:
        check_url("https://nxdomain.example.com/", resolver=FakeResolver({}))
    assert info.value.transient and "cannot resolve" in str(info.value)


def test_a_resolver_answer_that_is_not_an_address_is_refused() -> None:
    def garbage(host: str, port: int, *args: object) -> list[tuple[object, ...]]:
        return [(2, 1, 6, "", ("not-an-ip", port))]

    with pytest.raises(UnsafeDestination, match="not an IP address"):
        check_url("https://hooks.example.com/", resolver=garbage)


# --- end to end: the sink refuses before connecting -----------------------------------------------


# Every test here may only connect to loopback (the loopback_only fixture is in conftest.py).
pytestmark = pytest.mark.usefixtures("loopback_only")


def test_the_sink_refuses_a_name_that_resolves_to_where_a_server_listens(receiver: CallbackReceiver) -> None:
    # A receiver really listens on 127.0.0.1; the name resolves there; nothing must reach it.
    resolver = FakeResolver({"evil.example.com": ["127.0.0.1"]})
    sleeps = Sleeps()
    sink = CallbackSink(receiver.url(host="evil.example.com").replace("http://", "https://"), CALLBACK_SECRET,
                        resolver=resolver, sleep=sleeps)
    with pytest.raises(UnsafeDestination) as info:
        sink.push({"OrderId": 1}, "order_1_created")
    assert not info.value.transient
    assert receiver.attempts() == []
    assert sleeps.waits == []  # refusal is final, not retried


def test_a_rebinding_answer_on_a_retry_is_checked_again(receiver: CallbackReceiver) -> None:
    # The first lookup fails (a retryable DNS error, so nothing is connected to); the retry's answer
    # points at loopback and must be checked again rather than trusted from an earlier attempt.
    calls: list[str] = []

    def rebinding(host: str, port: int, *args: object) -> list[tuple[object, ...]]:
        calls.append(host)
        if len(calls) == 1:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    sleeps = Sleeps()
    sink = CallbackSink("https://rebind.example.com/hook", CALLBACK_SECRET, resolver=rebinding, sleep=sleeps,
                        max_attempts=3)
    with pytest.raises(UnsafeDestination, match=r"127\.0\.0\.1"):
        sink.push({"OrderId": 1}, "order_1_created")
    assert len(calls) == 2 and len(sleeps.waits) == 1


def test_an_allowed_name_is_reached_at_the_resolved_address(receiver: CallbackReceiver) -> None:
    # hooks.test exists only in the injected resolver, so delivery proves the pinned connection.
    resolver = FakeResolver({"hooks.test": ["127.0.0.1"]})
    sink = CallbackSink(receiver.url(host="hooks.test"), CALLBACK_SECRET, allow_hosts=["hooks.test"],
                        resolver=resolver)
    sink.push({"OrderId": 1}, "order_1_created")
    [got] = receiver.deliveries()
    assert got.host == f"hooks.test:{receiver.port}"
