"""The V2.0 instance calls: ListInstances, GetInstanceDetail, UpdateInstance, ApplyCertificate,
GetTaskAttribute, GetUserCertificateDetail, and the contact and company calls they depend on (``directory.py``).

Like the V1 actions they run after the route, the signature, the nonce, the flow control and the
injected errors (``server.py``), so they deal in business rules only, under the emulator's one lock:
that is what makes "one application in progress per instance" hold against concurrent callers, so that
of N simultaneous ApplyCertificate calls exactly one commits. Request parameter names and response
shapes are the SDK's (``alibabacloud_cas20200407`` 3.9.4 ``models/``), cited per handler.

The codes for an unknown instance (``InvalidInstanceId.NotFound``, 404), a state that forbids the call
(``IncorrectInstanceStatus``, 403), a second application while one is processing (``OperationConflict``,
403) and an unknown task (``InvalidTaskId.NotFound``, 404) are UNCONFIRMED: CAS's pages only point to its
error centre. What DomainValidationList holds before and after the application is UNCONFIRMED as well.

GetUserCertificateDetail answers for the certificates of issued instances only (a V1 order's certificate is
read with DescribeCertificateState here); an unknown ``CertId`` is ``InvalidCertId.NotFound`` (404,
UNCONFIRMED). Its certificate comes from the emulator's throwaway CA (``issuing.py``, an ECC P-256 leaf
whatever ``KeyAlgorithm`` says), minted on the first call with the instance's names and validity; ``Key``
is returned only when CAS made the key (``GenerateCsrMethod`` online), as the documentation's example shows.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from .actions import ActionHandler, Call
from .instance_rules import check_validation_method, incomplete, parse_update
from .instances import INSTANCE_STATUSES, SITE_REGION, TASK_PROCESSING, EmulatedInstance, InstanceState
from .issuing import CertificateIssuer
from .pool_spec import BRANDS, CERTIFICATE_TYPES, INSTANCE_TYPES
from .protocol import (
    ACTION_APPLY,
    ACTION_CREATE_CONTACT,
    ACTION_GET_COMPANY,
    ACTION_GET_CONTACT,
    ACTION_INSTANCE_DETAIL,
    ACTION_LIST_COMPANIES,
    ACTION_LIST_CONTACTS,
    ACTION_LIST_INSTANCES,
    ACTION_TASK,
    ACTION_UPDATE_INSTANCE,
    ACTION_USER_CERTIFICATE,
    ApiError,
    invalid,
    missing,
)
from .validation import int_param, paging

CERTIFICATE_STATUSES = ("issued", "revoked", "willExpire", "expired")
TASK_TYPES = ("ApplyCertificate",)
#: Statuses in which an instance takes no change at all (not even tags).
FROZEN_STATUSES = frozenset({"refund", "closed"})


def _validation_list(inst: EmulatedInstance) -> list[dict[str, Any]]:
    """``DomainValidationList`` (models/_get_instance_detail_response_body.py,
    ``GetInstanceDetailResponseBodyDomainValidationList``): what to publish while the application runs."""
    entries = []
    for domain in inst.domains:
        bare = domain[2:] if domain.startswith("*.") else domain
        root = ".".join(bare.split(".")[-2:])
        if inst.validation_method == "HTTP":
            entries.append({"Domain": domain, "RootDomain": root, "ValidationType": "HTTP",
                            "ValidationKey": f"http://{bare}/.well-known/pki-validation/fileauth.txt",
                            "ValidationValue": inst.validation_token})
        else:
            entries.append({"Domain": domain, "RootDomain": root, "ValidationType": "TXT",
                            "ValidationKey": f"_dnsauth.{bare}", "ValidationValue": inst.validation_token})
    return entries


def _detail(inst: EmulatedInstance) -> dict[str, Any]:
    """GetInstanceDetail's body (models/_get_instance_detail_response_body.py): the list item's fields plus
    the application data, ``Tags`` as ``[{TagKey, TagValue}]`` and the task's ``PendingResult``."""
    body = inst.list_item()
    body.update(
        GenerateCsrMethod=inst.generate_csr_method, ValidationMethod=inst.validation_method,
        ContactIdList=list(inst.contact_ids), CountryCode=inst.country_code, Province=inst.province, City=inst.city,
        Tags=[{"TagKey": k, "TagValue": v} for k, v in inst.tags.items()],
        UpgradeStatus="none", AutoReissueFlag=0,
        DomainValidationList=_validation_list(inst) if inst.task_status == TASK_PROCESSING else [],
    )
    if inst.company_id is not None:
        body["CompanyId"] = inst.company_id
    if inst.csr:
        body["Csr"] = inst.csr
    return body


def _matches(item: dict[str, Any], filters: dict[str, str], keyword: str) -> bool:
    if any(value and item.get(name) != value for name, value in filters.items()):
        return False
    haystack = (item["InstanceId"], item["Domain"], item.get("CertificateName", ""))
    return not keyword or any(keyword in text.lower() for text in haystack)


class InstanceActions(InstanceState):
    """The V2 action handlers, over the instance pool and the directory they inherit."""

    #: The account's throwaway CA (``state.AccountState`` makes it; V1 orders are minted by it too).
    _issuer: CertificateIssuer

    def _instance_handlers(self) -> dict[str, ActionHandler]:
        return {
            ACTION_LIST_INSTANCES: self._list_instances,
            ACTION_INSTANCE_DETAIL: self._instance_detail,
            ACTION_UPDATE_INSTANCE: self._update_instance,
            ACTION_APPLY: self._apply_certificate,
            ACTION_TASK: self._task_attribute,
            ACTION_USER_CERTIFICATE: self._user_certificate,
            ACTION_LIST_CONTACTS: self._list_contacts,
            ACTION_CREATE_CONTACT: self._create_contact,
            ACTION_GET_CONTACT: self._get_contact,
            ACTION_LIST_COMPANIES: self._list_companies,
            ACTION_GET_COMPANY: self._get_company,
        }

    def _find(self, params: dict[str, str], name: str = "InstanceId") -> EmulatedInstance:
        """The instance a call names, its application ripened (caller holds the lock)."""
        instance_id = (params.get(name) or "").strip()
        if not instance_id:
            raise missing(name)
        inst = self._instances.get(instance_id)
        if inst is None:
            raise ApiError(404, "InvalidInstanceId.NotFound", f"The instance {instance_id} does not exist.")
        self._ripen(inst)
        return inst

    def _list_instances(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        """ListInstances (models/_list_instances_request.py, _list_instances_response_body.py): filters
        ``Status``, ``CertificateStatus``, ``CertificateType``, ``Brand``, ``InstanceType``, ``Keyword``
        (instance ID, domain or name); ``ShowSize`` 10 by default, at most 100. Listed as of the list lag."""
        choices = {"Status": INSTANCE_STATUSES, "CertificateStatus": CERTIFICATE_STATUSES,
                   "CertificateType": CERTIFICATE_TYPES, "Brand": BRANDS, "InstanceType": INSTANCE_TYPES}
        filters = {name: params.get(name) or "" for name in choices}
        for name, value in filters.items():
            if value and value not in choices[name]:
                raise invalid(name, f"must be one of {', '.join(choices[name])}")
        page, size = paging(params, default_size=10, max_size=100)
        keyword = (params.get("Keyword") or "").strip().lower()
        with self._lock:
            self._ripen_all()
            views = [self._listed_view(inst, call.now_ms) for inst in reversed(self._instances.values())]
            found = [v for v in views if v is not None and _matches(v, filters, keyword)]
            items = [dict(v) for v in found[(page - 1) * size: page * size]]
        enabled = sum(1 for v in found if v.get("AutoReissue") == "enable")
        return {"InstanceList": items, "TotalCount": len(found), "CurrentPage": page, "ShowSize": size,
                "EnableReissueCount": enabled, "DisableReissueCount": len(found) - enabled}

    def _instance_detail(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        """GetInstanceDetail: always current (no list lag), Tags included."""
        with self._lock:
            return _detail(self._find(params))

    def _update_instance(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        """UpdateInstance (models/_update_instance_request.py; the answer is RequestId only,
        models/_update_instance_response_body.py). Application data can change only while ``inactive``;
        tags, name and AutoReissue in any status but refund/closed. Nothing changes unless all is valid."""
        with self._lock:
            inst = self._find(params)
            if inst.status in FROZEN_STATUSES:
                raise ApiError(403, "IncorrectInstanceStatus", f"The instance {inst.instance_id} is {inst.status}.")
            update = parse_update(params, generate_csr_method=inst.generate_csr_method, stored_csr=inst.csr,
                                  counts=(inst.full_domain_count, inst.wildcard_domain_count))
            if update.touches_application and inst.status != "inactive":
                raise ApiError(403, "IncorrectInstanceStatus", f"The instance {inst.instance_id} is {inst.status}: "
                                                              "its application data can no longer change.")
            for contact_id in update.fields.get("contact_ids", []):
                self._contact(contact_id)
            if update.fields.get("company_id") is not None:
                self._company(update.fields["company_id"])
            if len({**inst.tags, **update.tags}) > 20:
                raise invalid("Tags", "an instance has at most 20 tags")
            domains = update.fields.get("domains", inst.domains)
            check_validation_method(update.fields.get("validation_method", inst.validation_method), domains)
            for attribute, value in update.fields.items():
                setattr(inst, attribute, value)
            inst.tags.update(update.tags)
            self._touch(inst, call.now_ms)
        return {}

    def _check_complete(self, inst: EmulatedInstance) -> None:
        """What ApplyCertificate needs that UpdateInstance may not have set (caller holds the lock)."""
        if not inst.domains:
            raise incomplete("Csr" if inst.generate_csr_method == "upload" else "Domain")
        if not inst.validation_method:
            raise incomplete("ValidationMethod")
        contacts = [self._contacts[c] for c in inst.contact_ids if c in self._contacts] or \
            list(self._contacts.values())
        if not contacts:
            raise incomplete("ContactIdList")
        if inst.brand == "CFCA" and not all(c.idcard for c in contacts):
            raise incomplete("ContactIdList")  # CFCA wants the contact's ID card (models/_create_contact_request.py)
        if inst.certificate_type in ("OV", "EV") and inst.company_id is None:
            raise incomplete("CompanyId")

    def _apply_certificate(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        """ApplyCertificate (models/_apply_certificate_request.py; answer RequestId only): commits the
        instance's application. Refused while one is processing, outside ``inactive``, or incomplete."""
        with self._lock:
            inst = self._find(params)
            if inst.task_status == TASK_PROCESSING:
                raise ApiError(403, "OperationConflict", f"The instance {inst.instance_id} has an application "
                                                         "in progress; wait for GetTaskAttribute to finish it.")
            if inst.status != "inactive":
                raise ApiError(403, "IncorrectInstanceStatus", f"The instance {inst.instance_id} is {inst.status}; "
                                                              "only an inactive instance can apply.")
            self._check_complete(inst)
            inst.status, inst.task_status, inst.task_message, inst.pending_result = "pending", TASK_PROCESSING, "", ""
            inst.applied_ms, inst.due_ms = call.now_ms, call.now_ms + int(self._application_s * 1000)
            inst.doomed = self._take_application_failure(inst)
            inst.validation_token = secrets.token_hex(16)
            inst.applications.append(call.request_id)
            self._touch(inst, call.now_ms)
        return {}

    def _task_attribute(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        """GetTaskAttribute (models/_get_task_attribute_request.py, _get_task_attribute_response_body.py):
        ``TaskId`` is the instance ID; ``TaskType`` defaults to ApplyCertificate."""
        task_type = params.get("TaskType") or "ApplyCertificate"
        if task_type not in TASK_TYPES:
            raise invalid("TaskType", f"must be one of {', '.join(TASK_TYPES)}")
        with self._lock:
            try:
                inst = self._find(params, "TaskId")
            except ApiError as err:
                if err.code != "InvalidInstanceId.NotFound":
                    raise
                inst = None
            if inst is None or not inst.task_status:
                raise ApiError(404, "InvalidTaskId.NotFound", f"No {task_type} task {params['TaskId']} exists.")
            return {"TaskStatus": inst.task_status, "TaskMessage": inst.task_message}

    def _user_certificate(self, params: dict[str, str], call: Call) -> dict[str, Any]:
        """GetUserCertificateDetail (models/_get_user_certificate_detail_request.py, _response_body.py): the
        certificate ``CertId``, with ``Cert`` and (CAS-made key only) ``Key`` unless ``CertFilter`` is true.
        ``NotBefore``/``NotAfter`` are milliseconds, as V1's certificate times are (UNCONFIRMED for this call)."""
        cert_id = int_param(params, "CertId", required=True)
        hide_content = (params.get("CertFilter") or "").lower() == "true"
        with self._lock:
            self._ripen_all()
            inst = next((i for i in self._instances.values()
                         if i.certificate_id is not None and i.certificate_id == cert_id), None)
            if inst is None or inst.cert_not_before_s is None or inst.cert_not_after_s is None:
                raise ApiError(404, "InvalidCertId.NotFound", f"The certificate {cert_id} does not exist.")
            start = dt.datetime.fromtimestamp(inst.cert_not_before_s, tz=dt.timezone.utc)
            end = dt.datetime.fromtimestamp(inst.cert_not_after_s, tz=dt.timezone.utc)
            if inst.certificate_pem is None:
                csr = inst.csr if inst.generate_csr_method == "upload" else None
                inst.certificate_pem, inst.private_key_pem = self._issuer.mint(inst.domains, csr, start, end)
            body: dict[str, Any] = {
                "Id": inst.certificate_id, "CertIdentifier": f"{inst.certificate_id}-{SITE_REGION}",
                "Name": inst.certificate_name or f"cert-{inst.certificate_id}", "InstanceId": inst.instance_id,
                "Common": inst.domains[0], "Sans": inst.domain, "Issuer": "CAS Emulator Test CA",
                "StartDate": start.strftime("%Y-%m-%d"), "EndDate": end.strftime("%Y-%m-%d"),
                "NotBefore": inst.cert_not_before_s * 1000, "NotAfter": inst.cert_not_after_s * 1000,
                "Expired": call.now_ms >= inst.cert_not_after_s * 1000, "BuyInAliyun": True,
                "ResourceGroupId": inst.resource_group_id,
                "Tags": [{"TagKey": k, "TagValue": v} for k, v in inst.tags.items()],
            }
            if not hide_content:
                body["Cert"] = inst.certificate_pem
                if inst.private_key_pem is not None:
                    body["Key"] = inst.private_key_pem
            return body
