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
    }
    for operations in schema["paths"].values():
        for operation in operations.values():
            assert operation["security"] == [{"TokenAuth": []}]
            assert {"200", "401", "403", "404", "422"} <= set(operation["responses"])
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
