"""Sink settings and ``ORDER_SINKS`` parsing, checked when the instance starts.

A sink that cannot work must fail before the first paid order, not after it: an OrderId that cannot
be pushed is an order nobody hears about. So every entry is parsed and every variable a sink needs is
checked here, and the error names the variable and the entry. Entries may carry credentials (user
info, query tokens), so errors show an entry only as ``scheme://host/path``.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..config import env_int
from . import ssrf
from .base import Sink
from .callback import CallbackSink, display_url
from .exceptions import bad_sink_entry, config_error
from .local import FileSink, StdoutSink
from .mns import CredentialsProvider, MnsSink, env_credentials, parse_endpoint
from .sqs import REGION, SqsSink

SCHEMES = ("https", "http", "mns", "sqs", "sqs+https", "sqs+http", "file", "stdout")


@dataclass(frozen=True)
class PushConfig:
    order_sinks: tuple[str, ...] = field(default=(), repr=False)  # entries may hold credentials
    callback_secrets: tuple[str, ...] = field(default=(), repr=False)
    callback_allow_hosts: frozenset[str] = frozenset()
    callback_timeout_ms: int = 5000
    callback_max_attempts: int = 3
    mns_endpoint: str | None = None
    sqs_region: str | None = None


def split_sinks(spec: str) -> tuple[str, ...]:
    """Comma-separated entries; blanks (a trailing comma) are ignored."""
    return tuple(e.strip() for e in spec.split(",") if e.strip())


def _secrets(env: Mapping[str, str]) -> tuple[str, ...]:
    """Space-separated ``whsec_`` secrets; the callback is signed with each (rotation on the receiver side)."""
    secrets = tuple(env.get("CALLBACK_SECRET", "").split())
    for i, secret in enumerate(secrets, 1):
        if not secret.startswith("whsec_"):
            raise config_error(f"CALLBACK_SECRET entry {i} does not start with whsec_")
        raw = secret.removeprefix("whsec_")
        try:
            key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise config_error(f"CALLBACK_SECRET entry {i} is not whsec_ followed by base64") from None
        if len(key) < 24:
            raise config_error(f"CALLBACK_SECRET entry {i} is {len(key)} bytes; Standard Webhooks needs at least 24")
    return secrets


def _allow_hosts(env: Mapping[str, str]) -> frozenset[str]:
    hosts = set()
    for entry in env.get("CALLBACK_ALLOW_HOSTS", "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        if not ssrf.valid_host(entry):
            raise config_error("CALLBACK_ALLOW_HOSTS entries are host names or IP addresses (no scheme, port or "
                               f"path), got {entry[:60]!r}")
        hosts.add(ssrf.normalise_host(entry))
    return frozenset(hosts)


def load_config(env: Mapping[str, str] | None = None) -> PushConfig:
    """Read the sink variables from ``env`` (the process environment by default) or raise SinkConfigError."""
    env = os.environ if env is None else env
    mns_endpoint = env.get("MNS_ENDPOINT", "").strip() or None
    if mns_endpoint is not None:
        try:
            mns_endpoint = parse_endpoint(mns_endpoint)
        except ValueError as exc:
            raise config_error(f"MNS_ENDPOINT {exc}") from None
    region = (env.get("SQS_REGION", "").strip() or env.get("AWS_REGION", "").strip()) or None
    if region is not None and not REGION.fullmatch(region):
        name = "SQS_REGION" if env.get("SQS_REGION", "").strip() else "AWS_REGION"
        raise config_error(f"{name} {region[:30]!r} is not an AWS region name")
    return PushConfig(
        order_sinks=split_sinks(env.get("ORDER_SINKS", "")),
        callback_secrets=_secrets(env),
        callback_allow_hosts=_allow_hosts(env),
        callback_timeout_ms=env_int(env, "CALLBACK_TIMEOUT_MS", 5000, 100, 60000, config_error),
        callback_max_attempts=env_int(env, "CALLBACK_MAX_ATTEMPTS", 3, 1, 10, config_error),
        mns_endpoint=mns_endpoint,
        sqs_region=region,
    )


def _shown(entry: str) -> str:
    """The entry without anything that may be secret; an unparseable one shows only its scheme."""
    try:
        parts = urlsplit(entry)
        if parts.scheme.lower() == "stdout":
            return "stdout:"
        if parts.scheme.lower() == "file":
            return f"file://{parts.path}"
        return display_url(entry)
    except ValueError:
        scheme = entry.split(":", 1)[0] if ":" in entry else ""
        return f"{scheme[:16]}:…" if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*", scheme) else "…"


def build_sinks(spec: str, env: Mapping[str, str] | None = None, *,
                mns_credentials: CredentialsProvider | None = None, resolver: ssrf.Resolver | None = None,
                sleep: Callable[[float], None] | None = None, config: PushConfig | None = None) -> list[Sink]:
    """One sink per ``ORDER_SINKS`` entry, in order; every order goes to all of them.

    ``env`` supplies the other sink variables and, unless ``mns_credentials`` is given, the
    ``ALIBABA_CLOUD_*`` credentials MNS signs with (read at push time). ``resolver`` and ``sleep``
    exist for tests. Raises ``SinkConfigError`` naming ORDER_SINKS (or the variable) and the entry.
    """
    env = os.environ if env is None else env
    cfg = config or load_config(env)
    timeout_s = cfg.callback_timeout_ms / 1000
    extra: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
    sinks: list[Sink] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(split_sinks(spec), 1):
        shown = _shown(entry)
        try:
            scheme = urlsplit(entry).scheme.lower()
        except ValueError:
            raise bad_sink_entry(index, shown, "is not a URL") from None
        if scheme not in SCHEMES:
            raise bad_sink_entry(index, shown, f"has an unknown scheme; use one of {', '.join(SCHEMES)}")
        if scheme in ("https", "http") and not cfg.callback_secrets:
            raise config_error(f"CALLBACK_SECRET is required: ORDER_SINKS entry {index} ({shown!r}) is a callback, "
                               "and callbacks are signed")
        try:
            sink: Sink
            if scheme in ("https", "http"):
                sink = CallbackSink(entry, cfg.callback_secrets, allow_hosts=cfg.callback_allow_hosts,
                                    timeout_s=timeout_s, max_attempts=cfg.callback_max_attempts,
                                    resolver=resolver or socket.getaddrinfo, **extra)
            elif scheme == "mns":
                sink = MnsSink.from_url(entry, default_endpoint=cfg.mns_endpoint,
                                        credentials=mns_credentials or env_credentials(env), timeout_s=timeout_s,
                                        max_attempts=cfg.callback_max_attempts, **extra)
            elif scheme.startswith("sqs"):
                sink = SqsSink.from_url(entry, default_region=cfg.sqs_region, timeout_s=timeout_s,
                                        max_attempts=cfg.callback_max_attempts)
            elif scheme == "file":
                sink = FileSink.from_url(entry)
            else:
                if entry.lower() not in ("stdout:", "stdout://"):
                    raise ValueError("must be exactly stdout:")
                sink = StdoutSink()
        except ValueError as exc:
            raise bad_sink_entry(index, shown, str(exc)) from None
        if sink.name in seen:
            raise bad_sink_entry(index, shown, f"repeats entry {seen[sink.name]}; each order would be pushed twice")
        seen[sink.name] = index
        sinks.append(sink)
    return sinks
