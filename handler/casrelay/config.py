"""Settings, read once from the environment when an instance starts.

The variable names are a public contract (README lists each one); deployments drive casrelay only
through them. Reading and checking them in one place means a bad value fails loudly at start-up with
the variable's name, instead of surfacing later as a confusing error in the middle of an order.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

DEFAULT_CAS_ENDPOINT = "cas.aliyuncs.com"
DEFAULT_CAS_REGION = "cn-hangzhou"
#: The API document names symantec-free-1-free as the default; CAS itself now defaults to
#: digicert-free-1-free. casrelay always sends an explicit ProductCode so that what it records
#: is what CAS charged, and lets the operator choose the default.
DEFAULT_PRODUCT_CODE = "symantec-free-1-free"


class ConfigError(ValueError):
    """A configuration variable has a value casrelay cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    cas_endpoint: str = DEFAULT_CAS_ENDPOINT
    cas_region: str = DEFAULT_CAS_REGION
    cas_protocol: str = "https"
    cas_connect_timeout_ms: int = 5000
    cas_read_timeout_ms: int = 10000
    default_product_code: str = DEFAULT_PRODUCT_CODE
    webhook_auth: str = "standard"
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    max_body_bytes: int = 65536
    cas_max_qps: float = 10.0
    batch_concurrency: int = 8
    warm_connection: bool = True
    #: Validate and sign every order, and order nothing.
    dry_run: bool = False
    #: A PEM file of CA certificates to trust for the CAS endpoint instead of the system's (a test CA).
    cas_ca_file: str | None = None

    @property
    def webhook_auth_required(self) -> bool:
        return self.webhook_auth != "none"


ErrorFactory = Callable[[str], Exception]


def env_int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int,
            error: ErrorFactory = ConfigError) -> int:
    """A whole number from ``env[name]`` within [lo, hi]; ``error`` builds the exception naming the variable."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise error(f"{name} must be a whole number, got {raw[:40]!r}") from None
    if not lo <= value <= hi:
        raise error(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def env_flag(env: Mapping[str, str], name: str, default: bool, error: ErrorFactory = ConfigError) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise error(f"{name} must be true or false, got {raw[:20]!r}")


def env_float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float,
              error: ErrorFactory = ConfigError) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise error(f"{name} must be a number, got {raw[:40]!r}") from None
    if not lo <= value <= hi:
        raise error(f"{name} must be between {lo:g} and {hi:g}, got {value:g}")
    return value


def is_loopback_host(endpoint: str) -> bool:
    """True for ``localhost`` or a loopback address, with or without a port."""
    from urllib.parse import urlsplit

    try:
        host = urlsplit(f"//{endpoint}").hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Build ``Settings`` from ``env`` (the process environment by default) or raise ``ConfigError``."""
    env = os.environ if env is None else env

    endpoint = env.get("CAS_ENDPOINT", "").strip() or DEFAULT_CAS_ENDPOINT
    if "://" in endpoint or "/" in endpoint:
        raise ConfigError("CAS_ENDPOINT is a host or host:port (no scheme, no path), e.g. cas.aliyuncs.com")
    protocol = env.get("CAS_PROTOCOL", "").strip().lower() or "https"
    if protocol not in ("https", "http"):
        raise ConfigError(f"CAS_PROTOCOL must be https or http, got {protocol[:20]!r}")
    if protocol == "http" and not is_loopback_host(endpoint):
        raise ConfigError("CAS_PROTOCOL=http is allowed only for a loopback CAS_ENDPOINT (the local emulator)")

    region = env.get("CAS_REGION", "").strip() or DEFAULT_CAS_REGION

    from .validation.products import PRODUCT_CODES  # the list of products lives with the rules

    product = env.get("DEFAULT_PRODUCT_CODE", "").strip() or DEFAULT_PRODUCT_CODE
    if product not in PRODUCT_CODES:
        raise ConfigError(f"DEFAULT_PRODUCT_CODE {product[:40]!r} is not a CAS product code")

    auth = env.get("WEBHOOK_AUTH", "").strip().lower() or "standard"
    if auth not in ("standard", "none"):
        raise ConfigError("WEBHOOK_AUTH must be 'standard' (verify Standard Webhooks signatures) or 'none'")
    secrets = tuple(env.get("WEBHOOK_SECRETS", "").split())
    for i, secret in enumerate(secrets, 1):
        if not secret.startswith("whsec_"):
            raise ConfigError(f"WEBHOOK_SECRETS entry {i} does not start with whsec_")

    ca_file = env.get("CAS_CA_FILE", "").strip() or None
    if ca_file is not None and not (os.path.isabs(ca_file) and os.path.isfile(ca_file)):
        raise ConfigError("CAS_CA_FILE must be the absolute path of a readable PEM file of CA certificates")

    return Settings(
        cas_endpoint=endpoint,
        cas_region=region,
        cas_protocol=protocol,
        cas_connect_timeout_ms=env_int(env, "CAS_CONNECT_TIMEOUT_MS", 5000, 100, 60000),
        cas_read_timeout_ms=env_int(env, "CAS_READ_TIMEOUT_MS", 10000, 100, 120000),
        default_product_code=product,
        webhook_auth=auth,
        webhook_secrets=secrets,
        max_body_bytes=env_int(env, "MAX_BODY_BYTES", 65536, 1024, 32 * 1024 * 1024),
        cas_max_qps=env_float(env, "CAS_MAX_QPS", 10.0, 0.1, 1000.0),
        batch_concurrency=env_int(env, "BATCH_CONCURRENCY", 8, 1, 64),
        warm_connection=env_flag(env, "CAS_WARM_CONNECTION", True),
        dry_run=env_flag(env, "DRY_RUN", False),
        cas_ca_file=ca_file,
    )
