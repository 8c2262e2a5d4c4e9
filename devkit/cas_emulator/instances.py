"""The V2.0 account: a pool of certificate instances, each with at most one application at a time.

CAS V2.0 sells certificates as instances (``cas_dv-cn-...``) rather than package units: an instance is
bought ``inactive``, filled in with UpdateInstance, and committed with ApplyCertificate, after which it
is ``pending`` while its one application is ``processing``, then ``normal`` once issued. What a client's
retry logic can get wrong here is applying twice, or taking an ambiguous ApplyCertificate for a refusal,
so the pool, the application clock and the listing lag live in one place, with the controls tests use.

The application ripens on the emulator's ``clock`` (the wall clock V1 uses for its list lag): it turns
``success`` ``application_seconds`` after the commit, or ``failed`` if ``fail_applications`` aimed a
failure at it. Ripening is lazy (worked out under the lock whenever a call looks), and stamped with the
moment it was due, so a test that moves the clock sees the same history as one that waits.

ListInstances reads a lagged view (the V1 ``list_lag_seconds``): an instance is listed as it was
``list_lag_seconds`` ago, while GetInstanceDetail is always current. The real index lag is UNCONFIRMED;
V1's lag hides new orders, V2's hides recent changes, which is what a reconciler must not trust.

What a failed application leaves is UNCONFIRMED: the emulator puts the instance back to ``inactive``
(the application data kept, ``PendingResult`` saying why), so that it can be corrected and applied again.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .directory import Directory
from .pool_spec import InstanceSpec

#: ``Status`` of ListInstances and GetInstanceDetail (models/_list_instances_request.py).
INSTANCE_STATUSES = ("inactive", "pending", "normal", "willExpire", "expired", "refund", "closed")
#: Task results of GetTaskAttribute (models/_get_task_attribute_response_body.py).
TASK_PROCESSING, TASK_SUCCESS, TASK_FAILED = "processing", "success", "failed"
DEFAULT_APPLICATION_SECONDS = 2.0
DEFAULT_FAILURE_MESSAGE = "The CA rejected the application: domain validation failed."
#: The site suffix of ``CertIdentifier`` on the China site (models/_list_instances_response_body.py).
SITE_REGION = "cn-hangzhou"
_MAX_VIEWS = 64


def instance_id_for(certificate_type: str, serial: int) -> str:
    """An ID shaped like CAS's (``cas_dv-cn-rp643r82d0i1``), deterministic so that seeded runs repeat."""
    digest = hashlib.sha256(f"cas-emulator-instance-{serial}".encode()).digest()
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    tail = "".join(alphabet[b % 36] for b in digest[:12])
    return f"cas_{certificate_type.lower()}-cn-{tail}"


@dataclass
class EmulatedInstance:
    """A stored V2 instance: what it was bought as, what UpdateInstance filled in, its application."""

    instance_id: str
    brand: str
    certificate_type: str
    instance_type: str
    full_domain_count: int
    wildcard_domain_count: int
    status: str
    order_start_s: int
    order_end_s: int
    domains: list[str] = field(default_factory=list)
    csr: str | None = None
    generate_csr_method: str = "online"
    validation_method: str = ""
    key_algorithm: str = "RSA_2048"
    contact_ids: list[int] = field(default_factory=list)
    company_id: int | None = None
    certificate_name: str = ""
    auto_reissue: str = "disable"
    country_code: str = "CN"
    province: str = "Beijing"
    city: str = "Beijing"
    resource_group_id: str = ""
    #: TagKey -> TagValue, in the order first set; UpdateInstance merges (UNCONFIRMED: it may replace).
    tags: dict[str, str] = field(default_factory=dict)
    task_status: str = ""
    task_message: str = ""
    pending_result: str = ""
    applied_ms: int | None = None
    due_ms: int | None = None
    #: Set when ``fail_applications`` aimed a failure at the application in progress.
    doomed: str | None = None
    #: Every ApplyCertificate that committed (its RequestId): a second one here is a double application.
    applications: list[str] = field(default_factory=list)
    #: How many of those the CA failed (the instance went back to ``inactive``, not used up).
    failed_applications: int = 0
    validation_token: str = ""
    certificate_id: int | None = None
    certificate_status: str = ""
    cert_not_before_s: int | None = None
    cert_not_after_s: int | None = None
    #: The issued certificate's PEM and, when CAS made the key (``online``), its key: minted on the first
    #: GetUserCertificateDetail (``instance_actions``), then kept, so every answer shows the same pair.
    certificate_pem: str | None = field(default=None, repr=False)
    private_key_pem: str | None = field(default=None, repr=False)
    #: (since ms, ListInstances item) oldest first: what the lagged listing shows at each moment.
    views: list[tuple[int, dict[str, Any]]] = field(default_factory=list, repr=False)

    @property
    def domain(self) -> str:
        return ",".join(self.domains)

    def list_item(self) -> dict[str, Any]:
        """One ``InstanceList`` entry (models/_list_instances_response_body.py,
        ``ListInstancesResponseBodyInstanceList``). That model has no Tags: only GetInstanceDetail shows them."""
        item: dict[str, Any] = {
            "InstanceId": self.instance_id, "Status": self.status, "Brand": self.brand,
            "CertificateType": self.certificate_type, "InstanceType": self.instance_type,
            "FullDomainCount": self.full_domain_count, "WildcardDomainCount": self.wildcard_domain_count,
            "Domain": self.domain, "KeyAlgorithm": self.key_algorithm, "CertificateName": self.certificate_name,
            "AutoReissue": self.auto_reissue, "PendingResult": self.pending_result,
            "Spec": f"{self.brand}-{self.certificate_type}-{self.full_domain_count}+{self.wildcard_domain_count}",
            "OrderStartTime": self.order_start_s, "OrderEndTime": self.order_end_s,
            "ResourceGroupId": self.resource_group_id, "UsingProductList": [],
        }
        if self.certificate_id is not None:
            item.update(CertificateId=self.certificate_id, CertIdentifier=f"{self.certificate_id}-{SITE_REGION}",
                        CertificateStatus=self.certificate_status, CertificateDomain=self.domain,
                        CertificateNotBefore=self.cert_not_before_s, CertificateNotAfter=self.cert_not_after_s,
                        InstanceStartTime=self.cert_not_before_s, InstanceEndTime=self.order_end_s)
        return item


@dataclass
class ApplicationFailure:
    """A queued ``fail_applications`` fault: the next matching committed application ends ``failed``."""

    remaining: int
    message: str
    target: str | None


class InstanceState(Directory):
    """The instance pool, the application clock and the lagged listing, with their public controls."""

    _lock: threading.RLock
    _clock: Callable[[], float]
    _list_lag_s: float
    _instances: dict[str, EmulatedInstance]
    _application_s: float
    _application_failures: list[ApplicationFailure]
    _next_certificate_id: int

    def _init_instances(self, specs: Iterable[InstanceSpec], application_seconds: float) -> None:
        self._instances = {}
        self._application_s = float(application_seconds)
        self._application_failures = []
        self._next_certificate_id = 21_000_000
        self._init_directory()
        bought = int(self._clock()) - 86_400
        for spec in specs:
            for _ in range(spec.count):
                serial = len(self._instances) + 1
                inst = EmulatedInstance(
                    instance_id=instance_id_for(spec.certificate_type, serial), brand=spec.brand,
                    certificate_type=spec.certificate_type, instance_type=spec.instance_type,
                    full_domain_count=spec.full_domain_count, wildcard_domain_count=spec.wildcard_domain_count,
                    status=spec.status, order_start_s=bought, order_end_s=bought + 365 * 86_400)
                self._instances[inst.instance_id] = inst
                self._touch(inst, 0)  # bought long ago: listed from the start

    # ------------------------------------------------------------------ public controls

    def instances(self) -> list[EmulatedInstance]:
        """Copies of every instance as it is now (applications ripened), in purchase order."""
        with self._lock:
            self._ripen_all()
            return [copy.deepcopy(i) for i in self._instances.values()]

    def get_instance(self, instance_id: str) -> EmulatedInstance:
        with self._lock:
            inst = self._instances[instance_id]
            self._ripen(inst)
            return copy.deepcopy(inst)

    def set_instance_status(self, instance_id: str, status: str) -> None:
        """Move an instance along by hand (e.g. to ``willExpire`` or ``refund``); only documented statuses."""
        if status not in INSTANCE_STATUSES:
            raise ValueError(f"{status!r} is not an instance status: {INSTANCE_STATUSES}")
        with self._lock:
            inst = self._instances[instance_id]
            self._ripen(inst)
            inst.status = status
            self._touch(inst, int(self._clock() * 1000))

    @property
    def application_seconds(self) -> float:
        with self._lock:
            return self._application_s

    def set_application_delay(self, seconds: float) -> None:
        """How long (on the emulator's clock) a new application stays ``processing``; running ones keep theirs."""
        with self._lock:
            self._application_s = float(seconds)

    def fail_applications(self, count: int = 1, *, message: str = DEFAULT_FAILURE_MESSAGE,
                          target: str | None = None) -> None:
        """Make the next ``count`` committed applications end ``failed`` (TaskMessage ``message``) when due.

        ``target`` aims the fault at one instance ID or one of the names it binds (case-insensitive),
        like the domain targeting of the request faults; the ApplyCertificate itself still commits."""
        with self._lock:
            self._application_failures.append(
                ApplicationFailure(count, message, target.strip().lower().rstrip(".") if target else None))

    # ------------------------------------------------------------------ used by the actions (lock held)

    def _touch(self, inst: EmulatedInstance, since_ms: int) -> None:
        inst.views.append((since_ms, inst.list_item()))
        del inst.views[:-_MAX_VIEWS]

    def _listed_view(self, inst: EmulatedInstance, now_ms: int) -> dict[str, Any] | None:
        """The instance as ListInstances shows it: its last change older than the list lag, if any."""
        cutoff = now_ms - int(self._list_lag_s * 1000)
        shown = [item for since, item in inst.views if since <= cutoff]
        return shown[-1] if shown else None

    def _instance_names(self, instance_id: str) -> list[str]:
        """What a fault can be aimed at for a call about this instance: its ID and the names it binds."""
        with self._lock:
            inst = self._instances.get(instance_id)
            return [instance_id, *inst.domains] if inst is not None else []

    def _take_application_failure(self, inst: EmulatedInstance) -> str | None:
        names = {n.lower() for n in (inst.instance_id, *inst.domains)}
        self._application_failures = [f for f in self._application_failures if f.remaining > 0]
        for fault in self._application_failures:
            if fault.target is None or fault.target in names:
                fault.remaining -= 1
                return fault.message
        return None

    def _ripen_all(self) -> None:
        for inst in self._instances.values():
            self._ripen(inst)

    def _ripen(self, inst: EmulatedInstance) -> None:
        """Finish the application in progress if it is due on the emulator's clock."""
        if inst.task_status != TASK_PROCESSING or inst.due_ms is None:
            return
        if int(self._clock() * 1000) < inst.due_ms:
            return
        due_s = inst.due_ms // 1000
        if inst.doomed is not None:
            inst.task_status, inst.task_message, inst.pending_result = TASK_FAILED, inst.doomed, inst.doomed
            inst.status, inst.doomed = "inactive", None
            inst.failed_applications += 1
        else:
            inst.task_status, inst.task_message, inst.pending_result = TASK_SUCCESS, "", ""
            inst.status, inst.certificate_status = "normal", "issued"
            inst.certificate_id = self._next_certificate_id
            self._next_certificate_id += 1
            inst.cert_not_before_s, inst.cert_not_after_s = due_s, min(due_s + 365 * 86_400, inst.order_end_s)
        self._touch(inst, inst.due_ms)
