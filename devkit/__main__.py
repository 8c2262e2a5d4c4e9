"""``python -m devkit``: run casrelay locally on the embedded default (the CAS emulator, no cloud account).

    python -m devkit demo                  send a signed webhook order over real HTTP, then run every event in events/
    python -m devkit serve [--port 9000]   keep the local HTTP trigger running for curl
    python -m devkit invoke EVENT.json     hand one event file to the handler, like `s local invoke`
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .embedded import SINK_KINDS, embedded_default
from .fc_local import ROOT, LocalFcServer, call_handler, prepare_event_file, sign_webhook

EVENTS = ROOT / "events"


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - the local server, on loopback
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _summary(result: object) -> str:
    if isinstance(result, dict) and "statusCode" in result:
        return f"HTTP {result['statusCode']} {result.get('body', '')}"
    return json.dumps(result)


def invoke_file(path: Path, secret: str | None) -> object:
    try:
        return call_handler(prepare_event_file(path, secret))
    except Exception as exc:  # a transient failure is raised for FC to retry; show it as FC would
        return {"errorType": type(exc).__name__, "errorMessage": str(exc)}


def demo() -> int:
    with embedded_default(sinks=SINK_KINDS) as emb, LocalFcServer() as server:
        print(f"CAS emulator on {emb.emulator.endpoint}; local HTTP trigger on {server.url}")
        print(f"Sinks (ORDER_SINKS): {emb.env['ORDER_SINKS']}")
        order = {"ProductCode": "symantec-free-1-free", "Domain": "demo.example.com", "ValidateType": "DNS",
                 "Email": "tom.zhang@example.com", "Phone": "13000000000"}
        body = json.dumps(order).encode()
        headers = {"Content-Type": "application/json", **sign_webhook(emb.webhook_secret, body)}
        print(f"\nPOST {server.url}/ (signed with Standard Webhooks)\n  {body.decode()}")
        status, text = _post(server.url + "/", body, headers)
        print(f"  -> HTTP {status} {text}")
        headers = {"Content-Type": "application/json", **sign_webhook(emb.webhook_secret, body)}
        status_again, text_again = _post(server.url + "/", body, headers)
        print(f"The same order again (a sender's retry) -> HTTP {status_again} {text_again}")
        status2, text2 = _post(server.url + "/", body, {"Content-Type": "application/json"})
        print(f"POST without a signature -> HTTP {status2} {text2}")

        print(f"\nLocal invoke of every event in {EVENTS.relative_to(ROOT)}/:")
        for path in sorted(EVENTS.glob("*.json")):
            result = invoke_file(path, emb.webhook_secret)
            print(f"  {path.name:34} {_summary(result).replace(chr(10), ' ')[:150]}")

        orders = emb.emulator.orders()
        print(f"\nPaid orders in the CAS emulator: {len(orders)} (one per distinct order, none twice)")
        by_sink = emb.pushed_by_sink()
        for sink, pairs in by_sink.items():
            created = {m["Order"]["OrderId"] for _, m in pairs if m["Type"] == "certificate.order.created"}
            print(f"  {sink:9} {len(pairs):3} message(s), {len(created)} distinct OrderIds")
        queued = [m for _, m in by_sink.get("mns", []) if m["Source"]["Trigger"] == "kafka"]
        if queued:
            print("\nA Kafka event's order, as pushed to the MNS queue:")
            print("  " + json.dumps(queued[0], ensure_ascii=False))
        ok = (status == 200 and status_again == 200 and status2 == 401
              and all({m["Order"]["OrderId"] for _, m in pairs} >= {o.order_id for o in orders}
                      for pairs in by_sink.values()))
    print("\nDemo finished: " + ("every order placed once and pushed to every sink" if ok else "FAILED"))
    return 0 if ok else 1


def serve(port: int) -> int:
    with embedded_default() as emb, LocalFcServer(port=port) as server:
        print(f"CAS emulator on {emb.emulator.endpoint}")
        print(f"casrelay listening on {server.url} (webhook secret {emb.webhook_secret}); Ctrl-C stops")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def invoke(path: Path) -> int:
    with embedded_default() as emb:
        result = invoke_file(path, emb.webhook_secret)
        print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="one signed order over HTTP, then every event file")
    p_serve = sub.add_parser("serve", help="run the local HTTP trigger until Ctrl-C")
    p_serve.add_argument("--port", type=int, default=9000)
    p_invoke = sub.add_parser("invoke", help="invoke the handler with one event file")
    p_invoke.add_argument("event", type=Path)
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo()
    if args.command == "serve":
        return serve(args.port)
    return invoke(args.event)


if __name__ == "__main__":
    sys.exit(main())
