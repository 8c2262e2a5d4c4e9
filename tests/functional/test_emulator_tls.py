"""The CAS emulator's HTTPS mode, driven by the real SDK (alibabacloud_cas20200407 over requests/urllib3).

``CasEmulator(tls=True)`` serves TLS with a server certificate for 127.0.0.1/localhost from a throwaway
trustme CA; the client trusts it through ``RuntimeOptions(ca=emu.ca_file)``, as the function does with
``CAS_CA_FILE``. The faults here are the two that decide whether a paid call may be resent: a failed
handshake (nothing was read, nothing ordered) and a TLS error after the order was committed (the order
exists, the client sees a transport error).
"""

from __future__ import annotations

import json
import ssl
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from alibabacloud_cas20200407 import models as cas_models
from alibabacloud_cas20200407.client import Client
from alibabacloud_tea_openapi.exceptions import ServerException
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.exceptions import UnretryableException
from darabonba.runtime import RuntimeOptions

from devkit.cas_emulator import (
    ACTION_CREATE,
    DEMO_ACCESS_KEY_ID,
    DEMO_ACCESS_KEY_SECRET,
    HANDSHAKE_MODES,
    OUTCOME_TLS_ERROR_AFTER_COMMIT,
    TLS_BREAK_GARBAGE,
    TLS_BREAK_MODES,
    CasEmulator,
)

T = TypeVar("T")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """darabonba hands HTTP(S)_PROXY to requests without honouring NO_PROXY; loopback must stay direct."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emu() -> Iterator[CasEmulator]:
    with CasEmulator(tls=True) as emulator:
        yield emulator


def client_for(emu: CasEmulator) -> Client:
    """Built like handler/casrelay/cas/gateway.py builds its client."""
    return Client(Config(access_key_id=DEMO_ACCESS_KEY_ID, access_key_secret=DEMO_ACCESS_KEY_SECRET,
                         endpoint=emu.endpoint, protocol=emu.protocol, region_id="cn-hangzhou",
                         connect_timeout=2000, read_timeout=2000))


def runtime(ca: str | None) -> RuntimeOptions:
    return RuntimeOptions(connect_timeout=2000, read_timeout=2000, autoretry=False, max_attempts=1, ca=ca)


def create(emu: CasEmulator, domain: str, ca: str | None = "") -> int:
    request = cas_models.CreateCertificateForPackageRequestRequest(domain=domain)
    response = client_for(emu).create_certificate_for_package_request_with_options(
        request, runtime(emu.ca_file if ca == "" else ca))
    order_id = response.body.order_id
    assert isinstance(order_id, int)
    return order_id


def exception_chain(exc: BaseException) -> list[BaseException]:
    """darabonba's UnretryableException, its ``inner_exception``, then the ``__context__`` chain down from it."""
    chain: list[BaseException] = [exc]
    current: BaseException | None = getattr(exc, "inner_exception", None) or exc.__context__
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__context__
    return chain


def settled(read: Callable[[], T], want: T, within_s: float = 3.0) -> T:
    """The server thread records a failed handshake just after the client gave up: wait for it briefly."""
    deadline = time.monotonic() + within_s
    value = read()
    while value != want and time.monotonic() < deadline:
        time.sleep(0.02)
        value = read()
    return value


def raised_in(exc: BaseException) -> list[str]:
    return [frame.name for frame in traceback.extract_tb(exc.__traceback__)]


def test_a_normal_call_over_tls_works_with_the_test_ca(emu: CasEmulator) -> None:
    assert emu.protocol == "https"
    assert Path(emu.ca_file).is_absolute()
    assert Path(emu.ca_file).read_text().startswith("-----BEGIN CERTIFICATE-----")

    order_id = create(emu, "tls.example.com")
    again = create(emu, "tls2.example.com")

    assert [o.order_id for o in emu.orders()] == [order_id, again]
    assert emu.tls_handshakes() == {"ok": 1}  # the SDK kept its connection alive for the second call


def test_a_client_that_does_not_trust_the_test_ca_fails_its_handshake_and_orders_nothing(emu: CasEmulator) -> None:
    with pytest.raises(UnretryableException) as info:
        create(emu, "untrusting.example.com", ca=None)  # certifi's bundle only

    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in exception_chain(info.value))
    assert emu.orders() == [] and emu.requests() == []
    assert settled(lambda: emu.tls_handshakes(), {"failed": 1}) == {"failed": 1}


@pytest.mark.parametrize("mode", HANDSHAKE_MODES)
def test_a_handshake_fault_raises_an_ssl_error_from_do_handshake_and_orders_nothing(
    emu: CasEmulator, mode: str,
) -> None:
    create(emu, "before.example.com")  # leaves a kept-alive connection in the SDK's pool
    emu.fail_tls_handshakes(1, mode=mode)

    with pytest.raises(UnretryableException) as info:
        create(emu, "during.example.com")

    ssl_errors = [e for e in exception_chain(info.value) if isinstance(e, ssl.SSLError)]
    assert ssl_errors, [type(e).__name__ for e in exception_chain(info.value)]
    assert "do_handshake" in raised_in(ssl_errors[0])
    assert [o.domain for o in emu.orders()] == ["before.example.com"]
    assert [r.params.get("Domain") for r in emu.requests(ACTION_CREATE)] == ["before.example.com"]
    want = {"ok": 1, f"injected:{mode}": 1}
    assert settled(lambda: emu.tls_handshakes(), want) == want
    create(emu, "after.example.com")  # the next handshake is a normal one
    assert emu.tls_handshakes()["ok"] == 2


def test_several_handshake_faults_hit_one_new_connection_each(emu: CasEmulator) -> None:
    emu.fail_tls_handshakes(2)

    for _ in range(2):
        with pytest.raises(UnretryableException):
            create(emu, "refused.example.com")
    create(emu, "accepted.example.com")

    assert [o.domain for o in emu.orders()] == ["accepted.example.com"]
    assert settled(lambda: emu.tls_handshake_failures, 2) == 2


@pytest.mark.parametrize("mode", TLS_BREAK_MODES)
def test_a_tls_error_after_commit_leaves_the_order_committed_while_the_client_sees_a_transport_error(
    emu: CasEmulator, mode: str,
) -> None:
    create(emu, "warm.example.com")
    emu.tls_error_after_commit(ACTION_CREATE, mode=mode)

    with pytest.raises(UnretryableException) as info:  # not a ServerException: no HTTP answer came back
        create(emu, "committed.example.com")

    assert not isinstance(info.value, ServerException)
    chain = exception_chain(info.value)
    if mode == TLS_BREAK_GARBAGE:
        [tls_error] = [e for e in chain if type(e) is ssl.SSLError]
        assert "do_handshake" not in raised_in(tls_error)  # the stream broke after the handshake
    assert [o.domain for o in emu.paid_orders()] == ["warm.example.com", "committed.example.com"]
    assert emu.quota().used == 2
    assert emu.request_count(ACTION_CREATE, OUTCOME_TLS_ERROR_AFTER_COMMIT) == 1
    assert create(emu, "next.example.com")  # one call only; the next is answered normally


def test_tls_faults_and_the_ca_file_need_tls_mode() -> None:
    with CasEmulator() as plain:
        assert plain.protocol == "http"
        with pytest.raises(RuntimeError, match="tls=True"):
            plain.fail_tls_handshakes()
        with pytest.raises(RuntimeError, match="tls=True"):
            _ = plain.ca_file
    with CasEmulator(tls=True) as emu, pytest.raises(ValueError, match="mode"):
        emu.tls_error_after_commit(mode="politely")


def test_embedded_default_with_https_points_the_function_at_the_tls_emulator() -> None:
    from devkit.embedded import embedded_default
    from devkit.fc_local import call_handler

    order = {"ProductCode": "symantec-free-1-free", "Domain": "embedded-tls.example.com", "ValidateType": "DNS"}
    with embedded_default(https=True) as emb:
        assert emb.env["CAS_PROTOCOL"] == "https"
        assert emb.env["CAS_CA_FILE"] == emb.emulator.ca_file and Path(emb.emulator.ca_file).is_file()

        result = call_handler(json.dumps(order).encode())

        [placed] = emb.emulator.orders()
        assert result["OrderIdString"] == str(placed.order_id)
        assert emb.emulator.tls_handshakes().get("ok", 0) >= 1
        assert emb.emulator.tls_handshake_failures == 0


def test_cli_with_tls_prints_the_ca_file_and_serves_https() -> None:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "devkit.cas_emulator", "--port", "0", "--tls"],
                            stdout=subprocess.PIPE, text=True)
    ca_file = ""
    try:
        assert proc.stdout is not None
        first, config, ca_line = (proc.stdout.readline() for _ in range(3))
        endpoint = first.rsplit(" ", 1)[-1].strip()
        ca_file = ca_line.rsplit("=", 1)[-1].strip()
        assert "protocol='https'" in config and Path(ca_file).is_file()

        client = Client(Config(access_key_id=DEMO_ACCESS_KEY_ID, access_key_secret=DEMO_ACCESS_KEY_SECRET,
                               endpoint=endpoint, protocol="https"))
        body = client.describe_package_state_with_options(cas_models.DescribePackageStateRequest(),
                                                          runtime(ca_file)).body
        assert body.total_count == 1000
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        if ca_file:  # a terminated process leaves its CA directory behind
            import shutil

            shutil.rmtree(Path(ca_file).parent, ignore_errors=True)
