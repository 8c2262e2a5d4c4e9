"""Push failures as values: one class per failure mode, every message built in this module.

The downstream push runs after CAS has taken the money, so the one question the caller must answer is
"will trying again later deliver this OrderId?". ``SinkError.transient`` answers it; the class says
why. Messages name the sink by its secret-free ``name`` and never include exception text that could
carry a URL with credentials, a response body or a stack trace.

``SinkConfigError`` is not a ``SinkError``: it is raised while sinks are built, before any order, and
subclasses ``casrelay.config.ConfigError`` (a ``ValueError``) so the existing "503, the message names
the variable" path handles it.
"""

from __future__ import annotations

from ..config import ConfigError


class SinkConfigError(ConfigError):
    """``ORDER_SINKS`` or a sink variable cannot be used; the message names the variable and the entry."""


class SinkError(Exception):
    """Base of every push failure.

    ``transient`` is True when redelivery may succeed without anyone changing this message.
    ``status`` is the downstream HTTP status when there was one, ``code`` the downstream's own error
    code (MNS/SQS) when there was one, ``retry_after`` the wait in seconds the downstream asked for.
    """

    default_transient = False

    def __init__(self, sink: str, message: str, *, transient: bool | None = None, status: int | None = None,
                 code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(f"{sink}: {message}")
        self.sink = sink
        self.message = message
        self.transient = self.default_transient if transient is None else transient
        self.status = status
        self.code = code
        self.retry_after = retry_after


class SinkUnavailable(SinkError):
    """The downstream could not take the message now: network, timeout, DNS, throttling, 5xx."""

    default_transient = True


class SinkMisconfigured(SinkError):
    """Credentials, permissions or the queue are wrong. Transient on purpose: once the operator fixes
    the setup, a redelivery pushes the OrderId, while giving up would lose it."""

    default_transient = True


class SinkRejected(SinkError):
    """The receiver looked at this message and refused it (a 4xx, a message SQS will never accept)."""


class SinkRedirected(SinkError):
    """A callback answered 3xx. Redirects are never followed: the new target was not checked, and the
    signed request must reach the configured receiver or nobody."""


class UnsafeDestination(SinkError):
    """The callback URL points at an address a function must never call (metadata, private, loopback)."""


class InvalidMessage(SinkError):
    """The message or its id cannot be sent anywhere; a bug in the caller, so retrying cannot help."""


# --- constructors ------------------------------------------------------------------------------


def config_error(message: str) -> SinkConfigError:
    return SinkConfigError(message)


def bad_sink_entry(index: int, shown: str, reason: str) -> SinkConfigError:
    return SinkConfigError(f"ORDER_SINKS entry {index} ({shown!r}) {reason}")


def unavailable(sink: str, message: str, *, status: int | None = None, code: str | None = None,
                retry_after: float | None = None) -> SinkUnavailable:
    return SinkUnavailable(sink, message, status=status, code=code, retry_after=retry_after)


def misconfigured(sink: str, message: str, *, status: int | None = None, code: str | None = None) -> SinkMisconfigured:
    return SinkMisconfigured(sink, message, status=status, code=code)


def rejected(sink: str, message: str, *, status: int | None = None, code: str | None = None,
             transient: bool = False) -> SinkRejected:
    return SinkRejected(sink, message, status=status, code=code, transient=transient)


def redirected(sink: str, status: int) -> SinkRedirected:
    return SinkRedirected(
        sink, f"answered {status} (a redirect); redirects are not followed, so put the final URL in ORDER_SINKS",
        status=status)


def unsafe_destination(sink: str, host: str, reason: str) -> UnsafeDestination:
    return UnsafeDestination(sink, f"refused to call {host!r}: {reason}")


def invalid_message(sink: str, reason: str) -> InvalidMessage:
    return InvalidMessage(sink, reason)
