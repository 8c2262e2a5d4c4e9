"""What the warm benchmarks share: one session on the embedded default, the kinds of order, and the
interleaved measurement.

A session is the embedded default in this process: the CAS emulator on loopback with its flow control
off, ``CAS_MAX_QPS=1000`` (the pacer never waits), the file sink only, and the ledger given
(SQLite in the scratch folder unless told otherwise). ``index.initialize`` runs first, as FC does, and
the function's JSON log lines go to a file (FC captures stdout the same way).

The kinds of order, each with a domain never used before (so every handler call is a real placement,
never a ledger replay); everything a caller does before the call (a unique order, signing, the event)
is done before the clock starts:

* ``http``   - an FC3 HTTP ``v1`` event signed with Standard Webhooks, through ``index.handler``;
* ``direct`` - a direct-invocation event (the JSON order), through ``index.handler``;
* ``sdk``    - the baseline: ``create_certificate_for_package_request_with_options`` on a client built
               once, with the same endpoint, credentials, runtime options and the same parameters casrelay
               sends, its idempotency tag included (``wire_shapes`` checks on the emulator's records that
               the two are the same request).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import use_repo_paths

use_repo_paths()

from devkit import cas_emulator  # noqa: E402
from devkit.embedded import Embedded, embedded_default  # noqa: E402
from devkit.fc_local import http_event, load_index, make_context, sign_webhook  # noqa: E402

#: Packages big enough for every order of a run.
QUOTAS = {code: 10_000_000 for code in cas_emulator.PRODUCT_CODES}
#: casrelay's default ORDER_TAG_KEY, used when the running configuration cannot be read.
DEFAULT_TAG_KEY = "casrelay-idempotency-key"


def domain_label(kind: str) -> str:
    """The first label of a kind's domains, padded so that every kind's names have the same length."""
    return kind[:8].ljust(8, "x")


@contextmanager
def stdout_to(path: Path) -> Iterator[None]:
    """Send the function's log lines (stdout) to ``path`` while timing, as FC captures them."""
    saved = sys.stdout
    with path.open("a", encoding="utf-8") as f:
        sys.stdout = f
        try:
            yield
        finally:
            sys.stdout = saved


def order_fields(domain: str) -> dict[str, str]:
    """One order as a sender writes it: every field the bare SDK call sends too."""
    return {"ProductCode": "symantec-free-1-free", "Domain": domain, "ValidateType": "DNS",
            "Email": "tom.zhang@example.com", "Phone": "13000000000"}


class Runner:
    """Prepares one order of a kind (untimed) and returns the call to time."""

    def __init__(self, emb: Embedded, index: Any) -> None:
        from alibabacloud_cas20200407 import models
        from alibabacloud_cas20200407.client import Client
        from alibabacloud_tea_openapi.utils_models import Config

        self.emb = emb
        self.index = index
        self.models = models
        app = getattr(index, "_app", None)
        config = getattr(app, "ledger_config", None)
        self.tag_key: str | None = getattr(config, "order_tag_key", DEFAULT_TAG_KEY)
        settings = getattr(app, "settings", None)
        self.connect_ms = int(getattr(settings, "cas_connect_timeout_ms", 5000))
        self.read_ms = int(getattr(settings, "cas_read_timeout_ms", 10000))
        self.client = Client(Config(
            access_key_id=cas_emulator.DEMO_ACCESS_KEY_ID, access_key_secret=cas_emulator.DEMO_ACCESS_KEY_SECRET,
            endpoint=emb.emulator.endpoint, protocol="http", region_id="cn-hangzhou",
            connect_timeout=self.connect_ms, read_timeout=self.read_ms,
        ))
        self.seq = 0

    def domain(self, kind: str) -> str:
        """A name never used before, of the same length for every kind (so the requests are alike)."""
        self.seq += 1
        return f"{domain_label(kind)}-{self.seq:09d}-{os.getpid() % 100000:05d}.example.com"

    def prepare(self, kind: str) -> Callable[[], None]:
        """Everything a caller does before the call happens here, untimed; the returned callable is the
        timed part and checks that the order was placed."""
        order = order_fields(self.domain(kind))
        if kind == "sdk":
            return self._sdk_call(order)
        ctx = make_context()
        if kind == "http":
            raw = json.dumps(order).encode()
            headers = {"content-type": "application/json", **sign_webhook(self.emb.webhook_secret, raw)}
            event = json.dumps(http_event("POST", "/", {}, headers, raw)).encode()

            def call_http() -> None:
                result = self.index.handler(event, ctx)
                if result.get("statusCode") != 200:
                    raise RuntimeError(f"HTTP order failed: {result}")

            return call_http
        direct_event = json.dumps(order).encode()

        def call_direct() -> None:
            result = self.index.handler(direct_event, ctx)
            if not isinstance(result, dict) or "OrderId" not in result:
                raise RuntimeError(f"direct order failed: {result}")

        return call_direct

    def _sdk_call(self, order: dict[str, str]) -> Callable[[], None]:
        """The bare SDK call, sending what casrelay sends: the order's fields and one idempotency tag whose
        value has the shape of casrelay's derived key (``auto:`` and a SHA-256 in hex, 69 characters)."""
        from darabonba.runtime import RuntimeOptions

        m = self.models
        tag_value = "auto:" + hashlib.sha256(order["Domain"].encode()).hexdigest()

        def call_sdk() -> None:
            tags = ([m.CreateCertificateForPackageRequestRequestTags(key=self.tag_key, value=tag_value)]
                    if self.tag_key else None)
            request = m.CreateCertificateForPackageRequestRequest(
                product_code=order["ProductCode"], domain=order["Domain"], validate_type=order["ValidateType"],
                email=order["Email"], phone=order["Phone"], tags=tags)
            runtime = RuntimeOptions(connect_timeout=self.connect_ms, read_timeout=self.read_ms, autoretry=False,
                                     max_attempts=1, ca=None)
            body = self.client.create_certificate_for_package_request_with_options(request, runtime).body
            if not body.order_id:
                raise RuntimeError("the SDK call returned no OrderId")

        return call_sdk

    def timed(self, kind: str) -> float:
        call = self.prepare(kind)
        t0 = time.perf_counter()
        call()
        return time.perf_counter() - t0


@contextmanager
def session(extra_env: dict[str, str] | None = None) -> Iterator[tuple[Embedded, Runner, Path]]:
    """The embedded default for a warm benchmark, initialised as FC does."""
    env = {"CAS_MAX_QPS": "1000", **(extra_env or {})}
    with embedded_default(extra_env=env, sinks=("file",), qps=None, quotas=QUOTAS) as emb:
        logs = emb.workdir / "function-stdout.log"
        index = load_index()
        with stdout_to(logs):
            index.initialize(make_context())
        if getattr(index, "_app", None) is None:
            raise SystemExit(f"initialize did not build the relay: {getattr(index, '_config_error', '?')}")
        yield emb, Runner(emb, index), logs


def measure(runner: Runner, kinds: Sequence[str], rounds: int, warmup: int, logs: Path,
            seed: int = 7) -> dict[str, list[float]]:
    """``rounds`` rounds of one order per kind, in a shuffled order each round, so that drift in the
    machine's load (and the garbage one kind leaves for the next) falls on every kind alike."""
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    with stdout_to(logs):
        for i in range(-warmup, rounds):
            order = list(kinds)
            rng.shuffle(order)
            for kind in order:
                t = runner.timed(kind)
                if i >= 0:
                    samples[kind].append(t)
    return samples


def paired_ratios(samples: dict[str, list[float]], kind: str, base: str) -> list[float]:
    """Per-round ratios ``kind / base``: each pair ran within the same few milliseconds."""
    return [a / b for a, b in zip(samples[kind], samples[base], strict=True)]


#: Request parameters whose values are the order's own (a new domain and key per order) or the call's
#: (signature nonce, timestamp): only their presence must match between casrelay and the baseline.
VARYING_PARAMS = frozenset({"Domain", "Tags.1.Value", "Tags.1.value"})
VARYING_HEADERS = frozenset({"authorization", "x-acs-signature-nonce", "x-acs-date", "host"})


def wire_shape(record: Any) -> dict[str, Any]:
    """What a recorded request looks like with the per-order values blanked: parameter names and the fixed
    values, header names and the fixed values, and the length of the varying parameters."""
    params = {k: (f"<len {len(v)}>" if k in VARYING_PARAMS else v) for k, v in record.params.items()}
    headers = {k.lower(): ("<varies>" if k.lower() in VARYING_HEADERS else v) for k, v in record.headers.items()}
    return {"action": record.action, "params": params, "headers": headers}


def wire_shapes(emb: Embedded, domain_prefixes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The wire shape of the last CreateCertificateForPackageRequest the emulator saw per domain prefix."""
    shapes: dict[str, dict[str, Any]] = {}
    for rec in emb.emulator.requests(cas_emulator.ACTION_CREATE):
        domain = rec.params.get("Domain", "")
        for prefix in domain_prefixes:
            if domain.startswith(domain_label(prefix) + "-"):
                shapes[prefix] = wire_shape(rec)
    return shapes


def check_same_request(emb: Embedded, kinds: Sequence[str], base: str = "sdk") -> list[str]:
    """Compare, on the wire, the request each kind made with the baseline's; the differences found (empty
    when casrelay and the bare SDK call sent the same request shape)."""
    shapes = wire_shapes(emb, [*kinds, base])
    problems = []
    for kind in kinds:
        if kind not in shapes or base not in shapes:
            problems.append(f"no recorded request for {kind if kind not in shapes else base}")
            continue
        a, b = shapes[kind], shapes[base]
        for part in ("params", "headers"):
            for name in sorted(set(a[part]) | set(b[part])):
                if a[part].get(name) != b[part].get(name):
                    problems.append(f"{kind} vs {base}: {part[:-1]} {name}: {a[part].get(name)!r} != "
                                    f"{b[part].get(name)!r}")
    return problems
