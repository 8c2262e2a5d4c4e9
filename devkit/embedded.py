"""The embedded default: the function wired to the local CAS emulator, with no cloud account.

One context manager sets the environment the way a deployment would (``CAS_ENDPOINT`` on loopback,
``CAS_PROTOCOL=http``, or ``https`` with ``CAS_CA_FILE`` for the emulator's test CA, the emulator's
demo credentials, a demo webhook secret) and restores it afterwards, so the demo, the local server,
the local invoke and the tests all run the same setup.

``devkit serve`` and ``devkit invoke`` also let a user try a configuration: ``environment=os.environ``
applies every variable of README's Configuration table that the user's environment sets on top of
the embedded default (``user_overrides`` says which, and which are left out and why), and
``Embedded.summary`` says what is in use, never showing a secret the user set. ``local_ledger`` is the
one ledger file that ``serve``, ``invoke``, the demo and ``devkit.ledger_admin`` agree on.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

from . import alidns_emulator, cas_emulator
from .fc_local import load_index

#: A demo secret for Standard Webhooks; it protects nothing and must never be deployed.
DEMO_WEBHOOK_SECRET = "whsec_Y2FzcmVsYXktbG9jYWwtZGVtby1zZWNyZXQtMDAwMA=="  # noqa: S105 - public demo value
#: The secret casrelay signs its callbacks with in the embedded default, and the receiver verifies.
DEMO_CALLBACK_SECRET = "whsec_Y2FzcmVsYXktY2FsbGJhY2stZGVtby1zZWNyZXQ="  # noqa: S105 - public demo value
SINK_KINDS = ("file", "callback", "mns", "sqs")
SQS_REGION = "us-east-1"

#: Every variable of README's Configuration table, in its order. Set in the user's environment, each one
#: overrides the embedded default in ``devkit serve`` and ``devkit invoke`` (``configuration_variables``
#: adds any the table has gained since; ``tests/functional/test_devkit_newcomer.py`` checks both).
CONFIGURATION_VARIABLES: tuple[str, ...] = (
    "CAS_ENDPOINT", "CAS_REGION", "CAS_PROTOCOL", "CAS_CONNECT_TIMEOUT_MS", "CAS_READ_TIMEOUT_MS",
    "DEFAULT_PRODUCT_CODE", "WEBHOOK_AUTH", "WEBHOOK_SECRETS", "MAX_BODY_BYTES", "CAS_MAX_QPS",
    "CAS_ORDER_API", "CAS_TASK_WAIT_SECONDS", "CAS_WARM_CONNECTION", "BATCH_CONCURRENCY", "DRY_RUN",
    "IDEMPOTENCY_STORE", "IDEMPOTENCY_RETENTION_SECONDS",
    "IDEMPOTENCY_CLAIM_SECONDS", "PRECHECK_QUOTA", "CANCEL_DUPLICATE_ORDERS", "SWEEP_MIN_AGE_SECONDS",
    "SWEEP_MAX_TRIES", "RECONCILE_LIST_LAG_SECONDS", "CAS_CA_FILE", "ORDER_TAG_KEY", "ORDER_SINKS",
    "CALLBACK_SECRET", "CALLBACK_ALLOW_HOSTS", "CALLBACK_TIMEOUT_MS", "CALLBACK_MAX_ATTEMPTS", "MNS_ENDPOINT",
    "SQS_REGION", "AWS_REGION", "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN",
)
#: Never printed, whoever set them (nor any variable whose name says SECRET, TOKEN or PASSWORD).
SECRET_VARIABLES = frozenset({"WEBHOOK_SECRETS", "CALLBACK_SECRET", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                              "ALIBABA_CLOUD_SECURITY_TOKEN"})
_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD")
_README = Path(__file__).resolve().parent.parent / "README.md"
_CODE_NAME = re.compile(r"`([A-Z][A-Z0-9_]{2,})`")
CREDENTIAL_VARIABLES = ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                        "ALIBABA_CLOUD_SECURITY_TOKEN")
#: Variables whose empty value means something (no tag, no sinks, no exempt host); any other empty
#: variable counts as unset, as the function reads an empty value as its default.
EMPTY_IS_A_VALUE = frozenset({"ORDER_TAG_KEY", "ORDER_SINKS", "CALLBACK_ALLOW_HOSTS"})
#: The access keys the embedded emulator knows: a user's credentials that are not one of them are
#: never sent to it (they would only be refused).
EMULATOR_KEY_IDS = frozenset({cas_emulator.DEMO_ACCESS_KEY_ID, cas_emulator.DEMO_STS_ACCESS_KEY_ID})
CREDENTIALS_NOTE = "the local CAS emulator knows only its demo keys; yours apply with your own CAS_ENDPOINT"
_URL_PASSWORD = re.compile(r"(//[^/@:\s]*:)[^@/\s]*@")


def readme_configuration_variables(readme: Path = _README) -> tuple[str, ...]:
    """The variables in the first column of README's Configuration table, in order; () without a README."""
    try:
        text = readme.read_text(encoding="utf-8")
    except OSError:
        return ()
    _, found, rest = text.partition("\n## Configuration\n")
    names: list[str] = []
    for line in rest.splitlines() if found else []:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            first = line.split("|")[1] if line.count("|") >= 2 else ""
            names += [n for n in _CODE_NAME.findall(first) if n not in names]
    return tuple(names)


def configuration_variables() -> tuple[str, ...]:
    """Every variable a user's environment may set for ``serve``/``invoke``: the list above, and any
    variable README's Configuration table has gained since, so that a new one works before this
    module is told about it."""
    extra = [n for n in readme_configuration_variables() if n not in CONFIGURATION_VARIABLES]
    return CONFIGURATION_VARIABLES + tuple(extra)


def is_secret(name: str) -> bool:
    return name in SECRET_VARIABLES or bool(_SECRET_NAME.search(name))


def devkit_dir() -> Path:
    """The devkit's own folder under the temporary directory: the local ledger and the log files."""
    path = Path(tempfile.gettempdir()) / "casrelay-devkit"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def local_ledger_url() -> str:
    """The ledger that ``serve``, ``invoke``, the demo and ``ledger_admin`` open when IDEMPOTENCY_STORE is unset."""
    return f"sqlite://{devkit_dir() / 'ledger.sqlite3'}"


@dataclass(frozen=True)
class LocalLedger:
    """The local ledger for one run: ``url`` when this run holds it, else None and ``holder`` (a pid)."""

    url: str | None
    holder: str = ""


@contextmanager
def local_ledger() -> Iterator[LocalLedger]:
    """Hold the local ledger for one run, emptied first: every run starts a fresh CAS emulator, and a
    ledger that remembered another emulator's orders would answer orders this one never placed. The
    file stays after the run, for ``ledger_admin``. A second devkit process at the same time (a
    ``serve`` already running) finds it held, and its run gets a ledger of its own in its scratch folder."""
    directory = devkit_dir()
    fd = os.open(directory / "ledger.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield LocalLedger(None, os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?")
            return
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                (directory / f"ledger.sqlite3{suffix}").unlink()
        yield LocalLedger(local_ledger_url())
    finally:
        os.close(fd)  # releases the lock


def shown(name: str, value: str) -> str:
    """A variable's value as it may be printed: a secret never, a URL without its password."""
    if is_secret(name):
        return "(set; not shown)"
    return _URL_PASSWORD.sub(r"\1***@", value)


@dataclass(frozen=True)
class UserOverrides:
    """What a user's environment changes in the embedded default, and what it cannot, with why."""

    values: dict[str, str] = field(default_factory=dict)
    #: Embedded values that fit only the embedded emulator, dropped because the user chose another CAS.
    dropped: tuple[str, ...] = ()
    #: Variables the user set that are not applied, with the reason.
    ignored: dict[str, str] = field(default_factory=dict)


def user_overrides(environ: Mapping[str, str]) -> UserOverrides:
    """The Configuration variables ``environ`` sets, as ``devkit serve`` and ``devkit invoke`` apply them.

    Two rules keep the embedded default coherent. A user's own ``CAS_ENDPOINT`` drops the embedded
    ``CAS_PROTOCOL=http`` and ``CAS_CA_FILE`` (they fit the embedded emulator only; set them too for
    another emulator), and drops the emulator's demo key unless the endpoint is on loopback. And
    credentials the user's shell may hold for real work are not sent to the embedded emulator, which
    knows only its demo keys; they apply with the user's own ``CAS_ENDPOINT``.
    """
    values = {name: environ[name] for name in configuration_variables()
              if name in environ and (environ[name].strip() or name in EMPTY_IS_A_VALUE)}
    ignored: dict[str, str] = {}
    dropped: list[str] = []
    endpoint = values.get("CAS_ENDPOINT", "").strip()
    if endpoint:
        dropped += [name for name in ("CAS_PROTOCOL", "CAS_CA_FILE") if name not in values]
    credentials = [name for name in CREDENTIAL_VARIABLES if name in values]
    key_id = values.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "").strip()
    if credentials and not endpoint and key_id not in EMULATOR_KEY_IDS:
        for name in credentials:
            del values[name]
            ignored[name] = CREDENTIALS_NOTE
    elif endpoint and not credentials and not _is_loopback(endpoint):
        dropped += list(CREDENTIAL_VARIABLES)
    return UserOverrides(values, tuple(dropped), ignored)


def _is_loopback(endpoint: str) -> bool:
    import ipaddress

    try:
        host = urlsplit(f"//{endpoint}").hostname or ""
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextmanager
def function_logs_to(stream: TextIO) -> Iterator[None]:
    """Send the function's JSON log lines to ``stream`` instead of stdout for a while: the demo and the
    chaos run keep them in a file so that the few lines a person reads are not buried among them."""
    load_index()
    from casrelay import log

    def write(line: str) -> None:  # ``lines_to`` takes a writer that returns nothing; ``TextIO.write`` counts
        stream.write(line)

    with log.lines_to(write):
        try:
            yield
        finally:
            stream.flush()


@dataclass
class Embedded:
    emulator: cas_emulator.CasEmulator
    webhook_secret: str
    env: dict[str, str]
    #: A scratch folder for this run: the file sink (and the SQLite ledger, unless another is given) live here.
    workdir: Path

    @property
    def sink_file(self) -> Path:
        return self.workdir / "orders.jsonl"

    receiver: Any = None  # devkit.callback_receiver.CallbackReceiver, when "callback" is a sink
    mns: Any = None  # devkit.mns_emulator.MnsEmulator, when "mns" is a sink
    sqs_endpoint: str | None = None  # moto's server, when "sqs" is a sink
    #: What the user's environment changed (``environment=`` of ``embedded_default``).
    overrides: UserOverrides = field(default_factory=UserOverrides)
    #: The Alidns double (``devkit.alidns_emulator.AlidnsEmulator``), when zones were given; CAS validates in it.
    alidns: Any = None

    @property
    def ledger_url(self) -> str:
        return self.env["IDEMPOTENCY_STORE"]

    def summary(self, ledger_note: str = "") -> list[str]:
        """What this run uses, for a person: the CAS, the webhook secret (shown only when it is the
        embedded demo secret), the ledger, the sinks, the scratch folder, and what came from the
        user's environment. Short lines, each value whole; no secret the user set."""
        env, mine = self.env, self.overrides.values
        out = []
        if env.get("CAS_ENDPOINT") == self.emulator.endpoint:
            cas = f"{self.emulator.endpoint} over {env.get('CAS_PROTOCOL', 'https')}: the local CAS emulator"
        else:
            cas = f"{shown('CAS_ENDPOINT', env.get('CAS_ENDPOINT', 'cas.aliyuncs.com'))} (your CAS_ENDPOINT)"
        out.append(f"  CAS          {cas}")
        key_id = env.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "")
        if not key_id:
            key = "none (CAS calls are refused until ALIBABA_CLOUD_ACCESS_KEY_ID is set)"
        elif key_id in EMULATOR_KEY_IDS and "ALIBABA_CLOUD_ACCESS_KEY_ID" not in mine:
            key = f"the emulator's demo key {key_id}"
        else:
            key = f"{key_id[:4]}... from your environment (secret not shown)"
        out.append(f"  AccessKey    {key}")
        auth = env.get("WEBHOOK_AUTH", "standard")
        if auth.strip().lower() == "none":
            out.append("  webhooks     WEBHOOK_AUTH=none: orders are not authenticated")
        elif "WEBHOOK_SECRETS" in mine:
            out.append("  webhooks     signed with your WEBHOOK_SECRETS (not shown)")
        else:
            out.append("  webhooks     signed with the embedded demo secret (it protects nothing):")
            out.append(f"               {env.get('WEBHOOK_SECRETS', '')}")
        if self.alidns is not None:
            out.append(f"  Alidns       {self.alidns.endpoint}: the local Alidns double, zones "
                       f"{', '.join(self.alidns.zones())} (CAS validates DNS orders in it)")
        out.append(f"  ledger       {shown('IDEMPOTENCY_STORE', self.ledger_url)}")
        if ledger_note:
            out.append(f"               ({ledger_note})")
        sinks = [u for u in env.get("ORDER_SINKS", "").split(",") if u.strip()]
        for i, url in enumerate(sinks or ["none (ORDER_SINKS is empty)"]):
            out.append(f"  {'sinks' if i == 0 else '':12} {shown('ORDER_SINKS', url.strip())}")
        out.append(f"  scratch      {self.workdir} (removed at exit)")
        if mine:
            names = [f"{n} (not shown)" if is_secret(n) else f"{n}={shown(n, v)}" for n, v in mine.items()]
            out.append("  from your environment: " + ", ".join(names))
        reasons: dict[str, list[str]] = {}
        for name, why in self.overrides.ignored.items():
            reasons.setdefault(why, []).append(name)
        for why, names in reasons.items():
            out += [f"  not applied: {', '.join(names)}", f"               ({why})"]
        return out

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
def patched_environ(values: Mapping[str, str], unset: Sequence[str] = ()) -> Iterator[None]:
    """Set ``values`` and remove ``unset`` for the block, then put every one of them back as it was."""
    saved = {k: os.environ.get(k) for k in (*values, *unset)}
    os.environ.update(values)
    for name in unset:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


#: The instance pool of ``CAS_ORDER_API=instance`` when no pool is named: DV single, multi-name and wildcard
#: DigiCert instances, and GeoTrust OV, enough for the demo and the chaos run's default.
DEFAULT_INSTANCE_POOL = "40xDigiCert:DV:1+0,5xDigiCert:DV:5+0,5xDigiCert:DV:0+5,2xGeoTrust:DV:1+0,2xGeoTrust:OV:1+0"


def order_api(extra_env: Mapping[str, str] | None, environment: Mapping[str, str] | None) -> str:
    """The CAS_ORDER_API the function will see: ``extra_env`` wins over the user's environment."""
    for source in (extra_env or {}, environment or {}):
        if "CAS_ORDER_API" in source:
            return source["CAS_ORDER_API"].strip().lower()
    return "package"


def _start_alidns(stack: ExitStack, zones: Sequence[str] | None,
                  emulator_args: dict[str, object]) -> alidns_emulator.AlidnsEmulator | None:
    """The Alidns double for ``zones`` (``ALIDNS_EMULATOR_ZONES`` when None), stopped with ``stack``, and the CAS
    emulator's lifecycle validating in it; None, and CAS unchanged, when no zone is named."""
    names = alidns_emulator.zones_from_environment(default=()) if zones is None else list(zones)
    if not names:
        return None
    dns = stack.enter_context(alidns_emulator.AlidnsEmulator(names))
    emulator_args.setdefault("lifecycle", cas_emulator.Lifecycle(dns=dns))
    return dns


@contextmanager
def embedded_default(extra_env: Mapping[str, str] | None = None, sinks: Sequence[str] = ("file",),
                     https: bool = False, ledger: str | None = None,
                     environment: Mapping[str, str] | None = None, alidns_zones: Sequence[str] | None = None,
                     **emulator_args: object) -> Iterator[Embedded]:
    """``sinks`` picks the doubles to start: ``file`` (a JSON-lines file), ``callback`` (a Standard
    Webhooks receiver), ``mns`` (the MNS emulator) and ``sqs`` (moto's server). ``https=True`` runs the
    CAS emulator in TLS mode with its test CA and points the function at it (``CAS_PROTOCOL=https``,
    ``CAS_CA_FILE``). ``ledger`` is the store URL (default: a SQLite file in the scratch folder).
    ``environment`` (``os.environ`` for ``devkit serve``/``invoke``) overrides the result with the user's
    own Configuration variables (``user_overrides``); ``extra_env`` wins over both. Other keyword
    arguments go to ``CasEmulator`` (e.g. ``list_lag_seconds``, or ``instances`` for a V2 instance pool,
    which defaults to what ``CAS_EMULATOR_INSTANCES`` describes).

    ``alidns_zones`` (default: what ``ALIDNS_EMULATOR_ZONES`` lists; none, so no double, when it is unset)
    starts the Alidns double with those zones beside the CAS emulator, points ``ALIDNS_ENDPOINT`` and
    ``ALIDNS_PROTOCOL`` at it, and gives the CAS emulator the order lifecycle (unless ``lifecycle`` is passed)
    with its DNS validation looking at the double's records, so that a DNS order issues once its TXT record
    is added there.

    Everything started is stopped, and the scratch folder removed, however the block ends (a SIGTERM
    that the command turns into ``KeyboardInterrupt`` included)."""
    unknown = set(sinks) - set(SINK_KINDS)
    if unknown:
        raise ValueError(f"unknown sink kinds {sorted(unknown)}; choose from {SINK_KINDS}")
    if https:
        emulator_args["tls"] = True
    # V2 mode for a local run: the instance pool CAS_EMULATOR_INSTANCES describes (see cas_emulator.pool_spec),
    # or with CAS_ORDER_API=instance and no pool named, a default pool and one console contact.
    emulator_args.setdefault("instances", cas_emulator.pool_from_environment())
    instance_mode = order_api(extra_env, environment) == "instance"
    if instance_mode and not emulator_args["instances"]:
        emulator_args["instances"] = DEFAULT_INSTANCE_POOL
    with ExitStack() as stack:
        dns = _start_alidns(stack, alidns_zones, emulator_args)
        emulator = cas_emulator.CasEmulator(**emulator_args)  # type: ignore[arg-type]
        stack.callback(emulator.stop)
        emulator.start()
        if instance_mode:
            emulator.add_contact("Ops", "13800000000", email="ops@example.com")
        workdir = Path(tempfile.mkdtemp(prefix="casrelay-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        sink_urls: list[str] = []
        receiver = mns = sqs_endpoint = None
        if "file" in sinks:
            sink_urls.append(f"file://{workdir}/orders.jsonl")
        if "callback" in sinks:
            from .callback_receiver import CallbackReceiver

            receiver = CallbackReceiver(DEMO_CALLBACK_SECRET)
            stack.callback(receiver.stop)
            receiver.start()
            sink_urls.append(receiver.url())
        if "mns" in sinks:
            from .mns_emulator import MnsEmulator

            mns = MnsEmulator()
            stack.callback(mns.stop)
            mns.start()
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
            "IDEMPOTENCY_STORE": ledger or f"sqlite://{workdir}/ledger.sqlite3",
            "ORDER_SINKS": ",".join(sink_urls),
            "CALLBACK_SECRET": DEMO_CALLBACK_SECRET,
            "CALLBACK_ALLOW_HOSTS": "127.0.0.1",
            "CALLBACK_TIMEOUT_MS": "2000",
            # The emulator lists an order as soon as it exists (unless a test sets a list lag), so a search
            # right after an ambiguous answer already proves whether it placed one.
            "RECONCILE_LIST_LAG_SECONDS": "0",
            # darabonba sends even loopback calls through HTTP(S)_PROXY and ignores NO_PROXY.
            "HTTP_PROXY": "", "HTTPS_PROXY": "", "http_proxy": "", "https_proxy": "",
        }
        if emulator.protocol == "https":
            env["CAS_CA_FILE"] = emulator.ca_file
        if dns is not None:
            env.update(ALIDNS_ENDPOINT=dns.endpoint, ALIDNS_PROTOCOL=dns.protocol)
        if emulator.list_lag_seconds > 0:
            # The function must not take an empty search for proof before the emulator lists new orders.
            env["RECONCILE_LIST_LAG_SECONDS"] = str(math.floor(emulator.list_lag_seconds) + 1)
        overrides = user_overrides(environment) if environment is not None else UserOverrides()
        for name in overrides.dropped:
            env.pop(name, None)
        env.update(overrides.values)
        env.update(extra_env or {})
        # A dropped variable must be unset, not left at whatever the process environment holds.
        unset = [name for name in overrides.dropped if name not in env]
        # The local invoke re-signs HTTP event files; with the user's own secrets it must sign with one of them.
        # (A test's extra_env may set a deliberately unusable WEBHOOK_SECRETS: requests are still signed with the
        # demo secret, and the function is what refuses the configuration.)
        secrets = overrides.values.get("WEBHOOK_SECRETS", "").split()
        index = load_index()
        try:
            with patched_environ(env, unset=unset):
                index.reset_for_tests()
                yield Embedded(emulator, secrets[0] if secrets else DEMO_WEBHOOK_SECRET, env, workdir, receiver,
                               mns, sqs_endpoint, overrides, dns)
        finally:
            index.reset_for_tests()
