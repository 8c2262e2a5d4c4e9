"""A loopback double of the CAS (SSL Certificates Service, API 2020-04-07) RPC endpoint.

Tests and local runs point the real SDK at it (``Config(endpoint=emu.endpoint,
protocol=emu.protocol)``) so that everything below our code is exercised for real:
the SDK's V3 signing, URL encoding of ``Csr``/``Tags``, its exception mapping,
its timeouts and, with ``tls=True``, its TLS stack against a test CA. Only the
service behind the gateway is simulated: package quotas, orders, the product
rules, the 10 QPS flow control, the delay before a new order shows up in
ListUserCertificateOrder, and faults (errors, latency, lost or broken responses,
failed TLS handshakes) that are impossible to provoke on demand against the real
service but decide whether a client's retry logic double-orders. Every fault can
be aimed at the calls for one domain name, so that a seeded run injects the same
faults whatever the thread timing.

The emulator is meant as an independent oracle: it imports nothing from the
handler, and checks what CAS documents (section 1 of
shared/reference/cas-api-and-signing.md) by itself. Behaviour the public
documentation leaves open (HTTP status per code, what a cancelled order looks
like, DNS record naming) is a documented guess; see the constants and docstrings
in the modules, where such guesses say UNCONFIRMED.

The package is split by concern: ``protocol`` (names, codes, ``ApiError``),
``validation`` (parameter and CSR rules), ``signature`` (keys; the ACS3 checks are
``devkit.acs3``), ``state`` (the account: packages, orders, list lag, flow control),
``actions`` (the five CAS V1 actions), ``issuing`` (certificates of issued orders),
``faults`` (fault injection), ``tls`` (the HTTPS mode), ``records`` (what was seen),
``server`` (the request pipeline), ``emulator`` (``CasEmulator``) and ``cli``
(``python -m devkit.cas_emulator``). This module re-exports the names the rest of
the repository imports.

The V2.0 certificate-instance API is served beside V1 on the same endpoint, with the same signature,
nonce, flow-control and fault machinery: ListInstances, GetInstanceDetail, UpdateInstance,
ApplyCertificate, GetTaskAttribute, GetUserCertificateDetail, ListContact, CreateContact, GetContact,
ListCompanies and GetCompany (``instance_actions``, ``directory``; rules in ``instance_rules``, the pool
and its application clock in ``instances``). The pool is configured at start like the V1 packages:
``CasEmulator(instances=...)`` takes ``InstanceSpec``s or the one-line form of ``pool_spec``
(``"3xDigiCert:DV:1+0,1xGeoTrust:OV:2+1"``); ``python -m devkit.cas_emulator --instances SPEC`` and the
embedded default read the same form from the ``CAS_EMULATOR_INSTANCES`` environment variable. Without
one the account has no V2 instances and every V1 behaviour is unchanged. ``fail_applications`` makes
committed applications end ``failed``; the request faults (``error_after_commit(ACTION_APPLY, ...)`` and
the rest) hit V2 calls as they hit V1's.

The V1.0 order lifecycle is opt-in (``lifecycle``): ``CasEmulator(lifecycle=Lifecycle(dns=alidns))`` makes
orders move by themselves from domain_verify to process and certificate once their TXT record exists in the
Alidns double (``devkit.alidns_emulator``), or to verify_fail at the CA's deadline, on a CA clock that
``advance_ca_clock`` moves; DeleteCertificateRequest then returns a failed order's quota unit.
"""

from __future__ import annotations

from .emulator import CasEmulator
from .instances import INSTANCE_STATUSES, TASK_FAILED, TASK_PROCESSING, TASK_SUCCESS, EmulatedInstance
from .lifecycle import Lifecycle
from .pool_spec import INSTANCES_ENV, InstanceSpec, parse_pool, pool_from_environment
from .protocol import (
    ACTION_APPLY,
    ACTION_CREATE,
    ACTION_CREATE_CONTACT,
    ACTION_GET_COMPANY,
    ACTION_GET_CONTACT,
    ACTION_INSTANCE_DETAIL,
    ACTION_LIST_COMPANIES,
    ACTION_LIST_CONTACTS,
    ACTION_LIST_INSTANCES,
    ACTION_LIST_ORDERS,
    ACTION_PACKAGE_STATE,
    ACTION_TASK,
    ACTION_UPDATE_INSTANCE,
    ACTION_USER_CERTIFICATE,
    DEMO_ACCESS_KEY_ID,
    DEMO_ACCESS_KEY_SECRET,
    DEMO_SECURITY_TOKEN,
    DEMO_STS_ACCESS_KEY_ID,
    DEMO_STS_ACCESS_KEY_SECRET,
    DOCUMENTED_STATUSES,
    FIRST_ORDER_ID,
    OUTCOME_CLOSED_AFTER_COMMIT,
    OUTCOME_DELAYED_AFTER_COMMIT,
    OUTCOME_DROPPED,
    OUTCOME_ERROR_AFTER_COMMIT,
    OUTCOME_TLS_ERROR_AFTER_COMMIT,
    PRODUCT_CODES,
    THROTTLING_CODE,
    THROTTLING_MESSAGE,
    V1_ACTIONS,
    V2_ACTIONS,
)
from .tls import HANDSHAKE_MODES, TLS_BREAK_CLOSE, TLS_BREAK_GARBAGE, TLS_BREAK_MODES

__all__ = [
    "ACTION_APPLY",
    "ACTION_CREATE",
    "ACTION_CREATE_CONTACT",
    "ACTION_GET_COMPANY",
    "ACTION_GET_CONTACT",
    "ACTION_INSTANCE_DETAIL",
    "ACTION_LIST_COMPANIES",
    "ACTION_LIST_CONTACTS",
    "ACTION_LIST_INSTANCES",
    "ACTION_LIST_ORDERS",
    "ACTION_PACKAGE_STATE",
    "ACTION_TASK",
    "ACTION_UPDATE_INSTANCE",
    "ACTION_USER_CERTIFICATE",
    "DEMO_ACCESS_KEY_ID",
    "DEMO_ACCESS_KEY_SECRET",
    "DEMO_SECURITY_TOKEN",
    "DEMO_STS_ACCESS_KEY_ID",
    "DEMO_STS_ACCESS_KEY_SECRET",
    "DOCUMENTED_STATUSES",
    "FIRST_ORDER_ID",
    "HANDSHAKE_MODES",
    "INSTANCES_ENV",
    "INSTANCE_STATUSES",
    "OUTCOME_CLOSED_AFTER_COMMIT",
    "OUTCOME_DELAYED_AFTER_COMMIT",
    "OUTCOME_DROPPED",
    "OUTCOME_ERROR_AFTER_COMMIT",
    "OUTCOME_TLS_ERROR_AFTER_COMMIT",
    "PRODUCT_CODES",
    "TASK_FAILED",
    "TASK_PROCESSING",
    "TASK_SUCCESS",
    "THROTTLING_CODE",
    "THROTTLING_MESSAGE",
    "TLS_BREAK_CLOSE",
    "TLS_BREAK_GARBAGE",
    "TLS_BREAK_MODES",
    "V1_ACTIONS",
    "V2_ACTIONS",
    "CasEmulator",
    "EmulatedInstance",
    "InstanceSpec",
    "Lifecycle",
    "parse_pool",
    "pool_from_environment",
]
