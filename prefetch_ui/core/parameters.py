"""Parameters every page reads the same way: one value each, and `page`.

One value per parameter: a request that sends one of a view's parameters twice is refused.

Django reads `request.GET["interval"]` (and a form's field) as the *last* value sent, so
`interval=60&interval=120` would quietly become 120, and `?site=1&site=2` a hold of site 2: a value
dropped without a word. No form here sends a name twice, except where a view takes a list (the
builder's rows) or a checkbox follows a hidden fallback of the same name; such a view names those
parameters with `@repeatable(...)`. Django's own views (admin, log in) have rules of their own and
are left alone.

`page` is a whole number from 1; anything else is refused with a 400 that says so, never read as
page 1. A page past the last one shows the last (a link or a poll that outlived deleted rows); so
does a number of more digits than any list has pages, read without turning thousands of digits
into an int (which Python refuses: a 500).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.datastructures import MultiValueDict

View = TypeVar("View", bound=Callable[..., Any])

_REPEATABLE = "repeatable_parameters"
_OUR_VIEWS = "prefetch_ui."


def repeatable(*names: str) -> Callable[[View], View]:
    """Let a view take several values of the parameters `names`."""

    def mark(view: View) -> View:
        setattr(view, _REPEATABLE, frozenset(names))
        return view

    return mark


class OneValuePerParameterMiddleware:
    """Refuse (400, saying which) a parameter sent more than once in the query or in the form."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> None:
        if not str(getattr(view_func, "__module__", "")).startswith(_OUR_VIEWS):
            return
        allowed: frozenset[str] = getattr(view_func, _REPEATABLE, frozenset())
        sent: list[MultiValueDict[str, Any]] = [request.GET]
        if request.method == "POST":
            sent += [request.POST, request.FILES]
        for parameters in sent:
            for name, values in parameters.lists():
                if len(values) > 1 and name not in allowed:
                    raise BadRequest(
                        f"“{name[:64]}” was sent {len(values)} times, and which one was meant cannot be "
                        "told: a form here sends it once. Nothing was changed."
                    )


# Past the last page of any list here: a `page` of more digits is read as this (the last page).
_PAST_EVERY_LAST_PAGE = 10**9


def page_number(request: HttpRequest, *, query: QueryDict | None = None) -> int:
    """The page asked for (`page`, 1 when absent) in the request's query, or in `query`;
    BadRequest when it is not a page number."""
    raw = (request.GET if query is None else query).get("page", "")
    if not raw:
        return 1
    # ASCII digits only (an Arabic-Indic digit is one to str.isdigit()); a sign or a fraction is no page.
    digits = raw.lstrip("0") if raw.isascii() and raw.isdigit() else ""
    if not digits:
        raise BadRequest(f"Page “{raw[:40]}” is not a page number: pages are numbered from 1.")
    return int(digits) if len(digits) <= 9 else _PAST_EVERY_LAST_PAGE
