"""Queue trigger events (EventBridge MNS/RocketMQ/Kafka/RabbitMQ, native MNS topic) read into order batches."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import pytest

from casrelay.errors import RelayError, UnreadableMessage
from casrelay.records import OrderRecord
from casrelay.response import status_of
from casrelay.triggers import (
    BatchInvocation,
    DirectInvocation,
    RecordProblem,
    classify,
    read_mns_topic_stream,
    read_queue_event,
)
from casrelay.triggers.batch import MAX_RECORDS
from casrelay.triggers.payload import MAX_PAYLOAD_BYTES

ACCT = "164901546557****"


def order(domain: str = "queue.example.com", **extra: Any) -> dict[str, Any]:
    return {"ProductCode": "symantec-free-1-free", "Domain": domain, "ValidateType": "DNS", **extra}


def js(value: Any) -> str:
    return json.dumps(value)


def b64(value: Any) -> str:
    text = value if isinstance(value, str) else js(value)
    return base64.b64encode(text.encode()).decode()


def cloudevent(type_: str, data: Any, id_: str = "ce-1") -> dict[str, Any]:
    return {"id": id_, "source": "test-source", "specversion": "1.0", "type": type_,
            "datacontenttype": "application/json; charset=utf-8", "subject": "acs:test", "time": "2026-11-28T06:28:17Z",
            "aliyunaccountid": ACCT, "aliyunpublishtime": "2026-11-28T06:28:17Z",
            "aliyunoriginalaccountid": ACCT, "aliyuneventbusname": "bus", "aliyunregionid": "cn-hangzhou",
            "aliyunpublishaddr": "42.120.XX.XX", "data": data}


def mns_data(body: Any, message_id: str | None = "mns-msg-1") -> dict[str, Any]:
    data: dict[str, Any] = {"requestId": "req-1", "messageBody": body}
    if message_id is not None:
        data["messageId"] = message_id
    return data


def mns(body: Any, message_id: str | None = "mns-msg-1", id_: str = "ce-1") -> dict[str, Any]:
    return cloudevent("mns:Queue:SendMessage", mns_data(body, message_id), id_)


def rocketmq_data(body: Any, uniq: str | None = "UNIQ-1", msg_id: str | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"MIN_OFFSET": "0", "MAX_OFFSET": "8", "CONSUME_START_TIME": 1628577790396}
    if uniq is not None:
        props["UNIQ_KEY"] = uniq
    data: dict[str, Any] = {"topic": "orders", "systemProperties": props, "userProperties": {}, "body": body}
    if msg_id is not None:
        data["msgId"] = msg_id
    return data


def kafka_data(value: Any, offset: int = 25) -> dict[str, Any]:
    return {"topic": "orders", "partition": 7, "offset": offset, "timestamp": 1655952591589,
            "headers": {"headers": [], "isReadOnly": False}, "key": "k", "value": value}


def rabbitmq_data(body: Any, message_id: str | None = "amqp-msg-1") -> dict[str, Any]:
    props: dict[str, Any] = {"contentEncoding": "UTF-8"}
    if message_id is not None:
        props["messageId"] = message_id
    return {"envelope": {"deliveryTag": 98, "exchange": "", "redeliver": False, "routingKey": "orders"},
            "body": body, "props": props}


def batch_of(event: Any) -> Any:
    invocation = classify(js(event).encode())
    assert isinstance(invocation, BatchInvocation)
    return invocation.batch


def only_record(event: Any) -> OrderRecord:
    batch = batch_of(event)
    assert len(batch.items) == 1 and isinstance(batch.items[0], OrderRecord), batch.items
    return batch.items[0]


def problem_of(event: Any, index: int = 0) -> RecordProblem:
    item = batch_of(event).items[index]
    assert isinstance(item, RecordProblem), item
    return item


# --- each trigger kind and mode ------------------------------------------------------------------


def test_mns_queue_streaming_reads_each_message_in_arrival_order_plain_or_base64():
    batch = batch_of([mns(js(order("a.example.com")), "m-1", "ce-1"), mns(b64(order("b.example.com")), "m-2", "ce-2")])
    assert batch.mode == "event-streaming"
    assert [(r.params["Domain"], r.trigger, r.message_id) for r in batch.items] == [
        ("a.example.com", "mns", "m-1"), ("b.example.com", "mns", "m-2")]


def test_mns_queue_event_driven_is_a_batch_of_one():
    batch = batch_of(mns(js(order("driven.example.com"))))
    assert batch.mode == "event-driven"
    assert batch.items == (OrderRecord(order("driven.example.com"), "mns", "mns-msg-1"),)


def test_mns_message_without_a_message_id_falls_back_to_the_cloudevent_id():
    assert only_record(mns(js(order()), message_id=None, id_="ce-77")).message_id == "ce-77"


@pytest.mark.parametrize(("uniq", "msg_id", "expected"), [
    ("UNIQ-1", "MSG-1", "UNIQ-1"),
    (None, "MSG-1", "MSG-1"),
    (None, None, "ce-9"),
])
def test_rocketmq_message_id_is_uniq_key_then_msg_id_then_cloudevent_id(uniq, msg_id, expected):
    event = cloudevent("mq:Topic:SendMessage", rocketmq_data(js(order()), uniq, msg_id), "ce-9")
    record = only_record(event)
    assert (record.trigger, record.message_id, record.params) == ("rocketmq", expected, order())


@pytest.mark.parametrize("streaming", [True, False])
def test_rocketmq_body_may_be_base64_in_either_mode(streaming):
    event = cloudevent("mq:Topic:SendMessage", rocketmq_data(b64(order("rmq.example.com"))))
    batch = batch_of([event] if streaming else event)
    assert batch.mode == ("event-streaming" if streaming else "event-driven")
    assert batch.items[0].params["Domain"] == "rmq.example.com"


@pytest.mark.parametrize("value", [js(order("k.example.com")), order("k.example.com"), b64(order("k.example.com"))],
                         ids=["json-text", "object", "base64"])
def test_kafka_value_may_be_json_text_an_object_or_base64(value):
    record = only_record([cloudevent("alikafka:Topic:Message", kafka_data(value))])
    assert (record.trigger, record.message_id, record.params["Domain"]) == ("kafka", "orders/7/25", "k.example.com")


def test_kafka_string_array_form_decodes_each_element():
    events = [js(cloudevent("alikafka:Topic:Message", kafka_data(js(order(f"k{i}.example.com")), 30 + i), f"ce-{i}"))
              for i in range(3)]
    batch = batch_of(events)
    assert batch.mode == "event-streaming"
    assert [(r.params["Domain"], r.message_id) for r in batch.items] == [
        (f"k{i}.example.com", f"orders/7/{30 + i}") for i in range(3)]


@pytest.mark.parametrize("body", [order("r.example.com"), js(order("r.example.com")), b64(order("r.example.com"))],
                         ids=["object", "json-string", "base64"])
def test_rabbitmq_body_may_be_an_object_a_json_string_or_base64(body):
    record = only_record([cloudevent("amqp:Queue:SendMessage", rabbitmq_data(body))])
    assert (record.trigger, record.message_id, record.params["Domain"]) == ("rabbitmq", "amqp-msg-1", "r.example.com")


def test_rabbitmq_without_a_message_id_uses_the_cloudevent_id_never_the_channel_scoped_delivery_tag():
    record = only_record(cloudevent("amqp:Queue:SendMessage", rabbitmq_data(order(), message_id=None), "ce-5"))
    assert record.message_id == "ce-5"


def test_idempotency_key_travels_with_the_order_parameters():
    record = only_record(mns(js(order(IdempotencyKey="key-1"))))
    assert record.params["IdempotencyKey"] == "key-1"


def test_a_cloudevent_data_object_delivered_as_json_text_is_read():
    assert only_record(mns(js(order())) | {"data": js(mns_data(js(order())))}).params == order()


# --- RawData ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "trigger", "message_id"), [
    (mns_data(js(order())), "mns", "mns-msg-1"),
    (rocketmq_data(js(order())), "rocketmq", "UNIQ-1"),
    (kafka_data(js(order())), "kafka", "orders/7/25"),
    (rabbitmq_data(order()), "rabbitmq", "amqp-msg-1"),
    (rabbitmq_data(order(), message_id=None), "rabbitmq", None),
], ids=["mns", "rocketmq", "kafka", "rabbitmq", "rabbitmq-no-id"])
def test_rawdata_array_is_told_by_each_brokers_message_fields(data, trigger, message_id):
    batch = batch_of([data, data])
    assert batch.mode == "raw-data"
    assert batch.items == (OrderRecord(order(), trigger, message_id),) * 2


def test_a_single_rawdata_message_is_a_batch_of_one():
    batch = batch_of(mns_data(b64(order())))
    assert (batch.mode, batch.items) == ("raw-data", (OrderRecord(order(), "mns", "mns-msg-1"),))


def test_mqtt_messages_are_not_mistaken_for_rabbitmq_rawdata():
    with pytest.raises(RelayError, match=r"props"):
        classify(js([{"props": {"firstTopic": "t", "clientId": "c"}, "body": js(order())}]))


# --- native MNS topic trigger ------------------------------------------------------------------------


def topic_notification(message: str) -> dict[str, Any]:
    return {"TopicOwner": "118620210433****", "Message": message, "Subscriber": "118620210433****",
            "PublishTime": 1550216480040, "SubscriptionName": "sub", "MessageMD5": "BA4B", "TopicName": "orders",
            "MessageId": "2F5B-1", "Extend": "{}"}


@pytest.mark.parametrize("message", [js(order("t.example.com")), b64(order("t.example.com"))], ids=["json", "base64"])
def test_mns_topic_json_notification_reads_its_message_with_the_message_id(message):
    batch = batch_of(topic_notification(message))
    assert (batch.mode, batch.items) == ("mns-topic", (OrderRecord(order("t.example.com"), "mns-topic", "2F5B-1"),))


def test_mns_topic_stream_with_attrs_is_a_batch_without_a_message_id():
    batch = batch_of({"body": js(order("s.example.com")), "attrs": {"Extend": js({"key": "value"})}})
    assert (batch.mode, batch.items) == ("mns-topic", (OrderRecord(order("s.example.com"), "mns-topic", None),))


@pytest.mark.parametrize("text", [
    js(order("s.example.com")),
    b64(order("s.example.com")),
    js({"body": b64(order("s.example.com")), "attrs": {}}),
], ids=["json", "base64", "with-attrs"])
def test_mns_topic_stream_text_is_read_when_the_caller_knows_the_trigger(text):
    batch = read_mns_topic_stream(text)
    assert (batch.mode, batch.items) == ("mns-topic", (OrderRecord(order("s.example.com"), "mns-topic", None),))


def test_mns_topic_stream_of_a_bare_order_is_a_direct_invocation_with_the_same_order():
    invocation = classify(js(order("s.example.com")).encode())
    assert isinstance(invocation, DirectInvocation) and invocation.record.params == order("s.example.com")


def test_mns_topic_stream_text_that_is_not_json_is_still_refused_as_not_json():
    with pytest.raises(RelayError, match="not JSON"):
        classify(b"hello topic")
    problem = read_mns_topic_stream("hello topic").items[0]
    assert isinstance(problem, RecordProblem) and problem.error.errors[0].field == "event"


# --- unreadable messages set aside, the rest proceeds -------------------------------------------------


@pytest.mark.parametrize(("body", "why"), [
    ("hello world", r"data\.messageBody is not JSON \(.*\) and not base64"),
    ("eyJEb21haW4iOiJhY", r"data\.messageBody is not JSON, and as base64 it does not decode"),
    ("TEST", r"data\.messageBody is not JSON, and its base64 decodes to bytes that are not UTF-8"),
    (b64("hello"), r"data\.messageBody is not JSON, and its base64 decodes to text that is not JSON"),
    (js([order()]), r"data\.messageBody is a JSON array of 1 element\(s\), not an object"),
    (b64([order()]), r"data\.messageBody decodes from base64 to a JSON array of 1 element\(s\), not an object"),
    ("1234", r"data\.messageBody is a JSON number, not an object"),
    ("", r"data\.messageBody is empty"),
    (None, r"data\.messageBody is JSON null, not an object"),
], ids=["text", "bad-base64", "base64-binary", "base64-text", "json-array", "base64-array", "number", "empty", "null"])
def test_an_unreadable_message_becomes_a_problem_at_its_index_while_the_others_proceed(body, why):
    batch = batch_of([mns(js(order("a.example.com")), "m-0"), mns(body, "m-1"),
                      mns(b64(order("c.example.com")), "m-2")])
    first, bad, last = batch.items
    assert isinstance(first, OrderRecord) and first.params["Domain"] == "a.example.com"
    assert isinstance(last, OrderRecord) and last.params["Domain"] == "c.example.com"
    assert isinstance(bad, RecordProblem)
    assert (bad.index, bad.trigger, bad.message_id) == (1, "mns", "m-1")
    assert isinstance(bad.error, UnreadableMessage)
    assert (status_of(bad.error), bad.error.code, bad.error.transient) == (400, "MalformedMessage", False)
    assert bad.error.errors[0].field == "data.messageBody"
    assert re.fullmatch(why + ".*", bad.error.message), bad.error.message


def test_problem_messages_never_echo_the_payload():
    problem = problem_of([mns("tom.zhang@example.com 13000000000")])
    assert "example.com" not in problem.error.message and "1300" not in problem.error.message


@pytest.mark.parametrize(("event", "field"), [
    (cloudevent("mns:Queue:SendMessage", {"messageId": "m-1"}), "data.messageBody"),
    (cloudevent("alikafka:Topic:Message", {"topic": "t", "partition": 1, "offset": 2}), "data.value"),
    (cloudevent("amqp:Queue:SendMessage", "plain text"), "data"),
], ids=["mns-no-body", "kafka-no-value", "rabbitmq-data-not-object"])
def test_a_cloudevent_of_a_known_type_without_its_payload_is_a_problem_not_an_error(event, field):
    problem = problem_of(event)
    assert problem.error.errors[0].field == field
    assert re.search("is missing|not the message object", problem.error.message)


def test_unrecognised_elements_of_a_recognised_batch_are_problems_in_their_place():
    batch = batch_of([mns(js(order())), 42, "not json", cloudevent("oss:ObjectCreated", {"bucket": "b"}, "ce-x")])
    assert isinstance(batch.items[0], OrderRecord)
    number, text, oss = batch.items[1:]
    assert isinstance(number, RecordProblem) and "is a JSON number, not a queue message" in number.error.message
    assert isinstance(text, RecordProblem) and "is a string that is not JSON" in text.error.message
    assert isinstance(oss, RecordProblem) and (oss.index, oss.trigger, oss.message_id) == (3, "unknown", "ce-x")
    assert "oss:ObjectCreated" in oss.error.message


# --- events that are no queue trigger's ------------------------------------------------------------


@pytest.mark.parametrize(("event", "seen"), [
    ([1, 2, 3], "a JSON array of 3 element(s): a JSON number"),
    ([], "an empty JSON array"),
    (["a", "b"], "a JSON array of 2 element(s): a JSON string"),
    (cloudevent("oss:ObjectCreated", {"bucket": "b", "key": "k"}),
     "a CloudEvent of type 'oss:ObjectCreated' whose data is a JSON object with keys [bucket, key]"),
    ([cloudevent("dts:ConsumeMessage", {"x": 1})], "a CloudEvent of type 'dts:ConsumeMessage'"),
    ({"triggerTime": "t", "payload": ""}, "keys [payload, triggerTime]"),
    ({"Message": js(order())}, "keys [Message]"),
], ids=["numbers", "empty", "strings", "unknown-cloudevent", "dts", "half-a-timer", "message-only"])
def test_an_unrecognised_event_raises_saying_what_was_seen(event, seen):
    with pytest.raises(RelayError) as info:
        classify(js(event).encode())
    assert info.value.code == "MalformedRequest"
    assert seen in info.value.message
    assert "queue trigger event" in info.value.message


def test_a_timer_event_is_a_timer_invocation_that_runs_the_sweep():
    from casrelay.triggers import TimerInvocation

    invocation = classify(js({"triggerTime": "2026-12-01T00:00:00Z", "triggerName": "sweep", "payload": "x"}).encode())
    assert invocation == TimerInvocation("sweep", "2026-12-01T00:00:00Z", "x")


def test_a_cloudevent_of_an_application_type_carrying_an_order_is_an_eventbridge_record():
    record = only_record(cloudevent("com.example.cert.requested", order("app.example.com"), "ce-app"))
    assert (record.trigger, record.message_id, record.params["Domain"]) == ("eventbridge", "ce-app",
                                                                            "app.example.com")


def test_an_order_is_a_direct_invocation_even_with_keys_a_queue_event_has():
    invocation = classify(js(order(data={"messageBody": "x"}, type="mns:Queue:SendMessage")).encode())
    assert isinstance(invocation, DirectInvocation)
    assert read_queue_event(order()) is None


def test_already_decoded_events_are_classified_like_bytes():
    assert isinstance(classify([mns(js(order()))]), BatchInvocation)
    assert isinstance(classify(mns(js(order()))), BatchInvocation)


# --- bounds ------------------------------------------------------------------------------------------


def test_a_batch_beyond_the_record_cap_reads_the_cap_and_sets_the_tail_aside_as_one_problem():
    event = js([mns(js(order()), f"m-{i}", f"ce-{i}") for i in range(MAX_RECORDS + 5)]).encode()
    started = time.monotonic()
    batch = classify(event).batch
    assert time.monotonic() - started < 2
    assert len(batch.items) == MAX_RECORDS + 1
    assert all(isinstance(i, OrderRecord) for i in batch.items[:MAX_RECORDS])
    tail = batch.items[-1]
    assert isinstance(tail, RecordProblem) and (tail.index, tail.trigger) == (MAX_RECORDS, "mns")
    assert tail.error.errors[0].code == "TooMany"
    assert f"holds {MAX_RECORDS + 5} messages" in tail.error.message


def test_the_record_cap_can_be_lowered_by_the_caller():
    batch = read_queue_event([mns(js(order()))] * 4, max_records=2)
    assert batch is not None and [type(i).__name__ for i in batch.items] == ["OrderRecord"] * 2 + ["RecordProblem"]


@pytest.mark.parametrize("encode", [js, b64, lambda o: o], ids=["json", "base64", "object"])
def test_a_payload_over_the_size_cap_is_a_problem(encode):
    huge = order(Username="x" * (MAX_PAYLOAD_BYTES + 1))
    batch = batch_of([rabbitmq_data(encode(huge)), rabbitmq_data(order())])
    problem, fine = batch.items
    assert isinstance(problem, RecordProblem) and problem.error.errors[0].code == "TooLarge"
    assert f"the limit for one order is {MAX_PAYLOAD_BYTES}" in problem.error.message
    assert isinstance(fine, OrderRecord)


def test_a_payload_just_under_the_cap_is_read():
    padded = order(Username="")
    padded["Username"] = "x" * (MAX_PAYLOAD_BYTES - len(js(padded)))
    assert len(js(padded).encode()) == MAX_PAYLOAD_BYTES
    assert only_record(mns(js(padded))).params == padded
