"""The configuration contract: names, defaults, and a clear error naming the variable."""

from __future__ import annotations

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


def test_webhook_secrets_are_space_separated_and_never_shown_in_repr():
    s = load({"WEBHOOK_SECRETS": "whsec_AAAA whsec_BBBB"})
    assert s.webhook_secrets == ("whsec_AAAA", "whsec_BBBB")
    assert "whsec_" not in repr(s)
