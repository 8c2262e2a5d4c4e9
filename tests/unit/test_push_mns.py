"""The MNS sink through the real aliyun-mns-sdk against devkit/mns_emulator.py over loopback HTTP.

The emulator verifies the SDK's HMAC-SHA1 signature, STS token and Content-MD5, so a pass here means
the bytes the sink makes the SDK send are signed the way MNS checks them. One test signs a request
with an independent implementation of the documented algorithm, so the emulator is not merely
agreeing with the SDK it is testing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import socket
import time
from collections.abc import Iterator
from email.utils import formatdate

import pytest

from casrelay.push import (
    InvalidMessage,
    MnsSink,
    SinkMisconfigured,
    SinkUnavailable,
    StaticCredentials,
    build_sinks,
)
from devkit.mns_emulator import (
    DEMO_ACCESS_KEY_ID,
    DEMO_ACCESS_KEY_SECRET,
    DEMO_SECURITY_TOKEN,
    DEMO_STS_ACCESS_KEY_ID,
    DEMO_STS_ACCESS_KEY_SECRET,
    MnsEmulator,
)
from tests.sink_fixtures import Sleeps

ORDER = {"Version": 1, "Id": "msg_0123", "Order": {"OrderId": 98987582437920968, "Domains": ["证书.example.com"]},
         "Note": "<&> \"quoted\""}
MSG_ID = "msg_0123"
DEMO = StaticCredentials(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET)


# Every test here may only connect to loopback (the loopback_only fixture is in conftest.py).
pytestmark = pytest.mark.usefixtures("loopback_only")


@pytest.fixture()
def emu() -> Iterator[MnsEmulator]:
    with MnsEmulator(queues=["orders"]) as e:
        yield e


def sink_for(emu: MnsEmulator, creds: StaticCredentials | None = DEMO, **kwargs: object) -> MnsSink:
    options: dict[str, object] = {"sleep": Sleeps(), "timeout_s": 2.0}
    options.update(kwargs)
    return MnsSink("orders", emu.endpoint, credentials=lambda: creds, **options)  # type: ignore[arg-type]


def test_round_trip_through_the_sdk(emu: MnsEmulator) -> None:
    sink = sink_for(emu)
    assert sink.name == "mns://orders"
    sink.push(ORDER, MSG_ID)

    [stored] = emu.sent("orders")
    text = json.dumps(ORDER, ensure_ascii=False, separators=(",", ":"))
    # The SDK base64-encodes bodies by default; the emulator stores what went over the wire.
    assert stored.body == base64.b64encode(text.encode()).decode()
    assert emu.messages("orders") == [text]
    assert stored.user_properties == {"message_id": MSG_ID}
    assert stored.access_key_id == DEMO_ACCESS_KEY_ID
    assert [r.status for r in emu.requests()] == [201]

    # A consumer using the SDK's defaults reads the same JSON back.
    from mns.account import Account

    received = Account(emu.endpoint, DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET).get_queue("orders") \
        .receive_message_with_str_body()
    assert json.loads(received.message_body) == ORDER


def test_raw_bodies_with_base64_off(emu: MnsEmulator) -> None:
    [sink] = build_sinks(f"mns://orders?base64=0&endpoint={emu.endpoint.replace(':', '%3A').replace('/', '%2F')}",
                         {"ALIBABA_CLOUD_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID,
                          "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DEMO_ACCESS_KEY_SECRET})
    sink.push(ORDER, MSG_ID)
    assert emu.messages("orders", base64=False) == [json.dumps(ORDER, ensure_ascii=False, separators=(",", ":"))]


def test_env_credentials_and_mns_endpoint(emu: MnsEmulator) -> None:
    env = {"MNS_ENDPOINT": emu.endpoint, "ALIBABA_CLOUD_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID,
           "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DEMO_ACCESS_KEY_SECRET, "ALIBABA_CLOUD_SECURITY_TOKEN": ""}
    [sink] = build_sinks("mns://orders", env)
    sink.push(ORDER, MSG_ID)
    assert len(emu.sent("orders")) == 1


def test_sts_credentials_send_the_security_token(emu: MnsEmulator) -> None:
    sts = StaticCredentials(DEMO_STS_ACCESS_KEY_ID, DEMO_STS_ACCESS_KEY_SECRET, DEMO_SECURITY_TOKEN)
    sink_for(emu, sts).push(ORDER, MSG_ID)
    assert emu.sent("orders")[0].access_key_id == DEMO_STS_ACCESS_KEY_ID


def test_credentials_are_read_on_every_push(emu: MnsEmulator) -> None:
    current = [DEMO]
    sink = MnsSink("orders", emu.endpoint, credentials=lambda: current[0], sleep=Sleeps())
    sink.push(ORDER, MSG_ID)
    current[0] = StaticCredentials(DEMO_STS_ACCESS_KEY_ID, DEMO_STS_ACCESS_KEY_SECRET, DEMO_SECURITY_TOKEN)
    sink.push(ORDER, MSG_ID)
    assert [m.access_key_id for m in emu.sent("orders")] == [DEMO_ACCESS_KEY_ID, DEMO_STS_ACCESS_KEY_ID]


@pytest.mark.parametrize(("creds", "code"), [
    (StaticCredentials(DEMO_ACCESS_KEY_ID, "wrong-secret"), "SignatureDoesNotMatch"),
    (StaticCredentials("LTAI-unknown", "whatever"), "InvalidAccessKeyId"),
    (StaticCredentials(DEMO_STS_ACCESS_KEY_ID, DEMO_STS_ACCESS_KEY_SECRET, "forged-token"), "AccessDenied"),
    (StaticCredentials(DEMO_STS_ACCESS_KEY_ID, DEMO_STS_ACCESS_KEY_SECRET), "AccessDenied"),
])
def test_refused_credentials_are_misconfigured_and_transient(emu: MnsEmulator, creds: StaticCredentials,
                                                            code: str) -> None:
    sleeps = Sleeps()
    with pytest.raises(SinkMisconfigured) as info:
        sink_for(emu, creds, sleep=sleeps).push(ORDER, MSG_ID)
    err = info.value
    assert err.transient and err.code == code
    assert "wrong-secret" not in str(err) and "forged-token" not in str(err)
    assert emu.sent("orders") == []
    assert [r.code for r in emu.requests()] == [code]  # not retried within the push
    assert sleeps.waits == []


def test_a_missing_queue_is_misconfigured_and_transient(emu: MnsEmulator) -> None:
    emu.delete_queue("orders")
    with pytest.raises(SinkMisconfigured) as info:
        sink_for(emu).push(ORDER, MSG_ID)
    assert info.value.transient and info.value.code == "QueueNotExist"


def test_no_credentials_fails_before_any_request(emu: MnsEmulator) -> None:
    with pytest.raises(SinkMisconfigured, match="ALIBABA_CLOUD_ACCESS_KEY_ID"):
        sink_for(emu, None).push(ORDER, MSG_ID)
    assert emu.requests() == []


def test_a_503_is_retried(emu: MnsEmulator) -> None:
    emu.fail_next(1, 503, "ServiceUnavailable")
    sleeps = Sleeps()
    sink_for(emu, sleep=sleeps).push(ORDER, MSG_ID)
    assert [r.status for r in emu.requests()] == [503, 201]
    assert len(emu.sent("orders")) == 1 and sleeps.waits == [0.2]


def test_persistent_5xx_is_transient(emu: MnsEmulator) -> None:
    emu.fail_next(5, 500, "InternalError")
    sleeps = Sleeps()
    with pytest.raises(SinkUnavailable) as info:
        sink_for(emu, sleep=sleeps, max_attempts=2).push(ORDER, MSG_ID)
    assert info.value.transient and info.value.code == "InternalError"
    assert "2 attempt" in str(info.value)
    assert len(emu.requests()) == 2 and len(sleeps.waits) == 1


def test_a_dropped_connection_is_resent_by_the_sdk(emu: MnsEmulator) -> None:
    # The SDK itself resends once when a kept-alive connection closes without an answer.
    emu.drop_next(1)
    sink_for(emu).push(ORDER, MSG_ID)
    assert [r.code for r in emu.requests()] == ["Dropped", None]
    assert len(emu.sent("orders")) == 1


def test_an_unreachable_endpoint_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = Sleeps()
    sink = MnsSink("orders", f"http://127.0.0.1:{port}", credentials=lambda: DEMO, sleep=sleeps, max_attempts=2)
    with pytest.raises(SinkUnavailable) as info:
        sink.push(ORDER, MSG_ID)
    assert info.value.transient and "NetWorkException" in str(info.value)
    assert len(sleeps.waits) == 1


def test_a_slow_endpoint_times_out(emu: MnsEmulator) -> None:
    emu.set_latency(2.0)
    started = time.monotonic()
    with pytest.raises(SinkUnavailable):
        sink_for(emu, timeout_s=0.2, max_attempts=1).push(ORDER, MSG_ID)
    assert time.monotonic() - started < 1.5


def test_the_message_id_and_body_are_checked_first(emu: MnsEmulator) -> None:
    with pytest.raises(InvalidMessage):
        sink_for(emu).push(ORDER, "bad id with spaces")
    with pytest.raises(InvalidMessage):
        sink_for(emu).push({"x": float("inf")}, MSG_ID)
    assert emu.requests() == []


# --- the emulator against an independent signer --------------------------------------------------


def _signed_post(emu: MnsEmulator, body: bytes, *, md5_of: bytes | None = None, secret: str = DEMO_ACCESS_KEY_SECRET
                 ) -> tuple[int, str]:
    """POST SendMessage signed as MNS documents it (HMAC-SHA1 string to sign), not with the SDK's code."""
    path = "/queues/orders/messages"
    digest = hashlib.md5(md5_of if md5_of is not None else body).hexdigest()  # noqa: S324 - MNS's header
    content_md5 = base64.b64encode(digest.encode()).decode()  # the SDK's form: base64 of the hex digest
    content_type = "text/xml;charset=UTF-8"
    date = formatdate(usegmt=True)
    mns_headers = {"x-mns-version": "2015-06-06", "x-mns-user-request-id": "test-1"}
    canonical = "".join(f"{k}:{mns_headers[k]}\n" for k in sorted(mns_headers))
    to_sign = f"POST\n{content_md5}\n{content_type}\n{date}\n{canonical}{path}"
    signature = base64.b64encode(hmac.new(secret.encode(), to_sign.encode(), hashlib.sha1).digest()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    try:
        conn.request("POST", path, body=body, headers={
            "Authorization": f"MNS {DEMO_ACCESS_KEY_ID}:{signature}", "Date": date, "Content-Type": content_type,
            "Content-MD5": content_md5, **mns_headers})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_the_emulator_accepts_the_documented_signature_and_checks_content_md5(emu: MnsEmulator) -> None:
    body = (b'<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mns.aliyuncs.com/doc/v1/">'
            b"<MessageBody>aGVsbG8=</MessageBody></Message>")
    status, xml = _signed_post(emu, body)
    assert status == 201 and "<MessageBodyMD5>" in xml
    assert emu.messages("orders") == ["hello"]

    status, xml = _signed_post(emu, body, md5_of=b"another body")
    assert status == 400 and "<Code>InvalidDegist</Code>" in xml

    status, xml = _signed_post(emu, body, secret="not-the-secret")
    assert status == 403 and "<Code>SignatureDoesNotMatch</Code>" in xml and "<RequestId>" in xml


# --------------------------------------------------------------------------- faults aimed at some messages


def _message(domain: str, msg_id: str) -> dict[str, object]:
    return {"Version": 1, "Id": msg_id, "Order": {"OrderId": 1, "Domains": [domain]}}


@pytest.mark.parametrize("base64_body", [True, False])
def test_fail_matching_finds_the_text_in_the_message_as_sent_or_base64_decoded(emu: MnsEmulator,
                                                                              base64_body: bool) -> None:
    emu.fail_matching('"a.example.com"', 1, 500, code="InternalError")
    sink = sink_for(emu, max_attempts=1, base64_body=base64_body)

    sink.push(_message("b.example.com", "msg_b"), "msg_b")
    with pytest.raises(SinkUnavailable) as info:
        sink.push(_message("a.example.com", "msg_a"), "msg_a")
    sink.push(_message("a.example.com", "msg_a"), "msg_a")

    assert info.value.code == "InternalError"
    assert [(r.status, r.code) for r in emu.requests()] == [(201, None), (500, "InternalError"), (201, None)]
    assert [json.loads(m)["Id"] for m in emu.messages("orders", base64=base64_body)] == ["msg_b", "msg_a"]


def test_set_down_keeps_the_queue_down_for_one_name_until_cleared(emu: MnsEmulator) -> None:
    emu.set_down('"down.example.com"')
    sink = sink_for(emu, max_attempts=1)

    for _ in range(3):
        with pytest.raises(SinkUnavailable):
            sink.push(_message("down.example.com", "msg_down"), "msg_down")
        sink.push(_message("up.example.com", "msg_up"), "msg_up")
    emu.clear_down()
    sink.push(_message("down.example.com", "msg_down"), "msg_down")

    assert [r.code for r in emu.requests()] == ["ServiceUnavailable", None] * 3 + [None]
    assert [json.loads(m)["Id"] for m in emu.messages("orders")] == ["msg_up"] * 3 + ["msg_down"]


def test_clear_faults_for_one_text_leaves_the_others(emu: MnsEmulator) -> None:
    emu.fail_matching('"a.example.com"', 3)
    emu.fail_matching('"b.example.com"', 3)
    sink = sink_for(emu, max_attempts=1)

    emu.clear_faults('"a.example.com"')
    sink.push(_message("a.example.com", "msg_a"), "msg_a")
    with pytest.raises(SinkUnavailable):
        sink.push(_message("b.example.com", "msg_b"), "msg_b")
    emu.clear_faults()
    sink.push(_message("b.example.com", "msg_b"), "msg_b")

    assert [r.status for r in emu.requests()] == [201, 503, 201]
