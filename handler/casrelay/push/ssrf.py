"""The guard between a callback URL and the network: check every address, then connect only to those.

A function that runs with a RAM role must never be talked into calling 100.100.100.200 (the metadata
service hands out that role's credentials), its VPC or itself. Checking a host name is not enough:
a name can resolve to anything, and a second lookup at connect time can answer differently (DNS
rebinding). So the host is resolved once, every address is checked, and the connection goes to a
checked address while the Host header, TLS SNI and certificate check still use the name.

Python's ``ipaddress`` flags are not enough on their own: on CPython 3.11.7 ``100.100.100.200`` is
neither private nor global, ``::ffff:100.100.100.200`` *is* global, and several flags changed in
3.11.10/3.10.15. So embedded IPv4 addresses are unwrapped and judged as IPv4, 100.64.0.0/10 is
refused by name, and only addresses that pass every named test *and* ``is_global`` are allowed.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias
from urllib.parse import urlsplit

from .exceptions import unavailable, unsafe_destination

IPAddress: TypeAlias = "ipaddress.IPv4Address | ipaddress.IPv6Address"
#: ``socket.getaddrinfo``-compatible; injectable so tests can say "this name resolves to 127.0.0.1".
Resolver = Callable[..., Sequence[tuple[Any, ...]]]

_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598; holds the metadata service 100.100.100.200
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix: the last 32 bits are IPv4
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215 local-use prefix: never global
_ULA = ipaddress.IPv6Network("fc00::/7")
_HOST_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9_])?)*")
_NUMERIC_HOST = re.compile(r"[0-9][0-9a-fx.]*")


@dataclass(frozen=True)
class Target:
    """A host with the addresses it may be reached at; ``checked`` is False only for allowed hosts."""

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]
    checked: bool


def normalise_host(host: str) -> str:
    """Lower-case, without IPv6 brackets or a trailing dot, and IP literals in canonical form."""
    h = host.strip().lower()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    if h.endswith(".") and not h.endswith(".."):
        h = h[:-1]
    literal = literal_address(h)
    return str(literal) if literal is not None else h


def valid_host(host: str) -> bool:
    """An IP literal or an ASCII (punycode) DNS name; anything else can never be called."""
    name = normalise_host(host)
    return literal_address(name) is not None or (len(name) <= 253 and _HOST_NAME.fullmatch(name) is not None)


def literal_address(host: str) -> IPAddress | None:
    """The address a host string denotes by itself, in any form the C resolver accepts.

    ``inet_aton`` reads ``127.1``, ``0x7f000001``, ``2130706433`` and ``0177.0.0.1`` as 127.0.0.1, and
    so does ``getaddrinfo``; reading them the same way here means an injected resolver cannot hide them.
    """
    h = host.strip("[]")
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(h.lower()):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(h))
        except OSError:
            return None
    return None


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> tuple[str, list[ipaddress.IPv4Address], bool]:
    """IPv4 addresses carried inside an IPv6 one, how they are carried, and whether only they count.

    A mapped or NAT64 address is a way of writing the IPv4 address (the packets go to it), so it is
    judged as IPv4 alone; 6to4 and Teredo are real IPv6 addresses that also lead to an IPv4 host, so
    both are judged.
    """
    if addr.ipv4_mapped is not None:
        return "IPv4-mapped", [addr.ipv4_mapped], True
    if addr in _NAT64:
        return "NAT64", [ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)], True
    if addr.sixtofour is not None:
        return "6to4", [addr.sixtofour], False
    if addr.teredo is not None:
        return "Teredo", list(addr.teredo), False
    return "", [], False


def address_problem(addr: IPAddress) -> str | None:
    """Why ``addr`` must not be called, as a phrase ("a loopback address"), or None if it may be."""
    if isinstance(addr, ipaddress.IPv6Address):
        how, inner, only_inner = _embedded_ipv4(addr)
        for v4 in inner:
            problem = address_problem(v4)
            if problem:
                return f"the {how} form of {v4}, {problem}"
        if only_inner:
            return None
        if addr in _NAT64_LOCAL:
            return "a local-use NAT64 address"
    if addr.is_unspecified:
        return "an unspecified address"
    if addr.is_loopback:
        return "a loopback address"
    if addr.is_link_local:
        return "a link-local address (this range holds instance metadata services)"
    if isinstance(addr, ipaddress.IPv4Address) and addr in _SHARED:
        return "a shared address (100.64.0.0/10, the range of the metadata service 100.100.100.200)"
    if addr.is_multicast:
        return "a multicast address"
    if isinstance(addr, ipaddress.IPv6Address) and addr.is_site_local:
        return "a site-local address"
    if isinstance(addr, ipaddress.IPv6Address) and addr in _ULA:
        return "a unique local address (fc00::/7)"
    if addr.is_reserved:  # before is_private, which also covers 240.0.0.0/4 on some patch releases
        return "a reserved address"
    if addr.is_private:
        return "a private address"
    if not addr.is_global:
        return "not a global address"
    return None


def check_host(sink: str, scheme: str, host: str, port: int, *, allow_hosts: Collection[str] = (),
               resolver: Resolver = socket.getaddrinfo) -> Target:
    """Resolve ``host`` once and return the addresses to connect to, or raise.

    ``allow_hosts`` holds names already passed through ``normalise_host``. Raises
    ``UnsafeDestination`` (permanent) for a refused scheme or address, ``SinkUnavailable``
    (transient) when the name does not resolve right now.
    """
    written = host.strip().strip("[]").lower()
    name = normalise_host(host)
    allowed = name in allow_hosts
    if scheme not in ("https", "http"):
        raise unsafe_destination(sink, written, f"scheme {scheme!r} is not allowed; callbacks use https")
    if scheme == "http" and not allowed:
        raise unsafe_destination(sink, written, "plain http is allowed only for hosts in CALLBACK_ALLOW_HOSTS")
    literal = literal_address(name)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        if not _HOST_NAME.fullmatch(name) or len(name) > 253:
            raise unsafe_destination(sink, written, "it is not a valid host name")
        addresses = _resolve(sink, name, port, resolver)
    if not allowed:
        for addr in addresses:
            problem = address_problem(addr)
            if problem is None:
                continue
            if literal is None:
                where = f"it resolves to {addr}, "
            elif str(addr) != written:
                where = f"it is {addr}, "
            else:
                where = "it is "
            raise unsafe_destination(sink, written, where + problem)
    return Target(scheme, name, port, tuple(str(a) for a in addresses), checked=not allowed)


def check_url(url: str, *, allow_hosts: Collection[str] = (), resolver: Resolver = socket.getaddrinfo,
              sink: str | None = None) -> Target:
    """``check_host`` for a whole URL, e.g. a callback URL that arrives with an order."""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname or ""
    except ValueError:
        raise unsafe_destination(sink or "callback", "?", "the URL cannot be parsed") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise unsafe_destination(sink or "callback", host, f"scheme {scheme!r} is not allowed; callbacks use https")
    if not host:
        raise unsafe_destination(sink or "callback", "", "the URL has no host")
    default_port = 443 if scheme == "https" else 80
    return check_host(sink or f"{scheme}://{normalise_host(host)}", scheme, host, port or default_port,
                      allow_hosts=allow_hosts, resolver=resolver)


def _resolve(sink: str, name: str, port: int, resolver: Resolver) -> list[IPAddress]:
    try:
        infos = resolver(name, port, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise unavailable(sink, f"cannot resolve {name!r} ({reason})") from None
    found: dict[str, IPAddress] = {}
    for info in infos:
        raw = str(info[4][0])
        try:
            addr = ipaddress.ip_address(raw)
        except ValueError:
            raise unsafe_destination(sink, name, f"the resolver returned {raw[:60]!r}, not an IP address") from None
        found.setdefault(str(addr), addr)
    if not found:
        raise unavailable(sink, f"cannot resolve {name!r} (no addresses)")
    return list(found.values())


# --- connecting to the checked addresses -------------------------------------------------------


def _connect_any(addresses: Sequence[str], port: int, timeout: float | None) -> socket.socket:
    """Connect to the first checked address that answers; AI_NUMERICHOST forbids any new lookup."""
    last: OSError = OSError("no address to connect to")
    for address in addresses:
        for family, socktype, proto, _, sockaddr in socket.getaddrinfo(
                address, port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST):
            sock = socket.socket(family, socktype, proto)
            try:
                sock.settimeout(timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                last = exc
    raise last


class PinnedHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP to a checked address; only allowed hosts (local use) get here."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._addresses = target.addresses

    def connect(self) -> None:
        self.sock = _connect_any(self._addresses, self.port, self.timeout)


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address, with SNI and certificate verification for the host name."""

    def __init__(self, target: Target, timeout: float, context: ssl.SSLContext | None = None) -> None:
        self._tls = context or ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self._tls)
        self._addresses = target.addresses

    def connect(self) -> None:
        sock = _connect_any(self._addresses, self.port, self.timeout)
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def open_connection(target: Target, timeout: float,
                    context: ssl.SSLContext | None = None) -> http.client.HTTPConnection:
    if target.scheme == "https":
        return PinnedHTTPSConnection(target, timeout, context)
    return PinnedHTTPConnection(target, timeout)
