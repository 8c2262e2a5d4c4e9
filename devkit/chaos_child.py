"""``python -m devkit.chaos_child RESULT_FILE < EVENT``: one invocation that dies right after CAS answered.

The chaos run (``devkit.chaos``) starts this in a child process for some orders, with the parent's
environment (the embedded default: the same SQLite ledger file, the same CAS emulator and sinks). It
invokes ``index.handler`` with the event read from stdin, with the ordering backend's ``place`` wrapped so
that the process SIGKILLs itself as soon as CAS has answered: V1.0's CreateCertificateForPackageRequest
with an OrderId, or (``CAS_ORDER_API=instance``, which the child inherits) V2.0's ApplyCertificate on the
leased instance. That is after the paid call, before the ledger write and before any push: the one
moment at which a crash can lose what was paid for, and only the sweep can finish the order: the ledger
still holds the claim, with its attempt mark (and, on V2.0, the instance's lease), until it lapses.

The context says no function timeout, so the claim lasts ``IDEMPOTENCY_CLAIM_SECONDS`` (the parent
sets the minimum, 5 s). Before dying, the child writes the OrderId (or InstanceId) to ``RESULT_FILE``; if
the handler returns instead (CAS refused, say), the child writes the handler's answer there and exits 0.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .fc_local import load_index, make_context


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m devkit.chaos_child RESULT_FILE < EVENT", file=sys.stderr)
        return 2
    result_file = Path(args[0])
    event = sys.stdin.buffer.read()
    index = load_index()
    from casrelay.ordering import instance, package

    def place_then_die(original: Callable[..., Any]) -> Callable[..., Any]:
        def placed_then_killed(self: Any, *a: Any, **kw: Any) -> Any:
            placed = original(self, *a, **kw)
            _write(result_file, {"Killed": True, "OrderId": placed.order_id, "InstanceId": placed.instance_id})
            os.kill(os.getpid(), signal.SIGKILL)
            return placed  # not reached

        return placed_then_killed

    # Both generations: the deployment's CAS_ORDER_API decides which one the function calls.
    package.PackageBackend.place = place_then_die(package.PackageBackend.place)  # type: ignore[method-assign]
    instance.InstanceBackend.place = place_then_die(instance.InstanceBackend.place)  # type: ignore[method-assign]
    context = make_context(timeout=0)  # no timeout known: the claim lasts IDEMPOTENCY_CLAIM_SECONDS
    try:
        result = index.handler(event, context)
    except Exception as exc:  # what FC reports when the handler raised
        result = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
    _write(result_file, {"Killed": False, "Result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
