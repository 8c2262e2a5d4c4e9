"""Failures at CAS: it answered the signed call with a refusal, or failed to answer it.

Which of these may be followed by sending the paid call again is decided in one place,
``casrelay.cas.errors.resend_is_safe``; the classes here only say what happened.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import FieldError, RelayError


class CasError(RelayError):
    """CAS answered, or failed to answer, the signed call; ``cas_code`` keeps CAS's own code."""


class CasThrottled(CasError):
    """CAS's flow control denied the call before the API ran."""


class CasRefused(CasError):
    """CAS looked at the order and said no; ordering again will not help (permanent)."""


class NoPackageLeft(CasRefused):
    """The certificate package for the ProductCode is empty or was never bought: nothing was spent."""


class CasUnavailable(CasError):
    """CAS did not act: the request never arrived or CAS said it was temporarily unavailable."""


class CasFailed(CasError):
    """CAS failed in a way the caller cannot fix, such as the function's own credentials being refused."""


@dataclass
class CasOutcomeUnknown(CasError):
    """The request was sent and no answer proves what happened: an order may or may not exist.

    ``answered`` is true when CAS (or a gateway in front of it) answered with an error after the
    request arrived, and false when no answer came back at all.
    """

    answered: bool = False


def cas_throttled(cas_code: str, retry_after: int, request_id: str | None) -> CasThrottled:
    return CasThrottled("Throttling", f"CAS throttled the call ({cas_code}); retry after {retry_after} s",
                        retry_after=retry_after, transient=True, cas_request_id=request_id, cas_code=cas_code)


def cas_refused(cas_code: str, message: str, request_id: str | None,
                errors: tuple[FieldError, ...] = ()) -> CasRefused:
    return CasRefused(cas_code, message, errors=errors, cas_request_id=request_id, cas_code=cas_code)


def no_package_left(cas_code: str, message: str, request_id: str | None = None) -> NoPackageLeft:
    return NoPackageLeft(cas_code, message, cas_request_id=request_id, cas_code=cas_code)


def cas_unavailable(message: str, request_id: str | None = None, retry_after: int = 1,
                    cas_code: str | None = None) -> CasUnavailable:
    return CasUnavailable("CasUnavailable", message, retry_after=retry_after, transient=True,
                          cas_request_id=request_id, cas_code=cas_code)


def cas_failed(cas_code: str, message: str, request_id: str | None) -> CasFailed:
    return CasFailed("CasFailed", f"CAS refused the function's call ({cas_code}): {message}",
                     cas_request_id=request_id, transient=True, cas_code=cas_code)


def cas_outcome_unknown(message: str, request_id: str | None = None, answered: bool = False) -> CasOutcomeUnknown:
    return CasOutcomeUnknown("CasOutcomeUnknown", message, cas_request_id=request_id, answered=answered)


#: The code of ``NotOrdered``; a ledger record failed with it may be ordered again by the next arrival.
NOT_ORDERED_CODE = "CasNotOrdered"


class NotOrdered(CasError):
    """Reconciliation proved that an attempt whose answer was lost placed no order: nothing was spent."""


def not_ordered(waited_seconds: float) -> NotOrdered:
    return NotOrdered(
        NOT_ORDERED_CODE,
        f"CAS placed no order for this request (none was listed {waited_seconds:.0f} s after the attempt); nothing "
        "was spent; send the order again to place it", retry_after=1, transient=True)


def precheck_no_package(product_code: str) -> NoPackageLeft:
    """The quota pre-check (``PRECHECK_QUOTA``) found the package empty, so the paid call was not sent."""
    return NoPackageLeft("NotRemainCount", f"no package left for ProductCode {product_code}; nothing was ordered")


class NoInstanceLeft(CasRefused):
    """V2.0: no ``inactive`` certificate instance of the account fits the order: nothing was applied."""


def no_instance_left(looked_for: str) -> NoInstanceLeft:
    message = f"no inactive certificate instance fits the order ({looked_for}); buy one, or name one as InstanceId"
    return NoInstanceLeft("NoInstanceLeft", message, errors=(FieldError("ProductCode", "NoInstanceLeft", message),))


class InstanceNotUsable(CasRefused):
    """V2.0: the order's own ``InstanceId`` cannot take it (not inactive, too small, of another product);
    nothing was applied."""


def instance_not_usable(instance_id: str, reason: str) -> InstanceNotUsable:
    message = f"the instance {instance_id} cannot take this order: {reason}"
    return InstanceNotUsable("InstanceNotUsable", message,
                             errors=(FieldError("InstanceId", "InstanceNotUsable", message),))


class InstanceInUse(CasError):
    """V2.0: the order's own ``InstanceId`` is leased to another order, which may apply on it. Nothing was
    applied for this one, and the other order may yet give the instance back: the key is released and the
    caller may try again (a queue record is redelivered), never answered with a stored refusal."""


def instance_in_use(instance_id: str) -> InstanceInUse:
    message = f"the instance {instance_id} is taken by another order; nothing was applied for this one"
    return InstanceInUse("InstanceInUse", message, errors=(FieldError("InstanceId", "InstanceInUse", message),),
                         transient=True, retry_after=30)


class ApplicationFailed(CasRefused):
    """V2.0: CAS took the application and its task failed (``TaskStatus`` failed). The instance is not used
    up, so the record fails and its lease ends: the instance can take another order."""


def application_failed(instance_id: str, task_message: str) -> ApplicationFailed:
    message = f"CAS's application on the instance {instance_id} failed: {task_message or 'no reason given'}"
    return ApplicationFailed("ApplicationFailed", message)
