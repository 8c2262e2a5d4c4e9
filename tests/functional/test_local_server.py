"""The local HTTP trigger: real HTTP in, FC3 v1 event to the handler, the handler's dict back out."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from devkit.fc_local import LocalFcServer, sign_webhook


def _send(url: str, body: bytes, headers: dict[str, str], method: str = "POST") -> tuple[int, dict, str]:
    req = urllib.request.Request(url, data=body or None, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


def test_a_signed_order_over_real_http_is_placed(embedded):
    body = json.dumps({"Domain": "http.example.com", "ValidateType": "DNS"}).encode()
    headers = {"Content-Type": "application/json", **sign_webhook(embedded.webhook_secret, body)}
    with LocalFcServer() as server:
        status, resp_headers, text = _send(server.url + "/", body, headers)
    assert status == 200, text
    assert json.loads(text)["OrderIdString"] == str(embedded.emulator.orders()[0].order_id)
    assert resp_headers["Content-Type"].startswith("application/json")


def test_query_string_form_and_repeated_headers_reach_the_handler(embedded, monkeypatch):
    # The document's query-string form, behind a trigger that authenticates the whole request (WEBHOOK_AUTH=none).
    import index

    monkeypatch.setenv("WEBHOOK_AUTH", "none")
    index.reset_for_tests()
    query = "Action=CreateCertificateForPackageRequest&Domain=q.example.com&Username=Tom+Zhang&Format=XML"
    with LocalFcServer() as server:
        headers = {"Content-Type": "application/json", "X-Repeated": "a"}
        status, _, text = _send(f"{server.url}/?{query}", b"", headers)
    assert status == 200, text
    assert "<OrderId>" in text
    assert embedded.emulator.orders()[0].params["Username"] == "Tom Zhang"


def test_wrong_method_and_route_come_back_as_405_and_404(embedded):
    with LocalFcServer() as server:
        assert _send(server.url + "/", b"", {}, method="GET")[0] == 405
        assert _send(server.url + "/orders", b"", {}, method="GET")[0] == 404
        assert _send(server.url + "/health", b"", {}, method="GET")[0] == 200
