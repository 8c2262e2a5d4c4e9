"""The devkit's servers against clients that are not the Python SDK's ACS3 path.

Two things the current Python SDK never does, and other clients do:

- the older RPC signature (``SignatureMethod=HMAC-SHA1``, ``SignatureVersion=1.0``), which real CAS
  accepts beside ACS3: here from a hand-written urllib client (its signer is written from Alibaba
  Cloud's "signature method V2 for RPC APIs", independently of the emulator's verifier), from curl,
  and from tea-openapi's own ``signature_algorithm='v2'`` path;
- a ``Transfer-Encoding: chunked`` body (Alibaba's Node SDK, curl with a stream): every devkit server
  (the CAS emulator, the MNS emulator, the callback receiver, the local HTTP trigger) must read it, keep
  the connection usable for the next request, and refuse a body it cannot frame.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from standardwebhooks.webhooks import Webhook

from devkit.callback_receiver import CallbackReceiver
from devkit.cas_emulator import (
    ACTION_CREATE,
    DEMO_ACCESS_KEY_ID,
    DEMO_ACCESS_KEY_SECRET,
    DEMO_SECURITY_TOKEN,
    DEMO_STS_ACCESS_KEY_ID,
    DEMO_STS_ACCESS_KEY_SECRET,
    CasEmulator,
    rpc_signature,
)
from devkit.embedded import DEMO_CALLBACK_SECRET
from devkit.fc_local import LocalFcServer, sign_webhook
from devkit.loopback import BodyError, read_body
from devkit.mns_emulator import MnsEmulator

VERSION = "2020-04-07"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emu() -> Iterator[CasEmulator]:
    with CasEmulator() as emulator:
        yield emulator


def base(emulator: CasEmulator) -> str:
    return f"http://{emulator.endpoint}"


# --------------------------------------------------------------------------- an independent RPC signer


def _encode(text: str) -> str:
    """percentEncode as the signature document defines it: URL-encode, then ``+``→``%20``, ``*``→``%2A``,
    ``%7E``→``~`` (written that way on purpose, not as the emulator's ``quote(safe='~')``)."""
    return (urllib.parse.quote_plus(text, safe="", encoding="utf-8")
            .replace("+", "%20").replace("*", "%2A").replace("%7E", "~"))


def rpc_sign(params: dict[str, str], secret: str, method: str = "GET") -> str:
    canonical = "&".join(f"{_encode(k)}={_encode(params[k])}" for k in sorted(params))
    to_sign = f"{method}&{_encode('/')}&{_encode(canonical)}"
    return base64.b64encode(hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


def rpc_params(action: str, business: dict[str, str], *, key_id: str = DEMO_ACCESS_KEY_ID,
               secret: str = DEMO_ACCESS_KEY_SECRET, method: str = "GET", token: str | None = None,
               timestamp: str | None = None, nonce: str | None = None,
               overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Every parameter of an RPC-signed call, ``Signature`` included."""
    params = {
        "Action": action, "Version": VERSION, "Format": "JSON", "AccessKeyId": key_id,
        "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureNonce": nonce or uuid.uuid4().hex,
        "Timestamp": timestamp or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), **business,
    }
    if token is not None:
        params["SecurityToken"] = token
    params.update(overrides or {})
    params["Signature"] = rpc_sign(params, secret, method)
    return params


def call(url: str, method: str = "GET", params: dict[str, str] | None = None,
         form: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """A plain urllib call; the query is percent-encoded with %20, as the signature document shows."""
    query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in (params or {}).items())
    data = urlencode(form).encode() if form is not None else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
    request = urllib.request.Request(f"{url}/?{query}", data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_emulators_rpc_signer_reproduces_the_documented_example() -> None:
    # Alibaba Cloud's worked example (ECS DescribeRegions, key testid / testsecret), as its RPC signature
    # pages print it: StringToSign GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions..., Signature
    # CT9X0VtwR86fNWSnsc6v8YGOjuE=.
    params = {"TimeStamp": "2016-02-23T12:46:24Z", "Format": "XML", "AccessKeyId": "testid",
              "Action": "DescribeRegions", "SignatureMethod": "HMAC-SHA1",
              "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "Version": "2014-05-26",
              "SignatureVersion": "1.0"}
    pairs = list(params.items())

    sts = rpc_signature.string_to_sign("GET", pairs)

    assert sts.startswith("GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26")
    assert "TimeStamp%3D2016-02-23T12%253A46%253A24Z" in sts
    assert rpc_signature.sign("testsecret", sts) == "CT9X0VtwR86fNWSnsc6v8YGOjuE="
    assert rpc_sign(params, "testsecret") == "CT9X0VtwR86fNWSnsc6v8YGOjuE="  # and the test's own signer agrees


def test_a_hand_written_rpc_hmac_sha1_client_orders_and_reads(emu: CasEmulator) -> None:
    status, created = call(base(emu), "GET", rpc_params(ACTION_CREATE, {
        "Domain": "rpc.example.com", "ValidateType": "DNS", "ProductCode": "digicert-free-1-free",
        "Tags.1.Key": "k 1", "Tags.1.Value": "v*~"}))
    assert status == 200, created
    [order] = emu.orders()
    assert created["OrderId"] == order.order_id and order.domain == "rpc.example.com"
    assert order.access_key_id == DEMO_ACCESS_KEY_ID
    assert order.params["Tags.1.Key"] == "k 1" and order.params["Tags.1.Value"] == "v*~"

    status, state = call(base(emu), "GET", rpc_params("DescribePackageState", {"ProductCode": "digicert-free-1-free"}))
    assert status == 200 and state["UsedCount"] == 1, state


def test_an_rpc_call_may_put_its_parameters_in_a_signed_form_body(emu: CasEmulator) -> None:
    everything = rpc_params(ACTION_CREATE, {"Domain": "form.example.com", "ValidateType": "FILE"}, method="POST")
    status, created = call(base(emu), "POST", params={}, form=everything)
    assert status == 200, created
    assert emu.orders()[0].domain == "form.example.com"


def test_an_rpc_sts_call_needs_its_security_token_and_it_is_not_recorded(emu: CasEmulator) -> None:
    sts = {"key_id": DEMO_STS_ACCESS_KEY_ID, "secret": DEMO_STS_ACCESS_KEY_SECRET}
    status, body = call(base(emu), "GET", rpc_params("DescribePackageState", {}, **sts))
    assert (status, body["Code"]) == (400, "InvalidSecurityToken.Missing")
    status, body = call(base(emu), "GET", rpc_params("DescribePackageState", {}, token="wrong", **sts))
    assert body["Code"] == "InvalidSecurityToken.Mismatch"
    status, body = call(base(emu), "GET", rpc_params(ACTION_CREATE, {"Domain": "sts.example.com"},
                                                   token=DEMO_SECURITY_TOKEN, **sts))
    assert status == 200, body
    assert all(DEMO_SECURITY_TOKEN not in json.dumps(r.params) for r in emu.requests())


def test_rpc_replays_stale_timestamps_and_wrong_secrets_are_refused_as_for_acs3(emu: CasEmulator) -> None:
    params = rpc_params("DescribePackageState", {})
    assert call(base(emu), "GET", params)[0] == 200
    status, body = call(base(emu), "GET", params)
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")

    old = datetime.fromtimestamp(time.time() - 20 * 60, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, body = call(base(emu), "GET", rpc_params("DescribePackageState", {}, timestamp=old))
    assert (status, body["Code"]) == (400, "InvalidTimeStamp.Expired")
    status, body = call(base(emu), "GET", rpc_params("DescribePackageState", {}, timestamp="2026-01-01 10:00:00"))
    assert body["Code"] == "InvalidTimeStamp.Format"

    status, body = call(base(emu), "GET", rpc_params("DescribePackageState", {}, secret="not-the-secret"))
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    assert "server string to sign is:GET&%2F&AccessKeyId%3D" in body["Message"]
    status, body = call(base(emu), "GET", rpc_params("DescribePackageState", {}, key_id="LTAI-nobody"))
    assert (status, body["Code"]) == (404, "InvalidAccessKeyId.NotFound")

    tampered = rpc_params(ACTION_CREATE, {"Domain": "a.example.com"})
    tampered["Domain"] = "b.example.com"
    assert call(base(emu), "GET", tampered)[1]["Code"] == "SignatureDoesNotMatch"
    assert emu.orders() == []


def test_an_unsupported_or_missing_signature_says_what_is_supported(emu: CasEmulator) -> None:
    status, body = call(base(emu), "GET", rpc_params("DescribePackageState", {},
                                                   overrides={"SignatureMethod": "HMAC-SHA256"}))
    assert (status, body["Code"]) == (400, "InvalidSignatureMethod")
    assert "HMAC-SHA1" in body["Message"] and "ACS3-HMAC-SHA256" in body["Message"]
    status, body = call(base(emu), "GET", rpc_params("DescribePackageState", {}, overrides={"SignatureVersion": "2.0"}))
    assert body["Code"] == "InvalidSignatureVersion"
    params = rpc_params("DescribePackageState", {})
    del params["SignatureNonce"]
    assert call(base(emu), "GET", params)[1]["Code"] == "MissingSignatureNonce"

    status, body = call(base(emu), "GET", {"Action": "DescribePackageState", "Version": VERSION})
    assert (status, body["Code"]) == (400, "IncompleteSignature")
    assert "HMAC-SHA1" in body["Message"] and "ACS3-HMAC-SHA256" in body["Message"]
    assert "Authorization header is missing" not in body["Message"]


def test_tea_openapis_own_rpc_v2_signature_is_accepted(emu: CasEmulator) -> None:
    from alibabacloud_cas20200407 import models as cas_models
    from alibabacloud_cas20200407.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    client = Client(Config(access_key_id=DEMO_ACCESS_KEY_ID, access_key_secret=DEMO_ACCESS_KEY_SECRET,
                           endpoint=emu.endpoint, protocol="http", region_id="cn-hangzhou",
                           signature_algorithm="v2"))
    request = cas_models.CreateCertificateForPackageRequestRequest(domain="v2.example.com", validate_type="DNS")
    assert client.create_certificate_for_package_request(request).body.order_id == emu.orders()[0].order_id
    assert emu.requests()[-1].headers.get("authorization") is None  # it really was the RPC signature


# --------------------------------------------------------------------------- curl, chunked


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_sends_a_chunked_rpc_order_and_a_second_call_on_the_same_connection(emu: CasEmulator,
                                                                                 tmp_path: Path) -> None:
    order = rpc_params(ACTION_CREATE, {"Domain": "curl.example.com", "ValidateType": "DNS"}, method="POST")
    (tmp_path / "order.form").write_text(urlencode(order))
    read = rpc_params("DescribePackageState", {})
    second = base(emu) + "/?" + "&".join(f"{_encode(k)}={_encode(v)}" for k, v in read.items())
    proc = subprocess.run(
        ["curl", "-sS", "--noproxy", "*", "-o", str(tmp_path / "1.json"), "-w", "%{http_code} %{num_connects}\\n",
         "-H", "Transfer-Encoding: chunked", "-H", "Content-Type: application/x-www-form-urlencoded",
         "--data-binary", f"@{tmp_path / 'order.form'}", base(emu) + "/",
         "--next", "-sS", "--noproxy", "*", "-o", str(tmp_path / "2.json"), "-w", "%{http_code} %{num_connects}\\n",
         second],
        capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["200 1", "200 0"]  # the second call reused the connection
    assert emu.requests()[0].headers.get("transfer-encoding") == "chunked"
    created = json.loads((tmp_path / "1.json").read_text())
    assert created["OrderId"] == emu.orders()[0].order_id and emu.orders()[0].domain == "curl.example.com"
    assert json.loads((tmp_path / "2.json").read_text())["UsedCount"] == 1


# --------------------------------------------------------------------------- chunked bodies at every server


def _chunks(data: bytes, size: int = 7) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


def _chunked_then_again(host: str, port: int, first: tuple[str, str, bytes, dict[str, str]],
                        second: tuple[str, str, bytes | None, dict[str, str]]
                        ) -> tuple[http.client.HTTPResponse, bytes, http.client.HTTPResponse, bytes]:
    """Send ``first`` chunked, then ``second`` on the same kept-alive connection (asserted)."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        method, path, body, headers = first
        conn.request(method, path, body=_chunks(body), headers=headers, encode_chunked=True)
        sock = conn.sock
        one = conn.getresponse()
        one_body = one.read()
        assert conn.sock is sock and sock is not None, "the server closed the connection after a chunked request"
        method, path, data, headers = second
        conn.request(method, path, body=data, headers=headers)
        two = conn.getresponse()
        two_body = two.read()
        assert conn.sock is sock
        return one, one_body, two, two_body
    finally:
        conn.close()


def test_the_cas_emulator_reads_a_chunked_body_and_keeps_the_connection(emu: CasEmulator) -> None:
    form = urlencode(rpc_params(ACTION_CREATE, {"Domain": "chunked.example.com"}, method="POST")).encode()
    read = rpc_params("DescribePackageState", {})
    query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in read.items())
    one, one_body, two, two_body = _chunked_then_again(
        "127.0.0.1", emu.port, ("POST", "/", form, {"Content-Type": "application/x-www-form-urlencoded"}),
        ("GET", f"/?{query}", None, {}))
    assert one.status == 200, one_body
    assert emu.requests()[0].headers.get("transfer-encoding") == "chunked"
    assert json.loads(one_body)["OrderId"] == emu.orders()[0].order_id
    assert two.status == 200 and json.loads(two_body)["UsedCount"] == 1


def _mns_headers(method: str, resource: str, body: bytes) -> dict[str, str]:
    content_type = "text/xml;charset=utf-8"
    date = formatdate(usegmt=True)
    md5 = base64.b64encode(hashlib.md5(body).hexdigest().encode()).decode() if body else ""  # noqa: S324
    to_sign = f"{method}\n{md5}\n{content_type}\n{date}\nx-mns-version:2015-06-06\n{resource}"
    signature = base64.b64encode(hmac.new(DEMO_ACCESS_KEY_SECRET.encode(), to_sign.encode(), hashlib.sha1).digest())
    headers = {"Content-Type": content_type, "Date": date, "x-mns-version": "2015-06-06",
               "Authorization": f"MNS {DEMO_ACCESS_KEY_ID}:{signature.decode()}"}
    if md5:
        headers["Content-MD5"] = md5
    return headers


def test_the_mns_emulator_reads_a_chunked_body_and_keeps_the_connection() -> None:
    message = (b'<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mns.aliyuncs.com/doc/v1/">'
               b"<MessageBody>sent in chunks</MessageBody><Priority>8</Priority></Message>")
    resource = "/queues/orders/messages"
    with MnsEmulator() as mns:
        one, one_body, two, two_body = _chunked_then_again(
            "127.0.0.1", mns.port, ("POST", resource, message, _mns_headers("POST", resource, message)),
            ("GET", resource, None, _mns_headers("GET", resource, b"")))
        assert one.status == 201, one_body
        assert mns.messages("orders", base64=False) == ["sent in chunks"]
        assert two.status == 200 and b"<MessageBody>sent in chunks</MessageBody>" in two_body


def test_the_callback_receiver_reads_a_chunked_body_and_keeps_the_connection() -> None:
    def signed(body: bytes) -> dict[str, str]:
        msg_id = f"msg_{uuid.uuid4().hex}"
        now = datetime.now(timezone.utc)
        return {"Content-Type": "application/json", "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": Webhook(DEMO_CALLBACK_SECRET).sign(msg_id, now, body.decode())}

    first = json.dumps({"Type": "certificate.order.created", "n": 1}).encode()
    second = json.dumps({"Type": "certificate.order.created", "n": 2}).encode()
    with CallbackReceiver(DEMO_CALLBACK_SECRET) as receiver:
        one, _, two, _ = _chunked_then_again("127.0.0.1", receiver.port, ("POST", "/hooks/cas", first, signed(first)),
                                             ("POST", "/hooks/cas", second, signed(second)))
        assert (one.status, two.status) == (204, 204)
        assert [a.json()["n"] for a in receiver.deliveries()] == [1, 2]


def test_the_local_http_trigger_reads_a_chunked_order_and_keeps_the_connection(embedded: Any) -> None:
    body = json.dumps({"Domain": "chunked-trigger.example.com", "ValidateType": "DNS"}).encode()
    headers = {"Content-Type": "application/json", **sign_webhook(embedded.webhook_secret, body)}
    with LocalFcServer() as server:
        port = int(server.url.rsplit(":", 1)[1])
        one, one_body, two, two_body = _chunked_then_again("127.0.0.1", port, ("POST", "/", body, headers),
                                                           ("GET", "/health", None, {}))
    assert one.status == 200, one_body
    assert json.loads(one_body)["OrderIdString"] == str(embedded.emulator.orders()[0].order_id)
    assert two.status == 200 and json.loads(two_body) == {"Status": "ok"}


# --------------------------------------------------------------------------- bodies that cannot be framed


BAD_FRAMING = {
    "both": (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n", 400),
    "not-chunked-last": (b"Transfer-Encoding: chunked, gzip\r\n", b"5\r\nhello\r\n0\r\n\r\n", 400),
    "unknown-coding": (b"Transfer-Encoding: gzip, chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n", 501),
    "bad-size": (b"Transfer-Encoding: chunked\r\n", b"zz\r\nhello\r\n0\r\n\r\n", 400),
    "bad-length": (b"Content-Length: 5, 6\r\n", b"hello!", 400),
}


def _raw_exchange(port: int, head: bytes, body: bytes) -> tuple[int, bytes]:
    """Send a hand-framed POST; return the status and what follows the answer (b'' when closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        start = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        sock.sendall(start + head + b"\r\n" + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        response.read()
        try:
            rest = sock.recv(1024)
        except TimeoutError:
            rest = b"<still open>"
        return response.status, rest


@pytest.mark.parametrize("case", sorted(BAD_FRAMING))
def test_every_server_refuses_a_body_it_cannot_frame_and_closes_the_connection(case: str, embedded: Any) -> None:
    head, body, status = BAD_FRAMING[case]
    with CasEmulator() as cas, MnsEmulator() as mns, CallbackReceiver(DEMO_CALLBACK_SECRET) as receiver, \
            LocalFcServer() as trigger:
        ports = {"cas": cas.port, "mns": mns.port, "callback": receiver.port,
                 "serve": int(trigger.url.rsplit(":", 1)[1])}
        for name, port in ports.items():
            assert _raw_exchange(port, head, body) == (status, b""), name
        assert cas.orders() == [] and mns.messages("orders") == [] and receiver.attempts() == []


class _FakeHandler(BaseHTTPRequestHandler):
    """Only what ``read_body`` reads: the parsed headers and the buffered request stream."""

    def __init__(self, head: bytes, rest: bytes) -> None:  # no socket: skip BaseRequestHandler's setup
        self.headers = http.client.parse_headers(io.BytesIO(head + b"\r\n"))
        self.rfile = io.BufferedReader(io.BytesIO(rest))  # type: ignore[assignment]


@pytest.mark.parametrize(("head", "wire", "expected"), [
    (b"Transfer-Encoding: chunked\r\n", b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\nNEXT", b"abcde"),
    (b"Transfer-Encoding: Chunked\r\n", b"0\r\n\r\n", b""),
    (b"Content-Length: 3\r\nContent-Length: 3\r\n", b"abcNEXT", b"abc"),
    (b"", b"NEXT", b""),
])
def test_read_body_frames_chunked_and_length_bodies_and_leaves_the_next_request(head: bytes, wire: bytes,
                                                                                 expected: bytes) -> None:
    handler = _FakeHandler(head, wire)
    assert read_body(handler, 100) == expected
    assert handler.rfile.read() == (b"NEXT" if wire.endswith(b"NEXT") else b"")  # the next request is untouched


@pytest.mark.parametrize(("head", "wire", "status"), [
    (b"Transfer-Encoding: chunked\r\n", b"65\r\n" + b"x" * 101 + b"\r\n0\r\n\r\n", 413),
    (b"Content-Length: 101\r\n", b"x" * 101, 413),
    (b"Content-Length: 10\r\n", b"short", 400),
    (b"Content-Length: +5\r\n", b"hello", 400),
    (b"Transfer-Encoding: chunked\r\n", b"5\r\nhello", 400),
    (b"Transfer-Encoding: chunked\r\n", b"3\r\nhello\r\n0\r\n\r\n", 400),
])
def test_read_body_refuses_what_it_cannot_frame(head: bytes, wire: bytes, status: int) -> None:
    with pytest.raises(BodyError) as refused:
        read_body(_FakeHandler(head, wire), 100)
    assert refused.value.status == status


def test_quote_of_the_independent_signer_matches_rfc3986() -> None:
    assert _encode("a b*~/+é") == quote("a b*~/+é", safe="~")


# --------------------------------------------------------------------------- Alibaba's Node SDKs (optional)


NODE_CLIENTS = """
const [endpoint, keyId, secret] = process.argv.slice(1);  // node -e: no script path in argv
const Cas = require('@alicloud/cas20200407');
const OpenApi = require('@alicloud/openapi-client');
const RPCClient = require('@alicloud/pop-core');
(async () => {
  const acs3 = new (Cas.default || Cas)(new OpenApi.Config({accessKeyId: keyId, accessKeySecret: secret, endpoint,
    protocol: 'http', regionId: 'cn-hangzhou'}));
  const created = await acs3.createCertificateForPackageRequest(new Cas.CreateCertificateForPackageRequestRequest({
    domain: 'node.example.com', validateType: 'DNS',
    tags: [new Cas.CreateCertificateForPackageRequestRequestTags({key: 'k 1', value: 'v*~'})]}));
  const rpc = new RPCClient({accessKeyId: keyId, accessKeySecret: secret, endpoint: 'http://' + endpoint,
    apiVersion: '2020-04-07'});
  const placed = await rpc.request('CreateCertificateForPackageRequest', {Domain: 'pop.example.com'}, {method: 'POST'});
  const state = await rpc.request('DescribePackageState', {ProductCode: 'digicert-free-1-free'}, {method: 'GET'});
  console.log(JSON.stringify({acs3: created.body.requestId, rpc: placed.OrderId, used: state.UsedCount}));
})().catch((e) => { console.error(e.code, e.message); process.exit(1); });
"""


@pytest.mark.skipif(not os.environ.get("CASRELAY_TEST_NODE_MODULES") or shutil.which("node") is None,
                    reason="set CASRELAY_TEST_NODE_MODULES to a node_modules with @alicloud/cas20200407, "
                           "@alicloud/openapi-client and @alicloud/pop-core (npm install them anywhere)")
def test_alibabas_node_sdks_order_through_the_emulator(emu: CasEmulator) -> None:
    # @alicloud/cas20200407 signs ACS3; @alicloud/pop-core signs RPC HMAC-SHA1 and sends a POST's
    # parameters in a form body, which the signature covers.
    proc = subprocess.run(["node", "-e", NODE_CLIENTS, emu.endpoint, DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET],
                          env={"PATH": os.environ["PATH"], "NODE_PATH": os.environ["CASRELAY_TEST_NODE_MODULES"]},
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert [o.domain for o in emu.orders()] == ["node.example.com", "pop.example.com"]
    assert str(emu.orders()[1].order_id) == str(result["rpc"]) and result["used"] == 2
    assert emu.orders()[0].params["Tags.1.Key"] == "k 1"
    assert emu.requests()[1].headers.get("authorization") is None  # pop-core: the RPC signature
