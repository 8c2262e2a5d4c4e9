"""The embedded default: the function wired to the local CAS emulator, with no cloud account.

One context manager sets the environment the way a deployment would (``CAS_ENDPOINT`` on loopback,
``CAS_PROTOCOL=http``, the emulator's demo credentials, a demo webhook secret) and restores it
afterwards, so the demo, the local server, the local invoke and the tests all run the same setup.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from contextlib import contextmanager
from dataclasses import dataclass

from . import cas_emulator
from .fc_local import load_index

#: A demo secret for Standard Webhooks; it protects nothing and must never be deployed.
DEMO_WEBHOOK_SECRET = "whsec_Y2FzcmVsYXktbG9jYWwtZGVtby1zZWNyZXQtMDAwMA=="  # noqa: S105 - public demo value


@dataclass
class Embedded:
    emulator: cas_emulator.CasEmulator
    webhook_secret: str
    env: dict[str, str]
    #: A scratch folder for this run: the SQLite ledger and the file sink live here.
    workdir: Path

    @property
    def sink_file(self) -> Path:
        return self.workdir / "orders.jsonl"

    def pushed(self) -> list[dict[str, Any]]:
        """Every message the file sink received, in order."""
        if not self.sink_file.exists():
            return []
        return [json.loads(line) for line in self.sink_file.read_text().splitlines() if line.strip()]


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def embedded_default(extra_env: Mapping[str, str] | None = None, **emulator_args: object) -> Iterator[Embedded]:
    emulator = cas_emulator.CasEmulator(**emulator_args)  # type: ignore[arg-type]
    emulator.start()
    workdir = Path(tempfile.mkdtemp(prefix="casrelay-"))
    env = {
        "CAS_ENDPOINT": emulator.endpoint,
        "CAS_PROTOCOL": "http",
        "CAS_REGION": "cn-hangzhou",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": cas_emulator.DEMO_ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": cas_emulator.DEMO_ACCESS_KEY_SECRET,
        "ALIBABA_CLOUD_SECURITY_TOKEN": "",
        "WEBHOOK_AUTH": "standard",
        "WEBHOOK_SECRETS": DEMO_WEBHOOK_SECRET,
        "IDEMPOTENCY_STORE": f"sqlite://{workdir}/ledger.sqlite3",
        "ORDER_SINKS": f"file://{workdir}/orders.jsonl",
        # darabonba sends even loopback calls through HTTP(S)_PROXY and ignores NO_PROXY.
        "HTTP_PROXY": "", "HTTPS_PROXY": "", "http_proxy": "", "https_proxy": "",
    }
    env.update(extra_env or {})
    index = load_index()
    try:
        with patched_environ(env):
            index.reset_for_tests()
            yield Embedded(emulator, DEMO_WEBHOOK_SECRET, env, workdir)
    finally:
        index.reset_for_tests()
        emulator.stop()
        shutil.rmtree(workdir, ignore_errors=True)
