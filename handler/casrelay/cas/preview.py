"""A signed request that is shown and never sent: what the dry run answers.

The SDK's own ACS3 signer signs it, so the preview is what the paid call would carry. The
signature itself is redacted: a dry-run answer holding a valid signature and an unused nonce could
be replayed to CAS within 15 minutes and would place a real, paid order. The AccessKey id is cut
short and a security token hidden.
"""

from __future__ import annotations

from typing import Any

from ..config import Settings
from .credentials import Credentials

API_VERSION = "2020-04-07"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def signed_preview(settings: Settings, action: str, params: dict[str, Any], creds: Credentials) -> dict[str, Any]:
    """The method, URL, headers and parameters of ``action`` with ``params``, signed, then redacted."""
    from urllib.parse import urlencode

    from alibabacloud_tea_openapi.utils import Utils
    from darabonba.request import DaraRequest

    request = DaraRequest()
    request.method = "POST"
    request.pathname = "/"
    request.query = Utils.query(params)
    request.headers = {
        "host": settings.cas_endpoint,
        "x-acs-version": API_VERSION,
        "x-acs-action": action,
        "x-acs-date": Utils.get_timestamp(),
        "x-acs-signature-nonce": Utils.get_nonce(),
        "accept": "application/json",
        "x-acs-content-sha256": EMPTY_SHA256,
    }
    if creds.security_token:
        request.headers["x-acs-security-token"] = creds.security_token
    authorization = Utils.get_authorization(request, "ACS3-HMAC-SHA256", EMPTY_SHA256, creds.access_key_id,
                                            creds.access_key_secret)
    head, _, _signature = authorization.rpartition("Signature=")
    headers = dict(request.headers)
    headers["authorization"] = head.replace(creds.access_key_id, creds.access_key_id[:4] + "***") + \
        "Signature=<redacted>"
    if "x-acs-security-token" in headers:
        headers["x-acs-security-token"] = "<redacted>"
    return {
        "DryRun": True,
        "Action": action,
        "Method": "POST",
        "Url": f"{settings.cas_protocol}://{settings.cas_endpoint}/?{urlencode(request.query)}",
        "Headers": headers,
        "Parameters": dict(request.query),
    }
