"""An error as the ledger stores it, and the same error back from storage.

A refusal is stored with its record so that the next arrival of the order gets the same answer
without calling CAS, and so that the sweep can push it downstream. What is stored is the error
value itself, class included, so that it comes back as the very class it was (a quota refusal
still renders 402, a ``CasNotOrdered`` verdict still lets the key be ordered again), not as
whatever a response document happens to imply.

Records written before the kind was stored hold the old response-shaped document (``Status``,
``Code``, ``Message``, ``Errors``); those are read by their code and status, as they were then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import FieldError, RelayError
from .caller import IdempotencyConflict, InvalidOrder
from .cas import (
    NOT_ORDERED_CODE,
    ApplicationFailed,
    CasFailed,
    CasRefused,
    InstanceNotUsable,
    NoInstanceLeft,
    NoPackageLeft,
    NotOrdered,
)

#: The kinds a ledger record can hold: what ``Ledger.failed`` is ever given. Anything else read back
#: (a damaged or foreign row) is answered as a refusal, which orders nothing.
STORED_KINDS: dict[str, type[RelayError]] = {
    cls.__name__: cls for cls in (CasRefused, NoPackageLeft, NotOrdered, CasFailed, InvalidOrder, IdempotencyConflict,
                                  NoInstanceLeft, InstanceNotUsable, ApplicationFailed)
}
_TRANSIENT_KINDS = frozenset({"NotOrdered", "CasFailed"})


def to_value(err: RelayError, status: int | None = None) -> dict[str, Any]:
    """The stored form; ``Code``, ``Message`` and ``Errors`` are also what a failure message carries.

    ``status`` (the HTTP status the answer had) is stored as well, for instances of an older release that
    may read the same ledger during a canary or a rollback: they replay a refusal by its ``Status``."""
    value: dict[str, Any] = {"Kind": type(err).__name__, "Code": err.code, "Message": err.message}
    if err.errors:
        value["Errors"] = [e.as_dict() for e in err.errors]
    if err.retry_after is not None:
        value["RetryAfter"] = err.retry_after
    if err.cas_request_id:
        value["RequestId"] = err.cas_request_id
    if err.cas_code:
        value["CasCode"] = err.cas_code
    if status is not None:
        value["Status"] = status
    return value


def _field_errors(raw: Any) -> tuple[FieldError, ...]:
    return tuple(FieldError(str(e.get("Field", "")), str(e.get("Code", "")), str(e.get("Message", "")))
                 for e in (raw if isinstance(raw, list) else []) if isinstance(e, dict))


def _legacy_kind(value: Mapping[str, Any]) -> str:
    if value.get("Code") == NOT_ORDERED_CODE:
        return "NotOrdered"
    return "NoPackageLeft" if value.get("Status") == 402 else "CasRefused"


def from_value(value: Mapping[str, Any]) -> RelayError:
    """The stored error, as the class it was stored as."""
    kind = value.get("Kind") if "Kind" in value else _legacy_kind(value)
    cls = STORED_KINDS.get(str(kind), CasRefused)
    retry_after = value.get("RetryAfter")
    cas_code = value.get("CasCode")
    return cls(
        str(value.get("Code", "CasRefused")), str(value.get("Message", "CAS refused this order earlier")),
        _field_errors(value.get("Errors")),
        retry_after=retry_after if isinstance(retry_after, int) and not isinstance(retry_after, bool) else None,
        transient=cls.__name__ in _TRANSIENT_KINDS,
        # The stored RequestId is CAS's id of the first attempt; a replay is a new answer, under its own id.
        cas_code=cas_code if isinstance(cas_code, str) else None,
    )
