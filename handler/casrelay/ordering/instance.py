"""Ordering on V2.0 certificate instances: lease one, UpdateInstance, ApplyCertificate, GetTaskAttribute.

Accounts that bought certificates after CAS V2.0 hold *instances* (``cas_dv-cn-...``) instead of
packages, and V2.0 certificates must use the V2.0 API. The paid step is ApplyCertificate on one
instance; every call before it (ListInstances, GetInstanceDetail, the contact calls, UpdateInstance,
which only overwrites the application data) spends nothing. So what this backend proves is simple:

- a failure **before ApplyCertificate was sent** applied nothing, whatever it was: it is raised as
  the retryable ``CasUnavailable`` unless it is a refusal of the order or of the deployment;
- ApplyCertificate refused before acting (``MissingInstanceInfo.*``, ``InvalidInstanceId.NotFound``,
  ``InvalidParameter.*``, a gateway refusal, a request that never left; ``cas/errors.py``) applied nothing;
- anything else (a 5xx, a reset or TLS break after sending, a read timeout, an answer that cannot be
  read, ``OperationConflict`` / ``IncorrectInstanceStatus`` on a re-apply) is unknown, and ``look_up``
  answers it from GetInstanceDetail on the leased instance: our tag with the instance past ``inactive``
  (or with a task) is applied; ``inactive`` with no task is not.

The instance is leased in the ledger (the ``Reservation`` the flows pass in, ``ledger/lease.py``)
before anything touches it, and checked with GetInstanceDetail, which is current where ListInstances
lags. Applying twice on one instance is refused by CAS itself (one application in progress), so the
lease is what keeps one order from spending two instances, and two orders from sharing one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ..cas.client import CasClient
from ..cas.credentials import Credentials
from ..cas.errors import resend_is_safe
from ..cas.preview import signed_preview
from ..errors import (
    ApplicationFailed,
    CasFailed,
    CasRefused,
    InstanceInUse,
    LedgerUnavailable,
    MissingCredentials,
    RelayError,
    application_failed,
    cas_unavailable,
    instance_in_use,
    instance_not_usable,
    missing_credentials,
    no_instance_left,
)
from ..order import Order
from . import instance_fit as fit
from .base import (
    APPLIED,
    NOT_APPLIED,
    UNRESOLVED,
    Attempt,
    Finding,
    Listing,
    OrderingBackend,
    PackageState,
    PlacedOrder,
    Reservation,
    Tags,
)
from .contacts import Directory
from .instance_progress import certificate_id as _certificate_id
from .instance_progress import read_progress
from .package import MAX_TAGS
from .progress import Progress

APPLY = "ApplyCertificate"
UPDATE = "UpdateInstance"
LIST = "ListInstances"
DETAIL = "GetInstanceDetail"
TASK = "GetTaskAttribute"
CERTIFICATE = "GetUserCertificateDetail"
PAGE_SIZE = 100
MAX_PAGES = 10
#: Statuses that an application moved the instance to (models/_list_instances_request.py).
APPLIED_STATUSES = frozenset({"pending", "normal", "willExpire", "expired"})
VALIDATION = {"DNS": "DNS", "FILE": "HTTP"}
POLL_SECONDS = 0.5
#: V2.0 tag keys are at most 64 characters (models/_update_instance_request.py); longer ones are not sent.
MAX_TAG_KEY = 64


class InstanceBackend(OrderingBackend):
    action = APPLY

    def __init__(self, client: CasClient, task_wait_seconds: float = 5.0) -> None:
        self.client = client
        self.directory = Directory(client)
        self.task_wait_seconds = task_wait_seconds

    def warm(self, creds: Credentials | None = None) -> None:
        self.client.warm(creds)

    def _call(self, action: str, method: str, request: Any, creds: Credentials | None) -> Any:
        return self.client.call(action, method, request, creds).body

    def detail(self, instance_id: str, creds: Credentials | None) -> Any:
        from alibabacloud_cas20200407 import models

        return self._call(DETAIL, "get_instance_detail_with_options",
                          models.GetInstanceDetailRequest(instance_id=instance_id), creds)

    # ------------------------------------------------------------------ the paid call

    def place(self, order: Order, creds: Credentials | None, tags: Tags = (),
              attempt: Attempt | None = None) -> PlacedOrder:
        if creds is None:
            raise missing_credentials()
        if attempt is None or attempt.reservation is None:
            raise RuntimeError("an instance order needs the ledger's reservation")  # a wiring bug, a 500
        lease, ours = attempt.reservation, _tags(order, tags)
        try:
            instance_id, already = self._hold(order, lease, tags, creds)
            if already is not None:
                return already
            self._update(instance_id, order, ours, creds)
        except RelayError as err:
            raise _before_apply(err) from None
        from alibabacloud_cas20200407 import models

        body = self._call(APPLY, "apply_certificate_with_options",
                          models.ApplyCertificateRequest(instance_id=instance_id), creds)
        request_id = str(getattr(body, "request_id", "") or "")
        return PlacedOrder(None, request_id, instance_id, self._wait(instance_id, creds, attempt.deadline))

    def _hold(self, order: Order, lease: Reservation, ours: Tags, creds: Credentials | None
              ) -> tuple[str, PlacedOrder | None]:
        """The instance this order applies on, leased and checked; or an application of ours already there.
        ``ours`` is casrelay's key tag only: an order's own tags say nothing about whose application it is."""
        want = fit.wanted(order)
        held = lease.held()
        if held is not None:
            return held, None  # a retry of this very placement: the lease and the instance are ours
        if order.instance_id is not None:
            if not lease.take(order.instance_id):
                raise instance_in_use(order.instance_id)
            return order.instance_id, self._checked(order.instance_id, want, lease, ours, creds, named=True)
        for page in range(1, MAX_PAGES + 1):
            listed, more = self._list(want, page, creds)
            for instance_id in fit.ranked(listed, want):
                if not lease.take(instance_id):
                    continue  # another order holds it
                try:
                    return instance_id, self._checked(instance_id, want, lease, ours, creds, named=False)
                except _Unusable:
                    continue  # the listing lags: CAS says it is no longer inactive
            if not more:
                break
        raise no_instance_left(want.describe())

    def _checked(self, instance_id: str, want: fit.Wanted, lease: Reservation, ours: Tags,
                 creds: Credentials | None, named: bool) -> PlacedOrder | None:
        detail = self.detail(instance_id, creds)
        if fit.tag_matches(getattr(detail, "tags", None), ours) and str(detail.status) in APPLIED_STATUSES:
            return PlacedOrder(None, "", instance_id, _certificate_id(detail))  # an earlier attempt applied
        reason = fit.why_not(detail, want)
        if reason is None:
            return None
        lease.give_back()
        if named:
            raise instance_not_usable(instance_id, reason)
        raise _Unusable(reason)

    def _list(self, want: fit.Wanted, page: int, creds: Credentials | None) -> tuple[list[Any], bool]:
        from alibabacloud_cas20200407 import models

        request = models.ListInstancesRequest(status="inactive", brand=want.brand,
                                              certificate_type=want.certificate_type, current_page=page,
                                              show_size=PAGE_SIZE)
        body = self._call(LIST, "list_instances_with_options", request, creds)
        items = list((body.instance_list or []) if body is not None else [])
        total = int(getattr(body, "total_count", 0) or 0)
        return items, bool(items) and page * PAGE_SIZE < total

    def _update(self, instance_id: str, order: Order, ours: Tags, creds: Credentials | None) -> None:
        from alibabacloud_cas20200407 import models

        contacts = self.directory.contact_ids(order, creds)
        company = self.directory.company_id(order, creds)
        request = models.UpdateInstanceRequest(
            instance_id=instance_id, domain=order.domain_param or ",".join(order.domains),
            csr=order.csr, generate_csr_method="upload" if order.csr else None,
            validation_method=VALIDATION.get(order.validate_type or "DNS", "DNS"),
            contact_id_list=contacts or None, company_id=company,
            tags=[models.UpdateInstanceRequestTags(tag_key=k, tag_value=v) for k, v in ours] or None)
        self._call(UPDATE, "update_instance_with_options", request, creds)

    def _wait(self, instance_id: str, creds: Credentials | None, deadline: float | None) -> int | None:
        """Follow the application within the invocation's time; the certificate's ID once issued. A task
        still processing (or a read that failed) is left as it is: the order is applied either way."""
        from alibabacloud_cas20200407 import models

        stop = time.monotonic() + self.task_wait_seconds
        if deadline is not None:
            stop = min(stop, deadline)
        while time.monotonic() < stop:
            try:
                body = self._call(TASK, "get_task_attribute_with_options",
                                  models.GetTaskAttributeRequest(task_id=instance_id, task_type=APPLY), creds)
                if str(getattr(body, "task_status", "")) == "success":
                    return _certificate_id(self.detail(instance_id, creds))
                if str(getattr(body, "task_status", "")) == "failed":
                    raise application_failed(instance_id, str(getattr(body, "task_message", "") or ""))
            except ApplicationFailed:
                raise
            except RelayError:
                return None
            time.sleep(min(POLL_SECONDS, max(0.0, stop - time.monotonic())))
        return None

    # ------------------------------------------------------------------ reconciliation

    def look_up(self, key: str, tags: Tags, instance_id: str | None, creds: Credentials | None) -> Finding | None:
        if instance_id is None:
            return Finding(NOT_APPLIED, "the order leased no instance, so it applied on none")
        try:
            detail = self.detail(instance_id, creds)
        except RelayError as err:
            return Finding(UNRESOLVED, f"GetInstanceDetail failed ({err.code})", instance_id)
        status = str(getattr(detail, "status", "") or "")
        ours = not tags or fit.tag_matches(getattr(detail, "tags", None), tags)
        if status in APPLIED_STATUSES:
            if ours:
                return Finding(APPLIED, f"the instance is {status} with our tag", instance_id, _certificate_id(detail))
            return Finding(UNRESOLVED, f"the instance is {status} without our tag", instance_id)
        if status != "inactive":
            return Finding(UNRESOLVED, f"the instance is {status}", instance_id)
        try:
            has_task = self._task(instance_id, creds) is not None
        except RelayError as err:
            return Finding(UNRESOLVED, f"GetTaskAttribute failed ({err.code})", instance_id)
        if has_task:
            if ours:
                return Finding(APPLIED, "the instance has an application task and our tag", instance_id)
            return Finding(UNRESOLVED, "the instance has a task without our tag", instance_id)
        return Finding(NOT_APPLIED, "the instance is inactive with no application", instance_id)

    def _task(self, instance_id: str, creds: Credentials | None) -> tuple[str, str] | None:
        """The application's (TaskStatus, TaskMessage); None when no application was ever made on the instance."""
        from alibabacloud_cas20200407 import models

        try:
            body = self._call(TASK, "get_task_attribute_with_options",
                              models.GetTaskAttributeRequest(task_id=instance_id, task_type=APPLY), creds)
        except CasRefused as err:
            if err.cas_code == "InvalidTaskId.NotFound":
                return None  # no application was ever made on the instance
            raise  # any other refusal proves nothing: the caller answers unresolved
        return str(getattr(body, "task_status", "") or ""), str(getattr(body, "task_message", "") or "")

    def progress(self, order_id: int | None, instance_id: str | None, creds: Credentials | None,
                 include_certificate: bool = False) -> Progress:
        """GetTaskAttribute and GetInstanceDetail, translated by ``instance_progress``; with ``include_certificate``,
        GetUserCertificateDetail once issued, of which only the public ``Cert`` is read."""
        if instance_id is None:
            raise ValueError("a V2.0 order is followed by the instance it applied on, and none was given")
        from alibabacloud_cas20200407 import models

        def certificate(certificate_id: int) -> Any:
            return self._call(CERTIFICATE, "get_user_certificate_detail_with_options",
                              models.GetUserCertificateDetailRequest(cert_id=certificate_id), creds)

        return read_progress(self._task(instance_id, creds), self.detail(instance_id, creds),
                             certificate if include_certificate else None)

    # ------------------------------------------------------------------ the rest of the interface

    def find(self, domains: Sequence[str], creds: Credentials | None) -> Listing:
        return Listing((), complete=False)  # V2.0 is reconciled by ``look_up``, never by a listing

    def quota(self, product_code: str, creds: Credentials | None) -> PackageState:
        """Read-only count of the inactive instances of the product's brand and type (the pre-check)."""
        want = fit.wanted(Order(product_code=product_code, domains=("x.example.com",)))
        items, _more = self._list(want, 1, creds)
        return PackageState(product_code, len(fit.ranked(items, want)), 0)

    def cancel(self, order_id: int, creds: Credentials | None) -> None:
        raise NotImplementedError("V2.0 instances are never cancelled by casrelay")

    def preview(self, order: Order, creds: Credentials | None, tags: Tags = ()) -> dict[str, Any]:
        if creds is None:
            raise missing_credentials()
        params: dict[str, Any] = {
            "InstanceId": order.instance_id or "(an inactive instance chosen when the order is placed)",
            "Domain": order.domain_param or ",".join(order.domains),
            "ValidationMethod": VALIDATION.get(order.validate_type or "DNS", "DNS")}
        if order.csr:
            params.update(Csr=order.csr, GenerateCsrMethod="upload")
        chosen = _tags(order, tags)
        if chosen:
            params["Tags"] = [{"TagKey": k, "TagValue": v} for k, v in chosen]
        preview = signed_preview(self.client.settings, UPDATE, params, creds)
        preview.update(Domains=list(order.domains), ProductCode=order.product_code, Then=APPLY)
        return preview


class _Unusable(Exception):
    """A listed instance turned out not to fit (the listing lags); try the next one."""


def _tags(order: Order, extra: Tags) -> Tags:
    """What UpdateInstance tags the instance with: casrelay's key tag first and always (reconciliation finds
    the application by it, so an order's own tag of the same key is dropped rather than let win), then
    the order's own tags."""
    reserved = {k for k, _ in extra}
    own = [(k, v) for k, v in order.tags if k not in reserved]
    return tuple((k, v) for k, v in [*extra, *own][:MAX_TAGS] if len(k) <= MAX_TAG_KEY)


def _before_apply(err: RelayError) -> RelayError:
    """A failure before ApplyCertificate was sent: nothing was applied, so only the order's or the deployment's
    own refusals stay what they are; anything else may simply be tried again."""
    if isinstance(err, CasRefused | CasFailed | MissingCredentials | LedgerUnavailable | InstanceInUse) \
            or resend_is_safe(err):
        return err
    return cas_unavailable(f"CAS failed before ApplyCertificate was sent ({err.code}); nothing was applied",
                           err.cas_request_id)
