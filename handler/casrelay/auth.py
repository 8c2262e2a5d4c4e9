"""Inbound authentication for the HTTP trigger: Standard Webhooks signatures.

An anonymous HTTP trigger that spends paid packages must not be open, so unless the operator set
``WEBHOOK_AUTH=none`` (for instance because the trigger uses FC's own ``function`` auth), every
request needs a ``webhook-signature`` made with one of ``WEBHOOK_SECRETS``. Several secrets are
accepted at once so that a secret can be rotated without downtime. The ``standardwebhooks`` package
does the HMAC, the 5-minute timestamp tolerance and the constant-time comparison.

A replayed request (same id, same body, within the tolerance) is not refused here: by the spec it is
a retry of the same message, and answering a retry the same way is the ledger's job, not auth's.
That holds only because nothing outside the signature (``webhook-id.webhook-timestamp.body``) can
change the order or its key: ``triggers.http.unsigned_inputs`` refuses a query parameter or an
``Idempotency-Key`` header that the signed body does not repeat exactly.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from .errors import unauthenticated

_REQUIRED = ("webhook-id", "webhook-timestamp", "webhook-signature")


class WebhookVerifier:
    def __init__(self, secrets: tuple[str, ...]) -> None:
        self._hooks = [Webhook(s) for s in secrets]

    @property
    def configured(self) -> bool:
        return bool(self._hooks)

    def verify(self, headers: Mapping[str, str], body: bytes) -> str:
        """Return the verified ``webhook-id``; raise ``Unauthenticated`` with a reason that leaks nothing."""
        missing = [h for h in _REQUIRED if not headers.get(h)]
        if missing:
            raise unauthenticated(f"missing Standard Webhooks header(s): {', '.join(missing)}")
        msg_id = headers["webhook-id"]
        if len(msg_id) > 256 or "." in msg_id:
            raise unauthenticated("webhook-id must be at most 256 characters and contain no '.'")
        ts = headers["webhook-timestamp"]
        if not ts.isdigit():
            raise unauthenticated("webhook-timestamp must be whole Unix seconds")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise unauthenticated("the signed body is not UTF-8 text") from None
        subset = {h: headers[h] for h in _REQUIRED}
        reason = "no valid signature"
        for hook in self._hooks:
            try:
                hook.verify(text, subset, json_parse=False)
                return msg_id
            except WebhookVerificationError as exc:
                reason = str(exc)
                if "timestamp" in reason.lower():
                    break  # the same for every secret; no need to try the others
            except (ValueError, binascii.Error):
                reason = "malformed webhook-signature (expected 'v1,<base64>' entries)"
        raise unauthenticated(f"webhook signature rejected: {reason.lower()}")


