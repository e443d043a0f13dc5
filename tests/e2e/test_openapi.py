"""The OpenAPI document: it describes exactly the routes that exist, and is valid OpenAPI 3.1."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from aiohttp import ClientResponse, web
from pydantic import BaseModel, ValidationError

from runtime.api import common
from runtime.app import create_app
from runtime.openapi import EXCLUDED, build_document, operations
from runtime.openapi.doc import doc_of
from runtime.openapi.examples import EXAMPLES
from runtime.operations.contacts import ContactPatch
from tests.e2e.conftest import OPERATOR_TOKEN, Service, service_config


# --- checking a real answer against the served document (status, headers, body) ---------
def schema_validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A 2020-12 validator for `schema`, with the document's components for its `$ref`s."""
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema,
            "components": document["components"]}
    return jsonschema_rs.Draft202012Validator(root, validate_formats=True)


def operation_for(document: dict[str, Any], method: str, path: str
                  ) -> tuple[str, dict[str, Any]]:
    for template, methods in document["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in methods:
            return template, methods[method.lower()]
    raise AssertionError(f"{method} {path} is not in the document")


async def assert_conforms(document: dict[str, Any], response: ClientResponse
                          ) -> dict[str, Any] | None:
    """The response's status is documented for its operation and its body matches; the body."""
    method, path = response.method, response.url.path
    template, op = operation_for(document, method, path)
    status = str(response.status)
    assert status in op["responses"], (
        f"{method} {template} answered {status}, not documented: {await response.text()}")
    documented = op["responses"][status]
    for header, spec in documented.get("headers", {}).items():
        if spec.get("required"):
            assert header in response.headers, f"{method} {template} {status}: no {header}"
    content = documented.get("content", {})
    if "application/json" not in content:
        return None
    body: dict[str, Any] = await response.json()
    validator = schema_validator(document, content["application/json"]["schema"])
    errors = [str(e) for e in validator.iter_errors(body)]
    assert not errors, f"{method} {template} {status}: {errors[:3]} in {body}"
    return body


HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@pytest.fixture
def app(tmp_path: Path) -> Any:
    return create_app(service_config(tmp_path), OPERATOR_TOKEN)


def described(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, methods in document["paths"].items()
            for method in methods if method in HTTP_METHODS}


def test_every_route_is_documented_or_excluded_with_a_reason(app: Any) -> None:
    _, missing = operations(app)
    assert missing == [], (
        "routes without @documented(...) and not in runtime/openapi/doc.py EXCLUDED: "
        + ", ".join(f"{m.method} {m.path} ({m.handler})" for m in missing))
    routes = [(r.method, r.resource.canonical) for r in app.router.routes() if r.resource]
    for exclusion in EXCLUDED:
        assert len(exclusion.reason) > 20, f"say why {exclusion.path} is left out"
        if exclusion.must_match:
            assert any(exclusion.matches(m, p) for m, p in routes), (
                f"stale exclusion: no route matches {exclusion.method} {exclusion.path}")


def test_an_undocumented_route_is_caught(app: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_post("/api/v1/surprise", handler)
    _, missing = operations(app)
    assert [(m.method, m.path) for m in missing] == [("POST", "/api/v1/surprise")]
    assert ("POST", "/api/v1/surprise") not in described(build_document(app))


def test_the_document_describes_every_documented_route_and_nothing_else(app: Any) -> None:
    routes = {(r.method, r.resource.canonical) for r in app.router.routes()
              if r.resource and doc_of(r.handler) is not None and r.method != "HEAD"}
    document = build_document(app)
    assert described(document) == routes
    for path, methods in document["paths"].items():
        names = re.findall(r"\{([^}]+)\}", path)
        for op in methods.values():
            in_path = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
            assert in_path == names, f"{path}: path parameters {in_path}"


async def test_the_served_document_is_the_route_table(service: Service) -> None:
    document = await service.operator.ok("GET", "/api/v1/openapi.json")
    app = service.client.server.app
    assert app is not None
    assert described(document) == described(build_document(app))
    assert document["openapi"].startswith("3.1")


def test_the_document_is_valid_openapi_3_1(app: Any) -> None:
    pytest.importorskip("schemathesis")
    from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

    document = build_document(app)
    errors = [str(e) for e in OPENAPI_31_VALIDATOR.iter_errors(document)]
    assert not errors, errors[:5]
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name


def test_every_operation_documents_its_errors_with_the_error_body(app: Any) -> None:
    document = build_document(app)
    schemes = set(document["components"]["securitySchemes"])
    assert {"operatorToken", "tenantKey", "userToken", "userTokenQuery"} <= schemes
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            where = f"{method.upper()} {path}"
            responses = op["responses"]
            assert any(s.startswith("2") for s in responses), where
            if op["security"]:
                assert "401" in responses, where
                for alternative in op["security"]:
                    assert set(alternative) <= schemes, where
            if "requestBody" in op:
                assert {"400", "413", "422"} <= set(responses), where
            if any(p["in"] == "query" for p in op.get("parameters", [])):
                assert "400" in responses, where
            for status, response in responses.items():
                # /healthz answers its own body when degraded: a state, not an error.
                if int(status) >= 400 and (path, status) != ("/healthz", "503"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (where, status)


def test_secret_settings_are_documented_as_masked(app: Any) -> None:
    module = build_document(app)["components"]["schemas"]["ModuleOut"]
    assert "masked" in module["properties"]["settings"]["description"]


def test_examples_are_valid_bodies(app: Any) -> None:
    document = build_document(app)
    bodies = {cls.__name__: cls for cls in _subclasses(common.Body)}
    for name, examples in EXAMPLES.items():
        assert name in document["components"]["schemas"], f"no schema {name}"
        for example in examples:
            bodies[name].model_validate(example)


def test_a_contact_edit_is_documented_as_changing_name_or_phones(app: Any) -> None:
    """PATCH /api/v1/contacts/{id} refuses a body that gives neither `name` nor `phones` (a
    422 `(body): give name, phones or both`); the schema says so, so that a client built from
    the document does not send one, and the document accepts exactly what the API does."""
    validator = schema_validator(build_document(app),
                                 {"$ref": "#/components/schemas/ContactPatch"})
    for body in ({}, {"region": "DE"}, {"name": None}, {"name": None, "phones": None}):
        assert not validator.is_valid(body), body
        with pytest.raises(ValidationError):
            ContactPatch.model_validate(body)
    for body in ({"name": "Olga"}, {"phones": []}, {"name": "Olga", "phones": None},
                 {"name": None, "phones": ["+7 916 123-45-67"], "region": "RU"}):
        assert validator.is_valid(body), body
        ContactPatch.model_validate(body)


def _subclasses(cls: type[BaseModel]) -> list[type[BaseModel]]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.ids.update(v for k, v in attrs if k == "id" and v)


async def test_reference_page_renders_every_operation_without_script(service: Service) -> None:
    document = await service.operator.ok("GET", "/api/v1/openapi.json")
    response = await service.client.get("/api/v1/docs")
    assert response.status == 200
    assert response.content_type == "text/html"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    page = _Page()
    page.feed(await response.text())
    assert "script" not in page.tags
    for methods in document["paths"].values():
        for op in methods.values():
            assert f"op-{op['operationId']}" in page.ids
    for name in document["components"]["schemas"]:
        assert f"schema-{name}" in page.ids


async def test_service_routes_conform(service: Service) -> None:
    document = await service.operator.ok("GET", "/api/v1/openapi.json")
    for path in ("/healthz", "/metrics", "/api/v1/docs", "/api/v1/openapi.json"):
        await assert_conforms(document, await service.client.get(path))
