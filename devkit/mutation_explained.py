"""The surviving mutants of ``devkit.mutation`` that are explained rather than killed, each with its reason.

A mutant survives when no test tells it from the original. That is a gap in the tests, unless the
change cannot matter: an equivalent mutant (``<=`` where the two sides are never equal, a default
nobody passes), or one that changes only text a person reads and no contract fixes (a log line's
wording, a message's words where the tests pin the code and the field). Each such survivor is listed
here with why it is accepted, so that the run reports only the survivors nobody has looked at, and a
change to the code that makes an explanation stale shows up as a new, unexplained survivor.

An entry matches a mutant by its module, its function (``Class.method`` or ``function``; ``*`` for
any) and a piece of the mutated line as mutmut shows it (``+`` side of the diff, whitespace
collapsed), optionally a piece of the original line too. Match on text, not on mutmut's numbering,
which shifts whenever a function changes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Explanation:
    module: str
    function: str
    mutated: str
    reason: str
    original: str = ""


def mutant_function(key: str) -> str:
    """``casrelay.flows.sweep.xǁSweeperǁrun__mutmut_12`` -> ``Sweeper.run``; ``…x_claim_seconds__mutmut_3`` ->
    ``claim_seconds``."""
    name = key.rsplit("__mutmut_", 1)[0].rsplit(".", 1)[-1]
    if name.startswith("xǁ"):
        return ".".join(part for part in name[2:].split("ǁ") if part)
    return name.removeprefix("x_")


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def changed_lines(diff: str) -> tuple[str, str]:
    """The removed and the added lines of a mutant's diff, each side joined and whitespace-collapsed."""
    removed = [line[1:] for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return _collapse(" ".join(removed)), _collapse(" ".join(added))


def explain(module: str, key: str, diff: str, entries: Sequence[Explanation]) -> Explanation | None:
    """The entry that explains this survivor, if one does."""
    function = mutant_function(key)
    original, mutated = changed_lines(diff)
    for entry in entries:
        if entry.module != module or entry.function not in ("*", function):
            continue
        if _collapse(entry.mutated) in mutated and _collapse(entry.original) in original:
            return entry
    return None


def explained_entries() -> tuple[Explanation, ...]:
    """Every explanation, from the triage modules of ``devkit.mutation_triage`` (imported here, not at the top,
    because they import ``Explanation`` from this module)."""
    from .mutation_triage import (
        errors_and_auth,
        instance_backend,
        ledger_and_sweep,
        ledger_core,
        order_flow,
        reconcile_v2,
        sqlite_store,
        v2_leases_and_orders,
    )

    return (*errors_and_auth.ENTRIES, *order_flow.ENTRIES, *ledger_and_sweep.ENTRIES, *ledger_core.ENTRIES,
            *sqlite_store.ENTRIES, *v2_leases_and_orders.ENTRIES, *reconcile_v2.ENTRIES,
            *instance_backend.ENTRIES)
