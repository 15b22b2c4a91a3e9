"""The API describes itself: an OpenAPI 3 schema that validates, and a docs page that works under
the Content-Security-Policy (its assets from our static files, no inline script), both without a
login or a token."""

from __future__ import annotations

import re
import typing

import pytest
from django.test import Client
from openapi_spec_validator import validate

from prefetch_ui.api.schemas import PlanStatusFilter
from prefetch_ui.prefetch.selectors.statuses import COUNTED_STATUSES

pytestmark = pytest.mark.django_db

# The writes (v1_operations), each with the methods it serves beside a read's GET.
WRITES = {
    "/api/v1/plans/{plan_id}/start": {"post"},
    "/api/v1/plans/{plan_id}/stop": {"post"},
    "/api/v1/plans/{plan_id}": {"patch", "delete"},
    "/api/v1/jobs/{job_id}/reset": {"post"},
    "/api/v1/jobs/{job_id}": {"get", "delete"},
    "/api/v1/sites/{site_id}/jobs": {"get", "post"},
    "/api/v1/jobs/{job_id}/plans": {"get", "post"},
    "/api/v1/operations/{operation_id}/retry": {"post"},
}


def test_the_schema_is_valid_openapi_3_and_lists_the_read_endpoints() -> None:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/api/v1/sites",
        "/api/v1/sites/{site_id}",
        "/api/v1/sites/{site_id}/jobs",
        "/api/v1/jobs/{job_id}",
        "/api/v1/jobs/{job_id}/plans",
        "/api/v1/jobs/{job_id}/operations",
        # Incidents and the leads' views (v1_incidents, v1_reviews).
        "/api/v1/incidents",
        "/api/v1/incidents/hold",
        "/api/v1/incidents/{incident_id}",
        "/api/v1/incidents/{incident_id}/plans",
        "/api/v1/incidents/{incident_id}/resume/preview",
        "/api/v1/incidents/{incident_id}/resume",
        "/api/v1/incidents/{incident_id}/retry",
        "/api/v1/audit",
        "/api/v1/overview",
        "/api/v1/forecast",
        # What bounds prefetch on each site (v1_limits).
        "/api/v1/limits",
        "/api/v1/sites/{site_id}/limits",
        # The writes and the operation they answer with (v1_operations).
        *WRITES,
        "/api/v1/operations/{operation_id}",
    }
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation["security"] == [{"TokenAuth": []}]
            # A write of v1_operations answers 202 with the operation; its refusals as every endpoint's.
            accepted = "202" if method in WRITES.get(path, set()) - {"get"} else "200"
            assert {accepted, "401", "403", "404", "422"} <= set(operation["responses"]), (path, method)
    assert {"200", "201"} <= set(schema["paths"]["/api/v1/incidents/hold"]["post"]["responses"])
    for acting in ("resume", "retry"):
        assert "409" in schema["paths"][f"/api/v1/incidents/{{incident_id}}/{acting}"]["post"]["responses"]
    assert schema["components"]["securitySchemes"]["TokenAuth"] == {"type": "http", "scheme": "bearer"}


def test_the_docs_page_loads_swagger_from_our_static_files_without_inline_script() -> None:
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "script-src" not in response["Content-Security-Policy"]
    assert "default-src 'self'" in response["Content-Security-Policy"]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert scripts
    for attributes, body in scripts:
        # A script runs only from a file of ours; the one inline block is JSON (Swagger's settings),
        # which a browser never runs.
        assert 'type="application/json"' in attributes or (not body.strip() and 'src="/static/' in attributes)
    assert 'href="/static/ninja/swagger-ui.css"' in page
    assert "/api/v1/openapi.json" in page
    assert "//cdn" not in page and "unpkg" not in page and "jsdelivr" not in page


def test_the_status_filter_takes_the_pages_words() -> None:
    assert list(typing.get_args(PlanStatusFilter)) == COUNTED_STATUSES


def test_the_schema_lists_the_writes_with_the_idempotency_key_header() -> None:
    schema = Client().get("/api/v1/openapi.json").json()
    for path, methods in WRITES.items():
        assert set(schema["paths"][path]) == methods, path
        for method in methods - {"get"}:
            write = schema["paths"][path][method]
            assert write["security"] == [{"TokenAuth": []}]
            assert {"202", "401", "403", "404", "409", "422", "429"} <= set(write["responses"])
            headers = [p["name"] for p in write.get("parameters", []) if p["in"] == "header"]
            assert headers == ["Idempotency-Key"], (path, method)
    assert set(schema["paths"]["/api/v1/operations/{operation_id}"]) == {"get"}


def test_every_write_of_every_router_declares_the_idempotency_key_header() -> None:
    """The hook honours the header on every POST, PATCH and DELETE (urls._api_view): a client
    generated from the schema must be able to send it on each of them, the incidents' too."""
    schema = Client().get("/api/v1/openapi.json").json()
    writes = [
        (path, method, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
        if method in ("post", "put", "patch", "delete")
    ]
    assert any(path == "/api/v1/incidents/hold" for path, _, _ in writes)
    for path, method, operation in writes:
        headers = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
        assert headers == ["Idempotency-Key"], (path, method)
