"""The embedded default: the function wired to the local CAS emulator, with no cloud account.

One context manager sets the environment the way a deployment would (``CAS_ENDPOINT`` on loopback,
``CAS_PROTOCOL=http``, or ``https`` with ``CAS_CA_FILE`` for the emulator's test CA, the emulator's
demo credentials, a demo webhook secret) and restores it afterwards, so the demo, the local server,
the local invoke and the tests all run the same setup.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import cas_emulator
from .fc_local import load_index

#: A demo secret for Standard Webhooks; it protects nothing and must never be deployed.
DEMO_WEBHOOK_SECRET = "whsec_Y2FzcmVsYXktbG9jYWwtZGVtby1zZWNyZXQtMDAwMA=="  # noqa: S105 - public demo value
#: The secret casrelay signs its callbacks with in the embedded default, and the receiver verifies.
DEMO_CALLBACK_SECRET = "whsec_Y2FzcmVsYXktY2FsbGJhY2stZGVtby1zZWNyZXQ="  # noqa: S105 - public demo value
SINK_KINDS = ("file", "callback", "mns", "sqs")
SQS_REGION = "us-east-1"


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

    receiver: Any = None  # devkit.callback_receiver.CallbackReceiver, when "callback" is a sink
    mns: Any = None  # devkit.mns_emulator.MnsEmulator, when "mns" is a sink
    sqs_endpoint: str | None = None  # moto's server, when "sqs" is a sink

    def pushed(self) -> list[dict[str, Any]]:
        """Every message the file sink received, in order."""
        if not self.sink_file.exists():
            return []
        return [json.loads(line) for line in self.sink_file.read_text().splitlines() if line.strip()]

    def pushed_by_sink(self) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """(message id, message) pairs that each running sink double accepted, in order."""
        out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        if self.sink_file.exists():
            out["file"] = [(m["Id"], m) for m in self.pushed()]
        if self.receiver is not None:
            out["callback"] = [(a.webhook_id or "", a.json()) for a in self.receiver.deliveries()]
        if self.mns is not None:
            out["mns"] = [(json.loads(b)["Id"], json.loads(b)) for b in self.mns.messages("orders")]
        if self.sqs_endpoint is not None:
            out["sqs"] = [(m["Id"], m) for m in _drain_sqs(self.sqs_endpoint)]
        return out


def _drain_sqs(endpoint: str) -> list[dict[str, Any]]:
    import boto3

    client = boto3.client("sqs", region_name=SQS_REGION, endpoint_url=endpoint)
    url = client.get_queue_url(QueueName="orders")["QueueUrl"]
    out: list[dict[str, Any]] = []
    while True:
        got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                     VisibilityTimeout=0).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append(json.loads(m["Body"]))
            client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


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
def embedded_default(extra_env: Mapping[str, str] | None = None, sinks: Sequence[str] = ("file",),
                     https: bool = False, **emulator_args: object) -> Iterator[Embedded]:
    """``sinks`` picks the doubles to start: ``file`` (a JSON-lines file), ``callback`` (a Standard
    Webhooks receiver), ``mns`` (the MNS emulator) and ``sqs`` (moto's server). ``https=True`` runs the
    CAS emulator in TLS mode with its test CA and points the function at it (``CAS_PROTOCOL=https``,
    ``CAS_CA_FILE``). Other keyword arguments go to ``CasEmulator`` (e.g. ``list_lag_seconds``)."""
    unknown = set(sinks) - set(SINK_KINDS)
    if unknown:
        raise ValueError(f"unknown sink kinds {sorted(unknown)}; choose from {SINK_KINDS}")
    if https:
        emulator_args["tls"] = True
    emulator = cas_emulator.CasEmulator(**emulator_args)  # type: ignore[arg-type]
    emulator.start()
    workdir = Path(tempfile.mkdtemp(prefix="casrelay-"))
    stack = ExitStack()
    stack.callback(emulator.stop)
    stack.callback(shutil.rmtree, workdir, ignore_errors=True)
    sink_urls: list[str] = []
    receiver = mns = sqs_endpoint = None
    if "file" in sinks:
        sink_urls.append(f"file://{workdir}/orders.jsonl")
    if "callback" in sinks:
        from .callback_receiver import CallbackReceiver

        receiver = CallbackReceiver(DEMO_CALLBACK_SECRET).start()
        stack.callback(receiver.stop)
        sink_urls.append(receiver.url())
    if "mns" in sinks:
        from .mns_emulator import MnsEmulator

        mns = MnsEmulator().start()
        stack.callback(mns.stop)
        sink_urls.append(f"mns://orders?endpoint={quote(mns.endpoint, safe='')}")
    if "sqs" in sinks:
        import boto3
        from moto.server import ThreadedMotoServer

        os.environ.setdefault("AWS_ACCESS_KEY_ID", "moto-demo")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "moto-demo")
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        host, port = moto.get_host_and_port()
        sqs_endpoint = f"http://{host}:{port}"
        boto3.client("sqs", region_name=SQS_REGION, endpoint_url=sqs_endpoint).create_queue(QueueName="orders")
        sink_urls.append(f"sqs+http://{host}:{port}/123456789012/orders?region={SQS_REGION}")
    env = {
        "CAS_ENDPOINT": emulator.endpoint,
        "CAS_PROTOCOL": emulator.protocol,
        "CAS_REGION": "cn-hangzhou",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": cas_emulator.DEMO_ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": cas_emulator.DEMO_ACCESS_KEY_SECRET,
        "ALIBABA_CLOUD_SECURITY_TOKEN": "",
        "WEBHOOK_AUTH": "standard",
        "WEBHOOK_SECRETS": DEMO_WEBHOOK_SECRET,
        "IDEMPOTENCY_STORE": f"sqlite://{workdir}/ledger.sqlite3",
        "ORDER_SINKS": ",".join(sink_urls),
        "CALLBACK_SECRET": DEMO_CALLBACK_SECRET,
        "CALLBACK_ALLOW_HOSTS": "127.0.0.1",
        "CALLBACK_TIMEOUT_MS": "2000",
        # The emulator lists an order as soon as it exists (unless a test sets a list lag), so a search right
        # after an ambiguous answer already proves whether it placed one.
        "RECONCILE_LIST_LAG_SECONDS": "0",
        # darabonba sends even loopback calls through HTTP(S)_PROXY and ignores NO_PROXY.
        "HTTP_PROXY": "", "HTTPS_PROXY": "", "http_proxy": "", "https_proxy": "",
    }
    if emulator.protocol == "https":
        env["CAS_CA_FILE"] = emulator.ca_file
    if emulator.list_lag_seconds > 0:
        # The function must not take an empty search for proof before the emulator lists new orders.
        env["RECONCILE_LIST_LAG_SECONDS"] = str(math.floor(emulator.list_lag_seconds) + 1)
    env.update(extra_env or {})
    index = load_index()
    with stack:
        try:
            with patched_environ(env):
                index.reset_for_tests()
                yield Embedded(emulator, DEMO_WEBHOOK_SECRET, env, workdir, receiver, mns, sqs_endpoint)
        finally:
            index.reset_for_tests()
