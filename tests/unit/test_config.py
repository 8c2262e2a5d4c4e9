"""The configuration contract: names, defaults, and a clear error naming the variable."""

from __future__ import annotations

import base64

import pytest

from casrelay.config import ConfigError, load


def test_defaults_point_at_the_real_cas_over_https():
    s = load({})
    assert (s.cas_endpoint, s.cas_region, s.cas_protocol) == ("cas.aliyuncs.com", "cn-hangzhou", "https")
    assert s.webhook_auth_required
    assert s.default_product_code == "symantec-free-1-free"


@pytest.mark.parametrize("endpoint", ["127.0.0.1:8089", "localhost:1", "[::1]:80"])
def test_http_is_allowed_for_a_loopback_endpoint(endpoint):
    assert load({"CAS_PROTOCOL": "http", "CAS_ENDPOINT": endpoint}).cas_protocol == "http"


def test_http_to_a_remote_endpoint_is_refused():
    with pytest.raises(ConfigError, match="CAS_PROTOCOL"):
        load({"CAS_PROTOCOL": "http"})


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"CAS_ENDPOINT": "https://cas.aliyuncs.com"}, "CAS_ENDPOINT"),
        ({"CAS_PROTOCOL": "ftp"}, "CAS_PROTOCOL"),
        ({"WEBHOOK_AUTH": "maybe"}, "WEBHOOK_AUTH"),
        ({"WEBHOOK_SECRETS": "plain"}, "WEBHOOK_SECRETS"),
        ({"CAS_READ_TIMEOUT_MS": "soon"}, "CAS_READ_TIMEOUT_MS"),
        ({"CAS_CONNECT_TIMEOUT_MS": "1"}, "CAS_CONNECT_TIMEOUT_MS"),
        ({"MAX_BODY_BYTES": "-5"}, "MAX_BODY_BYTES"),
        ({"DEFAULT_PRODUCT_CODE": "free"}, "DEFAULT_PRODUCT_CODE"),
    ],
)
def test_a_bad_value_raises_an_error_that_names_the_variable(env, name):
    with pytest.raises(ConfigError, match=name):
        load(env)


A_SECRET = "whsec_" + base64.b64encode(b"a" * 24).decode()
B_SECRET = "whsec_" + base64.b64encode(b"b" * 32).decode().rstrip("=")  # padding may be left off


def test_webhook_secrets_are_space_separated_and_never_shown_in_repr():
    s = load({"WEBHOOK_SECRETS": f"{A_SECRET} {B_SECRET}"})
    assert s.webhook_secrets == (A_SECRET, B_SECRET)
    assert "whsec_" not in repr(s)


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("whsec_!!!!", "not whsec_ followed by base64"),  # the library decodes this to an empty key and raises
        ("whsec_", "0 bytes"),
        ("whsec_c2hvcnQ=", "5 bytes"),  # it would verify nothing, so every order would get 401
        ("whsec_" + base64.b64encode(b"x" * 23).decode(), "23 bytes"),
    ],
)
def test_a_webhook_secret_must_be_base64_of_at_least_24_bytes_and_the_error_never_shows_it(secret, reason):
    with pytest.raises(ConfigError, match="WEBHOOK_SECRETS entry 2") as err:
        load({"WEBHOOK_SECRETS": f"{A_SECRET} {secret}"})
    assert reason in str(err.value)
    assert secret not in str(err.value) and A_SECRET not in str(err.value)


@pytest.mark.parametrize(
    "endpoint",
    ["garbage text !", pytest.param("x" * 5000, id="very-long"), "ünï.example.com", "-1", "127.0.0.1:99999",
     "127.0.0.1:0", "host:port", "::1", "[::1", "user@cas.aliyuncs.com", "cas..aliyuncs.com", "cas.aliyuncs.com?x=1"],
)
def test_a_cas_endpoint_that_is_not_host_and_port_is_refused_at_start_not_at_the_first_order(endpoint):
    with pytest.raises(ConfigError, match="CAS_ENDPOINT"):
        load({"CAS_ENDPOINT": endpoint})


@pytest.mark.parametrize("endpoint", ["cas.aliyuncs.com", "cas.ap-southeast-1.aliyuncs.com:443", "10.0.0.8",
                                      "cas-vpc.cn-hangzhou.aliyuncs.com."])
def test_a_cas_endpoint_host_with_an_optional_port_is_accepted(endpoint):
    assert load({"CAS_ENDPOINT": endpoint}).cas_endpoint == endpoint


@pytest.mark.parametrize("region", ["garbage text !", "ünï", "cn_hangzhou", pytest.param("x" * 65, id="too-long")])
def test_a_cas_region_that_is_not_a_region_id_is_refused(region):
    with pytest.raises(ConfigError, match="CAS_REGION"):
        load({"CAS_REGION": region})


def test_a_cas_ca_file_must_hold_certificates(tmp_path):
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="CAS_CA_FILE"):
        load({"CAS_CA_FILE": str(not_pem)})
    with pytest.raises(ConfigError, match="CAS_CA_FILE"):
        load({"CAS_CA_FILE": str(tmp_path)})  # a directory


@pytest.mark.parametrize("name", ["ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                                  "ALIBABA_CLOUD_SECURITY_TOKEN"])
@pytest.mark.parametrize("value", ["ünï中文", "two words", pytest.param("x" * 20000, id="very-long")])
def test_credentials_that_cannot_be_sent_are_refused_naming_the_variable_and_not_the_value(name, value):
    with pytest.raises(ConfigError, match=name) as err:
        load({name: value})
    assert value not in str(err.value)
