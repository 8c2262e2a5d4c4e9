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
``actions`` (the five CAS actions), ``issuing`` (certificates of issued orders),
``faults`` (fault injection), ``tls`` (the HTTPS mode), ``records`` (what was seen),
``server`` (the request pipeline), ``emulator`` (``CasEmulator``) and ``cli``
(``python -m devkit.cas_emulator``). This module re-exports the names the rest of
the repository imports.
"""

from __future__ import annotations

from .emulator import CasEmulator
from .protocol import (
    ACTION_CREATE,
    ACTION_LIST_ORDERS,
    ACTION_PACKAGE_STATE,
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
)
from .tls import HANDSHAKE_MODES, TLS_BREAK_CLOSE, TLS_BREAK_GARBAGE, TLS_BREAK_MODES

__all__ = [
    "ACTION_CREATE",
    "ACTION_LIST_ORDERS",
    "ACTION_PACKAGE_STATE",
    "DEMO_ACCESS_KEY_ID",
    "DEMO_ACCESS_KEY_SECRET",
    "DEMO_SECURITY_TOKEN",
    "DEMO_STS_ACCESS_KEY_ID",
    "DEMO_STS_ACCESS_KEY_SECRET",
    "DOCUMENTED_STATUSES",
    "FIRST_ORDER_ID",
    "HANDSHAKE_MODES",
    "OUTCOME_CLOSED_AFTER_COMMIT",
    "OUTCOME_DELAYED_AFTER_COMMIT",
    "OUTCOME_DROPPED",
    "OUTCOME_ERROR_AFTER_COMMIT",
    "OUTCOME_TLS_ERROR_AFTER_COMMIT",
    "PRODUCT_CODES",
    "THROTTLING_CODE",
    "THROTTLING_MESSAGE",
    "TLS_BREAK_CLOSE",
    "TLS_BREAK_GARBAGE",
    "TLS_BREAK_MODES",
    "CasEmulator",
]
