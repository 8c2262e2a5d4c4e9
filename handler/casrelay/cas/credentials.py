"""The function's own credentials for the signed call.

python3.10 offers them twice: as ``ALIBABA_CLOUD_*`` environment variables and as
``context.credentials``; python3.12 only as environment variables. The context wins when present
because FC refreshes it per invocation, while a long-lived instance's environment may hold an STS
token from start-up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    access_key_secret: str
    security_token: str | None = None

    def __repr__(self) -> str:  # never print a secret, even by accident
        return f"Credentials(access_key_id={self.access_key_id[:4]}***, sts={self.security_token is not None})"


def resolve(context: Any = None, env: Mapping[str, str] | None = None) -> Credentials | None:
    creds = getattr(context, "credentials", None) if context is not None else None
    if creds is not None:
        ak = getattr(creds, "access_key_id", None) or getattr(creds, "accessKeyId", None)
        sk = getattr(creds, "access_key_secret", None) or getattr(creds, "accessKeySecret", None)
        token = getattr(creds, "security_token", None) or getattr(creds, "securityToken", None)
        if ak and sk:
            return Credentials(str(ak), str(sk), str(token) if token else None)
    env = os.environ if env is None else env
    ak = env.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "").strip()
    sk = env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "").strip()
    token = env.get("ALIBABA_CLOUD_SECURITY_TOKEN", "").strip()
    if ak and sk:
        return Credentials(ak, sk, token or None)
    return None
