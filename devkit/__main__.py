"""``python -m devkit``: run casrelay locally on the embedded default (the CAS emulator, no cloud account).

    python -m devkit demo [--logs]          send a signed webhook order over real HTTP, then run every event in events/
    python -m devkit serve [--port 9000]    keep the local HTTP trigger running for curl, until Ctrl-C or SIGTERM
    python -m devkit invoke EVENT.json      hand one event file to the handler, like `s local invoke`

``serve`` and ``invoke`` apply every Configuration variable (README) that your environment sets over
the embedded default, so that a configuration can be tried locally, and print what is in use: the
CAS, the webhook secret (only the embedded demo secret is shown), the ledger, the sinks. Unless
IDEMPOTENCY_STORE is set, the ledger is the devkit's local one, the file that
``python -m devkit.ledger_admin`` opens. The demo always runs the embedded default as it is; it keeps
the function's JSON log lines in a file (``--logs`` prints them instead), so that what a person reads
is a few short lines.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from email.message import Message
from pathlib import Path
from typing import Any, TextIO

from .embedded import SINK_KINDS, devkit_dir, embedded_default, function_logs_to, local_ledger
from .fc_local import ROOT, LocalFcServer, call_handler, prepare_event_file, sign_webhook
from .loopback import stop_on_sigterm

EVENTS = ROOT / "events"
#: What a person reads is kept to lines of about this width; a value that does not fit goes on a line
#: of its own rather than being cut.
WIDTH = 100
_XML_ORDER_ID = re.compile(r"<OrderId>(\d+)</OrderId>")


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Message[str, str], str]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the local server, never a proxy
    try:
        with opener.open(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode()


def _fit(head: str, detail: str, indent: str = "     ") -> list[str]:
    """``head: detail`` on one line when it fits ``WIDTH``, else the detail whole on the next line."""
    if not detail:
        return [head]
    if len(head) + 2 + len(detail) <= WIDTH:
        return [f"{head}: {detail}"]
    return [head + ":", indent + detail]


def _order_text(doc: Mapping[str, Any]) -> str:
    domains = ", ".join(str(d) for d in doc.get("Domains") or [])
    return f"OrderId {doc.get('OrderIdString') or doc.get('OrderId')}" + (f" ({domains})" if domains else "")


def _error_text(doc: Mapping[str, Any]) -> str:
    fields = [str(e.get("Field")) for e in doc.get("Errors") or [] if isinstance(e, dict) and e.get("Field")]
    return f"{doc.get('Code', '')}: {', '.join(fields)}" if fields else f"{doc.get('Code', '')}"


def describe(result: object) -> str:
    """One short line that says what an invocation answered, with every value in it whole."""
    if isinstance(result, dict) and "errorType" in result:
        return f"raised {result['errorType']}"
    if isinstance(result, dict) and "statusCode" in result:
        status, body = result["statusCode"], str(result.get("body") or "")
        found = _XML_ORDER_ID.search(body)
        if found:
            return f"HTTP {status} (XML), OrderId {found.group(1)}"
        try:
            doc = json.loads(body)
        except ValueError:
            return f"HTTP {status}"
        if not isinstance(doc, dict):
            return f"HTTP {status}"
        if "OrderId" in doc:
            return f"HTTP {status}, {_order_text(doc)}"
        if "Code" in doc:
            return f"HTTP {status} {_error_text(doc)}"
        return f"HTTP {status} " + ", ".join(f"{k} {v}" for k, v in doc.items() if not isinstance(v, (dict, list)))
    if isinstance(result, dict) and "Counts" in result and "Records" in result:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(result["Counts"].items())) or "nothing"
        return f"{result.get('Mode', 'batch')}, {result['Records']} record(s): {counts}"
    if isinstance(result, dict) and result.get("Trigger") == "sweep":
        return f"sweep: seen {result.get('Seen')}, remaining {result.get('Remaining')}"
    if isinstance(result, dict) and "OrderId" in result:
        return f"placed, {_order_text(result)}"
    if isinstance(result, dict) and "Status" in result:
        return f"refused, Status {result['Status']} {_error_text(result)}"
    return type(result).__name__


def invoke_file(path: Path, secret: str | None) -> object:
    """Hand one event file to the handler; an error the handler raises is shown as FC shows it. A file
    that cannot be read raises ``OSError``: that is the caller's mistake, not the function's."""
    event = prepare_event_file(path, secret)
    try:
        return call_handler(event)
    except Exception as exc:  # a transient failure is raised for FC to retry; show it as FC would
        return {"errorType": type(exc).__name__, "errorMessage": str(exc)}


@contextmanager
def _ledger(environ: Mapping[str, str] | None) -> Iterator[tuple[str | None, str]]:
    """The ledger URL for ``embedded_default`` (None: its default) and a note on whose ledger it is."""
    if environ is not None and environ.get("IDEMPOTENCY_STORE", "").strip():
        yield None, "your IDEMPOTENCY_STORE"
        return
    with local_ledger() as held:
        if held.url is None:
            yield None, (f"this run's own: devkit process {held.holder} holds the local ledger; "
                         "it goes with the scratch folder")
        else:
            yield held.url, "the devkit's local ledger, started empty; python3 -m devkit.ledger_admin opens it"


def _print_summary(lines: list[str], stream: TextIO = sys.stdout) -> None:
    for line in lines:
        print(line, file=stream)
    stream.flush()


#: The demo's Alidns double holds this zone, so the DNS orders under it validate once their TXT record exists.
DEMO_ZONES = ("example.com",)
#: The demo follows its orders at every sweep (no backoff) and creates their TXT records in the Alidns double.
DEMO_FOLLOW = {"FOLLOW_BACKOFF_SECONDS": "0", "DNS_AUTOVALIDATE": "alidns"}
#: The CA reviews a validated order this long (the emulator's default) before it issues.
DEMO_REVIEW_SECONDS = 60.0


def _follow_demo_order(emb: Any, order_id: object) -> bool:
    """Step 5: timer events alone take the first order from ordered to issued; True once it is."""
    print(f"5. Order {order_id} followed to its certificate by timer events alone")
    timer = (EVENTS / "timer-sweep.json").read_bytes()
    shown: set[str] = set()
    for sweep in range(1, 5):
        result = call_handler(timer)
        followed = result.get("Followed", {}) if isinstance(result, dict) else {}
        print(f"   sweep {sweep}: followed {json.dumps(followed)}")
        for message in emb.pushed():
            if message["Order"].get("OrderId") != order_id or "Lifecycle" not in message:
                continue
            if message["Type"] == "certificate.validation.required" and message["Id"] not in shown:
                shown.add(message["Id"])
                made = "created in the Alidns double" if message["Lifecycle"].get("DnsRecordsCreated") else "to publish"
                for v in message["Validation"]:
                    print(f"   -> validation.required: {v.get('RecordType')} {v.get('RecordDomain')}, {made}")
            if message["Type"] == "certificate.issued":
                cert = message["Certificate"]
                print(f"   -> issued: CertificateId {cert['CertificateId']}, valid {cert['NotBefore']} to "
                      f"{cert['NotAfter']}")
                left = [r for r in emb.alidns.records() if r.fqdn.endswith("demo.example.com")]
                print(f"   -> its TXT record {'is still there' if left else 'was removed from the Alidns double'}")
                return True
        emb.emulator.advance_ca_clock(DEMO_REVIEW_SECONDS)
    print("   -> not issued after four sweeps")
    return False


def demo(show_logs: bool = False) -> int:
    log_path = devkit_dir() / "demo.log"
    with _ledger(None) as (ledger, ledger_note), \
            (nullcontext() if show_logs else log_path.open("w", encoding="utf-8")) as log_file, \
            (nullcontext() if log_file is None else function_logs_to(log_file)), \
            embedded_default(sinks=SINK_KINDS, ledger=ledger, alidns_zones=DEMO_ZONES, extra_env=DEMO_FOLLOW) as emb, \
            LocalFcServer() as server:
        print("casrelay demo on the embedded default: the local CAS emulator, no cloud account")
        _print_summary([f"  HTTP trigger {server.url}", *emb.summary(ledger_note)])
        print("  log lines    " + ("printed here, among the lines below" if show_logs
                                   else f"{log_path} (--logs prints them here)"))

        order = {"ProductCode": "symantec-free-1-free", "Domain": "demo.example.com", "ValidateType": "DNS",
                 "Email": "tom.zhang@example.com", "Phone": "13000000000"}
        body = json.dumps(order, separators=(",", ":")).encode()
        print(f"\n1. A signed order (Standard Webhooks) over real HTTP: POST {server.url}/")
        print(f"   {body.decode()}")
        headers = {"Content-Type": "application/json", **sign_webhook(emb.webhook_secret, body)}
        status, _, text = _post(server.url + "/", body, headers)
        print(f"   -> {describe({'statusCode': status, 'body': text})}")
        print("2. The same order again, as a sender's retry")
        headers = {"Content-Type": "application/json", **sign_webhook(emb.webhook_secret, body)}
        status_again, resp_headers, text_again = _post(server.url + "/", body, headers)
        replayed = ", answered from the ledger" if resp_headers.get("Idempotent-Replayed") else ""
        print(f"   -> {describe({'statusCode': status_again, 'body': text_again})}{replayed}")
        print("3. The same order without a signature")
        status2, _, text2 = _post(server.url + "/", body, {"Content-Type": "application/json"})
        try:
            refusal = json.loads(text2)
        except ValueError:
            refusal = {}
        _print_summary(_fit(f"   -> {describe({'statusCode': status2, 'body': text2})}",
                            str(refusal.get("Message", "")) if isinstance(refusal, dict) else ""))

        print(f"4. Every event in {EVENTS.relative_to(ROOT)}/ through the local invoke:")
        paths = sorted(EVENTS.glob("*.json"))
        width = max(len(p.name) for p in paths)
        for path in paths:
            result = invoke_file(path, emb.webhook_secret)
            _print_summary(_fit(f"   {path.name:{width}} {describe(result)}",
                                str(result.get("errorMessage", "")) if isinstance(result, dict) else ""))

        order_id = json.loads(text).get("OrderId") if status == 200 else None
        issued = _follow_demo_order(emb, order_id)

        orders = emb.emulator.orders()
        print(f"\nPaid orders in the CAS emulator: {len(orders)} (one per distinct order, none twice)")
        by_sink = emb.pushed_by_sink()
        for sink, pairs in by_sink.items():
            created = {m["Order"]["OrderId"] for _, m in pairs if m["Type"] == "certificate.order.created"}
            print(f"  {sink:9} {len(pairs):3} message(s), {len(created)} distinct OrderIds")
        queued = [m for _, m in by_sink.get("mns", []) if m["Source"]["Trigger"] == "kafka"]
        if queued:
            print("\nA Kafka event's order, as pushed to the MNS queue:")
            for line in json.dumps(queued[0], indent=2, ensure_ascii=False).splitlines():
                print("  " + line)
        ok = (status == 200 and status_again == 200 and status2 == 401 and issued
              and all({m["Order"]["OrderId"] for _, m in pairs} >= {o.order_id for o in orders}
                      for pairs in by_sink.values()))
    print("\nDemo finished: " + ("every order placed once and pushed to every sink, the first one followed to "
                                 "its certificate" if ok else "FAILED"))
    return 0 if ok else 1


def serve(port: int) -> int:
    with _ledger(os.environ) as (ledger, ledger_note), \
            embedded_default(ledger=ledger, environment=os.environ) as emb:
        try:
            server = LocalFcServer(port=port)
        except OSError as exc:
            print(f"devkit serve: cannot listen on 127.0.0.1:{port} ({exc.strerror}); --port picks another "
                  "(0: any free port)", file=sys.stderr)
            return 2
        with server:
            _print_summary([f"casrelay listening on {server.url} (Ctrl-C or SIGTERM stops it)",
                            *emb.summary(ledger_note),
                            "The function's JSON log lines follow, one per event."])
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    print("casrelay stopped; its servers are down and its scratch folder is removed", flush=True)
    return 0


def invoke(path: Path) -> int:
    """Exit 0 with the function's answer on stdout; 1 when the function raised (FC would retry it);
    2 when the event file cannot be read. What is in use and the log lines go to stderr, so that stdout
    is the answer alone."""
    if not path.is_file():
        print(f"devkit invoke: no event file {path} (the samples are in {EVENTS.relative_to(ROOT)}/)",
              file=sys.stderr)
        return 2
    with _ledger(os.environ) as (ledger, ledger_note), function_logs_to(sys.stderr), \
            embedded_default(ledger=ledger, environment=os.environ) as emb:
        _print_summary([f"casrelay invoke {path}", *emb.summary(ledger_note)], sys.stderr)
        try:
            result = invoke_file(path, emb.webhook_secret)
        except OSError as exc:
            print(f"devkit invoke: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(json.dumps(result, indent=2, ensure_ascii=False), flush=True)
    return 1 if isinstance(result, dict) and "errorType" in result else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="one signed order over HTTP, then every event file")
    p_demo.add_argument("--logs", action="store_true", help="print the function's JSON log lines here, not to a file")
    p_serve = sub.add_parser("serve", help="run the local HTTP trigger until Ctrl-C or SIGTERM")
    p_serve.add_argument("--port", type=int, default=9000, help="port on 127.0.0.1 (default 9000, 0: any free one)")
    p_invoke = sub.add_parser("invoke", help="invoke the handler with one event file")
    p_invoke.add_argument("event", type=Path)
    args = parser.parse_args(argv)
    stop_on_sigterm()  # SIGTERM unwinds like Ctrl-C: servers stop, the scratch folder goes
    try:
        if args.command == "demo":
            return demo(args.logs)
        if args.command == "serve":
            return serve(args.port)
        return invoke(args.event)
    except KeyboardInterrupt:
        print(f"devkit {args.command}: interrupted; servers stopped, scratch folder removed", file=sys.stderr)
        return 0 if args.command == "serve" else 130


if __name__ == "__main__":
    sys.exit(main())
