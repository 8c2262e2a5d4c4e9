"""``mns://QUEUE`` sink: SendMessage to a Simple Message Queue (formerly MNS) queue via ``aliyun-mns-sdk``.

URL forms:

- ``mns://orders`` sends to queue ``orders`` at ``MNS_ENDPOINT``
  (``https://<account-id>.mns.<region>.aliyuncs.com``);
- ``mns://orders?endpoint=https%3A%2F%2F123.mns.cn-hangzhou.aliyuncs.com`` names the endpoint itself,
  URL-encoded (tests point it at ``devkit/mns_emulator.py``);
- ``&base64=0`` sends the JSON text as is. By default the body is base64-encoded, as the SDK does by
  default, so consumers that use the SDK's default decoding read the JSON back.

The message id goes into the user property ``message_id``: MNS has no deduplication, so consumers
drop duplicates by it. The SDK is imported on the first push, not at start-up (it costs ~0.1 s).

Error policy: network trouble, 5xx and throttling are retried a few times here. Every other error
MNS returns (``QueueNotExist``, ``AccessDenied``, ``InvalidAccessKeyId``, ``SignatureDoesNotMatch``…)
is a ``SinkMisconfigured``, which is *transient*: redelivering after the operator fixes the queue or
the RAM policy pushes the OrderId, while a permanent error would drop it for good.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from ..cas.credentials import Credentials
from ..log import emit
from .base import Sink, check_message_id, encode_message
from .callback import BACKOFF_S
from .exceptions import SinkError, invalid_message, misconfigured, unavailable

QUEUE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,255}")
MESSAGE_ID_PROPERTY = "message_id"
#: MNS codes that mean "not now": retried here, and transient if they persist.
RETRY_CODES = frozenset({"InternalError", "InternalServerError", "ServiceUnavailable", "QpsLimitExceeded",
                         "TimeExpired", "Throttling"})


class CredentialsLike(Protocol):
    """What MnsSink needs from credentials; ``casrelay.cas.credentials.Credentials`` fits."""

    @property
    def access_key_id(self) -> str: ...

    @property
    def access_key_secret(self) -> str: ...

    @property
    def security_token(self) -> str | None: ...


#: Called before every send, so STS credentials that FC refreshes per invocation are picked up.
CredentialsProvider = Callable[[], "CredentialsLike | None"]


#: Fixed credentials for an MNS sink: the same value type the CAS call uses.
StaticCredentials = Credentials


def env_credentials(env: Mapping[str, str] | None = None) -> CredentialsProvider:
    """The function's credentials from ``ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET/_SECURITY_TOKEN``, read per call."""

    def provide() -> CredentialsLike | None:
        source = os.environ if env is None else env
        ak = source.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "").strip()
        sk = source.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "").strip()
        token = source.get("ALIBABA_CLOUD_SECURITY_TOKEN", "").strip()
        return StaticCredentials(ak, sk, token or None) if ak and sk else None

    return provide


def parse_endpoint(endpoint: str) -> str:
    """``http(s)://host[:port]`` with nothing else, as the SDK expects; raise ValueError otherwise."""
    value = endpoint.strip().rstrip("/")
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        raise ValueError("is not a valid MNS endpoint URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s)://host[:port] MNS endpoint")
    if parts.path or parts.query or parts.fragment or parts.username is not None:
        raise ValueError("must be only http(s)://host[:port], e.g. https://123456.mns.cn-hangzhou.aliyuncs.com")
    return value


class _NoCredentials(Exception):
    pass


class _SdkCredentials:
    """Adapts a ``CredentialsProvider`` to the SDK's provider interface (``get_credentials``)."""

    def __init__(self, provider: CredentialsProvider) -> None:
        self._provider = provider

    def get_credentials(self) -> Any:
        from mns.auth import Credentials

        creds = self._provider()
        if creds is None or not creds.access_key_id or not creds.access_key_secret:
            raise _NoCredentials
        # The SDK sends a security-token header unless the token is exactly "" (None would crash it).
        return Credentials(creds.access_key_id, creds.access_key_secret, creds.security_token or "")


class MnsSink(Sink):
    def __init__(self, queue: str, endpoint: str, *, credentials: CredentialsProvider | None = None,
                 base64_body: bool = True, timeout_s: float = 5.0, max_attempts: int = 3,
                 backoff_s: tuple[float, ...] = BACKOFF_S, sleep: Callable[[float], None] = time.sleep) -> None:
        if not QUEUE_NAME.fullmatch(queue):
            raise ValueError("needs a queue name of letters, digits and '-', starting with a letter")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.queue = queue
        self.endpoint = parse_endpoint(endpoint)
        self.name = f"mns://{queue}"
        self.base64_body = base64_body
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self._backoff = backoff_s or (0.0,)
        self._sleep = sleep
        self._credentials = credentials or env_credentials()
        self._lock = threading.Lock()  # the SDK keeps one connection per client; it is not thread-safe
        self._sdk_queue: Any = None

    @classmethod
    def from_url(cls, url: str, *, default_endpoint: str | None = None, **kwargs: Any) -> MnsSink:
        parts = urlsplit(url)
        if parts.path not in ("", "/") or parts.fragment or parts.username is not None:
            raise ValueError("must be mns://QUEUE, optionally ?endpoint=<url-encoded endpoint>&base64=0")
        params = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(params) - {"endpoint", "base64"})
        if unknown:
            raise ValueError(f"has unknown parameter(s) {', '.join(unknown)}; known: endpoint, base64")
        endpoint = params.get("endpoint", [default_endpoint or ""])[-1]
        if not endpoint:
            raise ValueError("needs MNS_ENDPOINT or ?endpoint=")
        flag = params.get("base64", ["1"])[-1].lower()
        if flag not in ("1", "0", "true", "false"):
            raise ValueError("base64 must be 1 or 0")
        return cls(parts.netloc, endpoint, base64_body=flag in ("1", "true"), **kwargs)

    def push(self, message: Mapping[str, Any], message_id: str) -> None:
        check_message_id(self.name, message_id)
        text = encode_message(self.name, message)
        with self._lock:
            for attempt in range(1, self.max_attempts + 1):
                try:
                    self._send(text, message_id)
                    return
                except Exception as exc:  # every SDK failure is classified (or re-raised) below
                    error, retry = self._classify(exc)
                if not retry:
                    raise error
                if attempt == self.max_attempts:
                    raise unavailable(self.name, f"{error.message}; gave up after {attempt} attempt(s)",
                                      code=error.code)
                wait = self._backoff[min(attempt, len(self._backoff)) - 1]
                emit("push.retry", sink=self.name, attempt=attempt + 1, wait_s=wait, code=error.code)
                self._sleep(wait)

    def _send(self, text: str, message_id: str) -> None:
        from mns.message_property import MessagePropertyValue, PropertyType
        from mns.queue import Message

        msg = Message(text)
        msg.add_user_property(MESSAGE_ID_PROPERTY, MessagePropertyValue(PropertyType.STRING, message_id))
        self._queue().send_message(msg)

    def _queue(self) -> Any:
        if self._sdk_queue is None:
            from mns.account import Account

            account = Account(self.endpoint, credentials_provider=_SdkCredentials(self._credentials))
            client = account.get_client()
            if self.endpoint.startswith("https://"):
                # The SDK gives its HTTPS connection no timeout at all; a stalled peer would hang the function.
                client.http.conn.timeout = self.timeout_s
            else:
                client.set_connection_timeout(self.timeout_s)
            queue = account.get_queue(self.queue)
            queue.set_encoding(self.base64_body)
            self._sdk_queue = queue
        return self._sdk_queue

    def _classify(self, exc: Exception) -> tuple[SinkError, bool]:
        """The SinkError for an SDK failure, and whether to retry it within this push."""
        from mns.mns_exception import MNSClientNetworkException, MNSClientParameterException, MNSServerException

        if isinstance(exc, _NoCredentials):
            return misconfigured(self.name, "no Alibaba Cloud credentials for MNS: give the function a role, or "
                                 "set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"), False
        if isinstance(exc, MNSServerException):
            code = str(exc.type)
            request = f", RequestId {exc.request_id}" if getattr(exc, "request_id", None) else ""
            if code in RETRY_CODES:
                return unavailable(self.name, f"MNS answered {code}{request}", code=code), True
            return misconfigured(self.name, f"MNS refused the message with {code}{request}; check the queue, "
                                 "MNS_ENDPOINT and the role's RAM policy", code=code), False
        if isinstance(exc, MNSClientNetworkException):
            # The SDK's text can quote the response body; keep only its type.
            return unavailable(self.name, f"cannot reach MNS ({exc.type})", code=str(exc.type)), True
        if isinstance(exc, MNSClientParameterException):
            return invalid_message(self.name, f"the MNS SDK refused the message ({exc.type})"), False
        if isinstance(exc, OSError):
            return unavailable(self.name, f"cannot reach MNS ({type(exc).__name__})"), True
        raise exc
