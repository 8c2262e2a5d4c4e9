"""The FC3 HTTP trigger's ``v1`` event, read into a plain request value.

Header names are lower-cased here, once, because HTTP header names are case-insensitive and every
later step (auth, content negotiation) must not care how a client spelt them.

An HTTP request may spread one order over its query string and its body (JSON or form), exactly as
the API document's request example puts everything in the query. ``params_from_http`` merges them
into one flat parameter map. A parameter given twice with two different values is refused: guessing
which one the caller meant could order the wrong certificate.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from ..errors import FieldError, bad_request, invalid_order, unsupported_media_type


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


def _string_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"the HTTP event's {what} must be an object", what)
    out: dict[str, str] = {}
    for k, v in value.items():
        if isinstance(v, list):  # tolerate list-valued maps; FC itself joins with commas
            v = ",".join(str(x) for x in v)
        out[str(k)] = "" if v is None else str(v)
    return out


def parse_http_event(event: Mapping[str, Any]) -> HttpRequest:
    ctx = event.get("requestContext") or {}
    http = ctx.get("http") if isinstance(ctx, dict) else None
    http = http if isinstance(http, dict) else {}
    method = str(http.get("method") or "GET").upper()
    path = str(http.get("path") or event.get("rawPath") or "/")
    headers = {k.lower(): v for k, v in _string_map(event.get("headers"), "headers").items()}
    query = _string_map(event.get("queryParameters"), "queryParameters")

    raw_body = event.get("body")
    if raw_body is None:
        body = b""
    elif not isinstance(raw_body, str):
        raise bad_request("the HTTP event's body must be a string", "body")
    elif event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw_body, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request("the HTTP event's body is marked base64 but does not decode", "body") from None
    else:
        body = raw_body.encode("utf-8", "surrogatepass")

    return HttpRequest(
        method=method,
        path=path,
        headers=headers,
        query=query,
        body=body,
        request_id=str(ctx.get("requestId")) if isinstance(ctx, dict) and ctx.get("requestId") else None,
        source_ip=str(http.get("sourceIp")) if http.get("sourceIp") else None,
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
        try:
            data = json.loads(text)
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


def params_from_http(req: HttpRequest) -> dict[str, Any]:
    """Merge the query string and the body into one parameter map."""
    query = dict(req.query)
    body = _body_params(req)
    errors = [
        FieldError(k, "DuplicateParameter", "is given in both the query string and the body with different values")
        for k in query.keys() & body.keys()
        if query[k] != body[k]
    ]
    if errors:
        raise invalid_order(errors)
    return {**query, **body}
