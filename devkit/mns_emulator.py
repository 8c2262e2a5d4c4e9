"""A loopback double of Simple Message Queue (formerly MNS): SendMessage and ReceiveMessage.

Tests point the real ``aliyun-mns-sdk`` at it (``Account("http://127.0.0.1:PORT", ...)``), so the SDK's
XML encoding, base64 bodies, headers and signature are exercised for real. The emulator checks what
the service checks, as far as the public documentation describes it:

- ``Authorization: MNS <AccessKeyId>:<Signature>``, where Signature is base64(HMAC-SHA1(secret,
  VERB\\nContent-MD5\\nContent-Type\\nDate\\nCanonicalizedMNSHeaders + CanonicalizedResource)); the
  ``x-mns-*`` headers are lower-cased, sorted and written ``name:value\\n``; the resource is the
  request path with its query. Bad keys answer ``InvalidAccessKeyId``, bad signatures
  ``SignatureDoesNotMatch`` (both 403), in MNS's XML error format.
- STS keys must come with their ``security-token`` header (sent, unsigned, by the SDK).
- ``Content-MD5``, when sent, must be what the SDK sends: base64 of the *hex* MD5 digest (not of the
  raw digest, as RFC 1864 would have it). A mismatch answers MNS's documented ``InvalidDegist`` [sic].
- ``Date`` more than 15 minutes off answers ``TimeExpired`` (408) — the window is a documented guess.

Message bodies are stored exactly as sent. The SDK base64-encodes bodies unless
``queue.set_encoding(False)``, so ``messages(queue)`` decodes base64 by default; pass ``base64=False``
for raw bodies. ReceiveMessage hands out each message once (no visibility timeout, no delete).

Faults (``fail_next``, ``drop_next``, latency) are queued because the service cannot be made to fail
on demand; ``fail_matching`` and ``set_down`` aim them at the messages that contain a given text (a
domain, say), so that a run can keep the queue down for some orders while the others go through.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import email.utils
import hashlib
import hmac
import socket
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from devkit.cas_emulator import (
    DEMO_ACCESS_KEY_ID,
    DEMO_ACCESS_KEY_SECRET,
    DEMO_SECURITY_TOKEN,
    DEMO_STS_ACCESS_KEY_ID,
    DEMO_STS_ACCESS_KEY_SECRET,
)
from devkit.loopback import BodyError, DispatchingHandler, LoopbackServer, read_body, stop_on_sigterm

XMLNS = "http://mns.aliyuncs.com/doc/v1/"
HOST_ID = "mns.emulator.local"
MAX_CLOCK_SKEW_S = 15 * 60
DEFAULT_QUEUES = ("orders",)
#: A message body is at most 64 KiB; its XML envelope and base64 make the request larger.
MAX_BODY_BYTES = 1 << 20

__all__ = [
    "DEMO_ACCESS_KEY_ID",
    "DEMO_ACCESS_KEY_SECRET",
    "DEMO_SECURITY_TOKEN",
    "DEMO_STS_ACCESS_KEY_ID",
    "DEMO_STS_ACCESS_KEY_SECRET",
    "MnsEmulator",
    "StoredMessage",
]


@dataclass(frozen=True)
class StoredMessage:
    message_id: str
    body: str  # exactly as sent (base64 text when the SDK encoded it)
    body_md5: str
    user_properties: dict[str, str]
    priority: int
    enqueue_time_ms: int
    access_key_id: str


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    status: int
    code: str | None
    access_key_id: str | None


class MnsError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class _Fault:
    status: int
    code: str
    #: Only messages whose body contains this text take the fault; None: any request.
    match: str | None = None


@dataclass
class _Queue:
    messages: list[StoredMessage] = field(default_factory=list)
    pending: deque[StoredMessage] = field(default_factory=deque)


class _Handler(DispatchingHandler):
    protocol_version = "HTTP/1.1"  # the SDK keeps its connection alive
    server_version = "MnsEmulator/1.0"
    timeout = 30
    tcp_nodelay = True

    @property
    def emulator(self) -> MnsEmulator:
        return cast(MnsEmulator, self.loopback)

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError, TimeoutError):
            super().handle()



class MnsEmulator(LoopbackServer):
    """In-process MNS endpoint; ``endpoint`` goes to ``mns.account.Account`` or ``mns://Q?endpoint=``."""

    name = "mns-emulator"
    handler_class = _Handler
    not_running_message = "the emulator is not running"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, queues: Iterable[str] = DEFAULT_QUEUES,
                 access_keys: Mapping[str, str] | None = None,
                 sts_keys: Mapping[str, tuple[str, str]] | None = None,
                 clock: Callable[[], float] = time.time, verbose: bool = False) -> None:
        """``access_keys`` maps id -> secret, ``sts_keys`` id -> (secret, security token); both default
        to the CAS emulator's demo keys, so one set of demo credentials works for both emulators."""
        super().__init__(host=host, port=port, verbose=verbose)
        self._clock = clock
        self._keys = {DEMO_ACCESS_KEY_ID: DEMO_ACCESS_KEY_SECRET} if access_keys is None else dict(access_keys)
        self._sts = ({DEMO_STS_ACCESS_KEY_ID: (DEMO_STS_ACCESS_KEY_SECRET, DEMO_SECURITY_TOKEN)}
                     if sts_keys is None else dict(sts_keys))
        self._lock = threading.Lock()
        self._queues: dict[str, _Queue] = {name: _Queue() for name in queues}
        self._faults: deque[_Fault] = deque()
        self._down: dict[str, tuple[int, str]] = {}  # body substring -> (status, code), until cleared
        self._drops = 0
        self._latency_s = 0.0
        self._records: list[RequestRecord] = []

    # ------------------------------------------------------------------ lifecycle (start/stop/port: LoopbackServer)

    @property
    def endpoint(self) -> str:
        return f"http://{self._host}:{self.port}"

    # ------------------------------------------------------------------ state and faults

    def create_queue(self, name: str) -> None:
        with self._lock:
            self._queues.setdefault(name, _Queue())

    def delete_queue(self, name: str) -> None:
        with self._lock:
            self._queues.pop(name, None)

    def sent(self, queue: str) -> list[StoredMessage]:
        """Every message SendMessage accepted for ``queue``, in order (ReceiveMessage does not remove them)."""
        with self._lock:
            q = self._queues.get(queue)
            return list(q.messages) if q else []

    def messages(self, queue: str, *, base64: bool = True) -> list[str]:
        """The bodies of ``sent(queue)``; base64-decoded by default, as the SDK encodes them by default."""
        bodies = [m.body for m in self.sent(queue)]
        if not base64:
            return bodies
        return [_b64decode(b).decode("utf-8") for b in bodies]

    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def fail_next(self, count: int = 1, status: int = 503, code: str = "ServiceUnavailable") -> None:
        """Answer the next ``count`` well-signed requests with an MNS error."""
        with self._lock:
            self._faults.extend(_Fault(status, code) for _ in range(count))

    def fail_matching(self, substring: str, count: int = 1, status: int = 503,
                      code: str = "ServiceUnavailable") -> None:
        """Answer the next ``count`` well-signed requests whose message contains ``substring`` with an MNS
        error. The message body is matched as sent and, when it is base64 (the SDK's default), decoded."""
        if not substring:
            raise ValueError("substring must not be empty")
        with self._lock:
            self._faults.extend(_Fault(status, code, substring) for _ in range(count))

    def set_down(self, substring: str, status: int = 503, code: str = "ServiceUnavailable") -> None:
        """Answer every well-signed request whose message contains ``substring`` with an MNS error, until
        ``clear_down``: the queue is down for those messages and up for every other one."""
        if not substring:
            raise ValueError("substring must not be empty")
        with self._lock:
            self._down[substring] = (status, code)

    def clear_down(self, substring: str | None = None) -> None:
        with self._lock:
            if substring is None:
                self._down.clear()
            else:
                self._down.pop(substring, None)

    def clear_faults(self, substring: str | None = None) -> None:
        """Drop queued faults: all of them (drops and down modes too), or those aimed at ``substring``."""
        with self._lock:
            if substring is None:
                self._faults.clear()
                self._down.clear()
                self._drops = 0
            else:
                self._faults = deque(f for f in self._faults if f.match != substring)

    def drop_next(self, count: int = 1) -> None:
        """Close the connection of the next ``count`` requests without answering."""
        with self._lock:
            self._drops += count

    def set_latency(self, seconds: float) -> None:
        with self._lock:
            self._latency_s = seconds

    # ------------------------------------------------------------------ serving

    def _serve(self, handler: _Handler) -> None:
        request_id = uuid.uuid4().hex.upper()[:24]
        try:
            body = read_body(handler, MAX_BODY_BYTES)
        except BodyError as err:  # cannot be framed: answered, and the connection closed (no record)
            handler.close_connection = True
            self._reply(handler, err.status, _error_xml("InvalidRequest", err.message, request_id), request_id)
            return
        access_key_id: str | None = None
        with self._lock:
            latency = self._latency_s
        if latency and self._stopping.wait(latency):
            return
        try:
            access_key_id = self._authenticate(handler, body)
            with self._lock:
                drop = self._drops > 0
                self._drops -= 1 if drop else 0
            fault = None if drop else self._take_fault(body)
            if drop:
                # Recorded before the cut: the client resends at once, and its resend must come second.
                self._record(handler, 0, "Dropped", access_key_id)
                handler.close_connection = True
                with contextlib.suppress(OSError):
                    handler.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault is not None:
                raise MnsError(fault.status, fault.code, "injected fault")
            status, xml = self._route(handler, body, access_key_id)
        except MnsError as exc:
            self._record(handler, exc.status, exc.code, access_key_id)
            self._reply(handler, exc.status, _error_xml(exc.code, exc.message, request_id), request_id)
            return
        self._record(handler, status, None, access_key_id)
        self._reply(handler, status, xml, request_id)

    def _take_fault(self, body: bytes) -> _Fault | None:
        """Down for this message first, then the first queued fault that matches it."""
        with self._lock:
            if not self._down and all(f.match is None for f in self._faults):
                return self._faults.popleft() if self._faults else None
        text = _searchable(body)
        with self._lock:
            for substring, (status, code) in self._down.items():
                if substring in text:
                    return _Fault(status, code, substring)
            for fault in self._faults:
                if fault.match is None or fault.match in text:
                    self._faults.remove(fault)
                    return fault
        return None

    def _record(self, handler: _Handler, status: int, code: str | None, access_key_id: str | None) -> None:
        with self._lock:
            self._records.append(RequestRecord(handler.command, handler.path, status, code, access_key_id))

    @staticmethod
    def _reply(handler: _Handler, status: int, xml: str, request_id: str) -> None:
        data = xml.encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", "text/xml;charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("x-mns-request-id", request_id)
        handler.send_header("x-mns-version", "2015-06-06")
        handler.end_headers()
        handler.wfile.write(data)

    def _authenticate(self, handler: _Handler, body: bytes) -> str:
        headers = handler.headers
        auth = headers.get("Authorization")
        if not auth:
            raise MnsError(400, "MissingAuthorizationHeader", "Authorization header is required.")
        scheme, _, credential = auth.partition(" ")
        key_id, sep, signature = credential.rpartition(":")
        if scheme != "MNS" or not sep or not key_id or not signature:
            raise MnsError(400, "InvalidAuthorizationHeader", "The Authorization header format is invalid.")
        date = headers.get("Date")
        if not date:
            raise MnsError(400, "MissingDateHeader", "Date header is required.")
        try:
            sent_at = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError):
            raise MnsError(400, "InvalidDateHeader", "The Date header format is invalid.") from None
        if abs(self._clock() - sent_at) > MAX_CLOCK_SKEW_S:
            raise MnsError(408, "TimeExpired", "The Http request you sent is expired.")

        token = headers.get("security-token")
        if key_id in self._keys:
            secret = self._keys[key_id]
            if token:
                raise MnsError(403, "AccessDenied", "A security token was sent with a long-term AccessKey.")
        elif key_id in self._sts:
            secret, expected_token = self._sts[key_id]
            if not token or not hmac.compare_digest(token, expected_token):
                raise MnsError(403, "AccessDenied", "The security token is missing or invalid.")
        else:
            raise MnsError(403, "InvalidAccessKeyId", "The AccessKey Id you provided is not exist.")

        content_md5 = headers.get("Content-MD5") or ""
        if content_md5 and body:
            expected_md5 = base64.b64encode(hashlib.md5(body).hexdigest().encode()).decode()  # noqa: S324 - MNS's digest
            if not hmac.compare_digest(content_md5, expected_md5):
                raise MnsError(400, "InvalidDegist", "The Content-MD5 you specified is invalid.")

        mns_headers = sorted((k.lower(), v) for k, v in headers.items() if k.lower().startswith("x-mns-"))
        canonical_headers = "".join(f"{k}:{v}\n" for k, v in mns_headers)
        string_to_sign = "\n".join([handler.command, content_md5, headers.get("Content-Type") or "", date,
                                    canonical_headers + handler.path])
        digest = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
        if not hmac.compare_digest(signature, base64.b64encode(digest).decode()):
            raise MnsError(403, "SignatureDoesNotMatch",
                           "The request signature we calculated does not match the signature you provided.")
        return key_id

    def _route(self, handler: _Handler, body: bytes, access_key_id: str) -> tuple[int, str]:
        parts = urlsplit(handler.path)
        segments = parts.path.strip("/").split("/")
        if len(segments) != 3 or segments[0] != "queues" or segments[2] != "messages":
            raise MnsError(400, "InvalidRequestURL", "Http request URL format invalid.")
        name = segments[1]
        with self._lock:
            queue = self._queues.get(name)
        if queue is None:
            raise MnsError(404, "QueueNotExist", "The queue name you provided is not exist.")
        if handler.command == "POST":
            return 201, self._send(queue, body, access_key_id)
        if handler.command == "GET":
            return 200, self._receive(queue)
        raise MnsError(405, "InvalidRequestURL", "Only SendMessage and ReceiveMessage are emulated.")

    def _send(self, queue: _Queue, body: bytes, access_key_id: str) -> str:
        try:
            root = ET.fromstring(body)  # noqa: S314 - loopback test clients only
        except ET.ParseError:
            raise MnsError(400, "MalformedXML", "The XML you provided was not well-formed.") from None
        if root.tag != f"{{{XMLNS}}}Message":
            raise MnsError(400, "InvalidArgument", "The XML you provided did not validate against our schema.")
        text = root.findtext(f"{{{XMLNS}}}MessageBody")
        if not text:
            raise MnsError(400, "InvalidArgument", "MessageBody is required.")
        try:
            priority = int(root.findtext(f"{{{XMLNS}}}Priority") or 8)
        except ValueError:
            raise MnsError(400, "InvalidArgument", "Priority must be a number.") from None
        props: dict[str, str] = {}
        for pv in root.iterfind(f"{{{XMLNS}}}UserProperties/{{{XMLNS}}}PropertyValue"):
            prop_name = pv.findtext(f"{{{XMLNS}}}Name") or ""
            props[prop_name] = pv.findtext(f"{{{XMLNS}}}Value") or ""
        stored = StoredMessage(
            message_id=uuid.uuid4().hex.upper(),
            body=text,
            body_md5=hashlib.md5(text.encode("utf-8")).hexdigest().upper(),  # noqa: S324 - MNS's digest
            user_properties=props,
            priority=priority,
            enqueue_time_ms=int(self._clock() * 1000),
            access_key_id=access_key_id,
        )
        with self._lock:
            queue.messages.append(stored)
            queue.pending.append(stored)
        return (f'<?xml version="1.0" encoding="UTF-8"?><Message xmlns="{XMLNS}">'
                f"<MessageId>{stored.message_id}</MessageId><MessageBodyMD5>{stored.body_md5}</MessageBodyMD5>"
                "</Message>")

    def _receive(self, queue: _Queue) -> str:
        with self._lock:
            stored = queue.pending.popleft() if queue.pending else None
        if stored is None:
            raise MnsError(404, "MessageNotExist", "Message not exist.")
        now_ms = int(self._clock() * 1000)
        props = "".join(f"<PropertyValue><Name>{escape(k)}</Name><Value>{escape(v)}</Value><Type>STRING</Type>"
                        "</PropertyValue>" for k, v in stored.user_properties.items())
        return (f'<?xml version="1.0" encoding="UTF-8"?><Message xmlns="{XMLNS}">'
                f"<MessageId>{stored.message_id}</MessageId><ReceiptHandle>{uuid.uuid4().hex}</ReceiptHandle>"
                f"<MessageBodyMD5>{stored.body_md5}</MessageBodyMD5><MessageBody>{escape(stored.body)}</MessageBody>"
                f"<EnqueueTime>{stored.enqueue_time_ms}</EnqueueTime>"
                f"<NextVisibleTime>{now_ms + 30000}</NextVisibleTime>"
                f"<FirstDequeueTime>{now_ms}</FirstDequeueTime><DequeueCount>1</DequeueCount>"
                f"<Priority>{stored.priority}</Priority>"
                + (f"<UserProperties>{props}</UserProperties>" if props else "") + "</Message>")


def _error_xml(code: str, message: str, request_id: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?><Error xmlns="{XMLNS}"><Code>{escape(code)}</Code>'
            f"<Message>{escape(message)}</Message><RequestId>{request_id}</RequestId><HostId>{HOST_ID}</HostId>"
            "</Error>")


def _searchable(body: bytes) -> str:
    """The request body as text, followed by its MessageBody decoded from base64 when it is base64."""
    raw = body.decode("utf-8", "replace")
    try:
        message = ET.fromstring(body).findtext(f"{{{XMLNS}}}MessageBody") or ""  # noqa: S314 - loopback clients
    except ET.ParseError:
        return raw
    try:
        decoded = base64.b64decode(message, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        decoded = ""
    return f"{raw}\n{message}\n{decoded}"


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a stored body is not base64; read it with messages(queue, base64=False)") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A loopback Simple Message Queue (MNS) emulator.")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--queue", action="append", default=None, help="queue to create (repeatable)")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    emulator = MnsEmulator(port=args.port, queues=args.queue or DEFAULT_QUEUES, verbose=True).start()
    print(f"MNS emulator on {emulator.endpoint}, queues: {', '.join(args.queue or DEFAULT_QUEUES)}")
    print(f"  demo AccessKey: id={DEMO_ACCESS_KEY_ID} secret={DEMO_ACCESS_KEY_SECRET}", flush=True)
    emulator.serve_until_interrupted()
    return 0


if __name__ == "__main__":
    sys.exit(main())
