"""The htmx plumbing every page shares: one request type, page-or-fragment rendering, polling
that answers "nothing changed" cheaply and stops when nothing is left to watch, and redirects
that work with and without htmx."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling
from django_htmx.middleware import HtmxDetails

# The query parameter a polling fragment adds to its URL, so a poll can be told from a page load.
POLL_PARAMETER = "poll"
# ... and the change version of what the page shows (see prefetch_ui.prefetch.services.changes).
VERSION_PARAMETER = "v"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def render_page(
    request: HtmxHttpRequest,
    template: str,
    context: Mapping[str, object],
    *,
    fragment: str = "",
    status: int = 200,
) -> HttpResponse:
    """The whole page, or with htmx only its `fragment` (a template partial of the same file)."""
    name = f"{template}#{fragment}" if request.htmx and fragment else template
    return render(request, name, context, status=status)


def stop_polling_when_done(
    request: HtmxHttpRequest, response: HttpResponse, *, unfinished: bool
) -> HttpResponse:
    """A poll that finds everything terminal answers 286, so htmx stops asking."""
    if request.htmx and request.GET.get(POLL_PARAMETER) and not unfinished:
        response.status_code = HttpResponseStopPolling.status_code
    return response


def poll_version(request: HtmxHttpRequest) -> int | None:
    """The change version a poll says its page shows; None for anything else (a page load, a
    button, a poll from a page that said no version)."""
    if not (request.htmx and request.GET.get(POLL_PARAMETER)):
        return None
    raw = request.GET.get(VERSION_PARAMETER, "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


def poll_token(request: HtmxHttpRequest) -> str | None:
    """The change token a poll says its page shows (`sites_version` and the like), as it came;
    None for anything else."""
    if not (request.htmx and request.GET.get(POLL_PARAMETER)):
        return None
    return request.GET.get(VERSION_PARAMETER) or None


def nothing_changed() -> HttpResponse:
    """A poll's answer when nothing it shows changed: 204, for which htmx swaps nothing, and no
    body. The page keeps polling: it still shows something unfinished, or it would not poll."""
    return HttpResponse(status=HTTPStatus.NO_CONTENT)


def poll_query(request: HttpRequest, **changes: object) -> str:
    """The page's own query string, as a poll of it asks for it: the same every time."""
    query = request.GET.copy()
    query.pop(POLL_PARAMETER, None)
    for key, value in changes.items():
        query[key] = str(value)
    query[POLL_PARAMETER] = "1"
    return query.urlencode()


def safe_next(request: HttpRequest, default: str) -> str:
    """Where a form asked to go back to (`next`), if it is on this site; else `default`."""
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return back
    return default


def redirect_to(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """Go to `url`: with htmx the whole page goes there (HX-Redirect), not a swapped fragment."""
    return HttpResponseClientRedirect(url) if request.htmx else HttpResponseRedirect(url)
