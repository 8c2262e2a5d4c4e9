"""``https://…`` sink: a signed Standard Webhooks POST to a receiver the operator configured.

Delivery follows Standard Webhooks: the same ``webhook-id`` on every attempt (receivers drop
duplicates by it), a fresh ``webhook-timestamp`` and signature per attempt (receivers refuse stale
ones), 2xx is success and 3xx is failure. Redirects are never followed: the new target never passed
the address check. Retries stay small and bounded because the function has a timeout and the caller
decides about redelivery; a receiver that asks for a longer ``Retry-After`` gets a transient error
carrying that wait instead of a sleeping function.

Only the standard library is used (``http.client``) to keep cold starts short.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import http.client
import random
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote, urlsplit

from ..log import emit
from . import ssrf
from .base import Sink, check_message_id, encode_message
from .exceptions import SinkUnavailable, redirected, rejected, unavailable

#: Waits before attempts 2, 3, 4…; the last value repeats. Jitter takes up to 20 % off each wait so
#: that many instances retrying the same receiver do not arrive together.
BACKOFF_S: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0)
#: The longest ``Retry-After`` honoured inside one invocation.
RETRY_AFTER_CAP_S = 5.0
#: 408 Request Timeout, 409 Conflict, 425 Too Early and 429 Too Many Requests say "not now", not "no".
TRANSIENT_4XX = frozenset({408, 409, 425, 429})
#: The response body is read (so the connection ends cleanly) but never used; bound what is read.
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "casrelay-callback/1"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date); None if unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)


def _looks_secret(segment: str) -> bool:
    """Chat and automation webhooks put their token in the path (``/services/T0/B0/<token>``)."""
    has_digit = any(c.isdigit() for c in segment)
    has_alpha = any(c.isalpha() for c in segment)
    return len(segment) >= 32 or (len(segment) >= 16 and has_digit and has_alpha)


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]


def display_url(url: str) -> str:
    """A stable, secret-free name: ``scheme://host[:port]/path`` without user info or query.

    Token-like path segments become ``***<hash>``, and a query or user info adds ``?***<hash>``, so
    two URLs that differ only in a secret still get different names (the ledger tracks deliveries
    per name) while the name itself reveals nothing.
    """
    parts = urlsplit(url)
    host = ssrf.normalise_host(parts.hostname or "")
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    path = "/".join(f"***{_fingerprint(seg)}" if _looks_secret(seg) else seg for seg in parts.path.split("/"))
    hidden = "\n".join(v for v in (parts.query, parts.username or "", parts.password or "") if v)
    suffix = f"?***{_fingerprint(hidden)}" if hidden else ""
    return f"{parts.scheme.lower()}://{host}{port}{path}{suffix}"


class CallbackSink(Sink):
    """POSTs each message to one URL, signed with every secret in ``secrets`` (rotation)."""

    def __init__(self, url: str, secrets: str | Iterable[str], *, allow_hosts: Iterable[str] = (),
                 timeout_s: float = 5.0, max_attempts: int = 3, retry_after_cap_s: float = RETRY_AFTER_CAP_S,
                 backoff_s: tuple[float, ...] = BACKOFF_S, resolver: ssrf.Resolver = socket.getaddrinfo,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 tls_context: ssl.SSLContext | None = None) -> None:
        """Raise ``ValueError`` with a secret-free reason for a URL or secret that cannot work."""
        from standardwebhooks.webhooks import Webhook

        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise ValueError("is not a valid URL") from None
        self.scheme = parts.scheme.lower()
        if self.scheme not in ("https", "http"):
            raise ValueError("must start with https://")
        if not parts.hostname:
            raise ValueError("has no host")
        if parts.fragment:
            raise ValueError("must not have a #fragment")
        if not ssrf.valid_host(parts.hostname):
            raise ValueError("has a host that is neither an IP address nor a DNS name (write IDN names in punycode)")
        self.host = ssrf.normalise_host(parts.hostname)
        self.port = port or (443 if self.scheme == "https" else 80)
        self.allow_hosts = frozenset(ssrf.normalise_host(h) for h in allow_hosts)
        if self.scheme == "http" and self.host not in self.allow_hosts:
            raise ValueError("uses plain http, which is allowed only for hosts in CALLBACK_ALLOW_HOSTS")
        self.name = display_url(url)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._auth: dict[str, str] = {}
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self._auth["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")

        secret_list = [secrets] if isinstance(secrets, str) else list(secrets)
        if not secret_list:
            raise ValueError("needs CALLBACK_SECRET")
        try:
            self._hooks = [Webhook(s) for s in secret_list]
        except Exception:  # the package raises its own types for empty or undecodable secrets
            raise ValueError("has a CALLBACK_SECRET that is not a usable whsec_ secret") from None
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.retry_after_cap_s = retry_after_cap_s
        self._backoff = backoff_s or (0.0,)
        self._resolver = resolver
        self._sleep = sleep
        self._clock = clock
        self._tls = tls_context

    def push(self, message: Mapping[str, Any], message_id: str) -> None:
        check_message_id(self.name, message_id)
        text = encode_message(self.name, message)
        body = text.encode("utf-8")
        failure: SinkUnavailable | None = None
        for attempt in range(1, self.max_attempts + 1):
            if failure is not None:
                wait = failure.retry_after if failure.retry_after is not None else self._backoff_for(attempt - 1)
                emit("push.retry", sink=self.name, attempt=attempt, wait_s=round(wait, 3),
                     status=failure.status, reason=failure.message)
                self._sleep(wait)
            failure = self._attempt(text, body, message_id)
            if failure is None:
                return
        assert failure is not None
        raise unavailable(self.name, f"{failure.message}; gave up after {self.max_attempts} attempt(s)",
                          status=failure.status, retry_after=failure.retry_after)

    def _backoff_for(self, retry: int) -> float:
        base = self._backoff[min(retry, len(self._backoff)) - 1]
        return base * random.uniform(0.8, 1.0)

    def _attempt(self, text: str, body: bytes, message_id: str) -> SinkUnavailable | None:
        """One POST. Returns None on success, a retryable failure, or raises a final one."""
        # Resolved on every attempt, so a failover to another address is picked up; each answer is checked.
        try:
            target = ssrf.check_host(self.name, self.scheme, self.host, self.port, allow_hosts=self.allow_hosts,
                                     resolver=self._resolver)
        except SinkUnavailable as exc:  # DNS trouble; UnsafeDestination propagates (permanent)
            return exc
        conn = ssrf.open_connection(target, self.timeout_s, self._tls)
        try:
            conn.request("POST", self._path, body=body, headers=self._headers(text, message_id))
            response = conn.getresponse()
            response.read(MAX_RESPONSE_BYTES)
            status = response.status
            retry_after = parse_retry_after(response.getheader("Retry-After"), self._clock())
        except ssl.SSLCertVerificationError as exc:
            # Not retried now (it will not change in a second) but transient: the receiver can fix it.
            raise unavailable(self.name, f"the TLS certificate of {self.host!r} was refused ({exc.verify_message})"
                              ) from None
        except (OSError, http.client.HTTPException) as exc:
            return unavailable(self.name, f"the request failed ({_describe(exc)})")
        finally:
            conn.close()

        if 200 <= status < 300:
            return None
        if 300 <= status < 400:
            raise redirected(self.name, status)
        if status in TRANSIENT_4XX or status >= 500:
            if retry_after is not None and retry_after > self.retry_after_cap_s:
                raise unavailable(self.name, f"answered {status} and asked to retry after {retry_after:.0f} s, "
                                  f"longer than this invocation waits ({self.retry_after_cap_s:.0f} s)",
                                  status=status, retry_after=retry_after)
            return unavailable(self.name, f"answered {status}", status=status, retry_after=retry_after)
        if 400 <= status < 500:
            raise rejected(self.name, f"answered {status}; the receiver refused the message", status=status)
        return unavailable(self.name, f"answered with unexpected status {status}", status=status)

    def _headers(self, text: str, message_id: str) -> dict[str, str]:
        ts = int(self._clock())
        when = datetime.fromtimestamp(ts, tz=timezone.utc)
        signature = " ".join(hook.sign(message_id, when, text) for hook in self._hooks)
        return {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": message_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": signature,
            **self._auth,
        }


def _describe(exc: BaseException) -> str:
    """A short cause without the exception's free text (which may quote a URL or a response)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__
