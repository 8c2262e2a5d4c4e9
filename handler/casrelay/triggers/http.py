"""The FC3 HTTP trigger's ``v1`` event, read into a plain request value.

Header names are lower-cased here, once, because HTTP header names are case-insensitive and every
later step (auth, content negotiation) must not care how a client spelt them.

An HTTP request may spread one order over its query string and its body (JSON or form), exactly as
the API document's request example puts everything in the query. ``params_from_http`` merges them
into one flat parameter map. A parameter given twice with two different values is refused: guessing
which one the caller meant could order the wrong certificate.

A Standard Webhooks signature covers the body only. With ``WEBHOOK_AUTH=standard`` the query string
and the ``Idempotency-Key`` header may therefore only repeat what the signed body says
(``unsigned_inputs``); the query-string-only form of the document's example needs
``WEBHOOK_AUTH=none`` behind FC's own ``function`` authentication, which signs the whole request.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from ..errors import BadRequest, FieldError, bad_request, invalid_order, unsigned_input, unsupported_media_type


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    request_id: str | None = None
    source_ip: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    @property
    def media_type(self) -> str:
        return self.header("content-type").split(";", 1)[0].strip().lower()


def _malformed(field_name: str, problem: str) -> BadRequest:
    return bad_request(f"the HTTP event's {field_name} {problem}", field_name)


def _string_map(value: Any, what: str) -> dict[str, str]:
    """An object of strings; a list of strings is joined with commas, as FC joins a repeated name.

    Anything else is refused with the field's name only: a header or parameter name is the client's
    text, which may be an e-mail address and must not reach the answer or a log line."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _malformed(what, f"must be an object of strings, not {_kind(value)}")
    out: dict[str, str] = {}
    for k, v in value.items():
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            v = ",".join(v)
        if not isinstance(v, str):
            raise _malformed(what, f"must be an object of strings; one value is {_kind(v)}")
        out[str(k)] = v
    return out


def _kind(value: Any) -> str:
    """The JSON type of ``value``, for a message that says what was seen without showing it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _optional_str(container: Mapping[str, Any], key: str, field_name: str) -> str | None:
    value = container.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _malformed(field_name, f"must be a string, not {_kind(value)}")


def parse_http_event(event: Mapping[str, Any]) -> HttpRequest:
    """Read an event already recognised as an HTTP trigger event; a part that cannot be read is a
    ``BadRequest`` naming it (``requestContext.http.method``, ``headers``, ``body``, ...)."""
    ctx = event.get("requestContext")
    if ctx is None:
        ctx = {}
    elif not isinstance(ctx, dict):
        raise _malformed("requestContext", f"must be an object, not {_kind(ctx)}")
    http = ctx.get("http")
    if http is None:
        http = {}
    elif not isinstance(http, dict):
        raise _malformed("requestContext.http", f"must be an object, not {_kind(http)}")
    method = (_optional_str(http, "method", "requestContext.http.method") or "GET").upper()
    path = (_optional_str(http, "path", "requestContext.http.path")
            or _optional_str(event, "rawPath", "rawPath") or "/")
    headers = {k.lower(): v for k, v in _string_map(event.get("headers"), "headers").items()}
    query = _string_map(event.get("queryParameters"), "queryParameters")

    encoded = event.get("isBase64Encoded")
    if encoded is not None and not isinstance(encoded, bool):
        raise _malformed("isBase64Encoded", f"must be true or false, not {_kind(encoded)}")
    raw_body = event.get("body")
    if raw_body is None:
        body = b""
    elif not isinstance(raw_body, str):
        raise _malformed("body", f"must be a string, not {_kind(raw_body)}")
    elif encoded:
        try:
            body = base64.b64decode(raw_body, validate=True)
        except (binascii.Error, ValueError):
            raise _malformed("body", "is marked base64 (isBase64Encoded) but does not decode") from None
    else:
        body = raw_body.encode("utf-8", "surrogatepass")

    request_id = ctx.get("requestId")
    source_ip = http.get("sourceIp")
    return HttpRequest(
        method=method,
        path=path,
        headers=headers,
        query=query,
        body=body,
        request_id=str(request_id)[:128] if isinstance(request_id, (str, int)) and request_id else None,
        source_ip=source_ip[:64] if isinstance(source_ip, str) and source_ip else None,
    )


def _body_params(req: HttpRequest) -> dict[str, Any]:
    body = req.body
    if not body.strip():
        return {}
    media = req.media_type
    looks_json = body.lstrip()[:1] in (b"{", b"[")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("the body is not UTF-8 text") from None
    if media in ("application/json", "text/json") or media.endswith("+json") or (not media and looks_json):
        from ..jsontext import DuplicateKeyError, loads_strict
        from .payload import duplicate_key_request

        try:
            data = loads_strict(text)  # a key given twice is refused: which value was meant is unknowable
        except DuplicateKeyError as exc:
            raise duplicate_key_request(exc, "the JSON body") from None
        except json.JSONDecodeError as exc:
            raise bad_request(f"the body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") \
                from None
        except (ValueError, RecursionError):
            raise bad_request("the body is not valid JSON (too deeply nested)") from None
        if not isinstance(data, dict):
            raise bad_request("the JSON body must be an object holding the order's parameters")
        return data
    if media == "application/x-www-form-urlencoded" or not media:
        try:
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, max_num_fields=200)
        except ValueError:
            raise bad_request("the form body cannot be parsed as application/x-www-form-urlencoded") from None
        return _merge_pairs(pairs, "body")
    raise unsupported_media_type(media)


def _merge_pairs(pairs: list[tuple[str, str]], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    errors = []
    for k, v in pairs:
        if k in out and out[k] != v:
            errors.append(FieldError(k, "DuplicateParameter", f"is given twice in the {where} with different values"))
        out[k] = v
    if errors:
        raise invalid_order(errors)
    return out


#: Query parameters that shape only the answer, never the order: accepted outside the signed body.
ANSWER_ONLY_QUERY = frozenset({"Format"})
#: The one value ``Action`` may have in the query string without the signed body repeating it.
ACTION = "CreateCertificateForPackageRequest"


def unsigned_inputs(req: HttpRequest, query: Mapping[str, str], body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The order inputs a Standard Webhooks signature does not cover, as (name, problem) pairs.

    The signature covers ``webhook-id.webhook-timestamp.body`` only. So a query parameter is accepted
    only when the signed body gives it with exactly the same value (``Format``, which shapes only the
    answer, is exempt, and ``Action`` may stand alone when it names the API's action), and the
    ``Idempotency-Key`` header only when the body carries ``IdempotencyKey`` with its value. Anything
    else could be added or changed by whoever holds one signed request, and each resend would be a
    new paid order.
    """
    problems: list[tuple[str, str]] = []
    for name, value in query.items():
        if name in ANSWER_ONLY_QUERY:
            continue
        if name in body:
            if body[name] != value:
                problems.append((name, "differs between the query string and the signed body; the query string is "
                                       "not covered by the Standard Webhooks signature, so give the parameter in "
                                       "the signed body only"))
        elif not (name == "Action" and value == ACTION):
            problems.append((name, "is in the query string, which the Standard Webhooks signature does not cover; "
                                   "the parameter must go in the signed body"))
    header = req.header("idempotency-key").strip()
    if header and body.get("IdempotencyKey") != header:
        problems.append(("Idempotency-Key", "the header is not covered by the Standard Webhooks signature; put "
                                            "IdempotencyKey in the signed body (the header may repeat it)"))
    return problems


def params_from_http(req: HttpRequest, *, signed_body_only: bool = False) -> dict[str, Any]:
    """Merge the query string and the body into one parameter map.

    With ``signed_body_only`` (``WEBHOOK_AUTH=standard``) every input outside the body must repeat
    the body exactly (see ``unsigned_inputs``), or the request is refused with ``UnsignedParameter``.
    """
    query = dict(req.query)
    body = _body_params(req)
    if signed_body_only:
        problems = unsigned_inputs(req, query, body)
        if problems:
            raise unsigned_input(problems)
    errors = [
        FieldError(k, "DuplicateParameter", "is given in both the query string and the body with different values")
        for k in query.keys() & body.keys()
        if query[k] != body[k]
    ]
    if errors:
        raise invalid_order(errors)
    return {**query, **body}
