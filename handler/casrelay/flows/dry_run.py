"""The dry run: validate and sign an order, touch neither the ledger nor CAS, and say what would be sent.

It runs the same validation and key derivation as a real order, so a dry run that passes is an
order that would be placed under the key it shows.
"""

from __future__ import annotations

from typing import Any

from ..cas.credentials import resolve as resolve_credentials
from ..config import Settings
from ..ledger.key import key_tags, order_key
from ..ordering import OrderingBackend
from ..records import OrderRecord
from ..validation import validate_order

ROOT = "CreateCertificateForPackageRequestDryRun"


class DryRun:
    def __init__(self, settings: Settings, backend: OrderingBackend, tag_key: str | None) -> None:
        self.settings = settings
        self.backend = backend
        self.tag_key = tag_key

    def wanted(self, record: OrderRecord) -> bool:
        """``DRY_RUN`` is on for the whole function, or this order asks for it (``DryRun=true``)."""
        flag = record.params.get("DryRun")
        return self.settings.dry_run or flag is True or str(flag).lower() == "true"

    def preview(self, record: OrderRecord, context: Any) -> dict[str, Any]:
        order = validate_order(record.params, self.settings)
        key = order_key(record, order)
        preview = self.backend.preview(order, resolve_credentials(context), key_tags(self.tag_key, order, key))
        preview["IdempotencyKey"] = key
        return preview
