"""Settings, read once from the environment when an instance starts.

The variable names are a public contract (README lists each one); deployments drive casrelay only
through them. Reading and checking them in one place means a bad value fails loudly at start-up with
the variable's name, instead of surfacing later as a confusing error in the middle of an order.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

DEFAULT_CAS_ENDPOINT = "cas.aliyuncs.com"
DEFAULT_CAS_REGION = "cn-hangzhou"
#: The API document names symantec-free-1-free as the default; CAS itself now defaults to
#: digicert-free-1-free. casrelay always sends an explicit ProductCode so that what it records
#: is what CAS charged, and lets the operator choose the default.
DEFAULT_PRODUCT_CODE = "symantec-free-1-free"


#: ``CAS_ORDER_API`` values: which CAS generation the account's certificates belong to.
ORDER_APIS = ("package", "instance")


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
    #: ``CAS_ORDER_API``: ``package`` (V1.0 certificate packages) or ``instance`` (V2.0 certificate instances).
    order_api: str = "package"
    #: ``CAS_TASK_WAIT_SECONDS``: how long an order waits for its V2.0 application (GetTaskAttribute) to end.
    task_wait_seconds: float = 5.0

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


def env_seconds_list(env: Mapping[str, str], name: str, default: tuple[float, ...], hi: float,
                     error: ErrorFactory = ConfigError) -> tuple[float, ...]:
    """A comma-separated list of waits in seconds (``60,120,300``), each between 0 and ``hi``."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    values = []
    for part in raw.split(","):
        try:
            value = float(part.strip())
        except ValueError:
            raise error(f"{name} must be a comma-separated list of seconds, got {raw[:60]!r}") from None
        if not 0 <= value <= hi or value != value:
            raise error(f"{name} must list seconds between 0 and {hi:g}, got {part.strip()[:20]!r}")
        values.append(value)
    if len(values) > 50:
        raise error(f"{name} lists {len(values)} waits; at most 50")
    return tuple(values)


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


#: Standard Webhooks secrets are 24 to 64 random bytes; a shorter key is guessable.
MIN_WEBHOOK_SECRET_BYTES = 24
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_REGION = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
#: Credential values are printable ASCII without spaces; an STS token is the longest, a few KiB.
_CREDENTIAL = re.compile(r"[\x21-\x7e]+")
CREDENTIAL_VARIABLES = (("ALIBABA_CLOUD_ACCESS_KEY_ID", 128), ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", 256),
                        ("ALIBABA_CLOUD_SECURITY_TOKEN", 16384))


def whsec_key(secret: str) -> bytes | None:
    """The key of a ``whsec_<base64>`` secret (padding optional), or None when it is not that."""
    if not secret.startswith("whsec_"):
        return None
    raw = secret[len("whsec_"):]
    try:
        return base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _webhook_secrets(env: Mapping[str, str]) -> tuple[str, ...]:
    secrets = tuple(env.get("WEBHOOK_SECRETS", "").split())
    for i, secret in enumerate(secrets, 1):
        if not secret.startswith("whsec_"):
            raise ConfigError(f"WEBHOOK_SECRETS entry {i} does not start with whsec_")
        key = whsec_key(secret)
        if key is None:
            raise ConfigError(f"WEBHOOK_SECRETS entry {i} is not whsec_ followed by base64")
        if len(key) < MIN_WEBHOOK_SECRET_BYTES:
            raise ConfigError(f"WEBHOOK_SECRETS entry {i} is {len(key)} bytes; Standard Webhooks needs at least "
                              f"{MIN_WEBHOOK_SECRET_BYTES}")
    return secrets


def _valid_host(host: str) -> bool:
    """An IP literal, or a DNS name in ASCII (LDH labels of 1-63 characters, 253 in all)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))


def env_endpoint(env: Mapping[str, str], name: str, default: str, error: ErrorFactory = ConfigError) -> str:
    """A host or ``host:port`` from ``env[name]`` (``default`` when unset), as the SDK's ``Config(endpoint=)``
    takes it; ``error`` builds the exception naming the variable. Checked here because the SDK would only
    fail on the first call, long after start-up."""
    from urllib.parse import urlsplit

    endpoint = env.get(name, "").strip() or default
    if "://" in endpoint or "/" in endpoint:
        raise error(f"{name} is a host or host:port (no scheme, no path), e.g. {default}")
    usage = (f"{name} must be a host name (in ASCII; punycode for IDN) or an IP address ([...] for IPv6), "
             f"with an optional :port from 1 to 65535, e.g. {default}")
    try:
        parts = urlsplit(f"//{endpoint}")
        host, port = parts.hostname or "", parts.port
    except ValueError:
        raise error(usage) from None
    if parts.username is not None or parts.query or parts.fragment or not _valid_host(host) \
            or (port is not None and not 1 <= port <= 65535) or (":" in host and not endpoint.startswith("[")):
        raise error(usage)
    return endpoint


def env_protocol(env: Mapping[str, str], name: str, endpoint_name: str, endpoint: str,
                 error: ErrorFactory = ConfigError) -> str:
    """``https`` (the default) or ``http``; plain HTTP only towards a loopback endpoint (a local emulator), so
    that no deployment can send signed calls in the clear by mistake."""
    protocol = env.get(name, "").strip().lower() or "https"
    if protocol not in ("https", "http"):
        raise error(f"{name} must be https or http, got {protocol[:20]!r}")
    if protocol == "http" and not is_loopback_host(endpoint):
        raise error(f"{name}=http is allowed only for a loopback {endpoint_name} (the local emulator)")
    return protocol


def _cas_ca_file(env: Mapping[str, str]) -> str | None:
    ca_file = env.get("CAS_CA_FILE", "").strip() or None
    if ca_file is None:
        return None
    if not (os.path.isabs(ca_file) and os.path.isfile(ca_file)):
        raise ConfigError("CAS_CA_FILE must be the absolute path of a readable PEM file of CA certificates")
    import ssl  # only a deployment with its own CA pays for loading it here

    try:
        ssl.create_default_context(cafile=ca_file)
    except (OSError, ValueError, ssl.SSLError):
        raise ConfigError("CAS_CA_FILE must be the absolute path of a readable PEM file of CA certificates; "
                          "this file holds no certificate that can be loaded") from None
    return ca_file


def _check_credentials(env: Mapping[str, str]) -> None:
    """The ``ALIBABA_CLOUD_*`` credentials, when set, must be sendable: a value the SDK cannot put in a
    header fails only while the paid call is being sent, where it looks like an unknown outcome."""
    for name, limit in CREDENTIAL_VARIABLES:
        value = env.get(name, "").strip()
        if value and not (len(value) <= limit and _CREDENTIAL.fullmatch(value)):
            raise ConfigError(f"{name} must be printable ASCII without spaces, at most {limit} characters")


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Build ``Settings`` from ``env`` (the process environment by default) or raise ``ConfigError``."""
    env = os.environ if env is None else env

    endpoint = env_endpoint(env, "CAS_ENDPOINT", DEFAULT_CAS_ENDPOINT)
    protocol = env_protocol(env, "CAS_PROTOCOL", "CAS_ENDPOINT", endpoint)

    region = env.get("CAS_REGION", "").strip() or DEFAULT_CAS_REGION
    if not (len(region) <= 64 and _REGION.fullmatch(region)):
        raise ConfigError("CAS_REGION must be a region id such as cn-hangzhou or ap-southeast-1")

    from .products import PRODUCT_CODES  # a leaf module, shared with the rules: no cycle through validation

    product = env.get("DEFAULT_PRODUCT_CODE", "").strip() or DEFAULT_PRODUCT_CODE
    if product not in PRODUCT_CODES:
        raise ConfigError(f"DEFAULT_PRODUCT_CODE {product[:40]!r} is not a CAS product code")

    auth = env.get("WEBHOOK_AUTH", "").strip().lower() or "standard"
    if auth not in ("standard", "none"):
        raise ConfigError("WEBHOOK_AUTH must be 'standard' (verify Standard Webhooks signatures) or 'none'")
    secrets = _webhook_secrets(env)
    ca_file = _cas_ca_file(env)
    _check_credentials(env)
    order_api = env.get("CAS_ORDER_API", "").strip().lower() or "package"
    if order_api not in ORDER_APIS:
        raise ConfigError(f"CAS_ORDER_API must be package (V1.0 certificate packages) or instance (V2.0 "
                          f"certificate instances), got {order_api[:20]!r}")

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
        order_api=order_api,
        task_wait_seconds=env_float(env, "CAS_TASK_WAIT_SECONDS", 5.0, 0.0, 600.0),
    )
