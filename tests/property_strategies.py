"""Hypothesis strategies shared by the property tests: JSON values, sample events, and their mutations.

The mutations are the damage real transports and careless senders do to an event: a key dropped, a
value of the wrong JSON type, a string cut short, a body re-encoded (JSON text <-> object <-> base64),
an array wrapped or unwrapped, an element duplicated, base64 corrupted. ``mutated(value)`` applies a
few of them at random places in a JSON value; ``event_bytes()`` turns any of this into the raw bytes
FC hands the handler.

Every property runs with ``derandomize=True`` so CI sees the same examples on every run. For a deeper
local search, ``CASRELAY_PROPERTY_SCALE=20`` multiplies every example count and
``CASRELAY_PROPERTY_RANDOM=1`` draws fresh examples instead of the fixed ones.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"

_SCALE = float(os.environ.get("CASRELAY_PROPERTY_SCALE", "1") or 1)
_RANDOM = os.environ.get("CASRELAY_PROPERTY_RANDOM", "") not in ("", "0")


def bounded(max_examples: int) -> settings:
    """The settings of one property: a fixed number of reproducible examples and no per-example deadline
    (the first CSR or emulator call of a run is slow). Properties that need the emulator take it from a
    module-scoped fixture, so no function-scoped fixture is shared between examples."""
    return settings(max_examples=max(1, int(max_examples * _SCALE)), deadline=None, derandomize=not _RANDOM,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], database=None)


def load_events() -> dict[str, Any]:
    """Every sample event in ``events/``, decoded, by file name."""
    return {p.name: json.loads(p.read_text()) for p in sorted(EVENTS_DIR.glob("*.json"))}


EVENTS = load_events()
HTTP_EVENTS = {k: v for k, v in EVENTS.items() if k.startswith("http-")}
DIRECT_EVENTS = {k: v for k, v in EVENTS.items() if k.startswith("invoke-")}
QUEUE_EVENTS = {k: v for k, v in EVENTS.items() if k not in HTTP_EVENTS and k not in DIRECT_EVENTS}


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    elif isinstance(value, str) and value[:1] in ("{", "["):
        with contextlib.suppress(ValueError):
            yield from _walk(json.loads(value))


def _strings_in_events() -> list[str]:
    seen = {s for event in EVENTS.values() for s in _walk(event) if isinstance(s, str) and len(s) <= 64}
    return sorted(seen)


#: Keys and short values that occur in real events, so that random JSON often looks like a real event.
EVENT_STRINGS = _strings_in_events()
ORDER_KEYS = ("ProductCode", "Domain", "Csr", "ValidateType", "Username", "Email", "Phone", "CompanyName",
              "Tags", "Tags.1.Key", "Tags.1.Value", "Tags.0.Key", "Action", "Format", "IdempotencyKey")
EVENT_KEYS = sorted({*ORDER_KEYS, *(k for e in EVENTS.values() for k in _walk(e)
                                    if isinstance(k, str) and len(k) <= 40 and " " not in k)})

#: Text of any code point, lone surrogates included: JSON can carry them as \\udXXX escapes.
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
keys = st.sampled_from(EVENT_KEYS) | any_text
strings = st.sampled_from(EVENT_STRINGS) | any_text
json_scalars = (st.none() | st.booleans() | st.integers() | st.integers(-(2**70), 2**70)
                | st.floats() | strings)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=6),
    max_leaves=20,
)

#: Public suffixes (ICANN section of the Public Suffix List) that generated host names end under, so that a
#: name built by the rules is one a CA would certify.
PUBLIC_SUFFIXES = ("com", "net", "org", "cn", "com.cn", "co.uk", "de", "io")
#: Registrable labels put directly under a public suffix: ASCII in either case, Unicode, and punycode.
REGISTRABLE_LABELS = ("example", "Example", "bücher", "例子", "xn--fiqs8s", "shop-1")


@st.composite
def registered_domains(draw: st.DrawFn) -> str:
    """A domain registered under a real public suffix (``example.co.uk``), maybe with a subdomain level."""
    suffix = draw(st.sampled_from(PUBLIC_SUFFIXES))
    name = f"{draw(st.sampled_from(REGISTRABLE_LABELS))}.{suffix.upper() if draw(st.booleans()) else suffix}"
    return f"dev.{name}" if draw(st.integers(0, 4)) == 0 else name


#: Characters that break naive handling: lone surrogates (JSON can carry them), NUL and other controls,
#: non-characters, a bidi override, an astral character, a combining mark.
ODD_CHARACTERS = ("\ud800", "\udfff", "\x00", "\x1b", "\x7f", "\ufffe", "\uffff", "\u202e", "\U0001f600", "e\u0301")

Path_ = tuple[Any, ...]


def _paths(value: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _get(value: Any, path: Path_) -> Any:
    for step in path:
        value = value[step]
    return value


def _put(root: Any, path: Path_, new: Any) -> Any:
    if not path:
        return new
    _get(root, path[:-1])[path[-1]] = new
    return root


def _b64(text: str, urlsafe: bool = False) -> str:
    raw = text.encode("utf-8", "surrogatepass")
    return (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode("ascii")


@st.composite
def _corrupt_base64(draw: st.DrawFn, text: str) -> str:
    """A base64 text with one kind of damage a transport does: a bad character, a lost or extra padding
    character, a flipped character, a cut."""
    encoded = _b64(text, draw(st.booleans()))
    if not encoded:
        return draw(st.sampled_from(["=", "A", "!!", "===="]))
    at = draw(st.integers(0, len(encoded) - 1))
    damage = draw(st.sampled_from(["bad-char", "flip", "drop-pad", "extra-pad", "cut", "space"]))
    if damage == "bad-char":
        return encoded[:at] + draw(st.sampled_from("!*.~\x00é\n")) + encoded[at + 1:]
    if damage == "flip":
        return encoded[:at] + draw(st.sampled_from("AZaz09+/-_")) + encoded[at + 1:]
    if damage == "drop-pad":
        return encoded.rstrip("=")
    if damage == "extra-pad":
        return encoded + "="
    if damage == "space":
        return encoded[:at] + " " + encoded[at:]
    return encoded[:at]


def _mutations_for(node: Any) -> list[str]:
    names = ["replace", "wrap-list", "as-json-text", "as-base64", "as-null"]
    if isinstance(node, dict):
        names += ["drop-key", "drop-key", "add-key", "rename-key", "empty"]
    if isinstance(node, list):
        names += ["unwrap", "duplicate", "drop-element", "empty", "reverse"]
    if isinstance(node, str):
        names += ["truncate", "truncate", "parse-json", "corrupt-base64", "append", "as-number", "odd-char"]
    return names


@st.composite
def _mutate_node(draw: st.DrawFn, node: Any, values: st.SearchStrategy[Any]) -> Any:
    how = draw(st.sampled_from(_mutations_for(node)))
    if how == "replace":
        return draw(values)
    if how == "wrap-list":
        return [node]
    if how == "as-json-text":
        return json.dumps(node)
    if how == "as-base64":
        return _b64(json.dumps(node) if not isinstance(node, str) else node, draw(st.booleans()))
    if how == "as-null":
        return None
    if how == "drop-key":
        if node:
            del node[draw(st.sampled_from(sorted(node, key=str)))]
        return node
    if how == "add-key":
        node[draw(keys)] = draw(values)
        return node
    if how == "rename-key":
        if node:
            old = draw(st.sampled_from(sorted(node, key=str)))
            at = draw(st.integers(0, len(old)))
            new = draw(st.sampled_from([old.lower(), old.upper(), old[:at], old[:at] + old[at + 1:],
                                        old[:at] + draw(st.sampled_from(ODD_CHARACTERS)) + old[at:]]))
            node[new] = node.pop(old)
        return node
    if how == "empty":
        return type(node)()
    if how == "unwrap":
        return node[draw(st.integers(0, len(node) - 1))] if node else None
    if how == "duplicate":
        if node:
            at = draw(st.integers(0, len(node) - 1))
            node.insert(at, copy.deepcopy(node[at]))
        return node
    if how == "drop-element":
        if node:
            del node[draw(st.integers(0, len(node) - 1))]
        return node
    if how == "reverse":
        return node[::-1]
    if how == "truncate":
        return node[: draw(st.integers(0, max(0, len(node) - 1)))]
    if how == "parse-json":
        try:
            return json.loads(node)
        except ValueError:
            return node + draw(strings)
    if how == "corrupt-base64":
        return draw(_corrupt_base64(node))
    if how == "append":
        return node + draw(strings)
    if how == "odd-char":
        at = draw(st.integers(0, len(node)))
        return node[:at] + draw(st.sampled_from(ODD_CHARACTERS)) + node[at:]
    assert how == "as-number"
    return draw(st.integers() | st.floats())


@st.composite
def mutated(draw: st.DrawFn, value: Any, max_steps: int = 4, values: st.SearchStrategy[Any] = json_values) -> Any:
    """``value`` with 1 to ``max_steps`` mutations at random places; ``value`` itself is left alone.
    ``values`` is what a replaced or added value is drawn from."""
    out = copy.deepcopy(value)
    for _ in range(draw(st.integers(1, max_steps))):
        path = draw(st.sampled_from(list(_paths(out))))
        out = _put(out, path, draw(_mutate_node(_get(out, path), values)))
    return out


def _embedded_objects(value: Any) -> list[Path_]:
    """Paths of strings that hold a JSON object: an HTTP body, a queue message's order."""
    found = []
    for path in _paths(value):
        node = _get(value, path)
        if isinstance(node, str) and node[:1] == "{":
            try:
                if isinstance(json.loads(node), dict):
                    found.append(path)
            except ValueError:
                pass
    return found


@st.composite
def mutated_payload(draw: st.DrawFn, value: Any, values: st.SearchStrategy[Any] = json_values) -> Any:
    """``value`` with the JSON object inside one of its strings (an HTTP body, a message body) mutated and
    encoded again, so that the damage reaches the order behind the envelope; ``mutated`` when there is none."""
    paths = _embedded_objects(value)
    if not paths:
        return draw(mutated(value, values=values))
    out = copy.deepcopy(value)
    path = draw(st.sampled_from(paths))
    inner = draw(mutated(json.loads(_get(out, path)), max_steps=2, values=values))
    return _put(out, path, json.dumps(inner, ensure_ascii=draw(st.booleans())))


def encoded(value: Any, ensure_ascii: bool) -> bytes:
    """JSON bytes as a sender would produce them; lone surrogates become invalid UTF-8 when not escaped."""
    return json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")


@st.composite
def damaged_bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    """``raw`` cut short, with one byte changed, or with bytes spliced in."""
    if not raw:
        return draw(st.binary(max_size=8))
    at = draw(st.integers(0, len(raw) - 1))
    how = draw(st.sampled_from(["cut", "byte", "insert"]))
    if how == "cut":
        return raw[:at]
    if how == "byte":
        return raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1:]
    return raw[:at] + draw(st.binary(min_size=1, max_size=6)) + raw[at:]


def nested_json(depth: int, kind: str = "list") -> str:
    """A JSON text nested ``depth`` levels deep, built as text: ``json.dumps`` would itself run out of stack."""
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


_DEEP = "\x00deep\x00"


@st.composite
def with_deep_value(draw: st.DrawFn, value: Any) -> bytes:
    """``value`` with one of its values (or itself) replaced by JSON nested hundreds of levels deep: deep
    enough to trip a recursive walk inside the handler, shallow enough that ``json.loads`` still reads it."""
    out = copy.deepcopy(value)
    path = draw(st.sampled_from(list(_paths(out))))
    out = _put(out, path, _DEEP)
    deep = nested_json(draw(st.integers(300, 995)), draw(st.sampled_from(["list", "object"])))
    return json.dumps(out).replace(json.dumps(_DEEP), deep).encode()


def mutated_events(samples: dict[str, Any] = EVENTS,
                   finish: Callable[[Any], st.SearchStrategy[Any]] | None = None) -> st.SearchStrategy[bytes]:
    """A sample event with its envelope or its payload mutated, encoded as JSON bytes. ``finish`` may
    post-process the mutated event (the handler test re-signs HTTP events so that they pass auth)."""
    sample = st.sampled_from(sorted(samples)).map(samples.__getitem__)
    mutated_samples = sample.flatmap(mutated) | sample.flatmap(mutated_payload)
    if finish is not None:
        mutated_samples = mutated_samples.flatmap(finish)
    return st.builds(encoded, mutated_samples, st.booleans())


def event_bytes(samples: dict[str, Any] = EVENTS, finish: Callable[[Any], st.SearchStrategy[Any]] | None = None,
                mutated_share: int = 2) -> st.SearchStrategy[bytes]:
    """Raw event bytes: arbitrary bytes, arbitrary JSON, JSON nested too deep, and mutated ``samples`` (see
    ``mutated_events``), whole or with their bytes damaged; ``mutated_share`` weighs the mutated samples
    against each of the other kinds."""
    sample = st.sampled_from(sorted(samples)).map(samples.__getitem__)
    mutated_bytes = mutated_events(samples, finish)
    kinds = [
        st.binary(max_size=64),
        st.builds(encoded, json_values, st.booleans()),
        mutated_bytes.flatmap(damaged_bytes),
        sample.flatmap(with_deep_value),
        st.builds(lambda d, k: nested_json(d, k).encode(), st.integers(990, 5000), st.sampled_from(["list", "object"])),
        *[mutated_bytes] * mutated_share,
    ]
    return st.sampled_from(kinds).flatmap(lambda kind: kind)
