"""What V2 instances the emulated account has bought: ``InstanceSpec`` and its one-line form.

A V1 account is configured by package quotas (``quotas=``); a V2 account by the instances it holds, each
bought for a brand, a certificate type and a number of exact and wildcard names. The one-line form is for
the command line (``--instances``) and the environment (``CAS_EMULATOR_INSTANCES``, read by the CLI and
the embedded default), so that a local run can be started in V2 mode without writing Python:

    COUNTxBRAND:TYPE:FULL+WILD[:STATUS[:INSTANCE_TYPE]]   entries separated by commas

for example ``3xDigiCert:DV:1+0,1xGeoTrust:OV:2+1,1xDigiCert:DV:1+0:normal``. ``COUNTx`` defaults to 1,
``STATUS`` to ``inactive`` and ``INSTANCE_TYPE`` to ``BUY``. Brands and types are the values the SDK models
list (models/_list_instances_request.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

#: The environment variable the CLI and the embedded default read the pool from.
INSTANCES_ENV = "CAS_EMULATOR_INSTANCES"
#: ``Brand`` values of ListInstances (models/_list_instances_request.py).
BRANDS = ("WoSign", "CFCA", "DigiCert", "GeoTrust", "GlobalSign", "vTrus", "Alibaba")
CERTIFICATE_TYPES = ("DV", "OV", "EV")
INSTANCE_TYPES = ("BUY", "TEST")
_STATUSES = ("inactive", "pending", "normal", "willExpire", "expired", "refund", "closed")
_ENTRY = re.compile(r"(?:(\d+)x)?([A-Za-z]+):([A-Za-z]+):(\d+)\+(\d+)(?::([A-Za-z]+))?(?::([A-Za-z]+))?")


@dataclass(frozen=True)
class InstanceSpec:
    """``count`` instances of one kind. ``status`` other than ``inactive`` starts them there with no
    application data (a ``normal`` one stands for a certificate issued outside the emulator)."""

    brand: str = "DigiCert"
    certificate_type: str = "DV"
    full_domain_count: int = 1
    wildcard_domain_count: int = 0
    count: int = 1
    status: str = "inactive"
    instance_type: str = "BUY"

    def __post_init__(self) -> None:
        if self.brand not in BRANDS:
            raise ValueError(f"brand {self.brand!r} is not one of {BRANDS}")
        if self.certificate_type not in CERTIFICATE_TYPES:
            raise ValueError(f"certificate type {self.certificate_type!r} is not one of {CERTIFICATE_TYPES}")
        if self.instance_type not in INSTANCE_TYPES:
            raise ValueError(f"instance type {self.instance_type!r} is not one of {INSTANCE_TYPES}")
        if self.status not in _STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {_STATUSES}")
        if self.full_domain_count < 0 or self.wildcard_domain_count < 0 or \
                self.full_domain_count + self.wildcard_domain_count == 0:
            raise ValueError("an instance binds at least one name (FULL+WILD > 0)")
        if self.count < 0:
            raise ValueError("count must be >= 0")


def parse_pool(text: str) -> tuple[InstanceSpec, ...]:
    """The specs of a one-line pool (see the module docstring); ValueError names the bad entry."""
    specs = []
    for raw in (part.strip() for part in text.split(",")):
        if not raw:
            continue
        match = _ENTRY.fullmatch(raw)
        if match is None:
            raise ValueError(f"instance pool entry {raw!r} is not COUNTxBRAND:TYPE:FULL+WILD[:STATUS[:TYPE]]")
        count, brand, kind, full, wild, status, instance_type = match.groups()
        brand = next((b for b in BRANDS if b.lower() == brand.lower()), brand)
        specs.append(InstanceSpec(brand=brand, certificate_type=kind.upper(), full_domain_count=int(full),
                                  wildcard_domain_count=int(wild), count=int(count or 1),
                                  status=status or "inactive", instance_type=(instance_type or "BUY").upper()))
    return tuple(specs)


def pool_from_environment(environ: Mapping[str, str] = os.environ) -> tuple[InstanceSpec, ...]:
    """The pool ``CAS_EMULATOR_INSTANCES`` describes; empty (a V1-only account) when it is unset."""
    return parse_pool(environ.get(INSTANCES_ENV, ""))
