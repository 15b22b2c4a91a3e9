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

READ_PATHS = {
    "/api/v1/sites",
    "/api/v1/sites/{site_id}",
    "/api/v1/sites/{site_id}/jobs",
    "/api/v1/jobs/{job_id}",
    "/api/v1/jobs/{job_id}/plans",
    "/api/v1/jobs/{job_id}/operations",
}
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
    # Other routers add their paths (writes, incidents, audit): the read endpoints are among them.
    assert set(schema["paths"]) >= READ_PATHS
    for path in READ_PATHS:
        get = schema["paths"][path]["get"]
        assert get["security"] == [{"TokenAuth": []}]
        assert {"200", "401", "403", "404", "422"} <= set(get["responses"])
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
