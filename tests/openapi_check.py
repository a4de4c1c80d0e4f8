"""Check one HTTP response against the OpenAPI document: documented status, content type and JSON schema."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from webchat_server.http.openapi import document

BASE = "urn:webchat-openapi"
METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


@cache
def spec() -> dict[str, Any]:
    return document()


@cache
def _registry() -> Registry:  # type: ignore[type-arg]
    return Registry().with_resource(BASE, Resource.from_contents(spec(), default_specification=DRAFT202012))


@cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    out = []
    for template in spec()["paths"]:
        pattern = re.escape(template)
        pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", pattern)
        out.append((re.compile(f"^{pattern}$"), template))
    return out


def find_operation(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """(path template, operation) for a request, or None when the path is not part of the API."""
    if method.upper() == "OPTIONS":
        return None  # CORS preflights (webchat_server/http/cors.py) are the browser's protocol, not operations
    for pattern, template in _templates():
        if pattern.match(path):
            item = spec()["paths"][template]
            op = item.get(method.lower())
            if op is None and method.upper() == "HEAD":
                op = item.get("get")
            if op is None:
                raise AssertionError(f"{method} {path}: method not documented for {template}")
            return template, op
    return None


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@cache
def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{BASE}#/{pointer}"}, registry=_registry())


def check_response(method: str, path: str, status: int, content_type: str, headers: Any, body: bytes) -> None:
    """AssertionError with the reason when the response is not what the document says."""
    found = find_operation(method, path)
    if found is None:
        return
    template, op = found
    where = f"{method} {path} -> {status}"
    key = str(status) if str(status) in op["responses"] else f"{status // 100}XX"
    if key not in op["responses"]:
        key = "default"
    response = op["responses"].get(key)
    assert response is not None, f"{where}: status not documented (documented: {sorted(op['responses'])})"
    for header in response.get("headers", {}):
        assert header in headers, f"{where}: header {header} is documented but missing"
    content = response.get("content")
    if not content or method.upper() == "HEAD" or status == 101:
        return
    assert content_type in content, f"{where}: content type {content_type!r} not documented ({sorted(content)})"
    if content_type != "application/json":
        return
    try:
        data = json.loads(body)
    except ValueError as e:
        raise AssertionError(f"{where}: body is not JSON: {body[:200]!r}") from e
    pointer = _pointer("paths", template, method.lower(), "responses", key, "content", content_type, "schema")
    errors = sorted(_validator(pointer).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        details = "; ".join(f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message[:300]}" for e in errors[:5])
        raise AssertionError(f"{where}: response does not match the OpenAPI schema: {details}")
