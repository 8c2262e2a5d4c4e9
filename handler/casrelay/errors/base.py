"""The one shape every failure has: a code and a message for the caller, the fields at fault, and
whether trying again later can succeed.

What an error does *not* carry is how it is shown: the HTTP status and headers are chosen where a
response is rendered (``casrelay.response``), and the stored form is chosen where a record is
written (``casrelay.errors.values``). An error is a value about what went wrong, and each of those
places reads the same value its own way.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field; ``field`` uses the API's own parameter name."""

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"Field": self.field, "Code": self.code, "Message": self.message}


@dataclass
class RelayError(Exception):
    """Base of every failure a caller may see.

    ``transient`` tells a queue trigger whether redelivery may succeed (throttling, CAS or a sink
    being down) or whether the record is permanently bad and must be acknowledged.
    """

    code: str
    message: str
    errors: tuple[FieldError, ...] = ()
    retry_after: int | None = None
    transient: bool = False
    cas_request_id: str | None = None
    #: CAS's own error code, when CAS answered; retry decisions read it.
    cas_code: str | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InternalError(RelayError):
    """A bug in casrelay itself: the caller learns nothing about it, and only the log says where."""


def internal_error() -> InternalError:
    return InternalError("InternalError", "casrelay failed unexpectedly; the error has been logged")
