"""Example-based regressions for bugs the property tests (tests/*/test_properties_*.py) found.

1. A CSR whose version field is not v1 (0): ``cryptography`` refuses it with ``x509.InvalidVersion``, which
is not a ``ValueError``, so ``inspect_csr`` let it escape. The HTTP trigger answered 500, and a direct
or queue invocation was redelivered forever as a transient failure, for what is a bad order.

2. A lone surrogate from the input (JSON carries one as a \\udXXX escape) broke every text that is
encoded as UTF-8 on the way out: the log line was dropped, and the downstream message of a refused order
could not be written by any sink, so a permanently invalid order was redelivered forever (see below).
"""

from __future__ import annotations

import json

import pytest

from casrelay import config, log
from casrelay.errors import InvalidOrder
from casrelay.push.base import encode_message
from casrelay.validation import validate_order
from casrelay.validation.csr import inspect_csr
from devkit.fc_local import load_index, make_context
from tests.conftest import invoke_direct
from tests.csr_factory import der_of, make_csr, pem_of

VERSION_AT = 10  # SEQUENCE (30 82 ll ll) { SEQUENCE (30 82 ll ll) { INTEGER (02 01) version ...


def csr_with_version(version: int) -> str:
    der = bytearray(der_of(make_csr("www.example.com", "rsa2048")))
    assert der[VERSION_AT - 2: VERSION_AT + 1] == b"\x02\x01\x00", "the DER layout changed"
    der[VERSION_AT] = version
    return pem_of(bytes(der))


@pytest.mark.parametrize("version", [1, 2, 16, 0x7F])
def test_a_csr_with_a_version_other_than_v1_is_refused_not_raised(version):
    info, errors = inspect_csr(csr_with_version(version))
    assert info is None
    assert [(e.field, e.code) for e in errors] == [("Csr", "InvalidCsr.Format")]


def test_an_order_with_a_csr_of_another_version_is_an_invalid_order():
    with pytest.raises(InvalidOrder) as info:
        validate_order({"ProductCode": "geotrust-dv-1-starter", "Csr": csr_with_version(16)}, config.load({}))
    assert [(e.field, e.code) for e in info.value.errors] == [("Csr", "InvalidCsr.Format")]


def test_http_order_with_a_csr_of_another_version_is_400_not_500(client, embedded):
    res = client.request({"ProductCode": "geotrust-dv-1-starter", "Csr": csr_with_version(16)})
    assert res["statusCode"] == 400, res["body"]
    assert [(e["Field"], e["Code"]) for e in client.json(res)["Errors"]] == [("Csr", "InvalidCsr.Format")]
    assert embedded.emulator.orders() == []


def test_direct_order_with_a_csr_of_another_version_is_refused_not_redelivered(embedded):
    result = invoke_direct({"ProductCode": "geotrust-dv-1-starter", "Csr": csr_with_version(16)})
    assert result["Status"] == 400 and result["Code"] == "InvalidParameter"
    assert embedded.emulator.orders() == []


# A lone surrogate in the input (JSON carries one as a \udXXX escape) reached a log line, for example as an
# unknown parameter's name in ``order.failed``. ``json.dumps(ensure_ascii=False)`` kept it, stdout could
# not encode the line as UTF-8, and logging dropped the whole line (printing a "Logging error" instead).

SURROGATE_KEY_BODY = '{"Domain": "www.example.com", "Domian\\ud800": "x"}'  # JSON text, all ASCII


def _log_events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_a_log_line_with_a_lone_surrogate_from_the_input_is_still_written(capsys):
    log.emit("order.failed", fields=["Domian\ud800"])
    captured = capsys.readouterr()
    assert "Logging error" not in captured.err
    assert _log_events(captured.out) == [{**_log_events(captured.out)[0], "fields": ["Domian\ud800"]}]


def test_http_order_with_a_lone_surrogate_in_a_parameter_name_is_logged(client, capsys):
    res = client.request(SURROGATE_KEY_BODY, headers={"Content-Type": "application/json"})
    assert res["statusCode"] == 400
    captured = capsys.readouterr()
    assert "Logging error" not in captured.err
    failed = [e for e in _log_events(captured.out) if e["event"] == "order.failed"]
    # A name the client made up is its own text (it could be an e-mail address): the line says "(other)".
    assert len(failed) == 1 and failed[0]["fields"] == ["(other)"]


def test_direct_order_with_a_lone_surrogate_in_a_parameter_name_is_refused_logged_and_reported(embedded, capsys):
    result = invoke_direct(json.loads(SURROGATE_KEY_BODY))  # it raised TransientFailure: redelivered forever
    assert result["Status"] == 400
    captured = capsys.readouterr()
    assert "Logging error" not in captured.err
    events = [e["event"] for e in _log_events(captured.out)]
    assert events.count("order.failed") == 1 and "sink.failed" not in events
    [reported] = embedded.pushed()
    assert reported["Type"] == "certificate.order.failed"
    assert "Domian\ud800" in [e["Field"] for e in reported["Error"]["Errors"]]


def test_queue_order_with_a_lone_surrogate_in_a_parameter_name_is_set_aside_not_redelivered(embedded):
    event = {"TopicOwner": "1186", "TopicName": "cert-orders", "MessageId": "M-surrogate",
             "Message": SURROGATE_KEY_BODY}
    summary = load_index().handler(json.dumps(event).encode(), make_context())
    assert summary["Transient"] == 0 and summary["Counts"] == {"invalid": 1}
    assert [m["Type"] for m in embedded.pushed()] == ["certificate.order.failed"]


def test_a_sink_message_with_a_lone_surrogate_is_utf8_json_that_reads_back_the_same():
    message = {"Id": "msg-1", "Error": {"Errors": [{"Field": "Domian\ud800"}]}, "Note": "例子"}
    text = encode_message("file", message)
    text.encode("utf-8")
    assert json.loads(text) == message
    assert encode_message("file", {"Note": "例子"}) == '{"Note":"例子"}'  # non-ASCII stays readable
