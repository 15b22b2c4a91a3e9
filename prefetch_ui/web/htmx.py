"""The htmx plumbing every page shares: one request type, page-or-fragment rendering, polling
that answers "nothing changed" cheaply and stops when nothing is left to watch, redirects
that work with and without htmx, and refusals that say why in a sentence."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import NamedTuple

from django.core.cache import caches
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling, reswap, retarget
from django_htmx.middleware import HtmxDetails
from redis.exceptions import RedisError

from .display_zone import display_zone
from .request_ids import id_number

# The query parameter a polling fragment adds to its URL, so a poll can be told from a page load.
POLL_PARAMETER = "poll"
# ... and the change version of what the page shows (see prefetch_ui.prefetch.services.changes).
VERSION_PARAMETER = "v"
# ... and, on a page of one site, what its note of the mirror's age says ("" for none;
# `selectors.mirror_age.MirrorAge.token`): the last reads move no version, so the poll compares this too.
AGE_PARAMETER = "age"
# ... and the token of the note of an operation waiting for a worker (the job page's operations, the
# site page's job creates), when the page shows a pending one: that note comes with time, not with a
# change of version.
WAIT_PARAMETER = "wait"


logger = logging.getLogger(__name__)

# The cache (settings.CACHES) that keeps answers drawn for every viewer (`shared_poll_answer`).
POLL_ANSWERS_CACHE = "poll-answers"
# How long a process may take to draw an answer before another may draw it too (seconds).
_DRAWING_SECONDS = 10
# What an unreachable cache raises (Django's Redis cache lets redis-py's errors through).
_CACHE_ERRORS = (RedisError, OSError)


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
    return id_number(raw)


def poll_token(request: HtmxHttpRequest) -> str | None:
    """The change token a poll says its page shows (`sites_version` and the like), as it came;
    None for anything else."""
    if not (request.htmx and request.GET.get(POLL_PARAMETER)):
        return None
    return request.GET.get(VERSION_PARAMETER) or None


def mirror_age_changed(request: HtmxHttpRequest, token: str) -> bool:
    """Whether a poll's page shows another note of the mirror's age than `token` says now."""
    return bool(request.GET.get(POLL_PARAMETER)) and request.GET.get(AGE_PARAMETER, "") != token


def nothing_changed() -> HttpResponse:
    """A poll's answer when nothing it shows changed: 204, for which htmx swaps nothing, and no
    body. The page keeps polling: it still shows something unfinished, or it would not poll."""
    return HttpResponse(status=HTTPStatus.NO_CONTENT)


class Drawn(NamedTuple):
    """What a live region's view drew: its template's context, and whether anything it shows is
    unfinished (so its poll goes on)."""

    context: Mapping[str, object]
    unfinished: bool


def live_region(
    request: HtmxHttpRequest,
    template: str,
    *,
    region: str,
    changes: str,
    unchanged: bool,
    whole: bool,
    draw: Callable[[], Drawn],
) -> HttpResponse:
    """The answer of a page whose live region a versioned poll keeps up to date (a job's plans, a
    site's jobs, an incident's progress), the protocol written once:

    - `unchanged` (the view compared what the poll says it shows, `poll_version`/`poll_token`,
      with the version it read before the data): 204, and nothing is drawn;
    - else `draw()` the context, and answer with the `changes` partial of `template` (what changed,
      swapped out of band) unless the region is to be drawn `whole`: then the page, or with htmx
      its `region` partial; a poll swaps nothing itself (hx-swap="none"), so its answer is aimed
      at the element of the same id and replaces it;
    - 286 once nothing the poll watches is unfinished, so htmx stops asking.

    A page load and a button's answer are drawn whole (`whole`), never answered 204."""
    if unchanged:
        return nothing_changed()
    context, unfinished = draw()
    if not whole:
        response = render(request, f"{template}#{changes}", context)
    else:
        response = render_page(request, template, context, fragment=region)
        if request.htmx and request.GET.get(POLL_PARAMETER):
            response = reswap(retarget(response, f"#{region}"), "outerHTML")
    return stop_polling_when_done(request, response, unfinished=unfinished)


def shared_poll_answer(
    request: HtmxHttpRequest, token: str, build: Callable[[], HttpResponse]
) -> HttpResponse:
    """A poll's answer for a page whose whole region is the same for every viewer who asks it with
    the same query in the same display zone: 204 when the poll shows `token` already (read it
    before the data it stands for); else drawn once per change token by whichever web process is
    asked first, and then served to every other tab from the shared cache. That is what keeps a
    page that many operators and leads have open during an incident (the overview, the timeline)
    cheap when what it shows changes: one drawing per change, not one per tab.

    While one process is drawing an answer, another asked for it answers 204 (nothing changed):
    that tab keeps what it shows and gets the new answer at its next poll, instead of drawing it
    again or waiting. Without the cache (Redis unreachable) every poll draws its own answer.
    Anything but a poll, and answers other than 200/286, are drawn and never kept."""
    if not request.GET.get(POLL_PARAMETER):
        return build()
    if poll_token(request) == token:
        return nothing_changed()
    query = sorted(
        (key, value)
        for key, values in request.GET.lists()
        if key not in (POLL_PARAMETER, VERSION_PARAMETER)
        for value in values
    )
    digest = hashlib.blake2b(repr((request.path, query, token, display_zone().key)).encode(), digest_size=16)
    key = f"answer:{digest.hexdigest()}"
    cache = caches[POLL_ANSWERS_CACHE]
    try:
        kept = cache.get(key)
        if kept is not None:
            status, content_type, content = kept
            return HttpResponse(content, status=status, content_type=content_type)
        drawing = cache.add(f"{key}:drawing", 1, timeout=_DRAWING_SECONDS)
    except _CACHE_ERRORS as error:  # the cache is a saving, never a reason a page fails
        _cache_unreachable(error)
        return build()
    if not drawing:
        return nothing_changed()
    try:
        response = build()
        if response.status_code in (HTTPStatus.OK, HttpResponseStopPolling.status_code):
            _quietly(cache.set, key, (response.status_code, response["Content-Type"], response.content))
    finally:
        _quietly(cache.delete, f"{key}:drawing")
    return response


def _quietly(call: Callable[..., object], *args: object) -> None:
    try:
        call(*args)
    except _CACHE_ERRORS as error:
        _cache_unreachable(error)


_cache_unreachable_said = 0.0


def _cache_unreachable(error: Exception) -> None:
    """Say so once a minute per process, not on every poll (/readyz reports Redis too)."""
    global _cache_unreachable_said
    if time.monotonic() - _cache_unreachable_said >= 60 or not _cache_unreachable_said:
        _cache_unreachable_said = time.monotonic()
        logger.warning("poll answers are drawn for each tab: their cache is unreachable (%s)", error)


def asked_by_htmx(request: HttpRequest) -> bool:
    """Whether htmx sent the request; read from the header, since a request refused before the
    view (a body too large, a bad CSRF token) never reached HtmxMiddleware."""
    return request.headers.get("HX-Request") == "true"


def refusal(message: str, *, status: int) -> HttpResponse:
    """A refused request's answer: the reason in a sentence of plain text. htmx swaps no 4xx/5xx
    answer; static/js/app.js shows this text in the page's notice instead (an HTML body only as
    "refused, with its status"), so a refusal an htmx request may get says why in plain text."""
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


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
