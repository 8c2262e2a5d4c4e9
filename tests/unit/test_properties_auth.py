"""Properties of inbound webhook verification (``WebhookVerifier``, Standard Webhooks).

Whatever headers and body arrive, ``verify`` either returns the verified ``webhook-id`` or raises an
``Unauthenticated`` 401. A message signed with any configured secret verifies, and one changed byte in
the body, the id, the timestamp or the signature is refused. The one exception is the base64 text of
a signature: its last character carries padding bits that decode to nothing, so a changed character
that decodes to the same MAC is the same signature (the HMAC comparison is on bytes).
"""

from __future__ import annotations

import base64
import time
from datetime import datetime, timezone

from hypothesis import example, given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from casrelay.auth import WebhookVerifier
from casrelay.errors import RelayError, Unauthenticated
from casrelay.response import headers_of, status_of
from tests.property_strategies import any_text, bounded

REQUIRED = ("webhook-id", "webhook-timestamp", "webhook-signature")

secrets = st.binary(min_size=1, max_size=48).map(lambda raw: "whsec_" + base64.b64encode(raw).decode())
secret_sets = st.lists(secrets, min_size=1, max_size=3, unique=True)
header_names = st.sampled_from([*REQUIRED, "content-type", "Webhook-Id"]) | any_text
header_values = (any_text | st.sampled_from(["v1,", "v1,AAAA", "v2,abc", "v1,a v1,b", "msg_1", "1", "."])
                 | st.integers(0, 2**40).map(str))
header_maps = st.dictionaries(header_names, header_values, max_size=6)
bodies = st.binary(max_size=64) | any_text.map(lambda s: s.encode("utf-8", "surrogatepass"))


def verify_or_refuse(verifier: WebhookVerifier, headers: dict[str, str], body: bytes) -> str | None:
    """The verified id, or None after checking that the refusal is a 401 with a code and a reason."""
    try:
        return verifier.verify(headers, body)
    except RelayError as err:
        assert isinstance(err, Unauthenticated)
        assert status_of(err) == 401 and err.code == "Unauthenticated" and err.message
        assert "WWW-Authenticate" in headers_of(err)
        return None


def signed(secret: str, msg_id: str, ts: int, body: bytes) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, timezone.utc), body.decode("utf-8"))
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


@given(secret_sets, header_maps, bodies)
@bounded(300)
@example(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], {"webhook-id": "x", "webhook-timestamp": "9" * 5000,
                                                      "webhook-signature": "v1,AAAA"}, b"{}")
@example(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], {"webhook-id": "x\ud800", "webhook-timestamp": "1",
                                                      "webhook-signature": "v1,AAAA"}, b"{}")
@example(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], {"webhook-id": "x", "webhook-timestamp": "\u00b2",
                                                      "webhook-signature": "v1,AAAA"}, b"{}")
def test_verify_refuses_arbitrary_headers_and_bodies_with_a_401(secret_list, headers, body):
    verifier = WebhookVerifier(tuple(secret_list))
    if verify_or_refuse(verifier, headers, body) is not None:
        assert all(headers.get(h) for h in REQUIRED)


# A message a sender signed: the id has no '.', the timestamp is within the five-minute tolerance.
message_ids = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="."), min_size=1, max_size=40)
text_bodies = st.text(st.characters(exclude_categories=("Cs",)), max_size=80).map(str.encode)
skews = st.integers(-240, 240)


@st.composite
def signed_messages(draw: st.DrawFn) -> tuple[WebhookVerifier, dict[str, str], bytes]:
    secret_list = draw(secret_sets)
    body = draw(text_bodies)
    headers = signed(draw(st.sampled_from(secret_list)), draw(message_ids), int(time.time()) + draw(skews), body)
    return WebhookVerifier(tuple(secret_list)), headers, body


@given(signed_messages())
@bounded(150)
def test_a_correctly_signed_message_verifies_with_any_configured_secret(message):
    verifier, headers, body = message
    assert verifier.verify(headers, body) == headers["webhook-id"]


def change_one_byte(data: bytes, at: int, new: int) -> bytes:
    return data[:at] + bytes([new]) + data[at + 1:]


@st.composite
def one_byte_changes(draw: st.DrawFn) -> tuple[str, bytes]:
    """Which part is changed, and a replacement byte value; the position is drawn against the part."""
    part = draw(st.sampled_from(["body", *REQUIRED]))
    return part, bytes([draw(st.integers(0, 255))])


@given(signed_messages(), one_byte_changes(), st.data())
@bounded(300)
def test_one_changed_byte_in_body_id_timestamp_or_signature_is_refused(message, change, data):
    verifier, headers, body = message
    part, new = change
    original = body if part == "body" else headers[part].encode("utf-8")
    if not original:  # an empty body: the change is one added byte
        changed = new
    else:
        at = data.draw(st.integers(0, len(original) - 1), label="at")
        if original[at] == new[0]:
            new = bytes([new[0] ^ 0x01])
        changed = change_one_byte(original, at, new[0])
    if part == "body":
        body = changed
    else:
        # a header is text: a byte that breaks UTF-8 arrives as a lone surrogate, as JSON can carry it
        headers = {**headers, part: changed.decode("utf-8", "surrogateescape")}
    accepted = verify_or_refuse(verifier, headers, body)
    if accepted is not None:
        # Only base64 malleability is acceptable: the changed signature decodes to the same MAC.
        assert part == "webhook-signature", f"a changed {part} was accepted"
        _, sig = headers[part].split(",", 1)
        assert base64.b64decode(sig) == base64.b64decode(original.decode().split(",", 1)[1])


def test_a_signature_whose_base64_decodes_to_the_same_mac_is_the_same_signature():
    """Why the property above allows one kind of accepted change: the 44th base64 character of a 32-byte
    MAC carries two bits that decode to nothing, and the comparison is on the decoded bytes."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    headers = signed(secret, "msg_malleable", int(time.time()), b"{}")
    sig = headers["webhook-signature"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet[alphabet.index(sig[-2]) ^ 0x01]  # the lowest, unused bit
    same_mac = {**headers, "webhook-signature": sig[:-2] + last + "="}
    assert base64.b64decode(same_mac["webhook-signature"][3:]) == base64.b64decode(sig[3:])
    assert WebhookVerifier((secret,)).verify(same_mac, b"{}") == "msg_malleable"
