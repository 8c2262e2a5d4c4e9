"""Run the function locally the way FC3 would, without Docker.

``LocalFcServer`` does what ``s local start`` does for an HTTP trigger: it turns each real HTTP
request into the runtime's ``v1`` event (lower-cased, comma-joined headers and query values, a
base64 body when it is not text), calls ``index.handler`` with the event as bytes, and turns the
returned dict back into an HTTP response. ``invoke_event`` does what ``s local invoke`` does: it
hands an event file's bytes to the handler.

The body is framed by ``devkit.loopback.read_body``, as FC's front end would: a chunked body (Node's
SDKs, curl with a stream) reaches the function de-chunked and the connection stays usable, and a body
that cannot be framed is refused before the function runs.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .loopback import BodyError, read_body

ROOT = Path(__file__).resolve().parent.parent
HANDLER_DIR = ROOT / "handler"
#: FC3's limit for a synchronous HTTP request; casrelay's own MAX_BODY_BYTES (413) is far below it.
MAX_REQUEST_BYTES = 32 * 1024 * 1024


def load_index() -> ModuleType:
    """Import ``handler/index.py`` as FC would, with the code root on ``sys.path``."""
    if str(HANDLER_DIR) not in sys.path:
        sys.path.insert(0, str(HANDLER_DIR))
    import index

    return index


def make_context(request_id: str | None = None, timeout: int = 60) -> SimpleNamespace:
    """A python3.10 FC context: credentials come from the environment, as FC fills them from the role."""
    creds = None
    if os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID"):
        creds = SimpleNamespace(
            access_key_id=os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID", ""),
            access_key_secret=os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ""),
            security_token=os.environ.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None,
        )
    return SimpleNamespace(
        request_id=request_id or f"1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:12]}",
        region=os.environ.get("FC_REGION", "cn-hangzhou"),
        account_id="1234567890",
        credentials=creds,
        function=SimpleNamespace(name="casrelay", handler="index.handler", memory=256, timeout=timeout),
        service=SimpleNamespace(log_project="", log_store="", qualifier="LATEST", version_id=""),
    )


def http_event(method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes,
               source_ip: str = "127.0.0.1") -> dict[str, Any]:
    try:
        text, is_b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode("ascii"), True
    now = time.time()
    return {
        "version": "v1",
        "rawPath": path,
        "body": text,
        "isBase64Encoded": is_b64,
        "headers": dict(headers),
        "queryParameters": dict(query),
        "requestContext": {
            "accountId": "1234567890",
            "domainName": "localhost",
            "domainPrefix": "local",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": headers.get("User-Agent", headers.get("user-agent", ""))},
            "requestId": f"1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:12]}",
            "time": datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "timeEpoch": str(int(now * 1000)),
        },
    }


def _joined(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """FC joins a repeated header or query key into one comma-separated string."""
    out: dict[str, str] = {}
    for k, v in pairs:
        out[k] = f"{out[k]},{v}" if k in out else v
    return out


def call_handler(event: bytes, request_id: str | None = None) -> Any:
    index = load_index()
    ctx = make_context(request_id)
    return index.handler(event, ctx)


class _Handler(BaseHTTPRequestHandler):
    server_version = "casrelay-local"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the function logs for itself
        return

    def _serve(self) -> None:
        try:
            body = read_body(self, MAX_REQUEST_BYTES)
        except BodyError as err:  # FC's front end refuses it before the function runs
            self.close_connection = True
            self._answer({"statusCode": err.status, "headers": {"Content-Type": "text/plain; charset=utf-8"},
                          "body": err.message + "\n"})
            return
        split = urlsplit(self.path)
        query = _joined(parse_qsl(split.query, keep_blank_values=True))
        # The body reaches the function de-chunked, so its framing headers go the way a proxy's would.
        headers = _joined([(k, v) for k, v in self.headers.items() if k.lower() != "transfer-encoding"])
        event = http_event(self.command, split.path or "/", query, headers, body, self.client_address[0])
        try:
            result = call_handler(json.dumps(event).encode(), event["requestContext"]["requestId"])
        except Exception as exc:  # FC would answer 502 for an unhandled error
            result = {"statusCode": 502, "headers": {"Content-Type": "text/plain"},
                      "body": f"function error: {type(exc).__name__}"}
        if not isinstance(result, dict) or "statusCode" not in result:
            result = {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                      "body": json.dumps(result)}
        self._answer(result)

    def _answer(self, result: Mapping[str, Any]) -> None:
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else str(payload).encode("utf-8")
        self.send_response(int(result["statusCode"]))
        for k, v in (result.get("headers") or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve


class LocalFcServer:
    """A loopback HTTP trigger for ``index.handler``; ``port=0`` picks a free port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalFcServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fc-local", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LocalFcServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sign_webhook(secret: str, body: bytes, msg_id: str | None = None, timestamp: int | None = None) -> dict[str, str]:
    """Standard Webhooks headers for ``body``, as a sender would set them."""
    from standardwebhooks.webhooks import Webhook

    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = int(time.time()) if timestamp is None else timestamp
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, timezone.utc), body.decode("utf-8"))
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def prepare_event_file(path: Path, secret: str | None) -> bytes:
    """Read an event file for a local invoke. An HTTP event that carries a ``webhook-id`` is signed
    afresh with ``secret``: a signature stored in a file would be stale after five minutes."""
    raw = path.read_bytes()
    try:
        event = json.loads(raw)
    except ValueError:
        return raw
    if not (isinstance(event, dict) and event.get("version") == "v1" and secret):
        return raw
    headers = event.get("headers") or {}
    msg_id = headers.get("webhook-id")
    if not msg_id:
        return raw
    body = event.get("body") or ""
    body_bytes = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
    headers.update(sign_webhook(secret, body_bytes, msg_id))
    event["headers"] = headers
    return json.dumps(event).encode("utf-8")
