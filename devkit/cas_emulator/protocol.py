"""What the emulated CAS endpoint promises on the wire: names, codes, statuses and the error type.

Kept apart from the machinery so that tests, the chaos run and the other doubles can import the
contract (action names, outcome labels, demo credentials) without pulling in the server, and so
that every module of the emulator raises the same ``ApiError``. Values that the public CAS
documentation leaves open are documented guesses marked UNCONFIRMED.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

API_VERSION = "2020-04-07"
HOST_ID = "cas.aliyuncs.com"

# Demo credentials: public by design, printed by the CLI, never valid anywhere else.
DEMO_ACCESS_KEY_ID = "LTAI-emulator-demo"
DEMO_ACCESS_KEY_SECRET = "emulator-demo-secret"  # noqa: S105 - public demo value
DEMO_STS_ACCESS_KEY_ID = "STS.emulator-demo"
DEMO_STS_ACCESS_KEY_SECRET = "emulator-demo-sts-secret"  # noqa: S105 - public demo value
DEMO_SECURITY_TOKEN = "emulator-demo-security-token"  # noqa: S105 - public demo value

DEFAULT_PRODUCT_CODE = "digicert-free-1-free"
PRODUCT_CODES: tuple[str, ...] = (
    "digicert-free-1-free",
    "symantec-free-1-free",
    "symantec-dv-1-starter",
    "symantec-ov-1-personal",
    "symantec-ov-w-personal",
    "geotrust-dv-1-starter",
    "geotrust-dv-w-starter",
    "geotrust-ov-1-personal",
    "geotrust-ov-w-personal",
    "globalsign-dv-1-personal",
    "globalsign-dv-w-advanced",
    "globalsign-ov-1-personal",
    "globalsign-ov-w-advanced",
    "cfca-ov-1-personal",
    "cfca-ev-w-advanced",
)
DEFAULT_QUOTA = 1000
DEFAULT_QPS = 10
FIRST_ORDER_ID = 98987582437920968  # > 2**53 on purpose: catches clients that round-trip ids through floats
DEFAULT_SHOW_SIZE = 50
MAX_BODY_BYTES = 1 << 20

ACTION_CREATE = "CreateCertificateForPackageRequest"
ACTION_PACKAGE_STATE = "DescribePackageState"
ACTION_CERT_STATE = "DescribeCertificateState"
ACTION_LIST_ORDERS = "ListUserCertificateOrder"
ACTION_CANCEL = "CancelCertificateForPackageRequest"
#: Deletes an order that failed review and returns its quota unit (``lifecycle.py``).
ACTION_DELETE = "DeleteCertificateRequest"
V1_ACTIONS: frozenset[str] = frozenset(
    {ACTION_CREATE, ACTION_PACKAGE_STATE, ACTION_CERT_STATE, ACTION_LIST_ORDERS, ACTION_CANCEL, ACTION_DELETE}
)
# The V2.0 certificate-instance API (same endpoint, version and signing; see ``instances.py``).
ACTION_LIST_INSTANCES = "ListInstances"
ACTION_INSTANCE_DETAIL = "GetInstanceDetail"
ACTION_UPDATE_INSTANCE = "UpdateInstance"
ACTION_APPLY = "ApplyCertificate"
ACTION_TASK = "GetTaskAttribute"
ACTION_LIST_CONTACTS = "ListContact"
ACTION_CREATE_CONTACT = "CreateContact"
ACTION_GET_CONTACT = "GetContact"
ACTION_LIST_COMPANIES = "ListCompanies"
ACTION_GET_COMPANY = "GetCompany"
#: An issued certificate by its CertId: the PEM, and the key when CAS generated it (``instance_actions``).
ACTION_USER_CERTIFICATE = "GetUserCertificateDetail"
V2_ACTIONS: frozenset[str] = frozenset(
    {ACTION_LIST_INSTANCES, ACTION_INSTANCE_DETAIL, ACTION_UPDATE_INSTANCE, ACTION_APPLY, ACTION_TASK,
     ACTION_LIST_CONTACTS, ACTION_CREATE_CONTACT, ACTION_GET_CONTACT, ACTION_LIST_COMPANIES, ACTION_GET_COMPANY,
     ACTION_USER_CERTIFICATE}
)
SUPPORTED_ACTIONS: frozenset[str] = V1_ACTIONS | V2_ACTIONS

THROTTLING_CODE = "Throttling.User"
THROTTLING_MESSAGE = "Request was denied due to user flow control."
SERVICE_UNAVAILABLE_MESSAGE = "The request has failed due to a temporary failure of the server."

#: The order statuses ListUserCertificateOrder documents (its ``Status`` filter); an order never has another.
DOCUMENTED_STATUSES: tuple[str, ...] = (
    "PAYED", "CHECKING", "CHECKED_FAIL", "ISSUED", "WILLEXPIRED", "EXPIRED", "NOTACTIVATED", "REVOKED",
)
#: Status a freshly created order gets. The brief asks for PAYED; the real
#: console may show CHECKING while domain validation is pending (UNCONFIRMED).
INITIAL_ORDER_STATUS = "PAYED"
#: Pending orders: CancelCertificateForPackageRequest cancels them and returns their quota unit.
REFUNDABLE_STATUSES = frozenset({"PAYED", "CHECKING", "CHECKED_FAIL"})
#: Orders in these states are revoked (no refund) by CancelCertificateForPackageRequest.
REVOCABLE_STATUSES = frozenset({"ISSUED", "WILLEXPIRED"})
#: ``Type`` of DescribeCertificateState per order status; anything else is ``unknow`` (SDK spelling).
STATE_TYPE_BY_STATUS: Mapping[str, str] = {
    "PAYED": "domain_verify",
    "CHECKING": "process",
    "CHECKED_FAIL": "verify_fail",
    "ISSUED": "certificate",
    "WILLEXPIRED": "certificate",
}
ORDER_TYPES = frozenset({"CPACK", "BUY", "UPLOAD", "CERT"})

# Outcomes recorded besides "ok" and error codes.
OUTCOME_OK = "ok"
OUTCOME_DROPPED = "dropped_before_commit"
OUTCOME_CLOSED_AFTER_COMMIT = "closed_after_commit"
OUTCOME_DELAYED_AFTER_COMMIT = "delayed_after_commit"
OUTCOME_ERROR_AFTER_COMMIT = "error_after_commit"
OUTCOME_TLS_ERROR_AFTER_COMMIT = "tls_error_after_commit"


class ApiError(Exception):
    """An error answered with the standard gateway error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def missing(name: str) -> ApiError:
    return ApiError(400, "MissingParameter",
                    f'The input parameter "{name}" that is mandatory for processing this request is not supplied.')


def invalid(name: str, detail: str) -> ApiError:
    return ApiError(400, f"InvalidParameter.{name}", f"The specified parameter {name} is not valid: {detail}")


def new_request_id() -> str:
    return str(uuid.uuid4()).upper()
