"""The audit log page and its CSV: the same filters, checked by one form, read by one selector."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.views.decorators.http import require_GET

from prefetch_ui.core.parameters import page_number
from prefetch_ui.prefetch.display_zone import display_zone
from prefetch_ui.prefetch.views.htmx import HtmxHttpRequest, render_page

from ..csv_export import csv_response
from ..forms.audit import AuditFilterForm
from ..selectors.audit import audit_entries
from ..selectors.audit_rows import AUDIT_CSV_HEADER, audit_export_rows, audit_rows

ENTRIES_PER_PAGE = 50


def _filter_query(request: HtmxHttpRequest) -> str:
    """The page's filters as a query string, for the pager's links and the CSV link."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@require_GET
def audit_log(request: HtmxHttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    context: dict[str, object] = {"form": form, "query": _filter_query(request)}
    if not form.is_valid():
        # No rows: a list filtered by some of what was asked would pass for an answer to all of it.
        return render_page(request, "reviews/audit.html", context | {"page": None, "rows": []}, status=400)
    filters = form.filters()
    page = Paginator(audit_entries(filters), ENTRIES_PER_PAGE).get_page(page_number(request))
    context |= {"page": page, "rows": audit_rows(page.object_list), "narrowed": filters.narrowed}
    return render_page(request, "reviews/audit.html", context)


@require_GET
def audit_csv(request: HtmxHttpRequest) -> HttpResponseBase:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        errors = [str(error) for field_errors in form.errors.values() for error in field_errors]
        return HttpResponse("\n".join(errors), status=400, content_type="text/plain; charset=utf-8")
    filename = f"audit-{timezone.now().astimezone(display_zone()):%Y%m%d-%H%M}.csv"
    return csv_response(filename=filename, header=AUDIT_CSV_HEADER, rows=audit_export_rows(form.filters()))
