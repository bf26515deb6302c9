"""The OpenAPI schema (/api/schema/) and the interactive docs (/api/docs/)."""

import re

import pytest
from django.core.management import call_command
from django.test import Client

from tests.browser import chromium_page

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema() -> dict:
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_schema_is_valid_and_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yaml"))


def test_the_contract_paths(schema):
    # Every operation of the contract in shared/DESIGN.md is there (later issues add more).
    assert {(p, m) for p, m, _ in operations(schema)} >= {
        ("/api/v1/hotlines/", "get"),
        ("/api/v1/hotlines/{id}/", "get"),
        ("/api/v1/number-groups/", "get"),
        ("/api/v1/number-groups/", "post"),
        *{("/api/v1/number-groups/{id}/", m) for m in ("get", "put", "patch", "delete")},
        ("/api/v1/extensions/", "get"),
        ("/api/v1/extensions/", "post"),
        *{("/api/v1/extensions/{id}/", m) for m in ("get", "put", "patch", "delete")},
        ("/api/v1/extensions/{id}/credentials/", "post"),
        ("/api/v1/extensions/{id}/rotate-password/", "post"),
        ("/api/v1/audit-events/", "get"),
        ("/api/v1/audit-events/{id}/", "get"),
    }


def test_every_operation_documents_its_errors(schema):
    for path, method, operation in operations(schema):
        codes = set(operation["responses"])
        where = f"{method.upper()} {path}"
        assert {"401", "403"} <= codes, where
        if "{id}" in path:
            assert "404" in codes, where
            [id_parameter] = [p for p in operation["parameters"] if p["in"] == "path"]
            assert id_parameter["schema"] == {"type": "integer"}, where
        if "requestBody" in operation:
            assert {"400", "415"} <= codes, where
        for code, response in operation["responses"].items():
            if code >= "400":
                assert response["content"]["application/json"]["schema"], (where, code)


def test_passwords_are_write_only_and_only_login_info_returns_one(schema):
    components = schema["components"]["schemas"]
    for name, component in components.items():
        password = component.get("properties", {}).get("password")
        if password is None or name == "LoginInfo":
            continue
        assert name.endswith("Request") and password.get("writeOnly"), name
    returning_login_info = {
        (path, method)
        for path, method, operation in operations(schema)
        if "LoginInfo" in str(operation["responses"])
    }
    assert returning_login_info == {
        ("/api/v1/extensions/{id}/credentials/", "post"),
        ("/api/v1/extensions/{id}/rotate-password/", "post"),
    }


def test_extension_fields_are_the_contract(schema):
    components = schema["components"]["schemas"]
    assert list(components["Extension"]["properties"]) == [
        "id",
        "hotline",
        "number",
        "alias",
        "call_permission",
        "supervisor",
        "outbound_hotlines",
        "outbound_groups",
        "description",
        "enabled",
        "outbound_schedule",
        "allowed_networks",
        "max_contacts",
        "max_calls_per_minute",
        "max_calls_per_day",
        "max_call_seconds",
        "created_at",
        "updated_at",
        "online",
        "contacts",
    ]
    properties = components["Extension"]["properties"]
    assert properties["online"]["type"] == "boolean"
    contact = properties["contacts"]["items"]["$ref"].rsplit("/", 1)[-1]
    assert list(components[contact]["properties"]) == ["transport", "user_agent", "source", "expires_at"]
    assert components[contact]["properties"]["expires_at"]["format"] == "date-time"
    assert components["CallPermissionEnum"]["enum"] == ["internal", "landline", "mobile", "international"]
    assert set(components["ExtensionUpdateRequest"]["properties"]).isdisjoint({"hotline", "number"})
    assert {"hotline", "number"} <= set(components["ExtensionCreateRequest"]["required"])


# The docs page, and the start-up script it loads, may only point at this server.
EXTERNAL = re.compile(r"""(?:src|href|url)\s*[=:(]\s*["']?(?:https?:)?//""", re.IGNORECASE)


def test_docs_use_only_local_files():
    client = Client()
    page = client.get("/api/docs/")
    html = page.content.decode()
    assert page.status_code == 200
    assert not EXTERNAL.search(html)
    assert "<script>" not in html and "<style>" not in html  # the CSP allows neither inline
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui-bundle.js" in a for a in assets)
    for asset in assets:
        assert asset.startswith("/"), asset
        response = client.get(asset)
        assert response.status_code == 200, asset
        if asset.startswith("/api/docs/"):
            script = response.content.decode()
            assert not EXTERNAL.search(script)
            assert '"/api/schema/"' in script


@pytest.mark.browser
def test_docs_render_in_a_browser_under_the_content_security_policy(live_server):
    requested, problems = [], []
    with chromium_page() as page:
        page.on("request", lambda r: requested.append(r.url))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(f"{live_server.url}/api/docs/")
        page.wait_for_selector("text=/api/v1/extensions/{id}/credentials/")
        assert page.locator(".opblock").count() >= 16
    assert not problems, problems
    assert requested and all(url.startswith(live_server.url) for url in requested), requested
