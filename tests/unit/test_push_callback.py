"""The https callback sink against devkit/callback_receiver.py over loopback HTTP (and TLS).

The receiver verifies Standard Webhooks signatures with the ``standardwebhooks`` package, so a pass
here means a real receiver accepts what the sink sends. Waits between retries go through an injected
``sleep`` that records them, so the retry tests take no wall-clock time.
"""

from __future__ import annotations

import json
import socket
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from casrelay.push import (
    CallbackSink,
    InvalidMessage,
    SinkRedirected,
    SinkRejected,
    SinkUnavailable,
)
from devkit.callback_receiver import CallbackReceiver
from tests.sink_fixtures import (
    CALLBACK_SECRET,
    OTHER_SECRET,
    FakeResolver,
    Sleeps,
    TickingClock,
    make_tls,
)

ORDER = {"OrderId": 98987582437920968, "OrderIdString": "98987582437920968", "Domains": ["www.example.com"],
         "Note": "证书 ✓"}
MSG_ID = "order_98987582437920968_created"


# Every test here may only connect to loopback (the loopback_only fixture is in conftest.py).
pytestmark = pytest.mark.usefixtures("loopback_only")


@pytest.fixture()
def sleeps() -> Sleeps:
    return Sleeps()


def sink_for(receiver: CallbackReceiver, sleeps: Sleeps | None = None, **kwargs: object) -> CallbackSink:
    options: dict[str, object] = {"allow_hosts": ["127.0.0.1"], "timeout_s": 2.0}
    options.update(kwargs)
    return CallbackSink(receiver.url(), options.pop("secrets", CALLBACK_SECRET),  # type: ignore[arg-type]
                        sleep=sleeps or Sleeps(), **options)  # type: ignore[arg-type]


def test_delivers_a_signed_compact_json_post(receiver: CallbackReceiver) -> None:
    sink = sink_for(receiver)
    sink.push(ORDER, MSG_ID)

    [got] = receiver.deliveries()
    assert got.verified and got.status == 204
    assert got.webhook_id == MSG_ID
    assert got.content_type == "application/json"
    assert got.path == "/hooks/cas"
    assert got.host == f"127.0.0.1:{receiver.port}"
    assert abs(int(got.timestamp or 0) - time.time()) < 5
    assert got.signature is not None and got.signature.startswith("v1,")
    # compact, UTF-8, the 18-digit OrderId exact
    assert got.body == json.dumps(ORDER, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert b'"OrderId":98987582437920968' in got.body
    assert "证书".encode() in got.body


def test_name_hides_user_info_and_query_which_are_still_sent(receiver: CallbackReceiver) -> None:
    url = receiver.url("/hooks/cas").replace("http://", "http://svc:hunter2@") + "?token=sekrit"
    sink = CallbackSink(url, CALLBACK_SECRET, allow_hosts=["127.0.0.1"])
    assert sink.name.startswith(f"http://127.0.0.1:{receiver.port}/hooks/cas?***")
    assert "hunter2" not in repr(sink) and "sekrit" not in repr(sink) and "svc" not in repr(sink)
    sink.push(ORDER, MSG_ID)
    [got] = receiver.deliveries()
    assert got.path == "/hooks/cas?token=sekrit"
    assert got.headers["authorization"] == "Basic c3ZjOmh1bnRlcjI="  # svc:hunter2


@pytest.mark.parametrize(("url", "name"), [
    ("https://hooks.example.com/cas", "https://hooks.example.com/cas"),
    ("https://Hooks.Example.com:443/a/b/", "https://hooks.example.com:443/a/b/"),
    ("https://[2001:db8::1]:8443/x", "https://[2001:db8::1]:8443/x"),
])
def test_plain_names(url: str, name: str) -> None:
    assert CallbackSink(url, CALLBACK_SECRET).name == name


def test_token_like_path_segments_are_hidden_but_names_stay_distinct() -> None:
    slack_a = "https://hooks.example.com/services/T0000000/B0000000/a1B2c3D4e5F6g7H8i9J0k1L2"
    slack_b = "https://hooks.example.com/services/T0000000/B0000000/z9Y8x7W6v5U4t3S2r1Q0p9O8"
    a, b = CallbackSink(slack_a, CALLBACK_SECRET).name, CallbackSink(slack_b, CALLBACK_SECRET).name
    assert a.startswith("https://hooks.example.com/services/T0000000/B0000000/***") and a != b
    assert "a1B2c3D4" not in a and "z9Y8x7W6" not in b
    assert CallbackSink(slack_a, CALLBACK_SECRET).name == a  # stable across instances


def test_retry_after_500_keeps_the_webhook_id_and_re_signs(receiver: CallbackReceiver, sleeps: Sleeps) -> None:
    receiver.fail_next(1, 500)
    sink = sink_for(receiver, sleeps, clock=TickingClock(step=3))
    sink.push(ORDER, MSG_ID)

    first, second = receiver.attempts()
    assert (first.status, second.status) == (500, 204)
    assert first.webhook_id == second.webhook_id == MSG_ID  # receivers drop the duplicate by it
    assert first.timestamp != second.timestamp  # each attempt is signed afresh
    assert first.body == second.body
    assert receiver.delivered_ids() == [MSG_ID]
    assert len(sleeps.waits) == 1 and 0.15 <= sleeps.waits[0] <= 0.2


def test_gives_up_after_max_attempts_with_a_transient_error(receiver: CallbackReceiver, sleeps: Sleeps) -> None:
    receiver.fail_next(10, 503)
    sink = sink_for(receiver, sleeps, max_attempts=3)
    with pytest.raises(SinkUnavailable) as info:
        sink.push(ORDER, MSG_ID)
    err = info.value
    assert err.transient and err.status == 503
    assert "503" in str(err) and "3 attempt" in str(err)
    assert [a.status for a in receiver.attempts()] == [503, 503, 503]
    assert len(sleeps.waits) == 2 and sleeps.waits[0] <= 0.2 < sleeps.waits[1] <= 0.5


@pytest.mark.parametrize("status", [408, 409, 425, 429, 502, 504])
def test_not_now_statuses_are_retried(receiver: CallbackReceiver, sleeps: Sleeps, status: int) -> None:
    receiver.fail_next(1, status)
    sink_for(receiver, sleeps).push(ORDER, MSG_ID)
    assert [a.status for a in receiver.attempts()] == [status, 204]


def test_retry_after_seconds_is_honoured(receiver: CallbackReceiver, sleeps: Sleeps) -> None:
    receiver.fail_next(1, 429, retry_after="2")
    sink_for(receiver, sleeps).push(ORDER, MSG_ID)
    assert sleeps.waits == [2.0]
    assert len(receiver.deliveries()) == 1


def test_retry_after_http_date_is_honoured(receiver: CallbackReceiver, sleeps: Sleeps) -> None:
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=3), usegmt=True)
    receiver.fail_next(1, 503, retry_after=when)
    sink_for(receiver, sleeps).push(ORDER, MSG_ID)
    assert len(sleeps.waits) == 1 and 1.0 <= sleeps.waits[0] <= 3.0


def test_retry_after_beyond_the_cap_gives_up_at_once(receiver: CallbackReceiver, sleeps: Sleeps) -> None:
    receiver.fail_next(1, 429, retry_after="120")
    with pytest.raises(SinkUnavailable) as info:
        sink_for(receiver, sleeps).push(ORDER, MSG_ID)
    assert info.value.transient and info.value.retry_after == 120.0 and info.value.status == 429
    assert sleeps.waits == []
    assert len(receiver.attempts()) == 1


def test_redirects_are_not_followed(receiver: CallbackReceiver, sleeps: Sleeps) -> None:
    with CallbackReceiver(CALLBACK_SECRET) as elsewhere:
        receiver.redirect_next(1, elsewhere.url("/moved"), status=307)
        with pytest.raises(SinkRedirected) as info:
            sink_for(receiver, sleeps).push(ORDER, MSG_ID)
        assert elsewhere.attempts() == []
    assert not info.value.transient and info.value.status == 307
    assert "ORDER_SINKS" in str(info.value)
    assert len(receiver.attempts()) == 1 and sleeps.waits == []


@pytest.mark.parametrize("status", [400, 403, 404, 410, 422])
def test_other_4xx_are_permanent(receiver: CallbackReceiver, sleeps: Sleeps, status: int) -> None:
    receiver.fail_next(1, status)
    with pytest.raises(SinkRejected) as info:
        sink_for(receiver, sleeps).push(ORDER, MSG_ID)
    assert not info.value.transient and info.value.status == status
    assert len(receiver.attempts()) == 1 and sleeps.waits == []


def test_a_wrong_secret_is_refused_by_the_receiver(receiver: CallbackReceiver) -> None:
    with pytest.raises(SinkRejected) as info:
        sink_for(receiver, secrets=OTHER_SECRET).push(ORDER, MSG_ID)
    assert info.value.status == 401 and not info.value.transient
    assert CALLBACK_SECRET not in str(info.value) and OTHER_SECRET not in str(info.value)
    [attempt] = receiver.attempts()
    assert not attempt.verified


def test_several_secrets_sign_for_rotation() -> None:
    with CallbackReceiver(OTHER_SECRET) as new_only:
        sink_for(new_only, secrets=[CALLBACK_SECRET, OTHER_SECRET]).push(ORDER, MSG_ID)
        [got] = new_only.deliveries()
    assert got.signature is not None and len(got.signature.split(" ")) == 2


def test_timeout_is_transient(receiver: CallbackReceiver, sleeps: Sleeps) -> None:
    receiver.set_latency(1.0)
    started = time.monotonic()
    with pytest.raises(SinkUnavailable) as info:
        sink_for(receiver, sleeps, timeout_s=0.1, max_attempts=2).push(ORDER, MSG_ID)
    assert time.monotonic() - started < 0.9
    assert info.value.transient and "timed out" in str(info.value)
    assert len(sleeps.waits) == 1


def test_connection_refused_is_transient(sleeps: Sleeps) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    sink = CallbackSink(f"http://127.0.0.1:{port}/x", CALLBACK_SECRET, allow_hosts=["127.0.0.1"], sleep=sleeps)
    with pytest.raises(SinkUnavailable) as info:
        sink.push(ORDER, MSG_ID)
    assert info.value.transient and "refused" in str(info.value).lower()
    assert len(sleeps.waits) == 2


def test_unserialisable_message_and_bad_id_are_refused_before_sending(receiver: CallbackReceiver) -> None:
    sink = sink_for(receiver)
    with pytest.raises(InvalidMessage) as info:
        sink.push({"OrderId": float("nan")}, MSG_ID)
    assert not info.value.transient
    with pytest.raises(InvalidMessage):
        sink.push({"when": datetime.now()}, MSG_ID)
    with pytest.raises(InvalidMessage):
        sink.push(ORDER, "msg.with.dots")
    assert receiver.attempts() == []


def test_https_connects_to_the_resolved_address_with_sni_for_the_name(tmp_path: Path) -> None:
    tls = make_tls(tmp_path, ["hooks.test"])
    resolver = FakeResolver({"hooks.test": ["127.0.0.1"]})
    with CallbackReceiver(CALLBACK_SECRET, ssl_context=tls.server) as r:
        # hooks.test exists only in the injected resolver: success proves the connection went to the
        # address the guard resolved, and the certificate (DNS SAN only, no IP) was checked for the name.
        sink = CallbackSink(r.url(host="hooks.test"), CALLBACK_SECRET, allow_hosts=["hooks.test"],
                            resolver=resolver, tls_context=tls.client)
        sink.push(ORDER, MSG_ID)
        [got] = r.deliveries()
        assert got.host == f"hooks.test:{r.port}"
        assert r.sni_names == ["hooks.test"]
    assert resolver.calls == ["hooks.test"]


def test_https_with_a_certificate_for_another_name_is_refused(tmp_path: Path, sleeps: Sleeps) -> None:
    tls = make_tls(tmp_path, ["other.test"])
    resolver = FakeResolver({"hooks.test": ["127.0.0.1"]})
    with CallbackReceiver(CALLBACK_SECRET, ssl_context=tls.server) as r:
        sink = CallbackSink(r.url(host="hooks.test"), CALLBACK_SECRET, allow_hosts=["hooks.test"],
                            resolver=resolver, tls_context=tls.client, sleep=sleeps)
        with pytest.raises(SinkUnavailable) as info:
            sink.push(ORDER, MSG_ID)
        assert r.deliveries() == []
    assert "certificate" in str(info.value)
    assert sleeps.waits == []  # not retried within the invocation


# --------------------------------------------------------------------------- faults aimed at some messages


def _order_for(domain: str) -> dict[str, object]:
    return {"Order": {"OrderId": 1, "Domains": [domain]}}


def test_fail_matching_fails_only_the_next_messages_that_contain_the_text(receiver: CallbackReceiver,
                                                                         sleeps: Sleeps) -> None:
    receiver.fail_matching('"a.example.com"', 2, 503)
    sink = sink_for(receiver, sleeps, max_attempts=1)

    sink.push(_order_for("b.example.com"), "msg_b")  # passes the faults by
    sink.push(_order_for("aa.example.com"), "msg_aa")  # contains a.example.com, but not the quoted name
    for _ in range(2):
        with pytest.raises(SinkUnavailable):
            sink.push(_order_for("a.example.com"), "msg_a")
    sink.push(_order_for("a.example.com"), "msg_a")  # both faults used up

    assert [(a.webhook_id, a.status) for a in receiver.attempts()] == [
        ("msg_b", 204), ("msg_aa", 204), ("msg_a", 503), ("msg_a", 503), ("msg_a", 204)]


def test_untargeted_and_targeted_faults_queue_in_order(receiver: CallbackReceiver, sleeps: Sleeps) -> None:
    receiver.fail_matching("a.example.com", 1, 502)
    receiver.fail_next(1, 500)
    sink = sink_for(receiver, sleeps, max_attempts=1)

    with pytest.raises(SinkUnavailable):
        sink.push(_order_for("b.example.com"), "msg_b")  # skips the targeted fault, takes the untargeted one
    with pytest.raises(SinkUnavailable):
        sink.push(_order_for("a.example.com"), "msg_a")
    sink.push(_order_for("a.example.com"), "msg_a")

    assert [a.status for a in receiver.attempts()] == [500, 502, 204]


def test_set_down_fails_one_name_on_every_push_until_cleared(receiver: CallbackReceiver, sleeps: Sleeps) -> None:
    receiver.set_down('"down.example.com"', 503)
    sink = sink_for(receiver, sleeps, max_attempts=1)

    for _ in range(3):
        with pytest.raises(SinkUnavailable):
            sink.push(_order_for("down.example.com"), "msg_down")
        sink.push(_order_for("up.example.com"), "msg_up")
    receiver.clear_down('"down.example.com"')
    sink.push(_order_for("down.example.com"), "msg_down")

    assert [a.status for a in receiver.attempts() if a.webhook_id == "msg_down"] == [503, 503, 503, 204]
    assert receiver.delivered_ids() == ["msg_up", "msg_down"]


def test_clear_faults_drops_the_faults_for_one_text_or_all_of_them(receiver: CallbackReceiver,
                                                                  sleeps: Sleeps) -> None:
    receiver.fail_matching('"a.example.com"', 5, 503)
    receiver.fail_matching('"b.example.com"', 5, 503)
    receiver.set_down('"c.example.com"')
    sink = sink_for(receiver, sleeps, max_attempts=1)

    receiver.clear_faults('"a.example.com"')
    sink.push(_order_for("a.example.com"), "msg_a")
    with pytest.raises(SinkUnavailable):
        sink.push(_order_for("b.example.com"), "msg_b")
    receiver.clear_faults()
    sink.push(_order_for("b.example.com"), "msg_b")
    sink.push(_order_for("c.example.com"), "msg_c")  # clear_faults() brings a down name back up too

    assert [a.status for a in receiver.attempts()] == [204, 503, 204, 204]
