"""The SQS sink through boto3, against moto in-process (``mock_aws``) and moto's server on loopback.

Fake credentials and ``AWS_EC2_METADATA_DISABLED`` are set for every test, so botocore's credential
chain never looks beyond the environment (no instance-metadata call), and every connection is checked
to stay on loopback.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from casrelay.push import SinkMisconfigured, SinkRejected, SinkUnavailable, SqsSink, build_sinks
from tests.sink_fixtures import forbid_non_loopback

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

ORDER = {"Version": 1, "Id": "msg_0123", "Order": {"OrderId": 98987582437920968, "Domains": ["www.example.com"]}}
MSG_ID = "msg_0123"
REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    forbid_non_loopback(monkeypatch)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_SQS", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))


@pytest.fixture()
def mocked() -> Iterator[Any]:
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


def _receive_all(client: Any, url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                     AttributeNames=["All"], WaitTimeSeconds=0)
        batch = got.get("Messages", [])
        if not batch:
            return out
        out.extend(batch)


def test_standard_queue_by_name(mocked: Any) -> None:
    url = mocked.create_queue(QueueName="orders")["QueueUrl"]
    [sink] = build_sinks("sqs://orders", {"SQS_REGION": REGION})
    assert isinstance(sink, SqsSink) and sink.name == "sqs://orders@us-east-1"
    sink.push(ORDER, MSG_ID)

    [msg] = _receive_all(mocked, url)
    assert json.loads(msg["Body"]) == ORDER
    assert msg["Body"] == json.dumps(ORDER, separators=(",", ":"))
    assert msg["MessageAttributes"]["message_id"] == {"StringValue": MSG_ID, "DataType": "String"}


def test_fifo_queue_deduplicates_by_message_id(mocked: Any) -> None:
    url = mocked.create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    [sink] = build_sinks("sqs://orders.fifo?region=us-east-1&group=certs", {})
    sink.push(ORDER, MSG_ID)
    sink.push(ORDER, MSG_ID)  # a re-push of the same outcome
    sink.push({**ORDER, "Id": "msg_0456"}, "msg_0456")

    messages = _receive_all(mocked, url)
    assert [m["Attributes"]["MessageDeduplicationId"] for m in messages] == [MSG_ID, "msg_0456"]
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"certs"}


def test_another_accounts_queue_by_url(mocked: Any) -> None:
    url = mocked.create_queue(QueueName="orders")["QueueUrl"]
    account = url.rstrip("/").split("/")[-2]
    [sink] = build_sinks(f"sqs+https://sqs.us-east-1.amazonaws.com/{account}/orders", {})
    assert sink.name == "sqs://orders@us-east-1"
    sink.push(ORDER, MSG_ID)
    assert len(_receive_all(mocked, url)) == 1


def test_a_missing_queue_is_misconfigured_and_transient(mocked: Any) -> None:
    [sink] = build_sinks("sqs://no-such-queue?region=us-east-1", {})
    with pytest.raises(SinkMisconfigured) as info:
        sink.push(ORDER, MSG_ID)
    assert info.value.transient
    assert info.value.code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


def test_missing_credentials_are_misconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    sink = SqsSink("orders", REGION, queue_url="http://127.0.0.1:9/123456789012/orders",
                   endpoint_url="http://127.0.0.1:9", max_attempts=1)
    with pytest.raises(SinkMisconfigured, match="AWS_ACCESS_KEY_ID"):
        sink.push(ORDER, MSG_ID)


def test_an_unreachable_endpoint_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    [sink] = build_sinks(f"sqs+http://127.0.0.1:{port}/123456789012/orders?region=us-east-1",
                         {"CALLBACK_MAX_ATTEMPTS": "1", "CALLBACK_TIMEOUT_MS": "500"})
    with pytest.raises(SinkUnavailable) as info:
        sink.push(ORDER, MSG_ID)
    assert info.value.transient and "EndpointConnectionError" in str(info.value)


@pytest.mark.parametrize(("code", "status", "kind", "transient"), [
    ("ThrottlingException", 400, SinkUnavailable, True),
    ("RequestThrottled", 403, SinkUnavailable, True),
    ("InternalError", 500, SinkUnavailable, True),
    ("SomethingNew", 503, SinkUnavailable, True),
    ("AccessDenied", 403, SinkMisconfigured, True),
    ("InvalidClientTokenId", 403, SinkMisconfigured, True),
    ("KMS.AccessDeniedException", 400, SinkMisconfigured, True),
    ("InvalidMessageContents", 400, SinkRejected, False),
    ("MessageTooLong", 400, SinkRejected, False),
])
def test_botocore_errors_are_mapped(code: str, status: int, kind: type, transient: bool) -> None:
    from botocore.exceptions import ClientError

    class FailingClient:
        def send_message(self, **kwargs: Any) -> None:
            raise ClientError({"Error": {"Code": code, "Message": "arn:aws:sqs:… secret-ish text"},
                               "ResponseMetadata": {"HTTPStatusCode": status}}, "SendMessage")

    sink = SqsSink("orders", REGION, queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/orders",
                   client=FailingClient())
    with pytest.raises(kind) as info:
        sink.push(ORDER, MSG_ID)
    assert info.value.transient is transient and info.value.code == code and info.value.status == status
    assert "secret-ish" not in str(info.value)


# --- moto's server on loopback: the real HTTP path ------------------------------------------------


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_server_mode_by_name_with_endpoint_url(moto_server: str) -> None:
    admin = boto3.client("sqs", region_name=REGION, endpoint_url=moto_server)
    url = admin.create_queue(QueueName="server-orders")["QueueUrl"]
    [sink] = build_sinks(f"sqs://server-orders?region=us-east-1&endpoint_url={quote(moto_server, safe='')}", {})
    sink.push(ORDER, MSG_ID)
    [msg] = _receive_all(admin, url)
    assert json.loads(msg["Body"]) == ORDER


def test_server_mode_by_queue_url_fifo(moto_server: str) -> None:
    admin = boto3.client("sqs", region_name=REGION, endpoint_url=moto_server)
    url = admin.create_queue(QueueName="server-orders.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    account = url.rstrip("/").split("/")[-2]
    [sink] = build_sinks(f"sqs+{moto_server}/{account}/server-orders.fifo?region=us-east-1", {})
    sink.push(ORDER, MSG_ID)
    sink.push(ORDER, MSG_ID)
    [msg] = _receive_all(admin, url)
    assert msg["Attributes"]["MessageDeduplicationId"] == MSG_ID
    assert msg["Attributes"]["MessageGroupId"] == "casrelay"
