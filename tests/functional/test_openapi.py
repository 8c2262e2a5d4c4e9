"""openapi.yaml describes the HTTP API as it is.

The document is valid OpenAPI 3.1; it describes every route the relay serves, every status the
handler can answer and every parameter the validator knows; and every answer the function gives to
generated requests conforms to it.

Schemathesis generates requests from the document (its examples, a coverage pass over every
parameter and a Hypothesis fuzzing pass, with valid and invalid data alike) and sends them over real
HTTP to ``devkit.fc_local.LocalFcServer`` on the embedded default (the CAS emulator on loopback).
Each answer's status, media type, headers and body (JSON, and XML through a deserializer that reads
what ``response.to_xml`` writes) must be documented, and a request that breaks the document must be
refused. No request may make the function fail with a 5xx: the emulator is healthy, so the
legitimate CAS-side 5xx (502, 503, 504) cannot occur here.

The same checks run on every supported Python: schemathesis 4.31 and later need 3.11, so on 3.10
requirements-dev.txt installs the 4.30 line, which has every API used here (``Config.from_dict``
with the same phase options, the checks, ``schemathesis.deserializer``). Nothing here skips on 3.10:
a missing API fails the import, and the reach checks at the end prove the generated requests ran.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from devkit.embedded import embedded_default
from devkit.fc_local import LocalFcServer, call_handler, http_event

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "openapi.yaml"
HANDLER_PACKAGE = ROOT / "handler" / "casrelay"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
#: The methods an HTTP trigger can hand to the function: LocalFcServer serves these, and FC's trigger
#: those its ``methods`` list names. TRACE and QUERY never reach the function.
DELIVERABLE_METHODS = ["get", "put", "post", "delete", "patch", "options"]

#: Many valid orders would be paced by the function (CAS_MAX_QPS) and throttled by the emulator
#: (10 QPS per API); neither is what these tests are about.
UNPACED = {"CAS_MAX_QPS": "1000"}
NO_FLOW_CONTROL: dict[str, Any] = {"qps": None}
OPEN_TRIGGER_ENV = {"WEBHOOK_AUTH": "none", **UNPACED}

#: Every answer is documented (status, media type, headers, body), none is a server error, a method a
#: path does not serve gets 405 with ``Allow``, and a request that breaks the document is refused.
DOCUMENT_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    unsupported_method,
    negative_data_rejection,
]
#: What an unsigned order may get while webhook auth is on: it never reaches validation or CAS.
UNSIGNED_ORDER_STATUSES = {401, 405, 413, 415}


def load_document() -> dict[str, Any]:
    document = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def documented_operations(document: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS}


def documented_statuses(document: Mapping[str, Any]) -> set[int]:
    """Every status in some operation's responses, plus 404, which every undocumented path answers."""
    statuses = {int(code) for item in document["paths"].values() for method, operation in item.items()
                if method in HTTP_METHODS for code in operation["responses"]}
    return statuses | {404} if "NotFound" in document["components"]["responses"] else statuses


# --- the document --------------------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1() -> None:
    document = load_document()
    assert document["openapi"].startswith("3.1.")
    assert [error.message for error in OpenAPIV31SpecValidator(document).iter_errors()] == []


def test_the_order_parameters_are_the_validators_parameters() -> None:
    from casrelay.products import PRODUCT_CODES
    from casrelay.validation.base import COMMON_PARAMETERS, ORDER_PARAMETERS, RELAY_PARAMETERS, VALIDATE_TYPES

    document = load_document()
    schemas = document["components"]["schemas"]
    json_body = set(schemas["OrderJson"]["properties"])
    assert json_body == set(ORDER_PARAMETERS + COMMON_PARAMETERS + RELAY_PARAMETERS)
    assert set(schemas["OrderForm"]["properties"]) == json_body - {"Tags"}
    query = {p["name"] for p in document["components"]["parameters"].values() if p["in"] == "query"}
    assert query == set(ORDER_PARAMETERS + RELAY_PARAMETERS) | {"Action", "Format"}
    assert schemas["ProductCode"]["enum"] == list(PRODUCT_CODES)
    assert len(PRODUCT_CODES) == 15
    assert schemas["ValidateType"]["enum"] == list(VALIDATE_TYPES)


def _status_of(method: str, path: str) -> int:
    event = http_event(method.upper(), path, {}, {}, b"")
    return int(call_handler(json.dumps(event).encode())["statusCode"])


def test_every_route_the_relay_serves_is_documented_and_no_other(open_trigger: str) -> None:
    """A (path, method) is served when the handler answers it with anything but 404 or 405."""
    document = load_document()
    probed_paths = set(document["paths"]) | {"/no-such-route", "/health/", "/index.html"}
    served = {(path, method) for path in probed_paths for method in HTTP_METHODS
              if _status_of(method, path) not in (404, 405)}
    assert served == documented_operations(document)


def _literal_statuses_in(tree: ast.AST) -> set[int]:
    """Status codes written into calls (``http_response(200, ...)``, ``status=502``), into defaults of
    parameters named ``status``, into conditional expressions and returns (``502 if answered else 504``),
    and into the renderer's (error class, status) table."""

    def status(node: ast.AST | None) -> set[int]:
        if isinstance(node, ast.Constant) and type(node.value) is int and 200 <= node.value <= 599:
            return {node.value}
        return set()

    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for candidate in node.args[:1] + [kw.value for kw in node.keywords if kw.arg == "status"]:
                found |= status(candidate)
        elif isinstance(node, ast.arguments):
            positional = node.posonlyargs + node.args
            pairs = list(zip(positional[len(positional) - len(node.defaults):], node.defaults, strict=True))
            pairs += list(zip(node.kwonlyargs, node.kw_defaults, strict=True))
            for argument, default in pairs:
                found |= status(default) if argument.arg == "status" else set()
        elif isinstance(node, ast.IfExp):  # ``502 if err.answered else 504``
            found |= status(node.body) | status(node.orelse)
        elif isinstance(node, ast.Return):
            found |= status(node.value)
        elif isinstance(node, ast.Tuple) and len(node.elts) == 2 and isinstance(node.elts[0], ast.Name):
            found |= status(node.elts[1])  # ``(InvalidOrder, 400)``
    return found


def test_every_status_the_handler_can_answer_is_documented_and_no_other() -> None:
    in_code: set[int] = set()
    for source in (HANDLER_PACKAGE / "response.py", HANDLER_PACKAGE / "entry" / "http.py", HANDLER_PACKAGE / "app.py"):
        in_code |= _literal_statuses_in(ast.parse(source.read_text(encoding="utf-8")))
    assert {200, 400, 401, 402, 404, 405, 409, 413, 415, 422, 429, 500, 502, 503, 504} <= in_code
    assert in_code == documented_statuses(load_document())


# --- XML answers -----------------------------------------------------------------------------------

#: Top-level XML elements whose text the document types as something other than a string.
XML_INTEGERS = ("OrderId", "RetryAfter")
XML_BOOLEANS = ("DryRun",)


def _xml_value(element: ET.Element) -> Any:
    """What ``response._xml_append`` wrote, read back: a list holds items named after it less its
    trailing ``s`` (``Domains``/``Domain``, ``Errors``/``Error``); any other parent is an object."""
    children = list(element)
    if not children:
        return element.text or ""
    if element.tag.endswith("s") and {child.tag for child in children} == {element.tag[:-1]}:
        return [_xml_value(child) for child in children]
    return {child.tag: _xml_value(child) for child in children}


def xml_document(text: bytes) -> tuple[str, dict[str, Any]]:
    """The root element's name and its members, typed members converted (``xs:integer``, ``xs:boolean``)."""
    root = ET.fromstring(text)  # raises on a body that is not well-formed XML
    members = _xml_value(root)
    assert isinstance(members, dict), f"the root element <{root.tag}> holds no members"
    for name in XML_INTEGERS:
        if isinstance(members.get(name), str) and members[name].isdigit():
            members[name] = int(members[name])
    for name in XML_BOOLEANS:
        if members.get(name) in ("true", "false"):
            members[name] = members[name] == "true"
    return root.tag, members


@schemathesis.deserializer("application/xml", "text/xml")
def deserialize_xml(ctx: schemathesis.DeserializationContext, response: schemathesis.Response) -> Any:
    return xml_document(response.content)[1]


def _xml_roots(schema: Mapping[str, Any], schemas: Mapping[str, Any]) -> set[str]:
    if "$ref" in schema:
        return _xml_roots(schemas[schema["$ref"].rsplit("/", 1)[1]], schemas)
    if "name" in schema.get("xml", {}):
        return {schema["xml"]["name"]}
    return {name for key in ("oneOf", "anyOf", "allOf") for sub in schema.get(key, ())
            for name in _xml_roots(sub, schemas)}


def documented_xml_roots(document: Mapping[str, Any], path: str, method: str, status: int) -> set[str]:
    components = document["components"]
    answer = document["paths"][path][method.lower()]["responses"].get(str(status), components["responses"]["NotFound"])
    answer = components["responses"][answer["$ref"].rsplit("/", 1)[1]] if "$ref" in answer else answer
    xml = answer.get("content", {}).get("application/xml")
    return _xml_roots(xml["schema"], components["schemas"]) if xml else set()


def assert_xml_root_is_documented(case: schemathesis.Case, response: schemathesis.Response) -> None:
    content_type = next(iter(response.headers.get("content-type", [])), "")
    if "xml" not in content_type or not response.content:
        return
    root, _members = xml_document(response.content)
    documented = documented_xml_roots(case.operation.schema.raw_schema, case.path, case.method, response.status_code)
    assert root in documented, f"{case.method} {case.path} answered {response.status_code} with <{root}>"


# --- generated requests against the local HTTP trigger --------------------------------------------

GENERATED = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)


def _schema_config(*, coverage: bool) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "phases": {
            "stateful": {"enabled": False},
            # The body examples are whole orders: values borrowed from the response examples into the
            # query string would turn them into conflicting duplicates.
            "examples": {"extra-data-sources": {"responses": False}},
            "coverage": {"enabled": coverage, "unexpected-methods": DELIVERABLE_METHODS},
        },
    })


def document_with_webhook_auth_off() -> dict[str, Any]:
    """The document as it holds for a function deployed with ``WEBHOOK_AUTH=none``: no signature is asked for."""
    return {**load_document(), "security": []}


OPEN_SCHEMA = schemathesis.openapi.from_dict(document_with_webhook_auth_off(), config=_schema_config(coverage=True))
SIGNED_SCHEMA = schemathesis.openapi.from_path(SPEC_PATH, config=_schema_config(coverage=False))
#: (pass, method sent, path, status) of every generated request, for the reach checks at the end.
SEEN: set[tuple[str, str, str, int]] = set()


@pytest.fixture()
def open_trigger() -> Iterator[str]:
    """The function with ``WEBHOOK_AUTH=none`` behind the local HTTP trigger: requests reach validation."""
    with embedded_default(extra_env=OPEN_TRIGGER_ENV, **NO_FLOW_CONTROL), LocalFcServer() as server:
        yield server.url


@pytest.fixture()
def signed_trigger() -> Iterator[str]:
    """The function as deployed by default: every order needs a Standard Webhooks signature."""
    with embedded_default(extra_env=UNPACED, **NO_FLOW_CONTROL), LocalFcServer() as server:
        yield server.url


@OPEN_SCHEMA.parametrize()
@GENERATED
def test_every_answer_of_the_open_trigger_is_documented_and_none_is_a_server_error(
        case: schemathesis.Case, open_trigger: str) -> None:
    response = case.call(base_url=open_trigger, timeout=30)
    SEEN.add(("open", str(response.request.method), case.path, response.status_code))
    case.validate_response(response, checks=DOCUMENT_CHECKS)
    assert_xml_root_is_documented(case, response)


@SIGNED_SCHEMA.parametrize()
@settings(GENERATED, max_examples=60)
def test_unsigned_requests_never_reach_the_order_when_webhook_auth_is_on(
        case: schemathesis.Case, signed_trigger: str) -> None:
    response = case.call(base_url=signed_trigger, timeout=30)
    SEEN.add(("signed", str(response.request.method), case.path, response.status_code))
    case.validate_response(response, checks=[*DOCUMENT_CHECKS, ignored_auth])
    assert_xml_root_is_documented(case, response)
    if case.path == "/":
        assert response.status_code in UNSIGNED_ORDER_STATUSES, response.text


def _seen(run: str) -> set[tuple[str, str, int]]:
    seen = {(method, path, status) for name, method, path, status in SEEN if name == run}
    if not seen:
        pytest.skip("reads what the generated-request tests above saw; run the whole file")
    return seen


def test_the_open_pass_placed_orders_and_met_every_refusal_a_healthy_cas_allows() -> None:
    assert {("POST", "/", 200), ("POST", "/", 400), ("POST", "/", 415), ("POST", "/", 422), ("PUT", "/", 405),
            ("GET", "/health", 200), ("PUT", "/health", 405)} <= _seen("open")


def test_the_signed_pass_was_refused_for_want_of_a_signature() -> None:
    assert {("POST", "/", 401), ("GET", "/health", 200)} <= _seen("signed")


# --- the answers generated requests cannot reach ---------------------------------------------------


def _error_body_schema(document: Mapping[str, Any], response_name: str) -> Draft202012Validator:
    pointer = f"#/components/responses/{response_name}/content/application~1json/schema"
    return Draft202012Validator({"$ref": pointer, "components": document["components"]})


def test_an_undocumented_path_answers_with_the_documented_not_found(open_trigger: str) -> None:
    response = requests.post(f"{open_trigger}/orders", json={"Domain": "www.example.com"}, timeout=10)
    assert response.status_code == 404
    assert list(_error_body_schema(load_document(), "NotFound").iter_errors(response.json())) == []
    assert response.json()["Code"] == "NotFound"


def test_a_body_over_the_limit_answers_with_the_documented_413(open_trigger: str) -> None:
    response = requests.post(f"{open_trigger}/?Format=XML", data=b"Domain=" + b"a" * 70_000,
                             headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert response.status_code == 413
    OPEN_SCHEMA["/"]["POST"].validate_response(response)
    assert xml_document(response.content)[0] == "Error"


def test_a_product_without_a_package_answers_with_the_documented_402() -> None:
    with embedded_default(extra_env=OPEN_TRIGGER_ENV, quotas={"symantec-free-1-free": 0}, **NO_FLOW_CONTROL), \
            LocalFcServer() as server:
        response = requests.post(f"{server.url}/", json={"Domain": "www.example.com"}, timeout=30)
    assert response.status_code == 402
    OPEN_SCHEMA["/"]["POST"].validate_response(response)
    assert response.json()["Code"] in ("NotRemainCount", "NotFoundPackage")


def test_an_xml_error_stays_well_formed_whatever_parameter_names_it_echoes(open_trigger: str) -> None:
    """Errors name the caller's parameters; characters XML 1.0 cannot carry become U+FFFD."""
    response = requests.post(f"{open_trigger}/", params={"Format": "XML", "Do\x01main": "x", "\ufffe": "y"},
                             timeout=10)
    assert response.status_code == 400
    root, members = xml_document(response.content)
    assert root == "Error"
    assert {error["Field"] for error in members["Errors"]} >= {"Do\ufffdmain", "\ufffd"}
    OPEN_SCHEMA["/"]["POST"].validate_response(response)
