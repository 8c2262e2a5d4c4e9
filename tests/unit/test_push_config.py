"""``ORDER_SINKS`` parsing and the sink variables: every mistake fails at start-up, named, secret-free."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from casrelay.config import ConfigError
from casrelay.push import (
    CallbackSink,
    FileSink,
    MnsSink,
    PushConfig,
    SinkConfigError,
    SqsSink,
    StdoutSink,
    build_sinks,
    load_config,
)
from tests.sink_fixtures import CALLBACK_SECRET, OTHER_SECRET

ENV = {"CALLBACK_SECRET": CALLBACK_SECRET, "MNS_ENDPOINT": "https://1234567890.mns.cn-hangzhou.aliyuncs.com",
       "SQS_REGION": "eu-west-1"}


def test_every_form_builds_in_order() -> None:
    spec = ("https://hooks.example.com/cas, mns://orders ,sqs://orders.fifo,"
            "sqs+https://sqs.ap-southeast-1.amazonaws.com/123456789012/certs,file:///tmp/casrelay/o.jsonl,stdout:,")
    sinks = build_sinks(spec, ENV)
    assert [type(s) for s in sinks] == [CallbackSink, MnsSink, SqsSink, SqsSink, FileSink, StdoutSink]
    assert [s.name for s in sinks] == [
        "https://hooks.example.com/cas", "mns://orders", "sqs://orders.fifo@eu-west-1",
        "sqs://certs@ap-southeast-1", "file:///tmp/casrelay/o.jsonl", "stdout:"]
    mns = sinks[1]
    assert isinstance(mns, MnsSink) and mns.endpoint == ENV["MNS_ENDPOINT"] and mns.base64_body


def test_nothing_configured_means_no_sinks() -> None:
    assert build_sinks("", {}) == []
    assert build_sinks(" , ", {}) == []


def test_errors_are_config_errors_naming_the_variable_and_entry() -> None:
    with pytest.raises(SinkConfigError) as info:
        build_sinks("stdout:,ftp://files.example.com/drop", {})
    err = info.value
    assert isinstance(err, ConfigError) and isinstance(err, ValueError)
    assert "ORDER_SINKS entry 2" in str(err) and "ftp://files.example.com/drop" in str(err)
    assert "unknown scheme" in str(err)


@pytest.mark.parametrize(("spec", "fragment"), [
    ("https://user:hunter2@hooks.example.com/cas?token=sekrit#frag", "fragment"),
    ("https://user:hunter2@[::1/cas?token=sekrit", "not a URL"),
    ("gopher://user:hunter2@hooks.example.com/?token=sekrit", "unknown scheme"),
    ("https://user:hunter2@hooks.example.com:99999/?token=sekrit", "valid URL"),
])
def test_errors_never_show_credentials_from_the_entry(spec: str, fragment: str) -> None:
    with pytest.raises(SinkConfigError) as info:
        build_sinks(spec, ENV)
    text = str(info.value)
    assert fragment in text
    assert "hunter2" not in text and "sekrit" not in text


def test_urls_that_differ_only_in_a_secret_are_different_sinks() -> None:
    a, b = build_sinks("https://hooks.example.com/cas?token=one,https://hooks.example.com/cas?token=two", ENV)
    assert a.name != b.name and "one" not in a.name and "two" not in b.name


def test_callbacks_need_a_valid_secret() -> None:
    with pytest.raises(SinkConfigError, match="CALLBACK_SECRET is required"):
        build_sinks("https://hooks.example.com/cas", {})
    for bad, why in [("not-whsec", "does not start with whsec_"), ("whsec_***", "base64"),
                     ("whsec_c2hvcnQ=", "at least 24")]:
        with pytest.raises(SinkConfigError, match=why) as info:
            load_config({"CALLBACK_SECRET": bad})
        assert bad not in str(info.value)
    assert load_config({"CALLBACK_SECRET": f"{CALLBACK_SECRET} {OTHER_SECRET}"}).callback_secrets == (
        CALLBACK_SECRET, OTHER_SECRET)


def test_plain_http_only_for_allowed_hosts() -> None:
    with pytest.raises(SinkConfigError, match="CALLBACK_ALLOW_HOSTS"):
        build_sinks("http://hooks.example.com/cas", ENV)
    [sink] = build_sinks("http://127.0.0.1:8090/cas", {**ENV, "CALLBACK_ALLOW_HOSTS": "127.0.0.1, localhost"})
    assert isinstance(sink, CallbackSink) and sink.allow_hosts == {"127.0.0.1", "localhost"}
    for bad in ("http://127.0.0.1/", "127.0.0.1:8090", "bücher.example"):
        with pytest.raises(SinkConfigError, match="CALLBACK_ALLOW_HOSTS"):
            load_config({"CALLBACK_ALLOW_HOSTS": bad})
    assert load_config({"CALLBACK_ALLOW_HOSTS": "[::1],127.1,Hooks.Test."}).callback_allow_hosts == {
        "::1", "127.0.0.1", "hooks.test"}


def test_timeouts_and_attempts_reach_the_sinks() -> None:
    env = {**ENV, "CALLBACK_TIMEOUT_MS": "1500", "CALLBACK_MAX_ATTEMPTS": "5"}
    callback, mns, sqs = build_sinks("https://hooks.example.com/cas,mns://orders,sqs://orders", env)
    assert isinstance(callback, CallbackSink) and (callback.timeout_s, callback.max_attempts) == (1.5, 5)
    assert isinstance(mns, MnsSink) and (mns.timeout_s, mns.max_attempts) == (1.5, 5)
    assert isinstance(sqs, SqsSink) and (sqs.timeout_s, sqs.max_attempts) == (1.5, 5)
    for name, value in [("CALLBACK_TIMEOUT_MS", "50"), ("CALLBACK_TIMEOUT_MS", "soon"),
                        ("CALLBACK_MAX_ATTEMPTS", "0"), ("CALLBACK_MAX_ATTEMPTS", "11")]:
        with pytest.raises(SinkConfigError, match=name):
            load_config({name: value})


def test_defaults_and_a_secret_free_repr() -> None:
    cfg = load_config({"CALLBACK_SECRET": CALLBACK_SECRET, "ORDER_SINKS": "https://u:hunter2@h.example.com/"})
    assert (cfg.callback_timeout_ms, cfg.callback_max_attempts, cfg.mns_endpoint, cfg.sqs_region) == (
        5000, 3, None, None)
    assert cfg.order_sinks == ("https://u:hunter2@h.example.com/",)
    assert CALLBACK_SECRET not in repr(cfg) and "hunter2" not in repr(cfg)
    assert isinstance(cfg, PushConfig)


@pytest.mark.parametrize(("spec", "env", "fragment"), [
    ("mns://orders", {}, "MNS_ENDPOINT"),
    ("mns://orders?endpoint=ftp%3A%2F%2Fx", {}, "http(s)://host"),
    ("mns://1orders", ENV, "queue name"),
    ("mns://orders/extra", ENV, "mns://QUEUE"),
    ("mns://orders?region=x", ENV, "unknown parameter(s) region"),
    ("mns://orders?base64=maybe", ENV, "base64 must be"),
    ("sqs://orders", {}, "region"),
    ("sqs://orders?region=mars-1", {}, "not an AWS region"),
    ("sqs://orders?region=us-east-1&account=12", {}, "12-digit"),
    ("sqs://orders?region=us-east-1&endpoint_url=http%3A%2F%2Fsqs.example.com", {}, "loopback"),
    ("sqs://bad$name?region=us-east-1", {}, "queue name"),
    ("sqs+https://sqs.us-east-1.amazonaws.com/orders", {}, "ACCOUNT_ID/QUEUE_NAME"),
    ("sqs+http://sqs.us-east-1.amazonaws.com/123456789012/orders", {}, "loopback"),
    ("sqs+https://sqs.us-east-1.amazonaws.com/123456789012/orders?endpoint_url=x", {}, "unknown parameter"),
    ("file://relative/path.jsonl", {}, "no host"),
    ("file:///tmp/dir/", {}, "name a file"),
    ("stdout:please", {}, "exactly stdout:"),
    ("https://hooks.example.com/a,https://HOOKS.example.com/a", ENV, "repeats entry 1"),
    ("https://bücher.example/hook", ENV, "punycode"),
    ("https://under score!.example/hook", ENV, "neither an IP address nor a DNS name"),
])
def test_bad_entries(spec: str, env: dict[str, str], fragment: str) -> None:
    with pytest.raises(SinkConfigError) as info:
        build_sinks(spec, env)
    assert "ORDER_SINKS" in str(info.value) and fragment in str(info.value)


def test_mns_endpoint_and_region_variables_are_checked() -> None:
    with pytest.raises(SinkConfigError, match="MNS_ENDPOINT"):
        load_config({"MNS_ENDPOINT": "1234.mns.cn-hangzhou.aliyuncs.com"})
    with pytest.raises(SinkConfigError, match="MNS_ENDPOINT"):
        load_config({"MNS_ENDPOINT": "https://1234.mns.cn-hangzhou.aliyuncs.com/queues"})
    with pytest.raises(SinkConfigError, match="AWS_REGION"):
        load_config({"AWS_REGION": "nowhere"})
    assert load_config({"AWS_REGION": "us-west-2"}).sqs_region == "us-west-2"
    assert load_config({"AWS_REGION": "us-west-2", "SQS_REGION": "eu-central-1"}).sqs_region == "eu-central-1"


def test_the_sqs_region_comes_from_the_queue_url_host() -> None:
    [sink] = build_sinks("sqs+https://sqs.cn-north-1.amazonaws.com.cn/123456789012/orders", {"AWS_REGION": "us-east-1"})
    assert isinstance(sink, SqsSink) and sink.region == "cn-north-1" and sink.endpoint_url is None


def test_importing_the_package_loads_no_optional_sdk() -> None:
    code = ("import sys; import casrelay.push; "
            "bad = [m for m in ('mns', 'boto3', 'botocore', 'standardwebhooks') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    handler = Path(__file__).resolve().parents[2] / "handler"
    result = subprocess.run([sys.executable, "-c", code], cwd=handler, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
